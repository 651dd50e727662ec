import type { PresetLabels } from './session';

/**
 * The signed-in navigation, in order. `permission`: shown only to those who hold it in the active tenant (checked in
 * one batch per page load); `operator`: only to platform super admins. Labels may use the preset's words.
 */
export interface NavItem {
  path: string;
  label: (labels: PresetLabels) => string;
  permission?: string;
  operator?: boolean;
}

export const NAV: NavItem[] = [
  { path: '/', label: () => 'Dashboard' },
  { path: '/members', label: () => 'Members', permission: 'members.read' },
  { path: '/roles', label: () => 'Roles', permission: 'tenant.read' },
  { path: '/tenants', label: (l) => l.tenants, permission: 'tenant.read' },
  { path: '/api-keys', label: () => 'API keys', permission: 'api_keys.manage' },
  { path: '/settings', label: () => 'Settings', permission: 'tenant.read' },
  { path: '/approvals', label: (l) => l.approvals },
  { path: '/audit', label: () => 'Audit log', permission: 'audit.read' },
  { path: '/admin/tenants', label: (l) => `Admin · ${l.tenants}`, operator: true },
  { path: '/admin/users', label: () => 'Admin · Users', operator: true },
  { path: '/admin/licence', label: () => 'Admin · Licence', operator: true },
];
