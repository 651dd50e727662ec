import type { ColumnType, Generated } from 'kysely';

/**
 * The database as Kysely sees it. One interface per table, named after the table; columns in snake_case
 * exactly as in the migrations (no camel-case plugin: what you read here is what you write in SQL).
 */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** JSON columns are read as values and written as JSON text (JSON.stringify), on both engines alike. */
type Json<T = Record<string, unknown>> = ColumnType<T, string, string>;
/** A JSON column with a database default. */
type JsonWithDefault<T = Record<string, unknown>> = ColumnType<T, string | undefined, string>;

export type TenantStatus = 'active' | 'suspended' | 'pending_deletion' | 'deleted';

export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  status: Generated<TenantStatus>;
  plan: string | null;
  data: JsonWithDefault;
  created_at: CreatedAt;
  updated_at: Timestamp;
  last_active_at: Timestamp | null;
  is_admin_tenancy: Generated<boolean>;
  /** Owned by the platform rather than a member: company-tree's Main Company, customer tenants operators create (migration 0016). */
  platform_owned: Generated<boolean>;
  deletion_requested_at: Timestamp | null;
  purge_after: Timestamp | null;
  /** While pending deletion: the status a restore brings back (migration 0012). */
  status_before_deletion: 'active' | 'suspended' | null;
  /** When the tenant was suspended and why; kept while pending deletion, cleared when active again (migration 0015). */
  suspended_at: Timestamp | null;
  suspension_reason: string | null;
  /** A downgrade waiting for the end of the billing period (both set or both null). */
  scheduled_plan: string | null;
  scheduled_plan_at: Timestamp | null;
}

