import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

/**
 * A client of Mosquitto 2's dynamic-security plugin: commands go to `$CONTROL/dynamic-security/v1` as one JSON
 * message, answers come back on `…/response`, matched by the `correlationData` each command carries.
 * See https://mosquitto.org/documentation/dynamic-security/.
 */
const CONTROL = '$CONTROL/dynamic-security/v1';
const RESPONSE = `${CONTROL}/response`;
const TIMEOUT_MS = 10_000;

export type DynsecCommand = { command: string } & Record<string, unknown>;
export interface DynsecResponse {
  command: string;
  error?: string;
  data?: Record<string, unknown>;
}

export class DynsecError extends Error {
  override name = 'DynsecError';
}

export class DynsecClient {
  readonly #client: MqttClient;
  readonly #pending = new Map<string, (response: DynsecResponse) => void>();

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', (topic, payload) => {
      if (topic !== RESPONSE) return;
      let body: { responses?: Array<DynsecResponse & { correlationData?: string }> };
      try {
        body = JSON.parse(payload.toString('utf8'));
      } catch {
        return;
      }
      for (const { correlationData, ...response } of body.responses ?? []) {
        const settle = correlationData === undefined ? undefined : this.#pending.get(correlationData);
        if (settle !== undefined) settle(response);
      }
    });
  }

  /** Connects as the admin named in `url` (`mqtt://user:password@host:port`) and listens for answers. */
  static async connect(url: string): Promise<DynsecClient> {
    const parsed = new URL(url);
    const client = await mqtt.connectAsync(url, {
      username: decodeURIComponent(parsed.username),
      password: decodeURIComponent(parsed.password),
      clientId: `tenantry-dynsec-${randomUUID()}`,
      reconnectPeriod: 2_000,
      connectTimeout: TIMEOUT_MS,
    });
    await client.subscribeAsync(RESPONSE, { qos: 1 });
    return new DynsecClient(client);
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  /** Sends the commands in one message; resolves with their answers in order (an answer may carry `error`). */
  async run(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    if (commands.length === 0) return [];
    if (!this.#client.connected) throw new DynsecError('not connected to the broker');
    const tagged = commands.map((command) => ({ ...command, correlationData: randomUUID() }));
    const answers = tagged.map(
      (command) =>
        new Promise<DynsecResponse>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.#pending.delete(command.correlationData);
            reject(new DynsecError(`no answer to ${command.command} within ${TIMEOUT_MS} ms`));
          }, TIMEOUT_MS);
          this.#pending.set(command.correlationData, (response) => {
            clearTimeout(timer);
            this.#pending.delete(command.correlationData);
            resolve(response);
          });
        }),
    );
    // Handled from the start: an answer may time out before the PUBACK of the publish arrives (a broker restarting).
    const all = Promise.all(answers);
    all.catch(() => {});
    await this.#client.publishAsync(CONTROL, JSON.stringify({ commands: tagged }), { qos: 1 });
    return all;
  }

  /** Like `run`, but an answer with an error other than those in `tolerated` rejects. */
  async runStrict(commands: readonly DynsecCommand[], tolerated: readonly string[] = []): Promise<DynsecResponse[]> {
    const responses = await this.run(commands);
    const failed = responses.find((r) => r.error !== undefined && !tolerated.includes(r.error));
    if (failed !== undefined) throw new DynsecError(`${failed.command}: ${failed.error}`);
    return responses;
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }
}
