import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OncePer } from '../../src/platform/once-per.ts';

describe('OncePer', () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

  it('says yes to a key once per interval, to each key on its own', () => {
    const once = new OncePer(60_000);
    assert.equal(once.due('a', at(0)), true);
    assert.equal(once.due('a', at(59_999)), false);
    assert.equal(once.due('b', at(59_999)), true, 'another key has its own interval');
    assert.equal(once.due('a', at(60_000)), true);
    assert.equal(once.due('a', at(61_000)), false, 'the interval starts again from the last yes');
  });

  it('forgets the oldest key when full, which may then be due once more than needed', () => {
    const once = new OncePer(60_000, 2);
    assert.equal(once.due('a', at(0)), true);
    assert.equal(once.due('b', at(0)), true);
    assert.equal(once.due('c', at(0)), true);
    assert.equal(once.due('b', at(1)), false, 'kept');
    assert.equal(once.due('a', at(1)), true, 'forgotten: the oldest went first');
  });
});
