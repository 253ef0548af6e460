/**
 * Group: structured concurrency with errgroup's semantics. A group owns its tasks: it does not
 * end until they have, and cancelling it cancels them.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - A bounded queue with backpressure in the group: a group with a limit queues without bound and
 *   never drops; bounding and shedding load is WorkerPool's job, where the caller can be told.
 * - Killing tasks that ignore cancellation: JavaScript cannot, and pretending (dropping them from
 *   the books) hides the leak. A disposal that times out names them instead.
 * - One `AbortSignal` listener per task on the group's signal: tasks hang off the group's context
 *   through an intrusive list, so cancelling 10,000 tasks touches no EventTarget.
 * @module
 */
import {
  attach,
  background,
  checkDuration,
  detach,
  Link,
  newCancelCtx,
  offDone,
  onDone,
  TASK_KEY,
  type CancelCtx,
  type Context,
} from './context.js';
import { GroupClosedError, InvalidStateError, StopTimeoutError, isCancellation, quietCanceled } from './errors.js';
import { storage } from './als.js';
import {
  Entry,
  captureSite,
  enterWait,
  forEachEntry,
  formatSite,
  leaveWait,
  now,
  register,
  unregister,
  waitingState,
  type Labels,
} from './registry.js';
import { waiterOf } from './wait.js';
import { config } from './config.js';
import { watchTask } from './unreachable.js';
import { F_QUEUED, F_RUNNING, Task, finishTask, isOwnCancellation, type GoOptions } from './task.js';

/** Options for {@link Group}. */
export interface GroupOptions {
  /** Shown in dumps. Default "group". */
  name?: string;
  /** Shown in dumps. */
  labels?: Labels;
  /** At most this many tasks run at once; the rest wait in order. Default: no limit. */
  limit?: number;
  /** Cancel the group's context on the first failure (errgroup). Default true. */
  failFast?: boolean;
  /** How long disposal waits for tasks that ignore cancellation before naming them in a StopTimeoutError. Default: no limit. */
  stopTimeout?: number;
}

const GROUP_OPTIONS = new Set(['name', 'labels', 'limit', 'failFast', 'stopTimeout']);
const GO_OPTIONS = new Set(['name', 'labels']);
const RUNNING = 'running';
const SLOT = waitingState('group slot');
const GROUP_WAIT = waitingState('group.wait');
const DISPOSE = waitingState('group dispose');

/** Watches a group's context while tasks are queued, so they are rejected the moment it ends. */
class QueueWatch extends Link {
  readonly _g: Group;
  constructor(g: Group) {
    super();
    this._g = g;
  }
  _mark(): void {}
  _fire(): void {
    this._g._watching = false;
    this._g._rejectQueued();
  }
}

