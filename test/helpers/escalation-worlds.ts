import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createOperator } from '../../src/accounts/operator.service.ts';
import { hashPassword } from '../../src/accounts/passwords.ts';
import { readSystem, withSystem, withTenant } from '../../src/platform/db/context.ts';
import type { Engine } from '../../src/platform/db/database.ts';
import { newId } from '../../src/platform/ids.ts';
import { writePlatformSettings } from '../../src/presets/apply.ts';
import { insertMembership } from '../../src/members/memberships.repository.ts';
import { createTestApp, TEST_PASSWORD_HASHING, type TestApp } from './app.ts';
import { cellOf, EscalationOracle } from './escalation-oracle.ts';
import { seedTenant } from './tenants.ts';
import { GOOD_PASSWORD, signIn, uniqueEmail } from './users.ts';

/**
 * Fixture worlds for the escalation oracle (test/security/escalation-oracle.test.ts), one per preset, each small
 * (≤ 6 tenants, ≤ 8 people) so a snapshot is cheap; and the random steps drawn over them. An install (one app and
 * database per preset) has an operator (platform super_admin, owner of the admin tenancy) and one staffer (admin of
 * the admin tenancy, which is their default tenant); each world is a fresh set of people and tenants in it, and its
 * oracle ignores the tenants of earlier worlds.
 */

export type PresetName = 'default' | 'marketplace' | 'company-tree';

export interface Install {
  t: TestApp;
  preset: PresetName;
  operator: string;
  staff: string;
  adminTenancy: string;
  tokens: Map<string, string>;
  /** Outbox rows already read (invitation links). */
  seenMail: Set<string>;
  worlds: number;
}

let passwordHash: Promise<string> | undefined;
let slugCounter = 0;
export const slug = (label: string) => `${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${process.pid}-${++slugCounter}`;

export async function login(t: TestApp, email: string): Promise<string> {
  return (await signIn(t, email)).accessToken;
}

/** A verified person with no tenant yet (signing up would make a personal tenant), signed in. */
export async function person(install: Install, label: string): Promise<string> {
  const { t } = install;
  passwordHash ??= hashPassword(GOOD_PASSWORD, TEST_PASSWORD_HASHING);
  const hash = await passwordHash;
  const id = newId('user');
  const email = uniqueEmail(label.toLowerCase().replace(/[^a-z]/g, ''));
  const now = t.clock.now();
  await withSystem(t.database.db, (trx) =>
    trx.insertInto('users').values({ id, email, name: label, password_hash: hash, email_verified_at: now, platform_role: null, created_at: now, updated_at: now }).execute(),
  );
  install.tokens.set(id, await login(t, email));
  return id;
}

export async function join(install: Install, tenantId: string, userId: string, roles: string[]): Promise<void> {
  const { t } = install;
  await withTenant(t.database.db, tenantId, (trx) => insertMembership(trx, { tenantId, userId, kind: 'direct', roles, now: t.clock.now() }));
}

export async function api(install: Install, who: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  const token = install.tokens.get(who);
  assert.ok(token, `no token for ${who}`);
  return install.t.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload }) });
}

/** A tenant made through the API (so operator staff get their shadow memberships, as in production). */
export async function tenantBy(install: Install, who: string, label: string, parentId?: string): Promise<string> {
  const res = await api(install, who, 'POST', '/tenants', { name: label, slug: slug(label), ...(parentId === undefined ? {} : { parentId }) });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id;
}

/** The newest invitation link mailed to `email` that has not been read yet. */
export async function invitationToken(install: Install, email: string): Promise<string | undefined> {
  const rows = await readSystem(install.t.database.db, (trx) => trx.selectFrom('outbox').select(['id', 'payload']).execute());
  let token: string | undefined;
  for (const row of rows) {
    if (install.seenMail.has(row.id)) continue;
    const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as { to?: string; text?: string };
    if (payload.to !== email) continue;
    install.seenMail.add(row.id);
    token = /\/team-invite\/(tnr_inv_[A-Za-z0-9_-]+)/.exec(payload.text ?? '')?.[1] ?? token;
  }
  return token;
}

