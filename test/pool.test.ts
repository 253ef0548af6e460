import { test as nodeTest, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { WorkerPool, PoolClosedError, PoolOverloadError } from '../src/pool/index.js';
import { background, withCancel, withTimeout, type Context } from '../src/context.js';
import { CanceledError, DeadlineExceededError, InvalidStateError } from '../src/errors.js';
import { dumpTasks } from '../src/dump.js';
import { liveCounts, snapshot } from '../src/registry.js';
import { mulberry32 } from './helpers/random.js';
import { ticks, turn } from './helpers/schedule.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

// --- helpers ------------------------------------------------------------------------------------

/** node:test's `test` with a time limit, so a pool that never settles fails the test instead of hanging the run. */
const test = (name: string, fn: () => unknown): void => {
  nodeTest(name, { timeout: 10_000 }, fn as () => Promise<void>);
};

interface Job {
  id: number;
  data?: string;
}
const job = (id: number): Job => ({ id });

type Pool = WorkerPool<Job, string>;
type Report = Awaited<ReturnType<Pool['shutdown']>>;
type Stats = ReturnType<Pool['stats']>;

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A handler whose jobs finish when the test says so. It records which jobs started, in order, and
 * how many ran at once. By default it obeys cancellation (rejects with ctx.err the moment its ctx
 * ends); `obeyCancel: false` makes it wait for the test whatever happens.
 */
class Jobs {
  readonly started: number[] = [];
  readonly active = new Set<number>();
  maxRunning = 0;
  private readonly runs = new Map<number, { ctx: Context; d: Deferred<string> }>();
  private readonly obeyCancel: boolean;
  constructor(obeyCancel = true) {
    this.obeyCancel = obeyCancel;
    benches.push(this);
  }
  readonly handler = (job: Job, ctx: Context): Promise<string> => {
    assert.equal(this.runs.has(job.id), false, `job ${job.id} started twice`);
    this.started.push(job.id);
    this.active.add(job.id);
    if (this.active.size > this.maxRunning) this.maxRunning = this.active.size;
    const d = deferred<string>();
    this.runs.set(job.id, { ctx, d });
    const outcome = this.obeyCancel
      ? Promise.race([d.promise, ctx.done.then(() => Promise.reject(ctx.err))])
      : d.promise;
    return outcome.finally(() => {
      this.active.delete(job.id);
    });
  };
  private run(id: number): { ctx: Context; d: Deferred<string> } {
    const r = this.runs.get(id);
    if (r === undefined) assert.fail(`job ${id} has not started`);
    return r;
  }
  ctx(id: number): Context {
    return this.run(id).ctx;
  }
  finish(id: number, value = `done ${id}`): void {
    this.run(id).d.resolve(value);
  }
  fail(id: number, err: unknown): void {
    this.run(id).d.reject(err);
  }
  /** Lets every started job finish (cleanup). */
  releaseAll(): void {
    for (const r of this.runs.values()) r.d.resolve('released');
  }
}

/** Follows a promise's outcome without leaving its rejection unhandled. */
function watch<T>(p: Promise<T>): { p: Promise<T>; state: 'pending' | 'resolved' | 'rejected'; value: T | undefined; err: unknown } {
  const w = { p, state: 'pending' as 'pending' | 'resolved' | 'rejected', value: undefined as T | undefined, err: undefined as unknown };
  p.then(
    (v) => {
      w.state = 'resolved';
      w.value = v;
    },
    (e: unknown) => {
      w.state = 'rejected';
      w.err = e;
    },
  );
  return w;
}

/** Polls `cond` (turns first, then 1 ms ref'd timers, which also keep the process alive). */
async function until(cond: () => boolean, what: string, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; !cond(); i++) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    if (i < 20) await turn();
    else await new Promise<void>((r) => setTimeout(r, 1));
  }
}

const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Awaits `p` while a ref'd interval keeps the event loop alive: corral's deadline timers are
 * unref'd, so a test awaiting only them would otherwise end with "the event loop has already
 * resolved".
 */
async function held<T>(p: Promise<T>): Promise<T> {
  const keep = setInterval(() => {}, 1_000);
  try {
    return await p;
  } finally {
    clearInterval(keep);
  }
}

/** The error a call throws or its promise rejects with. */
async function failureOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return assert.fail('expected a throw or a rejection');
}

const isErr =
  (Kind: new (...args: any[]) => Error, word?: string) =>
  (e: unknown): boolean =>
    e instanceof Kind && (word === undefined || e.message.includes(word));

const isClosed = (j: unknown) => (e: unknown): boolean => e instanceof PoolClosedError && e.job === j;
const isOverload = (j: unknown) => (e: unknown): boolean => e instanceof PoolOverloadError && e.job === j;

/** The chosen keys of a stats() object. */
function pick(s: Stats, keys: readonly string[]): Record<string, unknown> {
  const all = s as unknown as Record<string, unknown>;
  return Object.fromEntries(keys.map((k) => [k, all[k]]));
}
const SHAPE = ['workers', 'running', 'idle', 'queued', 'waitingSubmitters'] as const;
const COUNTERS = ['completed', 'failed', 'withdrawn', 'rejected'] as const;

/** Asserts the report's accounting identity: every accepted job is in exactly one bucket. */
function assertAccounted(
  r: Pick<Report, 'completed' | 'failed' | 'withdrawn'> & { unprocessed: unknown[]; interrupted: unknown[] },
  accepted: number,
): void {
  assert.equal(
    r.completed + r.failed + r.withdrawn + r.unprocessed.length + r.interrupted.length,
    accepted,
    `accepted ${accepted} = completed ${r.completed} + failed ${r.failed} + withdrawn ${r.withdrawn} + unprocessed ${r.unprocessed.length} + interrupted ${r.interrupted.length}`,
  );
}

const ids = (jobs: readonly Job[]): number[] => jobs.map((j) => j.id);
const sortedIds = (jobs: readonly Job[]): number[] => ids(jobs).sort((a, b) => a - b);

// Timers: corral's are unref'd, which process.getActiveResourcesInfo() does not list, so an
// async hook follows every Timeout from creation to destruction.
const liveTimers = new Map<number, number>();
let timerEpoch = 0;
createHook({
  init(id, type) {
    if (type === 'Timeout') liveTimers.set(id, timerEpoch);
  },
  destroy(id) {
    liveTimers.delete(id);
  },
}).enable();
const refTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

interface Baseline {
  counts: { tasks: number; groups: number };
  refTimeouts: number;
  epoch: number;
}
function baseline(): Baseline {
  return { counts: liveCounts(), refTimeouts: refTimeouts(), epoch: ++timerEpoch };
}

/** After a shutdown resolved: nothing of the pool named `name` is left, and no timer made since `b`. */
async function assertNothingLeft(name: string, b: Baseline): Promise<void> {
  await ticks(3);
  const snap = snapshot();
  assert.deepEqual(
    snap.tasks.filter((t) => t.name.startsWith(name)).map((t) => `${t.name} [${t.state}]`),
    [],
    'no worker task of the pool is left',
  );
  assert.deepEqual(snap.groups.filter((g) => g.name.startsWith(name)).map((g) => g.name), [], 'no group of the pool is left');
  assert.deepEqual(liveCounts(), b.counts, 'live tasks and groups are back to the baseline');
  assert.equal(refTimeouts(), b.refTimeouts, 'no ref’d timer is left');
  const left = [...liveTimers.values()].filter((epoch) => epoch >= b.epoch).length;
  assert.equal(left, 0, `no timer created during the test is left (found ${left})`);
}

