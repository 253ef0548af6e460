import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { WorkerPool, PoolClosedError, PoolOverloadError } from '../src/pool/index.js';
import { background, withCancel, type CancelableContext, type Context } from '../src/context.js';
import { liveCounts, snapshot } from '../src/registry.js';
import { mulberry32 } from './helpers/random.js';
import { ticks, turn } from './helpers/schedule.js';

// Seeded random schedules against WorkerPool: random durations, failures, submitter
// cancellations, resizes and a shutdown at a random moment in a random mode. Each seed replays
// exactly (`SEEDS=17 node --import tsx --test test/pool-random.test.ts` runs just seed 17); the
// checks are invariants, never timings: the limit held, every accepted job is in exactly one
// bucket of the report, nothing started twice, and nothing of the pool is left afterwards.
//
// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const SEED_COUNT = 200;
const seeds: number[] = process.env.SEEDS
  ? process.env.SEEDS.split(',').map(Number)
  : Array.from({ length: SEED_COUNT }, (_, i) => i + 1);

interface RJob {
  id: number;
}

type Fate = 'ok' | 'reject' | 'throw' | 'hang';

/** What the handler does with one job, drawn from the seed when the job is made. */
interface Plan {
  fate: Fate;
  /** Macrotask turns of work. */
  steps: number;
  /** A real timer of this many ms as the first step, if set. */
  timerMs: number | undefined;
  /** Rejects with ctx.err at the next step once its ctx ends. */
  obey: boolean;
}

interface Rec {
  job: RJob;
  plan: Plan;
  sub: CancelableContext | undefined;
  afterShutdown: boolean;
  /** trySubmit said there was no room. */
  tryFalse: boolean;
  outcome: { state: 'pending' | 'resolved' | 'rejected'; value: unknown; err: unknown };
  started: number;
  ctx: Context | undefined;
  handler: 'running' | 'resolved' | 'rejected' | undefined;
  handlerErr: unknown;
  withdrawn: boolean;
  release: (() => void) | undefined;
}

// Timers: corral's are unref'd, which process.getActiveResourcesInfo() does not list, so an
// async hook follows every Timeout from creation to destruction.
const liveTimers = new Map<number, number>();
let timerEpoch = 0;
const hook = createHook({
  init(id, type) {
    if (type === 'Timeout') liveTimers.set(id, timerEpoch);
  },
  destroy(id) {
    liveTimers.delete(id);
  },
});
const refTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

const unhandled: unknown[] = [];
const onUnhandled = (r: unknown): void => {
  unhandled.push(r);
};

const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs one seed's schedule with a ref'd keep-alive (corral's timers are unref'd), and afterwards
 * lets go of whatever a failed run left behind, so the next seed starts clean.
 */
async function runSeed(seed: number): Promise<void> {
  const keep = setInterval(() => {}, 1_000);
  const leftovers: Leftovers = { pool: undefined, releases: [] };
  try {
    await checkSeed(seed, leftovers);
  } finally {
    for (const release of leftovers.releases) release();
    if (leftovers.pool !== undefined && !leftovers.pool.closed) await leftovers.pool.shutdown({ mode: 'abort', grace: 10 });
    await ticks(5);
    clearInterval(keep);
  }
}

interface Leftovers {
  pool: WorkerPool<RJob, number> | undefined;
  releases: (() => void)[];
}

