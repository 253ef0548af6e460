/**
 * The queue of callers blocked in a sync primitive: a WaitGroup's waiters, a Semaphore's
 * acquirers. It is FIFO and O(1) to add to, to take the head from and to remove a cancelled
 * waiter from the middle (an intrusive doubly linked list), so 10,000 cancels cost 10,000 steps,
 * not 10,000²/2 as splicing an array would.
 *
 * While queued, a waiter shows in the registry as 'waiting: WHAT' and is itself a node in its
 * context's child list (a Link), never an `AbortSignal` listener. Whichever comes first, the wake or the context's end, takes the waiter out of the
 * queue and off the context, so a long-lived context keeps nothing from a wait that is over.
 * @module
 */
import { attach, detach, Link, type Context } from './context.js';
import { CanceledError } from './errors.js';
import { enterWait, leaveWait, waitingOn, type Entry } from './registry.js';
import { waiterOf } from './wait.js';

/**
 * One blocked caller. Invariant: `_queued` is true exactly while the waiter is in a queue's list;
 * a waiter is settled once, by whoever clears `_queued`.
 * @internal
 */
export class Waiter extends Link {
  /** Neighbours in the wait queue (`_prev`/`_next` are the context's child list, from Link). */
  _qprev: Waiter | null = null;
  _qnext: Waiter | null = null;
  /** The queue the waiter is in, so the context's cancellation can reach it. */
  _q: WaitQueue<any> | undefined = undefined;
  _queued = false;
  readonly _ctx: Context | undefined;
  _resolve: (v: unknown) => void = noop;
  _reject: (err: unknown) => void = noop;
  /** The task shown as waiting, and the state to give it back. */
  _entry: Entry | undefined = undefined;
  _prevState: string | undefined = undefined;
  /** What the task's state named before this wait, given back with the state; undefined if `on` was not passed. */
  _prevOn: string | undefined = undefined;
  constructor(ctx: Context | undefined) {
    super();
    this._ctx = ctx;
  }

  // The waiter itself hangs in its context's child list: no callback node, no closure per wait.
  _mark(): void {}
  _fire(): void {
    this._q?._cancelled(this);
  }

  /**
   * What the wait's promise resolves with. A subclass returns its result here so the waiting call
   * can hand out the parked promise itself, with no `.then` (and its microtask) in between.
   */
  _result(): unknown {
    return undefined;
  }
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
   * not done; if it ends meanwhile anyway, the promise rejects with its error. `on` names what
   * the wait is on (a channel's name), shown in dumps.
   */
  block<R = void>(w: W, what: string, on?: string): Promise<R> {
    const p = new Promise<R>((resolve, reject) => {
      w._resolve = resolve as (v: unknown) => void;
      w._reject = reject;
    });
    this._push(w);
    const entry = waiterOf(w._ctx);
    w._entry = entry;
    if (entry !== undefined && on !== undefined) w._prevOn = waitingOn(entry);
    w._prevState = enterWait(entry, what, on);
    // attach() may fire at once (a context that ended unseen, like an aborted source signal);
    // _cancelled copes because the waiter is fully queued by now.
    if (w._ctx !== undefined) {
      w._q = this;
      attach(w, w._ctx);
    }
    return p;
  }

  /** Takes `w` out and resolves it. No-op for a waiter already settled. */
  wake(w: W): void {
    if (!w._queued) return;
    this._remove(w);
    unhook(w);
    w._resolve(w._result());
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
      w._resolve(w._result());
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

/** Gives back what a settled waiter held: its node on the context, its task's state. */
function unhook(w: Waiter): void {
  if (w._q !== undefined) {
    w._q = undefined;
    detach(w);
  }
  leaveWait(w._entry, w._prevState, undefined, w._prevOn);
  w._entry = undefined;
}