// Pools and handlers made by a test, torn down after it even when it failed, so one failure
// does not leave workers or timers that hang the run.
const pools: WorkerPool<any, any>[] = [];
const benches: Jobs[] = [];
function own<P extends WorkerPool<any, any>>(p: P): P {
  pools.push(p);
  return p;
}
afterEach(async () => {
  for (const b of benches.splice(0)) b.releaseAll();
  for (const p of pools.splice(0)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      p.shutdown({ mode: 'abort' }).catch(() => {}),
      new Promise<void>((r) => (timer = setTimeout(r, 1_000))),
    ]);
    clearTimeout(timer);
  }
});

const noop = async (): Promise<void> => {};
const build = (opts: Record<string, unknown>): WorkerPool<unknown, void> => own(new WorkerPool(noop, opts as never));

// --- errors -------------------------------------------------------------------------------------

describe('WorkerPool: errors', () => {
  test("PoolClosedError and PoolOverloadError carry the job and the spec's stable codes", () => {
    const j = job(7);
    const closed = new PoolClosedError(j);
    const overload = new PoolOverloadError(j);
    assert.ok(closed instanceof Error && overload instanceof Error, 'both are Errors');
    assert.equal(closed.job, j);
    assert.equal(overload.job, j);
    assert.equal(closed.name, 'PoolClosedError');
    assert.equal(overload.name, 'PoolOverloadError');
    assert.equal(closed.code, 'ERR_CORRAL_POOL_CLOSED');
    assert.equal(overload.code, 'ERR_CORRAL_POOL_OVERLOAD');
  });
});

// --- construction -------------------------------------------------------------------------------

describe('WorkerPool: construction', () => {
  test('concurrency that is 0, negative or not an integer throws a RangeError naming concurrency', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity]) {
      assert.throws(() => build({ concurrency: bad }), isErr(RangeError, 'concurrency'), `concurrency ${bad}`);
    }
    assert.throws(
      () => build({ concurrency: '2' }),
      (e: unknown) => (e instanceof RangeError || e instanceof TypeError) && e.message.includes('concurrency'),
      'a string concurrency',
    );
  });

  test('minWorkers above concurrency, negative or not an integer throws a RangeError naming minWorkers', () => {
    for (const [minWorkers, concurrency] of [[4, 3], [2, 1], [-1, 2], [0.5, 2], [NaN, 2]] as const) {
      assert.throws(
        () => build({ minWorkers, concurrency }),
        isErr(RangeError, 'minWorkers'),
        `minWorkers ${minWorkers} with concurrency ${concurrency}`,
      );
    }
  });

  test('a negative or non-finite idleTimeout or jobTimeout throws a RangeError naming the option', () => {
    for (const key of ['idleTimeout', 'jobTimeout']) {
      for (const bad of [-1, NaN, Infinity, -Infinity]) {
        assert.throws(() => build({ [key]: bad }), isErr(RangeError, key), `${key} ${bad}`);
      }
    }
  });

  test('a queueSize or maxWaitingSubmitters that is negative or not an integer throws a RangeError naming it', () => {
    for (const key of ['queueSize', 'maxWaitingSubmitters']) {
      for (const bad of [-1, 2.5, NaN, -Infinity]) {
        assert.throws(() => build({ [key]: bad }), isErr(RangeError, key), `${key} ${bad}`);
      }
    }
  });

  test('the edge values 0 and Infinity are accepted where the spec allows them', async () => {
    for (const opts of [
      { queueSize: 0 },
      { queueSize: Infinity },
      { maxWaitingSubmitters: 0 },
      { maxWaitingSubmitters: Infinity },
      { idleTimeout: 0 },
      { jobTimeout: 0 },
      { minWorkers: 2, concurrency: 2 },
    ]) {
      const p = build(opts);
      await p.shutdown();
    }
  });

  test('an unknown option throws a TypeError naming it', () => {
    assert.throws(() => build({ concurency: 2 }), isErr(TypeError, 'concurency'), 'a misspelt option');
    assert.throws(() => build({ labels: {} }), isErr(TypeError, 'labels'), 'an option the pool does not have');
  });

  test('a handler that is not a function throws a TypeError', () => {
    for (const bad of [undefined, null, 42, 'handler', {}]) {
      assert.throws(() => own(new WorkerPool(bad as never)), TypeError, `handler ${String(bad)}`);
    }
  });

  test("onFull other than 'wait' or 'reject' throws a TypeError naming onFull", () => {
    for (const bad of ['drop', '', 'WAIT', 1]) {
      assert.throws(() => build({ onFull: bad }), isErr(TypeError, 'onFull'), `onFull ${String(bad)}`);
    }
  });

  test('a construction that throws registers nothing', () => {
    const before = liveCounts();
    assert.throws(() => build({ name: 'broken', concurrency: 2, minWorkers: 3 }), RangeError);
    assert.throws(() => build({ name: 'broken', minWorkers: 1, bogus: true }), TypeError);
    assert.deepEqual(liveCounts(), before);
    assert.equal(snapshot().groups.some((g) => g.name === 'broken'), false, 'no group named broken');
  });

  test('defaults: concurrency 1, open, no worker until the first job', () => {
    const pool = own(new WorkerPool<Job, string>(async () => 'x'));
    assert.equal(pool.concurrency, 1);
    assert.equal(pool.closed, false);
    const s = pool.stats();
    assert.equal(s.concurrency, 1);
    assert.deepEqual(pick(s, [...SHAPE, ...COUNTERS]), {
      workers: 0, running: 0, idle: 0, queued: 0, waitingSubmitters: 0,
      completed: 0, failed: 0, withdrawn: 0, rejected: 0,
    });
    assert.equal(s.latency.count, 0);
  });
});

describe('WorkerPool: submit options', () => {
  test('a negative or non-finite timeout is a RangeError naming timeout, and the job is not run', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler));
    for (const bad of [-1, NaN, Infinity]) {
      const e = await failureOf(() => pool.submit(job(1), { timeout: bad }));
      assert.ok(isErr(RangeError, 'timeout')(e), `timeout ${bad} gives a RangeError naming timeout (got ${String(e)})`);
    }
    await ticks();
    assert.deepEqual(jobs.started, []);
  });

  test('a label that is not a string and an unknown submit option are TypeErrors', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler));
    const e1 = await failureOf(() => pool.submit(job(1), { label: 42 as unknown as string }));
    assert.ok(isErr(TypeError, 'label')(e1), `a numeric label gives a TypeError naming label (got ${String(e1)})`);
    const e2 = await failureOf(() => pool.submit(job(2), { priority: 1 } as never));
    assert.ok(isErr(TypeError, 'priority')(e2), `an unknown option gives a TypeError naming it (got ${String(e2)})`);
    await ticks();
    assert.deepEqual(jobs.started, []);
  });
});

// --- results and failures -----------------------------------------------------------------------