function checkGoOptions(opts: GoOptions, fn: string): void {
  for (const k in opts) {
    if (!GO_OPTIONS.has(k)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(k)}`);
  }
  if (opts.name !== undefined && typeof opts.name !== 'string') {
    throw new TypeError(`${fn}: name must be a string (got ${typeof opts.name})`);
  }
  if (opts.labels !== undefined && (typeof opts.labels !== 'object' || opts.labels === null)) {
    throw new TypeError(`${fn}: labels must be an object of strings`);
  }
}

function checkLimit(limit: unknown, fn: string): number {
  if (limit === undefined || limit === Infinity) return Infinity;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`${fn}: limit must be an integer >= 0 or Infinity (got ${String(limit)})`);
  }
  return limit;
}

/**
 * Group owns a set of tasks. `go(fn)` starts `fn(ctx)` as a task of the group; `wait()` resolves
 * when every task has finished and rejects with the first error; the group's context is then
 * done. With `failFast` (the default) the first failure cancels the group's context, so the
 * siblings are told to stop. A group is reusable after `wait()`: the next `go()` starts a new
 * round with a fresh context. Disposing (`await using`) cancels, waits, runs the `defer`
 * cleanups last-in-first-out, and ends the group for good.
 *
 * Cost: one task is two small objects (the task and its context) and, for an async function, the
 * await that follows it; no timer, no listener, no stack capture unless configured.
 *
 * @example
 * ```ts
 * await using group = new Group(ctx, { name: 'intake', limit: 8 });
 * for (const s of submissions) group.go((ctx) => validate(ctx, s), { name: 'validate' });
 * await group.wait(); // the first validation error, if any
 * ```
 */
export class Group extends Entry {
  /** @internal */ _parentCtx: Context;
  /** @internal */ _ctx: CancelCtx;
  /** @internal */ _stale = false;
  /** @internal */ _limit: number;
  /** @internal */ readonly _failFast: boolean;
  /** @internal */ readonly _stopTimeout: number | undefined;
  /** @internal */ _running = 0;
  /** @internal */ _pending = 0;
  /** @internal */ _queue: Task<any>[] = [];
  /** @internal */ _qHead = 0;
  /** @internal */ _pumping = false;
  /** @internal */ _watching = false;
  /** @internal */ _watch: QueueWatch | undefined = undefined;
  /** @internal */ _hasErr = false;
  /** @internal */ _firstErr: unknown = undefined;
  /** @internal */ _errors: unknown[] | undefined = undefined;
  /** The result of the last ended round, returned by wait() until the next go(). @internal */
  _roundHasErr = false;
  /** @internal */ _roundErr: unknown = undefined;
  /** @internal */ _idleWaiters: (() => void)[] | undefined = undefined;
  /** @internal */ _defers: (() => unknown)[] | undefined = undefined;
  /** @internal */ _closed = false;
  /** @internal */ _disposing: Promise<void> | undefined = undefined;
  /** @internal */ _disposeErr: unknown = undefined;
  /** Where failures go instead of wait(), for a group nobody waits on (the root). @internal */
  _failureSink: ((t: Task<any>, err: unknown) => void) | undefined = undefined;

  /**
   * @param parent The context the group's context derives from. Default: the current task's
   *   context when ambient tracking is on, else `background()`.
   * @throws TypeError for unknown options; RangeError for a bad `limit` or `stopTimeout`.
   */
  constructor(parent?: Context, options: GroupOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Group: options must be an object (got ${String(options)})`);
    }
    for (const k of Object.keys(options)) {
      if (!GROUP_OPTIONS.has(k)) throw new TypeError(`Group: unknown option ${JSON.stringify(k)}`);
    }
    if (options.name !== undefined && typeof options.name !== 'string') {
      throw new TypeError(`Group: name must be a string (got ${typeof options.name})`);
    }
    if (options.failFast !== undefined && typeof options.failFast !== 'boolean') {
      throw new TypeError(`Group: failFast must be a boolean (got ${typeof options.failFast})`);
    }
    if (options.stopTimeout !== undefined) checkDuration(options.stopTimeout, 'stopTimeout', 'Group');
    const limit = checkLimit(options.limit, 'Group');
    if (parent === null) throw new TypeError('Group: parent context is null; omit it or pass background()');
    const ambient = storage?.getStore() as Task<any> | undefined;
    const parentCtx = parent ?? ambient?._ctx ?? background();
    const owner = (parent === undefined ? ambient : (parentCtx.value(TASK_KEY) as Task<any> | undefined)) ?? undefined;
    super(options.name ?? 'group', options.labels, owner, RUNNING);
    this._parentCtx = parentCtx;
    this._ctx = newCancelCtx(parentCtx);
    this._limit = limit;
    this._failFast = options.failFast ?? true;
    this._stopTimeout = options.stopTimeout;
  }

  get kind(): 'group' {
    return 'group';
  }
  /** The group's name. */
  get name(): string {
    return this._name;
  }
  /** The group's context: its tasks' contexts derive from it. Done after `wait()` until the next `go()`. */
  get ctx(): Context {
    return this._ctx;
  }
  /** The task that created the group, if known. */
  get parent(): Task<unknown> | undefined {
    return this._owner as Task<unknown> | undefined;
  }
  /** The concurrency limit (Infinity when none). */
  get limit(): number {
    return this._limit;
  }
  /** Tasks started and not yet finished. */
  get running(): number {
    return this._running;
  }
  /** Tasks waiting for a slot. */
  get queued(): number {
    return this._pending - this._running;
  }

  /**
   * go starts `fn(ctx)` as a task of the group and returns the Task at once. With a limit and no
   * free slot, the task waits in order (state 'waiting: group slot'); if the group's context ends
   * first it never starts and rejects with the context's error.
   *
   * @throws GroupClosedError once the group is disposed; RangeError when the limit is 0.
   */
  go<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: GoOptions): Task<Awaited<T>> {
    return this._spawn(fn, options, this.go, false) as Task<Awaited<T>>;
  }

  /**
   * tryGo starts `fn(ctx)` only if a slot is free now, and returns the Task, or undefined when the
   * group is at its limit.
   *
   * @throws GroupClosedError once the group is disposed.
   */
  tryGo<T>(fn: (ctx: Context) => T | PromiseLike<T>, options?: GoOptions): Task<Awaited<T>> | undefined {
    return this._spawn(fn, options, this.tryGo, true) as Task<Awaited<T>> | undefined;
  }

  /**
   * The one spawn path. `parentCtx`, when given, is the context the task's own context derives
   * from instead of the group's (for helpers like every() that run under a caller's context); the
   * group still owns, counts and waits for the task.
   * @internal
   */
  _spawn(
    fn: (ctx: Context) => unknown,
    options: GoOptions | undefined,
    from: (...args: any[]) => unknown,
    onlyIfFree: boolean,
    parentCtx?: Context,
  ): Task<any> | undefined {
    if (this._closed) throw new GroupClosedError(`group "${this._name}" is disposed and accepts no tasks`);
    if (typeof fn !== 'function') throw new TypeError(`go: fn must be a function (got ${typeof fn})`);
    const free = this._running < this._limit && this._qHead === this._queue.length;
    if (onlyIfFree && !free) return undefined;
    if (this._limit === 0) throw new RangeError(`go: group "${this._name}" has limit 0 and accepts no tasks`);
    if (options !== undefined) checkGoOptions(options, onlyIfFree ? 'tryGo' : 'go');
    if (this._stale) {
      this._ctx = newCancelCtx(this._parentCtx);
      this._stale = false;
      this._roundHasErr = false;
      this._roundErr = undefined;
    }
    const t = new Task<any>(this, parentCtx ?? this._ctx, options?.name ?? (fn.name || 'task'), options?.labels, free ? RUNNING : SLOT);
    captureSite(t, from);
    register(t);
    if (this._pending++ === 0) register(this);
    if (free) {
      runTask(this, t, fn);
    } else {
      t._flags |= F_QUEUED;
      t._value = fn;
      this._queue.push(t);
      if (!this._watching) this._watchQueue();
      // The group's watcher sees the group's context end; a caller's context needs its own eye.
      if (parentCtx !== undefined) onDone(t._ctx, () => rejectIfQueued(t));
    }
    return t;
  }

  /** Installs the queue watcher on the current context. @internal */
  _watchQueue(): void {
    this._watching = true;
    // attach() fires the watcher at once when the context is already done.
    attach((this._watch ??= new QueueWatch(this)), this._ctx);
  }

  /** Rejects every queued task with its context's error. @internal */
  _rejectQueued(): void {
    const q = this._queue;
    const start = this._qHead;
    this._queue = [];
    this._qHead = 0;
    for (let i = start; i < q.length; i++) {
      const t = q[i] as Task<any>;
      if (t._outcome === 0) finishTask(t, false, t._ctx.err ?? this._ctx.err ?? quietCanceled(undefined));
    }
  }

  /** Starts queued tasks while slots are free. Loops rather than recursing, so a queue of synchronous tasks cannot overflow the stack. @internal */
  _pump(): void {
    if (this._pumping) return;
    this._pumping = true;
    try {
      const q = this._queue;
      while (this._running < this._limit && this._qHead < q.length) {
        const t = q[this._qHead] as Task<any>;
        q[this._qHead++] = undefined as unknown as Task<any>;
        if (t._outcome !== 0) continue;
        if (t._ctx._err !== undefined) {
          rejectIfQueued(t);
          continue;
        }
        t._flags &= ~F_QUEUED;
        const fn = t._value as (ctx: Context) => unknown;
        t._value = undefined;
        t._state = RUNNING;
        t._since = now();
        runTask(this, t, fn);
      }
      if (this._qHead === q.length && q.length > 0) {
        this._queue = [];
        this._qHead = 0;
      } else if (this._qHead > 1024 && this._qHead * 2 > q.length) {
        this._queue = q.slice(this._qHead);
        this._qHead = 0;
      }
      if (this._watching && this._qHead === this._queue.length && this._watch !== undefined) {
        this._watching = false;
        detach(this._watch);
      }
    } finally {
      this._pumping = false;
    }
  }

  /** Called once per task when it settles. @internal */
  _taskDone(t: Task<any>, ok: boolean, value: unknown): void {
    if ((t._flags & F_RUNNING) !== 0) {
      t._flags &= ~F_RUNNING;
      this._running--;
    }
    this._pending--;
    if (!ok && !isOwnCancellation(t, value)) {
      if (this._failureSink !== undefined) this._failureSink(t, value);
      else if (!(this._disposeErr !== undefined && isCancellation(value))) this._recordError(value);
    }
    if (this._qHead < this._queue.length) this._pump();
    if (this._pending === 0) this._becameIdle();
  }

  /** @internal */
  _recordError(err: unknown): void {
    if (!this._hasErr) {
      this._hasErr = true;
      this._firstErr = err;
      if (this._failFast) this._ctx._cancel(quietCanceled(err), err);
    }
    if (!this._failFast) (this._errors ??= []).push(err);
  }

  /** @internal */
  _becameIdle(): void {
    if (!this._closed) unregister(this);
    const waiters = this._idleWaiters;
    if (waiters !== undefined) {
      this._idleWaiters = undefined;
      for (const w of waiters) w();
    }
  }

  /** Ends the round: fixes its result for every wait() until the next go(), and cancels its context. @internal */
  _endRound(): void {
    this._roundHasErr = this._hasErr;
    this._roundErr = !this._hasErr
      ? undefined
      : this._failFast
        ? this._firstErr
        : new AggregateError(this._errors ?? [], `${this._errors?.length ?? 0} task(s) failed in group "${this._name}"`);
    const cause = this._firstErr;
    this._hasErr = false;
    this._firstErr = undefined;
    this._errors = undefined;
    if (this._ctx._err === undefined) {
      const e = quietCanceled(cause);
      this._ctx._cancel(e, cause ?? e);
    }
    this._stale = true;
  }

  /** Resolves when no task is pending. @internal */
  _idle(): Promise<void> {
    if (this._pending === 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this._idleWaiters ??= []).push(resolve));
  }

  /**
   * wait resolves when every task of the group has finished, and rejects with the first error
   * (the same object), or with an AggregateError of all of them when `failFast` is false. The
   * group's context is then done (cause: the first error, else a CanceledError), and the next
   * `go()` starts a new round. With `ctx`, the wait itself gives up when `ctx` is done (rejecting
   * with `ctx.err`; the tasks go on), and the waiting task shows 'waiting: group.wait' in dumps.
   */
  async wait(ctx?: Context): Promise<void> {
    if (this._pending > 0) {
      const waiter = waiterOf(ctx);
      const prev = enterWait(waiter, GROUP_WAIT);
      try {
        // New tasks may join the round while we wait; the round ends only when none is left.
        while (this._pending > 0) {
          if (ctx === undefined) await this._idle();
          else await raceCtx(this._idle(), ctx);
        }
      } finally {
        leaveWait(waiter, prev, GROUP_WAIT);
      }
    }
    if (!this._stale) this._endRound();
    if (this._roundHasErr) throw this._roundErr;
  }

  /** Cancels the group's context; tasks are told to stop. `wait()` then rejects with the cancellation unless a task failed first. */
  cancel(cause?: unknown): void {
    this._ctx._cancelBy(cause);
  }

  /**
   * setLimit changes the concurrency limit (Infinity or undefined for none).
   * @throws InvalidStateError while tasks run or wait; RangeError for a bad limit.
   */
  setLimit(limit: number | undefined): void {
    const l = checkLimit(limit, 'setLimit');
    if (this._pending > 0) {
      throw new InvalidStateError(`setLimit: group "${this._name}" has ${this._pending} active task(s); change the limit when it is idle`);
    }
    this._limit = l;
  }

  /** defer registers a cleanup that runs when the group is disposed, last-in-first-out, one at a time. */
  defer(fn: () => unknown): void {
    if (typeof fn !== 'function') throw new TypeError(`defer: fn must be a function (got ${typeof fn})`);
    if (this._closed) throw new GroupClosedError(`group "${this._name}" is disposed; defer cleanups before disposing it`);
    (this._defers ??= []).push(fn);
  }

  /**
   * Disposes the group: cancels its context, waits for its tasks (naming those still running after
   * `stopTimeout` in a StopTimeoutError), runs the deferred cleanups, and refuses `go()` from then
   * on. Rethrows the first task error, never the cancellation the disposal itself caused.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return (this._disposing ??= this._dispose());
  }

  private async _dispose(): Promise<void> {
    this._closed = true;
    const cancelErr = quietCanceled(undefined);
    cancelErr.message = `group "${this._name}" disposed`;
    this._disposeErr = cancelErr;
    if (this._ctx._err === undefined) this._ctx._cancel(cancelErr, cancelErr);
    register(this);
    const prevState = this._state;
    this._state = DISPOSE;
    this._since = now();
    let stuck: StopTimeoutError | undefined;
    if (this._pending > 0) {
      const idle = this._idle();
      if (this._stopTimeout === undefined) await idle;
      else stuck = await this._idleOrTimeout(idle, this._stopTimeout);
    }
    let deferErr: unknown;
    let hasDeferErr = false;
    const defers = this._defers;
    this._defers = undefined;
    if (defers !== undefined) {
      for (let i = defers.length - 1; i >= 0; i--) {
        try {
          await (defers[i] as () => unknown)();
        } catch (e) {
          if (!hasDeferErr) {
            hasDeferErr = true;
            deferErr = e;
          }
        }
      }
    }
    this._state = prevState;
    if (this._pending === 0) unregister(this);
    if (stuck !== undefined) throw stuck;
    if (this._hasErr) {
      this._endRound();
      throw this._roundErr;
    }
    if (hasDeferErr) throw deferErr;
  }

  private async _idleOrTimeout(idle: Promise<void>, ms: number): Promise<StopTimeoutError | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<true>((resolve) => {
      timer = setTimeout(resolve, ms, true);
    });
    try {
      const r = await Promise.race([idle, timedOut]);
      if (r !== true) return undefined;
    } finally {
      clearTimeout(timer);
    }
    const tasks: StopTimeoutError['tasks'] = [];
    const at = now();
    forEachEntry((e) => {
      if (e instanceof Task && e._owner === this) {
        tasks.push({ id: e.id, name: e._name, state: e._state, stateAge: at - e._since, spawnSite: formatSite(e) });
      }
    });
    const list = tasks
      .map((t) => `  task ${t.id} "${t.name}" [${t.state}]${t.spawnSite === undefined ? '' : `\n    ${t.spawnSite.split('\n').join('\n    ')}`}`)
      .join('\n');
    return new StopTimeoutError(
      `group "${this._name}": ${tasks.length} task(s) still running ${ms}ms after cancellation:\n${list}`,
      tasks,
    );
  }

  get [Symbol.toStringTag](): string {
    return 'Group';
  }
}

/** A queued task whose context ended never starts: it rejects with the context's error. */
function rejectIfQueued(t: Task<any>): void {
  if ((t._flags & F_QUEUED) !== 0 && t._outcome === 0) finishTask(t, false, t._ctx.err);
}

