/**
 * Stopper: a one-shot "stop now" flag that can be polled, awaited, or handed on as a context;
 * Go's `close(stopCh)` idiom.
 * @module
 */
import { background, withCancel, type CancelableContext, type Context } from './context.js';

/**
 * Stopper is told to stop once; `stop()` again does nothing. Code can poll `isStopped`, await
 * `stopped`, or pass `ctx` to anything that takes a context. Each view is made on first read, so
 * a Stopper that is only polled costs one object.
 *
 * @example
 * ```ts
 * const stopper = new Stopper();
 * process.once('SIGTERM', () => stopper.stop());
 * while (!stopper.isStopped) await pollHis(stopper.ctx);
 * ```
 */
export class Stopper {
  private _isStopped = false;
  private _cause: unknown = undefined;
  private _stopped: Promise<void> | undefined = undefined;
  private _resolve: (() => void) | undefined = undefined;
  private _c: CancelableContext | undefined = undefined;

  /** Whether `stop()` has been called. */
  get isStopped(): boolean {
    return this._isStopped;
  }

  /** A promise that resolves (never rejects) once `stop()` has been called. */
  get stopped(): Promise<void> {
    if (this._stopped === undefined) {
      this._stopped = this._isStopped
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this._resolve = resolve;
          });
    }
    return this._stopped;
  }

  /**
   * A context, derived from `background()`, that is done (with a CanceledError whose cause is
   * `stop()`'s cause) once the Stopper is stopped. The same context on every read.
   */
  get ctx(): Context {
    if (this._c === undefined) {
      this._c = withCancel(background());
      if (this._isStopped) this._c.cancel(this._cause);
    }
    return this._c.ctx;
  }

  /**
   * stop marks the Stopper stopped, resolves `stopped` and cancels `ctx`, all before it returns.
   * Idempotent: only the first call (and its cause) counts.
   *
   * @param cause Why; becomes `ctx.cause`.
   * @returns true if this call stopped it, false if it was already stopped.
   * @example
   * ```ts
   * stopper.stop(new Error('shutting down'));
   * ```
   */
  stop(cause?: unknown): boolean {
    if (this._isStopped) return false;
    this._isStopped = true;
    this._cause = cause;
    this._c?.cancel(cause);
    const resolve = this._resolve;
    if (resolve !== undefined) {
      this._resolve = undefined;
      resolve();
    }
    return true;
  }
}
