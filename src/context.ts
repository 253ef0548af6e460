/**
 * Contexts: Go's `context` on top of the web platform's `AbortSignal`.
 *
 * A context carries a cancellation signal, an optional deadline and request-scoped values down a
 * call tree. Cancelling a context cancels every context derived from it, synchronously: when
 * `cancel()` returns, every descendant's `err` is set and its `signal.aborted` is true.
 *
 * Implementation notes. The public surface is one interface ({@link Context}) and a handful of
 * functions; the work is done by four small unexported classes. A cancellable context keeps its
 * children in an intrusive doubly linked list (O(1) attach and detach, no allocation), so a
 * long-lived parent never accumulates listeners: a child that finishes unlinks itself. The
 * `AbortController` behind `ctx.signal` and the promise behind `ctx.done` are created only when
 * read; cancellation itself needs neither. Children are notified through the list, never through
 * `AbortSignal` listeners, except when the parent is a user-written context (then the only way in
 * is its signal, and the listener is removed when the child ends).
 * @module
 */
import {
  CanceledError,
  DeadlineExceededError,
  quietCanceled,
  quietDeadline,
} from './errors.js';
import { describe, isContextLike } from './validate.js';

/** The error a done context reports. */
export type ContextError = CanceledError | DeadlineExceededError;

/**
 * A typed key for {@link withValue}. Two keys never collide, even with the same description.
 *
 * @example
 * ```ts
 * const PatientId = createKey<string>('patientId');
 * const ctx = withValue(background(), PatientId, 'P-0042');
 * ctx.value(PatientId); // 'P-0042', typed string | undefined
 * ```
 */
export interface ContextKey<T> {
  readonly description: string;
  /** Phantom field that carries the value type; never set. */
  readonly __type?: T;
}

/** createKey returns a new, unique key for {@link withValue}. */
export function createKey<T>(description: string): ContextKey<T> {
  return Object.freeze({ description, toString: () => `ContextKey(${description})` }) as ContextKey<T>;
}

/**
 * Context carries cancellation, a deadline and values across API boundaries. It is an interface:
 * a user-written object that implements it (typically by delegating to another context) can be a
 * parent, and its cancellation reaches its descendants synchronously through its `signal`.
 */
export interface Context {
  /** An `AbortSignal` that aborts when the context is done, with `err` as its reason. */
  readonly signal: AbortSignal;
  /** A promise that resolves (never rejects) when the context is done. */
  readonly done: Promise<void>;
  /** `undefined` while the context is live; then `CanceledError` or `DeadlineExceededError`, fixed for good. */
  readonly err: ContextError | undefined;
  /** Why the context ended: the cause given to `cancel()` (or the timeout cause), else `err`. `undefined` while live. */
  readonly cause: unknown;
  /** When the context will be done by itself, as epoch milliseconds, or `undefined`. */
  readonly deadline: number | undefined;
  /** The value bound to `key` by the nearest {@link withValue}, or `undefined`. */
  value<T>(key: ContextKey<T>): T | undefined;
  value(key: unknown): unknown;
  /** Throws `err` if the context is done. */
  throwIfDone(): void;
}

/** Cancels a context. The first call wins; later calls do nothing. A null or undefined cause means "no cause". */
export type CancelFunc = (cause?: unknown) => void;

/** What {@link withCancel}, {@link withTimeout} and {@link withDeadline} return. */
export interface CancelableContext {
  ctx: Context;
  cancel: CancelFunc;
}

// --- shared never-done pieces -------------------------------------------------------------------

let neverSignal: AbortSignal | undefined;
function getNeverSignal(): AbortSignal {
  // One controller that is never aborted serves every context that can never be cancelled.
  return (neverSignal ??= new AbortController().signal);
}
const neverDone: Promise<void> = new Promise<void>(() => {});

// --- the child list -----------------------------------------------------------------------------

/**
 * A node in a cancellable context's child list: a derived context or an internal waiter (a sleep,
 * an afterFunc, a blocked acquire). Invariant: `owner` is the context whose list holds the node, or
 * null; a node is in at most one list.
 * @internal
 */
export abstract class Link {
  _prev: Link | null = null;
  _next: Link | null = null;
  _owner: CancelCtx | null = null;
  /** Phase 1 of a cancellation: record the error. Must not run user code. */
  abstract _mark(err: ContextError, cause: unknown): void;
  /**
   * Phase 2: notify (abort signals, resolve promises, wake waiters). May run user code. Idempotent,
   * also when re-entered from that user code: each notification happens once.
   */
  abstract _fire(): void;
}

