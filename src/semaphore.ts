/**
 * Semaphore: a weighted semaphore with Go's golang.org/x/sync/semaphore semantics, waiting
 * through contexts.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Letting a small request overtake a large one that waits at the head ("it fits, why wait?"):
 *   under load the large request would starve. Like Go, waiters are served strictly in order.
 * - Queueing a request larger than the size: it could never be served, and in a strict FIFO it
 *   would block everyone behind it forever. It is refused at once with a RangeError.
 * - Granting tokens to a waiter whose context has ended but whose cancellation is still being
 *   delivered: the caller would get tokens it no longer wants and never releases. Such a waiter
 *   fails, as Go's Acquire does when ctx.Done() and the grant race.
 * @module
 */
import type { Context } from './context.js';
import { InvalidStateError } from './errors.js';
import { WaitQueue, Waiter } from './waitqueue.js';
import { waitingState } from './registry.js';

const ACQUIRING = waitingState('semaphore');
import { checkOptionalCtx, describe } from './validate.js';

class Acquirer extends Waiter {
  readonly _n: number;
  constructor(ctx: Context | undefined, n: number) {
    super(ctx);
    this._n = n;
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Semaphore hands out up to `size` tokens. `acquire(ctx, n)` waits until `n` tokens are free and
 * every earlier waiter has been served (FIFO, so a large request at the head holds back later
 * small ones rather than starving), and gives up with `ctx.err` when `ctx` ends first. While it
 * waits, the waiting task shows 'waiting: semaphore' in dumps.
 *
 * Cost: an acquire that does not wait allocates nothing; one that waits allocates its queue entry,
 * its promise and one node on its context, all dropped when it settles.
 *
 * @throws RangeError from the constructor when `size` is not a positive integer.
 * @example
 * ```ts
 * const dbSlots = new Semaphore(4);
 * await dbSlots.acquire(ctx);
 * try { await exportVisit(ctx, visit); } finally { dbSlots.release(); }
 * ```
 */
export class Semaphore {
  private readonly _size: number;
  /** Tokens held. Invariant: 0 <= _cur <= _size. */
  private _cur = 0;
  private readonly _q: WaitQueue<Acquirer>;

  constructor(size: number) {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`Semaphore: size must be a positive integer (got ${describe(size)})`);
    }
    this._size = size;
    // A cancelled head may have been what held the others back.
    this._q = new WaitQueue<Acquirer>((wasHead) => {
      if (wasHead) this._notify();
    });
  }

  /** The number of tokens, fixed at construction. */
  get size(): number {
    return this._size;
  }

  /** Tokens free right now (`size` minus the tokens held). */
  get available(): number {
    return this._size - this._cur;
  }

  /** Callers waiting in `acquire`. */
  get waiting(): number {
    return this._q._length;
  }

  /**
   * acquire resolves once `n` tokens are taken for the caller, in arrival order. It rejects with
   * `ctx.err` when `ctx` is done first, and at once when `ctx` is already done, even if tokens are
   * free; a cancelled acquire takes no token and gives its place in line back.
   *
   * @param ctx What bounds the wait; undefined waits for as long as it takes.
   * @param n Tokens to take, an integer from 1 to `size`. Default 1.
   * @throws (as a rejection) RangeError when `n` is not an integer from 1 to `size`, which would
   *   never be served; TypeError when `ctx` is not a context.
   * @example
   * ```ts
   * await sem.acquire(ctx, 2); // a heavy job counts double
   * ```
   */
  acquire(ctx?: Context, n = 1): Promise<void> {
    try {
      checkOptionalCtx(ctx, 'Semaphore.acquire');
      this._checkN(n, 'acquire');
    } catch (e) {
      return Promise.reject(e);
    }
    const err = ctx?.err;
    if (err !== undefined) return Promise.reject(err);
    if (this._q._length === 0 && this._size - this._cur >= n) {
      this._cur += n;
      return RESOLVED;
    }
    return this._q.block(new Acquirer(ctx, n), ACQUIRING);
  }

  /**
   * tryAcquire takes `n` tokens if they are free now and nobody is waiting (a queued waiter is
   * never overtaken), and reports whether it did.
   *
   * @throws RangeError when `n` is not an integer from 1 to `size`.
   * @example
   * ```ts
   * if (!sem.tryAcquire()) return reply(503);
   * ```
   */
  tryAcquire(n = 1): boolean {
    this._checkN(n, 'tryAcquire');
    if (this._q._length === 0 && this._size - this._cur >= n) {
      this._cur += n;
      return true;
    }
    return false;
  }

  /**
   * release gives back `n` tokens and serves the waiters that now fit, oldest first.
   *
   * @throws InvalidStateError when more tokens would be released than are held (nothing is
   *   released then); RangeError when `n` is not a positive integer.
   * @example
   * ```ts
   * sem.release(2);
   * ```
   */
  release(n = 1): void {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`Semaphore.release: n must be a positive integer (got ${describe(n)})`);
    }
    if (n > this._cur) {
      throw new InvalidStateError(`Semaphore.release: releasing ${n} token(s) but only ${this._cur} are held`);
    }
    this._cur -= n;
    this._notify();
  }

  private _checkN(n: unknown, fn: string): asserts n is number {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > this._size) {
      throw new RangeError(`Semaphore.${fn}: n must be an integer from 1 to the size ${this._size} (got ${describe(n)})`);
    }
  }

  /** Serves waiters from the head while they fit; stops at the first that does not (FIFO). */
  private _notify(): void {
    const q = this._q;
    // Re-read the head every turn: reading a fromSignal context's err may deliver its
    // cancellation right here, and that removes waiters (and may serve some) under our feet.
    for (let w = q._head; w !== null; w = q._head) {
      const err = w._ctx?.err;
      if (err !== undefined) {
        q.fail(w, err);
        continue;
      }
      if (this._size - this._cur < w._n) break;
      this._cur += w._n;
      q.wake(w);
    }
  }
}
