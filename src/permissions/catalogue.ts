/**
 * The platform permissions (SPEC 2). Applications add their own through the preset. `whileSuspended`
 * marks what a suspended tenant still allows: reading, and billing so it can pay its way back.
 */
export const PLATFORM_PERMISSIONS = {
  'tenant.read': { description: 'See the tenant, its data object and its tree', whileSuspended: true },
  'tenant.update': { description: 'Rename the tenant, edit its data object, move it in the tree', whileSuspended: false },
  'tenant.delete': { description: 'Delete the tenant', whileSuspended: false },
  'tenant.transfer_ownership': { description: 'Transfer ownership to another member', whileSuspended: false },
  'tenants.create_child': { description: 'Create tenants under this one', whileSuspended: false },
  'tenant.suspend': { description: 'Suspend and resume the tenant', whileSuspended: false },
  'members.read': { description: 'List members and their roles', whileSuspended: true },
  'members.invite': { description: 'Invite people into the tenant', whileSuspended: false },
  'members.manage': { description: "Change members' roles and remove members", whileSuspended: false },
  'roles.manage': { description: 'Create, edit and delete custom roles', whileSuspended: false },
  'features.manage': { description: 'Turn features on and off for the tenant', whileSuspended: false },
  'billing.manage': { description: 'Change the plan and add-ons', whileSuspended: true },
  'api_keys.manage': { description: 'Create, list and revoke API keys', whileSuspended: false },
  'webhooks.manage': { description: 'Manage webhook endpoints, read their delivery logs and replay deliveries', whileSuspended: false },
  'audit.read': { description: 'Read the audit trail', whileSuspended: true },
  'approvals.decide': { description: 'Approve or decline requested actions', whileSuspended: false },
} as const satisfies Record<string, { description: string; whileSuspended: boolean }>;

export type PlatformPermission = keyof typeof PLATFORM_PERMISSIONS;

export interface PermissionDefinition {
  key: string;
  description: string;
  source: 'platform' | 'application';
  /** The feature that must be on in the tenant for this permission to count. */
  requiresFeature: string | null;
  whileSuspended: boolean;
}

export const PERMISSION_KEY = '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$';
