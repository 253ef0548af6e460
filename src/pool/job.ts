/**
 * A submitted job's record, and the FIFO lists it waits in. Kept small: a pool with 100,000 jobs
 * queued holds 100,000 of these, so what only some jobs need (a submitter's context, a timeout,
 * a label) lives in a {@link JobExtras} allocated for those jobs alone.
 * @module
 */
import type { Context } from '../context.js';

// A job's life. Each state is left once, by whoever moves it on: that is what makes the pool's
// accounting exact (nothing lost, nothing counted twice).
/** A submit waiting for room: not accepted yet. @internal */
export const WAITING = 0;
/** Accepted, in the queue. @internal */
export const QUEUED = 1;
/** Accepted and handed to a worker that has not started it yet. @internal */
export const ASSIGNED = 2;
/** Its handler is running. @internal */
export const RUNNING = 3;
/** Its handler is running, and the shutdown cancelled it: interrupted unless it completes. @internal */
export const INTERRUPTING = 4;
/** Settled and accounted for. @internal */
export const DONE = 5;

/** What a job submitted with options carries. @internal */
export class JobExtras {
  readonly ctx: Context | undefined;
  /** This job's time limit (ms; 0 none), replacing the pool's. */
  readonly timeout: number;
  readonly label: string;
  /** Stops the watch on the submitter's context. */
  unwatch: (() => boolean) | undefined;
  /** Cancels the job's own context while it runs. */
  cancel: ((cause?: unknown) => void) | undefined;
  constructor(ctx: Context | undefined, timeout: number, label: string) {
    this.ctx = ctx;
    this.timeout = timeout;
    this.label = label;
    this.unwatch = undefined;
    this.cancel = undefined;
  }
}

/**
 * One submitted job. Only the promise's resolve function is kept: a rejection is settled as
 * `_resolve(Promise.reject(err))`, so the reject function (and its memory) goes with the executor.
 * @internal
 */
export class Job<J, R> {
  readonly _job: J;
  _state: number;
  _resolve: (v: R | PromiseLike<R>) => void;
  /** Neighbours in the queue or the waiting list. */
  _prev: Job<J, R> | null;
  _next: Job<J, R> | null;
  _x: JobExtras | undefined;
  constructor(job: J, x: JobExtras | undefined) {
    this._job = job;
    this._state = WAITING;
    this._resolve = noop;
    this._prev = null;
    this._next = null;
    this._x = x;
  }
}

function noop(): void {}

/** Rejects the promise whose only kept resolver is `resolve` (see {@link Job}). @internal */
export function rejectVia(resolve: (v: never) => void, err: unknown): void {
  resolve(Promise.reject(err) as never);
}

/** Rejects `j`'s promise with `err`. @internal */
export function rejectJob<J, R>(j: Job<J, R>, err: unknown): void {
  rejectVia(j._resolve, err);
}

/** A FIFO of jobs, O(1) to push, shift and remove from the middle (a withdrawn job). @internal */
export class JobList<J, R> {
  _head: Job<J, R> | null = null;
  _tail: Job<J, R> | null = null;
  _length = 0;

  _push(j: Job<J, R>): void {
    j._prev = this._tail;
    j._next = null;
    if (this._tail === null) this._head = j;
    else this._tail._next = j;
    this._tail = j;
    this._length++;
  }

  _shift(): Job<J, R> | null {
    const j = this._head;
    if (j !== null) this._remove(j);
    return j;
  }

  _remove(j: Job<J, R>): void {
    const prev = j._prev;
    const next = j._next;
    if (prev === null) this._head = next;
    else prev._next = next;
    if (next === null) this._tail = prev;
    else next._prev = prev;
    j._prev = j._next = null;
    this._length--;
  }
}

/** Where a job taken from the queue goes: a worker's hands. @internal */
export interface JobSlot<J, R> {
  _cur: J | undefined;
  _curRes: ((v: R | PromiseLike<R>) => void) | null;
  _curRec: Job<J, R> | null;
}

/** Marks a queue entry holding a record (with options) rather than a plain job. */
const REC: unique symbol = Symbol('record');

/**
 * The queue of accepted jobs: a ring of two slots per job, `[job, resolve]` for a plain job (no
 * options: the common case, with no record at all) or `[REC, record]` for a job with options.
 * Saves a record per queued plain job (measured: 304 bytes per queued job with records and both
 * resolvers, 232 with records, ~170 without). A record withdrawn from the middle (its submitter's
 * context ended) is left in place, marked DONE, and skipped when reached; `_length` counts live jobs.
 * @internal
 */
export class JobQueue<J, R> {
  private _ring: unknown[] = new Array<unknown>(16);
  /** Slot index of the first entry. */
  private _head = 0;
  /** Slots in use (twice the entries, tombstones included). */
  private _used = 0;
  /** Live jobs queued. */
  _length = 0;

  _pushPlain(job: J, res: (v: R | PromiseLike<R>) => void): void {
    this._put(job, res, false);
  }

  _pushRec(rec: Job<J, R>): void {
    this._put(REC, rec, false);
  }

  /** Puts an entry back at the front (a job handed over, then not started because the limit fell). */
  _unshift(slot: JobSlot<J, R>): void {
    const rec = slot._curRec;
    if (rec !== null) this._put(REC, rec, true);
    else this._put(slot._cur, slot._curRes, true);
  }

  /** A record left the queue out of turn (withdrawn): it is skipped when reached. */
  _dropped(): void {
    this._length--;
  }

  /** Moves the oldest live job into `slot`; false when none is queued. Records come out ASSIGNED. */
  _shiftInto(slot: JobSlot<J, R>): boolean {
    while (this._used > 0) {
      const ring = this._ring;
      const mask = ring.length - 1;
      const a = ring[this._head];
      const b = ring[(this._head + 1) & mask];
      ring[this._head] = ring[(this._head + 1) & mask] = undefined;
      this._head = (this._head + 2) & mask;
      this._used -= 2;
      if (a === REC) {
        const rec = b as Job<J, R>;
        if (rec._state === DONE) continue; // withdrawn while queued
        rec._state = ASSIGNED;
        slot._cur = rec._job;
        slot._curRes = rec._resolve;
        slot._curRec = rec;
      } else {
        slot._cur = a as J;
        slot._curRes = b as (v: R | PromiseLike<R>) => void;
        slot._curRec = null;
      }
      this._length--;
      return true;
    }
    return false;
  }

  private _put(a: unknown, b: unknown, front: boolean): void {
    if (this._used === this._ring.length) this._grow();
    const ring = this._ring;
    const mask = ring.length - 1;
    let at: number;
    if (front) {
      this._head = (this._head - 2) & mask;
      at = this._head;
    } else {
      at = (this._head + this._used) & mask;
    }
    ring[at] = a;
    ring[(at + 1) & mask] = b;
    this._used += 2;
    this._length++;
  }

  private _grow(): void {
    const old = this._ring;
    const grown = new Array<unknown>(old.length * 2);
    for (let i = 0; i < this._used; i++) grown[i] = old[(this._head + i) & (old.length - 1)];
    this._ring = grown;
    this._head = 0;
  }
}
