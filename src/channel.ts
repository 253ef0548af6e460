/**
 * Channel: Go's channels, buffered or not, with `close`, waiting through contexts.
 *
 * Invariants (hold between calls; every method restores them before it returns or awaits):
 * - receivers wait only while the buffer is empty and no sender waits;
 * - senders wait only while the buffer is full and no receiver waits;
 * - a closed channel has no waiting receiver and no waiting sender.
 * So at most one of the two queues is non-empty, and a value moves at most twice (sender to
 * buffer, buffer to receiver), each move settling exactly one waiter.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Rejecting a blocked receiver when the channel closes: Go's receivers wake with ok=false, and
 *   `for await` relies on it to end cleanly.
 * - Handing a value to a waiter whose context has ended but whose cancellation is still being
 *   delivered (a `fromSignal` context aborted a moment ago): the value would be delivered to a
 *   caller that has already given up, and lost. Such a waiter fails and the next one is served.
 * @module
 */
import type { Context } from './context.js';
import { CanceledError, ChannelClosedError } from './errors.js';
import { hookWait, unhook, type CancelSink, type WaitHook } from './waitqueue.js';
import { waitingState } from './registry.js';
import { storage } from './als.js';
import { badOptionalCtx, checkOptionalCtx, describe, isContextLike } from './validate.js';
import { countOp, mustYield, yieldTurn } from './fairness.js';

/** What {@link Channel.recv} resolves to: a value, or `ok: false` once the channel is closed and drained. */
export type RecvResult<T> = { value: T; ok: true } | { value: undefined; ok: false };

/**
 * What {@link Channel.tryRecv} returns: a value, or `ok: false` with `closed` telling a closed,
 * drained channel (`true`) from one that would block (`false`).
 */
export type TryRecvResult<T> = { value: T; ok: true } | { value: undefined; ok: false; closed: boolean };

/** Options for {@link Channel}. */
export interface ChannelOptions {
  /** A name for diagnostics. Default `''`. */
  name?: string;
}

/** A receive case for {@link select}, built by {@link Channel.recvCase}. */
export interface RecvCase<T> {
  readonly _kind: 'recv';
  readonly _ch: Channel<T>;
}

/** A send case for {@link select}, built by {@link Channel.sendCase}. */
export interface SendCase<T> {
  readonly _kind: 'send';
  readonly _ch: Channel<T>;
  readonly _value: T;
}

/** What a select case's waiter reports to its select when a channel settles it. @internal */
export interface CaseOwner {
  /** The case at `index` completed (a receive: `w._value`/`w._ok` hold its result). */
  _won(w: ChanWaiter<any>): void;
  /** The case at `index` failed (a send case on a channel that closed). */
  _lost(err: unknown): void;
}

/**
 * A blocked send or receive, or one case of a blocked select. One flat class for all of them so a
 * channel's queues only ever see one object shape: a subclass of the shared Waiter per role
 * measured ~10% slower on a ping-pong. Invariant: `_queued` is true exactly while the waiter is
 * in a queue; whoever clears it settles the waiter, once.
 * @internal
 */
export class ChanWaiter<T> {
  _qprev: ChanWaiter<T> | null;
  _qnext: ChanWaiter<T> | null;
  _queued: boolean;
  readonly _ctx: Context | undefined;
  /** A sender's value; a receiver's once a sender filled it in. */
  _value: T | undefined;
  /** For a receiver: it got a value (false: woken by close). */
  _ok: boolean;
  _resolve: (v: any) => void;
  _reject: (err: unknown) => void;
  /** The select this waiter is a case of (null for a plain send or receive), and the case's index. */
  readonly _sel: CaseOwner | null;
  readonly _idx: number;
  /** Its node on the context and its task's state, for a plain wait with a context or a task. */
  _hook: WaitHook | undefined;
  constructor(ctx: Context | undefined, value: T | undefined, sel: CaseOwner | null, idx: number) {
    this._qprev = null;
    this._qnext = null;
    this._queued = false;
    this._ctx = ctx;
    this._value = value;
    this._ok = false;
    this._resolve = noop;
    this._reject = noop;
    this._sel = sel;
    this._idx = idx;
    this._hook = undefined;
  }
}

