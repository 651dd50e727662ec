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
];
