import { test, describe, afterEach, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  background,
  CanceledError,
  DeadlineExceededError,
  withCancel,
  withValue,
  type Context,
} from '../src/index.js';
import { Group } from '../src/group.js';
import { rootGroup } from '../src/go.js';
import { inspectContext } from '../src/context.js';
import { snapshot } from '../src/registry.js';
import { every, sleep, timeout, type EveryTask } from '../src/timers.js';
import { mulberry32 } from './helpers/random.js';

// --- helpers ------------------------------------------------------------------------------------

/** A promise and its resolver, to drive schedules explicitly instead of sleeping. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

/** Lets every queued microtask run (setImmediate is never mocked here). */
const flush = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/** Mocked setTimeout and Date, starting at epoch 0. */
function mockClock(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
}

/**
 * Advances the mocked clock by `ms` in steps of `step`, letting promise continuations run after
 * each step, so a timer armed from a continuation is armed at the right mocked time.
 */
async function advance(t: TestContext, ms: number, step = ms): Promise<void> {
  await flush();
  for (let done = 0; done < ms; done += step) {
    t.mock.timers.tick(Math.min(step, ms - done));
    await flush();
  }
}

/** Ref'd timers keeping the event loop alive right now (unref'd ones are not listed). */
const liveTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

/** Tracks whether a promise has settled, without handling its rejection for the test. */
function track(p: PromiseLike<unknown>): { settled: boolean } {
  const s = { settled: false };
  p.then(
    () => (s.settled = true),
    () => (s.settled = true),
  );
  return s;
}

const isLive = (id: number): boolean => snapshot().tasks.some((x) => x.id === id);

// Whatever a test starts is stopped after it, even when an assertion failed half-way: a failing
// test must report, not hang the run on a ref'd hourly timer.
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A cancellable root context, cancelled after the test whatever happens. */
function scoped(): { ctx: Context; cancel: (cause?: unknown) => void } {
  const c = withCancel(background());
  cleanups.push(() => c.cancel());
  return c;
}

/** A context that lives for the whole test, to check nothing is left attached to it. */
const longLived = scoped;

function assertClean(ctx: Context): void {
  assert.deepEqual(inspectContext(ctx), { children: 0, timer: false, listener: false });
}

// --- sleep --------------------------------------------------------------------------------------

describe('sleep', () => {
  test('resolves after the given time and not before', async (t) => {
    mockClock(t);
    const p = sleep(background(), 100);
    const s = track(p);
    await advance(t, 99);
    assert.equal(s.settled, false);
    await advance(t, 1);
    assert.equal(s.settled, true);
    await p;
  });

  test('leaves no waiter on a long-lived context once it has slept', async () => {
    const parent = longLived();
    const p = sleep(parent.ctx, 1);
    assert.equal(inspectContext(parent.ctx)?.children, 1);
    await p;
    assertClean(parent.ctx);
  });

  test('rejects with ctx.err when the context is cancelled first, clearing its timer and waiter', async () => {
    const parent = longLived();
    const { ctx, cancel } = withCancel(parent.ctx);
    const before = liveTimeouts();
    const p = sleep(ctx, 60_000);
    // The sleep timer is ref'd, like setTimeout: it is listed as keeping the process alive.
    assert.equal(liveTimeouts(), before + 1);
    assert.equal(inspectContext(ctx)?.children, 1);
    const why = new Error('patient withdrew');
    cancel(why);
    const err = await p.then(
      () => assert.fail('sleep resolved'),
      (e: unknown) => e,
    );
    assert.equal(err, ctx.err);
    assert.ok(err instanceof CanceledError, 'err instanceof CanceledError');
    assert.equal(err.cause, why);
    assert.equal(liveTimeouts(), before);
    assertClean(ctx);
    assertClean(parent.ctx);
  });

  test('rejects at once with ctx.err when the context is already done, arming no timer', async () => {
    const { ctx, cancel } = withCancel(background());
    cancel();
    const before = liveTimeouts();
    const p = sleep(ctx, 60_000);
    assert.equal(liveTimeouts(), before);
    await assert.rejects(p, (e) => e === ctx.err);
    assertClean(ctx);
  });

  test("shows the waiting task as 'waiting: sleep' and restores its state afterwards", async (t) => {
    mockClock(t);
    const g = new Group(scoped().ctx, { name: 'sleepers' });
    let after: string | undefined;
    const task = g.go(
      async (ctx) => {
        await sleep(withValue(ctx, 'k', 1), 1_000);
        after = task.state;
      },
      { name: 'his-backoff' },
    );
    assert.equal(task.state, 'waiting: sleep');
    assert.equal(snapshot().tasks.find((x) => x.id === task.id)?.state, 'waiting: sleep');
    await advance(t, 1_000);
    await task;
    assert.equal(after, 'running');
    assert.equal(isLive(task.id), false);
  });

  test('waits in chunks when ms exceeds the largest delay setTimeout honours', async (t) => {
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    t.mock.method(globalThis, 'setTimeout', ((fn: () => void, ms: number) => {
      delays.push(ms);
      return real(fn, ms);
    }) as typeof setTimeout);
    const { ctx, cancel } = scoped();
    const p = sleep(ctx, 2 ** 31 + 5_000);
    cancel();
    await assert.rejects(p, CanceledError);
    assert.deepEqual(delays, [2 ** 31 - 1]);
  });

  test('rejects a bad duration with a RangeError naming ms, and a missing context with a TypeError', () => {
    for (const ms of [-1, NaN, Infinity, '5' as unknown as number]) {
      assert.throws(() => sleep(background(), ms), (e: unknown) => e instanceof RangeError && /\bms\b/.test(e.message));
    }
    assert.throws(() => sleep(undefined as unknown as Context, 1), TypeError);
  });
});

