import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { createOperator } from '../../src/accounts/operator.service.ts';
import type { Engine } from '../../src/platform/db/database.ts';
import { writePlatformSettings } from '../../src/presets/apply.ts';
import { type CreatedKey, createKey } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp, type TestAppOptions } from '../helpers/app.ts';
import { invitationTokenFor } from '../helpers/invited.ts';
import { bearer, enrol, GOOD_PASSWORD, join, type SignedUp, signUp, uniqueEmail } from '../helpers/users.ts';
import { Faults } from './faults.ts';
import { assertWorldHolds } from './oracle.ts';

/**
 * The hostile suite's fixture world (issue 14): a platform operator with shadow access to every tenant; tenants A and
 * B, each with an owner, an admin, a member, a holder of a custom role, a read key and a write key, and a chain of
 * seven tenants below it; a person in both; an unverified account; a pending invitation into A. Built through the
 * API wherever the API can build it, so what the tests attack is what a deployment would hold.
 */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Side {
  id: string;
  slug: string;
  owner: SignedUp;
  admin: SignedUp;
  member: SignedUp;
  /** Holds the custom role `auditor` (tenant.read, members.read, audit.read) and nothing else. */
  auditor: SignedUp;
  readKey: CreatedKey;
  /** Every permission the owner may give a key. */
  writeKey: CreatedKey;
  /** Seven tenants below this one, each the parent of the next. */
  chain: string[];
}

export interface World {
  t: TestApp;
  engine: Engine;
  operator: { userId: string; email: string; accessToken: string };
  a: Side;
  b: Side;
  /** A member of both A and B, signed in to A. */
  both: SignedUp;
  /** Signed up (their own tenant) but never verified their address. */
  unverified: SignedUp;
  /** Pending, into A as member. */
  invitation: { id: string; email: string; token: string };
  call(method: Method, url: string, credential?: string, payload?: unknown): Promise<LightMyRequestResponse>;
  /** Every error response body the app sent, whoever called it (for the leak check). */
  errorBodies: string[];
  /** Secrets the world made (passwords, tokens, key secrets, the invitation token), which no log, audit row or error may hold. */
  secrets: string[];
  /** The fault points of the world's database, for races and half-done commands. */
  faults: Faults;
}

/** The depth limit the world runs with: A (depth 1) and its seven-tenant chain fill it exactly. */
export const WORLD_MAX_DEPTH = 8;

export const AUDITOR_PERMISSIONS = ['tenant.read', 'members.read', 'audit.read'];

let worlds = 0;

