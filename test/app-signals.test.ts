// App.main() in real processes: each test spawns test/fixtures/app/scenario.ts, signals it, and
// reads back the events it printed (the order hooks ran, with times), its report and exit code.
// The scenarios run in parallel: each child spends most of its time starting tsx.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const FIXTURE = fileURLToPath(new URL('./fixtures/app/scenario.ts', import.meta.url));

interface Event {
  what: string;
  at: number;
  deadlineIn?: number;
}

interface Child {
  events: Event[];
  report: any;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When 'exit' fired (performance.now() in this process). */
  exitedAt: number;
  /** The child's own "EXIT" line, if it printed one. */
  exit: { afterSignalMs: number } | undefined;
}

/**
 * Runs a scenario. `drive` is called with each stdout line as it arrives and a `kill` function
 * that records when it sent its signal, so a test can react to "READY" or to an event.
 */
function run(
  scenario: string,
  drive: (line: string, kill: (sig: NodeJS.Signals) => void) => void = () => {},
): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result: Child = { events: [], report: undefined, stderr: '', code: null, signal: null, exitedAt: 0, exit: undefined };
    let buf = '';
    const kill = (sig: NodeJS.Signals): void => void child.kill(sig);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('EVENT ')) result.events.push(JSON.parse(line.slice(6)) as Event);
        if (line.startsWith('REPORT ')) result.report = JSON.parse(line.slice(7));
        if (line.startsWith('EXIT ')) result.exit = JSON.parse(line.slice(5));
        drive(line, kill);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (result.stderr += d));
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`scenario ${scenario} did not exit within 10 s; stderr:\n${result.stderr}`));
    }, 10_000);
    child.on('exit', () => (result.exitedAt = performance.now()));
    // 'close', not 'exit': the last stdout lines may still be in the pipe when 'exit' fires.
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      result.code = code;
      result.signal = signal;
      resolve(result);
    });
  });
}

/** Sends `sig` once the child printed READY. */
const onReady =
  (sig: NodeJS.Signals) =>
  (line: string, kill: (s: NodeJS.Signals) => void): void => {
    if (line === 'READY') kill(sig);
  };

const names = (c: Child): string[] => c.events.map((e) => e.what);
const at = (c: Child, what: string): number => {
  const e = c.events.find((x) => x.what === what);
  assert.ok(e !== undefined, `event "${what}" happened (events: ${names(c).join(', ')})`);
  return e.at;
};