export interface UsersTable {
  id: string;
  /** Normalised (trimmed, lower-case ASCII). */
  email: string;
  name: string | null;
  password_hash: string | null;
  email_verified_at: Timestamp | null;
  data: JsonWithDefault;
  default_tenant_id: string | null;
  /** `default_tenant_id` as an operator set it explicitly; cleared by a trigger once it differs (migration 0013). */
  explicit_default_tenant_id: string | null;
  platform_role: 'super_admin' | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type MembershipKind = 'direct' | 'shadow';

export interface MembershipsTable {
  tenant_id: string;
  user_id: string;
  kind: Generated<MembershipKind>;
  /** A shadow membership's admin tenancy: it lasts while its holder is staff there (migration 0013). */
  shadow_of: string | null;
  created_at: CreatedAt;
}

export interface MembershipRolesTable {
  tenant_id: string;
  user_id: string;
  role_key: string;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  active_tenant_id: string | null;
  created_at: CreatedAt;
  last_used_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
  revoked_reason: string | null;
  ip: string | null;
  user_agent: string | null;
}

export interface RefreshTokensTable {
  token_hash: string;
  session_id: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export type OneTimeTokenPurpose = 'verify_email' | 'reset_password' | 'operator_setup';

export interface OneTimeTokensTable {
  token_hash: string;
  purpose: OneTimeTokenPurpose;
  user_id: string | null;
  email: string | null;
  data: JsonWithDefault;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: Json;
  private_jwk_encrypted: string;
  created_at: CreatedAt;
  retired_at: Timestamp | null;
}

export interface OutboxTable {
  id: string;
  topic: string;
  payload: Json;
  created_at: CreatedAt;
  available_at: Timestamp;
  attempts: Generated<number>;
  last_error: string | null;
  delivered_at: Timestamp | null;
}

export interface LoginFailuresTable {
  email: string;
  failures: number;
  window_started_at: Timestamp;
  locked_until: Timestamp | null;
}

export type ActorType = 'user' | 'api_key' | 'system';
export type AccessVia = 'direct' | 'shadow' | 'platform_admin' | 'ancestor';

export interface AuditEventsTable {
  tenant_id: string;
  seq: ColumnType<string, string | number | bigint, never>;
  id: string;
  occurred_at: Timestamp;
  actor_type: ActorType;
  actor_id: string | null;
  via: Generated<AccessVia>;
  action: string;
  target_type: string | null;
  target_id: string | null;
  before: Json | null;
  after: Json | null;
  request_id: string | null;
  ip: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditHeadsTable {
  tenant_id: string;
  seq: ColumnType<string, string | number | bigint, string | number | bigint>;
  hash: string;
}

export interface PlatformSettingsTable {
  key: string;
  value: string;
}

export interface TenantTreeTable {
  tenant_id: string;
  parent_id: string | null;
  /** Root first, the tenant itself last. Computed by a trigger from parent_id: never write it. */
  path: ColumnType<string[], string[] | undefined, never>;
}

export type RoleScope = 'tenant' | 'tenant_and_descendants';

export interface RolesTable {
  tenant_id: string;
  key: string;
  name: string;
  description: string | null;
  scope: RoleScope;
  permissions: string[];
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface TenantFeaturesTable {
  tenant_id: string;
  feature: string;
  enabled: boolean;
  updated_at: Timestamp;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  response_headers: Json | null;
  response_body: string | null;
  created_at: Timestamp;
  completed_at: Timestamp | null;
}

/** Stored statuses; `expired` is computed from `expires_at` for pending rows. */
export type InvitationStatus = 'pending' | 'accepted' | 'revoked';

export interface InvitationsTable {
  tenant_id: string;
  id: string;
  /** Normalised like users.email. */
  email: string;
  roles: string[];
  /** sha256 of the token; the token itself is only ever in the mail. */
  token_hash: string;
  status: Generated<InvitationStatus>;
  invited_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  expires_at: Timestamp;
  accepted_at: Timestamp | null;
  accepted_by: string | null;
  revoked_at: Timestamp | null;
}

export interface ApiKeysTable {
  tenant_id: string;
  id: string;
  name: string;
  permissions: string[];
  /** sha256 of the secret; the secret itself is shown once, at creation. */
  secret_hash: string;
  created_by_type: ActorType;
  created_by_id: string | null;
  created_at: Timestamp;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export type ApprovalAction = 'tenant.delete' | 'tenant.transfer_ownership' | 'tenant.change_plan' | 'member.remove_admin' | 'role.update';
/** Stored statuses; `expired` is computed from `expires_at` for pending rows. */
export type ApprovalStatus = 'pending' | 'executed' | 'failed' | 'declined' | 'cancelled';

export interface ApprovalRequestsTable {
  tenant_id: string;
  id: string;
  action: ApprovalAction;
  params: Json;
  status: Generated<ApprovalStatus>;
  requested_by: string;
  decided_by: string | null;
  note: string | null;
  outcome: Json | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  decided_at: Timestamp | null;
}

export interface WebhookEndpointsTable {
  id: string;
  /** null: platform-wide (operators). */
  tenant_id: string | null;
  url: string;
  description: Generated<string>;
  /** Empty: every event type. */
  event_types: string[];
  secret_sealed: string;
  enabled: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  tenant_id: string | null;
  message_id: string;
  event_type: string;
  event_tenant_id: string;
  payload: Json;
  status: WebhookDeliveryStatus;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  last_attempt_at: Timestamp | null;
  last_status: number | null;
  last_error: string | null;
  created_at: Timestamp;
  delivered_at: Timestamp | null;
}

export interface DB {
  tenants: TenantsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  membership_roles: MembershipRolesTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  one_time_tokens: OneTimeTokensTable;
  signing_keys: SigningKeysTable;
  outbox: OutboxTable;
  login_failures: LoginFailuresTable;
  audit_events: AuditEventsTable;
  audit_heads: AuditHeadsTable;
  platform_settings: PlatformSettingsTable;
  tenant_tree: TenantTreeTable;
  roles: RolesTable;
  tenant_features: TenantFeaturesTable;
  idempotency_keys: IdempotencyKeysTable;
  invitations: InvitationsTable;
  api_keys: ApiKeysTable;
  approval_requests: ApprovalRequestsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}
