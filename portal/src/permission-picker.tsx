import { Checkbox, Fieldset, Loader, SimpleGrid, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from './api/client';
import { ErrorNotice } from './components';
import { useAllowed } from './session';

export type Permission = Awaited<ReturnType<typeof fetchPermissions>>[number];

async function fetchPermissions() {
  return (await unwrap(api.GET('/api/v1/permissions'))).permissions;
}

/** The permission catalogue (platform and the preset's application permissions); it changes only with the preset. */
export function usePermissionCatalogue() {
  return useQuery({ queryKey: ['permissions'], queryFn: fetchPermissions, staleTime: Number.POSITIVE_INFINITY });
}

/** Catalogue entries grouped by their prefix (`members.read` → `members`), groups and entries in catalogue order. */
export function groupByPrefix(permissions: readonly Permission[]): Array<[string, Permission[]]> {
  const groups = new Map<string, Permission[]>();
  for (const p of permissions) {
    const prefix = p.key.split('.')[0] ?? p.key;
    groups.set(prefix, [...(groups.get(prefix) ?? []), p]);
  }
  return [...groups.entries()];
}

/**
 * The catalogue as checkboxes grouped by prefix. Permissions the signed-in person does not hold in `tenantId` are
 * marked: granting them would be refused (a key or role can never be stronger than whoever makes it).
 */
export function PermissionPicker({
  tenantId,
  value,
  onChange,
  disabled,
  label,
}: {
  tenantId: string;
  value: string[];
  onChange: (value: string[]) => void;
  disabled?: boolean;
  label: string;
}) {
  const catalogue = usePermissionCatalogue();
  const held = useAllowed(tenantId, catalogue.data?.map((p) => p.key) ?? []).data;
  if (catalogue.isPending) return <Loader size="sm" aria-label="Loading permissions" />;
  if (catalogue.isError) return <ErrorNotice error={catalogue.error} title="The permissions could not be loaded" />;
  return (
    <Checkbox.Group label={label} value={value} onChange={onChange}>
      <Stack gap="sm" mt="xs">
        {groupByPrefix(catalogue.data).map(([prefix, entries]) => (
          <Fieldset key={prefix} legend={prefix} variant="filled" p="sm" disabled={disabled}>
            <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="xs">
              {entries.map((p) => {
                const notHeld = held !== undefined && !held.has(p.key);
                return (
                  <Checkbox
                    key={p.key}
                    value={p.key}
                    label={p.key}
                    disabled={disabled}
                    description={
                      <>
                        {p.description}
                        {notHeld && (
                          <Text span size="xs" c="red.9" fw={600}>
                            {' '}
                            — you do not hold this here
                          </Text>
                        )}
                      </>
                    }
                  />
                );
              })}
            </SimpleGrid>
          </Fieldset>
        ))}
      </Stack>
    </Checkbox.Group>
  );
}

/** A date-time from the API as people read it; `fallback` when there is none. */
export function when(iso: string | null, fallback: string): string {
  return iso === null ? fallback : new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