export async function createInstall(engine: Engine, preset: PresetName): Promise<Install> {
  const t = await createTestApp(engine, { env: { TENANTRY_PRESET: preset, TENANTRY_AUTH_RATE_LIMIT: '100000' } });
  const install: Install = { t, preset, operator: '', staff: '', adminTenancy: '', tokens: new Map(), seenMail: new Set(), worlds: 0 };
  // Plan limits are not what this test is about: new tenants start on a plan without limits.
  const unlimited = t.app.services.preset.plans.find((p) => Object.values(p.limits).every((v) => v === null));
  if (unlimited !== undefined) await writePlatformSettings(t.database, { default_plan: unlimited.key });
  const email = uniqueEmail('operator');
  const created = await createOperator({ db: t.database.db, clock: t.clock, ownerRole: t.app.services.preset.ownerRole }, { email, password: GOOD_PASSWORD, name: 'Operator' });
  install.operator = created.user.id;
  install.adminTenancy = created.adminTenantId ?? '';
  install.tokens.set(install.operator, await login(t, email));
  // Staff: an admin of the admin tenancy, which is their default tenant (explicitly designated).
  install.staff = await designateStaff(install, 'Staff');
  return install;
}

export async function designateStaff(install: Install, label: string): Promise<string> {
  const userId = await person(install, label);
  await join(install, install.adminTenancy, userId, ['admin']);
  await withSystem(install.t.database.db, (trx) => trx.updateTable('users').set({ default_tenant_id: install.adminTenancy }).where('id', '=', userId).execute());
  return userId;
}

export async function allTenantIds(t: TestApp): Promise<string[]> {
  return (await readSystem(t.database.db, (trx) => trx.selectFrom('tenants').select('id').execute())).map((r) => r.id);
}

export interface World {
  oracle: EscalationOracle;
  install: Install;
  people: Record<string, string>;
  tenants: Record<string, string>;
  /** Role keys the random steps draw from: the preset's and custom ones. */
  roleKeys: string[];
}

/** The oracle for a world, once its setup is done: everything that existed before the world is someone else's. */
export function worldOracle(install: Install, excluded: string[], people: Record<string, string>, tenants: Record<string, string>, fresh: boolean): EscalationOracle {
  const oracle = new EscalationOracle(install.t, { staff: [install.operator, install.staff], excludeTenants: excluded.filter((id) => id !== install.adminTenancy), fresh });
  oracle.addUser(install.operator, 'operator (super_admin)', install.tokens.get(install.operator) ?? '');
  oracle.addUser(install.staff, 'staff (admin of the admin tenancy)', install.tokens.get(install.staff) ?? '');
  for (const [label, id] of Object.entries(people)) oracle.addUser(id, label, install.tokens.get(id) ?? '');
  oracle.nameTenant(install.adminTenancy, 'ADMIN-TENANCY');
  for (const [label, id] of Object.entries(tenants)) oracle.nameTenant(id, label);
  return oracle;
}

/**
 * default preset: R (alice owns; bob admin; dave member + custom `auditor`, descendant-scoped) > C (alice and
 * carol own) > G (carol made it); Z (zed owns, amy administers) and Y (amy owns); a key in R.
 */
export async function defaultWorld(install: Install, fresh: boolean): Promise<World> {
  const excluded = await allTenantIds(install.t);
  const w = ++install.worlds;
  const p: Record<string, string> = {};
  for (const name of ['alice', 'bob', 'carol', 'dave', 'zed', 'amy']) p[name] = await person(install, `${name}${w}`);
  const n = (name: string) => p[name] ?? '';
  const R = await tenantBy(install, n('alice'), 'R');
  await join(install, R, n('bob'), ['admin']);
  await join(install, R, n('dave'), ['member']);
  const C = await tenantBy(install, n('alice'), 'C', R);
  await join(install, C, n('carol'), ['owner']);
  const G = await tenantBy(install, n('carol'), 'G', C);
  const role = await api(install, n('alice'), 'POST', `/tenants/${R}/roles`, {
    key: 'auditor',
    name: 'Auditor',
    scope: 'tenant_and_descendants',
    permissions: ['tenant.read', 'members.read', 'audit.read'],
  });
  assert.equal(role.statusCode, 201, role.body);
  assert.equal((await api(install, n('alice'), 'PATCH', `/tenants/${R}/members/${n('dave')}`, { roles: ['member', 'auditor'] })).statusCode, 200);
  const Z = await tenantBy(install, n('zed'), 'Z');
  await join(install, Z, n('amy'), ['admin']);
  const Y = await tenantBy(install, n('amy'), 'Y');
  const key = await api(install, n('alice'), 'POST', `/tenants/${R}/api-keys`, {
    name: 'ci',
    permissions: ['tenant.read', 'members.read', 'api_keys.manage', 'tenants.create_child'],
  });
  assert.equal(key.statusCode, 201, key.body);
  const tenants = { R, C, G, Z, Y };
  const people = Object.fromEntries(Object.entries(p).map(([k, v]) => [labelOf(k, 'default'), v]));
  const oracle = worldOracle(install, excluded, people, tenants, fresh);
  oracle.addKey(key.json().id, "key 'ci' in R", key.json().secret);
  return { oracle, install, people: p, tenants, roleKeys: [...install.t.app.services.preset.roles.keys(), 'auditor', 'r_one', 'r_two'] };
}

