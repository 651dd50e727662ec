import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { KyselyPlugin } from 'kysely';
import { ManualClock } from '../../src/platform/clock.ts';
import type { Database } from '../../src/platform/db/database.ts';
import { KeyStore } from '../../src/tokens/key-store.ts';
import { openSecret } from '../../src/platform/secret-box.ts';
import { createTestDatabase, testEngines } from '../helpers/database.ts';

const TTL_MS = 600_000;
const WINDOW_MS = TTL_MS + 60_000;

for (const engine of testEngines()) {
  describe(`signing keys [${engine}]`, () => {
    let database: Database;
    before(async () => {
      database = await createTestDatabase(engine);
    });
    after(() => database.close());

    async function fresh(): Promise<void> {
      await database.db.deleteFrom('signing_keys').execute();
    }

    it('creates the first key on demand, once, with the private half sealed', async () => {
      await fresh();
      const secretKey = randomBytes(32);
      const store = new KeyStore({ db: database.db, secretKey, clock: new ManualClock() });
      const first = await store.signingKey();
      const again = await store.signingKey();
      assert.equal(again.kid, first.kid);
      assert.equal(first.key.type, 'private');

      const rows = await database.db.selectFrom('signing_keys').selectAll().execute();
      assert.equal(rows.length, 1);
      const [row] = rows;
      assert.ok(row);
      assert.equal(row.kid, first.kid);
      assert.equal(row.alg, 'ES256');
      assert.equal(row.retired_at, null);
      assert.equal(row.kid, await calculateJwkThumbprint(row.public_jwk as JWK), 'the kid is the JWK thumbprint');
      assert.equal('d' in row.public_jwk, false);
      assert.match(row.private_jwk_encrypted, /^v1\./);
      assert.doesNotMatch(row.private_jwk_encrypted, /"d"/);
      const privateJwk = JSON.parse(openSecret(secretKey, row.private_jwk_encrypted)) as JWK;
      assert.equal(privateJwk.kty, 'EC');
      assert.equal(typeof privateJwk.d, 'string');
    });

    it('two processes starting together end up with one key', async () => {
      await fresh();
      const secretKey = randomBytes(32);
      const stores = Array.from({ length: 4 }, () => new KeyStore({ db: database.db, secretKey, clock: new ManualClock() }));
      const keys = await Promise.all(stores.map((s) => s.signingKey()));
      assert.equal(new Set(keys.map((k) => k.kid)).size, 1);
      const rows = await database.db.selectFrom('signing_keys').select('kid').execute();
      assert.equal(rows.length, 1);
    });

    it('publishes only public members, with kid, alg and use', async () => {
      await fresh();
      const store = new KeyStore({ db: database.db, secretKey: randomBytes(32), clock: new ManualClock() });
      const keys = await store.publicKeys();
      assert.equal(keys.length, 1, 'the JWKS creates the first key rather than publishing an empty set');
      const [jwk] = keys;
      assert.deepEqual(Object.keys(jwk ?? {}).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      assert.equal(jwk?.alg, 'ES256');
      assert.equal(jwk?.use, 'sig');
      assert.equal(jwk?.kid, (await store.signingKey()).kid);
    });

    it('rotation: the new key signs, the old one verifies until the token lifetime + 60 s has passed', async () => {
      await fresh();
      const clock = new ManualClock();
      const store = new KeyStore({ db: database.db, secretKey: randomBytes(32), clock });
      const old = (await store.signingKey()).kid;
      clock.advance(1000);
      const rotated = await store.rotate();
      assert.notEqual(rotated, old);
      assert.equal((await store.signingKey()).kid, rotated);
      assert.deepEqual(
        (await store.publicKeys()).map((k) => k.kid),
        [rotated, old],
      );
      assert.ok(await store.verificationKey(old));
      assert.ok(await store.verificationKey(rotated));
      const retired = await database.db.selectFrom('signing_keys').select('retired_at').where('kid', '=', old).executeTakeFirstOrThrow();
      assert.equal(retired.retired_at?.getTime(), clock.now().getTime());

      clock.advance(WINDOW_MS - 1);
      assert.deepEqual(
        (await store.publicKeys()).map((k) => k.kid),
        [rotated, old],
      );
      clock.advance(1);
      assert.deepEqual(
        (await store.publicKeys()).map((k) => k.kid),
        [rotated],
      );
      assert.equal(await store.verificationKey(old), undefined);
      assert.ok(await store.verificationKey(rotated));

      const listed = await store.listKeys();
      assert.deepEqual(
        listed.map((k) => [k.kid, k.retiredAt === null]),
        [
          [rotated, true],
          [old, false],
        ],
      );
    });

    it('sees another process rotate: at once for an unknown kid, within 60 s for signing', async () => {
      await fresh();
      const clock = new ManualClock();
      const secretKey = randomBytes(32);
      const here = new KeyStore({ db: database.db, secretKey, clock });
      const there = new KeyStore({ db: database.db, secretKey, clock });
      const old = (await here.signingKey()).kid;
      const rotated = await there.rotate();
      assert.ok(await here.verificationKey(rotated), 'an unknown kid reloads the table');
      // The key table was reloaded for the kid, so signing switches too.
      assert.equal((await here.signingKey()).kid, rotated);

      const third = await there.rotate();
      clock.advance(59_999);
      assert.equal((await here.signingKey()).kid, rotated, 'cached for up to 60 s');
      clock.advance(1);
      assert.equal((await here.signingKey()).kid, third);
      assert.ok(await here.verificationKey(old));
    });

    it('a flood of unknown kids reloads the table at most once a second', async () => {
      await fresh();
      let selects = 0;
      const counting: KyselyPlugin = {
        transformQuery: ({ node }) => {
          if (node.kind === 'SelectQueryNode') selects += 1;
          return node;
        },
        transformResult: async ({ result }) => result,
      };
      const clock = new ManualClock();
      const store = new KeyStore({ db: database.db.withPlugin(counting), secretKey: randomBytes(32), clock });
      await store.signingKey();
      selects = 0;
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.verificationKey(`random-${i}`)));
      assert.ok(results.every((r) => r === undefined));
      assert.equal(selects, 1);
      assert.equal(await store.verificationKey('another'), undefined);
      assert.equal(selects, 1);
      clock.advance(999);
      assert.equal(await store.verificationKey('yet-another'), undefined);
      assert.equal(selects, 1);
      clock.advance(1);
      assert.equal(await store.verificationKey('one-more'), undefined);
      assert.equal(selects, 2);
    });

    it('refuses to sign with a key sealed under another secret key, but still verifies with it', async () => {
      await fresh();
      const clock = new ManualClock();
      const original = new KeyStore({ db: database.db, secretKey: randomBytes(32), clock });
      const { kid } = await original.signingKey();
      const changed = new KeyStore({ db: database.db, secretKey: randomBytes(32), clock });
      await assert.rejects(changed.signingKey(), /cannot be decrypted.*tenantry keys rotate/s);
      assert.ok(await changed.verificationKey(kid));
      const rotated = await changed.rotate();
      assert.equal((await changed.signingKey()).kid, rotated);
    });
  });
}
