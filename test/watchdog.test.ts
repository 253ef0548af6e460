import { test as nodeTest, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { App } from '../src/app/index.js';
import { Channel } from '../src/channel.js';
import { configure } from '../src/config.js';
import { background, withCancel, type Context } from '../src/context.js';
import { InvalidStateError } from '../src/errors.js';
import { go } from '../src/go.js';
import { Group } from '../src/group.js';
import { serve } from '../src/http/index.js';
import { liveCounts } from '../src/registry.js';
import { sleep } from '../src/timers.js';
import { Watchdog, type Alert, type WatchdogOptions } from '../src/inspect/watchdog.js';
import { collectGarbage } from './helpers/gc.js';
import { TASK_RULES_ONLY, watch } from './helpers/watchdog.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

configure({ spawnSites: 'always' });

const test = (name: string, fn: () => unknown): void => {
  nodeTest(name, { timeout: 20_000 }, fn as () => Promise<void>);
};

/** Tasks spawned here wait on a channel nobody sends on, until `ctx` ends: the seeds' lost result. */
function waitForever(g: Group, n: number, name: string, ctx: Context): void {
  const results = new Channel<boolean>();
  for (let i = 0; i < n; i++) {
    g.go(async () => {
      try {
        await results.recv(ctx);
      } catch {
        // Cancelled by the test's cleanup.
      }
    }, { name });
  }
}

/** Leaves the registry as the test found it. */
async function settle(...groups: Group[]): Promise<void> {
  for (const g of groups) {
    g.cancel();
    await g.wait().catch(() => {});
  }
}

describe('options', () => {
  test('bad options throw TypeError or RangeError naming the option', () => {
    assert.throws(() => new Watchdog({ intervall: 5 } as WatchdogOptions), { name: 'TypeError', message: /unknown option "intervall"/ });
    assert.throws(() => new Watchdog({ interval: 5 }), { name: 'RangeError', message: /interval/ });
    assert.throws(() => new Watchdog({ interval: '10s' as unknown as number }), { name: 'TypeError', message: /interval/ });
    assert.throws(() => new Watchdog({ rules: { growth: { samples: 0 } } }), { name: 'RangeError', message: /rules\.growth\.samples/ });
    assert.throws(() => new Watchdog({ rules: { growth: { perSec: 3 } as never } }), { name: 'TypeError', message: /"rules\.growth\.perSec"/ });
    assert.throws(() => new Watchdog({ rules: { leaks: true } as never }), { name: 'TypeError', message: /"rules\.leaks"/ });
    assert.throws(() => new Watchdog({ rules: { eventLoopUtilization: { max: 1.5 } } }), {
      name: 'RangeError',
      message: /rules\.eventLoopUtilization\.max/,
    });
    assert.throws(() => new Watchdog({ rules: { stuck: { severity: 'fatal' as never } } }), { name: 'RangeError', message: /rules\.stuck\.severity/ });
    assert.throws(() => new Watchdog({ rules: { stuck: { after: NaN } } }), { name: 'RangeError', message: /rules\.stuck\.after/ });
    assert.throws(() => new Watchdog({ rules: { warnings: { ignore: 'DeprecationWarning' as never } } }), { name: 'TypeError', message: /rules\.warnings\.ignore/ });
    assert.throws(() => new Watchdog({ rules: { liveTasks: 'yes' as never } }), { name: 'TypeError', message: /rules\.liveTasks/ });
    assert.throws(() => new Watchdog({ onAlert: 'log' as never }), { name: 'TypeError', message: /onAlert/ });
    assert.throws(() => new Watchdog({ app: {} as never }), { name: 'TypeError', message: /app must have/ });
    assert.throws(() => new Watchdog({ health: { after: 2 } }), { name: 'TypeError', message: /health needs app/ });
    const app = new App({ logger: false });
    assert.throws(() => new Watchdog({ app, health: { after: 0 } }), { name: 'RangeError', message: /health\.after/ });
    assert.throws(() => new Watchdog({ app, health: { rules: ['leak' as never] } }), { name: 'RangeError', message: /health\.rules/ });
    assert.throws(() => new Watchdog({ app, health: { rules: ['growthPerSite'] }, rules: { growth: false } }), {
      name: 'RangeError',
      message: /health\.rules names "growthPerSite", but that rule is off \(rules\.growth is false\)/,
    });
    assert.throws(() => new Watchdog({ app, health: { rules: ['heap'] }, rules: { heap: false } }), { name: 'RangeError', message: /rules\.heap is false/ });
    assert.throws(() => new Watchdog({ signals: [new AbortController()] as never }), { name: 'TypeError', message: /signals/ });
    assert.throws(() => new Watchdog({ ignore: [42] as never }), { name: 'TypeError', message: /ignore/ });
    assert.throws(() => new Watchdog({ clearAfter: 0 }), { name: 'RangeError', message: /clearAfter/ });
  });

  test('a watchdog that was never started holds no hook and no timer', () => {
    const before = process.listenerCount('warning');
    const { w } = watch();
    assert.equal(w.running, false);
    assert.equal(process.listenerCount('warning'), before);
    assert.equal(w.status().samples, 0);
  });
});

describe('the leak scenario', () => {
  test('a handler leaking one task per request under load is caught within three samples, and the alert names its spawn site', async () => {
    const { ctx: leakCtx, cancel: endLeaks } = withCancel(background());
    const results = new Channel<boolean>();
    // The seeds' ePRO handler: it saves the form, then checks medical terms in the background and
    // waits for a result that never comes.
    function leakyHandler(_req: unknown, res: { end(body: string): void }): void {
      go(async () => {
        try {
          await results.recv(leakCtx);
        } catch {
          // Ended by the test's cleanup.
        }
      }, { name: 'validate-terms' });
      res.end('saved');
    }
    const svc = serve(leakyHandler as never, { host: '127.0.0.1', port: 0 });
    await svc.start();
    const pool = new Pool(`http://127.0.0.1:${svc.port}`, { connections: 4 });
    const { w, fired } = watch();
    w.start(); // every hook on; the timer (10 s) never fires during the test
    const firstAt: Record<string, number> = {};
    try {
      for (let sampleNo = 1; sampleNo <= 5; sampleNo++) {
        // A batch of 60 requests at a steady pace of one per millisecond.
        const replies: Promise<unknown>[] = [];
        for (let i = 0; i < 60; i++) {
          replies.push(pool.request({ path: '/submit', method: 'POST', body: '{}' }).then((r) => r.body.text()));
          await delay(1);
        }
        await Promise.all(replies);
        const { fired: now } = w.sample();
        for (const a of now) firstAt[a.rule] ??= sampleNo;
      }
      assert.ok(firstAt.growthPerSite !== undefined && firstAt.growthPerSite <= 3, `growthPerSite alert at sample ${firstAt.growthPerSite}`);
      const alert = fired.find((a) => a.rule === 'growthPerSite') as Alert;
      const top = alert.sites?.[0];
      assert.equal(top?.name, 'validate-terms');
      assert.ok(top?.site?.includes('leakyHandler'), `the site names the handler: ${top?.site}`);
      assert.ok(top?.site?.includes('watchdog.test.ts'), `the site names the file: ${top?.site}`);
      assert.ok(top !== undefined && top.growthPerSec > 10 && top.count >= 60, `growth ${top?.growthPerSec}/s, ${top?.count} tasks`);
      assert.ok(alert.dump.includes('validate-terms') && alert.dump.includes('leakyHandler'), `the dump names the leak:\n${alert.dump}`);
      assert.equal(alert.severity, 'warning');
      assert.ok(alert.message.includes('validate-terms') && alert.message.includes('leakyHandler'), alert.message);
      // The service itself is fine: nothing else alerted.
      const others = fired.filter((a) => a.rule !== 'growthPerSite' && a.rule !== 'growth').map((a) => `${a.rule}: ${a.message}`);
      assert.deepEqual(others, []);
    } finally {
      w.stop();
      endLeaks();
      await pool.close();
      await svc.stop();
    }
  });

  test('a steady workload of thousands of short tasks per second raises no alert with the defaults', async () => {
    const { w, fired } = watch();
    w.start();
    const services = new Group(background(), { name: 'services' });
    // Long-lived tasks a real service has: a ticking loop and workers idle on a queue.
    const jobs = new Channel<number>(64);
    for (let i = 0; i < 4; i++) {
      services.go(async (ctx) => {
        for (;;) {
          const { ok } = await jobs.recv(ctx);
          if (!ok) return;
        }
      }, { name: 'worker' });
    }
    services.go(async (ctx) => {
      for (;;) await sleep(ctx, 5);
    }, { name: 'ticker' });
    let seen = 0;
    let busiest = 0;
    const t0 = performance.now();
    try {
      for (let s = 0; s < 40; s++) {
        const batch = new Group(background(), { name: 'requests' });
        for (let i = 0; i < 2_000; i++) {
          batch.go(async (ctx) => {
            // A mix of what short tasks do: yield, sleep a little, hand work to a worker.
            if (i % 3 === 0) await sleep(ctx, i % 4);
            else if (i % 3 === 1) await jobs.send(i, ctx);
            else await Promise.resolve();
          }, { name: i % 2 === 0 ? 'handle-request' : 'score-questionnaire' });
        }
        seen += 2_000;
        // Sampled while the batch is in flight: thousands of live tasks, a different count each time.
        const { readings } = w.sample();
        busiest = Math.max(busiest, readings.tasks);
        await batch.wait();
      }
      const perSec = seen / ((performance.now() - t0) / 1000);
      assert.ok(busiest >= 2_000, `samples saw the batches in flight (${busiest} live)`);
      assert.ok(perSec > 1_000, `thousands of tasks per second (${Math.round(perSec)}/s)`);
      assert.deepEqual(fired.map((a) => `${a.rule}: ${a.message}`), []);
    } finally {
      w.stop();
      jobs.close();
      await settle(services);
    }
  });
});

describe('task rules', () => {
  test('growth per site fires after `samples` growing steps, on the samples real timestamps', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'leaks' });
    // 20 tasks per step of at least 100 ms: at most ~200 tasks/s, and at least 5/s unless a step
    // took over 4 s.
    const { w, fired } = watch({ rules: { ...TASK_RULES_ONLY, growth: { perSite: 5, total: 1e9, samples: 2 } } });
    const slow = watch({ rules: { ...TASK_RULES_ONLY, growth: { perSite: 300, total: 1e9, samples: 2 } } });
    try {
      const firedAt: number[] = [];
      for (let s = 1; s <= 5; s++) {
        waitForever(g, 20, 'lost-result', ctx);
        await delay(100);
        if (w.sample().fired.some((a) => a.rule === 'growthPerSite')) firedAt.push(s);
        slow.w.sample();
      }
      assert.deepEqual(firedAt, [3]);
      const a = fired.find((x) => x.rule === 'growthPerSite') as Alert;
      const site = a.sites?.[0];
      assert.ok(site !== undefined && site.growthPerSec > 0 && site.growthPerSec <= 205, `growth ${site?.growthPerSec}/s`);
      assert.equal(a.threshold, 5);
      assert.deepEqual(slow.fired, [], 'below 300 tasks/s: no alert');
    } finally {
      cancel();
      await settle(g);
    }
  });

  test("with spawnSites 'sampled' a leaking name is still caught, and its dump shows the sampled spawn sites", async () => {
    configure({ spawnSites: 'sampled', sampleEvery: 8 });
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'leaks' });
    const { w, fired } = watch({ rules: { ...TASK_RULES_ONLY, growth: { perSite: 20, total: 1e9 } } });
    try {
      function spawnLeak(): void {
        waitForever(g, 40, 'lost-result', ctx);
      }
      for (let s = 0; s < 4; s++) {
        spawnLeak();
        await delay(20);
        w.sample();
      }
      const a = fired.find((x) => x.rule === 'growthPerSite');
      assert.ok(a !== undefined, 'alerted');
      assert.equal(a.sites?.[0]?.name, 'lost-result');
      assert.equal(a.sites?.[0]?.site, undefined, 'most tasks have no captured site');
      assert.ok(a.message.includes('(spawn site not captured)'), a.message);
      assert.ok(a.dump.includes('spawnLeak'), `the dump shows the sampled sites:\n${a.dump}`);
    } finally {
      configure({ spawnSites: 'always', sampleEvery: 64 });
      cancel();
      await settle(g);
    }
  });

  test('an alert is raised once while its cause stands and cleared after `clearAfter` quiet samples', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'leaks' });
    const { w, fired, cleared } = watch({ clearAfter: 2, rules: { ...TASK_RULES_ONLY, growth: { perSite: 1, total: 1e9, samples: 1 } } });
    try {
      for (let s = 0; s < 6; s++) {
        waitForever(g, 10, 'lost-result', ctx);
        await delay(5);
        w.sample();
      }
      assert.equal(fired.filter((a) => a.rule === 'growthPerSite').length, 1, 'one alert for one standing cause');
      assert.equal(w.status().active.length, 1);
      cancel();
      await settle(g);
      w.sample();
      assert.equal(cleared.length, 0, 'one quiet sample is not enough');
      w.sample();
      assert.equal(cleared.length, 1);
      assert.equal(cleared[0]?.rule, 'growthPerSite');
      assert.ok(cleared[0]?.clearedAt !== undefined && cleared[0].clearedAt >= cleared[0].at, 'clearedAt set');
      assert.equal(w.status().active.length, 0);
      const history = w.alerts();
      assert.equal(history.length, 1);
      assert.ok(history[0]?.clearedAt !== undefined, 'the history shows it cleared');
    } finally {
      cancel();
      await settle(g);
    }
  });

  test('tasks that end before the next sample never count as growth, however many run', async () => {
    const { w } = watch({ rules: { ...TASK_RULES_ONLY, growth: { perSite: 0, total: 0, samples: 1 } } });
    for (let s = 0; s < 10; s++) {
      const g = new Group(background(), { name: 'burst' });
      for (let i = 0; i < 500 * (s + 1); i++) g.go(async () => {}, { name: 'short' });
      const { readings, fired } = w.sample();
      assert.deepEqual(fired, [], `sample ${s}`);
      assert.equal(readings.retained, 0);
      assert.ok(readings.tasks >= 500 * (s + 1), `the burst is live at the sample (${readings.tasks})`);
      await g.wait();
    }
  });

  test('live tasks over the total and per-site thresholds alert with the top sites', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'crowd' });
    const { w, fired } = watch({ rules: { ...TASK_RULES_ONLY, liveTasks: { total: 100, perSite: 50 }, growth: false } });
    const base = liveCounts().tasks;
    try {
      function spawnMany(): void {
        waitForever(g, 80, 'many', ctx);
      }
      function spawnFew(): void {
        waitForever(g, 40, 'few', ctx);
      }
      spawnMany();
      spawnFew();
      const { readings } = w.sample();
      assert.equal(readings.tasks, base + 120);
      const total = fired.find((a) => a.rule === 'liveTasks');
      assert.equal(total?.value, base + 120);
      assert.equal(total?.threshold, 100);
      assert.equal(total?.severity, 'critical');
      assert.deepEqual(total?.sites?.slice(0, 2).map((s) => [s.name, s.count]), [['many', 80], ['few', 40]]);
      const perSite = fired.find((a) => a.rule === 'liveTasksPerSite');
      assert.equal(perSite?.sites?.length, 1, 'only the site over 50');
      assert.equal(perSite?.sites?.[0]?.count, 80);
      assert.ok(perSite?.sites?.[0]?.site?.includes('spawnMany'), `site: ${perSite?.sites?.[0]?.site}`);
      assert.ok(perSite?.dump.includes('80 tasks "many"'), perSite?.dump);
      assert.ok(!perSite?.dump.includes('"few"'), 'the dump shows only the offending site');
    } finally {
      cancel();
      await settle(g);
    }
  });

  test('tasks unchanged for longer than `after` are reported as stuck per site; tasks that keep changing state are not', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'stuck' });
    // Wide margins: a loaded machine can hold the event loop for tens of milliseconds, and a
    // ticking task's state is only as fresh as its last timer.
    const { w, fired } = watch({ rules: { ...TASK_RULES_ONLY, growth: false, stuck: { after: 300, count: 5 } } });
    try {
      function spawnStuck(): void {
        waitForever(g, 10, 'await-reply', ctx);
      }
      spawnStuck();
      for (let i = 0; i < 10; i++) {
        g.go(async (c) => {
          for (;;) await sleep(c, 1);
        }, { name: 'busy-loop' });
      }
      assert.deepEqual(w.sample().fired, [], 'nothing is stuck yet');
      await delay(500);
      const { fired: now } = w.sample();
      assert.equal(now.length, 1);
      const a = fired[0] as Alert;
      assert.equal(a.rule, 'stuck');
      assert.deepEqual(a.sites?.map((s) => [s.name, s.count]), [['await-reply', 10]]);
      assert.ok((a.sites?.[0]?.oldestMs ?? 0) >= 300, `oldest ${a.sites?.[0]?.oldestMs} ms`);
      assert.ok(a.sites?.[0]?.site?.includes('spawnStuck'), `site: ${a.sites?.[0]?.site}`);
      assert.ok(a.dump.includes('waiting: chan receive'), a.dump);
    } finally {
      cancel();
      await settle(g);
    }
  });

  test('ignored task names are left out of the per-site rules and still counted in the totals', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'ignored' });
    const { w, fired } = watch({ ignore: ['connection', /^session-/], rules: { ...TASK_RULES_ONLY, liveTasks: { total: 1e6, perSite: 10 } } });
    try {
      waitForever(g, 20, 'connection', ctx);
      waitForever(g, 20, 'session-7', ctx);
      const { readings } = w.sample();
      assert.ok(readings.tasks >= 40, 'counted in the total');
      assert.equal(fired.length, 0);
      waitForever(g, 20, 'other', ctx);
      w.sample();
      assert.deepEqual(fired.map((a) => a.sites?.map((s) => s.name)), [['other']]);
    } finally {
      cancel();
      await settle(g);
    }
  });
});

