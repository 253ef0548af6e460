// The ePRO demo when its terminology service hangs (the seeds' ePRO incident): the managed service
// keeps its tasks bounded, stays ready and keeps the watchdog quiet, and a SIGTERM in the middle
// hands back what it cut, for the next start; the --leaky service piles up tasks until the
// watchdog names the spawn site. The terminology service is a simulator in this process, switched
// between "answers" and "never answers" (hangRate 0 or 1), so every outcome is deterministic.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTerminologySim, type TerminologySim } from '../demo/src/terminology-sim.js';
import {
  Client,
  delay,
  liveTasks,
  randomSubmission,
  readDb,
  rng,
  startDemo,
  statusCounts,
  tempDir,
  until,
  watchdogStatus,
  ROOT,
  type DemoProcess,
  type Outcome,
} from '../demo/testing/harness.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const WATCHDOG_MS = 200;
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const ENV = { CORRAL_SPAWN_SITES: 'always' };

/** Posts `n` submissions at `rate`/s, keys `prefix-i`; every one must be answered 202. Returns their ids. */
async function post(client: Client, prefix: string, n: number, rate: number, rand: () => number): Promise<number[]> {
  const t0 = performance.now();
  const answers = [];
  for (let i = 0; i < n; i++) {
    answers.push(client.request('POST', '/submissions', randomSubmission(rand, i), { 'idempotency-key': `${prefix}-${i}` }));
    const wait = t0 + ((i + 1) * 1000) / rate - performance.now();
    if (wait > 0) await delay(wait);
  }
  const ids: number[] = [];
  for (const o of await Promise.all(answers)) {
    assert.ok(o.kind === 'answer' && o.status === 202, `answered 202 (${JSON.stringify(o)})`);
    if (o.kind === 'answer') ids.push(o.body.id);
  }
  return ids;
}

function assertProcessedOnce(dbPath: string, expected: number): void {
  const { submissions, events } = readDb(dbPath);
  assert.equal(submissions.length, expected);
  for (const s of submissions) {
    assert.equal(s.status, 'processed', `submission ${s.id} is processed`);
    assert.equal(events.filter((e) => e.id === s.id && e.kind === 'processed').length, 1, `submission ${s.id} was processed exactly once`);
  }
}

