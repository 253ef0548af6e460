/**
 * Once: Go's sync.Once for asynchronous work.
 * @module
 */
import { describe } from './validate.js';

/**
 * Once runs a function at most once. The first `do(fn)` calls `fn`; every call, concurrent or
 * later, returns the same promise, which settles with `fn`'s result or its error. A failure is
 * kept too, as Go's Once keeps a panic: `fn` is never retried. (Retrying on failure was rejected:
 * callers racing a retry would each see a different outcome, which is what Once exists to avoid.
 * Make a new Once to retry.)
 *
 * `fn` must not wait on the same Once: the promise it would await is its own, and never settles.
 *
 * @example
 * ```ts
 * const loadCodes = new Once<CodeList>();
 * const codes = await loadCodes.do(() => fetchTerminology(ctx)); // one fetch, however many callers
 * ```
 */
export class Once<T = void> {
  private _p: Promise<T> | undefined = undefined;
  private _done = false;

  /** Whether `fn` has run to completion (returned, thrown, or its promise settled). */
  get done(): boolean {
    return this._done;
  }

  /**
   * do calls `fn` if no earlier call did, and returns the one shared promise of its outcome.
   *
   * @throws (as a rejection) TypeError when `fn` is not a function; whatever `fn` throws or
   *   rejects with, to every caller.
   * @example
   * ```ts
   * await init.do(async () => { await migrate(db); });
   * ```
   */
  do(fn: () => T | PromiseLike<T>): Promise<T> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`Once.do: fn must be a function (got ${describe(fn)})`));
    }
    if (this._p !== undefined) return this._p;
    let resolve!: (v: T | PromiseLike<T>) => void;
    let reject!: (e: unknown) => void;
    // The promise exists before fn runs, so a call made from inside fn gets it too.
    this._p = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    let r: T | PromiseLike<T>;
    try {
      r = fn();
    } catch (e) {
      this._done = true;
      reject(e);
      return this._p;
    }
    if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof (r as PromiseLike<T>).then === 'function') {
      // Mark done on a follower the shared promise adopts, not by attaching a handler to the
      // shared promise itself: that handler would mark a rejection handled and hide it from
      // Node's unhandled-rejection report when nobody awaits the Once.
      resolve(
        Promise.resolve(r).then(
          (v) => {
            this._done = true;
            return v;
          },
          (e: unknown) => {
            this._done = true;
            throw e;
          },
        ),
      );
    } else {
      this._done = true;
      resolve(r);
    }
    return this._p;
  }
}