// --- timeout ------------------------------------------------------------------------------------

describe('timeout', () => {
  test("returns fn's result and detaches fn's context from the parent as soon as fn settles", async () => {
    const parent = longLived();
    let child: Context | undefined;
    const result = await timeout(parent.ctx, 60_000, async (ctx) => {
      child = ctx;
      assert.equal(inspectContext(parent.ctx)?.children, 1);
      assert.equal(inspectContext(ctx)?.timer, true);
      await flush();
      return 'P-0042';
    });
    assert.equal(result, 'P-0042');
    assert.ok(child !== undefined, 'child !== undefined');
    assert.equal(inspectContext(child)?.timer, false);
    assert.ok(child.err instanceof CanceledError, 'child.err instanceof CanceledError');
    assertClean(parent.ctx);
  });

  test("passes fn's rejection through unchanged and still clears its timer", async () => {
    const parent = longLived();
    const boom = new Error('HIS returned 500');
    let child: Context | undefined;
    await assert.rejects(
      timeout(parent.ctx, 60_000, (ctx) => {
        child = ctx;
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(inspectContext(child as Context)?.timer, false);
    assertClean(parent.ctx);
  });

  test('a fn that obeys its context rejects with the DeadlineExceededError when ms passes', async (t) => {
    mockClock(t);
    const parent = longLived();
    let child: Context | undefined;
    const p = timeout(parent.ctx, 100, (ctx) => {
      child = ctx;
      return sleep(ctx, 10_000);
    });
    const s = track(p);
    await advance(t, 99);
    assert.equal(s.settled, false);
    await advance(t, 1);
    await assert.rejects(p, (e) => e instanceof DeadlineExceededError && e === child?.err);
    assertClean(parent.ctx);
  });

  test('is cooperative: it never abandons fn and settles only when fn does, even past the deadline', async (t) => {
    mockClock(t);
    const parent = longLived();
    const g = gate<string>();
    let child: Context | undefined;
    const p = timeout(parent.ctx, 100, (ctx) => {
      child = ctx;
      return g.promise; // ignores its context
    });
    const s = track(p);
    await advance(t, 500);
    assert.ok(child?.err instanceof DeadlineExceededError, 'child?.err instanceof DeadlineExceededError');
    assert.equal(s.settled, false);
    g.open('late answer');
    assert.equal(await p, 'late answer');
    assertClean(parent.ctx);
  });

  test("rejects with the parent's error when the parent is cancelled while fn obeys", async () => {
    const root = longLived();
    const { ctx, cancel } = withCancel(root.ctx);
    const p = timeout(ctx, 60_000, (c) => sleep(c, 60_000));
    cancel();
    await assert.rejects(p, (e) => e === ctx.err);
    assertClean(root.ctx);
  });

  test('cannot forget to cancel: 1,000 calls on a long-lived context leave no child and no timer', async () => {
    const parent = longLived();
    const before = liveTimeouts();
    for (let i = 0; i < 1_000; i++) {
      await timeout(parent.ctx, 60_000, async (ctx) => {
        if (i % 2 === 0) await sleep(ctx, 0);
        return i;
      });
      await timeout(parent.ctx, 60_000, () => Promise.reject(new Error('x'))).catch(() => {});
    }
    assertClean(parent.ctx);
    assert.equal(liveTimeouts(), before);
  });

  test('does not call fn when its context is done from the start, and rejects with that error', async () => {
    const { ctx, cancel } = withCancel(background());
    cancel();
    let called = false;
    await assert.rejects(
      timeout(ctx, 1_000, () => (called = true)),
      (e) => e === ctx.err,
    );
    await assert.rejects(
      timeout(background(), 0, () => (called = true)),
      DeadlineExceededError,
    );
    assert.equal(called, false);
  });

  test('rejects bad arguments synchronously: RangeError naming ms, TypeError for ctx and fn', () => {
    for (const ms of [-5, NaN, Infinity]) {
      assert.throws(() => timeout(background(), ms, () => 1), (e: unknown) => e instanceof RangeError && /\bms\b/.test(e.message));
    }
    assert.throws(() => timeout(null as unknown as Context, 1, () => 1), TypeError);
    assert.throws(() => timeout(background(), 1, 'fn' as unknown as () => number), TypeError);
  });
});

// --- every --------------------------------------------------------------------------------------

const HOUR = 60 * 60_000;
const MINUTE = 60_000;

/** Awaits a task that must reject, returning its error. */
async function failureOf(task: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(task).then(
    () => assert.fail('the task fulfilled'),
    (e: unknown) => e,
  );
}

describe('every: schedule', () => {
  test('runs on a fixed-rate schedule (start + k*ms), not drifting by the run time', async (t) => {
    mockClock(t);
    const stopper = scoped();
    const starts: number[] = [];
    const task = every(stopper.ctx, 100, async (ctx) => {
      starts.push(Date.now());
      await sleep(ctx, 30);
    });
    await advance(t, 550, 10);
    assert.deepEqual(starts, [100, 200, 300, 400, 500]);
    assert.equal(task.runs, 5);
    assert.equal(task.skipped, 0);
    stopper.cancel();
    await failureOf(task);
  });

  test('with immediate, runs once at the start and then on every tick', async (t) => {
    mockClock(t);
    const stopper = scoped();
    const starts: number[] = [];
    const task = every(stopper.ctx, 100, () => void starts.push(Date.now()), { immediate: true });
    await advance(t, 250, 10);
    assert.deepEqual(starts, [0, 100, 200]);
    stopper.cancel();
    await failureOf(task);
  });

  test('never calls fn inside every() itself', async () => {
    const stopper = scoped();
    let calls = 0;
    const task = every(stopper.ctx, 60_000, () => void calls++, { immediate: true });
    assert.equal(calls, 0);
    assert.equal(task.runs, 0);
    await flush();
    assert.equal(calls, 1);
    stopper.cancel();
    await failureOf(task);
  });

  test("the seeds' hourly HIS sync that takes 90 minutes never overlaps, and 'skip' counts the dropped ticks", async (t) => {
    mockClock(t);
    const service = longLived();
    const { ctx, cancel } = withCancel(service.ctx);
    let concurrent = 0;
    let maxConcurrent = 0;
    const starts: number[] = [];
    const sync = every(
      ctx,
      HOUR,
      async (run) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        starts.push(Date.now());
        try {
          await sleep(run, 90 * MINUTE); // pulling admissions from the hospital system
        } finally {
          concurrent--;
        }
      },
      { name: 'his-sync' },
    );
    await advance(t, 6 * HOUR, MINUTE);
    assert.equal(maxConcurrent, 1);
    assert.deepEqual(starts, [1 * HOUR, 3 * HOUR, 5 * HOUR]);
    assert.equal(sync.runs, 3);
    assert.equal(sync.skipped, 2); // the 2h and 4h ticks fell during a run
    // Mid-run, the dump shows what the sync waits on, on the loop's own task.
    assert.equal(sync.state, 'waiting: sleep');
    // Shutdown: the sync in progress obeys its context; the loop ends with the context's error.
    cancel();
    const err = await failureOf(sync);
    assert.equal(err, ctx.err);
    assert.equal(sync.state, 'canceled');
    assert.equal(isLive(sync.id), false);
    assertClean(service.ctx);
  });

  test("with overlap 'wait', a run that overran a tick is followed at once, keeping at most one pending tick", async (t) => {
    mockClock(t);
    const stopper = scoped();
    const starts: number[] = [];
    const durations = [250, 10, 10];
    const task = every(
      stopper.ctx,
      100,
      async (ctx) => {
        starts.push(Date.now());
        await sleep(ctx, durations[starts.length - 1] ?? 10);
      },
      { overlap: 'wait' },
    );
    await advance(t, 450, 10);
    // 100→350 overran the ticks at 200 and 300: one is kept (run at 350), one is dropped.
    assert.deepEqual(starts, [100, 350, 400]);
    assert.equal(task.skipped, 1);
    stopper.cancel();
    await failureOf(task);
  });

  test('a tick that fires exactly as a run ends starts the next run at once', async (t) => {
    mockClock(t);
    const stopper = scoped();
    const starts: number[] = [];
    const task = every(stopper.ctx, 100, async (ctx) => {
      starts.push(Date.now());
      await sleep(ctx, 100);
    });
    await advance(t, 350, 10);
    assert.deepEqual(starts, [100, 200, 300]);
    assert.equal(task.skipped, 0);
    stopper.cancel();
    await failureOf(task);
  });

  test('jitter delays each tick by a random fraction of the period, on the same fixed-rate schedule', async (t) => {
    mockClock(t);
    t.mock.method(Math, 'random', () => 0.5);
    const stopper = scoped();
    const starts: number[] = [];
    const task = every(stopper.ctx, 100, () => void starts.push(Date.now()), { jitter: 0.2 });
    await advance(t, 350, 5);
    assert.deepEqual(starts, [110, 210, 310]);
    stopper.cancel();
    await failureOf(task);
  });

  test('randomized schedules match the model: one run at a time, ticks served or counted as skipped', async (t) => {
    // Model, from the contract: ticks at k*ms (k >= 1). After a run [s, e]: 'skip' drops the ticks
    // in (s, e) and starts at the first tick >= e; 'wait' starts at e if a tick fell in (s, e],
    // dropping all but one of them, else at the next tick.
    const ms = 10;
    const horizon = 400;
    for (const overlap of ['skip', 'wait'] as const) {
      for (let seed = 1; seed <= 25; seed++) {
        const rand = mulberry32(seed * 7919 + (overlap === 'wait' ? 1 : 0));
        const immediate = rand() < 0.5;
        const durations = Array.from({ length: 100 }, () => (rand() < 0.2 ? 0 : Math.floor(rand() * 35)));
        const expected: number[] = [];
        let expectedSkipped = 0;
        let s = immediate ? 0 : ms;
        for (let i = 0; s <= horizon; i++) {
          expected.push(s);
          const e = s + (durations[i] as number);
          const during = Math.max(0, Math.ceil(e / ms) - 1 - Math.floor(s / ms));
          const upTo = Math.floor(e / ms) - Math.floor(s / ms);
          let next: number;
          if (overlap === 'skip') {
            next = Math.max(Math.ceil(e / ms), Math.floor(s / ms) + 1) * ms;
            if (e <= horizon) expectedSkipped += during;
          } else if (upTo >= 1) {
            next = e;
            if (e <= horizon) expectedSkipped += upTo - 1;
          } else {
            next = (Math.floor(s / ms) + 1) * ms;
          }
          s = next;
        }

        t.mock.timers.reset();
        mockClock(t);
        const stopper = scoped();
        const starts: number[] = [];
        let concurrent = 0;
        let maxConcurrent = 0;
        const task = every(
          stopper.ctx,
          ms,
          async (ctx) => {
            const d = durations[starts.length] as number;
            starts.push(Date.now());
            concurrent++;
            maxConcurrent = Math.max(maxConcurrent, concurrent);
            try {
              if (d > 0) await sleep(ctx, d);
            } finally {
              concurrent--;
            }
          },
          { overlap, immediate },
        );
        await advance(t, horizon, 1);
        const where = `seed ${seed}, ${overlap}, immediate ${String(immediate)}`;
        assert.equal(maxConcurrent, 1, where);
        assert.deepEqual(starts, expected, where);
        assert.equal(task.runs, expected.length, where);
        assert.equal(task.skipped, expectedSkipped, where);
        stopper.cancel();
        assert.equal(await failureOf(task), stopper.ctx.err, where);
        assert.equal(isLive(task.id), false, where);
      }
    }
  });

  test('randomized jitter never makes runs overlap, and each run starts inside its jitter window', async (t) => {
    const ms = 20;
    const jitter = 0.5;
    for (let seed = 1; seed <= 10; seed++) {
      const rand = mulberry32(seed);
      t.mock.timers.reset();
      mockClock(t);
      t.mock.method(Math, 'random', rand);
      const stopper = scoped();
      const starts: number[] = [];
      let concurrent = 0;
      let maxConcurrent = 0;
      const task = every(
        stopper.ctx,
        ms,
        async (ctx) => {
          starts.push(Date.now());
          concurrent++;
          maxConcurrent = Math.max(maxConcurrent, concurrent);
          try {
            await sleep(ctx, 1 + Math.floor(rand() * 30));
          } finally {
            concurrent--;
          }
        },
        { jitter },
      );
      await advance(t, 400, 1);
      assert.equal(maxConcurrent, 1, `seed ${seed}`);
      for (const s of starts) {
        // A run starts at its tick's jittered time, rounded up to the 1 ms step of the mock clock.
        const offset = s % ms;
        assert.ok(offset <= jitter * ms, `seed ${seed}: a run started at ${s}, outside any jitter window`);
      }
      t.mock.restoreAll();
      stopper.cancel();
      await failureOf(task);
    }
  });
});

describe('every: cancellation and errors', () => {
  test('cancelling the context starts no new run, awaits the run in progress, then rejects with ctx.err', async () => {
    const service = longLived();
    const { ctx, cancel } = withCancel(service.ctx);
    const release = gate();
    const task = every(
      ctx,
      60_000,
      async () => {
        await release.promise; // ignores its context, like a sync writing its last batch
      },
      { immediate: true },
    );
    await flush();
    assert.equal(task.runs, 1);
    const s = track(task);
    cancel();
    await flush();
    await flush();
    assert.equal(s.settled, false);
    assert.equal(isLive(task.id), true);
    release.open();
    assert.equal(await failureOf(task), ctx.err);
    assert.equal(task.runs, 1);
    assert.equal(isLive(task.id), false);
    assertClean(service.ctx);
  });

  test("cancelled while waiting between runs, it rejects at once and leaves no timer (the wait is ref'd like setInterval)", async () => {
    const service = longLived();
    const { ctx, cancel } = withCancel(service.ctx);
    const before = liveTimeouts();
    const task = every(ctx, HOUR, () => {});
    await flush();
    assert.equal(task.state, 'waiting: every');
    assert.equal(liveTimeouts(), before + 1);
    cancel();
    assert.equal(await failureOf(task), ctx.err);
    assert.equal(liveTimeouts(), before);
    assert.equal(task.runs, 0);
    assert.equal(isLive(task.id), false);
    assertClean(service.ctx);
  });

  test('task.cancel() stops the loop the same way', async () => {
    const task = every(background(), HOUR, () => {});
    cleanups.push(() => task.cancel());
    await flush();
    task.cancel();
    const err = await failureOf(task);
    assert.ok(err instanceof CanceledError, 'err instanceof CanceledError');
    assert.equal(err, task.ctx.err);
    assert.equal(task.state, 'canceled');
  });

  test('with an already-done context, fn never runs and the task rejects with ctx.err', async () => {
    const { ctx, cancel } = withCancel(background());
    cancel();
    let calls = 0;
    const task = every(ctx, 10, () => void calls++, { immediate: true });
    assert.equal(await failureOf(task), ctx.err);
    assert.equal(calls, 0);
    assert.equal(isLive(task.id), false);
  });

  test('an error thrown by fn ends the loop, the task fails with it, and the owning group sees it', async (t) => {
    mockClock(t);
    const service = longLived();
    const g = new Group(service.ctx, { name: 'jobs' });
    const boom = new Error('HIS schema changed');
    let loop: EveryTask | undefined;
    let calls = 0;
    g.go(async (ctx) => {
      loop = every(
        ctx,
        10,
        () => {
          calls++;
          throw boom;
        },
        { immediate: true },
      );
      await loop.catch(() => {});
    });
    await advance(t, 50, 10);
    assert.equal(calls, 1);
    assert.equal(loop?.state, 'failed');
    assert.equal(await failureOf(loop as EveryTask), boom);
    await assert.rejects(g.wait(), (e) => e === boom);
    assertClean(service.ctx);
  });

  test('with onError, a failing run is reported and the loop goes on', async (t) => {
    mockClock(t);
    const stopper = scoped();
    const seen: unknown[] = [];
    const task = every(
      stopper.ctx,
      100,
      () => {
        if (task.runs % 2 === 1) throw new Error(`run ${task.runs}`);
      },
      { immediate: true, onError: (e) => void seen.push(e) },
    );
    await advance(t, 300, 10);
    assert.equal(task.runs, 4);
    assert.deepEqual(
      seen.map((e) => (e as Error).message),
      ['run 1', 'run 3'],
    );
    assert.equal(task.state, 'waiting: every');
    stopper.cancel();
    assert.equal(await failureOf(task), stopper.ctx.err);
  });

  test('an onError that throws ends the loop with its own error', async () => {
    const bad = new Error('logger down');
    const { ctx } = scoped();
    const task = every(ctx, HOUR, () => Promise.reject(new Error('run failed')), {
      immediate: true,
      onError: async () => {
        throw bad;
      },
    });
    assert.equal(await failureOf(task), bad);
    assert.equal(task.runs, 1);
  });

  test("a run's cancellation error when the context is not done is a run error, not a stop", async () => {
    const seen: unknown[] = [];
    const stopper = scoped();
    const task = every(stopper.ctx, HOUR, (ctx) => timeout(ctx, 0, () => 'never'), {
      immediate: true,
      onError: (e) => void seen.push(e),
    });
    await flush();
    await flush();
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof DeadlineExceededError, 'seen[0] instanceof DeadlineExceededError');
    assert.equal(task.state, 'waiting: every');
    stopper.cancel();
    await failureOf(task);
  });
});

describe('every: ownership and bookkeeping', () => {
  test('belongs to the group of the task that owns ctx, else to the root group', async () => {
    const g = new Group(scoped().ctx, { name: 'owner-group' });
    const release = gate();
    let inner: EveryTask | undefined;
    const owner = g.go(async (ctx) => {
      inner = every(withValue(ctx, 'site', 'A'), HOUR, () => {}, { name: 'his-sync' });
      await release.promise;
      inner.cancel();
      await inner.catch(() => {});
    });
    await flush();
    assert.equal(inner?.parent, g);
    assert.equal(inner?.name, 'his-sync');
    assert.equal(snapshot().tasks.find((x) => x.id === inner?.id)?.parentId, g.id);
    release.open();
    await owner;
    await g.wait();

    const orphan = every(background(), HOUR, function pollEpro() {});
    cleanups.push(() => orphan.cancel());
    assert.equal(orphan.parent, rootGroup());
    assert.equal(orphan.name, 'pollEpro');
    orphan.cancel();
    await failureOf(orphan);
  });

  test("between runs the task shows 'waiting: every'; during a run it is 'running'", async (t) => {
    mockClock(t);
    const stopper = scoped();
    const during: string[] = [];
    const task: EveryTask = every(stopper.ctx, 100, () => void during.push(task.state));
    await flush();
    assert.equal(task.state, 'waiting: every');
    assert.equal(snapshot().tasks.find((x) => x.id === task.id)?.state, 'waiting: every');
    await advance(t, 200, 10);
    assert.deepEqual(during, ['running', 'running']);
    assert.equal(task.state, 'waiting: every');
    stopper.cancel();
    await failureOf(task);
  });

  test('each run gets a context of its own, done when the run returns, so nothing a run derives outlives it', async (t) => {
    mockClock(t);
    const stopper = scoped();
    const runCtxs: Context[] = [];
    const task = every(stopper.ctx, 100, (ctx) => {
      runCtxs.push(ctx);
      withCancel(ctx); // derived and "forgotten" by the run
    });
    await advance(t, 300, 10);
    assert.equal(runCtxs.length, 3);
    assert.notEqual(runCtxs[0], runCtxs[1]);
    for (const c of runCtxs) {
      assert.ok(c.err instanceof CanceledError, 'c.err instanceof CanceledError');
      assertClean(c);
    }
    // Only the wait for the next tick hangs off the task's context.
    assert.equal(inspectContext(task.ctx)?.children, 1);
    stopper.cancel();
    await failureOf(task);
  });

  test("stopping through the caller's context is not a failure of the owning group", async () => {
    const g = new Group(scoped().ctx, { name: 'fail-fast' });
    const release = gate();
    const sibling = g.go(() => release.promise, { name: 'sibling' });
    let loop: EveryTask | undefined;
    // The owner starts a loop and returns: its context ends, and with it the loop.
    g.go((ctx) => {
      loop = every(ctx, HOUR, () => {});
    });
    const loopErr = await failureOf(loop as EveryTask);
    assert.ok(loopErr instanceof CanceledError, 'loopErr instanceof CanceledError');
    // A stopped loop must not fail the group: failFast would have cancelled the sibling.
    assert.equal(sibling.ctx.err, undefined);
    release.open();
    await g.wait();
  });

  test('a loop of the root group stopped by its context raises no unobserved-failure warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const { ctx, cancel } = scoped();
      every(ctx, HOUR, () => {});
      await flush();
      cancel();
      for (let i = 0; i < 5; i++) await flush();
      assert.deepEqual(
        warnings.filter((w) => (w as { code?: string }).code === 'CORRAL_UNOBSERVED_FAILURE'),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('waits for periods beyond the largest setTimeout delay in chunks', async (t) => {
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    t.mock.method(globalThis, 'setTimeout', ((fn: () => void, ms: number) => {
      delays.push(ms);
      return real(fn, ms);
    }) as typeof setTimeout);
    const task = every(background(), 40 * 24 * HOUR, () => {});
    cleanups.push(() => task.cancel());
    await flush();
    assert.ok(delays.length >= 1 && delays.every((d) => d <= 2 ** 31 - 1), `delays ${delays.join(', ')}`);
    task.cancel();
    await failureOf(task);
  });

  test('rejects bad options: TypeError naming an unknown key, RangeError naming ms, overlap or jitter', () => {
    const { ctx: bg } = scoped();
    const fn = (): void => {};
    const throwsNaming = (f: () => unknown, type: typeof TypeError | typeof RangeError, name: string): void =>
      assert.throws(f, (e: unknown) => e instanceof type && e.message.includes(name));
    throwsNaming(() => every(bg, 10, fn, { overlaps: 'skip' } as never), TypeError, 'overlaps');
    throwsNaming(() => every(bg, 10, fn, { overlap: 'queue' } as never), RangeError, 'overlap');
    for (const jitter of [-0.1, 1.5, NaN, '0.1']) {
      throwsNaming(() => every(bg, 10, fn, { jitter } as never), RangeError, 'jitter');
    }
    for (const ms of [0, -1, NaN, Infinity]) throwsNaming(() => every(bg, ms, fn), RangeError, 'ms');
    throwsNaming(() => every(bg, 10, fn, { immediate: 'yes' } as never), TypeError, 'immediate');
    throwsNaming(() => every(bg, 10, fn, { onError: 'log' } as never), TypeError, 'onError');
    throwsNaming(() => every(bg, 10, fn, { name: 7 } as never), TypeError, 'name');
    throwsNaming(() => every(bg, 10, 'fn' as never), TypeError, 'fn');
    throwsNaming(() => every(undefined as never, 10, fn), TypeError, 'ctx');
    // Nothing was spawned by the refused calls.
    assert.equal(
      snapshot().tasks.filter((x) => x.name === 'fn').length,
      0,
    );
  });
});