/**
 * marketplace: P (pat owns; ann admin; vic viewer; kim buyer manager) > C (pat made it; cole seller manager);
 * K (kim owns); A (ann owns, cole administers) > A1 (cole made it); a key in P.
 */
export async function marketplaceWorld(install: Install, fresh: boolean): Promise<World> {
  const excluded = await allTenantIds(install.t);
  const w = ++install.worlds;
  const p: Record<string, string> = {};
  for (const name of ['pat', 'ann', 'cole', 'vic', 'kim']) p[name] = await person(install, `${name}${w}`);
  const n = (name: string) => p[name] ?? '';
  const P = await tenantBy(install, n('pat'), 'P');
  await join(install, P, n('ann'), ['admin']);
  await join(install, P, n('vic'), ['viewer']);
  await join(install, P, n('kim'), ['buyer_manager']);
  const C = await tenantBy(install, n('pat'), 'C', P);
  await join(install, C, n('cole'), ['seller_manager']);
  const K = await tenantBy(install, n('kim'), 'K');
  // Ann owns A; Cole administers it and made A1 below it, so Cole owns A1 and Ann's (tenant-scoped) roles stop at A.
  const A = await tenantBy(install, n('ann'), 'A');
  await join(install, A, n('cole'), ['admin']);
  const A1 = await tenantBy(install, n('cole'), 'A1', A);
  const key = await api(install, n('pat'), 'POST', `/tenants/${P}/api-keys`, { name: 'ingest', permissions: ['tenant.read', 'data.read', 'api_keys.manage', 'members.invite'] });
  assert.equal(key.statusCode, 201, key.body);
  const tenants = { P, C, K, A, A1 };
  const people = Object.fromEntries(Object.entries(p).map(([k, v]) => [labelOf(k, 'marketplace'), v]));
  const oracle = worldOracle(install, excluded, people, tenants, fresh);
  oracle.addKey(key.json().id, "key 'ingest' in P", key.json().secret);
  return { oracle, install, people: p, tenants, roleKeys: [...install.t.app.services.preset.roles.keys(), 'r_one', 'r_two'] };
}

/**
 * company-tree: M (made by the operator; mia, admin; custom `service_auditor`, descendant-scoped) > D (dan and dora,
 * admins; tom, technician) > E (eli, admin; una, end user); a key in D.
 */
export async function companyTreeWorld(install: Install, fresh: boolean): Promise<World> {
  const excluded = await allTenantIds(install.t);
  const w = ++install.worlds;
  const p: Record<string, string> = {};
  for (const name of ['mia', 'dan', 'dora', 'tom', 'eli', 'una']) p[name] = await person(install, `${name}${w}`);
  const n = (name: string) => p[name] ?? '';
  // A company tree has one root that only the platform makes (the deployment's own Main Company is another
  // world's): the operator makes this world's, and Mia administers it.
  const M = await tenantBy(install, install.operator, 'M');
  await join(install, M, n('mia'), ['admin']);
  // Each company below has its own admin; the Main Company's admin holds nothing there directly.
  const D = (await seedTenant(install.t.database, { name: 'D', parentId: M, ownerId: n('dan'), ownerRole: 'admin' })).tenantId;
  await join(install, D, n('dora'), ['admin']);
  await join(install, D, n('tom'), ['technician']);
  const E = (await seedTenant(install.t.database, { name: 'E', parentId: D, ownerId: n('eli'), ownerRole: 'admin' })).tenantId;
  await join(install, E, n('una'), ['end_user']);
  const role = await api(install, n('mia'), 'POST', `/tenants/${M}/roles`, {
    key: 'service_auditor',
    name: 'Service auditor',
    scope: 'tenant_and_descendants',
    permissions: ['tenant.read', 'devices.read', 'audit.read'],
  });
  assert.equal(role.statusCode, 201, role.body);
  const key = await api(install, n('dan'), 'POST', `/tenants/${D}/api-keys`, {
    name: 'devices',
    permissions: ['tenant.read', 'devices.read', 'devices.manage', 'api_keys.manage'],
  });
  assert.equal(key.statusCode, 201, key.body);
  const tenants = { M, D, E };
  const people = Object.fromEntries(Object.entries(p).map(([k, v]) => [labelOf(k, 'company-tree'), v]));
  const oracle = worldOracle(install, excluded, people, tenants, fresh);
  oracle.addKey(key.json().id, "key 'devices' in D", key.json().secret);
  return { oracle, install, people: p, tenants, roleKeys: [...install.t.app.services.preset.roles.keys(), 'service_auditor', 'r_one', 'r_two'] };
}

