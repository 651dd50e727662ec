import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readSystem } from '../../src/platform/db/context.ts';
import { testEngines } from '../helpers/database.ts';
import { api, createInstall, type Install, join, person, tenantBy } from '../helpers/escalation-worlds.ts';
import { rootTenantOf } from '../helpers/users.ts';
import { brokenInvariants } from './oracle.ts';

/**
 * Issue 14, approvals (company-tree, the preset that holds sensitive actions for a second person; OWASP API5:2023):
 * nobody approves their own request or one about themselves, a decider must stand above the tenant, and two deciders
 * approving at once carry the action out once (PostgreSQL only: PGlite runs one statement at a time).
 */
for (const engine of testEngines()) {
  describe(`hostile: approvals of held actions [${engine}]`, () => {
    let install: Install;
    let main = '';
    let distributor = '';
    const people: Record<string, string> = {};
    before(async () => {
      install = await createInstall(engine, 'company-tree');
      main = await rootTenantOf(install.t);
      for (const label of ['Main admin', 'Second main admin', 'Dist admin', 'Other admin', 'Third admin']) people[label] = await person(install, label);
      await join(install, main, people['Main admin']!, ['admin']);
      await join(install, main, people['Second main admin']!, ['admin']);
      distributor = await tenantBy(install, people['Main admin']!, 'Distributor', main);
      for (const label of ['Dist admin', 'Other admin', 'Third admin']) await join(install, distributor, people[label]!, ['admin']);
    });
    after(async () => {
      try {
        assert.deepEqual(await brokenInvariants(install.t.database, install.t.app.services.preset, 32), []);
      } finally {
        await install.t.close();
      }
    });

    const hold = async (who: string, target: string) => {
      const held = await api(install, people[who]!, 'DELETE', `/tenants/${distributor}/members/${people[target]}`);
      assert.equal(held.statusCode, 202, held.body);
      return held.json().approvalRequest.id as string;
    };
    const decide = (who: string, id: string) => api(install, people[who]!, 'POST', `/tenants/${distributor}/approval-requests/${id}/approve`, {});

    it('refuses an approval by the person who asked, by the person it is about, and by a peer in the same tenant', async () => {
      const id = await hold('Dist admin', 'Other admin');
      assert.equal((await decide('Dist admin', id)).json().code, 'approval_by_initiator');
      assert.equal((await decide('Other admin', id)).json().code, 'approval_by_target');
      assert.equal((await decide('Third admin', id)).json().code, 'approval_not_from_above');
      const request = await api(install, people['Main admin']!, 'GET', `/tenants/${distributor}/approval-requests/${id}`);
      assert.equal(request.json().status, 'pending');
      assert.equal((await api(install, people['Dist admin']!, 'POST', `/tenants/${distributor}/approval-requests/${id}/cancel`, {})).statusCode, 200);
    });

    if (engine === 'postgres') {
      it('carries an action out once when two deciders approve it at the same moment; the other gets 409', async () => {
        const id = await hold('Dist admin', 'Third admin');
        const answers = await Promise.all([decide('Main admin', id), decide('Second main admin', id)]);
        assert.deepEqual(answers.map((a) => a.statusCode).sort(), [200, 409], answers.map((a) => a.body).join('\n'));
        const removals = await readSystem(install.t.database.db, (trx) =>
          trx
            .selectFrom('audit_events')
            .select('id')
            .where('tenant_id', '=', distributor)
            .where('action', '=', 'member.removed')
            .where('target_id', '=', people['Third admin']!)
            .execute(),
        );
        assert.equal(removals.length, 1);
      });
    }
  });
}
