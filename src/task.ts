/**
 * Task: one unit of work owned by a group, with its own context, its line in the registry, and a
 * result that can be awaited.
 * @module
 */
import { CancelCtx, attach, type Context } from './context.js';
import { isCancellation, quietCanceled } from './errors.js';
import { Entry, FINAL, observers, totals, unregister, type Labels, type TaskState } from './registry.js';
import type { Group } from './group.js';
import { F_WATCHED, unwatchTask } from './unreachable.js';

/** Options for `group.go()`, `group.tryGo()` and `go()`. */
export interface GoOptions {
  /** Shown in dumps. Default: the function's name, else "task". */
  name?: string;
  /** Shown in dumps (and passed through the dump's redaction); never put patient data here. */
  labels?: Labels;
}

const PENDING = 0;
const FULFILLED = 1;
const REJECTED = 2;

// Bits 0 and 7 of `_flags` are the registry's.
/** @internal */ export const F_SELF_CANCELED = 2;
/** @internal */ export const F_QUEUED = 4;
/** @internal */ export const F_RUNNING = 8;
/** Someone asked for the task's result. @internal */ export const F_OBSERVED = 16;

/** The cause a task's own context gets when the task returns: its descendants are done with it. */
const TASK_FINISHED = quietCanceled(undefined);
TASK_FINISHED.message = 'task finished';

/**
 * Task is a unit of work spawned by {@link Group.go} or `go()`. It is awaitable: `await task`
 * gives the function's result or rejects with its error. Its context (`task.ctx`, also the
 * argument the function receives) is cancelled by `task.cancel()`, by the group, and, once the
 * function has returned, by the task itself so nothing derived from it outlives it.
 *
 * A failed task observed by its group never becomes an unhandled rejection: the error goes to
 * `group.wait()`. Awaiting the task is optional.
 *
 * @example
 * ```ts
 * const task = group.go(async (ctx) => scoreQuestionnaire(ctx, id), { name: 'score' });
 * task.cancel();          // tell it to stop
 * await task.catch(() => {}); // its CanceledError, if it obeyed
 * ```
 */
export class Task<T = unknown> extends Entry implements PromiseLike<T> {
  /** @internal */ _ctx: CancelCtx;
  /** @internal */ _outcome: 0 | 1 | 2 = PENDING;
  /** The result, the error, or (while queued) the function to run. @internal */
  _value: unknown;
  /** @internal */ _settle: { p: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } | undefined =
    undefined;

  /** @internal */
  constructor(group: Group, groupCtx: Context, name: string, labels: Labels | undefined, state: string) {
    super(name, labels, group, state);
    const ctx = new CancelCtx(groupCtx);
    ctx._task = this;
    this._ctx = ctx;
    attach(ctx, groupCtx);
  }

  get kind(): 'task' {
    return 'task';
  }
  /** The task's name, as shown in dumps. */
  get name(): string {
    return this._name;
  }
  /** The task's labels (empty when none were given). */
  get labels(): Labels {
    return this._labels ?? {};
  }
  /**
   * 'running', 'waiting: …' (including 'waiting: group slot' while queued), then 'succeeded', 'failed' or 'canceled';
   * or 'leaked (unreachable)' when detection is on and V8 collected its pending promise (it can never finish).
   */
  get state(): TaskState {
    return this._state as TaskState;
  }
  /** The group that owns the task. */
  get parent(): Group {
    return this._owner as Group;
  }
  /** The task's own context, the one its function receives. */
  get ctx(): Context {
    return this._ctx;
  }

  /**
   * Tells the task to stop: cancels its context. A queued task never starts and rejects with
   * the context's error. A task that obeys rejects with a CanceledError, which is its own outcome
   * and not a failure of its group.
   */
  cancel(cause?: unknown): void {
    if (this._outcome !== PENDING) return;
    // Set before cancelling: the cancellation may settle the task synchronously.
    if (this._ctx._err === undefined) this._flags |= F_SELF_CANCELED;
    if (this._ctx._cancelBy(cause) && (this._flags & F_QUEUED) !== 0) finishTask(this, false, this._ctx._err);
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this._promise().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this._promise().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this._promise().finally(onfinally);
  }

  /** The result promise, made on first use so un-awaited tasks cost no promise. @internal */
  _promise(): Promise<T> {
    this._flags |= F_OBSERVED;
    if (this._outcome === FULFILLED) return Promise.resolve(this._value as T);
    if (this._outcome === REJECTED) return Promise.reject(this._value);
    if (this._settle === undefined) {
      let resolve!: (v: T) => void;
      let reject!: (e: unknown) => void;
      const p = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this._settle = { p, resolve, reject };
    }
    return this._settle.p;
  }

  get [Symbol.toStringTag](): string {
    return 'Task';
  }
}

const SUCCEEDED = 'succeeded' as const;
const FAILED = 'failed' as const;
const CANCELED = 'canceled' as const;

/**
 * Records a task's outcome, ends its context, takes it out of the registry and tells its group.
 * Idempotent: the first outcome wins.
 * @internal
 */
export function finishTask(t: Task<any>, ok: boolean, value: unknown): void {
  if (t._outcome !== PENDING) return;
  t._outcome = ok ? FULFILLED : REJECTED;
  t._value = value;
  const ctx = t._ctx;
  const canceled = !ok && ctx._err !== undefined && isCancellation(value);
  const outcome = ok ? SUCCEEDED : canceled ? CANCELED : FAILED;
  t._state = outcome;
  t._flags |= FINAL;
  totals[outcome]++;
  if (observers.finish !== undefined) observers.finish(t, outcome);
  // Stopped by something other than its group (task.cancel(), or the caller's context a task
  // was spawned under): that is the task's own outcome, not a failure the group must see.
  if (canceled && ctx._err !== (t._owner as Group)._ctx._err) t._flags |= F_SELF_CANCELED;
  if (ctx._err === undefined) ctx._cancel(TASK_FINISHED, TASK_FINISHED);
  unregister(t);
  // Detection of tasks that can never finish (unreachable.ts): a finished task's cell goes now.
  if ((t._flags & F_WATCHED) !== 0) unwatchTask(t);
  const s = t._settle;
  if (s !== undefined) {
    t._settle = undefined;
    if (ok) s.resolve(value);
    else s.reject(value);
  }
  (t._owner as Group)._taskDone(t, ok, value);
}

/** Whether a task's failure is its own cancellation rather than a failure its group must see. @internal */
export function isOwnCancellation(t: Task<any>, err: unknown): boolean {
  return (t._flags & F_SELF_CANCELED) !== 0 && isCancellation(err);
}
