import { type Kysely, sql } from 'kysely';

/**
 * Issue 10, authority cannot be manufactured:
 * - `status_before_deletion`: a deletion remembers whether the tenant was active or suspended, and restoring it
 *   brings that status back. Before this, restoring a tenant its parent had suspended and then deleted brought it
 *   back `active`, so deleting-and-restoring lifted a suspension nobody with that authority had lifted.
 * - `role.update` approval requests: in company-tree, editing a role so that it no longer gives
 *   `members.manage` to the people holding it removes admins as surely as removing them, so it is held alike.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE tenants ADD COLUMN status_before_deletion text CHECK (status_before_deletion IN ('active', 'suspended'))`.execute(db);
  // Tenants already pending deletion were deleted from `active` or `suspended`; nothing recorded which, and
  // restoring one as suspended is the safe answer (only those above may resume it).
  await sql`UPDATE tenants SET status_before_deletion = 'suspended' WHERE status = 'pending_deletion'`.execute(db);
  await sql`
    ALTER TABLE tenants ADD CONSTRAINT tenants_status_before_deletion_set
      CHECK (status = 'deleted' OR (status = 'pending_deletion') = (status_before_deletion IS NOT NULL))
  `.execute(db);
  await sql`ALTER TABLE approval_requests DROP CONSTRAINT approval_requests_action_check`.execute(db);
  await sql`
    ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_action_check
      CHECK (action IN ('tenant.delete', 'tenant.transfer_ownership', 'tenant.change_plan', 'member.remove_admin', 'role.update'))
  `.execute(db);
}
