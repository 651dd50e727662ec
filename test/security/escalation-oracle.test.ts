import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { loadPreset } from '../../src/presets/presets.ts';
import { testEngines } from '../helpers/database.ts';
import {
  type ActorInfo,
  type Cell,
  compareSnapshots,
  type EscalationOracle,
  findViolations,
  type Knowledge,
  type MembershipRow,
  type ObservedRequest,
  type Snapshot,
  type TenantInfo,
  type Violation,
} from '../helpers/escalation-oracle.ts';
import {
  api,
  companyTreeWorld,
  createInstall,
  defaultWorld,
  designateStaff,
  type Install,
  invitationToken,
  join,
  marketplaceWorld,
  perform,
  person,
  slug,
  stepArbitrary,
  WORLDS,
} from '../helpers/escalation-worlds.ts';

/**
 * Issue 10's oracle: in small fixture worlds of three presets (default: owner and admin reach the tenants below;
 * marketplace: every role stays in its tenant; company-tree: the admin reaches below and removing an admin is
 * held for approval), every write request of a scripted and of a randomised sequence is checked: nobody may come
 * out of it holding a permission nobody who held that authority gave them (test/helpers/escalation-rule.ts states the
 * exact rule; test/helpers/escalation-worlds.ts holds the worlds and the random steps). The scripted sequences are the issue's known attacks; the randomised ones are drawn by
 * fast-check with a fixed seed (TENANTRY_ORACLE_SEED / TENANTRY_ORACLE_RUNS / TENANTRY_ORACLE_STEPS override it;
 * TENANTRY_ORACLE_EXPLORE=1 runs them all and prints every distinct violation instead of failing at the first).
 */

// ---------------------------------------------------------------------------------------------------------
// The oracle must be able to fail: hand-made before/after pairs.
// ---------------------------------------------------------------------------------------------------------

