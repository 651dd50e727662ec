import { type Kysely, sql } from 'kysely';
import { enableTenantIsolation } from '../rls.ts';

/**
 * Issue 16, webhooks. An endpoint belongs to a tenant (its managers see and change it in the tenant's context) or,
 * with no tenant, to the platform (operators only: no tenant context ever shows it). Its signing secret is sealed
 * under the server's secret key (`secret-box.ts`): Tenantry must sign with it, so it cannot be a hash.
 *
 * A delivery is one event for one endpoint: `message_id` is the Standard Webhooks `webhook-id`, the same on every
 * retry and replay so receivers can drop duplicates. `pending` until the endpoint answers 2xx (`delivered`) or the
 * retries run out (`dead`, the dead letter; a replay makes it `pending` again). Rows carry the endpoint's tenant, so a
 * tenant's delivery log is confined by row-level security like everything else.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhook_endpoints (
      id text PRIMARY KEY CHECK (id ~ '^whk_[a-z2-7]{20}$'),
      tenant_id text REFERENCES tenants (id),
      url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
      description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
      event_types text[] NOT NULL DEFAULT '{}' CHECK (cardinality(event_types) <= 100),
      secret_sealed text NOT NULL,
      enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )
  `.execute(db);
  await sql`CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at)`.execute(db);
  await enableTenantIsolation(db, 'webhook_endpoints');
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO tenantry_app`.execute(db);

  await sql`
    CREATE TABLE webhook_deliveries (
      id text PRIMARY KEY CHECK (id ~ '^whd_[a-z2-7]{20}$'),
      endpoint_id text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
      tenant_id text REFERENCES tenants (id),
      message_id text NOT NULL CHECK (message_id ~ '^msg_[a-z2-7]{20}$'),
      event_type text NOT NULL,
      event_tenant_id text NOT NULL,
      payload jsonb NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
      attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      next_attempt_at timestamptz NOT NULL,
      last_attempt_at timestamptz,
      last_status integer,
      last_error text,
      created_at timestamptz NOT NULL,
      delivered_at timestamptz,
      UNIQUE (endpoint_id, message_id)
    )
  `.execute(db);
  await sql`CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC, id DESC)`.execute(db);
  await enableTenantIsolation(db, 'webhook_deliveries');
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_deliveries TO tenantry_app`.execute(db);
}
