import { Alert, Anchor, Badge, Button, Card, Code, Group, Modal, Radio, Stack, Switch, Text, Textarea, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { PortalPaths } from '../../../src/platform/links';
import { api, unwrap } from '../api/client';
import type { paths } from '../api/schema';
import { ConfirmModal, ErrorNotice, fieldError, PageWaiting } from '../components';
import { DataEditor } from '../data-editor';
import { type Me, type PresetLabels, type TenantDetails, useAllowed, useMe, usePortalInfo } from '../session';
import { DeleteTenantModal, WHEN } from '../tenant-deletion';
import { resourceName } from './dashboard';

/**
 * One tenant's settings: its name and `data`, its features, its plan, and its lifecycle (suspension, deletion,
 * restore). `/settings` is the active tenant; `/tenants/:tenantId/settings` any tenant below it (reached from Tenants),
 * which is where deleting, suspending and restoring happen: the API never deletes the tenant you are working in, and
 * suspension comes from above.
 */

type PlanState = paths['/api/v1/tenants/{tenantId}/plan']['get']['responses'][200]['content']['application/json'];
type Plan = PlanState['plans'][number];
type Written = { data?: unknown; error?: unknown; response: Response };

const PERMISSIONS = ['tenant.update', 'features.manage', 'billing.manage', 'tenant.suspend', 'tenant.delete'] as const;
const DEFAULT_LABELS: PresetLabels = { tenant: 'Tenant', tenants: 'Tenants', enterprise: 'Organisation', approvals: 'Approvals' };
const DAY = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium' });

/** A write that a policy may hold for approval: `held` for a 202, else the answer; a refusal throws. */
async function heldOr<T>(call: Promise<Written>): Promise<{ held: true } | { held: false; value: T }> {
  const result = await call;
  const value = (await unwrap(Promise.resolve(result))) as T;
  return result.response.status === 202 ? { held: true } : { held: false, value };
}

function HeldNotice({ children }: { children: ReactNode }) {
  return (
    <Alert color="blue" title="Held for approval" role="status">
      {children} Nothing has changed yet: it waits for someone who may approve it. Follow it in{' '}
      <Anchor underline="always" component={Link} to={PortalPaths.approvals}>
        Approvals
      </Anchor>
      .
    </Alert>
  );
}

export function SettingsPage() {
  const me = useMe().data as Me;
  const labels = usePortalInfo().data?.labels ?? DEFAULT_LABELS;
  const tenantId = useParams().tenantId ?? me.activeTenantId ?? '';
  const tenant = useQuery({ queryKey: ['tenant', tenantId], queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}', { params: { path: { tenantId } } })) });
  const allowed = useAllowed(tenantId, PERMISSIONS).data;
  const title = (
    <div style={{ order: -2 }}>
      <Title order={2}>{tenant.data === undefined ? 'Settings' : `Settings · ${tenant.data.name}`}</Title>
      <Text size="sm" c="dimmed">
        {tenantId === me.activeTenantId ? `The ${labels.tenant.toLowerCase()} you are working in.` : `A ${labels.tenant.toLowerCase()} below the one you are working in.`}
      </Text>
    </div>
  );
  // On data, not success: after a purge the refetch fails, and the deletion report must stay on screen until closed.
  if (tenant.data === undefined) return <PageWaiting title={title} query={tenant} label="Loading the settings" />;
  const t = tenant.data;
  const may = (permission: (typeof PERMISSIONS)[number]) => allowed?.has(permission) === true;
  // A tenant pending deletion shows only what it is and the way back. Status comes first unless it is active; moved
  // by CSS order, not in the tree, so a dialog open in it survives the change of status it causes.
  const open = t.status !== 'pending_deletion';
  const lifecycle = <LifecycleCard tenant={t} active={t.id === me.activeTenantId} operator={me.user.platformRole === 'super_admin'} may={may} labels={labels} />;
  return (
    <Stack>
      {title}
      {lifecycle}
      {/* Keyed by tenant: the forms start again on another tenant's settings, not after their own save. */}
      {open && <GeneralCard key={`general-${t.id}`} tenant={t} canEdit={may('tenant.update')} />}
      {open && <DataCard key={`data-${t.id}`} tenant={t} canEdit={may('tenant.update')} word={labels.tenant.toLowerCase()} />}
      {open && <FeaturesCard tenantId={t.id} canManage={may('features.manage')} />}
      {open && <PlanCard tenantId={t.id} canChange={may('billing.manage')} labels={labels} />}
    </Stack>
  );
}

function DataCard({ tenant: t, canEdit, word }: { tenant: TenantDetails; canEdit: boolean; word: string }) {
  const queries = useQueryClient();
  const save = useMutation({
    mutationFn: (data: Record<string, unknown>) => unwrap(api.PATCH('/api/v1/tenants/{tenantId}', { params: { path: { tenantId: t.id } }, body: { data } })),
    onSuccess: (updated) => queries.setQueryData(['tenant', t.id], updated),
  });
  return (
    <DataEditor
      title="Data"
      intro={`A JSON object your applications keep about this ${word} (at most 64 KiB). Delete a key to remove it.`}
      saved={t.data}
      save={save}
      readOnly={!canEdit}
      failed="The data was not saved"
    />
  );
}

function GeneralCard({ tenant: t, canEdit }: { tenant: TenantDetails; canEdit: boolean }) {
  const queries = useQueryClient();
  const [name, setName] = useState(t.name);
  const rename = useMutation({
    mutationFn: () => unwrap(api.PATCH('/api/v1/tenants/{tenantId}', { params: { path: { tenantId: t.id } }, body: { name: name.trim() } })),
    onSuccess: async (updated) => {
      queries.setQueryData(['tenant', t.id], updated);
      // The switcher, the tenant lists and the header show the name too.
      await Promise.all([
        queries.invalidateQueries({ queryKey: ['me'] }),
        queries.invalidateQueries({ queryKey: ['tenants'] }),
        queries.invalidateQueries({ queryKey: ['tenant-tree'] }),
      ]);
    },
  });
  const problem = name.trim() === '' ? 'A name is needed' : name.length > 200 ? 'At most 200 characters' : undefined;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (problem === undefined) rename.mutate();
  };
  return (
    <Card withBorder component="form" onSubmit={submit} aria-labelledby="settings-general">
      <Title order={3} size="h5" id="settings-general" mb="sm">
        General
      </Title>
      <Stack gap="sm" maw={520}>
        <TextInput
          label="Name"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          readOnly={!canEdit}
          error={(name !== t.name && problem) || fieldError(rename.error, 'name')}
        />
        {rename.isError && fieldError(rename.error, 'name') === undefined && <ErrorNotice error={rename.error} title="The name was not saved" />}
        {canEdit && (
          <Group>
            <Button type="submit" loading={rename.isPending} disabled={name.trim() === t.name}>
              Rename
            </Button>
            {rename.isSuccess && name.trim() === t.name && (
              <Text size="sm" role="status">
                Renamed.
              </Text>
            )}
          </Group>
        )}
        <Text size="sm">
          Id <Code>{t.id}</Code> · slug <Code>{t.slug}</Code> (neither ever changes) · {t.kind} · created {DAY.format(new Date(t.createdAt))}
        </Text>
      </Stack>
    </Card>
  );
}

function FeaturesCard({ tenantId, canManage }: { tenantId: string; canManage: boolean }) {
  const queries = useQueryClient();
  const key = ['features', tenantId];
  const features = useQuery({ queryKey: key, queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}/features', { params: { path: { tenantId } } })) });
  const toggle = useMutation({
    mutationFn: ({ feature, on }: { feature: string; on: boolean }) =>
      unwrap(api.PUT('/api/v1/tenants/{tenantId}/features', { params: { path: { tenantId } }, body: { features: { [feature]: on } } })),
    onSuccess: async (answer) => {
      queries.setQueryData(key, answer);
      // What a feature unlocks is in the permissions: the navigation and every page ask again.
      await queries.invalidateQueries({ queryKey: ['allowed'] });
    },
  });
  return (
    <Card withBorder aria-labelledby="settings-features">
      <Title order={3} size="h5" id="settings-features">
        Features
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        Turning a feature off keeps its data; the permissions it grants stop counting at once.
      </Text>
      {features.isError && <ErrorNotice error={features.error} title="The features could not be loaded" />}
      {features.data?.features.length === 0 && <Text size="sm">This installation has no optional features.</Text>}
      <Stack gap="sm">
        {features.data?.features.map((f) => (
          <Switch
            key={f.key}
            label={f.name}
            description={f.licensed ? (f.description ?? undefined) : `${sentence(f.description)} Not covered by the licence: it stays off until the licence includes it.`.trim()}
            checked={f.enabled}
            disabled={!canManage || !f.licensed || (toggle.isPending && toggle.variables.feature === f.key)}
            onChange={(e) => toggle.mutate({ feature: f.key, on: e.currentTarget.checked })}
          />
        ))}
      </Stack>
      {toggle.isError && <ErrorNotice error={toggle.error} title="The feature was not changed" />}
    </Card>
  );
}

/** Text that ends as a sentence does (a description may or may not have its full stop). */
const sentence = (text: string | null) => (text === null || text === '' ? '' : text.replace(/[.!?]?$/, (end) => end || '.'));

/** A heading's words inside a sentence: "Members" → "members", "API keys" stays. */
const inSentence = (words: string) => words.replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());

/** A plan's limits in words, e.g. "5 members · 2 API keys · unlimited sub-tenants". */
function limitsText(plan: Plan, labels: PresetLabels): string {
  return Object.entries(plan.limits)
    .map(([resource, limit]) => `${limit === null ? 'unlimited' : String(limit)} ${inSentence(resourceName(resource, labels))}`)
    .join(' · ');
}

function PlanCard({ tenantId, canChange, labels }: { tenantId: string; canChange: boolean; labels: PresetLabels }) {
  const queries = useQueryClient();
  const key = ['plan', tenantId];
  const state = useQuery({ queryKey: key, queryFn: () => unwrap(api.GET('/api/v1/tenants/{tenantId}/plan', { params: { path: { tenantId } } })) });
  const [chosen, setChosen] = useState<string | null>(null);
  const [held, setHeld] = useState(false);
  const change = useMutation({
    mutationFn: (plan: string) => heldOr<PlanState>(api.PUT('/api/v1/tenants/{tenantId}/plan', { params: { path: { tenantId } }, body: { plan } })),
    onSuccess: (answer) => {
      setHeld(answer.held);
      setChosen(null);
      if (!answer.held) queries.setQueryData(key, answer.value);
    },
  });
  const heading = (
    <Title order={3} size="h5" id="settings-plan" mb="xs">
      Plan
    </Title>
  );
  if (state.isError)
    return (
      <Card withBorder aria-labelledby="settings-plan">
        {heading}
        <ErrorNotice error={state.error} title="The plan could not be loaded" />
      </Card>
    );
  if (state.data === undefined) return null;
  const { plan: current, plans, scheduledChange, periodEndsAt, overLimit } = state.data;
  if (current === null)
    return (
      <Card withBorder aria-labelledby="settings-plan">
        {heading}
        <Text size="sm">This installation has no plans: nothing is limited by one.</Text>
      </Card>
    );
  const rank = (planKey: string) => plans.findIndex((p) => p.key === planKey);
  const selected = chosen ?? scheduledChange?.plan.key ?? current.key;
  const upgrade = rank(selected) > rank(current.key);
  const periodEnd = DAY.format(new Date(periodEndsAt));
  return (
    <Card withBorder aria-labelledby="settings-plan">
      {heading}
      <Text size="sm" mb="sm">
        On <b>{current.name}</b>: {limitsText(current, labels)}. The billing period ends {periodEnd}.
      </Text>
      <Stack gap="sm">
        {overLimit.length > 0 && (
          <Alert color="orange" title="Over the plan's limits" role="note">
            This {labels.tenant.toLowerCase()} keeps what it has but cannot add more {overLimit.map((r) => inSentence(resourceName(r, labels))).join(' or ')} until it is under the
            limit or on a larger plan.
          </Alert>
        )}
        {scheduledChange !== null && (
          <Alert color="gray" title="A change is scheduled" role="status">
            <Group gap="sm" justify="space-between">
              <Text size="sm">
                Moves to {scheduledChange.plan.name} on {DAY.format(new Date(scheduledChange.at))}.
              </Text>
              {canChange && (
                <Button size="xs" variant="default" onClick={() => change.mutate(current.key)} loading={change.isPending && change.variables === current.key}>
                  Stay on {current.name}
                </Button>
              )}
            </Group>
          </Alert>
        )}
        {held && <HeldNotice>The plan change needs approval.</HeldNotice>}
        <Radio.Group label="Plans" value={selected} onChange={setChosen}>
          <Stack gap="xs" mt="xs">
            {plans.map((p) => (
              <Radio
                key={p.key}
                value={p.key}
                disabled={!canChange}
                label={
                  <Group gap={6}>
                    <span>{p.name}</span>
                    {p.key === current.key && (
                      <Badge size="xs" variant="outline" color="dark">
                        Current
                      </Badge>
                    )}
                  </Group>
                }
                description={limitsText(p, labels)}
              />
            ))}
          </Stack>
        </Radio.Group>
        {change.isError && <ErrorNotice error={change.error} title="The plan was not changed" />}
        {canChange && selected !== current.key && selected !== scheduledChange?.plan.key && (
          <Group>
            <Button onClick={() => change.mutate(selected)} loading={change.isPending}>
              {upgrade ? `Upgrade to ${plans[rank(selected)]?.name} now` : `Move to ${plans[rank(selected)]?.name} on ${periodEnd}`}
            </Button>
            <Text size="sm" c="dimmed">
              {upgrade ? 'A larger plan applies at once.' : 'A smaller plan applies when the billing period ends; nothing is removed.'}
            </Text>
          </Group>
        )}
      </Stack>
    </Card>
  );
}

/**
 * Where the tenant stands and what can change that: suspended (with the reason), pending deletion (with the purge
 * date and Restore), and the actions — suspend and resume from above, delete when it is not the active tenant.
 */
function LifecycleCard({
  tenant: t,
  active,
  operator,
  may,
  labels,
}: {
  tenant: TenantDetails;
  active: boolean;
  operator: boolean;
  may: (p: (typeof PERMISSIONS)[number]) => boolean;
  labels: PresetLabels;
}) {
  const queries = useQueryClient();
  const navigate = useNavigate();
  const word = labels.tenant.toLowerCase();
  const [confirming, setConfirming] = useState<'resume' | 'restore' | null>(null);
  const [suspending, setSuspending] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const tree = useQuery({
    queryKey: ['tenant-tree', t.id],
    enabled: deleting,
    queryFn: async () => (await unwrap(api.GET('/api/v1/tenants/{tenantId}/tree', { params: { path: { tenantId: t.id } } }))).tenants,
  });
  const refresh = () =>
    Promise.all([
      queries.invalidateQueries({ queryKey: ['tenant', t.id] }),
      queries.invalidateQueries({ queryKey: ['tenants'] }),
      queries.invalidateQueries({ queryKey: ['tenant-tree'] }),
      queries.invalidateQueries({ queryKey: ['allowed'] }),
    ]);
  const resume = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/tenants/{tenantId}/resume', { params: { path: { tenantId: t.id } }, body: {} })),
    onSuccess: () => refresh().then(() => setConfirming(null)),
  });
  const restore = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/tenants/{tenantId}/restore', { params: { path: { tenantId: t.id } } })),
    onSuccess: () => refresh().then(() => setConfirming(null)),
  });
  // Suspension comes from above: a tenant cannot suspend itself, nor lift its own suspension (operators excepted).
  // While it is suspended no permission of its own counts, so Resume is offered to whoever looks at it from above.
  const fromAbove = (!active || operator) && (t.status === 'suspended' || may('tenant.suspend'));
  // Likewise deleting a suspended tenant needs tenant.delete from above, which its own permissions cannot show.
  const canDelete = !active && !t.isAdminTenancy && (t.status === 'suspended' || may('tenant.delete'));

  const heading = (
    <Title order={3} size="h5" id="settings-lifecycle" mb="xs">
      Status
    </Title>
  );
  let standing: ReactNode;
  if (t.status === 'pending_deletion')
    standing = (
      <Alert color="orange" title="Pending deletion" role="status">
        Deleted {t.deletionRequestedAt === null ? '' : WHEN.format(new Date(t.deletionRequestedAt))}. It is purged{' '}
        {t.purgeAfter === null ? 'soon' : `after ${WHEN.format(new Date(t.purgeAfter))}`} unless it is restored
        {t.suspendedAt === null ? '' : ' (it comes back suspended, as it was)'}.
      </Alert>
    );
  else if (t.status === 'suspended')
    standing = (
      <Alert color="red" title="Suspended" role="status">
        Since {t.suspendedAt === null ? '—' : WHEN.format(new Date(t.suspendedAt))}
        {t.suspensionReason === null ? '.' : `: ${sentence(t.suspensionReason)}`} Its owners and those above it may look in; nothing else works and its API keys are refused.
      </Alert>
    );
  else
    standing = (
      <Group gap="xs">
        <Badge variant="outline" color="dark">
          Active
        </Badge>
        {t.isAdminTenancy && (
          <Badge color="grape.9" variant="filled">
            Admin tenancy
          </Badge>
        )}
      </Group>
    );

  return (
    <Card withBorder aria-labelledby="settings-lifecycle" style={t.status === 'active' ? { order: 1 } : { order: -1, borderColor: 'var(--mantine-color-red-9)' }}>
      {heading}
      <Stack gap="sm">
        {standing}
        <Group gap="xs">
          {t.status === 'pending_deletion' && <Button onClick={() => setConfirming('restore')}>Restore {t.name}</Button>}
          {t.status === 'suspended' && fromAbove && (
            <Button variant="default" onClick={() => setConfirming('resume')}>
              Resume
            </Button>
          )}
          {t.status === 'active' && fromAbove && !t.isAdminTenancy && (
            <Button variant="outline" color="red.9" onClick={() => setSuspending(true)}>
              Suspend…
            </Button>
          )}
          {t.status !== 'pending_deletion' && canDelete && (
            <Button variant="outline" color="red.9" onClick={() => setDeleting(true)}>
              Delete {t.name}…
            </Button>
          )}
        </Group>
        {t.status !== 'pending_deletion' && active && !t.isAdminTenancy && may('tenant.delete') && (
          <Text size="sm" c="dimmed">
            You are working in this {word}, so it cannot be deleted from here. Switch to the {word} above it (or any other) and open its settings from{' '}
            <Anchor underline="always" component={Link} to="/tenants">
              {labels.tenants}
            </Anchor>
            .
          </Text>
        )}
        {t.status === 'active' && active && !operator && may('tenant.suspend') && (
          <Text size="sm" c="dimmed">
            A {word} is suspended from above it (by its parent&apos;s administrators or the platform operator), never by itself.
          </Text>
        )}
      </Stack>
      {confirming === 'resume' && (
        <ConfirmModal title={`Resume ${t.name}?`} confirm="Resume" failed="It is still suspended" action={resume} onClose={() => setConfirming(null)}>
          Its members can work in it again and its API keys are accepted.
        </ConfirmModal>
      )}
      {confirming === 'restore' && (
        <ConfirmModal title={`Restore ${t.name}?`} confirm="Restore" failed="It was not restored" action={restore} onClose={() => setConfirming(null)}>
          It comes back as it was before it was deleted, with the {labels.tenants.toLowerCase()} deleted with it.
        </ConfirmModal>
      )}
      {suspending && <SuspendModal tenant={t} onClose={() => setSuspending(false)} onDone={refresh} />}
      {deleting && (
        <DeleteTenantModal
          tenant={{ id: t.id, name: t.name, slug: t.slug, below: Math.max(0, (tree.data?.length ?? 1) - 1) }}
          onClose={() => {
            setDeleting(false);
            if (queries.getQueryState(['tenant', t.id])?.status === 'error') void navigate('/tenants');
          }}
          onDeleted={refresh}
        />
      )}
    </Card>
  );
}