describe('WorkerPool: results and failures', () => {
  test('submit resolves with what the handler returns, sync or async', async () => {
    const pool = own(new WorkerPool<number, number>((n) => (n % 2 === 1 ? n * 10 : Promise.resolve(n * 10)), { concurrency: 2 }));
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map((n) => pool.submit(n))), [10, 20, 30, 40]);
  });

  test("submit rejects with the handler's own error object", async () => {
    const boom = new Error('scan unreadable');
    const pool = own(new WorkerPool<Job, string>(async () => {
      throw boom;
    }));
    await assert.rejects(pool.submit(job(1)), (e) => e === boom);
  });

  test('a synchronous throw rejects the submit, never escapes, and the same worker runs the next job', async () => {
    const boom = new Error('sync boom');
    const pool = own(new WorkerPool<number, string>((n) => {
      if (n === 1) throw boom;
      return `ok ${n}`;
    }, { name: 'sync-throw', minWorkers: 1 }));
    await ticks();
    const workerIds = (): number[] => snapshot().tasks.filter((t) => t.name === 'sync-throw worker').map((t) => t.id);
    const before = workerIds();
    assert.equal(before.length, 1, 'one warm worker');
    let p!: Promise<string>;
    assert.doesNotThrow(() => {
      p = pool.submit(1);
    });
    await assert.rejects(p, (e) => e === boom);
    assert.equal(await pool.submit(2), 'ok 2');
    assert.deepEqual(workerIds(), before, 'the worker that ran the throwing job is still the only worker');
    assert.equal(pool.stats().failed, 1);
    assert.equal(pool.stats().completed, 1);
  });

  test('onError runs once per failed job with the error and the job, never for a success', async () => {
    const calls: [unknown, unknown][] = [];
    const syncErr = new Error('sync');
    const asyncErr = new Error('async');
    const jobsIn = [job(1), job(2), job(3), job(4)];
    const pool = own(new WorkerPool<Job, string>((j) => {
      if (j.id === 2) throw syncErr;
      if (j.id === 3) return Promise.reject(asyncErr);
      return Promise.resolve('ok');
    }, { onError: (err, j) => calls.push([err, j]) }));
    const results = await Promise.allSettled(jobsIn.map((j) => pool.submit(j)));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    await ticks();
    assert.equal(calls.length, 2, 'one onError call per failure');
    const byJob = new Map(calls.map(([e, j]) => [j, e]));
    assert.equal(byJob.get(jobsIn[1]), syncErr, 'the sync throw is reported with its job');
    assert.equal(byJob.get(jobsIn[2]), asyncErr, 'the rejection is reported with its job');
  });

  test('an onError that throws is reported as a process warning and the pool keeps working', async () => {
    const warnings: unknown[] = [];
    const onWarning = (w: unknown): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const boom = new Error('handler failed');
      const pool = own(new WorkerPool<number, string>((n) => {
        if (n === 1) throw boom;
        return `ok ${n}`;
      }, {
        onError: () => {
          throw new Error('onError itself failed');
        },
      }));
      await assert.rejects(pool.submit(1), (e) => e === boom);
      await ticks(3);
      assert.equal(warnings.length, 1, 'one process warning for the throwing onError');
      assert.equal(await pool.submit(2), 'ok 2');
      assert.equal(pool.stats().failed, 1);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('the pool itself never leaves an unhandled rejection behind', async () => {
    const seen: unknown[] = [];
    const onUnhandled = (r: unknown): void => {
      seen.push(r);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const jobs = new Jobs();
      const pool = own(new WorkerPool(jobs.handler, { concurrency: 2, onError: () => {} }));
      const sub = withCancel(background());
      const all = [
        watch(pool.submit(job(1))),
        watch(pool.submit(job(2))),
        watch(pool.submit(job(3), { ctx: sub.ctx })),
        watch(pool.submit(job(4))),
      ];
      await ticks();
      jobs.fail(1, new Error('failed'));
      sub.cancel();
      await ticks();
      const report = pool.shutdown({ mode: 'abort' });
      all.push(watch(pool.submit(job(5))));
      await report;
      await ticks(5);
      assert.ok(all.every((w) => w.state === 'rejected'), 'every submit rejected one way or another');
      assert.deepEqual(seen, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

// --- concurrency and backpressure ---------------------------------------------------------------

describe('WorkerPool: concurrency and backpressure', () => {
  test('never more than concurrency handlers run at once, and the limit is reached', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 3 }));
    const subs = Array.from({ length: 12 }, (_, i) => watch(pool.submit(job(i))));
    const rand = mulberry32(7);
    for (let guard = 0; jobs.active.size > 0 || jobs.started.length < 12; guard++) {
      assert.ok(guard < 100, 'the schedule finishes');
      await ticks(2);
      assert.ok(pool.stats().running <= 3, `stats().running ${pool.stats().running} <= 3`);
      const active = [...jobs.active];
      const pickId = active[Math.floor(rand() * active.length)];
      if (pickId !== undefined) jobs.finish(pickId);
    }
    await Promise.all(subs.map((s) => s.p));
    assert.equal(jobs.maxRunning, 3);
    assert.equal(jobs.started.length, 12);
  });

  test('a submit is accepted while a worker can take it or the queue has room, and waits beyond that', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2, queueSize: 2 }));
    const subs = [1, 2, 3, 4, 5].map((i) => watch(pool.submit(job(i))));
    await ticks();
    assert.deepEqual(jobs.started, [1, 2]);
    assert.deepEqual(pick(pool.stats(), SHAPE), { workers: 2, running: 2, idle: 0, queued: 2, waitingSubmitters: 1 });
    jobs.finish(1);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2, 3]);
    assert.deepEqual(pick(pool.stats(), SHAPE), { workers: 2, running: 2, idle: 0, queued: 2, waitingSubmitters: 0 });
    for (const id of [2, 3, 4, 5]) {
      jobs.finish(id);
      await ticks();
    }
    assert.deepEqual(await Promise.all(subs.map((s) => s.p)), [1, 2, 3, 4, 5].map((i) => `done ${i}`));
  });

  test('queueSize 0 hands jobs off: a submit is accepted only when a worker is free to take it', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 0 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const b = watch(pool.submit(job(2)));
    await ticks();
    assert.deepEqual(pick(pool.stats(), ['running', 'queued', 'waitingSubmitters']), { running: 1, queued: 0, waitingSubmitters: 1 });
    assert.equal(pool.trySubmit(job(3)), false, 'no room for a third job');
    assert.equal(b.state, 'pending');
    jobs.finish(1);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2]);
    assert.deepEqual(pick(pool.stats(), ['running', 'queued', 'waitingSubmitters']), { running: 1, queued: 0, waitingSubmitters: 0 });
    jobs.finish(2);
    assert.equal(await a.p, 'done 1');
    assert.equal(await b.p, 'done 2');
  });

  test("onFull 'reject': a submit with no room rejects at once with PoolOverloadError carrying the job", async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 1, onFull: 'reject' }));
    const a = watch(pool.submit(job(1)));
    const b = watch(pool.submit(job(2)));
    await ticks();
    const third = job(3);
    const c = watch(pool.submit(third));
    await turn();
    assert.equal(c.state, 'rejected', 'rejected without waiting');
    assert.ok(isOverload(third)(c.err), `PoolOverloadError carrying the job (got ${String(c.err)})`);
    assert.equal(pool.stats().rejected, 1);
    assert.equal(pool.stats().waitingSubmitters, 0);
    jobs.finish(1);
    await ticks();
    jobs.finish(2);
    await Promise.all([a.p, b.p]);
    const report = await pool.shutdown();
    assert.equal(report.completed, 2);
    assertAccounted(report, 2);
    assert.deepEqual(jobs.started, [1, 2]);
  });

  test("with onFull 'wait', a submit beyond maxWaitingSubmitters rejects with PoolOverloadError", async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 0, maxWaitingSubmitters: 2 }));
    const subs = [watch(pool.submit(job(1)))];
    await ticks();
    subs.push(watch(pool.submit(job(2))), watch(pool.submit(job(3))));
    const fourth = job(4);
    const d = watch(pool.submit(fourth));
    await turn();
    assert.equal(d.state, 'rejected', 'the third waiting submitter is turned away at once');
    assert.ok(isOverload(fourth)(d.err), `PoolOverloadError carrying the job (got ${String(d.err)})`);
    assert.equal(pool.stats().waitingSubmitters, 2);
    assert.equal(pool.stats().rejected, 1);
    for (const id of [1, 2, 3]) {
      await until(() => jobs.active.has(id), `job ${id} runs`);
      jobs.finish(id);
    }
    assert.deepEqual(await Promise.all(subs.map((s) => s.p)), ['done 1', 'done 2', 'done 3']);
  });

  test('maxWaitingSubmitters 0 turns away every submit that would wait', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 0, maxWaitingSubmitters: 0 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const second = job(2);
    await assert.rejects(pool.submit(second), isOverload(second));
    jobs.finish(1);
    assert.equal(await a.p, 'done 1');
  });

  test('waiting submitters are served first come, first served', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 1 }));
    const subs = [1, 2, 3, 4, 5, 6].map((i) => watch(pool.submit(job(i))));
    await ticks();
    assert.equal(pool.stats().waitingSubmitters, 4);
    for (let i = 1; i <= 6; i++) {
      await until(() => jobs.active.has(i), `job ${i} runs`);
      assert.deepEqual(jobs.started, Array.from({ length: i }, (_, k) => k + 1), 'jobs start in submission order');
      jobs.finish(i);
    }
    await Promise.all(subs.map((s) => s.p));
  });

  test('a waiting submit whose ctx ends rejects with ctx.err and leaves nothing waiting or queued', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 0 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const cancelled = withCancel(background());
    const timed = withTimeout(background(), 20);
    const b = watch(pool.submit(job(2), { ctx: cancelled.ctx }));
    const c = watch(pool.submit(job(3), { ctx: timed.ctx }));
    await ticks();
    assert.equal(pool.stats().waitingSubmitters, 2);
    cancelled.cancel(new Error('changed my mind'));
    await ticks();
    assert.equal(b.state, 'rejected');
    assert.equal(b.err, cancelled.ctx.err, 'rejects with the ctx.err itself');
    assert.ok(b.err instanceof CanceledError, 'a CanceledError');
    assert.equal(pool.stats().waitingSubmitters, 1);
    await held(c.p.catch(() => {}));
    assert.equal(c.err, timed.ctx.err, 'rejects with the ctx.err itself');
    assert.ok(c.err instanceof DeadlineExceededError, 'a DeadlineExceededError');
    assert.deepEqual(pick(pool.stats(), ['queued', 'waitingSubmitters', 'withdrawn']), { queued: 0, waitingSubmitters: 0, withdrawn: 0 });
    jobs.finish(1);
    await a.p;
    await ticks();
    assert.deepEqual(jobs.started, [1], 'the abandoned submits never reach a worker');
    const d = watch(pool.submit(job(4)));
    await until(() => jobs.active.has(4), 'job 4 runs');
    jobs.finish(4);
    await d.p;
    const report = await pool.shutdown();
    assert.equal(report.completed, 2);
    assert.equal(report.withdrawn, 0, 'never accepted, so not withdrawn');
    assertAccounted(report, 2);
  });

  test('a submit whose ctx is already done rejects with ctx.err at once and is not accepted', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler));
    const { ctx, cancel } = withCancel(background());
    cancel();
    await assert.rejects(pool.submit(job(1), { ctx }), (e) => e === ctx.err);
    await ticks();
    assert.deepEqual(jobs.started, []);
    const report = await pool.shutdown();
    assertAccounted(report, 0);
    assert.equal(report.withdrawn, 0);
  });
});