function unlink(node: Link): void {
  const owner = node._owner;
  // While the owner is being cancelled it walks its own list and clears these fields; touching
  // them here would cut the walk short.
  if (owner === null || owner._err !== undefined) return;
  const prev = node._prev;
  const next = node._next;
  if (prev === null) owner._head = next;
  else prev._next = next;
  if (next !== null) next._prev = prev;
  node._prev = node._next = null;
  node._owner = null;
  if (owner._head === null) owner._lastChildGone();
}

function linkInto(owner: CancelCtx, node: Link): void {
  const head = owner._head;
  node._owner = owner;
  node._next = head;
  if (head !== null) head._prev = node;
  else owner._firstChildCame();
  owner._head = node;
}

/** The largest delay setTimeout honours; longer ones fire after 1 ms with a warning. */
const MAX_TIMER = 2 ** 31 - 1;

// --- the four context kinds ---------------------------------------------------------------------

class BackgroundCtx implements Context {
  get signal(): AbortSignal {
    return getNeverSignal();
  }
  get done(): Promise<void> {
    return neverDone;
  }
  get err(): undefined {
    return undefined;
  }
  get cause(): undefined {
    return undefined;
  }
  get deadline(): undefined {
    return undefined;
  }
  value(_key: unknown): any {
    return undefined;
  }
  throwIfDone(): void {}
  toString(): string {
    return 'context.Background';
  }
}

const BACKGROUND = new BackgroundCtx();

/**
 * The rarely used parts of a cancellable context, allocated on first need so the common case (a
 * task's context: created, maybe cancelled, detached) stays small.
 */
class Extras {
  ctrl: AbortController | undefined = undefined;
  doneP: Promise<void> | undefined = undefined;
  resolveDone: (() => void) | undefined = undefined;
  /** Own deadline (epoch ms), set only when earlier than the parent's. */
  deadline: number | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  timeoutCause: unknown = undefined;
  /** fromSignal's source signal. */
  src: AbortSignal | undefined = undefined;
  /** The abort listener on a foreign parent's signal, or on `src`, while one is installed. */
  listener: (() => void) | undefined = undefined;
  listenTo: AbortSignal | undefined = undefined;
  /** A bridge made for a waiter under a foreign parent: it leaves when its last waiter does. */
  bridge = false;
}

/**
 * A context that can be cancelled: by its cancel function, by its deadline, by its parent, or (for
 * {@link fromSignal}) by a source signal.
 * @internal
 */
export class CancelCtx extends Link implements Context {
  _parent: Context;
  _err: ContextError | undefined = undefined;
  _cause: unknown = undefined;
  /** First child or waiter; see {@link Link}. */
  _head: Link | null = null;
  /** The task this is the context of, if any (typed loosely to keep this module free of task.ts). */
  _task: object | null = null;
  _x: Extras | undefined = undefined;

  constructor(parent: Context) {
    super();
    this._parent = parent;
  }

  get signal(): AbortSignal {
    const x = (this._x ??= new Extras());
    if (x.src !== undefined) return x.src;
    let ctrl = x.ctrl;
    if (ctrl === undefined) {
      ctrl = x.ctrl = new AbortController();
      if (this._err !== undefined) ctrl.abort(this._err);
    }
    return ctrl.signal;
  }

  get done(): Promise<void> {
    const x = (this._x ??= new Extras());
    if (x.doneP === undefined) {
      if (this.err !== undefined) {
        x.doneP = Promise.resolve();
      } else {
        x.doneP = new Promise<void>((resolve) => {
          x.resolveDone = resolve;
        });
        if (x.src !== undefined) this._listenSource();
      }
    }
    return x.doneP;
  }

  get err(): ContextError | undefined {
    // A fromSignal context may have been aborted before our listener (if any) ran.
    if (this._err === undefined && this._x !== undefined && this._x.src?.aborted === true) this._abortedBySource();
    return this._err;
  }

  get cause(): unknown {
    return this.err === undefined ? undefined : this._cause;
  }

  get deadline(): number | undefined {
    const own = this._x?.deadline;
    return own !== undefined ? own : this._parent.deadline;
  }

  value(key: unknown): any {
    return lookup(this, key);
  }

  throwIfDone(): void {
    const err = this.err;
    if (err !== undefined) throw err;
  }

