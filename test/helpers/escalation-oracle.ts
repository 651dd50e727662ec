import type { LightMyRequestResponse } from 'fastify';
import { authenticateKeyId } from '../../src/api-keys/api-keys.service.ts';
import { readSystem } from '../../src/platform/db/context.ts';
import type { Preset, RoleDefinition } from '../../src/presets/presets.ts';
import { loadCustomRoles } from '../../src/roles/roles.repository.ts';
import type { TestApp } from './app.ts';
import {
  type ActorInfo,
  authorityOf,
  type Cell,
  compareSnapshots,
  describeRequest,
  EMPTY,
  findViolations,
  INVITE,
  type InvitationRecord,
  type Knowledge,
  MAKE_ADMIN,
  type MembershipRow,
  type ObservedRequest,
  pathOf,
  type Snapshot,
  type TenantInfo,
  type Violation,
} from './escalation-rule.ts';

export * from './escalation-rule.ts';

/**
 * The escalation oracle (issue 10) around a live test app: snapshots every actor's effective permissions in every
 * tenant of a fixture world before and after each write request, and checks the transition with the rule in
 * `escalation-rule.ts` ("nobody may come out of a request holding authority nobody who held it granted").
 */

export interface StepRecord {
  step: number;
  description: string;
  violations: Violation[];
}

export interface OracleOptions {
  /** Designated operator staff (user ids). */
  staff: Iterable<string>;
  /** Tenants that are not part of the world (other worlds sharing the database). */
  excludeTenants?: Iterable<string>;
  /**
   * Resolve afresh for every snapshot (drop the whole permission cache first). Otherwise snapshots read through
   * the cache, as requests do, and `verifyCache` compares it with a fresh resolution at the end.
   */
  fresh?: boolean;
}

/**
 * The oracle around one fixture world of a test app: it knows the world's people (with their bearer tokens),
 * its tenants (every tenant of the database not excluded), and its API keys (found in the database; their
 * secrets when the oracle saw them created). `request` sends a write as an actor and checks the transition.
 */
export class EscalationOracle {
  readonly t: TestApp;
  readonly violations: Violation[] = [];
  readonly steps: StepRecord[] = [];
  readonly #names = new Map<string, string>();
  readonly #tokens = new Map<string, string>();
  readonly #users: string[] = [];
  readonly #tenantOrder: string[] = [];
  readonly #excluded: Set<string>;
  readonly #fresh: boolean;
  readonly #staff: Set<string>;
  readonly #statusBeforeDeletion = new Map<string, 'active' | 'suspended'>();
  readonly #invitations = new Map<string, InvitationRecord>();
  #last: Snapshot | undefined;

  constructor(t: TestApp, options: OracleOptions) {
    this.t = t;
    this.#staff = new Set(options.staff);
    this.#excluded = new Set(options.excludeTenants ?? []);
    this.#fresh = options.fresh ?? false;
  }

  get knowledge(): Knowledge {
    return {
      preset: this.t.app.services.preset,
      staff: this.#staff,
      statusBeforeDeletion: this.#statusBeforeDeletion,
      invitations: this.#invitations,
      name: (id) => this.#names.get(id) ?? id,
    };
  }

  name(id: string): string {
    return this.#names.get(id) ?? id;
  }

  /** A person of the world, acting with `token`. */
  addUser(userId: string, name: string, token: string): void {
    this.#users.push(userId);
    this.#names.set(userId, name);
    this.#tokens.set(userId, token);
    this.#last = undefined;
  }

  /** Someone the fixture designates as operator staff from now on. */
  addStaff(userId: string): void {
    this.#staff.add(userId);
  }

