/**
 * WaitGroup: Go's sync.WaitGroup, with a wait that a context can bound.
 * @module
 */
import type { Context } from './context.js';
import { InvalidStateError } from './errors.js';
import { WaitQueue, Waiter } from './waitqueue.js';
import { waitingState } from './registry.js';

const WAITING = waitingState('waitgroup');
import { checkOptionalCtx, describe } from './validate.js';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * WaitGroup counts outstanding pieces of work: `add(n)` before starting them, `done()` as each
 * finishes, `wait(ctx)` to block until the counter is zero. Waiters wake only when the counter
 * reaches zero, never on the way down. A WaitGroup is reusable: once the counter is back to zero,
 * `add` starts a new round. A zero value (`new WaitGroup()`) is ready to use.
 *
 * Unlike Go, adding while someone waits is allowed at any time: the waiters simply wait for the
 * larger count. There is no race to guard against in a single-threaded runtime.
 *
 * @example
 * ```ts
 * const wg = new WaitGroup();
 * for (const site of sites) {
 *   wg.add();
 *   void syncSite(ctx, site).finally(() => wg.done());
 * }
 * await wg.wait(ctx);
 * ```
 */
export class WaitGroup {
  /** Invariant: >= 0; the queue is empty whenever it is 0. */
  private _count = 0;
  private readonly _q = new WaitQueue<Waiter>();

  /** The counter: work added and not yet done. */
  get count(): number {
    return this._count;
  }

  /**
   * add changes the counter by `n` (negative to subtract). When it reaches zero, every waiter
   * wakes.
   *
   * @throws RangeError when `n` is not an integer; InvalidStateError when the counter would go
   *   below zero (the counter is then left unchanged).
   * @example
   * ```ts
   * wg.add(batch.length);
   * ```
   */
  add(n = 1): void {
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
      throw new RangeError(`WaitGroup.add: n must be an integer (got ${describe(n)})`);
    }
    const c = this._count + n;
    if (c < 0) {
      throw new InvalidStateError(`WaitGroup.add: counter would go below zero (${this._count} + ${n})`);
    }
    this._count = c;
    if (c === 0 && this._q._length > 0) this._q.wakeAll();
  }

  /**
   * done subtracts one from the counter.
   *
   * @throws InvalidStateError when the counter is already zero (more `done` than `add`).
   * @example
   * ```ts
   * try { await work(ctx); } finally { wg.done(); }
   * ```
   */
  done(): void {
    if (this._count === 0) {
      throw new InvalidStateError('WaitGroup.done: counter would go below zero (done called more often than add)');
    }
    if (--this._count === 0 && this._q._length > 0) this._q.wakeAll();
  }

  /**
   * wait resolves when the counter is zero: at once if it already is (even with a done `ctx`,
   * since there is nothing to wait for), else when it reaches zero. It rejects with `ctx.err`
   * when `ctx` is done first, and then leaves nothing registered on `ctx`. While it waits, the
   * waiting task shows 'waiting: waitgroup' in dumps.
   *
   * @throws (as a rejection) `ctx.err` when `ctx` ends first; TypeError when `ctx` is not a context.
   * @example
   * ```ts
   * await wg.wait(ctx); // gives up with ctx.err if the request is cancelled
   * ```
   */
  wait(ctx?: Context): Promise<void> {
    try {
      checkOptionalCtx(ctx, 'WaitGroup.wait');
    } catch (e) {
      return Promise.reject(e);
    }
    // Read err first: on a context that ended unseen, reading it delivers the cancellation,
    // which runs abort listeners, and one of them may bring the counter to zero.
    const err = ctx?.err;
    if (this._count === 0) return RESOLVED;
    if (err !== undefined) return Promise.reject(err);
    return this._q.block(new Waiter(ctx), WAITING);
  }
}
