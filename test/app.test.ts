import { test as nodeTest, describe } from 'node:test';
import assert from 'node:assert/strict';
import { configure } from '../src/config.js';
import { background, type Context } from '../src/context.js';
import { InvalidStateError } from '../src/errors.js';
import { Group } from '../src/group.js';
import { sleep } from '../src/timers.js';
import {
  App,
  AppStartError,
  AppStopError,
  DependencyError,
  ServiceTimeoutError,
  type AppOptions,
  type Logger,
  type Service,
} from '../src/app/index.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

/** node:test's `test` with a time limit, so an app that never stops fails instead of hanging the run. */
const test = (name: string, fn: () => unknown): void => {
  nodeTest(name, { timeout: 10_000 }, fn as () => Promise<void>);
};

const never = (): Promise<never> => new Promise<never>(() => {});

/** An app that logs nothing, and a list every fake service writes its hook calls to. */
function setup(options: AppOptions = {}): { app: App; calls: string[]; svc: (name: string, extra?: Partial<Service>) => Service } {
  const app = new App({ logger: false, ...options });
  const calls: string[] = [];
  const svc = (name: string, extra: Partial<Service> = {}): Service => ({
    name,
    start: () => void calls.push(`start ${name}`),
    stop: () => void calls.push(`stop ${name}`),
    drainBegin: () => void calls.push(`drainBegin ${name}`),
    stopAccepting: () => void calls.push(`stopAccepting ${name}`),
    ...extra,
  });
  return { app, calls, svc };
}

describe('options', () => {
  test('bad options throw TypeError or RangeError naming the option', () => {
    assert.throws(() => new App({ nmae: 'x' } as AppOptions), { name: 'TypeError', message: /unknown option "nmae"/ });
    assert.throws(() => new App({ shutdownTimeout: -1 }), { name: 'RangeError', message: /shutdownTimeout/ });
    assert.throws(() => new App({ shutdownTimeout: Infinity }), { name: 'RangeError', message: /shutdownTimeout/ });
    assert.throws(() => new App({ startTimeout: NaN }), { name: 'RangeError', message: /startTimeout/ });
    assert.throws(() => new App({ preStopDelay: -5 }), { name: 'RangeError', message: /preStopDelay/ });
    assert.throws(() => new App({ preStopDelay: 5_000, shutdownTimeout: 5_000 }), {
      name: 'RangeError',
      message: /preStopDelay must be less than shutdownTimeout/,
    });
    assert.throws(() => new App({ exitGrace: -1 }), { name: 'RangeError', message: /exitGrace/ });
    assert.throws(() => new App({ signals: ['SIGKILL'] }), { name: 'RangeError', message: /signals.*"SIGKILL"/ });
    assert.throws(() => new App({ signals: ['SIGNOPE' as NodeJS.Signals] }), { name: 'RangeError', message: /signals/ });
    assert.throws(() => new App({ signals: 'SIGTERM' as unknown as NodeJS.Signals[] }), { name: 'TypeError', message: /signals/ });
    assert.throws(() => new App({ logger: { info() {} } as unknown as Logger }), { name: 'TypeError', message: /logger/ });
    assert.throws(() => new App({ handleUncaught: 1 as unknown as boolean }), { name: 'TypeError', message: /handleUncaught/ });
    assert.throws(() => new App({ name: '' }), { name: 'TypeError', message: /name/ });
    assert.throws(() => new App(null as unknown as AppOptions), { name: 'TypeError', message: /options must be an object/ });
  });

  test('defaults: name "app", exitGrace Infinity accepted, logger false accepted', () => {
    assert.equal(new App({ logger: false }).name, 'app');
    assert.equal(new App({ name: 'epro', exitGrace: Infinity, signals: [] }).name, 'epro');
  });

  test('bad services and resources throw at add time, naming the member', () => {
    const { app } = setup();
    assert.throws(() => app.add({ name: 'x', stop: 1 } as unknown as Service), { name: 'TypeError', message: /stop must be a function/ });
    assert.throws(() => app.add({ name: 'x', stopTimeout: -1 }), { name: 'RangeError', message: /stopTimeout/ });
    assert.throws(() => app.add({ name: 'x', dependsOn: 'db' } as unknown as Service), { name: 'TypeError', message: /dependsOn/ });
    assert.throws(() => app.add({} as Service), { name: 'TypeError', message: /name/ });
    assert.throws(() => app.resource('db', () => {}, { timout: 5 } as object), { name: 'TypeError', message: /unknown option "timout"/ });
    assert.throws(() => app.resource('db', () => {}, { timeout: -5 }), { name: 'RangeError', message: /timeout/ });
    assert.throws(() => app.resource('db', 'close' as unknown as () => void), { name: 'TypeError', message: /close must be a function/ });
  });
});

