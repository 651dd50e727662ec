import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { openSecret, SecretBoxError, sealSecret } from '../../src/platform/secret-box.ts';

describe('secret box (AES-256-GCM)', () => {
  const key = randomBytes(32);

  it('round-trips text, including non-ASCII and the empty string', () => {
    for (const plaintext of ['{"kty":"EC","d":"secret"}', 'ünïcødé ✓', '']) {
      assert.equal(openSecret(key, sealSecret(key, plaintext)), plaintext);
    }
  });

  it('writes v1.<iv>.<tag>.<ciphertext> in base64url, with a fresh IV each time', () => {
    const a = sealSecret(key, 'same');
    const b = sealSecret(key, 'same');
    assert.match(a, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]*$/);
    assert.notEqual(a, b);
    assert.doesNotMatch(a, /same/);
  });

  it('refuses a sealed secret whose iv, tag or ciphertext was altered', () => {
    const sealed = sealSecret(key, 'the private key');
    const parts = sealed.split('.');
    for (const index of [1, 2, 3]) {
      const altered = [...parts];
      const bytes = Buffer.from(altered[index] ?? '', 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      altered[index] = bytes.toString('base64url');
      assert.throws(() => openSecret(key, altered.join('.')), SecretBoxError, `part ${index}`);
    }
  });

  it('refuses the wrong key, another version and malformed input', () => {
    const sealed = sealSecret(key, 'x');
    assert.throws(() => openSecret(randomBytes(32), sealed), /wrong key or altered/);
    assert.throws(() => openSecret(key, sealed.replace(/^v1/, 'v2')), SecretBoxError);
    assert.throws(() => openSecret(key, 'v1.abc'), SecretBoxError);
    assert.throws(() => openSecret(key, 'v1.***.***.***'), SecretBoxError);
    assert.throws(() => openSecret(key, `${sealed}.extra`), SecretBoxError);
  });

  it('demands a 32-byte key', () => {
    assert.throws(() => sealSecret(randomBytes(16), 'x'), /32 bytes/);
    assert.throws(() => openSecret(randomBytes(31), sealSecret(key, 'x')), /32 bytes/);
  });
});