async function checkSeed(seed: number, leftovers: Leftovers): Promise<void> {
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const where = `seed ${seed}`;
  const name = `rand-${seed}`;

  const concurrency = int(1, 4);
  const mode = rand() < 0.5 ? 'drain' : 'abort';
  const shutdownTimeout = rand() < 0.4 ? int(0, 4) : undefined;
  // A handler that never settles is only allowed when the shutdown cancels running jobs, and
  // then `grace` ends the wait for it.
  const shutdownCancels = mode === 'abort' || shutdownTimeout !== undefined;
  const hangs = shutdownCancels && rand() < 0.3;
  const grace = 50;
  const options = {
    name,
    concurrency,
    minWorkers: int(0, concurrency),
    idleTimeout: pickOf([0, 1, 5, 60_000]),
    queueSize: pickOf([0, 1, 3, Infinity]),
    onFull: rand() < 0.2 ? ('reject' as const) : ('wait' as const),
    maxWaitingSubmitters: pickOf([Infinity, Infinity, 2, 0]),
    jobTimeout: pickOf([0, 0, 0, 3]),
    onError: (_err: unknown, j: RJob) => {
      onErrorCalls.push(j.id);
    },
  };
  const config = `${where}: ${JSON.stringify({ ...options, onError: undefined, mode, shutdownTimeout, hangs }, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v))}`;

  const counts = liveCounts();
  const refs = refTimeouts();
  const epoch = ++timerEpoch;
  const unhandledBefore = unhandled.length;

  const recs: Rec[] = [];
  const violations: string[] = [];
  const onErrorCalls: number[] = [];
  let running = 0;
  let maxLimit = concurrency;

  const handler = (j: RJob, ctx: Context): number | Promise<number> => {
    const rec = recs[j.id];
    if (rec === undefined) {
      violations.push(`unknown job ${j.id} started`);
      return -1;
    }
    rec.started++;
    if (rec.started > 1) violations.push(`job ${j.id} started ${rec.started} times`);
    if (rec.afterShutdown) violations.push(`job ${j.id}, submitted after shutdown began, started`);
    rec.ctx = ctx;
    rec.handler = 'running';
    running++;
    if (running > pool.concurrency) violations.push(`${running} handlers running with concurrency ${pool.concurrency}`);
    const end = (outcome: 'resolved' | 'rejected', err?: unknown): void => {
      running--;
      rec.handler = outcome;
      rec.handlerErr = err;
    };
    const { plan } = rec;
    if (plan.fate === 'throw') {
      const err = new Error(`job ${j.id} threw`);
      end('rejected', err);
      throw err;
    }
    return work(j, ctx, rec).then(
      (v) => {
        end('resolved');
        return v;
      },
      (e: unknown) => {
        end('rejected', e);
        throw e;
      },
    );
  };

  async function work(j: RJob, ctx: Context, rec: Rec): Promise<number> {
    const { plan } = rec;
    if (plan.fate === 'hang') {
      // Ignores cancellation and never settles until the test releases it, long after shutdown.
      await new Promise<void>((_, reject) => {
        rec.release = () => reject(new Error(`job ${j.id} settled after it was given up`));
        leftovers.releases.push(rec.release);
      });
    }
    for (let i = 0; i < plan.steps; i++) {
      if (plan.obey && ctx.err !== undefined) throw ctx.err;
      if (i === 0 && plan.timerMs !== undefined) await sleep(plan.timerMs);
      else await turn();
    }
    if (plan.obey && ctx.err !== undefined) throw ctx.err;
    if (plan.fate === 'reject') throw new Error(`job ${j.id} failed`);
    return j.id;
  }

  // The handler reads pool.concurrency when it runs, after this line.
  const pool = new WorkerPool<RJob, number>(handler, options);
  leftovers.pool = pool;
  let closed = false;
  let report: Promise<Awaited<ReturnType<typeof pool.shutdown>>> | undefined;

  const steps = int(10, 40);
  const shutdownAt = int(0, steps);
  for (let step = 0; step <= steps; step++) {
    if (step === shutdownAt) {
      const opts: { mode: 'drain' | 'abort'; timeout?: number; grace?: number } = { mode };
      if (shutdownTimeout !== undefined) opts.timeout = shutdownTimeout;
      if (hangs) opts.grace = grace;
      report = pool.shutdown(opts as never);
      closed = true;
      if (!pool.closed) violations.push('closed is false right after shutdown()');
    }
    const r = rand();
    if (r < 0.5) {
      const id = recs.length;
      const fateRoll = rand();
      const fate: Fate = hangs && fateRoll < 0.06 ? 'hang' : fateRoll < 0.15 ? 'throw' : fateRoll < 0.3 ? 'reject' : 'ok';
      const plan: Plan = { fate, steps: int(0, 4), timerMs: rand() < 0.2 ? int(0, 3) : undefined, obey: rand() < 0.8 };
      const sub = rand() < 0.3 ? withCancel(background()) : undefined;
      const rec: Rec = {
        job: { id }, plan, sub, afterShutdown: closed, tryFalse: false,
        outcome: { state: 'pending', value: undefined, err: undefined },
        started: 0, ctx: undefined, handler: undefined, handlerErr: undefined, withdrawn: false, release: undefined,
      };
      recs.push(rec);
      const submitOpts: { ctx?: Context; timeout?: number; label?: string } = { label: `job-${id}` };
      if (sub !== undefined) submitOpts.ctx = sub.ctx;
      if (rand() < 0.1) submitOpts.timeout = int(1, 4);
      let p: Promise<number> | false;
      if (rand() < 0.2) {
        p = pool.trySubmit(rec.job, submitOpts);
        if (p === false) rec.tryFalse = true;
        else if (closed) violations.push(`trySubmit of job ${id} after shutdown gave a promise`);
      } else {
        p = pool.submit(rec.job, submitOpts);
      }
      if (p !== false) {
        p.then(
          (v) => {
            rec.outcome = { state: 'resolved', value: v, err: undefined };
          },
          (e: unknown) => {
            rec.outcome = { state: 'rejected', value: undefined, err: e };
          },
        );
      }
    } else if (r < 0.65) {
      const live = recs.filter((x) => x.sub !== undefined && x.sub.ctx.err === undefined);
      const victim = live.length > 0 ? pickOf(live) : undefined;
      if (victim !== undefined && victim.sub !== undefined) {
        // Only this cancel can withdraw a job during this turn, so a rise in the withdrawn count
        // names the job.
        const before = pool.stats().withdrawn;
        victim.sub.cancel(new Error(`submitter of job ${victim.job.id} gave up`));
        await turn();
        const delta = pool.stats().withdrawn - before;
        if (delta === 1) victim.withdrawn = true;
        else if (delta !== 0) violations.push(`one cancel withdrew ${delta} jobs`);
      }
    } else if (r < 0.73) {
      const n = int(1, 4);
      pool.resize(n);
      maxLimit = Math.max(maxLimit, n);
      if (pool.concurrency !== n) violations.push(`concurrency ${pool.concurrency} after resize(${n})`);
    } else if (r < 0.9) {
      await ticks(int(1, 3));
    } else {
      await sleep(int(0, 3));
    }
    if (pool.stats().running > maxLimit) violations.push(`stats().running ${pool.stats().running} above every limit`);
  }
  if (report === undefined) assert.fail(`${config}: the schedule never shut down`);

  // Everything must settle by itself; the guard turns a hang into a failure naming the seed.
  let guard: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((r) => (guard = setTimeout(() => r('timeout'), 5_000)));
  const rep = await Promise.race([report, timedOut]);
  if (rep === 'timeout') assert.fail(`${config}: shutdown did not resolve`);
  for (let i = 0; i < 200 && recs.some((x) => !x.tryFalse && x.outcome.state === 'pending'); i++) await turn();
  clearTimeout(guard);
  for (const x of recs) x.sub?.cancel();

  assert.deepEqual(violations, [], `${config}: ${violations.join('; ')}`);
  const pending = recs.filter((x) => !x.tryFalse && x.outcome.state === 'pending').map((x) => x.job.id);
  assert.deepEqual(pending, [], `${config}: every submit settled`);

  // Each job in exactly one bucket.
  const unprocessedIds = rep.unprocessed.map((j) => j.id);
  const interruptedIds = rep.interrupted.map((j) => j.id);
  assert.equal(new Set(unprocessedIds).size, unprocessedIds.length, `${config}: no job twice in unprocessed`);
  assert.equal(new Set(interruptedIds).size, interruptedIds.length, `${config}: no job twice in interrupted`);
  assert.deepEqual([...unprocessedIds].sort((a, b) => a - b), unprocessedIds, `${config}: unprocessed in queue order`);
  const unprocessed = new Set(unprocessedIds);
  const interrupted = new Set(interruptedIds);
  for (const j of rep.unprocessed) assert.equal(j, recs[j.id]?.job, `${config}: unprocessed hands back the job object`);

  let completed = 0;
  let failedOrInterrupted = 0;
  let hung = 0;
  let withdrawn = 0;
  for (const x of recs) {
    const id = x.job.id;
    const at = `${config}: job ${id} (${JSON.stringify(x.plan)})`;
    const { state, value, err } = x.outcome;
    if (x.started > 0) {
      assert.equal(unprocessed.has(id), false, `${at}: started, so not unprocessed`);
      assert.equal(x.withdrawn, false, `${at}: started, so not withdrawn`);
      if (x.handler === 'resolved') {
        completed++;
        assert.equal(interrupted.has(id), false, `${at}: resolved, so not interrupted`);
        assert.equal(state, 'resolved', `${at}: a resolved handler resolves the submit`);
        assert.equal(value, id, `${at}: with its result`);
      } else if (x.handler === 'rejected') {
        failedOrInterrupted++;
        assert.equal(state, 'rejected', `${at}: a rejected handler rejects the submit`);
        assert.equal(err, x.handlerErr, `${at}: with the handler's own error`);
        if (interrupted.has(id)) assert.ok(x.ctx?.err !== undefined, `${at}: interrupted, so its ctx was cancelled`);
      } else {
        hung++;
        assert.equal(x.plan.fate, 'hang', `${at}: only a hanging handler is still running`);
        assert.ok(interrupted.has(id), `${at}: a stuck job is reported interrupted`);
        assert.ok(err instanceof PoolClosedError && err.job === x.job, `${at}: a stuck job's submitter gets PoolClosedError (got ${String(err)})`);
      }
    } else {
      assert.equal(interrupted.has(id), false, `${at}: never started, so not interrupted`);
      assert.notEqual(state, 'resolved', `${at}: never started, so never resolved`);
      if (unprocessed.has(id)) {
        assert.equal(x.withdrawn, false, `${at}: unprocessed, so not withdrawn`);
        assert.ok(err instanceof PoolClosedError && err.job === x.job, `${at}: unprocessed rejects with PoolClosedError carrying the job (got ${String(err)})`);
      } else if (x.withdrawn) {
        withdrawn++;
        assert.equal(err, x.sub?.ctx.err, `${at}: withdrawn rejects with the submitter's ctx.err`);
      } else if (!x.tryFalse) {
        // Never accepted: turned away, closed, or gave up while waiting for room.
        const ok =
          (err instanceof PoolOverloadError && err.job === x.job) ||
          (err instanceof PoolClosedError && err.job === x.job) ||
          (x.sub !== undefined && err === x.sub.ctx.err);
        assert.ok(ok, `${at}: a job never accepted is rejected as overload, closed or given up (got ${String(err)})`);
        if (err instanceof PoolOverloadError) assert.ok(!x.afterShutdown, `${at}: after shutdown a submit is closed, not overload`);
      }
      if (x.afterShutdown && !x.tryFalse) {
        assert.ok(err instanceof PoolClosedError, `${at}: submitted after shutdown began, so PoolClosedError (got ${String(err)})`);
      }
    }
  }

  assert.equal(rep.mode, mode, `${config}: report.mode`);
  assert.equal(rep.completed, completed, `${config}: report.completed counts the handlers that resolved`);
  assert.equal(rep.failed + rep.interrupted.length, failedOrInterrupted + hung, `${config}: failed + interrupted counts the handlers that rejected or hung`);
  assert.equal(rep.stuck, hung, `${config}: report.stuck counts the handlers that never settled`);
  assert.equal(rep.withdrawn, withdrawn, `${config}: report.withdrawn counts the jobs withdrawn from the queue`);
  const started = recs.filter((x) => x.started > 0).length;
  assert.equal(
    rep.completed + rep.failed + rep.withdrawn + rep.unprocessed.length + rep.interrupted.length,
    started + unprocessed.size + withdrawn,
    `${config}: accepted = completed + failed + withdrawn + unprocessed + interrupted`,
  );
  assert.equal(onErrorCalls.length, failedOrInterrupted, `${config}: onError once per handler failure`);
  assert.equal(new Set(onErrorCalls).size, onErrorCalls.length, `${config}: onError never twice for a job`);

  // Nothing of the pool is left but the workers of stuck handlers (still running, so still shown
  // in dumps). Collected and asserted last, so the checks after them still run.
  await ticks(3);
  const left: string[] = [];
  const stuckLeft = snapshot().tasks.filter((t) => t.name.startsWith(name)).length;
  if (stuckLeft !== rep.stuck) left.push(`right after shutdown, only the ${rep.stuck} stuck workers are left (found ${stuckLeft})`);

  // A handler given up on that settles now changes nothing and leaves nothing unhandled.
  const reportBefore = JSON.stringify(rep);
  for (const x of recs) x.release?.();
  await ticks(3);
  assert.equal(JSON.stringify(await pool.shutdown()), reportBefore, `${config}: a late outcome changes nothing`);
  assert.deepEqual(unhandled.slice(unhandledBefore), [], `${config}: no unhandled rejection`);
  const snap = snapshot();
  const tasksLeft = snap.tasks.filter((t) => t.name.startsWith(name)).map((t) => `${t.name} [${t.state}]`);
  if (tasksLeft.length > 0) left.push(`no worker task left (found ${tasksLeft.join(', ')})`);
  if (snap.groups.some((g) => g.name === name)) left.push('no pool group left');
  if (JSON.stringify(liveCounts()) !== JSON.stringify(counts)) left.push(`live tasks and groups back to the baseline (${JSON.stringify(liveCounts())} vs ${JSON.stringify(counts)})`);
  if (refTimeouts() !== refs) left.push(`no ref'd timer left (${refTimeouts()} vs ${refs})`);
  const timersLeft = [...liveTimers.values()].filter((e) => e >= epoch).length;
  if (timersLeft > 0) left.push(`no timer made during the schedule is left (${timersLeft})`);
  assert.deepEqual(left, [], `${config}: ${left.join('; ')}`);
}

describe('WorkerPool: seeded random schedules', () => {
  before(() => {
    hook.enable();
    process.on('unhandledRejection', onUnhandled);
  });
  after(() => {
    hook.disable();
    process.off('unhandledRejection', onUnhandled);
  });

  test(`over ${seeds.length} seeds: the limit holds, every accepted job is in one bucket, nothing is left`, { timeout: 120_000 }, async () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      try {
        await runSeed(seed);
      } catch (e) {
        const a = e as { message?: string; actual?: unknown; expected?: unknown };
        const detail = a.actual !== undefined || a.expected !== undefined ? ` (actual ${JSON.stringify(a.actual)}, expected ${JSON.stringify(a.expected)})` : '';
        failures.push(`${(a.message ?? String(e)).split('\n')[0]}${detail}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${seeds.length} seeds failed`);
  });
});
