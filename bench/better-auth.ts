/**
 * Better Auth with its organization plugin — the peer the issue names — called in-process (`auth.api.*`), on the
 * same engine as Tenantry in that run: PGlite through Kysely's PGlite dialect, or its own PostgreSQL database.
 * Its tables are created with Better Auth's own migration runner.
 */
import { PGlite } from '@electric-sql/pglite';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { organization } from 'better-auth/plugins';
import { type Dialect, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';

export interface BetterAuthPeer {
  /** `getSession` for a signed-in person (the equivalent of `GET /auth/me`). */
  getSession(): Promise<unknown>;
  /** `listOrganizations` for a person in one organization, and for one in `manyOrgs`. */
  listOrganizations(who: 'one' | 'many'): Promise<unknown>;
  /** `setActiveOrganization` for the person in `manyOrgs` organizations, alternating between two. */
  setActiveOrganization(): Promise<unknown>;
  /** `addMember` (server-side, an existing user) then `removeMember` by the owner: one pair. */
  addAndRemoveMember(): Promise<unknown>;
  close(): Promise<void>;
}

const PASSWORD = 'correct horse battery staple 42';

export async function startBetterAuth(engine: 'pglite' | 'postgres', postgresUrl: string | undefined, manyOrgs: number): Promise<BetterAuthPeer> {
  let dialect: Dialect;
  let close: () => Promise<void>;
  if (engine === 'pglite') {
    const pglite = await PGlite.create();
    dialect = new PGliteDialect({ pglite });
    close = () => pglite.close();
  } else {
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 10 });
    dialect = new PostgresDialect({ pool });
    close = () => pool.end();
  }
  const options = {
    database: { dialect, type: 'postgres' as const },
    secret: 'bench-secret-bench-secret-bench-secret-0123456789',
    baseURL: 'http://bench.test',
    emailAndPassword: { enabled: true },
    plugins: [organization()],
    logger: { disabled: true },
  };
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  const auth = betterAuth(options);

  const signUp = async (email: string) => {
    const res = await auth.api.signUpEmail({ body: { email, password: PASSWORD, name: 'Bench' }, asResponse: true });
    if (!res.ok) throw new Error(`better-auth sign-up: ${res.status} ${await res.text()}`);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const { user } = (await res.json()) as { user: { id: string } };
    return { id: user.id, headers: new Headers({ cookie }) };
  };
  const one = await signUp('one@bench.test');
  const many = await signUp('many@bench.test');
  const joiner = await signUp('joiner@bench.test');
  const oneOrg = await auth.api.createOrganization({ body: { name: 'One', slug: 'one' }, headers: one.headers });
  if (oneOrg === null) throw new Error('better-auth createOrganization returned nothing');
  const orgIds: string[] = [];
  for (let i = 0; i < manyOrgs; i++) {
    const org = await auth.api.createOrganization({ body: { name: `Org ${i}`, slug: `org-${i}` }, headers: many.headers });
    if (org === null) throw new Error('better-auth createOrganization returned nothing');
    orgIds.push(org.id);
  }
  let flip = 0;
  return {
    getSession: () => auth.api.getSession({ headers: one.headers }),
    listOrganizations: (who) => auth.api.listOrganizations({ headers: (who === 'one' ? one : many).headers }),
    setActiveOrganization: () => auth.api.setActiveOrganization({ body: { organizationId: orgIds[flip++ % 2] }, headers: many.headers }),
    addAndRemoveMember: async () => {
      await auth.api.addMember({ body: { userId: joiner.id, role: 'member', organizationId: oneOrg.id } });
      await auth.api.removeMember({ body: { memberIdOrEmail: 'joiner@bench.test', organizationId: oneOrg.id }, headers: one.headers });
    },
    close,
  };
}
