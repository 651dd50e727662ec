import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { approvalDeciders } from '../../src/approvals/deciders.ts';
import { approvalLink, describeAction, targetOf } from '../../src/approvals/notifications.ts';
import { approvalDecidedEmail, approvalRequestedEmail } from '../../src/mail/templates.ts';
import { loadPreset } from '../../src/presets/presets.ts';

/** The pure parts of approvals: the deciders policy, the person an action is about, and the mails' words. */
describe('approvals, pure parts', () => {
  const names = { tenantName: 'Acme <Dist>', people: new Map([['usr_ann', { email: 'ann@example.test', name: 'Ann' }]]) };

  it('reads who decides from the preset: SPEC 4 by default, only from above where the preset says so, and a typo narrows', () => {
    const preset = loadPreset('default');
    assert.equal(approvalDeciders(preset), 'same_tenant_or_above');
    const withPolicy = (value: unknown) => ({ ...preset, policies: { ...preset.policies, approvalDeciders: value } }) as typeof preset;
    assert.equal(approvalDeciders(withPolicy('above')), 'above');
    assert.equal(approvalDeciders(withPolicy('same_tenant_or_above')), 'same_tenant_or_above');
    assert.equal(approvalDeciders(withPolicy('abvoe')), 'above');
  });

  it('names the person an admin removal or an ownership transfer is about, and nobody for the other actions', () => {
    assert.equal(targetOf({ action: 'member.remove_admin', params: { userId: 'usr_ann' } }), 'usr_ann');
    assert.equal(targetOf({ action: 'member.remove_admin', params: { userId: 'usr_ann', roles: ['technician'] } }), 'usr_ann');
    assert.equal(targetOf({ action: 'tenant.transfer_ownership', params: { userId: 'usr_ann', confirm: 'x' } }), 'usr_ann');
    assert.equal(targetOf({ action: 'tenant.delete', params: { confirm: 'x', userId: 'usr_ann' } }), null);
    assert.equal(targetOf({ action: 'role.update', params: { key: 'mgr' } }), null);
  });

  it('says what is asked in words', () => {
    assert.equal(describeAction({ action: 'member.remove_admin', params: { userId: 'usr_ann' } }, names), 'remove Ann, an administrator, from Acme <Dist>');
    assert.equal(
      describeAction({ action: 'member.remove_admin', params: { userId: 'usr_ann', roles: ['technician'] } }, names),
      'change the roles of Ann in Acme <Dist> to technician, so that they no longer administer it',
    );
    assert.equal(describeAction({ action: 'tenant.delete', params: { confirm: 'x', includeDescendants: true } }, names), 'delete Acme <Dist> and every tenant below it');
    assert.equal(describeAction({ action: 'tenant.transfer_ownership', params: { userId: 'usr_bob' } }, names), 'transfer the ownership of Acme <Dist> to usr_bob');
    assert.equal(describeAction({ action: 'tenant.change_plan', params: { plan: 'pro' } }, names), 'change the plan of Acme <Dist> to pro');
  });

  it('escapes user-chosen names in the HTML of both mails, and keeps the subject to one line', () => {
    const link = approvalLink('https://t.example', { tenant_id: 'tabc', id: 'apr_x' });
    assert.equal(link, 'https://t.example/approvals?tenant=tabc&request=apr_x');
    const asked = approvalRequestedEmail({
      name: 'Mona',
      initiatorName: 'Eve <script>',
      tenantName: 'Acme <Dist>',
      what: 'delete Acme <Dist>',
      expiresAt: new Date('2026-01-08T12:00:00Z'),
      link,
    });
    assert.equal(asked.subject, 'Approval needed: Eve <script> asks to delete Acme <Dist>');
    assert.ok(!asked.html.includes('<script>') && asked.html.includes('Eve &lt;script&gt;'));
    assert.ok(asked.html.includes('tenant=tabc&amp;request=apr_x'));
    assert.match(asked.text, /until 2026-01-08 12:00 UTC/);
    const told = approvalDecidedEmail({
      what: 'delete Acme',
      tenantName: 'Acme',
      outcome: 'failed',
      deciderName: 'Max\nMain',
      note: '<b>ok</b>',
      failure: 'the tenant has children',
      link,
    });
    assert.equal(told.subject, 'Your request was approved, but it could not be carried out: delete Acme');
    assert.match(told.text, /could not be carried out: the tenant has children\./);
    assert.ok(!told.html.includes('<b>ok</b>') && told.html.includes('&lt;b&gt;ok&lt;/b&gt;'));
  });
});
