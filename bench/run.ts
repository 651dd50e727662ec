/**
 * Tenantry against its references, in one run (issue 13). Each scenario runs Tenantry — a real server in its own
 * process, loaded over loopback HTTP by autocannon from this one — and its reference in the same run, interleaved,
 * three repetitions, and prints ops/s, p50, p99 and the ratio Tenantry/reference. Both engines: embedded PGlite
 * and PostgreSQL. Results: bench/results/latest.json; `--doc` also rewrites the table in docs/benchmarks.md.
 *
 *   npm run bench               full run (10 s per measurement)
 *   npm run bench -- --quick    2 s per measurement, under 3 minutes
 *   npm run bench -- --engine pglite|postgres
 *   npm run bench -- --only check,key,signin,grants,peer,mqtt,checks,dataset
 */
import { hash, verify } from '@node-rs/argon2';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import pg from 'pg';
import { startBetterAuth } from './better-auth.ts';
import { checkWorld, coldCheck, mapCheck, sqlFloor, warmCheck } from './checks.ts';
import { casbinCheck, caslCheck } from './peers.ts';
import { addUnit, coldSampleCheck, samplePairs, UNIT, warmSampleCheck } from './dataset.ts';
import { benchDatabase } from './checks.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = path.join(ROOT, 'node_modules/.bin/node');
const PG_ADMIN = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** The product's own parameters (src/accounts/passwords.ts), so the argon2id reference does the same work. */
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const PASSWORD = 'correct horse battery staple 42';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, doc: { type: 'boolean', default: false }, engine: { type: 'string' }, only: { type: 'string' } },
});
/** `--only check,grants`: run only these groups of scenarios (while working on one; `--doc` wants them all). */
const ONLY = args.only?.split(',');
const wants = (group: string) => ONLY === undefined || ONLY.includes(group);
if (ONLY !== undefined && args.doc) throw new Error('--doc rewrites the whole table: run every scenario (drop --only)');
const SECONDS = args.quick ? 2 : 10;
const REPS = 3;

interface Figure {
  opsPerSec: number;
  p50: number;
  p99: number;
}
interface Row {
  engine: string;
  scenario: string;
  tenantry: Figure;
  reference?: { name: string } & Figure;
  /** Tenantry/reference ops, or for latency scenarios p99 under load / p99 idle (autocannon counts whole milliseconds, so a p99 under 1 ms counts as 1). */
  ratio?: number;
  target?: string;
}

// ———————————————————————————————————————————— measuring ————————————————————————————————————————————

/** Median of three repetitions, by ops/s (the repetition whose throughput is the median). */
function median(figures: Figure[]): Figure {
  return [...figures].sort((a, b) => a.opsPerSec - b.opsPerSec)[Math.floor(figures.length / 2)] as Figure;
}

async function http(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown; connections: number; seconds?: number; alternate?: unknown[] },
): Promise<Figure> {
  const result = await autocannon({
    url,
    method: (options.method ?? 'GET') as 'GET',
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    // Each connection cycles through these bodies in turn (switching between two tenants).
    ...(options.alternate === undefined ? {} : { requests: options.alternate.map((body) => ({ body: JSON.stringify(body) })) }),
    connections: options.connections,
    duration: options.seconds ?? SECONDS,
  });
  if (failures(result) > 0) {
    const sample = await fetch(url, {
      method: options.method ?? 'GET',
      headers: { 'content-type': 'application/json', ...options.headers },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    console.error(`a sample answer: ${sample.status} ${(await sample.text()).slice(0, 300)}`);
  }
  return figureOf(result, `${options.method ?? 'GET'} ${url}`);
}

function failures(result: autocannon.Result): number {
  return result.non2xx + result.errors + result.timeouts;
}

/** A load run's figure; any request that failed fails the measurement. */
function figureOf(result: autocannon.Result, what: string): Figure {
  const bad = failures(result);
  if (bad > 0) throw new Error(`${what}: ${bad} of ${result.requests.total} requests failed (non-2xx ${result.non2xx}, errors ${result.errors})`);
  return { opsPerSec: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/**
 * Refresh-token rotation under load: every refresh spends the token it sends, so each request takes a live token
 * from the pool and the answer puts its successor back (one session per connection).
 */
async function rotating(url: string, tokens: string[], connections: number): Promise<Figure> {
  const pool = [...tokens];
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections,
    duration: SECONDS,
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: JSON.stringify({ refreshToken: pool.shift() }) }),
        onResponse: (status, body) => {
          if (status === 200) pool.push((JSON.parse(body) as { refreshToken: string }).refreshToken);
        },
      },
    ],
  });
  return figureOf(result, `POST ${url}`);
}

