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

/** Rejects `j`'s promise with `err`. @internal */
export function rejectJob<J, R>(j: Job<J, R>, err: unknown): void {
  j._resolve(Promise.reject(err));
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

  _unshift(j: Job<J, R>): void {
    j._prev = null;
    j._next = this._head;
    if (this._head === null) this._tail = j;
    else this._head._prev = j;
    this._head = j;
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