const LABELS: Record<PresetName, Record<string, string>> = {
  default: {
    alice: 'alice (owner of R, C)',
    bob: 'bob (admin of R)',
    carol: 'carol (owner of C, G)',
    dave: 'dave (member+auditor of R)',
    zed: 'zed (owner of Z)',
    amy: 'amy (admin of Z, owner of Y)',
  },
  marketplace: {
    pat: 'pat (owner of P, C)',
    ann: 'ann (admin of P, owner of A)',
    cole: 'cole (seller_manager of C, admin of A, owner of A1)',
    vic: 'vic (viewer of P)',
    kim: 'kim (buyer_manager of P, owner of K)',
  },
  'company-tree': {
    mia: 'mia (admin of M)',
    dan: 'dan (admin of D)',
    dora: 'dora (admin of D)',
    tom: 'tom (technician of D)',
    eli: 'eli (admin of E)',
    una: 'una (end_user of E)',
  },
};
const labelOf = (name: string, preset: PresetName) => LABELS[preset][name] ?? name;

export const WORLDS: Record<PresetName, (install: Install, fresh: boolean) => Promise<World>> = {
  default: defaultWorld,
  marketplace: marketplaceWorld,
  'company-tree': companyTreeWorld,
};

export const ACTIONS = [
  'create_child',
  'create_root',
  'move',
  'move',
  'move_root',
  'suspend',
  'resume',
  'delete',
  'delete',
  'restore',
  'restore',
  'restore',
  'set_roles',
  'set_roles',
  'remove_member',
  'create_role',
  'create_role',
  'edit_role',
  'edit_role',
  'invite_accept',
  'invite_accept',
  'create_key',
  'transfer',
] as const;
export type Action = (typeof ACTIONS)[number];

/** The permission each action needs in its target (what an informed draw prefers its actor to hold there). */
export const NEEDS: Record<Action, string> = {
  create_child: 'tenants.create_child',
  create_root: 'tenant.read',
  move: 'tenant.update',
  move_root: 'tenant.update',
  suspend: 'tenant.suspend',
  resume: 'tenant.suspend',
  delete: 'tenant.delete',
  restore: 'tenant.delete',
  set_roles: 'members.manage',
  remove_member: 'members.manage',
  create_role: 'roles.manage',
  edit_role: 'roles.manage',
  invite_accept: 'members.invite',
  create_key: 'api_keys.manage',
  transfer: 'tenant.transfer_ownership',
};

export interface Step {
  actor: number;
  /** Draw the actor among those who hold something in the target (most draws), or among everyone. */
  informed: boolean;
  action: Action;
  target: number;
  other: number;
  person: number;
  roles: number[];
  perms: number[];
  flag: boolean;
  key: number;
}

export const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  actor: fc.nat(63),
  informed: fc.nat(3).map((n) => n !== 0),
  action: fc.constantFrom(...ACTIONS),
  target: fc.nat(63),
  other: fc.nat(63),
  person: fc.nat(63),
  roles: fc.uniqueArray(fc.nat(31), { minLength: 1, maxLength: 2 }),
  perms: fc.uniqueArray(fc.nat(63), { minLength: 1, maxLength: 5 }),
  flag: fc.boolean(),
  key: fc.nat(1),
});

const pick = <T>(list: readonly T[], i: number): T => {
  const item = list[i % list.length];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
};
/** `pick` from the preferred items when there are any, else from all. */
const pickPreferring = <T>(all: readonly T[], preferred: (item: T) => boolean, i: number): T => {
  const some = all.filter(preferred);
  return pick(some.length > 0 ? some : all, i);
};

/**
 * Carries out one abstract step in the world, through the oracle (two requests for an invitation and its
 * acceptance). The indices are resolved against the world as it is now, preferring what can succeed (a tenant
 * pending deletion to restore, a member to re-role, an actor who holds something in the target), so the
 * sequences reach deep states; any choice stays deterministic for a given sequence and world.
 */