async function stopDemo(d: DemoProcess | undefined): Promise<void> {
  if (d === undefined || d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.kill('SIGKILL');
  await d.exited;
}

describe('the ePRO demo when the terminology service hangs', () => {
  test('managed: live tasks stay bounded, the watchdog stays quiet and readiness stays up; all is processed once it answers again', async () => {
    const dir = tempDir('hang');
    const dbPath = join(dir.path, 'epro.sqlite');
    const sim: TerminologySim = await startTerminologySim({ latencyMs: 5, hangRate: 0 });
    const rand = rng(7);
    let demo: DemoProcess | undefined;
    const client = new Client(0, 4);
    try {
      demo = await startDemo(
        ['--db', dbPath, '--terminology-url', sim.url, '--debug-port', '0', '--watchdog-interval', `${WATCHDOG_MS}ms`,
          '--concurrency', '4', '--queue-size', '8', '--call-timeout', '300ms', '--retry-base', '100ms', '--max-attempts', '50'],
        { env: ENV, verbose: true },
      );
      client.port = demo.port;
      const debugUrl = demo.debugUrl as string;
      assert.ok(debugUrl !== undefined, 'the debug endpoint is on');
      await post(client, 'before', 20, 40, rand);
      const baseline = (await liveTasks(debugUrl)).total;

      // The hang: every call from now on is never answered, for a while.
      const samplesBefore = (await watchdogStatus(debugUrl)).samples;
      sim.set({ hangRate: 1 });
      let maxTasks = 0;
      let maxHanging = 0;
      const watching = (async () => {
        for (let i = 0; i < 15; i++) {
          maxTasks = Math.max(maxTasks, (await liveTasks(debugUrl)).total);
          maxHanging = Math.max(maxHanging, sim.stats().hanging);
          const ready = await client.request('GET', '/readyz');
          const live = await client.request('GET', '/healthz');
          assert.ok(ready.kind === 'answer' && ready.status === 200, `ready during the hang (${JSON.stringify(ready)})`);
          assert.ok(live.kind === 'answer' && live.status === 200, `healthy during the hang (${JSON.stringify(live)})`);
          await delay(WATCHDOG_MS);
        }
      })();
      await post(client, 'during', 80, 40, rand);
      await watching;
      assert.ok(sim.stats().hung >= 8, `calls did hang (${sim.stats().hung})`);
      // Bounded by the pool (4 workers) plus the service's own long-lived tasks, whatever the load.
      assert.ok(maxTasks <= baseline + 4, `live tasks stayed bounded during the hang: at most ${maxTasks}, baseline ${baseline}`);
      assert.ok(maxHanging <= 4, `at most one hung call (and connection) per scorer at any time (${maxHanging})`);
      const wd = await watchdogStatus(debugUrl);
      assert.ok(wd.samples - samplesBefore >= 5, `the watchdog sampled during the hang (${wd.samples - samplesBefore} samples)`);
      assert.deepEqual(wd.active, [], 'no alert stands');
      assert.doesNotMatch(demo.stderr, /watchdog:/, 'the watchdog stayed quiet');

      sim.set({ hangRate: 0 });
      await until(() => statusCounts(dbPath).pending === 0, 'every submission to be processed once the service answers', 30_000, 100);
      assert.equal(sim.stats().hanging, 0, 'every hung call was given up by the client (its connection closed)');
      demo.kill('SIGTERM');
      const exit = await demo.exited;
      assert.equal(exit.code, 0, demo.stderr);
      assertProcessedOnce(dbPath, 100);
    } finally {
      client.close();
      await stopDemo(demo);
      await sim.close();
      dir.dispose();
    }
  });

  test('managed: a SIGTERM while calls hang hands back the jobs it cut; the restart processes them exactly once', async () => {
    const dir = tempDir('hang-term');
    const dbPath = join(dir.path, 'epro.sqlite');
    const sim = await startTerminologySim({ latencyMs: 5, hangRate: 1 });
    const rand = rng(8);
    let first: DemoProcess | undefined;
    let second: DemoProcess | undefined;
    const client = new Client(0, 4);
    // Calls time out after 30 s, the shutdown budget is 3 s: the drain must cut the calls.
    const args = ['--db', dbPath, '--terminology-url', sim.url, '--concurrency', '4', '--queue-size', '8', '--call-timeout', '30s', '--shutdown-timeout', '3s'];
    try {
      first = await startDemo(args, { verbose: true });
      client.port = first.port;
      await post(client, 'k', 20, 100, rand);
      await until(() => sim.stats().hanging === 4, 'the 4 scorers to be waiting on hung calls', 10_000, 20);
      const signalledAt = performance.now();
      first.kill('SIGTERM');
      const exit = await first.exited;
      assert.equal(exit.code, 0, first.stderr);
      // Within the budget: the App's own figure, and the process's exit seen from here (the
      // margin is the process's own exit after its report, on a loaded machine).
      const stoppedIn = Number(/stopped in ([\d.]+) ms \(SIGTERM\)/.exec(first.stderr)?.[1]);
      assert.ok(stoppedIn <= 3_000, `the shutdown took ${stoppedIn} ms, within its 3 s budget`);
      assert.ok(exit.at - signalledAt < 5_000, `the process exited ${Math.round(exit.at - signalledAt)} ms after the signal`);
      const handedBack = Number(/(\d+) handed back/.exec(first.stderr)?.[1]);
      assert.ok(handedBack >= 4, `the drain handed back the jobs it cut (${handedBack})\n${first.stderr}`);
      const { submissions } = readDb(dbPath);
      assert.deepEqual(
        submissions.map((s) => [s.status, s.attempts]),
        submissions.map(() => ['pending', 0]),
        'every submission is still pending, and a call the shutdown cut is not counted as an attempt',
      );

      sim.set({ hangRate: 0 });
      second = await startDemo(args, { verbose: true });
      await second.waitFor(/resuming 20 pending submission/, 5_000); // stderr: may come after the banner
      await until(() => statusCounts(dbPath).pending === 0, 'the restart to process them', 20_000, 50);
      second.kill('SIGTERM');
      assert.equal((await second.exited).code, 0, second.stderr);
      assertProcessedOnce(dbPath, 20);
    } finally {
      client.close();
      await stopDemo(first);
      await stopDemo(second);
      await sim.close();
      dir.dispose();
    }
  });

  test('--leaky: tasks pile up, the watchdog alerts within 3 samples and its dump names the leaking spawn site', async (t) => {
    const dir = tempDir('leaky');
    const sim = await startTerminologySim({ latencyMs: 5, hangRate: 1 });
    const rand = rng(9);
    let demo: DemoProcess | undefined;
    const client = new Client(0, 4);
    try {
      demo = await startDemo(
        // 120 submissions leave 240 tasks for good: past 150 the critical rule fires.
        ['--leaky', '--db', join(dir.path, 'epro.sqlite'), '--terminology-url', sim.url, '--debug-port', '0', '--watchdog-interval', `${WATCHDOG_MS}ms`,
          '--watchdog-max-tasks', '150'],
        { env: ENV, verbose: true },
      );
      client.port = demo.port;
      const debugUrl = demo.debugUrl as string;
      // The leak starts right after a sample: the count of samples it takes is then exact.
      const s0 = (await watchdogStatus(debugUrl)).samples;
      await until(async () => (await watchdogStatus(debugUrl)).samples > s0, 'the next watchdog sample', 5_000, 5);
      const leakFrom = (await watchdogStatus(debugUrl)).samples;
      const loading = post(client, 'leak', 120, 60, rand);
      const m = await demo.waitFor(/watchdog: warning growthPerSite \(sample (\d+)\)/, 15_000);
      await loading;
      assert.ok(Number(m[1]) - leakFrom <= 3, `the watchdog alerted ${Number(m[1]) - leakFrom} samples after the leak began (sample ${m[1]}, leak from ${leakFrom})`);
      t.diagnostic(`watchdog alert ${Number(m[1]) - leakFrom} samples (of ${WATCHDOG_MS} ms) after the leak began`);
      const { bySite } = await liveTasks(debugUrl);
      assert.ok((bySite.get('demo/src/leaky.ts:32') ?? 0) >= 100, `the leaked validation tasks are live (${JSON.stringify([...bySite])})`);
      const alert = demo.stderr.slice(demo.stderr.indexOf('watchdog: warning growthPerSite'));
      assert.match(alert, /tasks "validate submission" \[waiting: chan receive/);
      assert.match(alert, /at validateInBackground \(.*demo\/src\/leaky\.ts:\d+/);
      const wdRules = (await watchdogStatus(debugUrl)).active.map((a) => a.rule);
      assert.ok(
        ['growth', 'growthPerSite'].every((r) => wdRules.includes(r)),
        `the growth alerts stand (${wdRules})`,
      );
      // What an operator runs: `corral dump` and `corral top` name the site and the alerts.
      const run = promisify(execFile);
      const dumped = (await run(process.execPath, [CLI, 'dump', debugUrl], { cwd: ROOT })).stdout;
      assert.match(dumped, /\d+ tasks "validate submission" \[waiting: chan receive, oldest /);
      assert.match(dumped, /at validateInBackground \(.*demo\/src\/leaky\.ts:\d+/);
      const top = (await run(process.execPath, [CLI, 'top', debugUrl, '--once'], { cwd: ROOT })).stdout;
      assert.match(top, /validate submission/);
      assert.match(top, /demo\/src\/leaky\.ts:\d+/);
      assert.match(top, /growthPerSite/);
      // Growth is a warning; the live-task cap is critical: 3 samples past it take the instance
      // out of rotation (readiness 503, the watchdog's reason given), and liveness stays up.
      let ready: Outcome | undefined;
      await until(async () => {
        ready = await client.request('GET', '/readyz');
        return ready.kind === 'answer' && ready.status === 503;
      }, 'readiness to turn 503 on the critical alert', 10_000, WATCHDOG_MS / 2);
      assert.ok(ready?.kind === 'answer', 'readyz answered');
      if (ready?.kind === 'answer') {
        assert.equal(ready.body.state, 'ready', 'still running: out of rotation, not stopping');
        assert.equal(ready.body.notReady.length, 1, `one reason (${JSON.stringify(ready.body.notReady)})`);
        assert.match(ready.body.notReady[0], /^watchdog liveTasks: /);
      }
      const live = await client.request('GET', '/healthz');
      assert.ok(live.kind === 'answer' && live.status === 200 && live.body.healthy === true, `liveness untouched (${JSON.stringify(live)})`);
      assert.ok((await watchdogStatus(debugUrl)).active.some((a) => a.rule === 'liveTasks'), 'the critical alert stands');
      assert.match(demo.stderr, /watchdog: critical liveTasks/);
      demo.kill('SIGTERM');
      const exit = await demo.exited;
      // The interval nobody clears keeps the process alive: App.main() names it and exits 1.
      assert.equal(exit.code, 1);
      assert.match(demo.stderr, /still running: task "validate submission"/);
      assert.match(demo.stderr, /did not exit .* after the app stopped; still keeping it alive: .*Timeout/);
    } finally {
      client.close();
      await stopDemo(demo);
      await sim.close();
      dir.dispose();
    }
  });
});
