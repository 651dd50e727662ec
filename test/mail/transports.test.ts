import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { MailMessage } from '../../src/mail/mail.types.ts';
import { invitationEmail, passwordResetEmail, verificationEmail } from '../../src/mail/templates.ts';
import { createMailTransport } from '../../src/mail/transports.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { startTestSmtp, type TestSmtp } from '../helpers/smtp.ts';

function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const message = (subject: string): MailMessage => ({
  to: 'ada@example.test',
  subject,
  text: 'Open https://tenantry.test/verify-email/secret-token to continue.',
  html: '<p>Open <a href="https://tenantry.test/verify-email/secret-token">this link</a> to continue.</p>',
});

describe('SMTP transport', () => {
  let smtp: TestSmtp;
  before(async () => {
    smtp = await startTestSmtp();
  });
  after(() => smtp.close());

  it('delivers a message with a plain-text and an HTML part from the default sender', async () => {
    const transport = createMailTransport(smtp.url, captureLogger().logger);
    try {
      assert.equal(transport.kind, 'smtp');
      await transport.send(message('SMTP both parts'));
      const received = await smtp.waitFor((m) => m.subject === 'SMTP both parts');
      assert.deepEqual(received.to, ['ada@example.test']);
      assert.equal(received.text.trim(), 'Open https://tenantry.test/verify-email/secret-token to continue.');
      assert.match(received.html, /<a href="https:\/\/tenantry\.test\/verify-email\/secret-token">this link<\/a>/);
      assert.equal(received.from, 'Tenantry <no-reply@localhost>');
    } finally {
      await transport.close();
    }
  });

  it('takes the sender from ?from= and sends several messages at once', async () => {
    const from = encodeURIComponent('Acme Accounts <accounts@acme.test>');
    const transport = createMailTransport(`${smtp.url}?from=${from}`, captureLogger().logger);
    try {
      await Promise.all([transport.send(message('From option 1')), transport.send(message('From option 2'))]);
      for (const subject of ['From option 1', 'From option 2']) {
        const received = await smtp.waitFor((m) => m.subject === subject);
        assert.equal(received.from, 'Acme Accounts <accounts@acme.test>');
      }
    } finally {
      await transport.close();
    }
  });

  it('rejects the send while the server is down, and delivers once it is back', async () => {
    const transport = createMailTransport(smtp.url, captureLogger().logger);
    try {
      await transport.send(message('Before outage'));
      await smtp.stop();
      await assert.rejects(transport.send(message('During outage')), /ECONNREFUSED|connect/i);
      await smtp.restart();
      await transport.send(message('After outage'));
      await smtp.waitFor((m) => m.subject === 'After outage');
      assert.equal(smtp.messages.filter((m) => m.subject === 'During outage').length, 0);
    } finally {
      await transport.close();
    }
  });
});

describe('file transport', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tenantry-mail-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes one JSON file per message with exactly to, subject, text and html, oldest first', async () => {
    const outbox = path.join(dir, 'not-yet-created', 'mail');
    const transport = createMailTransport(pathToFileURL(outbox).href, captureLogger().logger);
    assert.equal(transport.kind, 'file');
    const subjects = ['File 1', 'File 2', 'File 3'];
    for (const subject of subjects) await transport.send({ ...message(subject), extra: 'dropped' } as MailMessage);
    await transport.close();

    const names = (await readdir(outbox)).sort();
    assert.equal(names.length, 3, `only the finished files remain: ${names.join(', ')}`);
    assert.ok(names.every((name) => name.endsWith('.json') && !name.startsWith('.')));
    const files = await Promise.all(names.map(async (name) => JSON.parse(await readFile(path.join(outbox, name), 'utf8'))));
    assert.deepEqual(
      files.map((file) => file.subject),
      subjects,
    );
    assert.deepEqual(files[0], message('File 1'));
  });
});