/** A fixed cycle of requests on one connection (each must succeed): ops/s counts every request. */
async function httpSequence(url: string, headers: Record<string, string>, requests: Array<{ method: 'POST' | 'DELETE'; path?: string; body?: string }>): Promise<Figure> {
  const result = await autocannon({
    url,
    connections: 1,
    duration: SECONDS,
    // A body-less request says no content type (Fastify refuses an empty JSON body).
    requests: requests.map((r) => ({
      method: r.method,
      headers: r.body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(r.path === undefined ? {} : { path: r.path }),
      ...(r.body === undefined ? {} : { body: r.body }),
    })),
  });
  return figureOf(result, url);
}

/** An in-process reference: `op` run `concurrency` at a time for the duration; latencies in ms. */
async function inProcess(op: () => Promise<unknown> | unknown, concurrency: number, seconds = SECONDS): Promise<Figure> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const start = performance.now();
      await op();
      latencies.push(performance.now() - start);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { opsPerSec: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
}

/** Runs Tenantry's measurement and the reference's alternately, REPS times, and keeps each one's median. */
async function interleaved(tenantry: () => Promise<Figure>, reference?: () => Promise<Figure>): Promise<{ tenantry: Figure; reference?: Figure }> {
  const ours: Figure[] = [];
  const theirs: Figure[] = [];
  for (let i = 0; i < REPS; i++) {
    ours.push(await tenantry());
    if (reference) theirs.push(await reference());
  }
  return { tenantry: median(ours), ...(reference ? { reference: median(theirs) } : {}) };
}

// ———————————————————————————————————————————— the server ————————————————————————————————————————————

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

interface Server {
  base: string;
  process: ChildProcess;
  /** Milliseconds from spawn to the first ready answer. */
  startMs: number;
  stop(): Promise<void>;
}