describe('escalation oracle: the rule itself, on hand-made snapshots', () => {
  const preset = loadPreset('default');
  const ALL = new Set(preset.permissions.keys());
  const OWNER = new Set(preset.roles.get('owner')?.permissions ?? []);
  const ADMIN = new Set(preset.roles.get('admin')?.permissions ?? []);
  const MEMBER = new Set(preset.roles.get('member')?.permissions ?? []);
  const WHILE_SUSPENDED = new Set([...preset.permissions.values()].filter((p) => p.whileSuspended).map((p) => p.key));

  const tenant = (id: string, parentId: string | null, status: TenantInfo['status'] = 'active', isAdminTenancy = false): TenantInfo => ({
    id,
    slug: id,
    status,
    parentId,
    path: parentId === null ? [id] : [parentId, id],
    isAdminTenancy,
  });
  const user = (id: string, isSuperAdmin = false): ActorInfo => ({ id, kind: 'user', isSuperAdmin, email: `${id}@example.test`, keyTenantId: null });
  const cell = (permissions: Iterable<string>, roleGrants: Iterable<string> = permissions, fromAbove: Iterable<string> = []): Cell => ({
    permissions: new Set(permissions),
    roleGrants: new Set(roleGrants),
    fromAbove: new Set(fromAbove),
  });
  function snapshot(spec: { tenants: TenantInfo[]; actors: ActorInfo[]; cells: Record<string, Record<string, Cell>>; memberships?: MembershipRow[] }): Snapshot {
    return {
      tenants: new Map(spec.tenants.map((t) => [t.id, t])),
      actors: new Map(spec.actors.map((a) => [a.id, a])),
      cells: new Map(Object.entries(spec.cells).map(([actor, row]) => [actor, new Map(Object.entries(row))])),
      memberships: spec.memberships ?? [],
      customRoles: new Map(),
    };
  }
  const knowledge = (extra: Partial<Knowledge> = {}): Knowledge => ({
    preset,
    staff: new Set(),
    statusBeforeDeletion: new Map(),
    invitations: new Map(),
    name: (id) => ({ zT: 'Z', yT: 'Y', amy: 'Amy (admin of Z)', zed: 'Zed (owner of Z)' })[id] ?? id,
    ...extra,
  });
  const req = (actorId: string, method: string, url: string, status: number, body?: unknown, response?: unknown): ObservedRequest => ({
    actorId,
    method,
    url,
    status,
    body,
    response,
  });

  // Amy administers Z (no tenant.delete) and owns Y; moving Z under Y makes her Y-owner role reach Z.
  const moveBefore = snapshot({
    tenants: [tenant('zT', null), tenant('yT', null)],
    actors: [user('amy'), user('zed')],
    cells: { amy: { zT: cell(ADMIN), yT: cell(OWNER) }, zed: { zT: cell(OWNER) } },
  });
  const moveAfter = snapshot({
    tenants: [tenant('zT', 'yT'), tenant('yT', null)],
    actors: [user('amy'), user('zed')],
    cells: { amy: { zT: cell(ALL, ALL, OWNER), yT: cell(OWNER) }, zed: { zT: cell(OWNER) } },
  });

  it('reports an unexplained gain with the actor, the tenant, the permissions and the request', () => {
    const found = findViolations(knowledge(), moveBefore, moveAfter, req('amy', 'PATCH', '/api/v1/tenants/zT', 200, { parentId: 'yT' }), 1);
    assert.equal(found.length, 1, JSON.stringify(found, null, 2));
    const [v] = found as [Violation];
    assert.equal(v.kind, 'unexplained_gain');
    assert.deepEqual([v.actorId, v.tenantId, v.permissions], ['amy', 'zT', ['tenant.delete', 'tenant.transfer_ownership']]);
    assert.match(v.message, /^Amy \(admin of Z\) gained \{tenant\.delete, tenant\.transfer_ownership\} in Z/);
    assert.match(v.message, /authority in Z before was \{/);
    assert.equal(v.request, 'Amy (admin of Z): PATCH /tenants/zT {"parentId":"yT"} → 200');
  });

  it('explains the same gain when the actor held that authority (rule a)', () => {
    assert.deepEqual(findViolations(knowledge(), moveBefore, moveAfter, req('zed', 'PATCH', '/api/v1/tenants/zT', 200, { parentId: 'yT' })), []);
  });

  it("explains a new tenant's creator and designated staff, never anyone else's shadow access (rule b)", () => {
    const before = snapshot({
      tenants: [tenant('adm', null, 'active', true)],
      actors: [user('ann'), user('sam'), user('vic')],
      cells: { sam: { adm: cell(ADMIN) }, vic: { adm: cell(MEMBER) } },
    });
    const after = snapshot({
      tenants: [tenant('adm', null, 'active', true), tenant('new', null)],
      actors: [user('ann'), user('sam'), user('vic')],
      cells: { ann: { new: cell(OWNER) }, sam: { adm: cell(ADMIN), new: cell(ADMIN, ADMIN, ADMIN) }, vic: { adm: cell(MEMBER), new: cell(MEMBER, MEMBER, MEMBER) } },
      memberships: [
        { tenantId: 'new', userId: 'ann', kind: 'direct', roles: ['owner'] },
        { tenantId: 'new', userId: 'sam', kind: 'shadow', roles: ['admin'] },
        { tenantId: 'new', userId: 'vic', kind: 'shadow', roles: ['member'] },
      ],
    });
    const found = findViolations(knowledge({ staff: new Set(['sam']) }), before, after, req('ann', 'POST', '/api/v1/tenants', 201));
    assert.deepEqual(
      found.map((v) => [v.actorId, v.tenantId, v.permissions]),
      [['vic', 'new', ['members.read', 'tenant.read']]],
    );
  });

  it('lets a restore bring back only what the deletion interrupted (rule d)', () => {
    const before = snapshot({
      tenants: [tenant('cT', 'rT', 'pending_deletion'), tenant('rT', null)],
      actors: [user('carol'), user('alice')],
      cells: { carol: { cT: cell(WHILE_SUSPENDED, OWNER) }, alice: { cT: cell(ALL, ALL, ALL) } },
    });
    const after = snapshot({
      tenants: [tenant('cT', 'rT', 'active'), tenant('rT', null)],
      actors: [user('carol'), user('alice')],
      cells: { carol: { cT: cell(OWNER) }, alice: { cT: cell(ALL, ALL, ALL) } },
    });
    const restore = req('carol', 'POST', '/api/v1/tenants/cT/restore', 200);
    const suspendedThenDeleted = findViolations(knowledge({ statusBeforeDeletion: new Map([['cT', 'suspended']]) }), before, after, restore);
    assert.deepEqual(
      suspendedThenDeleted.map((v) => [v.kind, v.actorId]),
      [['unexplained_gain', 'carol']],
    );
    assert.deepEqual(findViolations(knowledge({ statusBeforeDeletion: new Map([['cT', 'active']]) }), before, after, restore), []);
    // Unknown history counts as suspended; the parent's owner may lift it either way.
    assert.equal(findViolations(knowledge(), before, after, restore).length, 1);
    assert.deepEqual(findViolations(knowledge(), before, after, req('alice', 'POST', '/api/v1/tenants/cT/restore', 200)), []);
  });

  it("explains an accepted invitation by the inviter's authority when it was made (rule c)", () => {
    const before = snapshot({ tenants: [tenant('pT', null)], actors: [user('ivy')], cells: {} });
    const after = snapshot({ tenants: [tenant('pT', null)], actors: [user('ivy')], cells: { ivy: { pT: cell(ADMIN) } } });
    const accept = req('ivy', 'POST', '/api/v1/invitations/tnr_inv_x/accept', 200, undefined, { tenantId: 'pT' });
    const record = (authority: Set<string>) => new Map([['pT ivy@example.test', { inviterId: 'pat', authority: new Map([['pT', authority]]) }]]);
    assert.deepEqual(findViolations(knowledge({ invitations: record(OWNER) }), before, after, accept), []);
    assert.deepEqual(findViolations(knowledge({ invitations: record(MEMBER) }), before, after, accept)[0]?.permissions?.includes('members.manage'), true);
    assert.equal(findViolations(knowledge(), before, after, accept).length, 1);
  });

  it('reports an administrator stripped without approval (unless approved, or by a super_admin) where the preset holds it, a parent cut off by a move, and server errors', () => {
    const tree = loadPreset('company-tree');
    const roles = new Map([
      ['deputy', { key: 'deputy', name: 'Deputy', description: '', scope: 'tenant' as const, permissions: new Set(['members.manage', 'tenant.read']), builtIn: false }],
    ]);
    const base = {
      tenants: [tenant('dT', null)],
      actors: [user('dan'), user('dora')],
      cells: {},
      memberships: [{ tenantId: 'dT', userId: 'dora', kind: 'direct' as const, roles: ['deputy'] }],
    };
    const before = { ...snapshot(base), customRoles: new Map([['dT', roles]]) };
    const weakened = new Map([['deputy', { ...roles.get('deputy')!, permissions: new Set(['tenant.read']) }]]);
    const afterEdit = { ...snapshot(base), customRoles: new Map([['dT', weakened]]) };
    const k = { ...knowledge(), preset: tree };
    assert.deepEqual(
      findViolations(k, before, afterEdit, req('dan', 'PATCH', '/api/v1/tenants/dT/roles/deputy', 200)).map((v) => [v.kind, v.actorId]),
      [['held_action_bypassed', 'dora']],
    );
    assert.deepEqual(findViolations(k, before, afterEdit, req('mia', 'POST', '/api/v1/tenants/dT/approval-requests/apr_x/approve', 200)), []);
    const withOperator = (x: Snapshot): Snapshot => ({ ...x, actors: new Map([...x.actors, ['op', user('op', true)]]) });
    assert.deepEqual(findViolations(k, withOperator(before), withOperator(afterEdit), req('op', 'PATCH', '/api/v1/tenants/dT/roles/deputy', 200)), []);

    const parentBefore = snapshot({
      tenants: [tenant('cT', 'rT'), tenant('rT', null)],
      actors: [user('alice'), user('carol')],
      cells: { alice: { cT: cell(ALL, ALL, ALL) }, carol: { cT: cell(OWNER) } },
    });
    const parentAfter = snapshot({ tenants: [tenant('cT', null), tenant('rT', null)], actors: [user('alice'), user('carol')], cells: { carol: { cT: cell(OWNER) } } });
    assert.deepEqual(
      findViolations(knowledge(), parentBefore, parentAfter, req('carol', 'PATCH', '/api/v1/tenants/cT', 200, { parentId: null })).map((v) => [v.kind, v.actorId]),
      [['oversight_removed', 'alice']],
    );
    assert.deepEqual(findViolations(knowledge(), parentBefore, parentAfter, req('alice', 'PATCH', '/api/v1/tenants/cT', 200, { parentId: null })), []);

    assert.deepEqual(
      findViolations(knowledge(), moveBefore, moveBefore, req('zed', 'POST', '/api/v1/tenants', 500)).map((v) => v.kind),
      ['server_error'],
    );
  });

  it('reports a permission cache that answers differently from a fresh resolution', () => {
    assert.deepEqual(compareSnapshots(knowledge(), moveBefore, moveBefore, 3), []);
    assert.deepEqual(
      compareSnapshots(knowledge(), moveBefore, moveAfter, 3).map((v) => [v.kind, v.actorId, v.tenantId]),
      [['stale_cache', 'amy', 'zT']],
    );
  });
});

/**
 * Escalations the oracle has found that are not fixed yet, reported by the randomised runs as diagnostics instead of
 * failures. Empty: (8), moves checked against the moved tenant only, and (9), accepting an invitation keeping a
 * shadow's roles as direct ones, were found by these runs and are fixed (their scripted tests above fail without
 * the fixes). A new finding goes here only together with a failing scripted test and an issue.
 */
const OPEN_FINDINGS: ReadonlyArray<{ name: string; matches: (v: Violation) => boolean }> = [];
const openFinding = (v: Violation) => OPEN_FINDINGS.find((f) => f.matches(v));

const SEED = Number(process.env.TENANTRY_ORACLE_SEED ?? 20261203);
const RUNS = Number(process.env.TENANTRY_ORACLE_RUNS ?? 6);
const STEPS = Number(process.env.TENANTRY_ORACLE_STEPS ?? 12);
const EXPLORE = process.env.TENANTRY_ORACLE_EXPLORE === '1';

/** In explore mode: one line per distinct kind of violation, with the first sequence that showed it. */
function signature(v: Violation, oracle: EscalationOracle): string {
  const shape = v.request.replace(/\{[^}]*\}|tnr_inv_[A-Za-z0-9_-]+|t[a-z2-7]{15}|usr_[a-z2-7]{20}|key_[a-z2-7]{20}|[a-z]+-\d+-\d+/g, '…').replace(/^[^:]*: /, '');
  return `${v.kind} ← ${shape.slice(0, 80)} [${(v.permissions ?? []).slice(0, 3).join(',')}] ${oracle.name(v.actorId ?? '').split(' ')[0]}`;
}

