/**
 * Timers that answer to a context: `sleep`, `timeout` and `every`. None leaves a timer or a
 * listener behind once its work ends or is cancelled, and each shows what the waiting task waits
 * on ('waiting: sleep', 'waiting: every') in dumps.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - `timers/promises` with `ctx.signal`: reading `signal` allocates an AbortController and every
 *   sleep would add an abort listener to it. A sleep hangs off the context's child list instead
 *   (`onDone`), O(1) in and out, and no `AbortSignal.any` anywhere.
 * - `timeout()` racing `fn` against the deadline (`Promise.race`) and returning early: the work
 *   would go on unowned and unseen, which is the leak corral exists to prevent. `timeout` is
 *   cooperative: it tells `fn` to stop and settles when `fn` does.
 * - `every()` on `setInterval`: an interval fires whether or not the previous run finished, so a
 *   slow run piles up behind itself (the hourly HIS sync that took 70 minutes). `every` runs one
 *   run at a time on a fixed-rate schedule and counts the ticks it had to drop.
 * @module
 */
import { checkDuration, newCancelCtx, offDone, onDone, TASK_KEY, withTimeout, type Context } from './context.js';
import { isCancellation, quietCanceled } from './errors.js';
import { enterWait, leaveWait, waitingState } from './registry.js';

const SLEEPING = waitingState('sleep');
const EVERY = waitingState('every');
import { waiterOf } from './wait.js';
import { Task } from './task.js';
import { checkCtx, describe } from './validate.js';
import type { Group } from './group.js';
import { rootGroup } from './go.js';

/** The largest delay setTimeout honours; longer ones fire after 1 ms with a warning. */
const MAX_TIMER = 2 ** 31 - 1;

function checkFn(f: unknown, fn: string): void {
  if (typeof f !== 'function') throw new TypeError(`${fn}: fn must be a function (got ${describe(f)})`);
}

/**
 * Waits `ms` on a ref'd timer, or until `ctx` is done (then rejects with `ctx.err`). While it
 * waits, the task behind `ctx` shows 'waiting: WHAT'. Delays past setTimeout's limit are waited in
 * chunks, counted by the requested duration rather than by the clock.
 */
function delay(ctx: Context, ms: number, state: string): Promise<void> {
  const err = ctx.err;
  if (err !== undefined) return Promise.reject(err);
  return new Promise<void>((resolve, reject) => {
    const waiter = waiterOf(ctx);
    const prev = enterWait(waiter, state);
    let left = ms;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (): void => {
      const step = Math.min(left, MAX_TIMER);
      left -= step;
      timer = setTimeout(elapsed, step);
    };
    const elapsed = (): void => {
      if (left > 0) {
        arm();
        return;
      }
      timer = undefined;
      offDone(node);
      leaveWait(waiter, prev, state);
      resolve();
    };
    arm();
    // Invariant: exactly one of `timer` and `node` outlives the wait's end, and each end clears the other.
    const node = onDone(ctx, () => {
      clearTimeout(timer);
      timer = undefined;
      leaveWait(waiter, prev, state);
      reject(ctx.err ?? quietCanceled(undefined));
    });
  });
}

/**
 * sleep resolves after `ms` milliseconds, or rejects with `ctx.err` as soon as `ctx` is done (at
 * once if it already is); either way its timer is cleared and nothing stays attached to `ctx`.
 * Like `setTimeout`, the pending timer keeps the process alive. The waiting task shows
 * 'waiting: sleep' in dumps.
 *
 * @throws TypeError when `ctx` is not a context; RangeError when `ms` is negative, NaN or not finite.
 * @example
 * ```ts
 * for (let attempt = 1; ; attempt++) {
 *   try { return await pushToHis(ctx, record); }
 *   catch (err) { if (attempt === 5) throw err; }
 *   await sleep(ctx, 2 ** attempt * 1_000); // a shutdown interrupts the back-off at once
 * }
 * ```
 */
export function sleep(ctx: Context, ms: number): Promise<void> {
  checkCtx(ctx, 'sleep');
  checkDuration(ms, 'ms', 'sleep');
  return delay(ctx, ms, SLEEPING);
}

async function within<T>(child: Context, cancel: () => void, fn: (ctx: Context) => T | PromiseLike<T>): Promise<Awaited<T>> {
  try {
    return await fn(child);
  } finally {
    // The "forgot defer cancel()" bug of Go cannot happen: the child and its timer go here.
    cancel();
  }
}

/**
 * timeout runs `fn(child)` with `child = withTimeout(ctx, ms)` and returns what `fn` returns (or
 * rejects with what it throws); the child's timer is cleared and the child detached from `ctx` as
 * soon as `fn` settles. It is cooperative: it never abandons `fn` and settles only when `fn` does,
 * so a `fn` that obeys its context rejects with the child's `DeadlineExceededError` once `ms`
 * passed, while a `fn` that ignores it runs to its end. When the child is done from the start
 * (`ctx` already done, or `ms` 0), `fn` is not called and the promise rejects with `child.err`.
 *
 * @throws TypeError when `ctx` is not a context or `fn` not a function; RangeError when `ms` is
 *   negative, NaN or not finite.
 * @example
 * ```ts
 * const patient = await timeout(ctx, 2_000, (ctx) => his.fetchPatient(ctx, id));
 * ```
 */
