// `corral run` end to end: the built CLI runs test/fixtures/cli-leaky.mjs (which imports corral
// by its package name, as an application does) and reports what it left running.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, cli, startCli } from './fixtures/cli-harness.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const FIXTURE = fileURLToPath(new URL('./fixtures/cli-leaky.mjs', import.meta.url));
const FIXTURE_URL = pathToFileURL(FIXTURE).href;

const fixture = (mode: string, ...flags: string[]): string[] => ['run', ...flags, '--', 'node', FIXTURE, mode];

// Programs for unreachable tasks; each prints `gc global: <typeof gc>` at its own exit.
const GC_FIXTURE = fileURLToPath(new URL('./fixtures/cli-run-gc.mjs', import.meta.url));
const GC_FIXTURE_URL = pathToFileURL(GC_FIXTURE).href;
const gcFixture = (mode: string, ...flags: string[]): string[] => ['run', ...flags, '--', 'node', GC_FIXTURE, mode];

/** `url:line:` of the first line of `file` that holds `text`: a spawn site pinned to its line. */
function siteIn(file: string, url: string, text: string): string {
  const i = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${JSON.stringify(text)} is not in ${file}`);
  return `${url}:${i + 1}:`;
}

function reportCount(stderr: string): number {
  return stderr.match(/^corral run: the program exited/gm)?.length ?? 0;
}

function assertIncludes(text: string, part: string, what: string): void {
  assert.ok(text.includes(part), `${what}: expected ${JSON.stringify(part)} in:\n${text}`);
}

function assertTaskReported(stderr: string): void {
  assertIncludes(stderr, '1 task "orphan-receiver" [waiting: chan receive', 'the pending task is listed');
  assertIncludes(stderr, `at waitForever (${FIXTURE_URL}:`, 'with its spawn site in the fixture');
}

function assertIntervalReported(stderr: string): void {
  assertIncludes(stderr, '1 Timeout "setInterval 60000 ms" [keeps the process alive', 'the interval is listed');
  assertIncludes(stderr, `at startPolling (${FIXTURE_URL}:`, 'with its creation site in the fixture');
}

describe('corral run', () => {
  test('a program that exits 0 leaving a pending corral task: reported with its spawn site, exit 3 with --fail-on-leak', async () => {
    const r = await cli(fixture('drain', '--fail-on-leak'));
    assert.equal(r.code, 3, r.stderr);
    assertIncludes(
      r.stderr,
      'corral run: the program exited with code 0 when its event loop drained, leaving 1 corral task that can never finish (1 still pending with nothing left to settle it)',
      'the headline',
    );
    assertTaskReported(r.stderr);
    assertIncludes(r.stderr, 'exiting 3 (--fail-on-leak)', 'the CLI says why it exits 3');
  });

  test('at a drained loop, tasks nothing can settle are reported unreachable (GC forced, no flag), the pending one as stuck for good', async () => {
    const r = await cli(fixture('unreachable', '--fail-on-leak'));
    assert.equal(r.code, 3, r.stderr);
    assertIncludes(
      r.stderr,
      'corral run: the program exited with code 0 when its event loop drained, leaving 3 corral tasks that can never finish (2 unreachable: collected while pending, their finally never ran; 1 still pending with nothing left to settle it)',
      'the headline',
    );
    // Each with the state it was last in and its spawn site, to the line.
    assertIncludes(r.stderr, '1 task "validate-terms" [leaked (unreachable), was waiting: chan receive,', 'the receive on a channel nobody holds');
    assertIncludes(r.stderr, `    at validateInBackground (${siteIn(FIXTURE, FIXTURE_URL, "name: 'validate-terms'")}`, "validate-terms' spawn site");
    assertIncludes(r.stderr, '1 task "never-settles" [leaked (unreachable), was running,', 'the promise nobody can resolve');
    assertIncludes(r.stderr, `    at validateInBackground (${siteIn(FIXTURE, FIXTURE_URL, "name: 'never-settles'")}`, "never-settles' spawn site");
    assertTaskReported(r.stderr); // reachable through its context: pending, not unreachable
    assert.ok(!r.stderr.includes('"orphan-receiver" [leaked'), `the reachable task is not called unreachable:\n${r.stderr}`);
    assert.ok(!/ReferenceError|gc is not defined/.test(r.stderr), r.stderr);
    assert.equal(reportCount(r.stderr), 1, `one report, though beforeExit came again after the collection:\n${r.stderr}`);
  });

  test('the forced GC leaves no gc global in the program', async () => {
    const r = await cli(gcFixture('again'));
    assert.equal(r.code, 0, r.stderr);
    assertIncludes(r.stderr, '2 unreachable', 'collections were forced');
    assert.equal(r.stdout, 'gc global: undefined\n', 'the program sees no gc() after corral forced collections');
  });

  test('tasks waiting on what is still referenced (a resolver, a channel in module variables) are still pending, not unreachable', async () => {
    const r = await cli(gcFixture('held', '--fail-on-leak'));
    assert.equal(r.code, 3, r.stderr);
    assertIncludes(
      r.stderr,
      'corral run: the program exited with code 0 when its event loop drained, leaving 2 corral tasks that can never finish (2 still pending with nothing left to settle them)\n',
      'the headline',
    );
    assertIncludes(r.stderr, '1 task "held-resolver" [running,', 'the task whose resolver is kept');
    assertIncludes(r.stderr, `    at holdResolver (${siteIn(GC_FIXTURE, GC_FIXTURE_URL, "name: 'held-resolver'")}`, 'its spawn site');
    assertIncludes(r.stderr, '1 task "held-channel" [waiting: chan receive,', 'the receive on a channel the module holds');
    assertIncludes(r.stderr, `    at holdChannel (${siteIn(GC_FIXTURE, GC_FIXTURE_URL, "name: 'held-channel'")}`, 'its spawn site');
    assert.ok(!r.stderr.includes('leaked (unreachable)'), `nothing reachable is called unreachable:\n${r.stderr}`);
  });

  test("a task the program's own beforeExit listener starts is collected too, and the report comes once", async () => {
    const r = await cli(gcFixture('again', '--fail-on-leak'));
    assert.equal(r.code, 3, r.stderr);
    assertIncludes(
      r.stderr,
      'leaving 2 corral tasks that can never finish (2 unreachable: collected while pending, their finally never ran)\n',
      'the headline',
    );
    assertIncludes(r.stderr, '1 task "lost-first" [leaked (unreachable), was running,', 'the task lost by the program');
    assertIncludes(r.stderr, '1 task "lost-in-before-exit" [leaked (unreachable), was running,', 'the task lost in its beforeExit');
    assert.equal(reportCount(r.stderr), 1, `one report:\n${r.stderr}`);
  });

  test('process.exit() right after losing a task: reported at exit as it stands, with no collection and no claim it can never finish', async () => {
    const r = await cli(gcFixture('exit', '--fail-on-leak'));
    assert.equal(r.code, 3, r.stderr);
    assertIncludes(r.stderr, 'corral run: the program exited with code 0, leaving 1 corral task\n', 'the headline, without "when its event loop drained"');
    assertIncludes(r.stderr, '1 task "lost-then-exit" [running,', 'the task, in the state it was in');
    assertIncludes(r.stderr, `    at lose (${siteIn(GC_FIXTURE, GC_FIXTURE_URL, "go(() => new Promise(() => {}), { name })")}`, 'its spawn site');
    assert.ok(!r.stderr.includes('can never finish'), r.stderr);
    assert.equal(reportCount(r.stderr), 1, `one report:\n${r.stderr}`);
  });

  test('CORRAL_DETECT_UNREACHABLE=0 in the environment wins: the same tasks are only pending', async () => {
    const r = await cli(fixture('unreachable'), { env: { ...process.env, CORRAL_DETECT_UNREACHABLE: '0' } });
    assert.equal(r.code, 0, r.stderr);
    assertIncludes(r.stderr, 'leaving 3 corral tasks that can never finish (3 still pending with nothing left to settle them)', 'the headline');
    assert.ok(!r.stderr.includes('leaked (unreachable)'), r.stderr);
  });

  test('without --fail-on-leak the same program exits 0, and the report is still printed', async () => {
    const r = await cli(fixture('drain'));
    assert.equal(r.code, 0, r.stderr);
    assertTaskReported(r.stderr);
  });

  test('process.exit(0) with an interval and a pending task: both reported with creation sites in the program', async () => {
    const r = await cli(fixture('exit', '--fail-on-leak'));
    assert.equal(r.code, 3, r.stderr);
    assertIncludes(r.stderr, 'leaving 1 corral task and 1 handle keeping it alive', 'the headline');
    assertTaskReported(r.stderr);
    assertIntervalReported(r.stderr);
  });

  test('SIGINT to a hung program with no handler: the report lists the interval and the task, and corral dies by SIGINT', async () => {
    const run = startCli(fixture('hang', '--fail-on-leak'));
    await run.waitFor(/READY/);
    run.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.signal, 'SIGINT', `the CLI died the way the program did; code ${r.code}\n${r.stderr}`);
    assertIncludes(r.stderr, 'corral run: SIGINT with no handler in the program', 'the headline');
    assertTaskReported(r.stderr);
    assertIntervalReported(r.stderr);
  });

  test('SIGUSR2 prints a report and the program keeps running', async () => {
    const run = startCli(fixture('hang'));
    await run.waitFor(/READY/);
    run.kill('SIGUSR2');
    await run.waitFor(/report requested with SIGUSR2; the program keeps running/, 'stderr');
    run.kill('SIGTERM');
    const r = await run.done;
    assert.equal(r.signal, 'SIGTERM', r.stderr);
    assert.equal(r.stderr.match(/corral run: /g)?.length, 2, `a snapshot, then the final report at SIGTERM:\n${r.stderr}`);
    assertIntervalReported(r.stderr);
  });

  test('a program with its own SIGINT handler stops its own way and is reported when it exits', async () => {
    const run = startCli(fixture('graceful', '--fail-on-leak'));
    await run.waitFor(/READY/);
    run.kill('SIGINT');
    const r = await run.done;
    // Its handler cleared the interval, so the loop drained and it exited 0; the task is left.
    assert.equal(r.code, 3, r.stderr);
    assertIncludes(
      r.stderr,
      'corral run: the program exited with code 0 when its event loop drained, leaving 1 corral task that can never finish (1 still pending with nothing left to settle it)\n',
      'reported at exit, without the interval',
    );
    assertTaskReported(r.stderr);
  });

  test('a clean program: nothing left, exit 0 with --fail-on-leak', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-cli-'));
    try {
      const file = join(dir, 'report.json');
      const r = await cli(fixture('clean', '--fail-on-leak', '--json', file));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, 'corral run: the program exited with code 0; nothing was left running\n');
      const report = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(report.leaked, false);
      assert.deepEqual(report.tasks, { count: 0, groups: 0, unreachable: 0, dump: '' });
      assert.equal(report.drained, true, 'its loop drained');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the program's exit code passes through, --fail-on-leak or not", async () => {
    assert.equal((await cli(fixture('code'))).code, 7);
    assert.equal((await cli(fixture('code', '--fail-on-leak'))).code, 7);
    assert.equal((await cli(['run', 'node', FIXTURE, 'code'])).code, 7, 'the program may follow the options without --');
  });

  test('a process the program forks is not reported (only the program itself is)', async () => {
    const r = await cli(fixture('fork', '--fail-on-leak'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.match(/corral run: /g)?.length, 1, `one report:\n${r.stderr}`);
  });

  test('--json writes the final report as data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-cli-'));
    try {
      const file = join(dir, 'report.json');
      const r = await cli(fixture('exit', '--json', file));
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(report.schema, 'corral.run-report/v1');
      assert.equal(report.reason, 'exit');
      assert.equal(report.leaked, true);
      assert.equal(report.tasks.count, 1);
      assert.equal(report.tasks.unreachable, 0);
      assert.equal(report.drained, false, 'process.exit(): the loop had not drained');
      assert.deepEqual(report.handles.map((h: { description: string }) => h.description), ['setInterval 60000 ms']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a CLI installed elsewhere reads the program's own corral registry, not its own copy's", async () => {
    // A second copy of the package, as a global install would be: same code, other files, so
    // another module instance and another registry if the preload imported its own.
    const dir = mkdtempSync(join(tmpdir(), 'corral-cli-'));
    try {
      const copy = join(dir, 'node_modules', 'corral');
      cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') && !src.endsWith('.d.ts') });
      cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
      const file = join(dir, 'report.json');
      const r = await cli(fixture('drain', '--fail-on-leak', '--json', file), { main: join(copy, 'dist', 'cli', 'main.js') });
      assert.equal(r.code, 3, r.stderr);
      assertTaskReported(r.stderr);
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).corral, pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a program outside any project with corral still gets its handles reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-cli-'));
    try {
      const file = join(dir, 'plain.mjs');
      writeFileSync(file, 'function keepAlive() { return setInterval(() => {}, 60_000); }\nkeepAlive();\nprocess.exit(0);\n');
      const r = await cli(['run', '--fail-on-leak', '--', 'node', file]);
      assert.equal(r.code, 3, r.stderr);
      assertIncludes(r.stderr, `at keepAlive (${pathToFileURL(file).href}:1:`, 'the interval\'s site');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--report never runs the program without corral', async () => {
    const r = await cli(fixture('drain', '--report', 'never'));
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
  });

  test('usage errors exit 2 and say what to write instead', async () => {
    const npm = await cli(['run', '--', 'npm', 'start']);
    assert.equal(npm.code, 2);
    assertIncludes(npm.stderr, 'the program must be started with node (got "npm")', 'a non-node command');
    assertIncludes(npm.stderr, 'corral run -- node', 'with the form to use');
    const never = await cli(fixture('drain', '--report', 'never', '--fail-on-leak'));
    assert.equal(never.code, 2);
    assertIncludes(never.stderr, '--fail-on-leak needs a report; drop --report never', 'contradictory flags');
    const none = await cli(['run']);
    assert.equal(none.code, 2);
    assertIncludes(none.stderr, 'missing the program to run', 'no program');
    const bad = await cli(['run', '--report', 'sometimes', '--', 'node', FIXTURE]);
    assert.equal(bad.code, 2);
    assertIncludes(bad.stderr, '--report must be one of exit, never (got "sometimes")', 'a bad value');
  });
});