describe('App.main() in a child process', { concurrency: true }, () => {
  test('SIGTERM stops the app cleanly: hooks in order, exit code 0, listeners removed', async () => {
    const c = await run('clean', onReady('SIGTERM'));
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual(names(c), [
      'start worker', // db is a resource: already open; worker depends on it, api on worker
      'start api',
      'drainBegin worker',
      'drainBegin api',
      'stopAccepting worker',
      'stopAccepting api',
      'run worker saw cancel', // the root ctx is cancelled before any service stops
      'stop api',
      'stop worker',
      'close db',
    ]);
    assert.equal(c.report.ok, true);
    assert.equal(c.report.reason, 'SIGTERM');
    assert.equal(c.report.processExitCode, 0);
    assert.deepEqual(
      c.report.steps.map((s: { name: string }) => s.name),
      ['drain-begin', 'pre-stop-delay', 'stop-accepting', 'cancel-runs', 'stop-services'],
    );
    assert.deepEqual(c.report.listeners, { SIGINT: 0, SIGTERM: 0, uncaughtException: 0, unhandledRejection: 0 });
  });

  test('SIGINT stops the app cleanly too, with exit code 0', async () => {
    const c = await run('clean', onReady('SIGINT'));
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.report.reason, 'SIGINT');
    assert.ok(c.stderr.includes('received SIGINT: stopping'), `the signal is logged: ${c.stderr}`);
  });

  for (const [first, second, code] of [
    ['SIGTERM', 'SIGINT', 130],
    ['SIGTERM', 'SIGTERM', 143],
  ] as const) {
    test(`a second signal during the shutdown (${first} then ${second}) exits at once with ${code}`, async () => {
      let sentAt = 0;
      const c = await run('second-signal', (line, kill) => {
        if (line === 'READY') kill(first);
        if (line.includes('"stop api"')) {
          sentAt = performance.now();
          kill(second);
        }
      });
      assert.equal(c.code, code, c.stderr);
      assert.ok(sentAt > 0, 'the second signal was sent while the stop hung');
      assert.ok(c.exit, 'the child printed its exit line');
      assert.ok(c.exit.afterSignalMs < 100, `exited ${c.exit.afterSignalMs.toFixed(1)} ms after the second signal arrived`);
      // Seen from here, teardown and this runner's own load add to it; the hanging stop's
      // budget is 3 s, so anything near that would mean the exit waited for it.
      const seen = c.exitedAt - sentAt;
      assert.ok(seen < 1_000, `seen exiting ${seen.toFixed(1)} ms after the second signal was sent`);
      assert.equal(c.report, undefined, 'main() never returned: the exit was forced');
      assert.match(c.stderr, new RegExp(`received ${second} again during the shutdown \\(stop-services: waiting for "api"\\)`));
    });
  }

  test('a hanging stop hook times out at its stopTimeout, the next one still stops, exit code 1', async () => {
    const c = await run('hanging-stop', onReady('SIGTERM'));
    assert.equal(c.code, 1, c.stderr);
    const waited = at(c, 'stop db') - at(c, 'stop api');
    assert.ok(waited >= 190 && waited < 600, `db stopped ${waited} ms after api's stop began (stopTimeout 200)`);
    const [api, db] = c.report.services;
    assert.equal(api.name, 'api');
    assert.equal(api.timedOut, true);
    assert.match(api.error, /ServiceTimeoutError: stop of "api" did not finish within 200 ms/);
    assert.equal(db.ok, true);
    assert.equal(db.stopped, true);
    assert.equal(c.report.processExitCode, 1);
  });

  test('a throwing stop hook is recorded, the others still stop, exit code 1', async () => {
    const c = await run('throwing-stop', onReady('SIGTERM'));
    assert.equal(c.code, 1, c.stderr);
    assert.deepEqual(names(c).slice(-2), ['stop api', 'stop db']);
    assert.match(c.report.services[0].error, /api stop exploded/);
    assert.equal(c.report.services[1].ok, true);
    assert.match(c.stderr, /stop of "api" failed: Error: api stop exploded/);
  });

  test('resources close in reverse order, each within its own timeout', async () => {
    const c = await run('resources', onReady('SIGTERM'));
    assert.equal(c.code, 1, c.stderr); // the queue's close hung past its timeout
    assert.deepEqual(names(c), ['close cache', 'close queue', 'close db']);
    const queue = c.events[1]!;
    const db = c.events[2]!;
    assert.ok(queue.deadlineIn! > 100 && queue.deadlineIn! <= 150, `queue's ctx deadline is its 150 ms timeout (${queue.deadlineIn})`);
    assert.ok(db.deadlineIn! > 300 && db.deadlineIn! <= 400, `db's ctx deadline is its 400 ms timeout (${db.deadlineIn})`);
    const waited = db.at - queue.at;
    assert.ok(waited >= 140 && waited < 500, `db closed ${waited} ms after the queue's close began`);
    const byName = Object.fromEntries(c.report.services.map((s: { name: string }) => [s.name, s]));
    assert.equal(byName.cache.ok, true);
    assert.equal(byName.queue.timedOut, true);
    assert.equal(byName.db.ok, true, 'a resource after a timed-out one still closes');
  });

  for (const kind of ['uncaught', 'rejection'] as const) {
    const origin = kind === 'uncaught' ? 'uncaughtException' : 'unhandledRejection';
    test(`with handleUncaught, an ${origin} stops the app gracefully with exit code 1`, async () => {
      const c = await run(kind); // no signal: the error alone ends it
      assert.equal(c.code, 1, c.stderr);
      assert.equal(c.report.reason, origin);
      assert.equal(c.report.ok, false);
      assert.deepEqual(names(c).slice(-3), ['drainBegin api', 'stopAccepting api', 'stop api']);
      assert.match(c.stderr, new RegExp(`${origin}: Error: `));
      assert.deepEqual(c.report.listeners, { SIGINT: 0, SIGTERM: 0, uncaughtException: 0, unhandledRejection: 0 });
    });
  }

  test('a process that does not drain after the stop prints what keeps it alive and exits 1', async () => {
    let reportAt = 0;
    const c = await run('linger', (line, kill) => {
      if (line === 'READY') kill('SIGTERM');
      if (line.startsWith('REPORT ')) reportAt = performance.now();
    });
    assert.equal(c.code, 1, c.stderr);
    assert.equal(c.report.ok, true, 'the stop itself was clean');
    const ms = c.exitedAt - reportAt;
    assert.ok(ms >= 250 && ms < 2_000, `exited ${ms.toFixed(0)} ms after the stop (exitGrace 300)`);
    assert.match(c.stderr, /did not exit 300 ms after the app stopped; still keeping it alive: .*Timeout/);
  });
});