function noop(): void {}

/**
 * A channel's FIFO of blocked senders or receivers: an intrusive doubly linked list, O(1) to add
 * to, take the head from, and remove a cancelled waiter from the middle. The sync primitives'
 * WaitQueue does the same for their waiters; this one is the channels' own so that its accesses
 * stay monomorphic (see {@link ChanWaiter}).
 * @internal
 */
export class ChanQueue<T> implements CancelSink<ChanWaiter<T>> {
  _head: ChanWaiter<T> | null = null;
  _tail: ChanWaiter<T> | null = null;
  _length = 0;

  _push(w: ChanWaiter<T>): void {
    w._queued = true;
    w._qprev = this._tail;
    w._qnext = null;
    if (this._tail === null) this._head = w;
    else this._tail._qnext = w;
    this._tail = w;
    this._length++;
  }

  _remove(w: ChanWaiter<T>): void {
    const prev = w._qprev;
    const next = w._qnext;
    if (prev === null) this._head = next;
    else prev._qnext = next;
    if (next === null) this._tail = prev;
    else next._qprev = prev;
    w._qprev = w._qnext = null;
    w._queued = false;
    this._length--;
  }

  /** Takes `w` out and settles it with `err` (a select case: its whole select). No-op once settled. */
  _fail(w: ChanWaiter<T>, err: unknown): void {
    if (!w._queued) return;
    this._remove(w);
    if (w._sel !== null) {
      w._sel._lost(err);
      return;
    }
    unhook(w);
    w._reject(err);
  }

  /** The context of a plain wait ended (select cases hang on their select's context instead). */
  _cancelled(w: ChanWaiter<T>): void {
    // A user-written context might call back without an err; never reject with undefined.
    this._fail(w, w._ctx?.err ?? new CanceledError());
  }
}

/** Parks `w` at the tail of `q`; the returned promise settles when a partner, a close or `w`'s context does. */
function park<R>(q: ChanQueue<any>, w: ChanWaiter<any>, state: string, name: string): Promise<R> {
  const p = new Promise<R>((resolve, reject) => {
    w._resolve = resolve;
    w._reject = reject;
  });
  q._push(w);
  if (w._ctx !== undefined || storage !== undefined) hookWait(w, q, state, name);
  return p;
}

/** Settles a receiver already out of its queue: its value, or `ok: false` from close(). */
function settleRecv<T>(r: ChanWaiter<T>): void {
  if (r._sel !== null) {
    r._sel._won(r);
    return;
  }
  unhook(r);
  r._resolve(r._ok ? { value: r._value, ok: true } : CLOSED);
}

/** Settles a sender already out of its queue: its value was taken. */
function settleSend<T>(s: ChanWaiter<T>): void {
  if (s._sel !== null) {
    s._sel._won(s);
    return;
  }
  unhook(s);
  s._resolve(undefined);
}

// The deferred paths live out here: a closure inside send or recv would make every call allocate
// a context for the variables it captures, deferred or not (measured: ~25% of a ping-pong).
function sendNextTurn<T>(ch: Channel<T>, value: T, ctx: Context | undefined): Promise<void> {
  return yieldTurn().then(() => ch.send(value, ctx));
}
function recvNextTurn<T>(ch: Channel<T>, ctx: Context | undefined): Promise<RecvResult<T>> {
  return yieldTurn().then(() => ch.recv(ctx));
}
function rangeNextTurn<T>(ch: Channel<T>, it: RangeIterator<T>): Promise<RecvResult<T>> {
  return yieldTurn().then(() => (it._done ? CLOSED : ch._recvFor(it)));
}

/**
 * Why an operation given `ctx` must not start: a rejected promise (a `ctx` that is not a Context,
 * or one that is done), or undefined to go on. A send on a closed channel reports that first.
 */
function refuse(ctx: unknown, fn: string, closed: boolean): Promise<never> | undefined {
  if (!isContextLike(ctx)) return Promise.reject(badOptionalCtx(ctx, fn));
  if (closed) return undefined;
  const err = ctx.err;
  return err === undefined ? undefined : Promise.reject(err);
}