function SuspendModal({ tenant, onClose, onDone }: { tenant: TenantDetails; onClose: () => void; onDone: () => Promise<unknown> }) {
  const [reason, setReason] = useState('');
  const suspend = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/api/v1/tenants/{tenantId}/suspend', { params: { path: { tenantId: tenant.id } }, body: reason.trim() === '' ? {} : { reason: reason.trim() } })),
    onSuccess: () => onDone().then(onClose),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    suspend.mutate();
  };
  return (
    <Modal opened onClose={onClose} closeButtonProps={{ 'aria-label': 'Close' }} title={`Suspend ${tenant.name}?`}>
      <form onSubmit={submit}>
        <Stack>
          <Text size="sm">
            Its data is kept. Only its owners and those above it may enter it, read-only; its API keys stop working at once. The tenants below it are not suspended.
          </Text>
          <Textarea
            label="Reason"
            description="Shown to its members while it is suspended, and kept in the audit trail"
            value={reason}
            onChange={(e) => setReason(e.currentTarget.value)}
            maxLength={500}
            autosize
            minRows={2}
            data-autofocus
          />
          {suspend.isError && <ErrorNotice error={suspend.error} title="It was not suspended" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" color="red.9" loading={suspend.isPending}>
              Suspend
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** The settings of a tenant in the tree: the active one at /settings, the others at /tenants/:id/settings. */
export function settingsPath(tenantId: string, activeTenantId: string | null): string {
  return tenantId === activeTenantId ? '/settings' : `/tenants/${tenantId}/settings`;
}