export async function buildWorld(engine: Engine, options: TestAppOptions = {}): Promise<World> {
  const errorBodies: string[] = [];
  const t = await createTestApp(engine, {
    ...options,
    env: { TENANTRY_AUTH_RATE_LIMIT: '100000', TENANTRY_MAX_TREE_DEPTH: String(WORLD_MAX_DEPTH), ...options.env },
    extend: (app) => {
      options.extend?.(app);
      app.addHook('onSend', async (_request, reply, payload) => {
        if (reply.statusCode >= 400 && typeof payload === 'string') errorBodies.push(payload);
        return payload;
      });
    },
  });
  const call = (method: Method, url: string, credential?: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: credential === undefined ? {} : bearer(credential), ...(payload === undefined ? {} : { payload: payload as object }) });
  // Plan limits are the race tests' own business: the world's tenants start on a plan without limits.
  const unlimited = t.app.services.preset.plans.find((p) => Object.values(p.limits).every((v) => v === null));
  if (unlimited !== undefined) await writePlatformSettings(t.database, { default_plan: unlimited.key });

  // The operator first, so every tenant below is created with their shadow membership.
  const operatorEmail = uniqueEmail('operator');
  const operator = await createOperator(
    { db: t.database.db, clock: t.clock, ownerRole: t.app.services.preset.ownerRole },
    { email: operatorEmail, password: GOOD_PASSWORD, name: 'Operator' },
  );
  const operatorLogin = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: operatorEmail, password: GOOD_PASSWORD } });
  assert.equal(operatorLogin.statusCode, 200, operatorLogin.body);

  const permissions = ((await call('GET', '/api/v1/permissions', operatorLogin.json().accessToken)).json().permissions as Array<{ key: string }>).map((p) => p.key);
  worlds += 1;
  const side = async (label: string): Promise<Side> => {
    const owner = await signUp(t, { name: `${label} Owner` });
    const tenant = (await call('GET', `/api/v1/tenants/${owner.tenantId}`, owner.accessToken)).json();
    const role = await call('POST', `/api/v1/tenants/${owner.tenantId}/roles`, owner.accessToken, {
      key: 'auditor',
      name: 'Auditor',
      scope: 'tenant',
      permissions: AUDITOR_PERMISSIONS,
    });
    assert.equal(role.statusCode, 201, role.body);
    const admin = await enrol(t, owner.tenantId, ['admin'], { name: `${label} Admin` });
    const member = await enrol(t, owner.tenantId, ['member'], { name: `${label} Member` });
    const auditor = await enrol(t, owner.tenantId, ['auditor'], { name: `${label} Auditor` });
    const readKey = await createKey(t, owner.accessToken, owner.tenantId, ['tenant.read', 'members.read'], { name: `${label} read` });
    const grantable = permissions.filter((p) => !p.startsWith('platform.'));
    const writeKey = await createKey(t, owner.accessToken, owner.tenantId, grantable, { name: `${label} write` });
    const chain: string[] = [];
    for (let level = 1; level <= WORLD_MAX_DEPTH - 1; level += 1) {
      const parentId = chain.at(-1) ?? owner.tenantId;
      const child = await call('POST', '/api/v1/tenants', owner.accessToken, {
        name: `${label} level ${level}`,
        slug: `${label.toLowerCase()}-${level}-${engine}-${process.pid}-${worlds}`,
        parentId,
      });
      assert.equal(child.statusCode, 201, child.body);
      chain.push(child.json().id);
    }
    return { id: owner.tenantId, slug: tenant.slug, owner, admin, member, auditor, readKey, writeKey, chain };
  };
  const a = await side('A');
  const b = await side('B');
  const both = await enrol(t, a.id, ['member'], { name: 'Both' });
  await join(t, b.id, both.userId, ['member']);
  const unverified = await signUp(t, { name: 'Unverified' });
  const email = uniqueEmail('invitee');
  const invited = await call('POST', `/api/v1/tenants/${a.id}/invitations`, a.owner.accessToken, { email, roles: ['member'] });
  assert.equal(invited.statusCode, 201, invited.body);
  const invitation = { id: invited.json().id as string, email, token: await invitationTokenFor(t, email, a.id) };
  const people = [a.owner, a.admin, a.member, a.auditor, b.owner, b.admin, b.member, b.auditor, both, unverified];
  const secrets = [
    GOOD_PASSWORD,
    operatorLogin.json().accessToken,
    operatorLogin.json().refreshToken,
    ...people.flatMap((p) => [p.accessToken, p.refreshToken]),
    ...[a, b].flatMap((s) => [s.readKey.secret, s.writeKey.secret]),
    invitation.token,
  ];
  const faults = new Faults(t.database.db);
  return {
    t,
    engine,
    operator: { userId: operator.user.id, email: operatorEmail, accessToken: operatorLogin.json().accessToken },
    a,
    b,
    both,
    unverified,
    invitation,
    call,
    errorBodies,
    secrets,
    faults,
  };
}

/**
 * A family's world: built before its tests (then `onBuilt`, for what the family adds), and after them checked by the
 * invariant checker, the list oracle and the leak check (`assertWorldHolds`), then closed.
 */
export function hostileWorld(engine: Engine, onBuilt: (w: World) => void | Promise<void>, options: TestAppOptions = {}): void {
  let world: World | undefined;
  before(async () => {
    world = await buildWorld(engine, options);
    await onBuilt(world);
  });
  after(async () => {
    if (world === undefined) return;
    world.faults.close();
    try {
      await assertWorldHolds(world);
    } finally {
      await world.t.close();
    }
  });
}