const RESOLVED: Promise<void> = Promise.resolve();
const SENDING = waitingState('chan send');
const RECEIVING = waitingState('chan receive');
const CLOSED: { value: undefined; ok: false } = Object.freeze({ value: undefined, ok: false });
const CLOSED_TRY: { value: undefined; ok: false; closed: true } = Object.freeze({ value: undefined, ok: false, closed: true });
const EMPTY_TRY: { value: undefined; ok: false; closed: false } = Object.freeze({ value: undefined, ok: false, closed: false });

/** The buffer is compacted once this many taken slots sit at its front (and they are half of it). */

/**
 * Channel passes values between tasks in send order, with Go's semantics. With `capacity` 0 (the
 * default) a `send` waits until a receiver takes the value; otherwise it waits only while
 * `capacity` values are buffered. Blocked senders and receivers are served first come, first
 * served. While one waits, its task shows 'waiting: chan send' or 'waiting: chan receive' in dumps,
 * with the channel's name when it has one (`[waiting: chan receive on "results", oldest 5m]`).
 *
 * `close()` says no more values will come: buffered values still drain in order, then every
 * receive returns `{ value: undefined, ok: false }` at once, forever.
 *
 * Cost: a send or receive that does not wait allocates nothing but its result; one that waits
 * allocates its queue entry and its promise, plus, when it has a context or a task to show, one
 * node on that context; all dropped when it settles.
 *
 * Fairness with the event loop: hand-offs run in microtasks, so a tight ping-pong would never let
 * timers or I/O run. Once a macrotask turn has run channel operations for `YIELD_SLICE_MS` (2 ms,
 * checked every `YIELD_BUDGET` = 1,024 operations), every `send`, `recv` and `select` waits for
 * `setImmediate` before it starts (see src/fairness.ts). It costs one `setImmediate` and one clock
 * read per turn that uses channels, and one deferral per 2 ms of solid channel traffic.
 * `trySend`/`tryRecv` never wait, so a loop over them alone can still starve the event loop.
 *
 * @throws RangeError from the constructor when `capacity` is not a non-negative integer; TypeError
 *   when `name` is not a string.
 * @example
 * ```ts
 * const results = new Channel<Submission>(16, { name: 'submissions' });
 * go(async (ctx) => { for await (const s of results) await store(ctx, s); });
 * await results.send(submission, ctx);
 * results.close();
 * ```
 */
export class Channel<T> {
  /** The name given at construction, for diagnostics. */
  readonly name: string;
  private readonly _cap: number;
  /**
   * Buffered values: a ring of power-of-two size (grown by doubling, never past what `capacity`
   * needs), `_rn` values from `_rh` on. A ring rather than an array with a moving head: emptying or
   * compacting an array (`length = 0`, `splice`) showed as 8–12% of a buffered stream's profile.
   */
  private _ring: (T | undefined)[] = [];
  private _rh = 0;
  private _rn = 0;
  private _closed = false;
  private readonly _recvq = new ChanQueue<T>();
  private readonly _sendq = new ChanQueue<T>();

  constructor(capacity = 0, options: ChannelOptions = {}) {
    if (typeof capacity !== 'number' || !Number.isSafeInteger(capacity) || capacity < 0) {
      throw new RangeError(`Channel: capacity must be a non-negative integer (got ${describe(capacity)})`);
    }
    const name = options?.name ?? '';
    if (typeof name !== 'string') throw new TypeError(`Channel: name must be a string (got ${describe(name)})`);
    this._cap = capacity;
    this.name = name;
  }

  /** The buffer size, fixed at construction (0 for an unbuffered channel). */
  get capacity(): number {
    return this._cap;
  }

  /** Values buffered right now (always 0 for an unbuffered channel). */
  get length(): number {
    return this._rn;
  }