  nameTenant(tenantId: string, name: string): void {
    this.#names.set(tenantId, name);
    if (!this.#tenantOrder.includes(tenantId)) this.#tenantOrder.push(tenantId);
  }

  addKey(keyId: string, name: string, secret: string): void {
    this.#names.set(keyId, name);
    this.#tokens.set(keyId, secret);
  }

  get users(): readonly string[] {
    return this.#users;
  }

  /** The world's tenants known so far, in the order the fixture named them and then as they appeared. */
  get tenantIds(): readonly string[] {
    return this.#tenantOrder;
  }

  /** Keys whose secret the oracle knows (so they can act). */
  get keyIds(): string[] {
    return [...this.#tokens.keys()].filter((id) => id.startsWith('key_'));
  }

  /** The latest snapshot (after the last request), if any. */
  get current(): Snapshot | undefined {
    return this.#last;
  }

  slugOf(tenantId: string): string {
    return this.#last?.tenants.get(tenantId)?.slug ?? tenantId;
  }

  emailOf(userId: string): string {
    return this.#last?.actors.get(userId)?.email ?? '';
  }

  /** Every actor's cells in every tenant of the world, now. */
  async snapshot(fresh = this.#fresh): Promise<Snapshot> {
    const { app, database } = this.t;
    const raw = await readSystem(database.db, async (trx) => {
      const tenants = await trx
        .selectFrom('tenants as t')
        .innerJoin('tenant_tree as tt', 'tt.tenant_id', 't.id')
        .select(['t.id', 't.slug', 't.status', 't.is_admin_tenancy', 'tt.parent_id', 'tt.path'])
        .orderBy('t.slug')
        .execute();
      const ids = tenants.map((x) => x.id).filter((id) => !this.#excluded.has(id));
      const users = this.#users.length === 0 ? [] : await trx.selectFrom('users').select(['id', 'email', 'platform_role']).where('id', 'in', this.#users).execute();
      const memberships =
        ids.length === 0
          ? []
          : await trx
              .selectFrom('memberships as m')
              .leftJoin('membership_roles as r', (j) => j.onRef('r.tenant_id', '=', 'm.tenant_id').onRef('r.user_id', '=', 'm.user_id'))
              .select(['m.tenant_id', 'm.user_id', 'm.kind', 'r.role_key'])
              .where('m.tenant_id', 'in', ids)
              .execute();
      const keys =
        ids.length === 0
          ? []
          : await trx.selectFrom('api_keys').select(['id', 'tenant_id', 'permissions', 'revoked_at', 'expires_at']).where('tenant_id', 'in', ids).orderBy('id').execute();
      const customRoles = ids.length === 0 ? new Map<string, Map<string, RoleDefinition>>() : await loadCustomRoles(trx, ids);
      return { tenants: tenants.filter((x) => !this.#excluded.has(x.id)), users, memberships, keys, customRoles };
    });
    if (fresh) app.services.access.invalidate('*');

    const tenants = new Map<string, TenantInfo>();
    for (const x of raw.tenants) {
      tenants.set(x.id, { id: x.id, slug: x.slug, status: x.status, parentId: x.parent_id, path: x.path, isAdminTenancy: x.is_admin_tenancy });
      if (!this.#tenantOrder.includes(x.id)) this.#tenantOrder.push(x.id);
      if (!this.#names.has(x.id)) this.#names.set(x.id, x.slug);
    }
    const memberships = new Map<string, MembershipRow & { roles: string[] }>();
    for (const row of raw.memberships) {
      const key = `${row.tenant_id} ${row.user_id}`;
      const m = memberships.get(key) ?? { tenantId: row.tenant_id, userId: row.user_id, kind: row.kind, roles: [] };
      if (row.role_key !== null) m.roles.push(row.role_key);
      memberships.set(key, m);
    }
    for (const m of memberships.values()) m.roles.sort();

    const actors = new Map<string, ActorInfo>();
    const cells = new Map<string, Map<string, Cell>>();
    for (const userId of this.#users) {
      const user = raw.users.find((u) => u.id === userId);
      if (user === undefined) continue;
      const isSuperAdmin = user.platform_role === 'super_admin';
      actors.set(userId, { id: userId, kind: 'user', isSuperAdmin, email: user.email, keyTenantId: null });
      const row = new Map<string, Cell>();
      for (const tenantId of tenants.keys()) {
        const access = await app.services.access.forUser({ userId, isSuperAdmin }, tenantId);
        if (access.permissions.size + access.roleGrants.size + access.fromAbove.size === 0) continue;
        row.set(tenantId, { permissions: new Set(access.permissions), roleGrants: new Set(access.roleGrants.keys()), fromAbove: new Set(access.fromAbove) });
      }
      cells.set(userId, row);
    }
    const now = this.t.clock.now().getTime();
    for (const key of raw.keys) {
      actors.set(key.id, { id: key.id, kind: 'api_key', isSuperAdmin: false, email: null, keyTenantId: key.tenant_id });
      if (!this.#names.has(key.id)) this.#names.set(key.id, `key ${key.id}`);
      const live = key.revoked_at === null && (key.expires_at === null || key.expires_at.getTime() > now);
      if (!live) continue;
      // The same usability check authentication makes (revoked, expired, tenant not active, key feature off).
      const usable = await authenticateKeyId(app.services, key.tenant_id, key.id, { recordUse: false }).then(
        () => true,
        () => false,
      );
      const access = await app.services.access.forKey({ keyId: key.id, tenantId: key.tenant_id, permissions: key.permissions }, key.tenant_id);
      cells.set(key.id, new Map([[key.tenant_id, { permissions: usable ? new Set(access.permissions) : EMPTY, roleGrants: new Set(access.roleGrants.keys()), fromAbove: EMPTY }]]));
    }
    const snapshot: Snapshot = { tenants, actors, cells, memberships: [...memberships.values()], customRoles: raw.customRoles };
    this.#last = snapshot;
    return snapshot;
  }

  /**
   * Sends a write request as `actorId` (its bearer token: a person's access token, a key's secret), and checks
   * the transition. Returns the response; violations are collected in `violations` (and returned in the step).
   */
  async request(actorId: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: object): Promise<LightMyRequestResponse> {
    const token = this.#tokens.get(actorId);
    if (token === undefined) throw new Error(`the oracle has no credentials for ${this.name(actorId)}`);
    const before = this.#last ?? (await this.snapshot());
    const fullUrl = url.startsWith('/api/') ? url : `/api/v1${url}`;
    const res = await this.t.app.inject({ method, url: fullUrl, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { payload: body }) });
    const after = await this.snapshot();
    let response: unknown;
    try {
      response = res.json();
    } catch {
      response = res.body;
    }
    const observed: ObservedRequest = { actorId, method, url: fullUrl, ...(body === undefined ? {} : { body }), status: res.statusCode, response };
    const k = this.knowledge;
    const step = this.steps.length + 1;
    const found = findViolations(k, before, after, observed, step);
    this.violations.push(...found);
    this.steps.push({ step, description: describeRequest(k, observed), violations: found });
    this.#learn(before, after, observed);
    return res;
  }

  /** What the oracle remembers from a request: invitations made, deletions' interrupted statuses, new keys, staff. */
  #learn(before: Snapshot, after: Snapshot, req: ObservedRequest): void {
    const path = pathOf(req.url);
    const invite = INVITE.exec(path);
    const body = req.body as Record<string, unknown> | undefined;
    if (invite !== null && req.method === 'POST' && req.status === 201 && typeof body?.email === 'string') {
      const k = this.knowledge;
      const authority = new Map<string, ReadonlySet<string>>();
      for (const tenantId of before.tenants.keys()) authority.set(tenantId, authorityOf(k, before, req.actorId, tenantId));
      this.#invitations.set(`${invite[1]} ${body.email.trim().toLowerCase()}`, { inviterId: req.actorId, authority });
    }
    for (const [tenantId, tenant] of after.tenants) {
      const was = before.tenants.get(tenantId);
      if (tenant.status !== 'pending_deletion') this.#statusBeforeDeletion.delete(tenantId);
      else if (was !== undefined && was.status !== 'pending_deletion' && was.status !== 'deleted') this.#statusBeforeDeletion.set(tenantId, was.status);
    }
    const response = req.response as { id?: unknown; secret?: unknown; name?: unknown } | undefined;
    if (req.method === 'POST' && req.status === 201 && /\/api-keys$/.test(path) && typeof response?.id === 'string' && typeof response.secret === 'string') {
      const tenantId = path.split('/')[4] ?? '';
      this.addKey(response.id, `key '${String(response.name)}' in ${this.name(tenantId)}`, response.secret);
    }
    // A super_admin designating an admin tenancy designates its staff-role holders as staff (a structural grant).
    const designated = MAKE_ADMIN.exec(path);
    if (designated !== null && req.status === 200 && before.actors.get(req.actorId)?.isSuperAdmin === true) {
      const preset = this.t.app.services.preset as Preset & { staffRoles?: readonly string[] };
      const staffRoles = preset.staffRoles ?? [preset.ownerRole];
      for (const m of after.memberships) {
        if (m.tenantId === designated[1] && m.kind === 'direct' && m.roles.some((r) => staffRoles.includes(r))) this.#staff.add(m.userId);
      }
    }
  }

  /** Compares the cached snapshot with a fresh resolution (stale cache entries are violations too). */
  async verifyCache(): Promise<Violation[]> {
    const cached = await this.snapshot(false);
    const fresh = await this.snapshot(true);
    const found = compareSnapshots(this.knowledge, cached, fresh, this.steps.length);
    this.violations.push(...found);
    return found;
  }

  /** The sequence so far, each step with what it broke. */
  report(): string {
    const lines = [`${this.violations.length} violation(s) of "nobody gains authority nobody granted":`];
    for (const v of this.violations) lines.push(`  [step ${v.step}] ${v.kind}: ${v.message}\n      request: ${v.request}`);
    lines.push('  sequence:');
    for (const s of this.steps)
      lines.push(`    ${String(s.step).padStart(2)}. ${s.description}${s.violations.length > 0 ? `   ⚠ ${s.violations.map((v) => v.kind).join(', ')}` : ''}`);
    return lines.join('\n');
  }

  /** Throws the report if there is any violation (`tolerate`: ones not to count, e.g. known open findings). */
  assertClean(tolerate: (v: Violation) => boolean = () => false): void {
    if (this.violations.some((v) => !tolerate(v))) throw new Error(this.report());
  }
}
