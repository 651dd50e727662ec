import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readSystem } from '../../src/platform/db/context.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { testEngines } from '../helpers/database.ts';
import { enrol, GOOD_PASSWORD, signUp } from '../helpers/users.ts';

/**
 * The rest of the suite hashes with cheap parameters (TEST_PASSWORD_HASHING); this is where the ones every deployment
 * uses are checked: an app built without any, as the server builds it, hashes with OWASP's argon2id settings.
 */
describe('password hashing as deployed', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp(testEngines()[0] ?? 'pglite', { passwordHashing: 'production' });
  });
  after(() => t.close());

  it("stores argon2id at 19 MiB, 2 passes, 1 lane (OWASP's Password Storage Cheat Sheet) and signs the person in with it", async () => {
    const person = await signUp(t);
    const row = await readSystem(t.database.db, (trx) => trx.selectFrom('users').select('password_hash').where('id', '=', person.userId).executeTakeFirstOrThrow());
    assert.match(row.password_hash ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: person.email, password: GOOD_PASSWORD } })).statusCode, 200);
  });

  it('verifies a hash made with other parameters: a stored hash carries its own', async () => {
    const cheap = await enrol(t, (await signUp(t)).tenantId, ['member']);
    const row = await readSystem(t.database.db, (trx) => trx.selectFrom('users').select('password_hash').where('id', '=', cheap.userId).executeTakeFirstOrThrow());
    assert.match(row.password_hash ?? '', /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: cheap.email, password: 'not the password at all' } });
    assert.equal(wrong.statusCode, 401);
  });
});