describe('process rules', () => {
  test('a blocked event loop alerts with its delay p99', async () => {
    const { w, fired } = watch({ rules: { eventLoopDelay: { p99: 50, resolution: 10 }, liveTasks: false, growth: false, stuck: false } });
    w.start();
    try {
      await delay(30);
      const end = Date.now() + 150;
      while (Date.now() < end);
      await delay(30);
      const { readings } = w.sample();
      assert.ok((readings.eventLoopDelayP99 ?? 0) >= 100, `p99 ${readings.eventLoopDelayP99} ms`);
      const a = fired.find((x) => x.rule === 'eventLoopDelay');
      assert.equal(a?.severity, 'critical');
      assert.equal(a?.threshold, 50);
    } finally {
      w.stop();
    }
  });

  test('event loop utilisation alerts only once it stayed above `max` for `forMs`', () => {
    const { w, fired } = watch({ rules: { eventLoopUtilization: { max: 0.5, forMs: 375 }, liveTasks: false, growth: false, stuck: false } });
    const busy = (ms: number): void => {
      const end = Date.now() + ms;
      while (Date.now() < end);
    };
    w.sample();
    busy(150);
    assert.ok((w.sample().readings.eventLoopUtilization ?? 0) > 0.5, 'busy');
    busy(150);
    w.sample();
    assert.equal(fired.length, 0, '~300 ms busy is not yet 375');
    busy(150);
    w.sample();
    assert.equal(fired[0]?.rule, 'eventLoopUtilization');
  });

  test('a heap that keeps rising after GCs alerts; one that falls back does not', async () => {
    const rules = { heap: { samples: 3, minGrowth: 8 * 1024 * 1024 }, liveTasks: false, growth: false, stuck: false, eventLoopUtilization: false } as const;
    const rising = watch({ rules });
    const steady = watch({ rules });
    rising.w.start();
    steady.w.start();
    // Arrays of doubles live on the V8 heap, 8 bytes each: 786,432 of them are 6 MiB.
    const kept: number[][] = [];
    try {
      for (let i = 0; i < 4; i++) {
        kept.push(new Array<number>(786_432).fill(i + 0.5));
        await collectGarbage(2);
        await delay(10); // the GC observer is called after the collection
        rising.w.sample();
      }
      const a = rising.fired.find((x) => x.rule === 'heap');
      assert.ok(a !== undefined && a.value >= 8 * 1024 * 1024, `heap alert: ${a?.message}`);
      kept.length = 0;
      rising.w.stop();
      for (let i = 0; i < 4; i++) {
        const garbage = new Array<number>(786_432).fill(i + 0.5);
        void garbage.length;
        await collectGarbage(2);
        await delay(10);
        const { readings } = steady.w.sample();
        assert.ok(readings.heapAfterGc !== undefined, 'a post-GC reading each time');
      }
      assert.deepEqual(steady.fired, []);
    } finally {
      rising.w.stop();
      steady.w.stop();
    }
  });

  test('active handles above `max` alert with their counts per type', () => {
    const base = process.getActiveResourcesInfo().length;
    const { w, fired } = watch({ rules: { ...TASK_RULES_ONLY, liveTasks: false, growth: false, stuck: false, handles: { max: base + 20 } } });
    const timers = Array.from({ length: 50 }, () => setTimeout(() => {}, 60_000));
    try {
      const { readings } = w.sample();
      assert.ok((readings.handles ?? 0) >= base + 50, `handles ${readings.handles}`);
      const a = fired.find((x) => x.rule === 'handles');
      assert.ok((a?.details?.Timeout ?? 0) >= 50, `Timeout x${a?.details?.Timeout}`);
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  });

  test("'abort' listeners piling up on a watched signal alert, and the app's root signal is watched", () => {
    const app = new App({ logger: false });
    const ac = new AbortController();
    const { w, fired } = watch({ app, signals: [ac.signal], rules: { ...TASK_RULES_ONLY, liveTasks: false, growth: false, stuck: false, abortListeners: { max: 10 } } });
    const listeners = Array.from({ length: 30 }, () => () => {});
    setMaxListeners(100, app.ctx.signal); // this test is about the watchdog, not Node's own warning
    for (const l of listeners) app.ctx.signal.addEventListener('abort', l);
    try {
      const { readings } = w.sample();
      assert.deepEqual(readings.abortListeners, [0, 30]);
      const a = fired.find((x) => x.rule === 'abortListeners');
      assert.equal(a?.value, 30);
      assert.deepEqual(a?.details, { 'signal 0': 0, 'signal 1': 30 });
    } finally {
      for (const l of listeners) app.ctx.signal.removeEventListener('abort', l);
    }
  });

  test('process warnings emitted while started alert (MaxListenersExceededWarning among them), and the listener goes with stop()', async () => {
    const before = process.listenerCount('warning');
    const { w, fired } = watch({ rules: { liveTasks: false, growth: false, stuck: false, eventLoopUtilization: false } });
    w.start();
    assert.equal(process.listenerCount('warning'), before + 1);
    const noisy = new EventEmitter();
    try {
      for (let i = 0; i < 11; i++) noisy.on('data', () => {});
      process.emitWarning('this one is ignored by default', 'DeprecationWarning');
      await delay(5); // warnings are emitted on the next tick
      w.sample();
      const a = fired.find((x) => x.rule === 'warnings');
      assert.ok((a?.details?.MaxListenersExceededWarning ?? 0) >= 1, `details: ${JSON.stringify(a?.details)}`);
      assert.equal(a?.details?.DeprecationWarning, undefined, 'DeprecationWarning is ignored by default');
      assert.ok(a?.message.includes('MaxListenersExceededWarning'), a?.message);
    } finally {
      w.stop();
      noisy.removeAllListeners();
    }
    assert.equal(process.listenerCount('warning'), before);
  });
});

describe('App health', () => {
  /** GET on loopback: [status, body]. */
  async function probe(port: number, path: string): Promise<[number, string]> {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return [res.status, await res.text()];
  }

  test("by default an alert marks the App not ready (serve()'s /readyz answers 503, liveness stays 200) and clears it when the cause goes", async () => {
    const app = new App({ logger: false });
    const svc = serve((_req, res) => res.end('ok\n'), { host: '127.0.0.1', port: 0 });
    app.add(svc);
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'crowd' });
    const base = liveCounts().tasks;
    const { w } = watch({
      app,
      health: { after: 2, clearAfter: 2 },
      rules: { ...TASK_RULES_ONLY, growth: false, liveTasks: { total: base + 10, perSite: 1e6 } },
    });
    try {
      await app.start();
      const port = svc.port as number;
      assert.deepEqual(await probe(port, '/readyz'), [200, 'ready\n']);
      waitForever(g, 20, 'crowd', ctx);
      w.sample();
      assert.deepEqual(await probe(port, '/readyz'), [200, 'ready\n'], 'one bad sample is not enough');
      w.sample();
      assert.deepEqual(await probe(port, '/readyz'), [503, 'not ready\n'], 'after 2 bad samples');
      assert.deepEqual(await probe(port, '/healthz'), [200, 'ok\n'], 'liveness is not touched by default');
      const h = app.health();
      assert.equal(h.ready, false);
      assert.equal(h.healthy, true);
      assert.equal(h.notReady.length, 1);
      assert.ok(h.notReady[0]?.startsWith('watchdog liveTasks:'), `reason: ${h.notReady[0]}`);
      assert.deepEqual(await probe(port, '/'), [200, 'ok\n'], 'a not-ready server still serves what reaches it');
      cancel();
      await settle(g);
      w.sample();
      assert.equal((await probe(port, '/readyz'))[0], 503, 'one good sample is not enough');
      w.sample();
      assert.deepEqual(await probe(port, '/readyz'), [200, 'ready\n'], 'after 2 good samples');
      assert.deepEqual(app.health().notReady, []);
      assert.equal(w.status().unhealthy, false);
    } finally {
      cancel();
      await settle(g);
      w.stop();
      await app.stop();
    }
  });

  test("mark 'liveness' marks the app unhealthy after `after` bad samples and withdraws only its own reason after `clearAfter` good ones", async () => {
    const app = new App({ logger: false });
    app.markUnhealthy('database unreachable');
    app.markUnready('warming cache');
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'crowd' });
    const base = liveCounts().tasks;
    const { w } = watch({
      app,
      health: { mark: 'liveness', after: 2, clearAfter: 2 },
      rules: { ...TASK_RULES_ONLY, growth: false, liveTasks: { total: base + 10, perSite: 1e6 } },
    });
    try {
      waitForever(g, 20, 'crowd', ctx);
      w.sample();
      assert.deepEqual(app.health().reasons, ['database unreachable'], 'one bad sample is not enough');
      w.sample();
      const reasons = app.health().reasons;
      assert.equal(reasons.length, 2);
      assert.ok(reasons[1]?.startsWith('watchdog liveTasks:'), `reason: ${reasons[1]}`);
      assert.deepEqual(app.health().notReady, ['warming cache'], 'readiness is not touched');
      assert.equal(w.status().unhealthy, true);
      cancel();
      await settle(g);
      w.sample();
      assert.equal(app.health().reasons.length, 2, 'one good sample is not enough');
      w.sample();
      assert.deepEqual(app.health().reasons, ['database unreachable'], "only the watchdog's reason is withdrawn");
      assert.deepEqual(app.health().notReady, ['warming cache']);
      assert.equal(w.status().unhealthy, false);
    } finally {
      cancel();
      await settle(g);
    }
  });

  test("mark 'both' marks readiness and liveness; stop() withdraws both and leaves others' reasons", async () => {
    const app = new App({ logger: false });
    app.markUnready('other component');
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'crowd' });
    const { w } = watch({
      app,
      health: { mark: 'both', after: 1, rules: ['liveTasksPerSite'] },
      rules: { ...TASK_RULES_ONLY, growth: false, liveTasks: { perSite: 5 } },
    });
    try {
      waitForever(g, 10, 'crowd', ctx);
      w.sample();
      assert.equal(app.health().healthy, false);
      assert.equal(app.health().notReady.length, 2);
      w.stop();
      assert.equal(app.health().healthy, true);
      assert.deepEqual(app.health().notReady, ['other component']);
    } finally {
      cancel();
      await settle(g);
    }
  });

  test('an app object without the methods health.mark needs, or an unknown mark, is refused', () => {
    const liveOnly = { markUnhealthy() {}, markHealthy() {} };
    assert.throws(() => new Watchdog({ app: liveOnly }), { name: 'TypeError', message: /missing markUnready, markReady/ });
    assert.doesNotThrow(() => new Watchdog({ app: liveOnly, health: { mark: 'liveness' } }));
    assert.throws(() => new Watchdog({ app: { markUnready() {}, markReady() {} }, health: { mark: 'both' } }), {
      name: 'TypeError',
      message: /missing markUnhealthy, markHealthy/,
    });
    const app = new App({ logger: false });
    assert.throws(() => new Watchdog({ app, health: { mark: 'restart' as never } }), { name: 'RangeError', message: /health\.mark/ });
  });
});

