/**
 * The warm check in the in-memory authorization libraries people reach for, on the same data as bench/checks.ts (the
 * default preset's roles as policies, the chain's memberships as role assignments), each asked the same question:
 * may the person, admin of the root, read members at the leaf six levels below?
 *
 * - casbin: RBAC with domains. A tenant's domain is its path ("/root/…/leaf/"); a role that reaches below is
 *   assigned in the pattern "<path>*", one that does not in "<path>" exactly, matched with `keyMatch`.
 * - CASL: the person's ability, built once from their memberships; a tenant is a subject carrying its path, and a
 *   rule that reaches below matches any tenant whose path contains the membership's tenant.
 */
import { AbilityBuilder, createMongoAbility, type MongoQuery, subject } from '@casl/ability';
import { newEnforcer, newModelFromString, StringAdapter, Util } from 'casbin';
import type { CheckWorld } from './checks.ts';

const domainOf = (path: readonly string[]) => `/${path.join('/')}/`;

export async function casbinCheck(world: CheckWorld): Promise<() => boolean> {
  const model = newModelFromString(`
[request_definition]
r = sub, dom, perm
[policy_definition]
p = sub, perm
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && keyMatch(r.perm, p.perm)
`);
  const lines: string[] = [];
  for (const role of world.roles) for (const permission of role.permissions) lines.push(`p, ${role.key}, ${permission}`);
  for (const m of world.memberships) {
    const domain = domainOf(world.paths.get(m.tenantId) ?? []);
    for (const key of m.roles) {
      const reachesBelow = world.roles.find((r) => r.key === key)?.scope === 'tenant_and_descendants';
      lines.push(`g, ${m.userId}, ${key}, ${reachesBelow ? `${domain}*` : domain}`);
    }
  }
  const enforcer = await newEnforcer(model, new StringAdapter(lines.join('\n')));
  await enforcer.addNamedDomainMatchingFunc('g', Util.keyMatchFunc);
  const leaf = domainOf(world.paths.get(world.leaf) ?? []);
  if (!enforcer.enforceSync(world.userId, leaf, world.permission)) throw new Error('casbin: the inherited check should be allowed');
  return () => enforcer.enforceSync(world.userId, leaf, world.permission);
}

export function caslCheck(world: CheckWorld): () => boolean {
  const { can, build } = new AbilityBuilder(createMongoAbility);
  for (const m of world.memberships.filter((x) => x.userId === world.userId)) {
    for (const key of m.roles) {
      const role = world.roles.find((r) => r.key === key);
      if (role === undefined) continue;
      const where: MongoQuery = role.scope === 'tenant_and_descendants' ? { path: { $in: [m.tenantId] } } : { id: m.tenantId };
      for (const permission of role.permissions) {
        if (permission === '*') can('manage', 'Tenant', where);
        else can(permission, 'Tenant', where);
      }
    }
  }
  const ability = build();
  const leaf = subject('Tenant', { id: world.leaf, path: world.paths.get(world.leaf) ?? [] });
  if (!ability.can(world.permission, leaf)) throw new Error('CASL: the inherited check should be allowed');
  return () => ability.can(world.permission, leaf);
}
