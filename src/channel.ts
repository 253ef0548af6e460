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
import { WaitQueue, Waiter, checkOptionalCtx, describe } from './waitqueue.js';

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
const COMPACT_AT = 1024;

/**
 * Channel passes values between tasks in send order, with Go's semantics. With `capacity` 0 (the
 * default) a `send` waits until a receiver takes the value; otherwise it waits only while
 * `capacity` values are buffered. Blocked senders and receivers are served first come, first
 * served. While one waits, its task shows 'waiting: chan send' or 'waiting: chan receive' in dumps.
 *
 * `close()` says no more values will come: buffered values still drain in order, then every
 * receive returns `{ value: undefined, ok: false }` at once, forever.
 *
 * Cost: a send or receive that does not wait allocates nothing but its result; one that waits
 * allocates its queue entry, its promise and one node on its context, dropped when it settles.
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
  /** Buffered values live in `_buf[_bh..]`; slots before `_bh` are taken (and cleared). */
  private _buf: T[] = [];
  private _bh = 0;
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
    return this._buf.length - this._bh;
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
    if (this._offer(value)) return RESOLVED;
    return this._sendq.block(new Sender(ctx, value), 'chan send');
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
    const r = this.tryRecv();
    if (r.ok) return Promise.resolve(r);
    if (r.closed) return Promise.resolve(CLOSED);
    const w = new Receiver<T>(ctx);
    return this._recvq.block(w, 'chan receive').then(() => (w._ok ? { value: w._value as T, ok: true } : CLOSED));
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
    const buf = this._buf;
    if (buf.length > this._bh) {
      const value = buf[this._bh] as T;
      buf[this._bh] = undefined as T; // let the value be collected
      this._bh++;
      // A slot freed: the oldest waiting sender moves its value in behind the others.
      const s = this._nextSender();
      if (s !== null) {
        buf.push(s._value);
        this._sendq.wake(s);
      }
      if (this._bh === buf.length) {
        buf.length = 0;
        this._bh = 0;
      } else if (this._bh >= COMPACT_AT && this._bh * 2 >= buf.length) {
        buf.splice(0, this._bh);
        this._bh = 0;
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
    if (this._buf.length - this._bh < this._cap) {
      this._buf.push(value);
      return true;
    }
    return false;
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