export function timeout<T>(ctx: Context, ms: number, fn: (ctx: Context) => T | PromiseLike<T>): Promise<Awaited<T>> {
  checkCtx(ctx, 'timeout');
  checkDuration(ms, 'ms', 'timeout');
  checkFn(fn, 'timeout');
  const { ctx: child, cancel } = withTimeout(ctx, ms);
  const err = child.err;
  if (err !== undefined) {
    cancel();
    return Promise.reject(err);
  }
  return within(child, cancel, fn);
}

/** Options for {@link every}. */
export interface EveryOptions {
  /**
   * What happens to ticks that come while a run is in progress. 'skip' (default): they are dropped
   * and counted in `skipped`; the next run starts at the next tick. 'wait': the next run starts as
   * soon as the current one ends (at most one tick is kept, like Go's `time.Ticker`; the others
   * are counted in `skipped`). Runs never overlap either way.
   */
  overlap?: 'skip' | 'wait';
  /** A fraction in [0, 1]: each tick is delayed by a random amount in [0, jitter × ms). Default 0. */
  jitter?: number;
  /** Also run once at the start, before the first tick. Default false. */
  immediate?: boolean;
  /** Shown in dumps. Default: the function's name, else "every". */
  name?: string;
  /**
   * Called with an error thrown by a run; the loop then goes on. When absent, an error ends the
   * loop and the task fails with it. A throw (or rejection) from `onError` ends the loop with that error.
   */
  onError?: (err: unknown) => void | PromiseLike<void>;
}

/** The task {@link every} returns: it never fulfils; it ends with its context's error or a run's error. */
export type EveryTask = Task<never> & {
  /** Runs started so far (the one in progress included). */
  readonly runs: number;
  /** Ticks dropped because a run was still in progress. */
  readonly skipped: number;
};

const EVERY_OPTIONS = new Set(['overlap', 'jitter', 'immediate', 'name', 'onError']);

/** The cause a run's context gets when the run returns: what it derived must not outlive it. */
const RUN_FINISHED = quietCanceled(undefined);
RUN_FINISHED.message = 'run finished';

/** A loop's settings and counters; the only thing the task's `runs`/`skipped` getters reach. */
class EveryLoop {
  runs = 0;
  skipped = 0;
  constructor(
    readonly ms: number,
    readonly fn: (ctx: Context) => unknown,
    readonly overlap: 'skip' | 'wait',
    readonly jitter: number,
    readonly immediate: boolean,
    readonly onError: ((err: unknown) => void | PromiseLike<void>) | undefined,
  ) {}
}