  /**
   * What every public cancel (a cancel function, `task.cancel`, `group.cancel`) does: cancel with
   * the user's cause (null/undefined meaning none) and return true; or, when already marked by an
   * ancestor whose cancel is still notifying (the call comes from one of its listeners), finish
   * the notifications now so this call too returns with the subtree aborted, and return false.
   */
  _cancelBy(cause: unknown): boolean {
    if (this._err !== undefined) {
      this._fire(); // a no-op once notified
      return false;
    }
    const err = quietCanceled(cause ?? undefined);
    return this._cancel(err, cause ?? err);
  }

  /** Cancels this context and its subtree. Returns false when it was already done. */
  _cancel(err: ContextError, cause: unknown): boolean {
    if (this._err !== undefined) return false;
    this._mark(err, cause);
    // Notify before leaving the parent's list: should a listener cancel an ancestor meanwhile,
    // the ancestor's walk still finds this context and completes its notifications.
    this._fire();
    this._detach();
    return true;
  }

  _mark(err: ContextError, cause: unknown): void {
    if (this._err !== undefined) return;
    this._err = err;
    this._cause = cause;
    const x = this._x;
    if (x !== undefined && x.timer !== undefined) {
      clearTimeout(x.timer);
      x.timer = undefined;
    }
    for (let c = this._head; c !== null; c = c._next) c._mark(err, cause);
  }

  _fire(): void {
    const x = this._x;
    if (x !== undefined) {
      if (x.listener !== undefined) this._removeListener();
      // Own notifications first, then the subtree: like a DOM signal before its dependents.
      if (x.ctrl !== undefined && !x.ctrl.signal.aborted) x.ctrl.abort(this._err);
      const resolve = x.resolveDone;
      if (resolve !== undefined) {
        x.resolveDone = undefined;
        resolve();
      }
    }
    // A child leaves the list only once notified: a cancel() re-entered from a listener fires this
    // context again, and that nested walk must still reach every child not yet notified.
    let c: Link | null;
    while ((c = this._head) !== null) {
      c._fire();
      if (this._head !== c) continue; // a nested walk took it off already
      const next = c._next;
      this._head = next;
      if (next !== null) next._prev = null;
      c._next = null;
      c._owner = null;
    }
  }

  /** Leaves the parent's list (or stops listening to a foreign parent). */
  _detach(): void {
    if (this._owner !== null) unlink(this);
    else if (this._x?.listener !== undefined) this._removeListener();
  }

  _firstChildCame(): void {
    if (this._x?.src !== undefined) this._listenSource();
  }

  _lastChildGone(): void {
    const x = this._x;
    if (x === undefined) return;
    if (x.bridge) {
      retireBridge(this);
      return;
    }
    // A fromSignal context listens to its source only while something depends on it, so a
    // long-lived signal wrapped per request does not collect one listener per request.
    if (x.src !== undefined && x.resolveDone === undefined && x.listener !== undefined) this._removeListener();
  }

  _listenSource(): void {
    const x = this._x as Extras;
    if (x.listener !== undefined || this._err !== undefined) return;
    const src = x.src as AbortSignal;
    const listener = (): void => this._abortedBySource();
    x.listener = listener;
    x.listenTo = src;
    src.addEventListener('abort', listener, { once: true });
  }

  _removeListener(): void {
    const x = this._x as Extras;
    (x.listenTo as AbortSignal).removeEventListener('abort', x.listener as () => void);
    x.listener = undefined;
    x.listenTo = undefined;
  }

  _abortedBySource(): void {
    if (this._err !== undefined) return;
    const reason: unknown = (this._x?.src as AbortSignal).reason;
    const err = isTimeoutReason(reason) ? quietDeadline(reason) : quietCanceled(reason ?? undefined);
    this._cancel(err, reason ?? err);
  }

  _arm(deadline: number, timeoutCause: unknown): void {
    const x = (this._x ??= new Extras());
    x.deadline = deadline;
    x.timeoutCause = timeoutCause;
    const delay = deadline - Date.now();
    if (delay <= 0) {
      const err = quietDeadline(timeoutCause);
      this._cancel(err, timeoutCause ?? err);
      return;
    }
    const timer = setTimeout(() => {
      x.timer = undefined;
      if (Date.now() >= deadline) {
        const err = quietDeadline(timeoutCause);
        this._cancel(err, timeoutCause ?? err);
      } else {
        this._arm(deadline, timeoutCause);
      }
    }, Math.min(delay, MAX_TIMER));
    timer.unref();
    x.timer = timer;
  }

