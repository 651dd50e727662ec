import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeviceClientId, type MqttAction, type MqttRights, topicAllowed } from '../../src/mqtt/topics.ts';

const T = 'tabcdefghijklmnop';
const DEVICE: MqttRights = { publish: true, subscribe: false };
const SUBSCRIBER: MqttRights = { publish: false, subscribe: true };
const BOTH: MqttRights = { publish: true, subscribe: true };

describe('MQTT topic rules (seed 000: {tenantId}/{clientId}/…)', () => {
  const cases: Array<[MqttRights, string, MqttAction, boolean]> = [
    [DEVICE, `${T}/dev1/temp`, 'publish', true],
    [DEVICE, `${T}/dev1/a/b/c`, 'publish', true],
    [DEVICE, `${T}/dev1`, 'publish', false],
    [DEVICE, `${T}/dev2/temp`, 'publish', false],
    [DEVICE, `tzzzzzzzzzzzzzzz/dev1/temp`, 'publish', false],
    [DEVICE, `${T}/dev1/+`, 'publish', false],
    [DEVICE, `${T}/dev1/#`, 'subscribe', true],
    [DEVICE, `${T}/dev1/cmd/+`, 'subscribe', true],
    [DEVICE, `${T}/#`, 'subscribe', false],
    [DEVICE, `${T}/+/temp`, 'subscribe', false],
    [DEVICE, `${T}/dev1/temp`, 'receive', true],
    [DEVICE, `${T}/dev2/temp`, 'receive', false],
    [SUBSCRIBER, `${T}/#`, 'subscribe', true],
    [SUBSCRIBER, `${T}/+/temp`, 'subscribe', true],
    [SUBSCRIBER, `${T}/dev2/temp`, 'receive', true],
    [SUBSCRIBER, `${T}/dev1/temp`, 'publish', false],
    [SUBSCRIBER, `${T}`, 'subscribe', false],
    [SUBSCRIBER, '#', 'subscribe', false],
    [SUBSCRIBER, '+/#', 'subscribe', false],
    [SUBSCRIBER, `+/dev1/temp`, 'subscribe', false],
    [SUBSCRIBER, `${T}#`, 'subscribe', false],
    [SUBSCRIBER, `${T}/a#`, 'subscribe', false],
    [SUBSCRIBER, `${T}/#/a`, 'subscribe', false],
    [SUBSCRIBER, `${T}/a+/b`, 'subscribe', false],
    [BOTH, '$SYS/#', 'subscribe', false],
    [BOTH, `$CONTROL/dynamic-security/v1`, 'publish', false],
    [BOTH, `$share/g/${T}/#`, 'subscribe', false],
    [BOTH, `${T}/dev1/\u0000`, 'publish', false],
    [BOTH, '', 'subscribe', false],
  ];
  for (const [rights, topic, action, allowed] of cases) {
    const who = rights === DEVICE ? 'a device' : rights === SUBSCRIBER ? 'a subscriber' : 'a key with both rights';
    it(`${allowed ? 'lets' : 'refuses'} ${who} ${action} ${JSON.stringify(topic)}`, () => {
      assert.equal(topicAllowed(rights, T, 'dev1', topic, action), allowed);
    });
  }

  it('takes as a device name only one topic level', () => {
    for (const ok of ['dev1', 'sensor-42', 'a.b_c', 'x'.repeat(128)]) assert.equal(isDeviceClientId(ok), true, ok);
    for (const bad of ['', 'a/b', 'a+', 'a#', '$dev', 'x'.repeat(129), 'a\u0000']) assert.equal(isDeviceClientId(bad), false, bad);
    assert.equal(topicAllowed(BOTH, T, 'a/b', `${T}/a/b/c`, 'publish'), false);
  });
});