function checkEveryOptions(options: EveryOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`every: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (!EVERY_OPTIONS.has(k)) throw new TypeError(`every: unknown option ${JSON.stringify(k)}`);
  }
  const { overlap, jitter, immediate, name, onError } = options;
  if (overlap !== undefined && overlap !== 'skip' && overlap !== 'wait') {
    throw new RangeError(`every: overlap must be 'skip' or 'wait' (got ${describe(overlap)})`);
  }
  if (jitter !== undefined && (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))) {
    throw new RangeError(`every: jitter must be a number from 0 to 1 (got ${describe(jitter)})`);
  }
  if (immediate !== undefined && typeof immediate !== 'boolean') {
    throw new TypeError(`every: immediate must be a boolean (got ${describe(immediate)})`);
  }
  if (name !== undefined && typeof name !== 'string') {
    throw new TypeError(`every: name must be a string (got ${describe(name)})`);
  }
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError(`every: onError must be a function (got ${describe(onError)})`);
  }
}

/**
 * every runs `fn(runCtx)` every `ms` milliseconds in a task of its own and returns that task.
 * Ticks follow a fixed-rate schedule (start + k × ms, each delayed by the jitter) and a run never
 * overlaps the previous one: with `overlap: 'skip'` (the default) ticks that come during a run are
 * dropped and counted in `skipped`; with 'wait' one of them is kept and the next run starts as
 * soon as the current one ends. `runCtx` derives from the task's context and is done when the
 * run returns, so nothing a run derives from it outlives the run.
 *
 * When `ctx` (or the task, through `task.cancel()`) is cancelled, no new run starts, the run in
 * progress is awaited, and the task then rejects with the context's error; stopping this way is not
 * a failure of the owning group. A run that throws ends the loop and the task fails with its error
 * (the owning group sees it), unless `onError` is given. The task belongs to the group of the task
 * that owns `ctx`, else to the root group; between runs it shows 'waiting: every' in dumps. The
 * loop lives under `ctx`: when the task owning `ctx` returns, its context ends and so does the
 * loop, so a task that starts a loop should await (or return) it. `fn`
 * is never called inside `every()` itself. The pending timer keeps the process alive, like
 * `setInterval`.
 *
 * @throws TypeError for a missing context or function, an unknown option or a wrongly typed one;
 *   RangeError when `ms` is not a finite number > 0, or for a bad `overlap` or `jitter`;
 *   GroupClosedError when the owning group is disposed.
 * @example
 * ```ts
 * const sync = every(ctx, 60 * 60_000, (ctx) => syncFromHis(ctx), {
 *   name: 'his-sync',
 *   onError: (err) => log.warn({ err }, 'HIS sync failed; next hour will retry'),
 * });
 * // at shutdown: cancel ctx, then
 * await sync.catch(() => {}); // resolves once the sync in progress has finished
 * ```
 */
export function every(
  ctx: Context,
  ms: number,
  fn: (ctx: Context) => unknown,
  options: EveryOptions = {},
): EveryTask {
  checkCtx(ctx, 'every');
  checkDuration(ms, 'ms', 'every');
  if (ms === 0) throw new RangeError('every: ms must be > 0 (got 0)');
  checkFn(fn, 'every');
  checkEveryOptions(options);
  const loop = new EveryLoop(
    ms,
    fn,
    options.overlap ?? 'skip',
    options.jitter ?? 0,
    options.immediate ?? false,
    options.onError,
  );
  const owner = ctx.value(TASK_KEY);
  const group = owner instanceof Task ? (owner._owner as Group) : rootGroup();
  const name = options.name ?? (fn.name || 'every');
  const task = group._spawn((taskCtx) => runLoop(taskCtx, loop), { name }, every, false, ctx) as unknown as Task<never>;
  Object.defineProperties(task, {
    runs: { get: () => loop.runs, enumerable: true },
    skipped: { get: () => loop.skipped, enumerable: true },
  });
  return task as EveryTask;
}

/**
 * Ends the loop with the task context's error. A stop that did not come from the group (the
 * caller's ctx, the owning task returning, `task.cancel()`) is the loop's own outcome, not a
 * failure the group sees: finishTask tells the two apart.
 */
function stop(taskCtx: Context): never {
  throw taskCtx.err;
}

async function runLoop(taskCtx: Context, l: EveryLoop): Promise<never> {
  await undefined; // fn never runs inside every(), so the caller holds the task before the first run
  const { ms, jitter, overlap } = l;
  const start = Date.now();
  const fireAt = (i: number): number => start + i * ms + (jitter > 0 ? Math.random() * jitter * ms : 0);
  // A clock stepped backwards must not stall the loop: no wait is longer than one jittered period.
  const maxGap = ms + jitter * ms;
  let k = 0; // ticks 1..k are consumed: run or skipped
  let next = fireAt(1); // when tick k+1 fires
  let due = l.immediate; // a run is owed now, without waiting for a tick
  for (;;) {
    // A cancellation during the run ends the loop here: no new run starts.
    if (taskCtx.err !== undefined) stop(taskCtx);
    if (!due) {
      try {
        await delay(taskCtx, Math.min(Math.max(next - Date.now(), 0), maxGap), EVERY);
      } catch {
        stop(taskCtx);
      }
      k++;
      next = fireAt(k + 1);
    }
    due = false;
    l.runs++;
    await runOnce(taskCtx, l);
    const end = Date.now();
    if (next > end) continue;
    // Ticks k+1..K fired during the run. Every tick before the last base boundary fired before
    // `end` (jitter < one period); only that last tick's jitter may put it after `end`.
    const first = next;
    let K = Math.max(k + 1, Math.floor((end - start) / ms));
    let lastAt = K === k + 1 ? first : fireAt(K);
    if (lastAt > end) {
      next = lastAt;
      K--;
      lastAt = K === k + 1 ? first : -Infinity;
    } else {
      next = fireAt(K + 1);
    }
    // A tick that fires exactly as the run ends did not fall during it: it runs now in both modes.
    const runNow = overlap === 'wait' || lastAt === end;
    l.skipped += runNow ? K - k - 1 : K - k;
    k = K;
    due = runNow;
  }
}

/** One run in a context of its own. Returns normally when the loop may go on or must stop for its context. */
async function runOnce(taskCtx: Context, l: EveryLoop): Promise<void> {
  const runCtx = newCancelCtx(taskCtx);
  let failed = false;
  let error: unknown;
  try {
    await l.fn(runCtx);
  } catch (e) {
    failed = true;
    error = e;
  }
  runCtx._cancel(RUN_FINISHED, RUN_FINISHED);
  if (!failed) return;
  // A run that stopped because it was told to obeyed; the loop reports the context's error.
  if (taskCtx.err !== undefined && isCancellation(error)) return;
  if (l.onError === undefined) throw error;
  await l.onError(error);
}