  override toString(): string {
    return `context.WithCancel(${this._err === undefined ? 'live' : this._err.message})`;
  }
}

class ValueCtx implements Context {
  readonly _parent: Context;
  readonly _key: unknown;
  readonly _val: unknown;
  constructor(parent: Context, key: unknown, val: unknown) {
    this._parent = parent;
    this._key = key;
    this._val = val;
  }
  get signal(): AbortSignal {
    return this._parent.signal;
  }
  get done(): Promise<void> {
    return this._parent.done;
  }
  get err(): ContextError | undefined {
    return this._parent.err;
  }
  get cause(): unknown {
    return this._parent.cause;
  }
  get deadline(): number | undefined {
    return this._parent.deadline;
  }
  value(key: unknown): any {
    return lookup(this, key);
  }
  throwIfDone(): void {
    this._parent.throwIfDone();
  }
  toString(): string {
    return `context.WithValue(${String(this._key)})`;
  }
}

/** Never done, like background, but with its parent's values. */
class WithoutCancelCtx extends BackgroundCtx {
  readonly _parent: Context;
  constructor(parent: Context) {
    super();
    this._parent = parent;
  }
  override value(key: unknown): any {
    return lookup(this._parent, key);
  }
  override toString(): string {
    return 'context.WithoutCancel';
  }
}

function lookup(ctx: Context, key: unknown): unknown {
  // Iterative over our own kinds so deep chains cost no stack; a foreign context answers for itself.
  let c: Context = ctx;
  for (;;) {
    if (c instanceof ValueCtx) {
      if (c._key === key) return c._val;
      c = c._parent;
    } else if (c instanceof CancelCtx) {
      if (key === TASK_KEY && c._task !== null) return c._task;
      c = c._parent;
    } else if (c instanceof WithoutCancelCtx) {
      c = c._parent;
    } else if (c === BACKGROUND) {
      return undefined;
    } else {
      return c.value(key);
    }
  }
}

/**
 * The key under which a task's context answers with its task record; lets the blocking
 * primitives find the waiting task from any context derived from it, foreign wrappers included.
 * @internal
 */
export const TASK_KEY: unique symbol = Symbol('corral.task');

function isTimeoutReason(reason: unknown): boolean {
  const r = reason as { name?: unknown; code?: unknown } | null | undefined;
  return r?.name === 'TimeoutError' || r?.code === 'ERR_CORRAL_DEADLINE_EXCEEDED';
}

// --- attaching a child --------------------------------------------------------------------------

/**
 * Makes `child` a dependant of `parent`: cancelled when the parent is. Returns the parent's
 * deadline, which the caller may adopt.
 * @internal
 */
export function attach(child: Link, parent: Context): void {
  let p = parent;
  while (p instanceof ValueCtx) p = p._parent;
  if (p instanceof CancelCtx) {
    const err = p.err; // may fire a fromSignal parent that was aborted unseen
    if (err !== undefined) {
      child._mark(err, p._cause);
      child._fire();
      return;
    }
    linkInto(p, child);
    return;
  }
  if (p === BACKGROUND || p instanceof WithoutCancelCtx) return;
  // A user-written context: its signal is the only way in.
  const err = p.err;
  if (err !== undefined) {
    child._mark(err, p.cause);
    child._fire();
    return;
  }
  // Every child and waiter of the same user-written context hangs off one bridge, which holds the
  // only listener on its signal: many live children never add up to a MaxListenersExceededWarning.
  let bridge = bridges.get(p);
  if (bridge === undefined || bridge._err !== undefined) {
    bridge = newBridge(p);
    bridges.set(p, bridge);
  }
  linkInto(bridge, child);
}

const bridges = new WeakMap<Context, CancelCtx>();

function newBridge(foreign: Context): CancelCtx {
  const bridge = new CancelCtx(foreign);
  const x = (bridge._x = new Extras());
  x.bridge = true;
  const signal = foreign.signal;
  const listener = (): void => {
    x.listener = undefined;
    x.listenTo = undefined;
    const e = foreign.err ?? quietCanceled(signal.reason ?? undefined);
    bridge._cancel(e, foreign.err === undefined ? (signal.reason ?? e) : foreign.cause);
  };
  x.listener = listener;
  x.listenTo = signal;
  signal.addEventListener('abort', listener, { once: true });
  return bridge;
}

/** A bridge with nothing left to carry stops listening and is forgotten. */
function retireBridge(bridge: CancelCtx): void {
  bridge._detach();
  if (bridges.get(bridge._parent) === bridge) bridges.delete(bridge._parent);
}

