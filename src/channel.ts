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
import { ChannelClosedError } from './errors.js';
import { WaitQueue, Waiter } from './waitqueue.js';
import { checkOptionalCtx, describe } from './validate.js';

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

/**
 * A blocked receiver; the sender or close() fills `_value`/`_ok` before waking it. A select's
 * receive case is one too, queued by select.ts without a promise of its own.
 * @internal
 */
export class Receiver<T> extends Waiter {
  _value: T | undefined = undefined;
  _ok = false;
  override _result(): RecvResult<T> {
    return this._ok ? { value: this._value as T, ok: true } : CLOSED;
  }
}

/** A blocked sender and the value it offers (also a select's send case). @internal */
export class Sender<T> extends Waiter {
  _value: T;
  constructor(ctx: Context | undefined, value: T) {
    super(ctx);
    this._value = value;
  }
}

const RESOLVED: Promise<void> = Promise.resolve();
const CLOSED: { value: undefined; ok: false } = Object.freeze({ value: undefined, ok: false });
const CLOSED_TRY: { value: undefined; ok: false; closed: true } = Object.freeze({ value: undefined, ok: false, closed: true });
const EMPTY_TRY: { value: undefined; ok: false; closed: false } = Object.freeze({ value: undefined, ok: false, closed: false });

/** The buffer is compacted once this many taken slots sit at its front (and they are half of it). */

// --- fairness with the event loop ---------------------------------------------------------------
//
// A hand-off settles a promise, so the other side runs in a microtask: two tasks ping-ponging over
// channels never return to the event loop, and timers, I/O and signals starve (Go's scheduler
// preempts goroutines; we have only microtasks). So operations that complete without waiting are
// counted per macrotask turn, and once YIELD_BUDGET of them have completed, the next send, recv or
// select that would complete first waits for setImmediate (where timers and I/O get their turn).
// One setImmediate, scheduled by the turn's first operation, ends the turn: never more than one
// pending. An operation that waits is not deferred: waiting already yields to its partner.
//
// Rejected: yielding on a timer (setTimeout clamps to 1 ms, far too slow), or yielding every N
// operations per channel (two channels ping-ponging each stay under a per-channel budget).

/** Operations completed without waiting in one macrotask turn before the next one yields. */
export const YIELD_BUDGET = 1024;

/** Operations completed without waiting in this macrotask turn (0: no end-of-turn immediate pending). */
let opsThisTurn = 0;

function endTurn(): void {
  opsThisTurn = 0;
}

/** Counts one operation completed without waiting. @internal */
export function countOp(): void {
  if (opsThisTurn++ === 0) setImmediate(endTurn);
}

/** Whether this turn's budget is spent, so an operation about to complete must yield first. @internal */
export function mustYield(): boolean {
  return opsThisTurn >= YIELD_BUDGET;
}

/** Resolves after timers and I/O had their turn. @internal */
export function yieldTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

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
 * allocates its queue entry, its promise and one node on its context, dropped when it settles.
 *
 * Fairness with the event loop: hand-offs run in microtasks, so a tight ping-pong would never let
 * timers or I/O run. After {@link YIELD_BUDGET} (1,024) operations completed without waiting in
 * one macrotask turn, the next `send`, `recv` or `select` that would complete first waits for
 * `setImmediate`. It costs one `setImmediate` per turn that uses channels (to end the turn) and
 * one more per 1,024 operations in a busy turn; an operation that waits anyway is never deferred.
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
  private readonly _recvq = new WaitQueue<Receiver<T>>();
  private readonly _sendq = new WaitQueue<Sender<T>>();

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
    try {
      checkOptionalCtx(ctx, 'Channel.send');
    } catch (e) {
      return Promise.reject(e);
    }
    if (this._closed) return Promise.reject(new ChannelClosedError());
    const err = ctx?.err;
    if (err !== undefined) return Promise.reject(err);
    if (opsThisTurn >= YIELD_BUDGET && (this._recvq._length > 0 || this._rn < this._cap)) {
      return yieldTurn().then(() => this.send(value, ctx));
    }
    if (this._offer(value)) {
      countOp();
      return RESOLVED;
    }
    return this._sendq.block(new Sender(ctx, value), 'chan send', this.name);
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
    try {
      checkOptionalCtx(ctx, 'Channel.recv');
    } catch (e) {
      return Promise.reject(e);
    }
    const err = ctx?.err;
    if (err !== undefined) return Promise.reject(err);
    if (opsThisTurn >= YIELD_BUDGET && (this._rn > 0 || this._sendq._length > 0 || this._closed)) {
      return yieldTurn().then(() => this.recv(ctx));
    }
    const r = this.tryRecv();
    if (r.ok || r.closed) {
      countOp();
      return Promise.resolve(r.ok ? r : CLOSED);
    }
    const w = new Receiver<T>(ctx);
    return this._recvq.block<RecvResult<T>>(w, 'chan receive', this.name);
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
        this._push(s._value);
        this._sendq.wake(s);
      }
      return { value, ok: true };
    }
    const s = this._nextSender();
    if (s !== null) {
      const value = s._value;
      this._sendq.wake(s);
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
    for (let r = rq._head; r !== null; r = rq._head) rq.wake(r);
    const q = this._sendq;
    for (let s = q._head; s !== null; s = q._head) q.fail(s, new ChannelClosedError());
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
    if (opsThisTurn >= YIELD_BUDGET && (this._rn > 0 || this._sendq._length > 0 || this._closed)) {
      return yieldTurn().then(() => (it._done ? CLOSED : this._recvFor(it)));
    }
    const r = this.tryRecv();
    if (r.ok || r.closed) {
      countOp();
      return Promise.resolve(r.ok ? r : CLOSED);
    }
    const w = new Receiver<T>(ctx);
    it._pending = w;
    return this._recvq.block(w, 'chan receive', this.name).then(
      () => {
        it._pending = null;
        return w._ok ? { value: w._value as T, ok: true } : CLOSED;
      },
      (e: unknown) => {
        it._pending = null;
        if (e === RETURNED) return CLOSED;
        throw e;
      },
    );
  }

  /** @internal Ends a pending receive of a returned iterator: its promise reports closed. */
  _abandon(w: Receiver<T>): void {
    this._recvq.fail(w, RETURNED);
  }

  /** Hands `value` to the oldest live receiver or the buffer; false when neither can take it. */
  private _offer(value: T): boolean {
    const q = this._recvq;
    // Re-read the head every turn: reading a fromSignal context's err may deliver its
    // cancellation right here, and that removes waiters under our feet.
    for (let r = q._head; r !== null; r = q._head) {
      const err = r._ctx?.err;
      if (err !== undefined) {
        q.fail(r, err);
        continue;
      }
      r._value = value;
      r._ok = true;
      q.wake(r);
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
  private _nextSender(): Sender<T> | null {
    const q = this._sendq;
    for (let s = q._head; s !== null; s = q._head) {
      const err = s._ctx?.err;
      if (err === undefined) return s;
      q.fail(s, err);
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
  _queueRecv(r: Receiver<T>): void {
    this._recvq._push(r);
  }

  /** @internal Queues a select's send case. */
  _queueSend(s: Sender<T>): void {
    this._sendq._push(s);
  }

  /** @internal Takes a select's losing case out of its queue, settling nothing. */
  _unqueue(w: Receiver<T> | Sender<T>): void {
    if (!w._queued) return;
    if (w instanceof Receiver) this._recvq._remove(w);
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
  _pending: Receiver<T> | null = null;

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
