// The demo's configuration: flags, then the environment, then the embedded defaults.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../demo/src/config.js';

describe('the ePRO demo configuration', () => {
  test('embedded defaults: port 3000 and a database under ./data', () => {
    const c = loadConfig([], {});
    assert.equal(c.port, 3000);
    assert.match(c.db, /(^|[/\\])data[/\\][^/\\]+\.sqlite$/);
    assert.equal(c.leaky, false);
    assert.equal(c.watchdogMaxTasks, 100_000, "the watchdog's live-task cap is corral's default");
  });

  test('PORT and EPRO_DB from the environment are used, and a flag wins over its variable', () => {
    const env = { PORT: '4100', EPRO_DB: '/srv/epro/intake.sqlite' };
    const c = loadConfig([], env);
    assert.equal(c.port, 4100);
    assert.equal(c.db, '/srv/epro/intake.sqlite');
    const f = loadConfig(['--port', '4200', '--db', '/tmp/other.sqlite'], env);
    assert.equal(f.port, 4200);
    assert.equal(f.db, '/tmp/other.sqlite');
  });

  test('a bad value names where it came from: the variable, or the flag', () => {
    assert.throws(() => loadConfig([], { PORT: 'http' }), (e: unknown) => e instanceof ConfigError && /^PORT must be an integer from 0 to 65535 \(got "http"\)/.test(e.message));
    assert.throws(() => loadConfig(['--port', '70000'], { PORT: '80' }), (e: unknown) => e instanceof ConfigError && /^--port must be an integer/.test(e.message));
    assert.throws(() => loadConfig(['--no-such-flag'], {}), (e: unknown) => e instanceof ConfigError && /--help/.test(e.message));
    assert.throws(() => loadConfig(['--watchdog-max-tasks', '0'], {}), (e: unknown) => e instanceof ConfigError && /^--watchdog-max-tasks must be an integer from 1 /.test(e.message));
  });
});
