import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** Envelope recipients (RCPT TO). */
  to: string[];
  /** The From header as `Name <address>` (or the bare address). */
  from: string;
  subject: string;
  text: string;
  html: string;
}

export interface TestSmtp {
  /** `smtp://127.0.0.1:PORT`, for TENANTRY_MAIL_URL. */
  readonly url: string;
  /** Every message received so far, in order. */
  readonly messages: ReceivedMail[];
  /** The first message (received already or later) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (message: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Stops listening and drops open connections: an SMTP outage. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  /** Stops for good and fails any pending waitFor. */
  close(): Promise<void>;
}

interface Waiter {
  predicate: (message: ReceivedMail) => boolean;
  resolve: (message: ReceivedMail) => void;
  reject: (error: Error) => void;
}

/** An in-process SMTP server on 127.0.0.1: no auth, no TLS, every message parsed and kept. */
export async function startTestSmtp(): Promise<TestSmtp> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<Waiter>();

  const receive = (message: ReceivedMail) => {
    messages.push(message);
    for (const waiter of waiters) {
      if (waiter.predicate(message)) {
        waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  };

  const createServer = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      // stop() is an outage, not a polite shutdown: drop connections after a moment, not 30 s.
      closeTimeout: 50,
      onData(stream, session, callback) {
        simpleParser(stream).then(
          (parsed) => {
            receive({
              to: session.envelope.rcptTo.map((recipient) => recipient.address),
              from: formatFrom(parsed.from?.value[0]),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });

  const listen = (server: SMTPServer, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.server.off('error', reject);
        resolve((server.server.address() as AddressInfo).port);
      });
    });

  const shut = (server: SMTPServer) => new Promise<void>((resolve) => server.close(() => resolve()));

  let server: SMTPServer | undefined = createServer();
  const port = await listen(server, 0);

  const stop = async () => {
    if (server === undefined) return;
    const current = server;
    server = undefined;
    await shut(current);
  };

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor(predicate, timeoutMs = 5_000) {
      const found = messages.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<ReceivedMail>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve: (message) => {
            clearTimeout(timer);
            resolve(message);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const seen = messages.map((message) => message.subject).join(' | ') || 'none';
          reject(new Error(`no matching mail within ${timeoutMs} ms (received: ${seen})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    stop,
    async restart() {
      if (server !== undefined) return;
      // A fresh server: a closed SMTPServer stays in its closing state.
      const next = createServer();
      await listen(next, port);
      server = next;
    },
    async close() {
      await stop();
      for (const waiter of waiters) waiter.reject(new Error('test SMTP server closed'));
      waiters.clear();
    },
  };
}

function formatFrom(address: { name: string; address?: string | undefined } | undefined): string {
  if (address === undefined) return '';
  return address.name === '' ? (address.address ?? '') : `${address.name} <${address.address ?? ''}>`;
}