describe('lifecycle', () => {
  test('start and stop are idempotent, and the timer samples on its own', async () => {
    const before = process.listenerCount('warning');
    const { w } = watch({ interval: 20, rules: TASK_RULES_ONLY });
    w.start();
    w.start();
    const until = Date.now() + 5_000;
    while (w.status().samples < 3 && Date.now() < until) await delay(10);
    assert.ok(w.status().samples >= 3, `samples: ${w.status().samples}`);
    assert.equal(w.status().running, true);
    w.stop();
    w.stop();
    const n = w.status().samples;
    await delay(60);
    assert.equal(w.status().samples, n, 'no sample after stop()');
    assert.equal(w.running, false);
    assert.equal(process.listenerCount('warning'), before);
  });

  test('a started watchdog never keeps the process alive', async () => {
    const src = fileURLToPath(new URL('../src/inspect/watchdog.ts', import.meta.url));
    const code = `import { Watchdog } from ${JSON.stringify(src)}; new Watchdog({ interval: 10 }).start(); console.log('started');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const exit = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(killer);
    assert.equal(exit, 0);
    assert.equal(out.trim(), 'started');
  });

  test('sample() from inside a callback throws InvalidStateError; a callback that throws becomes a process warning', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'crowd' });
    let inner: unknown;
    const w = new Watchdog({
      rules: { ...TASK_RULES_ONLY, growth: false, liveTasks: { perSite: 1 } },
      onAlert: () => {
        try {
          w.sample();
        } catch (err) {
          inner = err;
        }
        throw new Error('pager down');
      },
    });
    const warnings: Error[] = [];
    const onWarning = (e: Error): void => void warnings.push(e);
    process.on('warning', onWarning);
    try {
      waitForever(g, 3, 'crowd', ctx);
      w.sample();
      await delay(5);
      assert.ok(inner instanceof InvalidStateError, 'nested sample refused');
      assert.ok(warnings.some((e) => (e as Error & { code?: string }).code === 'CORRAL_WATCHDOG' && e.message.includes('pager down')), 'warned');
    } finally {
      process.removeListener('warning', onWarning);
      cancel();
      await settle(g);
    }
  });

  test('alerts(), status() and sample() hand out plain data copies', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'crowd' });
    const { w } = watch({ rules: { ...TASK_RULES_ONLY, growth: false, liveTasks: { perSite: 2 } } });
    try {
      waitForever(g, 5, 'crowd', ctx);
      const { fired } = w.sample();
      assert.equal(fired.length, 1);
      const a = w.alerts()[0] as Alert;
      assert.deepEqual(JSON.parse(JSON.stringify(a)), a, 'plain data');
      a.message = 'changed';
      a.sites?.splice(0);
      assert.notEqual(w.alerts()[0]?.message, 'changed');
      assert.equal(w.alerts()[0]?.sites?.length, 1);
      const s = w.status();
      assert.deepEqual(structuredClone(s), s, 'status is plain data');
      const smp = w.sample();
      assert.deepEqual(structuredClone(smp), smp, 'so is a sample');
      assert.equal(s.active.length, 1);
      assert.ok(s.cost.last >= 0 && s.cost.max >= s.cost.last, 'costs');
    } finally {
      cancel();
      await settle(g);
    }
  });

  test('the default onAlert writes one line to stderr', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(background(), { name: 'crowd' });
    const w = new Watchdog({ rules: { ...TASK_RULES_ONLY, growth: false, liveTasks: { perSite: 2 } } });
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      waitForever(g, 5, 'crowd', ctx);
      w.sample();
    } finally {
      process.stderr.write = write;
      cancel();
      await settle(g);
    }
    assert.equal(lines.length, 1);
    assert.match(lines[0] as string, /^corral watchdog: critical liveTasksPerSite: 1 spawn site over 2 live tasks; worst "crowd" \(5\) at waitForever .*\n$/);
    assert.equal((lines[0] as string).split('\n').length, 2, 'one line');
  });
});