describe('WorkerPool: trySubmit', () => {
  test('trySubmit returns the promise of the result when there is room', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 1 }));
    const first = pool.trySubmit(job(1));
    assert.ok(first instanceof Promise, 'room in a free worker: a promise');
    const second = pool.trySubmit(job(2));
    assert.ok(second instanceof Promise, 'room in the queue: a promise');
    await ticks();
    assert.equal(pool.stats().queued, 1);
    jobs.finish(1);
    await until(() => jobs.active.has(2), 'job 2 runs');
    jobs.finish(2, 'second');
    assert.equal(await first, 'done 1');
    assert.equal(await second, 'second');
  });

  test('trySubmit returns false without waiting when there is no room, and the job never runs', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 0 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    assert.equal(pool.trySubmit(job(2)), false);
    assert.equal(pool.stats().waitingSubmitters, 0, 'trySubmit never waits');
    jobs.finish(1);
    await a.p;
    await ticks();
    assert.deepEqual(jobs.started, [1]);
  });

  test('trySubmit returns false once the pool is shut down', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 4 }));
    const report = pool.shutdown();
    assert.equal(pool.trySubmit(job(1)), false);
    await report;
    assert.equal(pool.trySubmit(job(2)), false);
    assert.deepEqual(jobs.started, []);
  });
});

// --- cancellation and timeouts ------------------------------------------------------------------

describe('WorkerPool: cancellation and timeouts', () => {
  test("ending the submitter's ctx cancels the running job's ctx; the submit settles with the handler's outcome", async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2 }));
    const sub = withCancel(background());
    const a = watch(pool.submit(job(1), { ctx: sub.ctx }));
    const b = watch(pool.submit(job(2)));
    await ticks();
    assert.equal(jobs.ctx(1).err, undefined);
    sub.cancel(new Error('patient withdrew'));
    await ticks();
    const hctx = jobs.ctx(1);
    assert.ok(hctx.err instanceof CanceledError, 'the handler ctx is cancelled');
    assert.equal(a.state, 'rejected');
    assert.equal(a.err, hctx.err, "the submit rejects with the handler's rejection");
    assert.equal(jobs.ctx(2).err, undefined, 'the other job is untouched');
    assert.equal(pool.stats().failed, 1, 'a handler rejection is a failure, whatever caused it');
    jobs.finish(2);
    await b.p;
  });

  test("a running job whose submitter gave up may still finish: the submit resolves with its result", async () => {
    const jobs = new Jobs(false);
    const pool = own(new WorkerPool(jobs.handler));
    const sub = withCancel(background());
    const a = watch(pool.submit(job(1), { ctx: sub.ctx }));
    await ticks();
    sub.cancel();
    await ticks();
    assert.ok(jobs.ctx(1).err instanceof CanceledError, 'the handler ctx is cancelled');
    jobs.finish(1, 'finished anyway');
    assert.equal(await a.p, 'finished anyway');
    assert.equal(pool.stats().completed, 1);
  });

  test('a queued job whose submitter ctx ends is withdrawn: it never starts and submit rejects with ctx.err', async () => {
    const jobs = new Jobs();
    const errors: unknown[] = [];
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, onError: (e) => errors.push(e) }));
    const a = watch(pool.submit(job(1)));
    const sub = withCancel(background());
    const b = watch(pool.submit(job(2), { ctx: sub.ctx }));
    await ticks();
    assert.equal(pool.stats().queued, 1);
    sub.cancel();
    await ticks();
    assert.equal(b.state, 'rejected');
    assert.equal(b.err, sub.ctx.err);
    assert.deepEqual(pick(pool.stats(), ['queued', 'withdrawn']), { queued: 0, withdrawn: 1 });
    jobs.finish(1);
    await a.p;
    await ticks();
    assert.deepEqual(jobs.started, [1], 'the withdrawn job never starts');
    assert.deepEqual(errors, [], 'onError is not called for a withdrawn job');
    const report = await pool.shutdown();
    assert.equal(report.withdrawn, 1);
    assert.equal(report.completed, 1);
    assertAccounted(report, 2);
  });

  test('jobTimeout ends the handler ctx with DeadlineExceededError', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { jobTimeout: 20 }));
    const started = Date.now();
    const a = watch(pool.submit(job(1)));
    await held(a.p.catch(() => {}));
    assert.ok(Date.now() - started >= 15, `not before the timeout (${Date.now() - started} ms)`);
    assert.ok(jobs.ctx(1).err instanceof DeadlineExceededError, 'the handler ctx ended with DeadlineExceededError');
    assert.ok(a.err instanceof DeadlineExceededError, `the submit rejects with it (got ${String(a.err)})`);
  });

  test('the timeout submit option overrides jobTimeout, shorter or longer', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2, jobTimeout: 60_000 }));
    const a = watch(pool.submit(job(1), { timeout: 20 }));
    await held(a.p.catch(() => {}));
    assert.ok(a.err instanceof DeadlineExceededError, `a shorter timeout wins (got ${String(a.err)})`);

    const jobs2 = new Jobs();
    const pool2 = own(new WorkerPool(jobs2.handler, { jobTimeout: 20 }));
    const b = watch(pool2.submit(job(2), { timeout: 60_000 }));
    await ticks();
    await sleep(60);
    assert.equal(jobs2.ctx(2).err, undefined, 'a longer timeout wins over jobTimeout');
    jobs2.finish(2);
    assert.equal(await b.p, 'done 2');
  });

  test('without jobTimeout or timeout the handler ctx has no deadline', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler));
    const a = watch(pool.submit(job(1)));
    await ticks();
    assert.equal(jobs.ctx(1).deadline, undefined);
    jobs.finish(1);
    await a.p;
  });
});