describe('dependencies', () => {
  test('a duplicate name throws DependencyError', () => {
    const { app, svc } = setup();
    app.resource('db', () => {});
    assert.throws(() => app.add(svc('db')), (e: unknown) => e instanceof DependencyError && e.kind === 'duplicate' && /"db"/.test(e.message));
    assert.throws(() => app.add(svc('a'), svc('a')), { code: 'ERR_CORRAL_APP_DEPENDENCY', message: /"a" is already used/ });
  });

  test('an unknown dependency throws at add time and says to add it first', () => {
    const { app, svc } = setup();
    assert.throws(
      () => app.add(svc('api', { dependsOn: ['db'] })),
      (e: unknown) => e instanceof DependencyError && e.kind === 'unknown' && /add "db" before "api"/.test(e.message),
    );
    assert.throws(() => app.resource('cache', () => {}, { dependsOn: ['nope'] }), { code: 'ERR_CORRAL_APP_DEPENDENCY' });
  });

  test('a cycle within one add() call throws DependencyError naming it', () => {
    const { app, svc } = setup();
    assert.throws(
      () => app.add(svc('a', { dependsOn: ['b'] }), svc('b', { dependsOn: ['c'] }), svc('c', { dependsOn: ['a'] })),
      (e: unknown) => e instanceof DependencyError && e.kind === 'cycle' && e.message.includes('a -> b -> c -> a') && e.cycle.join() === 'a,b,c,a',
    );
    assert.throws(() => app.add(svc('self', { dependsOn: ['self'] })), { message: /cycle: self -> self/ });
  });

  test('a rejected add() adds nothing', async () => {
    const { app, calls, svc } = setup();
    assert.throws(() => app.add(svc('ok'), svc('bad', { dependsOn: ['missing'] })), DependencyError);
    app.add(svc('ok')); // not a duplicate: the failed call left no trace
    await app.start();
    assert.deepEqual(calls, ['start ok']);
    await app.stop();
  });

  test('one add() call may list dependencies after their dependents', async () => {
    const { app, calls, svc } = setup();
    app.add(svc('api', { dependsOn: ['cache', 'db'] }), svc('cache', { dependsOn: ['db'] }), svc('db'));
    await app.start();
    await app.stop();
    assert.deepEqual(calls.filter((c) => /^(start|stop) /.test(c)), ['start db', 'start cache', 'start api', 'stop api', 'stop cache', 'stop db']);
  });
});

