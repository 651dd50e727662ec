import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, describeConfig, loadConfig } from '../../src/platform/config.ts';

describe('configuration', () => {
  it('defaults to port 3000, the embedded database in ./data and the default preset', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.databaseUrl, undefined);
    assert.match(config.dataDir, /\/data$/);
    assert.equal(config.preset, 'default');
    assert.equal(config.publicUrl, 'http://localhost:3000');
  });

  it('reads SPEC 5.2 variables', () => {
    const config = loadConfig({ PORT: '8080', DATABASE_URL: 'postgres://u:p@db/x', TENANTRY_PUBLIC_URL: 'https://id.example.com/', TENANTRY_PRESET: 'msp' });
    assert.equal(config.port, 8080);
    assert.equal(config.databaseUrl, 'postgres://u:p@db/x');
    assert.equal(config.publicUrl, 'https://id.example.com');
    assert.equal(config.preset, 'msp');
  });

  it('refuses nonsense with a message naming the variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty' }),
      (e: unknown) => e instanceof ConfigError && /PORT/.test(e.message),
    );
    assert.throws(() => loadConfig({ PORT: '70000' }), ConfigError);
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/);
    assert.throws(() => loadConfig({ TENANTRY_PUBLIC_URL: 'not a url' }), /TENANTRY_PUBLIC_URL/);
  });

  it('masks secrets when describing itself', () => {
    const shown = JSON.stringify(describeConfig(loadConfig({ DATABASE_URL: 'postgres://u:hunter2@db/x', TENANTRY_ADMIN_PASSWORD: 'hunter3' })));
    assert.doesNotMatch(shown, /hunter2|hunter3/);
  });
});