// --- resize -------------------------------------------------------------------------------------

describe('WorkerPool: resize', () => {
  test('resize rejects anything but a positive integer with a RangeError and keeps the limit', () => {
    const pool = own(new WorkerPool<Job, string>(async () => 'x', { concurrency: 2 }));
    for (const bad of [0, -1, 1.5, NaN, Infinity]) {
      assert.throws(() => pool.resize(bad), RangeError, `resize(${bad})`);
    }
    assert.equal(pool.concurrency, 2);
  });

  test('raising the limit at once starts queued jobs and lets waiting submitters in', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 1 }));
    const subs = [1, 2, 3].map((i) => watch(pool.submit(job(i))));
    await ticks();
    assert.deepEqual(pick(pool.stats(), ['running', 'queued', 'waitingSubmitters']), { running: 1, queued: 1, waitingSubmitters: 1 });
    pool.resize(3);
    assert.equal(pool.concurrency, 3);
    assert.equal(pool.stats().concurrency, 3);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2, 3]);
    assert.deepEqual(pick(pool.stats(), ['running', 'queued', 'waitingSubmitters']), { running: 3, queued: 0, waitingSubmitters: 0 });
    for (const i of [1, 2, 3]) jobs.finish(i);
    await Promise.all(subs.map((s) => s.p));
    assert.equal(jobs.maxRunning, 3);
  });

  test('raising the limit admits waiting submitters first come, first served', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 0 }));
    const subs = [1, 2, 3, 4].map((i) => watch(pool.submit(job(i))));
    await ticks();
    assert.deepEqual(jobs.started, [1]);
    assert.equal(pool.stats().waitingSubmitters, 3);
    pool.resize(2);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2], 'the oldest waiting submitter goes first');
    pool.resize(3);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2, 3]);
    for (const i of [1, 2, 3]) jobs.finish(i);
    await until(() => jobs.active.has(4), 'job 4 runs');
    jobs.finish(4);
    await Promise.all(subs.map((s) => s.p));
  });

  test('lowering the limit interrupts no running job; running falls to the new limit as jobs finish', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 3 }));
    const subs = [1, 2, 3, 4, 5, 6].map((i) => watch(pool.submit(job(i))));
    await ticks();
    assert.deepEqual(jobs.started, [1, 2, 3]);
    pool.resize(1);
    assert.equal(pool.concurrency, 1);
    await ticks();
    for (const i of [1, 2, 3]) assert.equal(jobs.ctx(i).err, undefined, `job ${i} keeps running`);
    assert.equal(pool.stats().running, 3);
    jobs.finish(1);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2, 3], 'no new job while over the new limit');
    assert.equal(pool.stats().running, 2);
    jobs.finish(2);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2, 3]);
    assert.equal(pool.stats().running, 1);
    jobs.finish(3);
    await ticks();
    assert.deepEqual(jobs.started, [1, 2, 3, 4]);
    for (const i of [4, 5, 6]) {
      await until(() => jobs.active.has(i), `job ${i} runs`);
      assert.equal(jobs.active.size, 1, 'one at a time under the new limit');
      jobs.finish(i);
    }
    await Promise.all(subs.map((s) => s.p));
    await until(() => pool.stats().workers <= 1, 'the extra workers exit');
  });

  test('a job handed to an idle worker in the same turn as a lower limit waits for room instead of running over it', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2, minWorkers: 2 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const b = watch(pool.submit(job(2)));
    pool.resize(1);
    await ticks();
    assert.deepEqual(jobs.started, [1], 'job 2 does not start while job 1 fills the new limit');
    assert.equal(jobs.maxRunning, 1);
    assert.equal(pool.stats().running, 1);
    jobs.finish(1);
    await until(() => jobs.active.has(2), 'job 2 runs once there is room');
    assert.equal(jobs.maxRunning, 1);
    jobs.finish(2);
    await Promise.all([a.p, b.p]);
  });

  test('lowering the limit below minWorkers retires the extra warm workers', async () => {
    const pool = own(new WorkerPool<Job, string>(async () => 'x', { concurrency: 3, minWorkers: 3 }));
    assert.equal(pool.stats().workers, 3);
    pool.resize(1);
    await until(() => pool.stats().workers <= 1, 'workers fall to the new limit');
    await ticks();
    assert.equal(pool.stats().workers, 1, 'the clamped minWorkers (1) stays warm');
  });
});

// --- warm and idle workers ----------------------------------------------------------------------

describe('WorkerPool: warm and idle workers', () => {
  test('minWorkers start at construction and stay warm and idle past idleTimeout', async () => {
    const pool = own(new WorkerPool<Job, string>(async () => 'x', { name: 'warm', concurrency: 4, minWorkers: 2, idleTimeout: 10 }));
    assert.equal(pool.stats().workers, 2, 'started by the constructor');
    await ticks();
    assert.deepEqual(pick(pool.stats(), ['workers', 'idle', 'running']), { workers: 2, idle: 2, running: 0 });
    const workers = snapshot().tasks.filter((t) => t.name === 'warm worker');
    assert.deepEqual(workers.map((t) => t.state), ['waiting: pool idle', 'waiting: pool idle']);
    await sleep(50);
    assert.equal(pool.stats().workers, 2, 'warm workers never expire');
  });

  test('idle workers above minWorkers exit after idleTimeout', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { name: 'expiring', concurrency: 3, minWorkers: 1, idleTimeout: 30 }));
    const subs = [1, 2, 3].map((i) => watch(pool.submit(job(i))));
    await ticks();
    assert.equal(pool.stats().workers, 3);
    for (const i of [1, 2, 3]) jobs.finish(i);
    await Promise.all(subs.map((s) => s.p));
    const idleSince = Date.now();
    await ticks();
    assert.deepEqual(pick(pool.stats(), ['workers', 'idle']), { workers: 3, idle: 3 }, 'not expired at once');
    await until(() => pool.stats().workers <= 1, 'the idle workers above minWorkers expire');
    assert.ok(Date.now() - idleSince >= 20, `not before idleTimeout (${Date.now() - idleSince} ms)`);
    await ticks();
    assert.equal(pool.stats().workers, 1, 'the minWorkers worker stays');
    assert.equal(snapshot().tasks.filter((t) => t.name === 'expiring worker').length, 1, 'one worker task left');
    await sleep(50);
    assert.equal(pool.stats().workers, 1, 'minWorkers stay');
  });

  test('idleTimeout 0 keeps idle workers forever', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2, idleTimeout: 0 }));
    const subs = [1, 2].map((i) => watch(pool.submit(job(i))));
    await ticks();
    jobs.finish(1);
    jobs.finish(2);
    await Promise.all(subs.map((s) => s.p));
    await sleep(50);
    assert.deepEqual(pick(pool.stats(), ['workers', 'idle']), { workers: 2, idle: 2 });
  });

  test('an idle worker takes the next job instead of a new worker starting', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { name: 'reuse', concurrency: 3 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const first = snapshot().tasks.filter((t) => t.name === 'reuse worker').map((t) => t.id);
    jobs.finish(1);
    await a.p;
    await ticks();
    const b = watch(pool.submit(job(2)));
    await ticks();
    assert.equal(pool.stats().workers, 1);
    assert.deepEqual(snapshot().tasks.filter((t) => t.name === 'reuse worker').map((t) => t.id), first, 'the same worker');
    jobs.finish(2);
    await b.p;
  });
});

