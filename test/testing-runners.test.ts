// corral/testing under the real runners: a Vitest 3 project and a Jest 30 project in test/runners/,
// each with passing tests and a leaking one, run as child processes against the built package
// (dist/, as an installed corral would be; `npm test` builds first).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const bin = (p: string): string => fileURLToPath(new URL(`../node_modules/${p}`, import.meta.url));

function run(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, NODE_OPTIONS: '', FORCE_COLOR: '0', NO_COLOR: '1', CI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const limit = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(limit);
      resolve({ code, out });
    });
  });
}

describe('the real runners', () => {
  before(() => {
    // The projects import the package by name, which resolves to dist/: it must be built from
    // the current sources.
    const built = statSync(`${ROOT}dist/testing/index.js`, { throwIfNoEntry: false });
    assert.ok(built !== undefined, 'dist/testing is missing: run `npm run build` first');
    const sources = [
      ...readdirSync(`${ROOT}src/testing`).map((f) => `${ROOT}src/testing/${f}`),
      `${ROOT}src/unreachable.ts`,
    ];
    const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
    assert.ok(built.mtimeMs >= newest, 'dist/ is older than src/testing: run `npm run build` first');
  });

  test('Vitest 3: the leaking test fails with the LeakError naming its spawn sites, the clean ones pass', async () => {
    const { code, out } = await run([bin('vitest/vitest.mjs'), 'run', '--root', '.'], `${ROOT}test/runners/vitest`);
    assert.equal(code, 1, out);
    assert.match(out, /FAIL +epro\.spec\.mjs > the naive submission handler leaks its validation task/);
    assert.match(out, /LeakError: leakGuard: 2 tasks \(2 certain\) left behind/);
    assert.match(out, /1 task "validate-submission" \[leaked \(unreachable\): CERTAIN, it can never finish; it was running/);
    assert.match(out, /\n {4}at submitNaive \(.*test\/runners\/vitest\/epro\.spec\.mjs:\d+:\d+\)/);
    assert.match(out, /Tests +1 failed \| 2 passed \(3\)/);
  });

  test('Jest 30: the leaking test fails with the LeakError naming the interval\'s site, the clean one passes', async () => {
    const { code, out } = await run(
      ['--experimental-vm-modules', bin('jest/bin/jest.js'), '--rootDir', '.', '--forceExit'],
      `${ROOT}test/runners/jest`,
    );
    assert.equal(code, 1, out);
    assert.match(out, /✓ every\(\) under a context stops with it and leaves nothing behind/);
    assert.match(out, /✕ a bare interval started by the test is left running/);
    assert.match(out, /LeakError: leakGuard: 1 handle left behind/);
    assert.match(out, /1 Timeout "setInterval 60000 ms" \[keeps the process alive/);
    assert.match(out, /at .*his-sync\.spec\.mjs:\d+:\d+/);
    assert.match(out, /Tests: +1 failed, 1 passed, 2 total/);
  });
});