/** Starts a task's function and arranges for its outcome to reach the task. @internal */
export function runTask(g: Group, t: Task<any>, fn: (ctx: Context) => unknown): void {
  g._running++;
  t._flags |= F_RUNNING;
  let r: unknown;
  try {
    const s = storage;
    r = s === undefined ? fn(t._ctx) : s.run(t, fn, t._ctx);
  } catch (e) {
    finishTask(t, false, e);
    return;
  }
  if (r instanceof Promise) {
    follow(t, r);
  } else if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
    // A foreign thenable may throw from then(); let a real promise adopt it.
    follow(t, Promise.resolve(r));
  } else {
    finishTask(t, true, r);
  }
}

// Observing a promise costs a then(): a derived promise, a reaction and two handlers. Handlers
// bound to the task (48 bytes each) are the cheapest per-task form measured here: two closures
// over a shared context cost ~56 bytes more, an async function awaiting the promise ~200 more.
// Neither is reachable from the registry: only the task's promise holds them.
function fulfilled(this: Task<any>, v: unknown): void {
  finishTask(this, true, v);
}
function rejected(this: Task<any>, e: unknown): void {
  finishTask(this, false, e);
}
function follow(t: Task<any>, p: PromiseLike<unknown>): void {
  p.then(fulfilled.bind(t), rejected.bind(t));
  // Detection of tasks that can never finish (unreachable.ts) is a mode: watching costs 20-30% of
  // a spawn, too much to pay by default, so with it off this is one property read.
  if (config.detectUnreachable) watchTask(t, p);
}

/** Resolves with `p`, or rejects with `ctx.err` when `ctx` is done first. @internal */
export async function raceCtx<T>(p: Promise<T>, ctx: Context): Promise<T> {
  ctx.throwIfDone();
  let reject!: () => void;
  const done = new Promise<never>((_, rej) => {
    reject = () => rej(ctx.err);
  });
  const node = onDone(ctx, reject);
  try {
    return await Promise.race([p, done]);
  } finally {
    offDone(node);
  }
}
