import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readTenant, withSystem, withTenant } from '../../src/platform/db/context.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { hashSecret } from '../../src/platform/secrets.ts';
import { createKey, machineToken, SECRET_SHAPE } from '../helpers/api-keys.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase, testEngines } from '../helpers/database.ts';
import { eventually } from '../helpers/eventually.ts';
import { seedTenant } from '../helpers/tenants.ts';
import { assertProblem, bearer, join, type SignedUp, signUp } from '../helpers/users.ts';

for (const engine of testEngines()) {
  describe(`API keys: create, use, list, revoke [${engine}]`, () => {
    let database: TestDatabase;
    let t: TestApp;
    let owner: SignedUp;
    before(async () => {
      // Made here rather than by createTestApp, so a "second server process" can find it (its url).
      database = await createTestDatabase(engine);
      t = await createTestApp(engine, { database, env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } }).catch(async (error: unknown) => {
        await database.close();
        throw error;
      });
      owner = await signUp(t);
    });
    after(() => t.close());

    const keys = (tenantId: string) => `/api/v1/tenants/${tenantId}/api-keys`;
    const members = (tenantId: string) => `/api/v1/tenants/${tenantId}/members`;
    const list = async (tenantId = owner.tenantId) => (await t.app.inject({ url: keys(tenantId), headers: bearer(owner.accessToken) })).json().apiKeys;
    const stored = (tenantId: string) =>
      readTenant(t.database.db, tenantId, async (trx) => ({
        keys: await trx.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId).execute(),
        audit: await trx.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId).where('action', 'like', 'api_key.%').orderBy('seq').execute(),
      }));

    it('shows the secret once (201), stores only its hash, and lists the key without it', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: keys(owner.tenantId),
        headers: bearer(owner.accessToken),
        payload: { name: ' CI deploy ', permissions: ['members.read', 'tenant.read'] },
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const created = res.json();
      assert.match(created.secret, SECRET_SHAPE);
      assert.ok(created.secret.startsWith(`tnty_${owner.tenantId}_${created.id.slice(4)}_`), 'the secret names its tenant and key');
      assert.match(created.id, /^key_[a-z2-7]{20}$/);
      assert.deepEqual(
        {
          name: created.name,
          permissions: created.permissions,
          status: created.status,
          createdBy: created.createdBy,
          expiresAt: created.expiresAt,
          lastUsedAt: created.lastUsedAt,
        },
        { name: 'CI deploy', permissions: ['members.read', 'tenant.read'], status: 'active', createdBy: { type: 'user', id: owner.userId }, expiresAt: null, lastUsedAt: null },
      );

      const listed = await list();
      assert.deepEqual(
        listed.map((k: { id: string }) => k.id),
        [created.id],
      );
      assert.equal(JSON.stringify(listed).includes(created.secret), false);
      assert.equal('secret' in listed[0], false);

      const { keys: rows, audit } = await stored(owner.tenantId);
      assert.equal(rows[0]?.secret_hash, hashSecret(created.secret));
      assert.deepEqual(
        audit.map((e) => [e.action, e.actor_type, e.actor_id, e.after]),
        [['api_key.created', 'user', owner.userId, { name: 'CI deploy', permissions: ['members.read', 'tenant.read'], expiresAt: null }]],
      );
    });

    it('acts as Authorization: Bearer with exactly its permissions, and records when it was last used', async () => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const res = await t.app.inject({ url: members(owner.tenantId), headers: bearer(key.secret) });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        res.json().members.map((m: { userId: string }) => m.userId),
        [owner.userId],
      );

      const refused = await t.app.inject({ url: `/api/v1/tenants/${owner.tenantId}`, headers: bearer(key.secret) });
      assertProblem(refused, 403, 'forbidden');
      assert.match(refused.json().detail, new RegExp(`API key ${key.id} does not carry tenant.read`));

      const check = await t.app.inject({
        method: 'POST',
        url: '/api/v1/check',
        headers: bearer(key.secret),
        payload: {
          checks: [
            { tenantId: owner.tenantId, permission: 'members.read' },
            { tenantId: owner.tenantId, permission: 'members.manage' },
          ],
        },
      });
      assert.deepEqual(
        check.json().results.map((r: { subject: string; allowed: boolean }) => [r.subject, r.allowed]),
        [
          [key.id, true],
          [key.id, false],
        ],
      );

      const used = (await list()).find((k: { id: string }) => k.id === key.id);
      assert.equal(used.lastUsedAt, t.clock.now().toISOString());
    });

    it('refuses a key on any other tenant with 404, including the tenants below its own', async () => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read', 'tenant.read']);
      const other = await signUp(t);
      const child = (await seedTenant(t.database, { name: 'Child', parentId: owner.tenantId, ownerId: owner.userId })).tenantId;
      for (const tenantId of [other.tenantId, child]) {
        assertProblem(await t.app.inject({ url: members(tenantId), headers: bearer(key.secret) }), 404, 'tenant_not_found');
        assertProblem(await t.app.inject({ url: `/api/v1/tenants/${tenantId}`, headers: bearer(key.secret) }), 404, 'tenant_not_found');
      }
      // And another tenant's owner cannot manage this tenant's keys.
      assertProblem(await t.app.inject({ url: keys(owner.tenantId), headers: bearer(other.accessToken) }), 404, 'tenant_not_found');
      assertProblem(await t.app.inject({ method: 'DELETE', url: `${keys(owner.tenantId)}/${key.id}`, headers: bearer(other.accessToken) }), 404, 'tenant_not_found');
      // Beneath the API, row-level security: from the other tenant's context the key is neither visible nor revocable.
      const seen = await withTenant(t.database.db, other.tenantId, async (trx) => ({
        rows: await trx.selectFrom('api_keys').select('id').where('id', '=', key.id).execute(),
        revoked: (await trx.updateTable('api_keys').set({ revoked_at: t.clock.now() }).where('id', '=', key.id).executeTakeFirst()).numUpdatedRows,
      }));
      assert.deepEqual(seen, { rows: [], revoked: 0n });
      assert.equal((await t.app.inject({ url: members(owner.tenantId), headers: bearer(key.secret) })).statusCode, 200);
    });

    it('never mints a key stronger than its creator, person or key', async () => {
      const member = await signUp(t);
      await join(t, owner.tenantId, member.userId, ['member']);
      const before = (await stored(owner.tenantId)).keys.length;
      assertProblem(
        await t.app.inject({ method: 'POST', url: keys(owner.tenantId), headers: bearer(member.accessToken), payload: { name: 'x', permissions: ['members.read'] } }),
        403,
        'forbidden',
      );

      const manager = await createKey(t, owner.accessToken, owner.tenantId, ['api_keys.manage', 'members.read']);
      const stronger = await t.app.inject({
        method: 'POST',
        url: keys(owner.tenantId),
        headers: bearer(manager.secret),
        payload: { name: 'x', permissions: ['members.read', 'members.manage'] },
      });
      assertProblem(stronger, 403, 'forbidden');
      assert.deepEqual(stronger.json().missingPermissions, ['members.manage']);
      assert.equal((await stored(owner.tenantId)).keys.length, before + 1);

      const weaker = await createKey(t, manager.secret, owner.tenantId, ['members.read']);
      const row = (await stored(owner.tenantId)).keys.find((k) => k.id === weaker.id);
      assert.deepEqual([row?.created_by_type, row?.created_by_id], ['api_key', manager.id]);
    });

    it('creates a key with every permission its creator holds, from ["*"], listed at creation; a key\'s "*" is its own list', async () => {
      const all = await createKey(t, owner.accessToken, owner.tenantId, ['*']);
      const listed = (await t.app.inject({ url: keys(owner.tenantId), headers: bearer(owner.accessToken) })).json().apiKeys.find((k: { id: string }) => k.id === all.id);
      assert.ok(listed.permissions.includes('members.manage') && listed.permissions.includes('api_keys.manage'), listed.permissions.join(' '));
      assert.equal(listed.permissions.includes('*'), false, "the permissions are listed, not a wildcard: what the creator later gains is not the key's");
      const narrow = await createKey(t, owner.accessToken, owner.tenantId, ['api_keys.manage', 'members.read']);
      const minted = await createKey(t, narrow.secret, owner.tenantId, ['*']);
      const row = (await t.app.inject({ url: keys(owner.tenantId), headers: bearer(owner.accessToken) })).json().apiKeys.find((k: { id: string }) => k.id === minted.id);
      assert.deepEqual(row.permissions, ['api_keys.manage', 'members.read']);
      assertProblem(
        await t.app.inject({ method: 'POST', url: keys(owner.tenantId), headers: bearer(owner.accessToken), payload: { name: 'x', permissions: ['*', 'members.read'] } }),
        422,
        'unknown_permission',
      );
    });

    it('refuses bad input with a problem document and creates nothing', async () => {
      const before = (await stored(owner.tenantId)).keys.length;
      const post = (payload: unknown) => t.app.inject({ method: 'POST', url: keys(owner.tenantId), headers: bearer(owner.accessToken), payload: payload as object });
      assertProblem(await post({ permissions: ['tenant.read'] }), 400, 'validation_failed');
      assertProblem(await post({ name: 'x', permissions: [] }), 400, 'validation_failed');
      assertProblem(await post({ name: '   ', permissions: ['tenant.read'] }), 400, 'validation_failed');
      assertProblem(await post({ name: 'x', permissions: ['tenant.read'], secret: 'mine' }), 400, 'validation_failed');
      assertProblem(await post({ name: 'x', permissions: ['tenant.read'], expiresAt: 'tomorrow' }), 400, 'validation_failed');
      const unknown = await post({ name: 'x', permissions: ['tenant.read', 'devices.fly'] });
      assertProblem(unknown, 422, 'unknown_permission');
      assert.deepEqual(unknown.json().permissions, ['devices.fly']);
      assertProblem(await post({ name: 'x', permissions: ['tenant.read'], expiresAt: new Date(t.clock.now().getTime() - 1000).toISOString() }), 422, 'invalid_expiry');
      assert.equal((await stored(owner.tenantId)).keys.length, before);
    });

    it('revokes at once (204), idempotently, and audits it once', async () => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const token = await machineToken(t, key);
      assert.equal((await t.app.inject({ url: members(owner.tenantId), headers: bearer(key.secret) })).statusCode, 200);
      const revoke = () => t.app.inject({ method: 'DELETE', url: `${keys(owner.tenantId)}/${key.id}`, headers: bearer(owner.accessToken) });
      assert.equal((await revoke()).statusCode, 204);
      for (const credential of [key.secret, token]) {
        const res = await t.app.inject({ url: members(owner.tenantId), headers: bearer(credential) });
        assertProblem(res, 401, 'invalid_api_key');
        assert.equal(res.json().detail, 'the API key has been revoked');
      }
      assert.equal((await revoke()).statusCode, 204);
      const { audit } = await stored(owner.tenantId);
      assert.equal(audit.filter((e) => e.action === 'api_key.revoked' && e.target_id === key.id).length, 1);
      assert.equal((await list()).find((k: { id: string }) => k.id === key.id).status, 'revoked');
      assertProblem(
        await t.app.inject({ method: 'DELETE', url: `${keys(owner.tenantId)}/key_aaaaaaaaaaaaaaaaaaaa`, headers: bearer(owner.accessToken) }),
        404,
        'api_key_not_found',
      );
    });

    it('revokes once under concurrent revocations, and replays a create retried with its Idempotency-Key', async () => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const results = await Promise.all(
        Array.from({ length: 6 }, () => t.app.inject({ method: 'DELETE', url: `${keys(owner.tenantId)}/${key.id}`, headers: bearer(owner.accessToken) })),
      );
      assert.deepEqual(
        results.map((r) => r.statusCode),
        [204, 204, 204, 204, 204, 204],
      );
      assert.equal((await stored(owner.tenantId)).audit.filter((e) => e.action === 'api_key.revoked' && e.target_id === key.id).length, 1);

      const before = (await stored(owner.tenantId)).keys.length;
      const create = () =>
        t.app.inject({
          method: 'POST',
          url: keys(owner.tenantId),
          headers: { ...bearer(owner.accessToken), 'idempotency-key': `retry-${engine}` },
          payload: { name: 'retried', permissions: ['tenant.read'] },
        });
      const first = await create();
      const retry = await create();
      assert.equal(retry.statusCode, 201, retry.body);
      assert.equal(retry.headers['idempotent-replayed'], 'true');
      assert.deepEqual([retry.json().id, retry.json().secret], [first.json().id, first.json().secret]);
      assert.equal(retry.headers['cache-control'], 'no-store', 'a replayed secret is as uncacheable as the first');
      assert.equal((await stored(owner.tenantId)).keys.length, before + 1);
    });

    it('revokes the keys a revoked key minted, and theirs, but not its siblings', async () => {
      const parent = await createKey(t, owner.accessToken, owner.tenantId, ['api_keys.manage', 'members.read']);
      const child = await createKey(t, parent.secret, owner.tenantId, ['api_keys.manage', 'members.read']);
      const grandchild = await createKey(t, child.secret, owner.tenantId, ['members.read']);
      const sibling = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      assert.equal((await t.app.inject({ method: 'DELETE', url: `${keys(owner.tenantId)}/${parent.id}`, headers: bearer(owner.accessToken) })).statusCode, 204);
      for (const key of [parent, child, grandchild]) assertProblem(await t.app.inject({ url: members(owner.tenantId), headers: bearer(key.secret) }), 401, 'invalid_api_key');
      assert.equal((await t.app.inject({ url: members(owner.tenantId), headers: bearer(sibling.secret) })).statusCode, 200);
      const revoked = (await stored(owner.tenantId)).audit.filter((e) => e.action === 'api_key.revoked' && [parent.id, child.id, grandchild.id].includes(e.target_id ?? ''));
      assert.deepEqual(
        revoked.map((e) => [e.target_id, e.after]),
        [
          [parent.id, { status: 'revoked' }],
          [child.id, { status: 'revoked', mintedByRevokedKey: parent.id }],
          [grandchild.id, { status: 'revoked', mintedByRevokedKey: parent.id }],
        ],
      );
    });

    it('refuses a machine token sent as the access cookie', async () => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const token = await machineToken(t, key);
      assertProblem(await t.app.inject({ url: members(owner.tenantId), cookies: { tenantry_access: token } }), 401, 'session_ended');
    });

    it('stops an expired key and its tokens', async () => {
      const expiresAt = new Date(t.clock.now().getTime() + 3_600_000);
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read'], { expiresAt: expiresAt.toISOString() });
      assert.equal((await t.app.inject({ url: members(owner.tenantId), headers: bearer(key.secret) })).statusCode, 200);
      t.clock.advance(3_600_000 - 60_000);
      const token = await machineToken(t, key);
      t.clock.advance(61_000);
      for (const credential of [key.secret, token]) {
        const res = await t.app.inject({ url: members(owner.tenantId), headers: bearer(credential) });
        // The token itself is still within its verification leeway: the key check is what refuses it.
        assertProblem(res, 401, 'invalid_api_key');
        assert.equal(res.json().detail, 'the API key has expired');
      }
      // The token never outlived the key: it was minted for the key's last minute only.
      assert.equal(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).exp, Math.floor(expiresAt.getTime() / 1000));
      // Time moved on: the owner signs in again for the tests that follow.
      const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: owner.password } });
      owner = { ...owner, accessToken: login.json().accessToken };
      assert.equal((await list()).find((k: { id: string }) => k.id === key.id).status, 'expired');
    });

    it('refuses malformed and forged secrets, and keys on person-only endpoints', async () => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
      const forged = `${key.secret.slice(0, -8)}${key.secret.at(-8) === 'a' ? 'b' : 'a'}${key.secret.slice(-7)}`;
      for (const secret of ['tnty_', `${key.secret}x`, forged]) {
        const res = await t.app.inject({ url: members(owner.tenantId), headers: bearer(secret) });
        assertProblem(res, 401, 'invalid_api_key');
        assert.equal(res.json().detail, 'the API key is malformed');
      }
      assertProblem(await t.app.inject({ url: '/api/v1/auth/me', headers: bearer(key.secret) }), 403, 'user_required');
      assertProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(key.secret), payload: {} }), 403, 'user_required');
    });

    // Issue 11 item 7 changed this contract: it was 401 invalid_api_key, which sent integrators off to rotate valid keys.
    it('is refused with 403 tenant_suspended (not 401) while its tenant is suspended or pending deletion, and works again once active', async () => {
      const tenant = await signUp(t);
      const key = await createKey(t, tenant.accessToken, tenant.tenantId, ['members.read']);
      const token = await machineToken(t, key);
      const setStatus = (status: 'active' | 'suspended' | 'pending_deletion') =>
        withSystem(t.database.db, (trx) =>
          trx
            .updateTable('tenants')
            .set({ status, status_before_deletion: status === 'pending_deletion' ? 'active' : null })
            .where('id', '=', tenant.tenantId)
            .execute(),
        );
      for (const status of ['suspended', 'pending_deletion'] as const) {
        await setStatus(status);
        for (const credential of [key.secret, token]) {
          const res = await t.app.inject({ url: members(tenant.tenantId), headers: bearer(credential) });
          assertProblem(res, 403, 'tenant_suspended');
          assert.deepEqual([res.json().tenantId, res.json().tenantStatus], [tenant.tenantId, status]);
          assert.match(res.json().detail, new RegExp(`valid, but its tenant ${tenant.tenantId} is ${status.replace('_', ' ')}`));
        }
      }
      await setStatus('active');
      for (const credential of [key.secret, token]) assert.equal((await t.app.inject({ url: members(tenant.tenantId), headers: bearer(credential) })).statusCode, 200);
    });

    it('is refused on a second server process within one second of its revocation there', async () => {
      // On PostgreSQL the second node opens its own connection pool to the same database, as a real second
      // process would. PGlite is one process per data directory, so there the two apps share the one instance.
      const secondPool = engine === 'postgres' ? await openDatabase({ engine: 'postgres', url: database.url!, poolSize: 4 }) : undefined;
      const other = await createTestApp(engine, { database: secondPool ?? t.database, clockStart: t.clock.now(), env: { TENANTRY_AUTH_RATE_LIMIT: '1000' } }).catch(
        async (error: unknown) => {
          await secondPool?.close();
          throw error;
        },
      );
      try {
        const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read']);
        const token = await machineToken(t, key);
        for (const credential of [key.secret, token]) assert.equal((await t.app.inject({ url: members(owner.tenantId), headers: bearer(credential) })).statusCode, 200);
        const revoked = await other.app.inject({ method: 'DELETE', url: `${keys(owner.tenantId)}/${key.id}`, headers: bearer(owner.accessToken) });
        assert.equal(revoked.statusCode, 204, revoked.body);
        // This node cached the key; it hears of the revocation through NOTIFY, which takes milliseconds.
        for (const credential of [key.secret, token]) {
          const refused = await eventually(
            () => t.app.inject({ url: members(owner.tenantId), headers: bearer(credential) }),
            (res) => res.statusCode !== 200,
          );
          assertProblem(refused, 401, 'invalid_api_key');
          assert.equal(refused.json().detail, 'the API key has been revoked');
        }
      } finally {
        await other.app.close();
        await secondPool?.close();
      }
    });

    it('never writes a secret, or its hash, to the logs or the audit trail', async () => {
      const key = await createKey(t, owner.accessToken, owner.tenantId, ['members.read', 'api_keys.manage']);
      await t.app.inject({ url: members(owner.tenantId), headers: bearer(key.secret) });
      await machineToken(t, key);
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/oauth/token',
        headers: { 'content-type': 'application/json' },
        payload: { grant_type: 'client_credentials', client_secret: `${key.secret.slice(0, -1)}a` },
      });
      await t.app.inject({ method: 'POST', url: '/api/v1/oauth/introspect', headers: bearer(key.secret), payload: { token: key.secret } });
      await t.app.inject({ method: 'DELETE', url: `${keys(owner.tenantId)}/${key.id}`, headers: bearer(key.secret) });
      await t.app.inject({ url: members(owner.tenantId), headers: bearer(key.secret) });
      // The random part without the checksum, so the forged variant sent above would be caught too.
      const secretPart = key.secret.slice(-59, -7);
      const logs = JSON.stringify(t.logs);
      assert.ok(t.logs.length > 0);
      assert.equal(logs.includes(secretPart), false, 'a log line carries the secret');
      assert.equal(logs.includes(hashSecret(key.secret)), false);
      const audit = JSON.stringify((await stored(owner.tenantId)).audit);
      assert.ok(audit.includes(key.id));
      assert.equal(audit.includes(secretPart), false, 'an audit event carries the secret');
      assert.equal(audit.includes(hashSecret(key.secret)), false);
    });
  });
}