  /** Whether {@link close} was called. Buffered values may still be waiting to be received. */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * send delivers `value` to a waiting receiver or the buffer, waiting while neither can take it.
   * It rejects with `ctx.err` when `ctx` is done first (at once if already done), and then the
   * value was not sent and nothing stays queued.
   *
   * @throws (as a rejection) ChannelClosedError when the channel is closed, or closes while the
   *   send waits (the value is discarded); TypeError when `ctx` is not a context.
   * @example
   * ```ts
   * await jobs.send(job, ctx);
   * ```
   */
  send(value: T, ctx?: Context): Promise<void> {
    // V8 inlines send and recv into the caller's loop only while their bytecode, with everything
    // they inline, fits its budget: so only the plain hand-off is written out here, and the rest
    // (contexts, selects, the buffer, parking) is one call away. See docs/benchmarks.md.
    if (ctx !== undefined) {
      const refused = refuse(ctx, 'Channel.send', this._closed);
      if (refused !== undefined) return refused;
    }
    if (this._closed) return Promise.reject(new ChannelClosedError());
    if (mustYield()) return sendNextTurn(this, value, ctx);
    const q = this._recvq;
    const r = q._head;
    if (r !== null && r._hook === undefined && r._sel === null && r._ctx === undefined) {
      q._remove(r);
      countOp();
      r._resolve({ value, ok: true });
      return RESOLVED;
    }
    return this._sendMore(value, ctx);
  }

  /** send when the first receiver in line is not a plain one, or none waits. */
  private _sendMore(value: T, ctx: Context | undefined): Promise<void> {
    if (this._offer(value)) {
      countOp();
      return RESOLVED;
    }
    return park(this._sendq, new ChanWaiter(ctx, value, null, 0), SENDING, this.name);
  }

  /**
   * trySend sends `value` if a receiver waits or the buffer has room, and reports whether it did.
   *
   * @throws ChannelClosedError when the channel is closed.
   * @example
   * ```ts
   * if (!events.trySend(e)) dropped++;
   * ```
   */
  trySend(value: T): boolean {
    if (this._closed) throw new ChannelClosedError();
    return this._offer(value);
  }

  /**
   * recv takes the next value: `{ value, ok: true }`, or `{ value: undefined, ok: false }` once
   * the channel is closed and drained. It rejects with `ctx.err` when `ctx` is done first (at once
   * if already done), and then it took no value and nothing stays queued.
   *
   * @throws (as a rejection) TypeError when `ctx` is not a context.
   * @example
   * ```ts
   * const { value, ok } = await results.recv(ctx);
   * if (!ok) return; // closed
   * ```
   */
  recv(ctx?: Context): Promise<RecvResult<T>> {
    if (ctx !== undefined) {
      const refused = refuse(ctx, 'Channel.recv', false);
      if (refused !== undefined) return refused;
    }
    if (mustYield()) return recvNextTurn(this, ctx);
    if (this._rn === 0) {
      const q = this._sendq;
      const s = q._head;
      if (s === null) {
        if (!this._closed) return park(this._recvq, new ChanWaiter<T>(ctx, undefined, null, 0), RECEIVING, this.name);
      } else if (s._hook === undefined && s._sel === null && s._ctx === undefined) {
        q._remove(s);
        countOp();
        s._resolve(undefined);
        return Promise.resolve({ value: s._value as T, ok: true });
      }
    }
    return this._recvReady(ctx);
  }

  /** recv when a value may be ready: buffered, offered by a sender, or the channel closed. */
  private _recvReady(ctx: Context | undefined): Promise<RecvResult<T>> {
    const r = this.tryRecv();
    if (r.ok) {
      countOp();
      return Promise.resolve(r);
    }
    if (r.closed) {
      countOp();
      return Promise.resolve(CLOSED);
    }
    // Every waiting sender's context had ended: they failed, and this receive waits.
    return park(this._recvq, new ChanWaiter<T>(ctx, undefined, null, 0), RECEIVING, this.name);
  }