async function startServer(env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(NODE, [path.join(ROOT, 'bin/tenantry.js'), 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), TENANTRY_HOST: '127.0.0.1', TENANTRY_PUBLIC_URL: base, TENANTRY_LOG_LEVEL: 'warn', TENANTRY_AUTH_RATE_LIMIT: '1000000', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const startMs = performance.now() - started;
  return {
    base,
    process: child,
    startMs,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function call<T>(base: string, method: string, url: string, body?: unknown, token?: string): Promise<T> {
  const res = await fetch(`${base}/api/v1${url}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface World {
  email: string;
  accessToken: string;
  tenantId: string;
  apiKey: string;
}

/** The person in MANY_TENANTS tenants: the switch and list-my-tenants scenarios' heavy case. */
interface Many {
  accessToken: string;
  tenantIds: string[];
}

const MANY_TENANTS = 500;

/** One person with their own tenant (the default preset's sign-up) and a read-only API key there. */
async function seed(base: string): Promise<World> {
  const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
  const signedUp = await call<{ accessToken: string; activeTenantId: string }>(base, 'POST', '/auth/signup', { email, password: PASSWORD, name: 'Bench' });
  const key = await call<{ secret: string }>(
    base,
    'POST',
    `/tenants/${signedUp.activeTenantId}/api-keys`,
    { name: 'bench', permissions: ['tenant.read', 'members.read'] },
    signedUp.accessToken,
  );
  return { email, accessToken: signedUp.accessToken, tenantId: signedUp.activeTenantId, apiKey: key.secret };
}

/** Someone who creates MANY_TENANTS tenants of their own (owner of each), to switch between and list. */
async function seedMany(base: string): Promise<Many> {
  const email = `many-${randomBytes(4).toString('hex')}@example.com`;
  const signedUp = await call<{ accessToken: string; activeTenantId: string }>(base, 'POST', '/auth/signup', { email, password: PASSWORD, name: 'Many' });
  const tenantIds = [signedUp.activeTenantId];
  // Eight at a time: the order of the list does not matter, and one at a time took 20 s per engine.
  for (let i = tenantIds.length; i < MANY_TENANTS; i += 8) {
    const batch = Array.from({ length: Math.min(8, MANY_TENANTS - i) }, (_, j) =>
      call<{ id: string }>(base, 'POST', '/tenants', { name: `Tenant ${i + j}`, slug: `bench-many-${i + j}` }, signedUp.accessToken),
    );
    tenantIds.push(...(await Promise.all(batch)).map((t) => t.id));
  }
  return { accessToken: signedUp.accessToken, tenantIds };
}

/** Resident memory of a process in MiB (Linux). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

// ———————————————————————————————————————————— references ————————————————————————————————————————————

async function joseReference(): Promise<{ verify: () => Promise<unknown>; sign: () => Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  await exportJWK(publicKey);
  const token = await new SignJWT({ tid: 'tabcdefghijklmnop' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer('http://bench')
    .setSubject('usr_bench')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(privateKey);
  return {
    verify: () => jwtVerify(token, publicKey, { issuer: 'http://bench', algorithms: ['ES256'] }),
    sign: () =>
      new SignJWT({ tid: 'tabcdefghijklmnop', scope: 'tenant.read members.read' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('http://bench')
        .setSubject('key_bench')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey),
  };
}

// ———————————————————————————————————————————— scenarios ————————————————————————————————————————————

/** A fresh PostgreSQL database for one run; `drop` removes it. */
async function freshPostgres(name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const again = new pg.Client({ connectionString: PG_ADMIN });
      await again.connect();
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await again.end();
    },
  };
}

async function runEngine(engine: 'pglite' | 'postgres', rows: Row[], notes: string[]): Promise<void> {
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  let peerUrl: string | undefined;
  if (engine === 'pglite') {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-bench-'));
    env = { TENANTRY_DATA_DIR: dir };
    cleanup = () => rm(dir, { recursive: true, force: true });
  } else {
    const ours = await freshPostgres(`tenantry_bench_${process.pid}`);
    const theirs = await freshPostgres(`tenantry_bench_peer_${process.pid}`);
    env = { DATABASE_URL: ours.url, TENANTRY_SECRET_KEY: randomBytes(32).toString('hex') };
    peerUrl = theirs.url;
    cleanup = async () => {
      await ours.drop();
      await theirs.drop();
    };
  }
  try {
    // First start migrates; the second, on the existing database, is the start-up figure.
    await (await startServer(env)).stop();
    const server = await startServer(env);
    // Tokens name the server's URL as issuer, and the port is new on every start: seed on the server measured.
    const world = await seed(server.base);
    rows.push({
      engine,
      scenario: 'start-up on an existing database (ms)',
      tenantry: { opsPerSec: 0, p50: Math.round(server.startMs), p99: Math.round(server.startMs) },
      target: engine === 'pglite' ? '≤ 2,000 ms' : '≤ 1,000 ms',
    });
    const { base } = server;
    const jwt = { authorization: `Bearer ${world.accessToken}` };
    const jose = await joseReference();
    const argonHash = await hash(PASSWORD, ARGON2);
    try {
      const check = { method: 'POST', headers: jwt, body: { tenantId: world.tenantId, permission: 'members.read' } };
      for (const c of wants('check') ? [1, 16] : []) {
        const r = await interleaved(
          () => http(`${base}/api/v1/check`, { ...check, connections: c }),
          () => inProcess(() => jose.verify(), c),
        );
        rows.push(row(engine, `POST /check, user JWT, c=${c}`, r, 'bare jose ES256 verify', '≥ 0.5×'));
      }
      const key = { authorization: `Bearer ${world.apiKey}` };
      for (const c of wants('key') ? [1, 16] : []) {
        const r = await interleaved(() => http(`${base}/api/v1/check`, { ...check, headers: key, connections: c }));
        rows.push(row(engine, `POST /check, API key, c=${c}`, r, undefined, c === 16 ? '≥ 5,000/s' : undefined));
      }
      // A route that reads the database whatever is cached: the tenant itself.
      for (const c of wants('key') ? [1, 16] : []) {
        const r = await interleaved(() => http(`${base}/api/v1/tenants/${world.tenantId}`, { headers: key, connections: c }));
        rows.push(row(engine, `GET /tenants/:id, API key, c=${c}`, r));
      }
      if (wants('signin')) {
        const r = await interleaved(
          () => http(`${base}/api/v1/auth/login`, { method: 'POST', body: { email: world.email, password: PASSWORD }, connections: 16 }),
          () => inProcess(() => verify(argonHash, PASSWORD, ARGON2), 16),
        );
        rows.push(row(engine, 'sign-in, c=16', r, 'raw argon2id verify, same parameters, 16 at a time', '≥ 0.85×'));
      }
      if (wants('signin')) {
        // /auth/me at c=1 idle, then during a 16-way sign-in storm: the p99 ratio is the stall.
        const idle = await http(`${base}/api/v1/auth/me`, { headers: jwt, connections: 1 });
        const [storm] = await Promise.all([
          http(`${base}/api/v1/auth/me`, { headers: jwt, connections: 1 }),
          http(`${base}/api/v1/auth/login`, { method: 'POST', body: { email: world.email, password: PASSWORD }, connections: 16 }),
        ]);
        rows.push({
          engine,
          scenario: '/auth/me p99 during a 16-way sign-in storm (vs idle)',
          tenantry: storm,
          reference: { name: '/auth/me idle', ...idle },
          ratio: Math.max(storm.p99, 1) / Math.max(idle.p99, 1),
          target: '≤ 3× idle',
        });
      }
      if (wants('grants')) {
        // Sixteen sessions of the first person, fresh for each repetition (the previous one spent its tokens).
        const sessions = () =>
          Promise.all(
            Array.from({ length: 16 }, () => call<{ refreshToken: string }>(base, 'POST', '/auth/login', { email: world.email, password: PASSWORD }).then((t) => t.refreshToken)),
          );
        const refresh = await interleaved(async () => rotating(`${base}/api/v1/auth/refresh`, await sessions(), 16));
        rows.push(row(engine, 'refresh grant (rotating), c=16', refresh, undefined, '≥ 1,000/s'));
        const grant = await interleaved(
          () => http(`${base}/api/v1/oauth/token`, { method: 'POST', body: { grant_type: 'client_credentials', client_secret: world.apiKey }, connections: 16 }),
          () => inProcess(() => jose.sign(), 16),
        );
        rows.push(row(engine, 'client-credentials grant, c=16', grant, 'bare jose ES256 sign', '≥ 1,000/s'));
      }
      if (wants('peer')) await peerScenarios(engine, base, world, peerUrl, rows);
      if (wants('mqtt')) await mqttScenarios(engine, rows);
      if (engine === 'pglite') notes.push(`PGlite server idle RSS after the run: ${await rssMiB(server.process.pid ?? 0)} MiB`);
    } finally {
      await server.stop();
    }
  } finally {
    await cleanup();
  }
}

/**
 * A broker's decision (issue 16): EMQX's HTTP authorization asking whether a device may publish to its own topic, the
 * key warm in the caches, on a server of its own under the mqtt-portal preset. The reference is the HTTP floor: a bare
 * Fastify route in this process that answers the same body without deciding anything.
 */
async function mqttScenarios(engine: 'pglite' | 'postgres', rows: Row[]): Promise<void> {
  const brokerSecret = randomBytes(24).toString('hex');
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  if (engine === 'pglite') {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-bench-mqtt-'));
    env = { TENANTRY_DATA_DIR: dir };
    cleanup = () => rm(dir, { recursive: true, force: true });
  } else {
    const db = await freshPostgres(`tenantry_bench_mqtt_${process.pid}`);
    env = { DATABASE_URL: db.url, TENANTRY_SECRET_KEY: randomBytes(32).toString('hex') };
    cleanup = db.drop;
  }
  const server = await startServer({ ...env, TENANTRY_PRESET: 'mqtt-portal', TENANTRY_MQTT_BROKER_SECRET: brokerSecret });
  const floor = Fastify();
  floor.post('/authz', async () => ({ result: 'allow' }));
  const floorUrl = await floor.listen({ port: 0, host: '127.0.0.1' });
  try {
    const base = server.base;
    const email = `mqtt-${randomBytes(4).toString('hex')}@example.com`;
    const owner = await call<{ accessToken: string; activeTenantId: string }>(base, 'POST', '/auth/signup', { email, password: PASSWORD, name: 'Devices' });
    await call(base, 'PUT', `/tenants/${owner.activeTenantId}/features`, { features: { mgmt_api: true } }, owner.accessToken);
    const key = await call<{ id: string }>(base, 'POST', `/tenants/${owner.activeTenantId}/api-keys`, { name: 'devices', permissions: ['mqtt_clients.manage'] }, owner.accessToken);
    const body = { username: key.id, clientid: 'sensor-1', topic: `${owner.activeTenantId}/sensor-1/temperature`, action: 'publish' };
    const headers = { authorization: `Bearer ${brokerSecret}` };
    for (const c of [1, 16]) {
      const r = await interleaved(
        () => http(`${base}/api/v1/mqtt/emqx/authz`, { method: 'POST', headers, body, connections: c }),
        () => http(`${floorUrl}/authz`, { method: 'POST', body, connections: c }),
      );
      rows.push(row(engine, `broker decision (EMQX authz, warm), c=${c}`, r, 'bare Fastify route, same body'));
    }
  } finally {
    await floor.close();
    await server.stop();
    await cleanup();
  }
}

/** Tenantry against Better Auth's organization plugin (in-process, same engine): session, list, switch. */
async function peerScenarios(engine: 'pglite' | 'postgres', base: string, world: World, peerUrl: string | undefined, rows: Row[]): Promise<void> {
  const many = await seedMany(base);
  const peer = await startBetterAuth(engine, peerUrl, MANY_TENANTS);
  try {
    const jwt = { authorization: `Bearer ${world.accessToken}` };
    for (const c of [1, 16]) {
      const r = await interleaved(
        () => http(`${base}/api/v1/auth/me`, { headers: jwt, connections: c }),
        () => inProcess(() => peer.getSession(), c),
      );
      rows.push(row(engine, `GET /auth/me, user JWT, c=${c}`, r, 'Better Auth getSession', '≥ 3×'));
    }
    {
      const r = await interleaved(
        () => http(`${base}/api/v1/tenants`, { headers: jwt, connections: 1 }),
        () => inProcess(() => peer.listOrganizations('one'), 1),
      );
      rows.push(row(engine, 'list my tenants (in 1), c=1', r, 'Better Auth listOrganizations', '≥ 2×'));
      const inMany = await interleaved(
        () => http(`${base}/api/v1/tenants`, { headers: { authorization: `Bearer ${many.accessToken}` }, connections: 1 }),
        () => inProcess(() => peer.listOrganizations('many'), 1),
      );
      rows.push(row(engine, `list my tenants (in ${MANY_TENANTS}), c=1`, inMany, 'Better Auth listOrganizations'));
      rows.push({
        engine,
        scenario: `list my tenants: p99 in ${MANY_TENANTS} vs in 1`,
        tenantry: inMany.tenantry,
        reference: { name: 'in 1 tenant', ...r.tenantry },
        ratio: inMany.tenantry.p99 / Math.max(r.tenantry.p99, 1),
        target: '≤ 3×',
      });
    }
    {
      // Adding an existing account directly, then removing it (so the next add has someone to add): one pair per
      // iteration on both sides. Tenantry: a key with members.manage; Better Auth: server-side addMember, owner's removeMember.
      const joiner = await call<{ user: { id: string } }>(base, 'POST', '/auth/signup', {
        email: `joiner-${randomBytes(4).toString('hex')}@example.com`,
        password: PASSWORD,
        name: 'Joiner',
      });
      const manager = await call<{ secret: string }>(
        base,
        'POST',
        `/tenants/${world.tenantId}/api-keys`,
        { name: 'members', permissions: ['members.manage', 'members.read', 'tenant.read'] },
        world.accessToken,
      );
      const headers = { authorization: `Bearer ${manager.secret}` };
      const r = await interleaved(
        async () => {
          // The previous measurement may have stopped between an add and its removal.
          await fetch(`${base}/api/v1/tenants/${world.tenantId}/members/${joiner.user.id}`, { method: 'DELETE', headers });
          const pairs = await httpSequence(`${base}/api/v1/tenants/${world.tenantId}/members`, headers, [
            { method: 'POST', body: JSON.stringify({ userId: joiner.user.id, roles: ['member'] }) },
            { method: 'DELETE', path: `/api/v1/tenants/${world.tenantId}/members/${joiner.user.id}` },
          ]);
          return { ...pairs, opsPerSec: pairs.opsPerSec / 2 };
        },
        () => inProcess(() => peer.addAndRemoveMember(), 1),
      );
      rows.push(row(engine, 'add an existing account directly, then remove it (pairs), c=1', r, 'Better Auth addMember + removeMember', '≥ 2×'));
    }
    {
      const [a, b] = many.tenantIds as [string, string];
      const r = await interleaved(
        () =>
          http(`${base}/api/v1/auth/active-tenant`, {
            method: 'POST',
            headers: { authorization: `Bearer ${many.accessToken}` },
            alternate: [{ tenantId: a }, { tenantId: b }],
            connections: 1,
          }),
        () => inProcess(() => peer.setActiveOrganization(), 1),
      );
      rows.push(row(engine, `switch tenant (person in ${MANY_TENANTS}), c=1`, r, 'Better Auth setActiveOrganization', '≥ 3×'));
    }
  } finally {
    await peer.close();
  }
}

/** The check itself, in-process: warm against a Map walk, cold against one SQL statement (bench/checks.ts). */
async function checkScenarios(engine: 'pglite' | 'postgres', rows: Row[]): Promise<void> {
  const own = engine === 'postgres' ? await freshPostgres(`tenantry_bench_checks_${process.pid}`) : undefined;
  const world = await checkWorld(engine, own?.url);
  const floor = await sqlFloor(world);
  try {
    const warm = await interleaved(
      () => inProcess(warmCheck(world), 1),
      () => inProcess(mapCheck(world), 1),
    );
    rows.push(row(engine, 'warm permission check in-process, inherited 6 levels, c=1', warm, 'Map walking ≤ 7 ancestors'));
    const casbin = await casbinCheck(world);
    const againstCasbin = await interleaved(
      () => inProcess(warmCheck(world), 1),
      () => inProcess(casbin, 1),
    );
    rows.push(row(engine, 'warm permission check in-process, inherited 6 levels, c=1', againstCasbin, 'casbin, RBAC with domains (keyMatch on tenant paths)'));
    const againstCasl = await interleaved(
      () => inProcess(warmCheck(world), 1),
      () => inProcess(caslCheck(world), 1),
    );
    rows.push(row(engine, 'warm permission check in-process, inherited 6 levels, c=1', againstCasl, 'CASL ability, rules on tenant paths'));
    const cold = await interleaved(
      () => inProcess(coldCheck(world), 1),
      () => inProcess(floor.check, 1),
    );
    rows.push(row(engine, 'cold permission check in-process, inherited 6 levels, c=1', cold, 'one SQL statement (the floor)', '≥ 0.5×'));
  } finally {
    await floor.close();
    await world.database.close();
    await own?.drop();
  }
}

/**
 * Dataset D and D×10 (bench/dataset.ts): the check over a sample of a thousand questions, warm and cold, at D and
 * after growing it tenfold; the ratio is D×10's throughput over D's. `--quick` stops at D.
 */
async function datasetScenarios(engine: 'pglite' | 'postgres', rows: Row[], notes: string[]): Promise<void> {
  const own = engine === 'postgres' ? await freshPostgres(`tenantry_bench_dataset_${process.pid}`) : undefined;
  const dir = engine === 'pglite' ? await mkdtemp(path.join(os.tmpdir(), 'tenantry-dataset-')) : undefined;
  const { database, preset } = await benchDatabase(engine, own?.url, dir);
  try {
    const measure = async () => {
      const pairs = await samplePairs(database);
      const warm = await interleaved(async () => inProcess(await warmSampleCheck(database, preset, pairs), 1));
      const cold = await interleaved(() => inProcess(coldSampleCheck(database, preset, pairs), 1));
      return { warm: warm.tenantry, cold: cold.tenantry };
    };
    let began = performance.now();
    await addUnit(database, 0);
    notes.push(
      `${engine}: dataset D (${UNIT.tenants.toLocaleString('en-GB')} tenants, ${UNIT.users.toLocaleString('en-GB')} users, ${(2 * UNIT.users).toLocaleString('en-GB')} memberships, ${((UNIT.tenants / UNIT.customRoleEvery) * UNIT.customRolesPerTen).toLocaleString('en-GB')} custom roles) seeded in ${Math.round((performance.now() - began) / 1000)} s`,
    );
    const atD = await measure();
    rows.push({ engine, scenario: 'warm check in-process, dataset D, 1,000 questions, c=1', tenantry: atD.warm });
    rows.push({ engine, scenario: 'cold check in-process, dataset D, 1,000 questions, c=1', tenantry: atD.cold });
    if (args.quick) return;
    began = performance.now();
    for (let unit = 1; unit < 10; unit++) await addUnit(database, unit);
    notes.push(`${engine}: grown to D×10 in ${Math.round((performance.now() - began) / 1000)} s`);
    const atD10 = await measure();
    rows.push({
      engine,
      scenario: 'warm check in-process, dataset D×10, same questions, c=1',
      tenantry: atD10.warm,
      reference: { name: 'the same at D', ...atD.warm },
      ratio: atD10.warm.opsPerSec / atD.warm.opsPerSec,
      target: '≥ 0.7×',
    });
    rows.push({
      engine,
      scenario: 'cold check in-process, dataset D×10, same questions, c=1',
      tenantry: atD10.cold,
      reference: { name: 'the same at D', ...atD.cold },
      ratio: atD10.cold.opsPerSec / atD.cold.opsPerSec,
      target: '≥ 0.7×',
    });
  } finally {
    await database.close();
    await own?.drop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}

function row(engine: string, scenario: string, r: { tenantry: Figure; reference?: Figure }, referenceName?: string, target?: string): Row {
  return {
    engine,
    scenario,
    tenantry: r.tenantry,
    ...(r.reference && referenceName ? { reference: { name: referenceName, ...r.reference }, ratio: r.tenantry.opsPerSec / r.reference.opsPerSec } : {}),
    ...(target === undefined ? {} : { target }),
  };
}

// ———————————————————————————————————————————— report ————————————————————————————————————————————

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-GB') : n.toFixed(1));

function table(rows: Row[]): string {
  const lines = ['| engine | scenario | Tenantry ops/s | p50 ms | p99 ms | reference | ref ops/s | ref p99 ms | ratio | target |', '|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const startUp = r.scenario.startsWith('start-up');
    lines.push(
      `| ${r.engine} | ${r.scenario} | ${startUp ? '—' : fmt(r.tenantry.opsPerSec)} | ${fmt(r.tenantry.p50)} | ${fmt(r.tenantry.p99)} | ${r.reference?.name ?? '—'} | ${r.reference ? fmt(r.reference.opsPerSec) : '—'} | ${r.reference ? fmt(r.reference.p99) : '—'} | ${r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`} | ${r.target ?? ''} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const engines = args.engine === undefined ? (['pglite', 'postgres'] as const) : ([args.engine as 'pglite' | 'postgres'] as const);
  const rows: Row[] = [];
  const notes: string[] = [];
  const began = performance.now();
  for (const engine of engines) {
    console.error(`— ${engine}`);
    await runEngine(engine, rows, notes);
    if (wants('checks')) await checkScenarios(engine, rows);
    if (wants('dataset')) await datasetScenarios(engine, rows, notes);
  }
  const machine = {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    seconds: SECONDS,
    repetitions: REPS,
  };
  const out = table(rows);
  console.log(out);
  for (const note of notes) console.log(`\n${note}`);
  console.log(
    `\n${machine.cpus} cores (${machine.cpu}), ${machine.node}, ${SECONDS} s per measurement, median of ${REPS}; took ${Math.round((performance.now() - began) / 1000)} s`,
  );
  await mkdir(new URL('results/', import.meta.url), { recursive: true });
  await writeFile(new URL('results/latest.json', import.meta.url), `${JSON.stringify({ at: new Date().toISOString(), machine, rows, notes }, null, 2)}\n`);
  if (args.doc) {
    const doc = path.join(ROOT, 'docs/benchmarks.md');
    const text = await readFile(doc, 'utf8');
    const begin = '<!-- results:begin -->';
    const end = '<!-- results:end -->';
    const body = `${begin}\n${out}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\nMachine: ${machine.cpus} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}; ${SECONDS} s per measurement, median of ${REPS}, ${new Date().toISOString().slice(0, 10)}.\n${end}`;
    await writeFile(doc, text.replace(new RegExp(`${begin}[\\s\\S]*${end}`), body));
  }
}

await main();