// --- shutdown -----------------------------------------------------------------------------------

describe('WorkerPool: shutdown', () => {
  test('drain lets running and queued jobs finish and counts each completed or failed', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2 }));
    const subs = [1, 2, 3, 4, 5].map((i) => watch(pool.submit(job(i))));
    await ticks();
    const report = watch(pool.shutdown());
    assert.equal(pool.closed, true);
    for (const i of [1, 2, 3, 4, 5]) {
      await until(() => jobs.active.has(i), `job ${i} runs during the drain`);
      assert.equal(jobs.ctx(i).err, undefined, 'a draining job is not cancelled');
      if (i === 3) jobs.fail(i, new Error('bad image'));
      else jobs.finish(i);
      await ticks();
      if (i < 5) assert.equal(report.state, 'pending', 'the drain waits for every job');
    }
    const r = await report.p;
    assert.equal(r.mode, 'drain');
    assert.equal(r.completed, 4);
    assert.equal(r.failed, 1);
    assert.equal(r.withdrawn, 0);
    assert.deepEqual(r.unprocessed, []);
    assert.deepEqual(r.interrupted, []);
    assert.equal(r.stuck, 0);
    assert.ok(typeof r.durationMs === 'number' && r.durationMs >= 0, 'durationMs is a number of ms');
    assertAccounted(r, 5);
    assert.deepEqual(subs.map((s) => s.state), ['resolved', 'resolved', 'rejected', 'resolved', 'resolved']);
  });

  test('from the instant shutdown begins, submit rejects with PoolClosedError carrying the job', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const report = pool.shutdown();
    const late = job(2);
    const b = watch(pool.submit(late));
    await turn();
    assert.equal(b.state, 'rejected', 'rejected at once');
    assert.ok(isClosed(late)(b.err), `PoolClosedError carrying the job (got ${String(b.err)})`);
    assert.equal(pool.stats().rejected, 1, 'a closed rejection counts as rejected');
    jobs.finish(1);
    await a.p;
    const r = await report;
    assertAccounted(r, 1);
    await assert.rejects(pool.submit(job(3)), PoolClosedError);
    assert.deepEqual(jobs.started, [1]);
  });

  test('submitters waiting for room when shutdown begins reject with PoolClosedError and are not in the report', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 0 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const waiting = job(2);
    const b = watch(pool.submit(waiting));
    await ticks();
    assert.equal(pool.stats().waitingSubmitters, 1);
    const report = pool.shutdown();
    await ticks();
    assert.equal(b.state, 'rejected');
    assert.ok(isClosed(waiting)(b.err), `PoolClosedError carrying the waiting job (got ${String(b.err)})`);
    assert.equal(pool.stats().waitingSubmitters, 0);
    jobs.finish(1);
    await a.p;
    const r = await report;
    assert.equal(r.completed, 1);
    assert.deepEqual(r.unprocessed, [], 'a waiting submitter was never accepted');
    assertAccounted(r, 1);
    assert.deepEqual(jobs.started, [1]);
  });

  test('abort cancels the running jobs, starts no queued job, and hands the queued ones back in order', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2 }));
    const jobsIn = [0, 1, 2, 3, 4, 5].map(job);
    const subs = jobsIn.map((j) => watch(pool.submit(j)));
    await ticks();
    assert.deepEqual(jobs.started, [0, 1]);
    const r = await pool.shutdown({ mode: 'abort' });
    for (const i of [0, 1]) assert.ok(jobs.ctx(i).err instanceof CanceledError, `running job ${i} was cancelled`);
    assert.deepEqual(jobs.started, [0, 1], 'no queued job started');
    assert.equal(r.mode, 'abort');
    assert.deepEqual(sortedIds(r.interrupted), [0, 1]);
    assert.deepEqual(ids(r.unprocessed), [2, 3, 4, 5], 'unprocessed in queue order');
    r.unprocessed.forEach((j, k) => assert.equal(j, jobsIn[k + 2], 'the very job objects are handed back'));
    assert.equal(r.completed, 0);
    assert.equal(r.failed, 0);
    assertAccounted(r, 6);
    await ticks();
    for (const i of [2, 3, 4, 5]) {
      const s = subs[i];
      assert.ok(s !== undefined && s.state === 'rejected' && isClosed(jobsIn[i])(s.err), `queued job ${i}'s submit rejects with PoolClosedError carrying it`);
    }
    for (const i of [0, 1]) {
      const s = subs[i];
      assert.ok(s !== undefined && s.state === 'rejected' && s.err === jobs.ctx(i).err, `interrupted job ${i}'s submit gets the handler's rejection`);
    }
  });

  test('a job that finishes normally after abort cancelled it counts as completed', async () => {
    const jobs = new Jobs(false);
    const pool = own(new WorkerPool(jobs.handler));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const report = watch(pool.shutdown({ mode: 'abort' }));
    await ticks();
    assert.ok(jobs.ctx(1).err instanceof CanceledError, 'the running job was told to stop');
    assert.equal(report.state, 'pending', 'shutdown waits for the running handler');
    jobs.finish(1, 'saved');
    const r = await report.p;
    assert.equal(await a.p, 'saved');
    assert.equal(r.completed, 1);
    assert.deepEqual(r.interrupted, []);
    assertAccounted(r, 1);
  });

  test('drain with a timeout cancels the running jobs when it passes and hands back the queued ones', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1 }));
    const first = job(1);
    const second = job(2);
    const a = watch(pool.submit(first));
    const b = watch(pool.submit(second));
    await ticks();
    const began = Date.now();
    const report = pool.shutdown({ mode: 'drain', timeout: 30 });
    await ticks();
    assert.equal(jobs.ctx(1).err, undefined, 'still draining before the timeout');
    const r = await held(report);
    assert.ok(Date.now() - began >= 25, `cancelled at the timeout, not before (${Date.now() - began} ms)`);
    assert.ok(jobs.ctx(1).err instanceof CanceledError, 'the running job was cancelled at the timeout');
    assert.deepEqual(jobs.started, [1]);
    assert.equal(r.mode, 'drain');
    assert.deepEqual(r.interrupted, [first]);
    assert.deepEqual(r.unprocessed, [second]);
    assert.equal(r.unprocessed[0], second);
    assertAccounted(r, 2);
    await ticks();
    assert.equal(a.state, 'rejected');
    assert.ok(isClosed(second)(b.err), `the queued job's submit rejects with PoolClosedError (got ${String(b.err)})`);
  });

  test('grace: a handler that ignores cancellation forever is reported interrupted and stuck, and shutdown still resolves', async () => {
    const seen: unknown[] = [];
    const onUnhandled = (r: unknown): void => {
      seen.push(r);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const b = baseline();
      const jobs = new Jobs(false);
      const pool = own(new WorkerPool(jobs.handler, { name: 'stubborn', concurrency: 2 }));
      const stuckJob = job(1);
      const a = watch(pool.submit(stuckJob));
      const other = watch(pool.submit(job(2)));
      await ticks();
      const report = pool.shutdown({ mode: 'abort', grace: 30 });
      await ticks();
      jobs.finish(2, 'obeyed late');
      const r = await held(report);
      assert.deepEqual(r.interrupted, [stuckJob]);
      assert.equal(r.stuck, 1);
      assert.equal(r.completed, 1);
      assertAccounted(r, 2);
      await ticks();
      assert.ok(isClosed(stuckJob)(a.err), `the stuck job's submitter gets PoolClosedError (got ${String(a.err)})`);
      assert.equal(await other.p, 'obeyed late');
      // The stuck handler is still running, so dumps still show its worker: that is the task to
      // look at. Nothing else of the pool is left.
      await ticks(3);
      assert.deepEqual(
        snapshot().tasks.filter((t) => t.name.startsWith('stubborn')).map((t) => t.name),
        ['stubborn worker'],
        'only the stuck worker is left, visible while its handler runs',
      );
      jobs.fail(1, new Error('settled much later'));
      await ticks(3);
      assert.deepEqual(await pool.shutdown(), r, 'a late outcome is ignored');
      assert.ok(isClosed(stuckJob)(a.err), 'the submit outcome does not change');
      assert.deepEqual(seen, [], 'the late rejection is not left unhandled');
      await assertNothingLeft('stubborn', b);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('a second shutdown, concurrent or later, returns the same report', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const p1 = pool.shutdown();
    const p2 = pool.shutdown({ mode: 'abort' });
    assert.equal(p2, p1, 'the same promise');
    assert.equal(jobs.ctx(1).err, undefined, 'a second call does not turn a drain into an abort');
    jobs.finish(1);
    await a.p;
    const r1 = await p1;
    const r3 = await pool.shutdown();
    assert.equal(r3, r1, 'the same report object');
    assert.equal(r1.mode, 'drain');
    assert.equal(r1.completed, 1);
  });

  test('restart reopens a shut-down pool with fresh counters and warm workers again', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { name: 'reboot', minWorkers: 1 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    jobs.finish(1);
    await a.p;
    const r1 = await pool.shutdown();
    assert.equal(r1.completed, 1);
    assert.equal(pool.closed, true);
    assert.equal(pool.stats().workers, 0, 'no worker after shutdown');
    pool.restart();
    assert.equal(pool.closed, false);
    assert.deepEqual(pick(pool.stats(), ['workers', ...COUNTERS]), { workers: 1, completed: 0, failed: 0, withdrawn: 0, rejected: 0 });
    const b = watch(pool.submit(job(2)));
    await until(() => jobs.active.has(2), 'job 2 runs after the restart');
    jobs.finish(2);
    assert.equal(await b.p, 'done 2');
    const r2 = await pool.shutdown();
    assert.notEqual(r2, r1, 'a new report');
    assert.equal(r2.completed, 1, 'counts only the jobs since the restart');
    assertAccounted(r2, 1);
  });

  test('restart on a running pool does nothing', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2 }));
    const a = watch(pool.submit(job(1)));
    await ticks();
    jobs.finish(1);
    await a.p;
    const b = watch(pool.submit(job(2)));
    await ticks();
    const before = pick(pool.stats(), [...SHAPE, ...COUNTERS]);
    pool.restart();
    await ticks();
    assert.equal(pool.closed, false);
    assert.equal(jobs.ctx(2).err, undefined, 'the running job is untouched');
    assert.deepEqual(pick(pool.stats(), [...SHAPE, ...COUNTERS]), before, 'counters are kept');
    jobs.finish(2);
    await b.p;
    const r = await pool.shutdown();
    assert.equal(r.completed, 2);
  });

  test('restart while a shutdown is still in progress throws InvalidStateError', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler));
    const a = watch(pool.submit(job(1)));
    await ticks();
    const report = pool.shutdown();
    assert.throws(() => pool.restart(), InvalidStateError);
    assert.equal(pool.closed, true);
    jobs.finish(1);
    await a.p;
    await report;
    pool.restart();
    assert.equal(pool.closed, false);
  });

  test('closed is true from the moment shutdown() is called until restart()', async () => {
    const pool = own(new WorkerPool<Job, string>(async () => 'x'));
    assert.equal(pool.closed, false);
    const report = pool.shutdown();
    assert.equal(pool.closed, true);
    await report;
    assert.equal(pool.closed, true);
    pool.restart();
    assert.equal(pool.closed, false);
  });

  test('a bad shutdown mode is a TypeError and a bad timeout a RangeError', async () => {
    const pool = own(new WorkerPool<Job, string>(async () => 'x'));
    const e1 = await failureOf(() => pool.shutdown({ mode: 'now' as never }));
    assert.ok(isErr(TypeError, 'mode')(e1), `mode 'now' gives a TypeError naming mode (got ${String(e1)})`);
    for (const bad of [-1, NaN]) {
      const e = await failureOf(() => pool.shutdown({ timeout: bad }));
      assert.ok(isErr(RangeError, 'timeout')(e), `timeout ${bad} gives a RangeError naming timeout (got ${String(e)})`);
    }
    assert.equal(pool.closed, false, 'a rejected shutdown call does not close the pool');
  });

  test('ending the ctx given in the options aborts the pool', async () => {
    const jobs = new Jobs();
    const parent = withCancel(background());
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, ctx: parent.ctx }));
    const first = job(1);
    const second = job(2);
    const a = watch(pool.submit(first));
    const b = watch(pool.submit(second));
    await ticks();
    parent.cancel(new Error('service stopping'));
    await ticks();
    assert.ok(jobs.ctx(1).err instanceof CanceledError, 'the running job is cancelled');
    assert.equal(pool.closed, true);
    const late = job(3);
    await assert.rejects(pool.submit(late), isClosed(late));
    const r = await pool.shutdown();
    assert.equal(r.mode, 'abort');
    assert.deepEqual(r.interrupted, [first]);
    assert.deepEqual(r.unprocessed, [second]);
    assertAccounted(r, 2);
    await ticks();
    assert.equal(a.state, 'rejected');
    assert.ok(isClosed(second)(b.err), `the queued job's submit rejects with PoolClosedError (got ${String(b.err)})`);
    assert.deepEqual(jobs.started, [1]);
  });
});