/** Detaches a waiter or child that finished without being cancelled. @internal */
export function detach(node: Link): void {
  if (node instanceof CancelCtx) node._detach();
  else unlink(node);
}

// --- validation ---------------------------------------------------------------------------------

function checkParent(parent: unknown, fn: string): asserts parent is Context {
  if (parent === null || parent === undefined) {
    throw new TypeError(`${fn}: parent context is ${String(parent)}; pass background() for a root`);
  }
  if (!isContextLike(parent)) throw new TypeError(`${fn}: parent is not a Context (got ${describe(parent)})`);
}

/** Throws RangeError unless `ms` is a finite number >= 0. @internal */
export function checkDuration(ms: unknown, name: string, fn: string): asserts ms is number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`${fn}: ${name} must be a finite number of milliseconds >= 0 (got ${describe(ms)})`);
  }
}

// --- public constructors ------------------------------------------------------------------------

/**
 * background returns the root context: never cancelled, no deadline, no values.
 *
 * @example
 * ```ts
 * const { ctx, cancel } = withCancel(background());
 * ```
 */
export function background(): Context {
  return BACKGROUND;
}

/** Creates a cancellable child of `parent`, cancelled when the parent is. @internal */
export function newCancelCtx(parent: Context): CancelCtx {
  const c = new CancelCtx(parent);
  attach(c, parent);
  return c;
}

function cancelFuncOf(c: CancelCtx): CancelFunc {
  return (cause?: unknown) => {
    c._cancelBy(cause);
  };
}

/**
 * withCancel returns a child of `parent` and a function that cancels it. Cancelling the child
 * never affects the parent; cancelling the parent cancels the child. Call `cancel` when the work
 * is done so the child detaches from a long-lived parent.
 *
 * @throws TypeError when `parent` is null, undefined or not a context.
 * @example
 * ```ts
 * const { ctx, cancel } = withCancel(parentCtx);
 * try { await fetch(url, { signal: ctx.signal }); } finally { cancel(); }
 * ```
 */
export function withCancel(parent: Context): CancelableContext {
  checkParent(parent, 'withCancel');
  const c = newCancelCtx(parent);
  return { ctx: c, cancel: cancelFuncOf(c) };
}

/**
 * withDeadline returns a child of `parent` that is done with `DeadlineExceededError` at `when`
 * (a `Date` or epoch milliseconds), or earlier if the parent is. A deadline in the past or now
 * gives a context that is done at once. A deadline later than the parent's is the parent's, and
 * then no timer is added. `cause`, if given, becomes `ctx.cause` only when the deadline fires.
 * The timer never keeps the process alive and is cleared by `cancel()`.
 *
 * @throws TypeError for a missing parent; RangeError for an invalid `when`.
 * @example
 * ```ts
 * const { ctx, cancel } = withDeadline(parent, Date.now() + 5_000);
 * ```
 */
export function withDeadline(parent: Context, when: Date | number, cause?: unknown): CancelableContext {
  checkParent(parent, 'withDeadline');
  const at = when instanceof Date ? when.getTime() : when;
  if (typeof at !== 'number' || !Number.isFinite(at)) {
    throw new RangeError(`withDeadline: when must be a valid Date or finite epoch milliseconds (got ${describe(when)})`);
  }
  const c = newCancelCtx(parent);
  const inherited = parent.deadline;
  if (c._err === undefined && (inherited === undefined || at < inherited)) c._arm(at, cause);
  return { ctx: c, cancel: cancelFuncOf(c) };
}

/**
 * withTimeout is `withDeadline(parent, Date.now() + ms, cause)`.
 *
 * @throws RangeError when `ms` is negative, NaN or not finite.
 * @example
 * ```ts
 * const { ctx, cancel } = withTimeout(parent, 2_000, new Error('terminology service too slow'));
 * try { return await lookup(ctx, code); } finally { cancel(); }
 * ```
 */
export function withTimeout(parent: Context, ms: number, cause?: unknown): CancelableContext {
  checkParent(parent, 'withTimeout');
  checkDuration(ms, 'ms', 'withTimeout');
  return withDeadline(parent, Date.now() + ms, cause);
}

/**
 * withValue returns a child of `parent` in which `ctx.value(key)` is `value`. The nearest binding
 * wins. Keys are compared by identity: use {@link createKey} or a symbol.
 *
 * @throws TypeError when `key` is null or undefined, or `parent` is missing.
 */
