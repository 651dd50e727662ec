import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, globSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { freePort } from './net.ts';

/** Debian's broker (`apt-get install mosquitto`; .ci/run installs it). Tests never touch the machine's own on 1883. */
export const MOSQUITTO = '/usr/sbin/mosquitto';
const ADMIN = { username: 'tenantry-admin', password: 'admin-password-for-tests' };

export interface MosquittoBroker {
  /** mqtt://127.0.0.1:PORT (no credentials). */
  url: string;
  /** The dynamic-security admin's URL, what TENANTRY_MOSQUITTO_URL names. */
  adminUrl: string;
  /** Stops the broker (its dynamic-security file stays, so `start` brings back the same clients). */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A mosquitto of its own on a free port, with the dynamic-security plugin and one admin, configured by this test. */
export async function startMosquitto(): Promise<MosquittoBroker> {
  assert.ok(existsSync(MOSQUITTO), `${MOSQUITTO} is missing: apt-get install mosquitto (.ci/run does)`);
  const plugin = globSync('/usr/lib/*/mosquitto_dynamic_security.so')[0] ?? globSync('/usr/lib/mosquitto_dynamic_security.so')[0];
  assert.ok(plugin !== undefined, 'the mosquitto package has no dynamic-security plugin');
  const dir = await mkdtemp(path.join(tmpdir(), 'tenantry-mosquitto-'));
  const dynsec = path.join(dir, 'dynamic-security.json');
  const init = spawnSync('/usr/bin/mosquitto_ctrl', ['dynsec', 'init', dynsec, ADMIN.username, ADMIN.password], { encoding: 'utf8' });
  assert.ok(existsSync(dynsec), `mosquitto_ctrl dynsec init failed: ${init.stderr}${init.stdout}`);
  const port = await freePort();
  const config = path.join(dir, 'mosquitto.conf');
  await writeFile(
    config,
    // Started as root, mosquitto would drop to the `mosquitto` user, who cannot read this test's private directory.
    [
      `user ${userInfo().username}`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `plugin ${plugin}`,
      `plugin_opt_config_file ${dynsec}`,
      'persistence false',
      'log_dest stderr',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const broker: MosquittoBroker = {
    url: `mqtt://127.0.0.1:${port}`,
    adminUrl: `mqtt://${ADMIN.username}:${ADMIN.password}@127.0.0.1:${port}`,
    async start() {
      child = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString('utf8');
      });
      for (let i = 0; ; i++) {
        if (await accepts(port)) return;
        assert.ok(i < 100 && child.exitCode === null, `mosquitto did not start: ${log}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running === undefined || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
    async close() {
      await broker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await broker.start();
  return broker;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
