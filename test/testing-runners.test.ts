// corral/testing under the real runners: a node:test project, a Vitest 3 project and a Jest project
// (run by Jest 30, and by Jest 29 when installed as the `jest29` alias) in test/runners/, each with
// passing tests and leaking ones, run as child processes against the built package (dist/, as an
// installed corral would be; `npm test` builds first).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const bin = (p: string): string => fileURLToPath(new URL(`../node_modules/${p}`, import.meta.url));

function run(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      // NODE_TEST_CONTEXT would make a child node:test report to this run instead of running its files.
      env: { ...process.env, NODE_OPTIONS: '', NODE_TEST_CONTEXT: undefined, FORCE_COLOR: '0', NO_COLOR: '1', CI: '1' },
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

  test('node:test: the guard preloaded with --import fails the leaking tests naming task, handle and listener sites; overlapping clean tests pass', async () => {
    const { code, out } = await run(
      ['--import', './leak-guard.mjs', '--test', '--test-force-exit', '--test-reporter=spec', 'orphan.test.mjs'],
      `${ROOT}test/runners/node`,
    );
    assert.equal(code, 1, out);
    assert.match(out, /✔ fixed: the audit task is cancelled with its request/);
    assert.match(out, /✖ naive: the audit task outlives its request/);
    assert.match(out, /LeakError\]: leakGuard: 1 task, 1 handle left behind/);
    assert.match(out, /1 task "audit-write" \[waiting: sleep, oldest \d+ms\]\n {6}at recordAuditNaive \(.*test\/runners\/node\/orphan\.test\.mjs:\d+:\d+\)/);
    assert.match(out, /owned by group "audit"\n/);
    assert.match(out, /LeakError\]: leakGuard: 1 handle, 1 abort listener left behind/);
    assert.match(out, /1 TCPSERVERWRAP "server 127\.0\.0\.1:\d+" \[keeps the process alive, oldest \d+ms\]\n {6}at .*orphan\.test\.mjs:\d+:\d+/);
    assert.match(out, /1 abort listener still on a live AbortSignal \[never removed, oldest \d+ms\]\n {6}at .*orphan\.test\.mjs:\d+:\d+/);
    assert.match(out, /✔ a clean test that holds a timer for a while/);
    assert.match(out, /✔ another clean test that ends first/);
    assert.match(out, /ℹ pass 4\nℹ fail 2\n/);
  });

  // Jest 29 is a devDependency under an npm alias (`"jest29": "npm:jest@^29.7.0"`) beside Jest 30.
  // A checkout installed without it skips loudly; CI, which runs `npm install`, must have both.
  const jests: [string, string][] = [['Jest 30', 'jest/bin/jest.js'], ['Jest 29', 'jest29/bin/jest.js']];
  for (const [label, path] of jests) {
    const missing = !existsSync(bin(path)) && process.env.CI === undefined;
    test(`${label}: the leaking test fails with the LeakError naming the interval's site, the clean one passes`, {
      skip: missing && `${label} is not installed (node_modules/${path}): run npm install`,
    }, async () => {
      const { code, out } = await run(
        ['--experimental-vm-modules', bin(path), '--rootDir', '.', '--forceExit'],
        `${ROOT}test/runners/jest`,
      );
      assert.equal(code, 1, out);
      const { version } = JSON.parse(readFileSync(bin(path.replace('bin/jest.js', 'package.json')), 'utf8')) as { version: string };
      assert.equal(version.split('.')[0], label.slice(-2), `${path} is ${label}`);
      assert.match(out, /✓ every\(\) under a context stops with it and leaves nothing behind/);
      assert.match(out, /✕ a bare interval started by the test is left running/);
      assert.match(out, /LeakError: leakGuard: 1 handle left behind/);
      assert.match(out, /1 Timeout "setInterval 60000 ms" \[keeps the process alive/);
      assert.match(out, /at .*his-sync\.spec\.mjs:\d+:\d+/);
      assert.match(out, /Tests: +1 failed, 1 passed, 2 total/);
    });
  }
});
