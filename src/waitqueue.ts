/**
 * The queue of callers blocked in a sync primitive: a WaitGroup's waiters, a Semaphore's
 * acquirers. It is FIFO and O(1) to add to, to take the head from and to remove a cancelled
 * waiter from the middle (an intrusive doubly linked list), so 10,000 cancels cost 10,000 steps,
 * not 10,000²/2 as splicing an array would.
 *
 * While queued, a waiter with a context or a task has a {@link WaitHook}: it shows the task as
 * 'waiting: WHAT' and is a node in the context's child list (a Link), never an `AbortSignal`
 * listener. Whichever comes first, the wake or the context's end, takes the waiter out of the
 * queue and its hook off the context, so a long-lived context keeps nothing from a wait that is
 * over. Channels use the hook too, with a queue of their own (channel.ts).
 * @module
 */
import { attach, detach, Link, type Context } from './context.js';
import { CanceledError } from './errors.js';
import { enterWait, leaveWait, waitingOn, type Entry } from './registry.js';
import { waiterOf } from './wait.js';

/**
 * One blocked caller. Invariant: `_queued` is true exactly while the waiter is in a queue's list;
 * a waiter is settled once, by whoever clears `_queued`.
 *
 * A wait with no context and no task to show needs nothing more than its queue links and its
 * promise's resolvers; what a context or the registry needs lives in a {@link WaitHook},
 * allocated only for such a wait.
 * @internal
 */
export class Waiter {
  _qprev: Waiter | null = null;
  _qnext: Waiter | null = null;
  _queued = false;
  readonly _ctx: Context | undefined;
  _resolve: (v: unknown) => void = noop;
  _reject: (err: unknown) => void = noop;
  /** The wait's node on its context and its task's state; undefined when it has neither. */
  _hook: WaitHook | undefined = undefined;
  constructor(ctx: Context | undefined) {
    this._ctx = ctx;
  }
}

/** Anything a {@link WaitHook} can hang from: a waiter with a context and a hook slot. @internal */
export interface Hooked {
  readonly _ctx: Context | undefined;
  _hook: WaitHook | undefined;
}

/** What a hook tells when its context ends: the queue the waiter is in. @internal */
export interface CancelSink<W> {
  _cancelled(w: W): void;
}

/**
 * What a waiter with a context or a task holds while it waits: it hangs in the context's child
 * list itself (no callback closure per wait), and keeps the task's state to give back.
 * @internal
 */
export class WaitHook extends Link {
  readonly _w: Hooked;
  /** The queue the waiter is in, so the context's cancellation can reach it; undefined once off the context. */
  _q: CancelSink<any> | undefined;
  /** The task shown as waiting, and the state to give it back. */
  readonly _entry: Entry | undefined;
  _prevState: string | undefined;
  /** What the task's state named before this wait, given back with the state; undefined if `on` was not passed. */
  _prevOn: string | undefined;
  constructor(w: Hooked, entry: Entry | undefined) {
    super();
    this._w = w;
    this._q = undefined;
    this._entry = entry;
    this._prevState = undefined;
    this._prevOn = undefined;
  }
  _mark(): void {}
  _fire(): void {
    this._q?._cancelled(this._w);
  }
}

/**
 * Shows the task waiting with `w._ctx` (or the ambient task) in `state` ('waiting: WHAT', from
 * waitingState) on `on` (a function is called only when there is a task to show), and hangs `w`
 * on its context, so the context's end reaches `q._cancelled(w)`. Call it once `w` is fully
 * queued: a context that ended unseen (an aborted source signal) calls back at once. A wait with
 * neither context nor task gets no hook at all.
 * @internal
 */
export function hookWait<W extends Hooked>(
  w: W,
  q: CancelSink<W>,
  state: string,
  on: string | ((w: W) => string) | undefined,
): void {
  const ctx = w._ctx;
  const entry = waiterOf(ctx);
  if (entry === undefined && ctx === undefined) return;
  const hook = new WaitHook(w, entry);
  w._hook = hook;
  if (entry !== undefined && on !== undefined) {
    hook._prevOn = waitingOn(entry);
    hook._prevState = enterWait(entry, state, typeof on === 'string' ? on : on(w));
  } else {
    hook._prevState = enterWait(entry, state);
  }
  if (ctx !== undefined) {
    hook._q = q;
    attach(hook, ctx);
  }
}

/** Gives back what a settled waiter held: its node on the context, its task's state. @internal */
export function unhook(w: Hooked): void {
  const hook = w._hook;
  if (hook === undefined) return;
  w._hook = undefined;
  if (hook._q !== undefined) {
    hook._q = undefined;
    detach(hook);
  }
  leaveWait(hook._entry, hook._prevState, undefined, hook._prevOn);
}

function noop(): void {}

/**
 * A FIFO of {@link Waiter}s. `onCancel(wasHead)` runs after a waiter left because its context
 * ended, so a primitive whose head blocked the others (a large semaphore request) can wake those
 * behind it.
 * @internal
 */
export class WaitQueue<W extends Waiter> {
  _head: W | null = null;
  _tail: W | null = null;
  _length = 0;
  readonly _onCancel: ((wasHead: boolean) => void) | undefined;

  constructor(onCancel?: (wasHead: boolean) => void) {
    this._onCancel = onCancel;
  }

  /**
   * Queues `w` and returns the promise its wake settles. The caller has checked that `w._ctx` is
   * not done; if it ends meanwhile anyway, the promise rejects with its error. `state` is the
   * task's waiting state (from waitingState), shown in dumps.
   */
  block(w: W, state: string): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      w._resolve = resolve as (v: unknown) => void;
      w._reject = reject;
    });
    this._push(w);
    hookWait(w, this, state, undefined);
    return p;
  }

  /** Takes `w` out and resolves it. No-op for a waiter already settled. */
  wake(w: W): void {
    if (!w._queued) return;
    this._remove(w);
    unhook(w);
    w._resolve(undefined);
  }

  /** Takes `w` out and rejects it with `err`. No-op for a waiter already settled. */
  fail(w: W, err: unknown): void {
    if (!w._queued) return;
    this._remove(w);
    unhook(w);
    w._reject(err);
  }

  /** Resolves every queued waiter, oldest first. */
  wakeAll(): void {
    let w = this._head;
    this._head = this._tail = null;
    this._length = 0;
    while (w !== null) {
      const next = w._qnext as W | null;
      w._qprev = w._qnext = null;
      w._queued = false;
      unhook(w);
      w._resolve(undefined);
      w = next;
    }
  }

  _cancelled(w: W): void {
    if (!w._queued) return;
    const wasHead = this._head === w;
    // A user-written context might call back without an err; never reject with undefined.
    this.fail(w, w._ctx?.err ?? new CanceledError());
    this._onCancel?.(wasHead);
  }

  _push(w: W): void {
    w._queued = true;
    w._qprev = this._tail;
    w._qnext = null;
    if (this._tail === null) this._head = w;
    else this._tail._qnext = w;
    this._tail = w;
    this._length++;
  }

  _remove(w: W): void {
    const prev = w._qprev as W | null;
    const next = w._qnext as W | null;
    if (prev === null) this._head = next;
    else prev._qnext = next;
    if (next === null) this._tail = prev;
    else next._qprev = prev;
    w._qprev = w._qnext = null;
    w._queued = false;
    this._length--;
  }
}