export async function perform(world: World, s: Step): Promise<void> {
  const { oracle, install } = world;
  const preset = install.t.app.services.preset;
  const snap = oracle.current ?? (await oracle.snapshot());
  const customKey = s.key === 0 ? 'r_one' : 'r_two';
  // Never the admin tenancy: its members are who operator staff is (not modelled by the random part).
  const targets = oracle.tenantIds.filter((id) => id !== install.adminTenancy);
  const status = (id: string) => snap.tenants.get(id)?.status;
  const T = pickPreferring(
    targets,
    (id) =>
      s.action === 'restore'
        ? status(id) === 'pending_deletion'
        : s.action === 'resume'
          ? status(id) === 'suspended'
          : s.action === 'edit_role'
            ? snap.customRoles.get(id)?.has(customKey) === true
            : status(id) === 'active',
    s.target,
  );
  const actors = [...oracle.users, ...oracle.keyIds];
  const needs = NEEDS[s.action];
  const a = s.informed ? pickPreferring(actors, (x) => cellOf(snap, x, T).roleGrants.has(needs), s.actor) : pick(actors, s.actor);
  // A new parent the actor may create children under, mostly.
  const O = s.informed ? pickPreferring(targets, (id) => id !== T && cellOf(snap, a, id).permissions.has('tenants.create_child'), s.other) : pick(targets, s.other);
  const direct = (x: string) => snap.memberships.some((m) => m.tenantId === T && m.userId === x && m.kind === 'direct');
  const P = pickPreferring(oracle.users, s.action === 'invite_accept' ? (x) => !direct(x) : direct, s.person);
  // Roles: mostly ones that resolve at T, custom ones of T's path included.
  const path = snap.tenants.get(T)?.path ?? [T];
  const usable = [...preset.roles.keys(), ...path.flatMap((id) => [...(snap.customRoles.get(id)?.keys() ?? [])])];
  const roles = [...new Set(s.roles.map((i) => (s.informed ? pick(usable, i) : pick(world.roleKeys, i))))];
  const catalogue = [...preset.permissions.keys()];
  const perms = [...new Set(s.perms.map((i) => pick(catalogue, i)))];
  switch (s.action) {
    case 'create_child':
      await oracle.request(a, 'POST', '/tenants', { name: 'Random child', slug: slug('rnd'), parentId: T });
      return;
    case 'create_root':
      await oracle.request(a, 'POST', '/tenants', { name: 'Random root', slug: slug('rnd') });
      return;
    case 'move':
      await oracle.request(a, 'PATCH', `/tenants/${T}`, { parentId: O });
      return;
    case 'move_root':
      await oracle.request(a, 'PATCH', `/tenants/${T}`, { parentId: null });
      return;
    case 'suspend':
    case 'resume':
      await oracle.request(a, 'POST', `/tenants/${T}/${s.action}`, {});
      return;
    case 'delete':
      await oracle.request(a, 'DELETE', `/tenants/${T}`, { confirm: oracle.slugOf(T), ...(s.flag ? { includeDescendants: true } : {}) });
      return;
    case 'restore':
      await oracle.request(a, 'POST', `/tenants/${T}/restore`);
      return;
    case 'set_roles':
      await oracle.request(a, 'PATCH', `/tenants/${T}/members/${P}`, { roles });
      return;
    case 'remove_member':
      await oracle.request(a, 'DELETE', `/tenants/${T}/members/${P}`);
      return;
    case 'create_role':
      await oracle.request(a, 'POST', `/tenants/${T}/roles`, { key: customKey, name: customKey, scope: s.flag ? 'tenant_and_descendants' : 'tenant', permissions: perms });
      return;
    case 'edit_role':
      await oracle.request(a, 'PATCH', `/tenants/${T}/roles/${customKey}`, {
        permissions: perms,
        ...(s.flag ? { scope: (s.perms[0] ?? 0) % 2 === 0 ? 'tenant_and_descendants' : 'tenant' } : {}),
      });
      return;
    case 'invite_accept': {
      const email = oracle.emailOf(P);
      const invited = await oracle.request(a, 'POST', `/tenants/${T}/invitations`, { email, roles });
      if (invited.statusCode !== 201) return;
      const token = await invitationToken(install, email);
      assert.ok(token, `no invitation mail to ${email}`);
      await oracle.request(P, 'POST', `/invitations/${token}/accept`);
      return;
    }
    case 'create_key':
      await oracle.request(a, 'POST', `/tenants/${T}/api-keys`, { name: `k${slugCounter++}`, permissions: perms });
      return;
    case 'transfer':
      await oracle.request(a, 'POST', `/tenants/${T}/transfer-ownership`, { userId: P, confirm: oracle.slugOf(T) });
      return;
  }
}