export function withValue<T>(parent: Context, key: ContextKey<T>, value: T): Context;
export function withValue(parent: Context, key: unknown, value: unknown): Context;
export function withValue(parent: Context, key: unknown, value: unknown): Context {
  checkParent(parent, 'withValue');
  if (key === null || key === undefined) throw new TypeError(`withValue: key is ${String(key)}`);
  return new ValueCtx(parent, key, value);
}

/**
 * withoutCancel returns a context that keeps `parent`'s values but is never cancelled and has no
 * deadline: for work that must outlive the request that started it (an audit write).
 */
export function withoutCancel(parent: Context): Context {
  checkParent(parent, 'withoutCancel');
  return new WithoutCancelCtx(parent);
}

/**
 * fromSignal returns a context that is done when `signal` aborts. Its `err` is
 * `DeadlineExceededError` when the reason is a `TimeoutError` (as from `AbortSignal.timeout()`),
 * else `CanceledError`; its `cause` is the signal's reason. It listens to `signal` only while
 * something depends on it, so wrapping a long-lived signal per request leaks no listener.
 *
 * @throws TypeError when `signal` is not an AbortSignal.
 * @example
 * ```ts
 * const ctx = fromSignal(req.signal);
 * ```
 */
export function fromSignal(signal: AbortSignal): Context {
  if (!(signal instanceof AbortSignal)) {
    throw new TypeError(`fromSignal: expected an AbortSignal (got ${describe(signal)})`);
  }
  const c = new CancelCtx(BACKGROUND);
  (c._x = new Extras()).src = signal;
  if (signal.aborted) c._abortedBySource();
  return c;
}

class AfterFunc extends Link {
  _state: 0 | 1 | 2 = 0; // 0 waiting, 1 stopped, 2 ran (or scheduled)
  readonly _fn: () => void;
  constructor(fn: () => void) {
    super();
    this._fn = fn;
  }
  _mark(): void {}
  _fire(): void {
    if (this._state !== 0) return;
    this._state = 2;
    // Never inside cancel(): the canceller must not wait for, or be broken by, the callback.
    queueMicrotask(this._fn);
  }
}

/**
 * afterFunc arranges for `fn` to run once after `ctx` is done, on a later microtask (never inside
 * `cancel()`), also when `ctx` is already done. The returned `stop()` returns true if it prevented
 * the call, false if `fn` was already scheduled or stop was called before.
 *
 * @example
 * ```ts
 * const stop = afterFunc(ctx, () => socket.destroy());
 * ```
 */
export function afterFunc(ctx: Context, fn: () => void): () => boolean {
  checkParent(ctx, 'afterFunc');
  if (typeof fn !== 'function') throw new TypeError(`afterFunc: fn must be a function (got ${describe(fn)})`);
  const node = new AfterFunc(fn);
  attach(node, ctx);
  return () => {
    if (node._state !== 0) return false;
    node._state = 1;
    detach(node);
    return true;
  };
}

class Callback extends Link {
  _fn: (() => void) | undefined;
  constructor(fn: () => void) {
    super();
    this._fn = fn;
  }
  _mark(): void {}
  _fire(): void {
    const fn = this._fn;
    this._fn = undefined;
    if (fn !== undefined) fn();
  }
}

/**
 * Calls `fn` when `ctx` is done: at once (synchronously) if it already is, else from within the
 * cancellation, after every signal in the subtree is marked. For corral's own waiters, whose
 * callbacks only settle promises. Returns a handle for {@link offDone}.
 * @internal
 */
export function onDone(ctx: Context, fn: () => void): Link {
  const node = new Callback(fn);
  attach(node, ctx);
  return node;
}

/** Stops a callback registered with {@link onDone}; idempotent. @internal */
export function offDone(node: Link): void {
  (node as Callback)._fn = undefined;
  unlink(node);
}

/**
 * Test-only view of a context's internals: how many children and waiters it holds, and whether
 * it has a timer or a listener installed. Returns undefined for contexts corral did not create.
 * @internal
 */
export function inspectContext(ctx: Context): { children: number; timer: boolean; listener: boolean } | undefined {
  let c: Context = ctx;
  while (c instanceof ValueCtx) c = c._parent;
  if (!(c instanceof CancelCtx)) return undefined;
  let n = 0;
  for (let l = c._head; l !== null; l = l._next) n++;
  return { children: n, timer: c._x?.timer !== undefined, listener: c._x?.listener !== undefined };
}