describe('log transport', () => {
  it('is the default, and logs recipient, subject and the text (the operator must see the links)', async () => {
    const { logger, lines } = captureLogger();
    const transport = createMailTransport(undefined, logger);
    assert.equal(transport.kind, 'log');
    await transport.send(message('Logged mail'));
    const line = lines.find((l) => l.subject === 'Logged mail');
    assert.ok(line, 'the message was logged');
    assert.equal(line.level, 'info');
    assert.equal(line.to, 'ada@example.test');
    assert.match(String(line.text), /verify-email\/secret-token/);
  });
});

describe('TENANTRY_MAIL_URL', () => {
  it('refuses an unknown scheme, naming the variable and not echoing the password', () => {
    assert.throws(
      () => createMailTransport('ftp://user:hunter2@mail.example.test', captureLogger().logger),
      (error: Error) => {
        assert.match(error.message, /TENANTRY_MAIL_URL/);
        assert.match(error.message, /smtp:\/\//);
        assert.doesNotMatch(error.message, /hunter2/);
        return true;
      },
    );
  });

  it('refuses something that is not a URL, and an unknown SMTP option', () => {
    assert.throws(() => createMailTransport('mail.example.test:25', captureLogger().logger), /TENANTRY_MAIL_URL/);
    assert.throws(() => createMailTransport('not a url', captureLogger().logger), /TENANTRY_MAIL_URL/);
    assert.throws(() => createMailTransport('smtp://mail.example.test?form=x', captureLogger().logger), /TENANTRY_MAIL_URL.*"form"/);
  });
});

describe('templates', () => {
  it('escape every interpolated value in the HTML of an invitation', () => {
    const mail = invitationEmail({
      tenantName: '<script>alert("x")</script> & Co',
      inviterName: 'Eve "the admin" O\'Neil',
      roles: ['admin', '<b>billing</b>'],
      link: 'https://tenantry.test/invitations/abc?x=1&y="2"',
      expiresAt: new Date('2026-01-08T12:30:00Z'),
    });
    assert.doesNotMatch(mail.html, /<script>|<b>/);
    assert.match(mail.html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; Co/);
    assert.match(mail.html, /Eve &quot;the admin&quot; O&#39;Neil/);
    assert.match(mail.html, /&lt;b&gt;billing&lt;\/b&gt;/);
    assert.match(mail.html, /href="https:\/\/tenantry\.test\/invitations\/abc\?x=1&amp;y=&quot;2&quot;"/);
    // The plain-text part is not markup: it carries the values as they are.
    assert.match(mail.text, /<script>alert\("x"\)<\/script> & Co/);
    assert.match(mail.text, /admin, <b>billing<\/b>/);
    assert.match(mail.text, /https:\/\/tenantry\.test\/invitations\/abc\?x=1&y="2"/);
    assert.match(mail.text, /expires on 2026-01-08 12:30 UTC/);
    assert.match(mail.subject, /^Eve "the admin" O'Neil invited you to join <script>.* on Tenantry$/);
  });

  it('keep a subject on one line whatever the names contain', () => {
    const mail = invitationEmail({ tenantName: 'Acme\r\nBcc: victim@example.test', inviterName: 'Ann', roles: [], link: 'https://t.test/i', expiresAt: new Date(0) });
    assert.doesNotMatch(mail.subject, /[\r\n]/);
    assert.match(mail.text, /with no role yet/);
  });

  it('greet by name when there is one and always carry the link in both parts', () => {
    const named = verificationEmail({ name: '<Ada>', link: 'https://tenantry.test/verify-email/tok' });
    assert.match(named.text, /^Hello <Ada>,/);
    assert.match(named.html, /Hello &lt;Ada&gt;,/);
    assert.match(named.subject, /Tenantry/);
    const anonymous = passwordResetEmail({ link: 'https://tenantry.test/reset-password/tok' });
    assert.match(anonymous.text, /^Hello,/);
    for (const mail of [named, anonymous]) {
      assert.ok(mail.text.includes(mail === named ? 'https://tenantry.test/verify-email/tok' : 'https://tenantry.test/reset-password/tok'));
      assert.ok(mail.html.includes(mail === named ? 'href="https://tenantry.test/verify-email/tok"' : 'href="https://tenantry.test/reset-password/tok"'));
    }
  });
});