// --- accounting and cleanup ---------------------------------------------------------------------

describe('WorkerPool: accounting and cleanup', () => {
  test('every accepted job is counted exactly once: completed, failed, withdrawn, unprocessed or interrupted', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2, onError: () => {} }));
    const all = [1, 2].map((i) => watch(pool.submit(job(i))));
    await ticks();
    jobs.finish(1);
    jobs.fail(2, new Error('failed'));
    await ticks();
    all.push(watch(pool.submit(job(4))), watch(pool.submit(job(5))));
    await ticks();
    const sub = withCancel(background());
    all.push(watch(pool.submit(job(3), { ctx: sub.ctx })), watch(pool.submit(job(6))), watch(pool.submit(job(7))));
    await ticks();
    sub.cancel();
    await ticks();
    const eighth = pool.trySubmit(job(8));
    assert.ok(eighth instanceof Promise, 'room in the queue for job 8');
    all.push(watch(eighth));
    const r = await pool.shutdown({ mode: 'abort' });
    all.push(watch(pool.submit(job(9))));
    assert.equal(r.completed, 1);
    assert.equal(r.failed, 1);
    assert.equal(r.withdrawn, 1);
    assert.deepEqual(sortedIds(r.interrupted), [4, 5]);
    assert.deepEqual(ids(r.unprocessed), [6, 7, 8]);
    assertAccounted(r, 8);
    assert.deepEqual(jobs.started, [1, 2, 4, 5], 'nothing started twice, nothing queued started');
    await ticks();
    assert.ok(all.every((w) => w.state !== 'pending'), 'every submit settled');
  });

  test('after shutdown resolves no worker, group, registry entry or timer of the pool is left', async () => {
    for (const mode of ['drain', 'abort'] as const) {
      const b = baseline();
      const name = `tidy-${mode}`;
      const jobs = new Jobs();
      const pool = own(new WorkerPool(jobs.handler, { name, concurrency: 3, minWorkers: 1, idleTimeout: 1_000, jobTimeout: 5_000 }));
      const sub = withTimeout(background(), 5_000);
      const subs = [
        watch(pool.submit(job(1), { ctx: sub.ctx, label: 'one' })),
        watch(pool.submit(job(2), { timeout: 4_000 })),
        watch(pool.submit(job(3))),
        watch(pool.submit(job(4))),
        watch(pool.submit(job(5), { ctx: sub.ctx })),
      ];
      await ticks();
      jobs.finish(3);
      await ticks();
      const report = pool.shutdown({ mode, timeout: 10_000 });
      if (mode === 'drain') {
        for (const i of [1, 2, 4, 5]) {
          await until(() => jobs.active.has(i), `job ${i} runs`);
          jobs.finish(i);
        }
      }
      const r = await report;
      assertAccounted(r, 5);
      sub.cancel();
      await Promise.allSettled(subs.map((s) => s.p));
      await assertNothingLeft(name, b);
    }
  });

  test('the pool kept warm with idle timers leaves nothing once shut down', async () => {
    const b = baseline();
    const pool = own(new WorkerPool<Job, string>(async () => 'x', { name: 'idle-tidy', concurrency: 4, minWorkers: 2, idleTimeout: 50 }));
    await Promise.all([1, 2, 3, 4].map((i) => pool.submit(job(i))));
    await ticks();
    await pool.shutdown();
    await assertNothingLeft('idle-tidy', b);
  });
});