  /**
   * tryRecv takes the next value if one is ready: `{ value, ok: true }`; else
   * `{ value: undefined, ok: false, closed }` where `closed` is true for a closed, drained channel
   * and false for one where a receive would wait.
   *
   * @example
   * ```ts
   * const r = ch.tryRecv();
   * if (!r.ok && r.closed) return;
   * ```
   */
  tryRecv(): TryRecvResult<T> {
    if (this._rn > 0) {
      const value = this._shift();
      // A slot freed: the oldest waiting sender moves its value in behind the others.
      const s = this._nextSender();
      if (s !== null) {
        this._push(s._value as T);
        this._sendq._remove(s);
        settleSend(s);
      }
      return { value, ok: true };
    }
    const s = this._nextSender();
    if (s !== null) {
      const value = s._value as T;
      this._sendq._remove(s);
      settleSend(s);
      return { value, ok: true };
    }
    return this._closed ? CLOSED_TRY : EMPTY_TRY;
  }

  /**
   * close marks the channel closed: waiting receivers wake with `ok: false`, waiting senders
   * reject with ChannelClosedError, buffered values still drain in order.
   *
   * @throws ChannelClosedError when the channel is already closed.
   * @example
   * ```ts
   * producerDone.close(); // every receiver, now and later, sees ok=false
   * ```
   */
  close(): void {
    if (this._closed) throw new ChannelClosedError('close of closed channel');
    this._closed = true;
    // Receivers wait only on an empty buffer, so none of them misses a value here. One at a time
    // from the head, not wakeAll(): a waking select takes its other cases out of this very queue.
    const rq = this._recvq;
    for (let r = rq._head; r !== null; r = rq._head) {
      rq._remove(r);
      settleRecv(r);
    }
    const q = this._sendq;
    for (let s = q._head; s !== null; s = q._head) q._fail(s, new ChannelClosedError());
  }

  /**
   * Iterates over received values until the channel is closed and drained. Leaving the loop early
   * leaves no waiter behind (the loop body runs between receives, never during one).
   *
   * @example
   * ```ts
   * for await (const msg of inbox) handle(msg);
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      const r = await this.recv();
      if (!r.ok) return;
      yield r.value;
    }
  }

  /**
   * range iterates over received values until the channel is closed and drained, like `for await`
   * over the channel, bounded by `ctx`: the iteration rejects with `ctx.err` when `ctx` ends.
   * Leaving early (`break`, `return`, a throw, or calling `return()` by hand while a receive is
   * pending) ends it and leaves no waiter on the channel or the context.
   *
   * @throws TypeError when `ctx` is not a context; (from the iteration) `ctx.err`.
   * @example
   * ```ts
   * for await (const s of submissions.range(ctx)) await store(ctx, s);
   * ```
   */
  range(ctx?: Context): AsyncIterableIterator<T> {
    checkOptionalCtx(ctx, 'Channel.range');
    return new RangeIterator(this, ctx);
  }

  /**
   * @internal A recv for {@link RangeIterator}: `it._pending` holds the queued receiver while it
   * waits, and a retry after a yield gives up if the iterator was returned meanwhile.
   */
  _recvFor(it: RangeIterator<T>): Promise<RecvResult<T>> {
    const ctx = it._ctx;
    const err = ctx?.err;
    if (err !== undefined) return Promise.reject(err);
    if (mustYield()) return rangeNextTurn(this, it);
    if (this._rn > 0 || this._sendq._length > 0 || this._closed) {
      const r = this.tryRecv();
      if (r.ok || r.closed) {
        countOp();
        return Promise.resolve(r.ok ? r : CLOSED);
      }
    }
    const w = new ChanWaiter<T>(ctx, undefined, null, 0);
    it._pending = w;
    return park<RecvResult<T>>(this._recvq, w, RECEIVING, this.name).then(
      (r) => {
        it._pending = null;
        return r;
      },
      (e: unknown) => {
        it._pending = null;
        if (e === RETURNED) return CLOSED;
        throw e;
      },
    );
  }

  /** @internal Ends a pending receive of a returned iterator: its promise reports closed. */
  _abandon(w: ChanWaiter<T>): void {
    this._recvq._fail(w, RETURNED);
  }

