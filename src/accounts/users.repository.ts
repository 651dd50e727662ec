import type { Selectable } from 'kysely';
import { type Db, invalidateAfterCommit, type Tx } from '../platform/db/context.ts';
import type { UsersTable } from '../platform/db/schema.ts';

export type UserRow = Selectable<UsersTable>;

export interface NewUser {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string | null;
  emailVerifiedAt: Date | null;
  platformRole: 'super_admin' | null;
  now: Date;
}

/** Inserts the user, or returns undefined if the email is taken (the unique index decides, even under races). */
export async function insertUser(trx: Tx, user: NewUser): Promise<UserRow | undefined> {
  return trx
    .insertInto('users')
    .values({
      id: user.id,
      email: user.email,
      name: user.name,
      password_hash: user.passwordHash,
      email_verified_at: user.emailVerifiedAt,
      platform_role: user.platformRole,
      created_at: user.now,
      updated_at: user.now,
    })
    .onConflict((oc) => oc.column('email').doNothing())
    .returningAll()
    .executeTakeFirst();
}

export function findUserByEmail(db: Db | Tx, email: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export function findUserById(db: Db | Tx, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The user without the password hash: what the credential cache keeps (nothing secret). */
export function findPrincipalUser(db: Db, id: string): Promise<Omit<UserRow, 'password_hash'> | undefined> {
  return db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'email_verified_at', 'data', 'default_tenant_id', 'explicit_default_tenant_id', 'platform_role', 'created_at', 'updated_at'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/**
 * Makes `tenantId` the person's default tenant as an administrator sets it: explicitly (which, for the admin tenancy,
 * makes them operator staff; migration 0013).
 */
export async function setExplicitDefaultTenant(trx: Tx, userId: string, tenantId: string, now: Date): Promise<void> {
  invalidateAfterCommit(trx, `user:${userId}`);
  await trx.updateTable('users').set({ default_tenant_id: tenantId, explicit_default_tenant_id: tenantId, updated_at: now }).where('id', '=', userId).execute();
}

export async function updateUser(
  trx: Tx,
  id: string,
  changes: Partial<Pick<UserRow, 'name' | 'password_hash' | 'email_verified_at' | 'default_tenant_id' | 'platform_role'>> & {
    data?: Record<string, unknown>;
  },
  now: Date,
): Promise<UserRow | undefined> {
  invalidateAfterCommit(trx, `user:${id}`);
  const { data, ...rest } = changes;
  return trx
    .updateTable('users')
    .set({ ...rest, ...(data === undefined ? {} : { data: JSON.stringify(data) }), updated_at: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function hasSuperAdmin(db: Db | Tx): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').where('platform_role', '=', 'super_admin').limit(1).executeTakeFirst();
  return row !== undefined;
}

/** Forgets `tenantId` as the user's landing tenant, if it was (the user no longer belongs there). */
export async function clearDefaultTenant(trx: Tx, user: { tenantId: string; userId: string; now: Date }): Promise<void> {
  invalidateAfterCommit(trx, `user:${user.userId}`);
  await trx.updateTable('users').set({ default_tenant_id: null, updated_at: user.now }).where('id', '=', user.userId).where('default_tenant_id', '=', user.tenantId).execute();
}