// --- stats --------------------------------------------------------------------------------------

describe('WorkerPool: stats', () => {
  test('stats reports workers, running, idle, queued and waiting submitters at each moment', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 2, queueSize: 1, onError: () => {} }));
    const at = (): Record<string, unknown> => pick(pool.stats(), [...SHAPE, 'completed', 'failed']);
    assert.deepEqual(at(), { workers: 0, running: 0, idle: 0, queued: 0, waitingSubmitters: 0, completed: 0, failed: 0 });
    const subs = [1, 2, 3, 4].map((i) => watch(pool.submit(job(i))));
    await ticks();
    assert.deepEqual(at(), { workers: 2, running: 2, idle: 0, queued: 1, waitingSubmitters: 1, completed: 0, failed: 0 });
    jobs.finish(1);
    await ticks();
    assert.deepEqual(at(), { workers: 2, running: 2, idle: 0, queued: 1, waitingSubmitters: 0, completed: 1, failed: 0 });
    jobs.fail(2, new Error('failed'));
    await ticks();
    assert.deepEqual(at(), { workers: 2, running: 2, idle: 0, queued: 0, waitingSubmitters: 0, completed: 1, failed: 1 });
    jobs.finish(3);
    await ticks();
    assert.deepEqual(at(), { workers: 2, running: 1, idle: 1, queued: 0, waitingSubmitters: 0, completed: 2, failed: 1 });
    jobs.finish(4);
    await Promise.allSettled(subs.map((s) => s.p));
    await ticks();
    assert.deepEqual(at(), { workers: 2, running: 0, idle: 2, queued: 0, waitingSubmitters: 0, completed: 3, failed: 1 });
    assert.equal(pool.stats().concurrency, 2);
  });

  test('rejected counts overload and closed rejections, withdrawn counts withdrawn jobs', async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { concurrency: 1, queueSize: 1, onFull: 'reject' }));
    const a = watch(pool.submit(job(1)));
    const sub = withCancel(background());
    const b = watch(pool.submit(job(2), { ctx: sub.ctx }));
    await ticks();
    await assert.rejects(pool.submit(job(3)), PoolOverloadError);
    sub.cancel();
    await ticks();
    assert.equal(b.state, 'rejected');
    assert.deepEqual(pick(pool.stats(), ['rejected', 'withdrawn']), { rejected: 1, withdrawn: 1 });
    const report = pool.shutdown();
    await assert.rejects(pool.submit(job(4)), PoolClosedError);
    assert.equal(pool.stats().rejected, 2);
    jobs.finish(1);
    await a.p;
    await report;
  });

  test('latency percentiles summarise handler run times', async () => {
    const pool = own(new WorkerPool<number, void>((ms) => sleep(ms), { concurrency: 10 }));
    await Promise.all([0, 0, 0, 0, 0, 0, 0, 0, 40, 40].map((ms) => pool.submit(ms)));
    const { latency } = pool.stats();
    assert.equal(latency.count, 10);
    assert.ok(latency.p50 <= 10, `p50 ${latency.p50} ms reflects the quick jobs`);
    assert.ok(latency.max >= 30 && latency.max <= 1_000, `max ${latency.max} ms reflects the slow jobs`);
    assert.ok(latency.p99 >= 30, `p99 ${latency.p99} ms reflects the slow jobs`);
    assert.ok(
      latency.p50 <= latency.p90 && latency.p90 <= latency.p99 && latency.p99 <= latency.max,
      `p50 <= p90 <= p99 <= max (${latency.p50}, ${latency.p90}, ${latency.p99}, ${latency.max})`,
    );
  });
});

// --- registry -----------------------------------------------------------------------------------

describe('WorkerPool: registry', () => {
  test("a worker shows the label of the job it runs as job: <label>, in a group named after the pool", async () => {
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { name: 'scanner', minWorkers: 1 }));
    await ticks();
    const group = snapshot().groups.find((g) => g.name === 'scanner');
    assert.ok(group !== undefined, 'a group named after the pool');
    const idle = snapshot().tasks.filter((t) => t.name === 'scanner worker');
    assert.equal(idle.length, 1);
    assert.equal(idle[0]?.state, 'waiting: pool idle');
    assert.equal(idle[0]?.parentId, group.id, 'the worker belongs to the pool group');
    const a = watch(pool.submit({ id: 42, data: 'x' }, { label: 'scan-42' }));
    await ticks();
    const busy = snapshot().tasks.filter((t) => t.name === 'scanner worker');
    assert.equal(busy.length, 1);
    assert.equal(busy[0]?.labels.job, 'scan-42');
    assert.notEqual(busy[0]?.state, 'waiting: pool idle');
    jobs.finish(42);
    await a.p;
  });

  test("a job's data never appears in a snapshot or a dump", async () => {
    const secret = 'PATIENT-7731-HIV-POSITIVE';
    const jobs = new Jobs();
    const pool = own(new WorkerPool(jobs.handler, { name: 'clinic', concurrency: 1 }));
    const a = watch(pool.submit({ id: 1, data: secret }, { label: 'scan-1' }));
    const b = watch(pool.submit({ id: 2, data: secret }, { label: 'scan-2' }));
    await ticks();
    assert.ok(JSON.stringify(snapshot()).includes('scan-1'), 'the label is shown');
    assert.equal(JSON.stringify(snapshot()).includes(secret), false, 'the data is not in the snapshot');
    assert.equal(dumpTasks().includes(secret), false, 'the data is not in the dump');
    jobs.finish(1);
    await until(() => jobs.active.has(2), 'job 2 runs');
    assert.equal(JSON.stringify(snapshot()).includes(secret), false, 'the data is not in the snapshot');
    jobs.finish(2);
    await Promise.all([a.p, b.p]);
  });
});

// --- the seeds' scenario ------------------------------------------------------------------------

describe("WorkerPool: the seeds' scenario", () => {
  test('3 workers, 10 image jobs, a drain shutdown: all 10 processed and every worker exited', async () => {
    const b = baseline();
    const processed: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const rand = mulberry32(2024);
    const delays = Array.from({ length: 10 }, () => 1 + Math.floor(rand() * 5));
    const pool = own(new WorkerPool<{ image: number }, string>(async ({ image }) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await ticks(delays[image]);
      running--;
      processed.push(image);
      return `image ${image} processed`;
    }, { name: 'images', concurrency: 3 }));
    const subs = Array.from({ length: 10 }, (_, image) => watch(pool.submit({ image }, { label: `image-${image}` })));
    const r = await pool.shutdown({ mode: 'drain' });
    assert.equal(r.completed, 10);
    assert.deepEqual(r.unprocessed, []);
    assert.deepEqual(r.interrupted, []);
    assertAccounted(r, 10);
    assert.deepEqual([...processed].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(maxRunning, 3);
    await ticks();
    assert.deepEqual(subs.map((s) => s.value), Array.from({ length: 10 }, (_, i) => `image ${i} processed`));
    await assertNothingLeft('images', b);
  });
});