  /** Hands `value` to the oldest live receiver or the buffer; false when neither can take it. */
  private _offer(value: T): boolean {
    const q = this._recvq;
    // Re-read the head every turn: reading a fromSignal context's err may deliver its
    // cancellation right here, and that removes waiters under our feet.
    for (let r = q._head; r !== null; r = q._head) {
      const err = r._ctx?.err;
      if (err !== undefined) {
        q._fail(r, err);
        continue;
      }
      r._value = value;
      r._ok = true;
      q._remove(r);
      settleRecv(r);
      return true;
    }
    if (this._rn < this._cap) {
      this._push(value);
      return true;
    }
    return false;
  }

  private _push(value: T): void {
    let ring = this._ring;
    if (this._rn === ring.length) {
      const grown = new Array<T | undefined>(Math.max(4, ring.length * 2));
      for (let i = 0; i < this._rn; i++) grown[i] = ring[(this._rh + i) & (ring.length - 1)];
      this._ring = ring = grown;
      this._rh = 0;
    }
    ring[(this._rh + this._rn) & (ring.length - 1)] = value;
    this._rn++;
  }

  private _shift(): T {
    const ring = this._ring;
    const value = ring[this._rh] as T;
    ring[this._rh] = undefined; // let the value be collected
    this._rh = (this._rh + 1) & (ring.length - 1);
    this._rn--;
    return value;
  }

  /** The oldest waiting sender whose context is live (failing the others), or null. */
  private _nextSender(): ChanWaiter<T> | null {
    const q = this._sendq;
    for (let s = q._head; s !== null; s = q._head) {
      const err = s._ctx?.err;
      if (err === undefined) return s;
      q._fail(s, err);
    }
    return null;
  }

  /**
   * recvCase builds a case for {@link select} that receives from this channel; it completes with
   * `{ value, ok }` as {@link recv} would.
   *
   * @example
   * ```ts
   * const r = await select([results.recvCase(), errors.recvCase()], { ctx });
   * ```
   */
  recvCase(): RecvCase<T> {
    return { _kind: 'recv', _ch: this };
  }

  /**
   * sendCase builds a case for {@link select} that sends `value` on this channel.
   *
   * @example
   * ```ts
   * const { index } = await select([out.sendCase(v), quit.recvCase()]);
   * ```
   */
  sendCase(value: T): SendCase<T> {
    return { _kind: 'send', _ch: this, _value: value };
  }

  /** @internal Queues a select's receive case. */
  _queueRecv(r: ChanWaiter<T>): void {
    this._recvq._push(r);
  }

  /** @internal Queues a select's send case. */
  _queueSend(s: ChanWaiter<T>): void {
    this._sendq._push(s);
  }

  /** @internal Takes a select's losing case out of its queue, settling nothing. */
  _unqueue(w: ChanWaiter<T>, recv: boolean): void {
    if (!w._queued) return;
    if (recv) this._recvq._remove(w);
    else this._sendq._remove(w);
  }

  /** @internal Test hook: waiters queued right now. */
  get _waiting(): { senders: number; receivers: number } {
    return { senders: this._sendq._length, receivers: this._recvq._length };
  }
}

/** The reason a returned iterator's pending receive is failed with; never seen outside. */
const RETURNED: unique symbol = Symbol('returned');

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * What {@link Channel.range} returns. Like `for await`, callers must not overlap `next()` calls:
 * `return()` cancels only the latest pending receive.
 * @internal
 */
export class RangeIterator<T> implements AsyncIterableIterator<T> {
  readonly _ch: Channel<T>;
  readonly _ctx: Context | undefined;
  /** Set by the end of the channel, an error, or return(): no receive starts after it. */
  _done = false;
  /** The receive waiting right now, failed by return(). */
  _pending: ChanWaiter<T> | null = null;

  constructor(ch: Channel<T>, ctx: Context | undefined) {
    this._ch = ch;
    this._ctx = ctx;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this._done) return Promise.resolve(DONE);
    return this._ch._recvFor(this).then(
      (r) => {
        if (r.ok) return { value: r.value, done: false };
        this._done = true;
        return DONE;
      },
      (e: unknown) => {
        this._done = true;
        throw e;
      },
    );
  }

  return(): Promise<IteratorResult<T, undefined>> {
    this._done = true;
    const w = this._pending;
    if (w !== null) {
      this._pending = null;
      this._ch._abandon(w);
    }
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