describe('start and stop', () => {
  test('starts in dependency order, stops in reverse, resources included; the report lists each', async () => {
    const { app, calls, svc } = setup();
    app.resource('db', () => void calls.push('close db'), { timeout: 1_000 });
    app.add(svc('worker', { dependsOn: ['db'] }));
    app.add(svc('api', { dependsOn: ['worker'] }));
    await app.start();
    assert.deepEqual(calls, ['start worker', 'start api']);
    const report = await app.stop();
    assert.deepEqual(calls.slice(-3), ['stop api', 'stop worker', 'close db']);
    assert.equal(report.ok, true);
    assert.equal(report.exitCode, 0);
    assert.equal(report.reason, 'stop()');
    assert.deepEqual(
      report.services.map((s) => [s.name, s.kind, s.started, s.stopped, s.ok]),
      [
        ['api', 'service', true, true, true],
        ['worker', 'service', true, true, true],
        ['db', 'resource', true, true, true],
      ],
    );
  });

  test('stop() is idempotent: a second call returns the same report promise', async () => {
    const { app, calls, svc } = setup();
    app.add(svc('a'));
    await app.start();
    const p1 = app.stop();
    const p2 = app.stop();
    assert.equal(p1, p2);
    await p1;
    assert.equal(app.stop(), p1);
    assert.equal(calls.filter((c) => c === 'stop a').length, 1);
  });

  test('start() twice returns the same promise and starts each service once', async () => {
    const { app, calls, svc } = setup();
    app.add(svc('a'));
    assert.equal(app.start(), app.start());
    await app.start();
    assert.deepEqual(calls, ['start a']);
    await app.stop();
  });

  test('add() after start and start() after stop throw InvalidStateError', async () => {
    const { app, svc } = setup();
    await app.start();
    assert.throws(() => app.add(svc('late')), InvalidStateError);
    assert.throws(() => app.resource('late', () => {}), InvalidStateError);
    await app.stop();
    const other = setup().app;
    await other.stop();
    await assert.rejects(other.start(), InvalidStateError);
  });

  test('a failed start stops only what started (the failed one included) and rejects with AppStartError', async () => {
    const { app, calls, svc } = setup();
    app.resource('db', () => void calls.push('close db'));
    app.add(svc('a'));
    app.add(
      svc('b', {
        dependsOn: ['a'],
        start: () => {
          calls.push('start b');
          throw new Error('port in use');
        },
      }),
    );
    app.add(svc('c', { dependsOn: ['b'] }));
    const err = await app.start().then(
      () => assert.fail('start should reject'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AppStartError, 'AppStartError');
    assert.equal(err.code, 'ERR_CORRAL_APP_START');
    assert.equal(err.service, 'b');
    assert.equal((err.cause as Error).message, 'port in use');
    assert.deepEqual(calls.filter((c) => !c.startsWith('drainBegin') && !c.startsWith('stopAccepting')), [
      'start a',
      'start b',
      'stop b',
      'stop a',
      'close db',
    ]);
    const r = err.report;
    assert.equal(r.exitCode, 1);
    assert.equal(r.reason, 'start failed: b');
    const c = r.services.find((s) => s.name === 'c');
    assert.deepEqual([c?.started, c?.stopped], [false, false]);
    assert.equal(r.services.find((s) => s.name === 'b')?.ok, false);
    assert.equal(await app.stop(), r, 'stop() returns the same report');
    assert.equal(app.health().state, 'stopped');
  });

  test('a start that outlives its startTimeout is cancelled, recorded as timed out, and stopped', async () => {
    const { app, calls, svc } = setup();
    let startCtx: Context | undefined;
    app.add(
      svc('slow', {
        startTimeout: 30,
        start: (ctx) => {
          startCtx = ctx;
          return never();
        },
      }),
    );
    const t0 = performance.now();
    const err = (await app.start().catch((e: unknown) => e)) as AppStartError;
    assert.ok(err instanceof AppStartError, 'AppStartError');
    assert.ok(performance.now() - t0 < 1_000, 'gave up at the start timeout');
    assert.ok(startCtx?.err !== undefined, "the start's ctx was cancelled");
    assert.ok(err.cause instanceof ServiceTimeoutError && err.cause.phase === 'start', 'the cause is a ServiceTimeoutError');
    assert.equal(err.report.services[0]?.timedOut, true);
    assert.ok(calls.includes('stop slow'), 'stop also runs for a start that timed out');
  });

  test('stop() during start cancels the start in flight and start() rejects with AppStartError', async () => {
    const { app, calls, svc } = setup();
    let startCtx: Context | undefined;
    app.add(svc('a'), svc('b', { dependsOn: ['a'], start: (ctx) => ((startCtx = ctx), never()) }), svc('c', { dependsOn: ['b'] }));
    const started = app.start().catch((e: unknown) => e);
    await sleep(background(), 10);
    const report = await app.stop();
    const err = await started;
    assert.ok(err instanceof AppStartError && err.service === undefined, 'stopped while starting');
    assert.ok(startCtx?.err !== undefined, "the start's ctx was cancelled");
    assert.equal(report.ok, true, 'a stop during start is not a failure');
    assert.ok(!calls.includes('start c'), 'nothing more starts');
    assert.ok(calls.includes('stop b') && calls.includes('stop a'), 'what started is stopped');
  });

  test('a throwing stop is recorded and the others still stop; exit code 1', async () => {
    const { app, calls, svc } = setup();
    app.add(svc('a'), svc('b', { dependsOn: ['a'], stop: () => Promise.reject(new Error('flush failed')) }));
    await app.start();
    const r = await app.stop();
    assert.ok(calls.includes('stop a'), 'a still stops');
    assert.equal(r.ok, false);
    assert.equal(r.exitCode, 1);
    assert.equal((r.services[0]?.error as Error).message, 'flush failed');
    assert.equal(r.services[0]?.stopped, false);
  });

  test('each stop has its own timeout; a hanging one is recorded and the next still stops', async () => {
    const { app, svc } = setup();
    let deadlineIn = 0;
    app.add(svc('a', { stopTimeout: 500, stop: (ctx) => void (deadlineIn = (ctx.deadline ?? 0) - Date.now()) }));
    app.add(svc('b', { dependsOn: ['a'], stopTimeout: 40, stop: () => never() }));
    await app.start();
    const t0 = performance.now();
    const r = await app.stop();
    const ms = performance.now() - t0;
    assert.ok(ms >= 35 && ms < 400, `b's stop was given up at its 40 ms (${ms.toFixed(0)} ms)`);
    const [b, a] = r.services;
    assert.equal(b?.timedOut, true);
    assert.ok(b?.error instanceof ServiceTimeoutError && b.error.limitMs === 40, 'a ServiceTimeoutError with the limit');
    assert.equal(a?.ok, true);
    assert.ok(deadlineIn > 400 && deadlineIn <= 500, `a's ctx carries its own 500 ms deadline (${deadlineIn})`);
  });

  test('the overall budget caps every stop; past it, stops are still called but not awaited', async () => {
    const { app, calls } = setup({ shutdownTimeout: 60 });
    let deadlineIn = -1;
    app.resource('db', (ctx) => {
      deadlineIn = (ctx.deadline ?? 0) - Date.now();
      calls.push('close db'); // synchronous: still counts
    });
    app.resource('queue', () => never(), { timeout: 10_000, dependsOn: ['db'] });
    const t0 = performance.now();
    const r = await app.stop();
    assert.ok(performance.now() - t0 < 500, 'the 60 ms budget bounds the 10 s resource timeout');
    assert.equal(r.services[0]?.timedOut, true);
    assert.ok(calls.includes('close db'), 'the last close is still called');
    assert.ok(deadlineIn <= 0, `its ctx is already past the deadline (${deadlineIn})`);
    assert.equal(r.services[1]?.ok, true, 'a synchronous close past the budget is not a timeout');
  });

  test('a stop that resolves { graceful: false } counts as failed, with its result kept', async () => {
    const { app, svc } = setup();
    const result = { graceful: false, forced: [{ method: 'GET', url: '/report', ms: 10_000 }] };
    app.add(svc('http', { stop: async () => result }));
    await app.start();
    const r = await app.stop();
    assert.equal(r.exitCode, 1);
    const s = r.services[0];
    assert.ok(s?.error instanceof AppStopError, 'AppStopError');
    assert.equal((s.error as AppStopError).result, result);
    assert.equal(s.result, result);
  });

  test('resources are closed even when the app never started', async () => {
    const { app, calls } = setup();
    app.resource('db', () => void calls.push('close db'));
    const r = await app.stop();
    assert.deepEqual(calls, ['close db']);
    assert.equal(r.ok, true);
  });
});

describe('the shutdown sequence', () => {
  test("start's ctx is the service's lifetime: live after the root is cancelled, ended once its stop is over", async () => {
    const { app, svc } = setup();
    let life: Context | undefined;
    const seen: string[] = [];
    app.add(
      svc('http', {
        start: (ctx: Context) => {
          life = ctx;
        },
        stop: () => {
          seen.push(`in stop: root done=${app.ctx.err !== undefined}, life done=${life?.err !== undefined}`);
        },
      }),
    );
    await app.start();
    assert.equal(life?.err, undefined, 'live while the app runs');
    await app.stop();
    assert.deepEqual(seen, ['in stop: root done=true, life done=false'], 'still live while the service drains');
    assert.ok(life?.err !== undefined, 'ended once its stop is over');
  });

  test('readiness off and drainBegin, preStopDelay, stopAccepting, ctx cancelled, runs awaited, then stops', async () => {
    const { app, calls, svc } = setup({ preStopDelay: 60 });
    const seen: string[] = [];
    let drainAt = 0;
    let acceptAt = 0;
    app.add(
      svc('worker', {
        drainBegin: () => {
          drainAt = performance.now();
          const h = app.health();
          seen.push(`drainBegin: ${h.state} ready=${h.ready}`);
        },
        stopAccepting: () => {
          acceptAt = performance.now();
          seen.push(`stopAccepting: ctx done=${app.ctx.err !== undefined}`);
        },
        run: async (ctx) => {
          await ctx.done;
          await sleep(background(), 20); // the run takes a moment to wind down
          seen.push('run ended');
        },
        stop: () => void seen.push(`stop: ctx done=${app.ctx.err !== undefined}`),
      }),
    );
    await app.start();
    assert.deepEqual(app.health(), { state: 'ready', healthy: true, ready: true, reasons: [], notReady: [] });
    const r = await app.stop();
    assert.deepEqual(seen, ['drainBegin: stopping ready=false', 'stopAccepting: ctx done=false', 'run ended', 'stop: ctx done=true']);
    assert.ok(acceptAt - drainAt >= 55, `preStopDelay separates drainBegin and stopAccepting (${(acceptAt - drainAt).toFixed(0)} ms)`);
    assert.deepEqual(
      r.steps.map((s) => s.name),
      ['drain-begin', 'pre-stop-delay', 'stop-accepting', 'cancel-runs', 'stop-services'],
    );
    const step = (n: string): number => r.steps.find((s) => s.name === n)?.ms ?? -1;
    assert.ok(step('pre-stop-delay') >= 55, `the delay step is timed (${step('pre-stop-delay')})`);
    assert.ok(step('cancel-runs') >= 15, `the run's wind-down is timed (${step('cancel-runs')})`);
    assert.equal(app.health().state, 'stopped');
    assert.equal(calls.length, 1, 'the default start ran');
  });

  test('shutdown hooks run only on services that started', async () => {
    const { app, calls, svc } = setup();
    app.add(svc('a', { start: () => Promise.reject(new Error('no')) }), svc('b', { dependsOn: ['a'] }));
    await app.start().catch(() => {});
    assert.deepEqual(calls, ['drainBegin a', 'stopAccepting a', 'stop a']);
  });

  test('a throwing drainBegin is recorded and the sequence goes on', async () => {
    const { app, calls, svc } = setup();
    app.add(svc('a', { drainBegin: () => { throw new Error('drain hook'); } }));
    await app.start();
    const r = await app.stop();
    assert.ok(calls.includes('stop a'), 'stop still ran');
    assert.equal((r.services[0]?.error as Error).message, 'drain hook');
  });

  test('a run that ignores the cancellation times out and is listed in stillRunning with its spawn site', async () => {
    configure({ spawnSites: 'always' });
    try {
      const { app, svc } = setup();
      let release!: () => void;
      app.add(svc('stubborn', { stopTimeout: 40, run: () => new Promise<void>((r) => (release = r)) }));
      await app.start();
      const r = await app.stop();
      const s = r.services[0];
      assert.ok(s?.error instanceof ServiceTimeoutError && s.error.phase === 'run', 'a run ServiceTimeoutError');
      const t = r.stillRunning.find((x) => x.name === 'stubborn run');
      assert.ok(t !== undefined, `the run task is still running: ${JSON.stringify(r.stillRunning)}`);
      assert.ok(t.spawnSite?.includes('app.test.ts'), `its spawn site: ${t.spawnSite}`);
      assert.ok(t.age >= 0, 'has an age');
      release();
    } finally {
      configure({ spawnSites: 'off' });
    }
  });

  test('tasks started under app.ctx see the cancellation before services stop', async () => {
    const { app, svc } = setup();
    let atStop = '';
    app.add(svc('db', { stop: () => void (atStop = t.state) }));
    await app.start();
    const group = new Group(app.ctx, { name: 'jobs' });
    const t = group.go((ctx) => sleep(ctx, 60_000), { name: 'sleeper' });
    await app.stop();
    assert.equal(atStop, 'canceled', 'the task had ended before the services stopped');
    await assert.rejects(group.wait(), { name: 'CanceledError' });
  });
});

describe('run', () => {
  test('a run that fails before the app stops stops it with exit code 1', async () => {
    const { app, calls, svc } = setup();
    app.add(svc('db'), svc('consumer', { dependsOn: ['db'], run: async () => { await Promise.resolve(); throw new Error('broker gone'); } }));
    await app.start();
    const r = await app.stop(); // already stopping: the run's failure triggered it
    assert.equal(r.reason, 'run failed: consumer');
    assert.equal(r.exitCode, 1);
    assert.equal((r.services[0]?.error as Error).message, 'broker gone');
    assert.ok(calls.includes('stop db'), 'the rest stopped');
  });

  test('a run that returns before the app stops ends the app cleanly', async () => {
    const { app, svc } = setup();
    app.add(svc('batch', { run: async () => {} }));
    await app.start().catch(() => {}); // it may end before start() resolves: then start() rejects
    await sleep(background(), 10);
    assert.equal(app.health().state, 'stopped');
    const r = await app.stop();
    assert.equal(r.reason, 'run ended: batch');
    assert.equal(r.exitCode, 0);
  });

  test('a run that rejects with its cancellation when stopped is not a failure', async () => {
    const { app, svc } = setup();
    app.add(svc('loop', { run: (ctx) => sleep(ctx, 60_000) }));
    await app.start();
    const r = await app.stop();
    assert.equal(r.ok, true);
  });
});

describe('the stop report', () => {
  test('a unit whose run and stop both take time reports its ms to 0.1 ms, never a float artefact like 1.2999999999999998', async () => {
    const { app, svc } = setup();
    const names = Array.from({ length: 24 }, (_, i) => `u${i}`);
    // Each unit's time is the run's wind-down plus its stop: two rounded readings added up.
    app.add(
      ...names.map((n) =>
        svc(n, {
          run: async (ctx) => {
            await ctx.done;
            await sleep(background(), 1);
          },
          stop: () => sleep(background(), 1),
        }),
      ),
    );
    await app.start();
    const r = await app.stop();
    const bad = r.services.filter((s) => !/^\d+(\.\d)?$/.test(String(s.ms)));
    assert.deepEqual(bad.map((s) => `${s.name}: ${s.ms}`), []);
  });
});

describe('health', () => {
  test('states go starting, ready, stopping, stopped; markUnhealthy/markHealthy drive healthy', async () => {
    const { app, svc } = setup();
    let during: string | undefined;
    app.add(svc('a', { stop: () => void (during = app.health().state) }));
    assert.deepEqual(app.health(), { state: 'starting', healthy: true, ready: false, reasons: [], notReady: [] });
    await app.start();
    app.markUnhealthy('event loop blocked 6 s');
    app.markUnhealthy('event loop blocked 6 s');
    assert.deepEqual(app.health(), { state: 'ready', healthy: false, ready: true, reasons: ['event loop blocked 6 s'], notReady: [] });
    app.markHealthy();
    assert.equal(app.health().healthy, true);
    assert.throws(() => app.markUnhealthy(''), TypeError);
    await app.stop();
    assert.equal(during, 'stopping');
    assert.equal(app.health().state, 'stopped');
  });

  test('markHealthy(reason) and markReady(reason) withdraw one reason; without one they clear all', async () => {
    const { app } = setup();
    await app.start();
    app.markUnhealthy('db down');
    app.markUnhealthy('loop blocked');
    app.markHealthy('db down');
    app.markHealthy('never given');
    assert.deepEqual(app.health().reasons, ['loop blocked']);
    app.markUnready('backlog');
    app.markUnready('cache cold');
    app.markUnready('backlog');
    assert.deepEqual(app.health(), { state: 'ready', healthy: false, ready: false, reasons: ['loop blocked'], notReady: ['backlog', 'cache cold'] });
    app.markReady('backlog');
    assert.equal(app.health().ready, false, 'one reason still stands');
    app.markReady();
    assert.equal(app.health().ready, true);
    app.markUnready('backlog');
    await app.stop();
    app.markReady();
    assert.equal(app.health().ready, false, 'markReady cannot make a stopped app ready');
    for (const m of ['markUnready', 'markReady', 'markHealthy'] as const) {
      assert.throws(() => app[m]('' as never), { name: 'TypeError', message: new RegExp(`App\\.${m}: reason`) });
      assert.throws(() => app[m](42 as never), { name: 'TypeError', message: /got 42/ });
    }
  });
});

describe('logger', () => {
  test('the logger gets the lifecycle; failures at error level', async () => {
    const lines: string[] = [];
    const logger: Logger = {
      info: (m) => void lines.push(`info ${m}`),
      warn: (m) => void lines.push(`warn ${m}`),
      error: (m) => void lines.push(`error ${m}`),
    };
    const app = new App({ name: 'epro', logger });
    app.add({ name: 'api', start() {}, stop: () => { throw new Error('x'); } });
    await app.start();
    await app.stop();
    assert.ok(lines.some((l) => l.startsWith('info started "api"')), lines.join('\n'));
    assert.ok(lines.includes('info ready'), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('error stop of "api" failed: Error: x')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('error stopped in')), lines.join('\n'));
  });

  test('the default logger writes to stderr; logger: false writes nothing', async () => {
    const written: string[] = [];
    const orig = process.stderr.write;
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const loud = new App({ name: 'loud' });
      await loud.start();
      await loud.stop();
      const quiet = new App({ name: 'quiet', logger: false });
      await quiet.start();
      await quiet.stop();
    } finally {
      process.stderr.write = orig;
    }
    assert.ok(written.some((w) => w.startsWith('[loud] ready')), written.join(''));
    assert.ok(!written.some((w) => w.includes('[quiet]')), written.join(''));
  });
});