async function randomRuns(install: Install, diagnostic: (message: string) => void): Promise<void> {
  const found = new Map<string, string>();
  const outcomes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(fc.array(stepArbitrary, { minLength: Math.min(6, STEPS), maxLength: STEPS }), async (steps) => {
      const world = await WORLDS[install.preset](install, false);
      for (const step of steps) await perform(world, step);
      await world.oracle.verifyCache();
      if (EXPLORE) {
        for (const step of world.oracle.steps) {
          const m = /: (\w+) (\/[^ ]*).* → (\d)\d\d/.exec(step.description);
          const what = `${m?.[1]} ${(m?.[2] ?? '').replace(/\{[^}]*\}/g, ':id').replace(/\/tnr_inv_[^/]+/, '/:token')} ${m?.[3]}xx`;
          outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
        }
        for (const v of world.oracle.violations) {
          const sig = signature(v, world.oracle);
          if (!found.has(sig)) found.set(sig, world.oracle.report());
        }
        return;
      }
      for (const v of world.oracle.violations) {
        const known = openFinding(v);
        if (known !== undefined) diagnostic(`open finding ${known.name} seen again: [step ${v.step}] ${v.message}\n  request: ${v.request}`);
      }
      world.oracle.assertClean((v) => openFinding(v) !== undefined);
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  if (EXPLORE) {
    console.log(`\n===== ${install.preset}: ${found.size} distinct violation signature(s) =====`);
    console.log(
      [...outcomes]
        .sort()
        .map(([k, v]) => `  ${k}: ${v}`)
        .join('\n'),
    );
    for (const [sig, report] of found) console.log(`\n### ${sig}\n${report}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Per engine and preset: the attacks, scripted, then the randomised sequences.
// ---------------------------------------------------------------------------------------------------------

for (const engine of testEngines()) {
  describe(`escalation oracle [default preset, ${engine}]`, () => {
    let install: Install;
    before(async () => {
      install = await createInstall(engine, 'default');
    });
    after(() => install.t.close());

    it('sees a grant nobody made through the API (live control: the oracle can fail)', async () => {
      const { oracle, people, tenants } = await defaultWorld(install, true);
      const zed = people.zed ?? '';
      await oracle.snapshot();
      // Behind the API's back: Zed becomes an owner of R, then sends a harmless request.
      await join(install, tenants.R ?? '', zed, ['owner']);
      await oracle.request(zed, 'GET', `/tenants/${tenants.R}`);
      const gains = oracle.violations
        .filter((v) => v.kind === 'unexplained_gain' && v.actorId === zed)
        .map((v) => [oracle.name(v.tenantId ?? ''), v.permissions?.includes('tenant.delete')]);
      assert.deepEqual(
        gains.sort(),
        [
          ['C', true],
          ['G', true],
          ['R', true],
        ],
        oracle.report(),
      );
      assert.match(oracle.report(), /\[step 1\] unexplained_gain: zed \(owner of Z\) gained \{.*tenant\.delete.*\} in R \(active → active\)/);
    });

    it('(1) an admin (not owner) of Z moves Z under a root they own, then suspends it and promotes themselves', async () => {
      const { oracle, people, tenants } = await defaultWorld(install, true);
      const amy = people.amy ?? '';
      const Z = tenants.Z ?? '';
      await oracle.request(amy, 'PATCH', `/tenants/${Z}`, { parentId: tenants.Y });
      await oracle.request(amy, 'POST', `/tenants/${Z}/suspend`, { reason: 'mine now' });
      await oracle.request(amy, 'POST', `/tenants/${Z}/resume`, {});
      await oracle.request(amy, 'PATCH', `/tenants/${Z}/members/${amy}`, { roles: ['owner'] });
      oracle.assertClean();
    });

    it("(1b) a child's own owner detaches it from its parent (leaving a parent needs authority from above)", async () => {
      const { oracle, people, tenants } = await defaultWorld(install, true);
      await oracle.request(people.carol ?? '', 'PATCH', `/tenants/${tenants.C}`, { parentId: null });
      oracle.assertClean();
    });

    it("(2) a parent suspends C and deletes it; C's own owner restores it", async () => {
      const { oracle, people, tenants } = await defaultWorld(install, true);
      const C = tenants.C ?? '';
      await oracle.request(people.alice ?? '', 'POST', `/tenants/${C}/suspend`, { reason: 'unpaid' });
      await oracle.request(people.alice ?? '', 'DELETE', `/tenants/${C}`, { confirm: oracle.slugOf(C), includeDescendants: true });
      await oracle.request(people.carol ?? '', 'POST', `/tenants/${C}/restore`);
      // The parent may restore it: it comes back as it was (suspended), G as it was (active).
      await oracle.request(people.alice ?? '', 'POST', `/tenants/${C}/restore`);
      oracle.assertClean();
    });

    it('(4) a staff member demoted in the admin tenancy keeps no more shadow access than their new role gives', async () => {
      const sam = await designateStaff(install, 'Staff-two');
      const { oracle, people } = await defaultWorld(install, true);
      oracle.addStaff(sam);
      oracle.addUser(sam, 'sam (staff: admin of the admin tenancy)', install.tokens.get(sam) ?? '');
      await oracle.request(people.zed ?? '', 'POST', '/tenants', { name: 'Q', slug: slug('q') });
      await oracle.request(install.operator, 'PATCH', `/tenants/${install.adminTenancy}/members/${sam}`, { roles: ['member'] });
      oracle.assertClean();
    });

    it('(5) someone whose primary tenant is the admin tenancy, without a staff role there, gets no shadow access', async () => {
      const vera = await person(install, 'Vera');
      await join(install, install.adminTenancy, vera, ['member']);
      const world = await defaultWorld(install, true);
      world.oracle.addUser(vera, 'vera (member of the admin tenancy only; not staff)', install.tokens.get(vera) ?? '');
      await world.oracle.request(world.people.zed ?? '', 'POST', '/tenants', { name: 'Q', slug: slug('q') });
      world.oracle.assertClean();
    });

    // Found by this oracle after the issue-10 fixes: accepting an invitation turns a shadow membership into a direct
    // one with the shadow's roles as well as the invited ones, so the staffer keeps them after leaving the staff.
    it('(9) a staffer invited as a viewer by someone who may only invite keeps their shadow roles as direct ones', async () => {
      const sid = await designateStaff(install, 'Staff-three');
      const { oracle, people, tenants } = await defaultWorld(install, true);
      oracle.addStaff(sid);
      oracle.addUser(sid, 'sid (staff: admin of the admin tenancy)', install.tokens.get(sid) ?? '');
      const R = tenants.R ?? '';
      await oracle.request(people.alice ?? '', 'POST', `/tenants/${R}/roles`, {
        key: 'recruiter',
        name: 'Recruiter',
        scope: 'tenant',
        permissions: ['tenant.read', 'members.read', 'members.invite'],
      });
      await oracle.request(people.alice ?? '', 'PATCH', `/tenants/${R}/members/${people.dave}`, { roles: ['member', 'recruiter'] });
      const invited = await oracle.request(people.dave ?? '', 'POST', `/tenants/${R}/invitations`, { email: oracle.emailOf(sid), roles: ['viewer'] });
      assert.equal(invited.statusCode, 201, invited.body);
      const token = await invitationToken(install, oracle.emailOf(sid));
      await oracle.request(sid, 'POST', `/invitations/${token}/accept`);
      // Leaving the staff now ends every shadow membership, but not this one.
      await oracle.request(install.operator, 'DELETE', `/tenants/${install.adminTenancy}/members/${sid}`);
      oracle.assertClean();
    });

    it('(7) a super_admin designating another admin tenancy is a grant: its staff-role holders get shadow access to new tenants', async () => {
      const { oracle, people, tenants } = await defaultWorld(install, true);
      try {
        const res = await oracle.request(install.operator, 'POST', `/admin/tenants/${tenants.Y}/make-admin-tenancy`);
        assert.equal(res.statusCode, 200, res.body);
        await oracle.request(people.zed ?? '', 'POST', '/tenants', { name: 'Q', slug: slug('q') });
        oracle.assertClean();
      } finally {
        const back = await api(install, install.operator, 'POST', `/admin/tenants/${install.adminTenancy}/make-admin-tenancy`);
        assert.equal(back.statusCode, 200, back.body);
      }
    });

    it('randomised sequences leave nobody with authority nobody granted', async (t) => {
      await randomRuns(install, (message) => t.diagnostic(message));
    });
  });

  describe(`escalation oracle [marketplace preset, ${engine}]`, () => {
    let install: Install;
    before(async () => {
      install = await createInstall(engine, 'marketplace');
    });
    after(() => install.t.close());

    it('(3) an admin of P makes a descendant-scoped custom role, takes it, and reaches the child C', async () => {
      const { oracle, people, tenants } = await marketplaceWorld(install, true);
      const ann = people.ann ?? '';
      await oracle.request(ann, 'POST', `/tenants/${tenants.P}/roles`, {
        key: 'scout',
        name: 'Scout',
        scope: 'tenant_and_descendants',
        permissions: ['tenant.read', 'members.read', 'audit.read', 'api_keys.manage'],
      });
      await oracle.request(ann, 'PATCH', `/tenants/${tenants.P}/members/${ann}`, { roles: ['admin', 'scout'] });
      await oracle.request(ann, 'POST', `/tenants/${tenants.C}/api-keys`, { name: 'mine', permissions: ['members.read'] });
      oracle.assertClean();
    });

    // Found by this oracle after the issue-10 fixes: a move checks the mover's authority in the moved tenant only,
    // not in the subtree that moves with it. Not yet fixed, so reported as a TODO rather than failing the suite.
    it('(8) the owner of a root moves it, with a subtree they hold nothing in, under a tenant whose descendant-scoped roles then reach that subtree', async () => {
      const { oracle, people, tenants } = await marketplaceWorld(install, true);
      const [ann, vic] = [people.ann ?? '', people.vic ?? ''];
      // The operator gives Vic a regional role in P that applies below P.
      await oracle.request(install.operator, 'POST', `/tenants/${tenants.P}/roles`, {
        key: 'regional',
        name: 'Regional',
        scope: 'tenant_and_descendants',
        permissions: ['tenant.read', 'members.read', 'audit.read'],
      });
      await oracle.request(install.operator, 'PATCH', `/tenants/${tenants.P}/members/${vic}`, { roles: ['viewer', 'regional'] });
      await oracle.request(ann, 'PATCH', `/tenants/${tenants.A}`, { parentId: tenants.P });
      oracle.assertClean();
    });

    it('randomised sequences leave nobody with authority nobody granted', async (t) => {
      await randomRuns(install, (message) => t.diagnostic(message));
    });
  });

  describe(`escalation oracle [company-tree preset, ${engine}]`, () => {
    let install: Install;
    before(async () => {
      install = await createInstall(engine, 'company-tree');
    });
    after(() => install.t.close());

    it('(6) an admin re-roles another admin to a custom role with members.manage, then edits the role to drop it', async () => {
      const { oracle, people, tenants } = await companyTreeWorld(install, true);
      const D = tenants.D ?? '';
      await oracle.request(people.dan ?? '', 'POST', `/tenants/${D}/roles`, {
        key: 'deputy',
        name: 'Deputy',
        scope: 'tenant',
        permissions: ['tenant.read', 'members.read', 'members.manage'],
      });
      await oracle.request(people.dan ?? '', 'PATCH', `/tenants/${D}/members/${people.dora}`, { roles: ['deputy'] });
      const edit = await oracle.request(people.dan ?? '', 'PATCH', `/tenants/${D}/roles/deputy`, { permissions: ['tenant.read', 'members.read'] });
      // Held for approval: approved from above, it may run.
      const held = edit.statusCode === 202 ? (edit.json().approvalRequest?.id as string | undefined) : undefined;
      if (held !== undefined) await oracle.request(people.mia ?? '', 'POST', `/tenants/${D}/approval-requests/${held}/approve`, {});
      oracle.assertClean();
    });

    it('randomised sequences leave nobody with authority nobody granted', async (t) => {
      await randomRuns(install, (message) => t.diagnostic(message));
    });
  });
}
