/**
 * WorkerPool: a bounded set of workers running jobs from a queue, with backpressure, per-job
 * contexts and timeouts, and a shutdown that accounts for every job it accepted.
 *
 * How a job moves. A submit is *accepted* when an idle worker takes it, a new worker starts with
 * it, or it enters the queue (fewer than `queueSize` waiting); otherwise the submit waits for room
 * in the FIFO of waiting submitters (or is refused, with `onFull: 'reject'`). An accepted job ends
 * in exactly one of: completed, failed, withdrawn (its submitter's context ended while it was
 * queued), unprocessed (never started because the pool shut down) or interrupted (the pool
 * cancelled it at shutdown and it did not complete). Each transition happens once, guarded by
 * the job's `_state`, so the shutdown report can promise nothing lost and nothing counted twice.
 *
 * Workers are tasks of a corral Group (so dumps show them, and the job label each one runs); a
 * worker takes the next job when it finishes one, goes idle when there is none, and exits when it
 * idled `idleTimeout` above `minWorkers`, when the limit was lowered below the number of workers,
 * or when the pool shuts down and no queued job is left for it.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - A channel between submitters and workers: a job handed to a channel is invisible to the pool
 *   until a worker takes it, so a shutdown could not hand queued jobs back (or withdraw a queued
 *   job whose submitter gave up) without draining the channel, racing the workers.
 * - A context per job always: a child context per job costs an allocation and a link into the
 *   worker's context on the hot path; a job with neither a submitter context nor a timeout can
 *   only be cancelled by the pool, which its worker's context already says.
 * @module
 */
import { afterFunc, background, checkDuration, TASK_KEY, withCancel, withTimeout, type Context } from '../context.js';
import { InvalidStateError } from '../errors.js';
import { Group } from '../group.js';
import { enterWait, leaveWait, now, waitingState } from '../registry.js';
import type { Task } from '../task.js';
import { checkCtx, describe, isContextLike } from '../validate.js';
import { PoolClosedError, PoolOverloadError } from './errors.js';
import { Histogram } from './histogram.js';
import { ASSIGNED, DONE, INTERRUPTING, Job, JobExtras, JobList, JobQueue, QUEUED, rejectJob, rejectVia, RUNNING, WAITING, type JobSlot } from './job.js';
import {
  checkCount,
  checkKeys,
  checkPositiveInt,
  POOL_OPTIONS,
  SHUTDOWN_OPTIONS,
  SUBMIT_OPTIONS,
  type PoolOptions,
  type PoolStats,
  type ShutdownOptions,
  type ShutdownReport,
  type SubmitOptions,
} from './options.js';

const IDLE = waitingState('pool idle');

/** Hand-overs so far, process-wide: orders the jobs workers hold but have not started. */
let handOvers = 0;

/** One worker: a task of the pool's group, and the job in its hands. @internal */
class Worker<J, R> implements JobSlot<J, R> {
  /** The job it holds (handed over, or running); `_curRes` null: none. */
  _cur: J | undefined = undefined;
  _curRes: ((v: R | PromiseLike<R>) => void) | null = null;
  /** The job's record, for a job submitted with options. */
  _curRec: Job<J, R> | null = null;
  /** RUNNING or INTERRUPTING while its handler runs; DONE once the shutdown gave up on it. */
  _curState = 0;
  /** Wakes it from idle: true with a job in its hands, false to exit. */
  _wake: ((go: boolean) => void) | undefined = undefined;
  /** When it last went idle (coarse clock). */
  _idleSince = 0;
  /** Its index in the pool's idle stack, or -1. */
  _idleAt = -1;
  /** Sent away while idle: already not counted in the pool's workers. */
  _dismissed = false;

  /** When the job in its hands was handed over (a pool-wide count), to keep hand-over order at abort. */
  _heldAt = 0;

  _hold(job: J, res: (v: R | PromiseLike<R>) => void, rec: Job<J, R> | null): void {
    this._heldAt = ++handOvers;
    this._cur = job;
    this._curRes = res;
    this._curRec = rec;
  }

  _empty(): void {
    this._cur = undefined;
    this._curRes = null;
    this._curRec = null;
    this._curState = 0;
  }
}

/**
 * WorkerPool runs `handler(job, ctx)` for submitted jobs on at most `concurrency` workers, queues
 * what it cannot run yet (up to `queueSize`), and makes submitters wait (or refuses them) beyond
 * that. Every job accepted is accounted for at shutdown: completed, failed, withdrawn, handed back
 * as unprocessed, or interrupted.
 *
 * A handler that throws or rejects fails its own job only: the worker goes on with the next one.
 * The handler's `ctx` ends when the pool aborts (or its shutdown timeout passes); a job submitted
 * with a `ctx` or run with a timeout gets its own context, which also ends with those. A job with
 * neither runs under its worker's context, so anything a handler starts under `ctx` and leaves
 * running is cancelled at shutdown, not when that job returns.
 *
 * @throws TypeError from the constructor when `handler` is not a function, for an unknown option or
 *   an option of the wrong type; RangeError naming the option for a bad number.
 * @example
 * ```ts
 * const pool = new WorkerPool(async (scan: Scan, ctx) => analyse(scan, ctx), {
 *   name: 'imaging', concurrency: 3, queueSize: 100,
 * });
 * const result = await pool.submit(scan, { ctx, label: `scan ${scan.id}` });
 * const report = await pool.shutdown({ mode: 'drain', timeout: 25_000 });
 * await persist(report.unprocessed);
 * ```
 */
export class WorkerPool<J, R = unknown> {
  /** The name given at construction, shown in dumps. */
  readonly name: string;
  private readonly _handler: (job: J, ctx: Context) => R | PromiseLike<R>;
  private _limit: number;
  private readonly _minWorkers: number;
  private readonly _idleTimeout: number;
  private readonly _queueSize: number;
  private readonly _onFull: 'wait' | 'reject';
  private readonly _maxWaiting: number;
  private readonly _jobTimeout: number;
  private readonly _onError: ((err: unknown, job: J) => void) | undefined;
  private readonly _parent: Context;
  private _stopParentWatch: (() => boolean) | undefined = undefined;

  private _group!: Group;
  private readonly _queue = new JobQueue<J, R>();
  private readonly _waiting = new JobList<J, R>();
  /** Idle workers, the most recently idle last (taken first, so the others can expire). */
  private _idle: Worker<J, R>[] = [];
  /** Workers counted against the limit: alive and not sent away. */
  private _workers = 0;
  /** Worker tasks still alive (sent-away ones included until they return); shutdown waits for 0. */
  private _alive = 0;
  private _running = 0;
  /** Every worker alive (not written off), to reach their running jobs at shutdown. */
  private readonly _all = new Set<Worker<J, R>>();
  /** One timer for all idle workers above minWorkers, armed while there are some (like ants' purge). */
  private _sweepTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  private _completed = 0;
  private _failed = 0;
  private _withdrawn = 0;
  private _rejected = 0;
  private _unprocessed: J[] = [];
  private _interruptedJobs: J[] = [];
  private _stuck = 0;
  private _latency = new Histogram();

  private _closed = false;
  private _shutdown: Promise<ShutdownReport<J>> | undefined = undefined;
  private _shutdownDone = false;
  private _finish: (() => void) | undefined = undefined;
  private _timers: ReturnType<typeof setTimeout>[] = [];

  constructor(handler: (job: J, ctx: Context) => R | PromiseLike<R>, options: PoolOptions<J> = {}) {
    if (typeof handler !== 'function') throw new TypeError(`WorkerPool: handler must be a function (got ${describe(handler)})`);
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`WorkerPool: options must be an object (got ${describe(options)})`);
    }
    checkKeys(options, POOL_OPTIONS, 'WorkerPool');
    const name = options.name ?? 'pool';
    if (typeof name !== 'string') throw new TypeError(`WorkerPool: name must be a string (got ${describe(name)})`);
    const concurrency = options.concurrency ?? 1;
    checkPositiveInt(concurrency, 'concurrency');
    const minWorkers = options.minWorkers ?? 0;
    if (typeof minWorkers !== 'number' || !Number.isInteger(minWorkers) || minWorkers < 0 || minWorkers > concurrency) {
      throw new RangeError(`WorkerPool: minWorkers must be an integer from 0 to concurrency (${concurrency}) (got ${describe(minWorkers)})`);
    }
    const idleTimeout = options.idleTimeout ?? 60_000;
    checkDuration(idleTimeout, 'idleTimeout', 'WorkerPool');
    const queueSize = options.queueSize ?? Infinity;
    checkCount(queueSize, 'queueSize');
    const onFull = options.onFull ?? 'wait';
    if (onFull !== 'wait' && onFull !== 'reject') {
      throw new TypeError(`WorkerPool: onFull must be 'wait' or 'reject' (got ${describe(onFull)})`);
    }
    const maxWaiting = options.maxWaitingSubmitters ?? Infinity;
    checkCount(maxWaiting, 'maxWaitingSubmitters');
    const jobTimeout = options.jobTimeout ?? 0;
    checkDuration(jobTimeout, 'jobTimeout', 'WorkerPool');
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new TypeError(`WorkerPool: onError must be a function (got ${describe(options.onError)})`);
    }
    if (options.ctx !== undefined) checkCtx(options.ctx, 'WorkerPool');
    this.name = name;
    this._handler = handler;
    this._limit = concurrency;
    this._minWorkers = minWorkers;
    this._idleTimeout = idleTimeout;
    this._queueSize = queueSize;
    this._onFull = onFull;
    this._maxWaiting = maxWaiting;
    this._jobTimeout = jobTimeout;
    this._onError = options.onError;
    this._parent = options.ctx ?? background();
    this._open();
  }

  /** The current limit on workers (and so on jobs running at once). */
  get concurrency(): number {
    return this._limit;
  }

  /** Whether `shutdown()` was called (and `restart()` not since). */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * submit runs `job` on a worker and resolves with the handler's result, or rejects with its
   * error. See the class docs for when it waits; a submit that waits for room is not accepted yet,
   * and rejects with `ctx.err` if its context ends first.
   *
   * @throws (as a rejection) PoolClosedError (with `job`) once shutdown began; PoolOverloadError
   *   (with `job`) when there is no room and `onFull` is `'reject'` or too many submits wait;
   *   `ctx.err` when `ctx` is or becomes done before the job starts; TypeError/RangeError for bad options.
   * @example
   * ```ts
   * const score = await pool.submit(answers, { ctx, timeout: 5_000, label: 'phq-9' });
   * ```
   */
  submit(job: J, options?: SubmitOptions): Promise<R> {
    if (options !== undefined) {
      let j: Job<J, R>;
      try {
        j = this._newJob(job, options);
      } catch (e) {
        return Promise.reject(e);
      }
      return this._admit(j, false);
    }
    // A plain job (the common case) needs no record unless it has to wait for room.
    if (this._closed) {
      this._rejected++;
      return Promise.reject(new PoolClosedError(job));
    }
    let res!: (v: R | PromiseLike<R>) => void;
    const p = new Promise<R>((resolve) => (res = resolve));
    if (this._place(job, res, null)) return p;
    const j = new Job<J, R>(job, undefined);
    j._resolve = res;
    return this._noRoom(j, false, p);
  }

  /**
   * trySubmit submits `job` only if it can be accepted without waiting: it returns the promise
   * `submit` would, or `false` when there is no room or the pool is shut down.
   *
   * @throws TypeError/RangeError for bad options (synchronously).
   * @example
   * ```ts
   * const p = pool.trySubmit(event);
   * if (p === false) dropped++;
   * ```
   */
  trySubmit(job: J, options?: SubmitOptions): Promise<R> | false {
    const j = this._newJob(job, options);
    if (this._closed || !this._hasRoom()) return false;
    return this._admit(j, true);
  }

  /**
   * resize changes the limit on workers. Raising it starts workers for queued jobs and waiting
   * submits at once; lowering it lets running jobs finish, then the extra workers exit (idle ones
   * at once). No running job is interrupted.
   *
   * @throws RangeError unless `n` is a positive integer.
   * @example
   * ```ts
   * pool.resize(os.availableParallelism());
   * ```
   */
  resize(n: number): void {
    checkPositiveInt(n, 'concurrency', 'WorkerPool.resize');
    this._limit = n;
    // Too many idle workers: the extra ones exit now (busy ones exit after their job).
    while (this._workers > this._limit && this._idle.length > 0) this._dismiss(this._idle[this._idle.length - 1] as Worker<J, R>);
    this._fill();
  }

  /**
   * stats returns the pool's load and totals, current when called.
   *
   * @example
   * ```ts
   * const { queued, running, latency } = pool.stats();
   * ```
   */
  stats(): PoolStats {
    return {
      concurrency: this._limit,
      workers: this._workers,
      running: this._running,
      idle: this._idle.length,
      queued: this._queue._length,
      waitingSubmitters: this._waiting._length,
      completed: this._completed,
      failed: this._failed,
      withdrawn: this._withdrawn,
      rejected: this._rejected,
      latency: this._latency.stats(),
    };
  }

  /**
   * shutdown stops the pool: from this call on, submits reject with PoolClosedError, and so do
   * submits still waiting for room. `'drain'` lets queued and running jobs finish (until
   * `timeout`); `'abort'` cancels running jobs and starts no queued job. It resolves, once no
   * worker is left, with a report of every job accepted since the pool started. Calling it again
   * returns the same promise.
   *
   * @throws TypeError for an unknown option or mode; RangeError for a bad `timeout` or `grace`.
   * @example
   * ```ts
   * const report = await pool.shutdown({ timeout: 20_000 });
   * for (const job of report.unprocessed) await outbox.save(job);
   * ```
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport<J>> {
    if (this._shutdown !== undefined) return this._shutdown;
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`WorkerPool.shutdown: options must be an object (got ${describe(options)})`);
    }
    checkKeys(options, SHUTDOWN_OPTIONS, 'WorkerPool.shutdown');
    const mode = options.mode ?? 'drain';
    if (mode !== 'drain' && mode !== 'abort') {
      throw new TypeError(`WorkerPool.shutdown: mode must be 'drain' or 'abort' (got ${describe(mode)})`);
    }
    const timeout = options.timeout ?? Infinity;
    if (timeout !== Infinity) checkDuration(timeout, 'timeout', 'WorkerPool.shutdown');
    const grace = options.grace ?? 5_000;
    checkDuration(grace, 'grace', 'WorkerPool.shutdown');

    const started = now();
    this._closed = true;
    if (this._sweepTimer !== undefined) {
      clearTimeout(this._sweepTimer);
      this._sweepTimer = undefined;
    }
    this._stopParentWatch?.();
    this._stopParentWatch = undefined;
    // Submits still waiting for room were never accepted: they are turned away, not reported.
    for (let j = this._waiting._shift(); j !== null; j = this._waiting._shift()) {
      j._state = DONE;
      j._x?.unwatch?.();
      this._rejected++;
      rejectJob(j, new PoolClosedError(j._job));
    }
    this._shutdown = new Promise<void>((resolve) => (this._finish = resolve)).then(() => {
      this._shutdownDone = true;
      for (const t of this._timers) clearTimeout(t);
      this._timers = [];
      return {
        mode,
        completed: this._completed,
        failed: this._failed,
        withdrawn: this._withdrawn,
        unprocessed: this._unprocessed,
        interrupted: this._interruptedJobs,
        stuck: this._stuck,
        durationMs: now() - started,
      };
    });
    if (mode === 'abort') this._abort(grace);
    else if (timeout !== Infinity) this._timers.push(setTimeout(() => this._abort(grace), timeout));
    // Idle workers have nothing left to drain: they exit now.
    while (this._idle.length > 0) this._dismiss(this._idle[this._idle.length - 1] as Worker<J, R>);
    this._checkDone();
    return this._shutdown;
  }

  /**
   * restart reopens a pool that was shut down, with fresh totals (like ants' Reboot). On a pool
   * that is not shut down it does nothing.
   *
   * @throws InvalidStateError while a shutdown is still in progress.
   * @example
   * ```ts
   * await pool.shutdown();
   * pool.restart();
   * ```
   */
  restart(): void {
    if (!this._closed) return;
    if (!this._shutdownDone) throw new InvalidStateError('WorkerPool.restart: the pool is still shutting down');
    this._closed = false;
    this._shutdown = undefined;
    this._shutdownDone = false;
    this._finish = undefined;
    this._completed = this._failed = this._withdrawn = this._rejected = this._stuck = 0;
    this._unprocessed = [];
    this._interruptedJobs = [];
    this._latency = new Histogram();
    this._open();
  }

  // --- internals ------------------------------------------------------------------------------

  private _open(): void {
    this._group = new Group(this._parent, { name: this.name, failFast: false });
    if (this._parent !== BACKGROUND_CTX) {
      this._stopParentWatch = afterFunc(this._parent, () => {
        if (!this._closed) void this.shutdown({ mode: 'abort' });
      });
    }
    for (let i = 0; i < this._minWorkers; i++) this._spawn(new Worker<J, R>());
  }

  private _newJob(job: J, options: SubmitOptions | undefined): Job<J, R> {
    if (options === undefined) return new Job<J, R>(job, undefined);
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`WorkerPool.submit: options must be an object (got ${describe(options)})`);
    }
    checkKeys(options, SUBMIT_OPTIONS, 'WorkerPool.submit');
    const { ctx, label = '' } = options;
    if (ctx !== undefined && !isContextLike(ctx)) {
      throw new TypeError(`WorkerPool.submit: ctx must be a Context (got ${describe(ctx)})`);
    }
    const timeout = options.timeout ?? this._jobTimeout;
    checkDuration(timeout, 'timeout', 'WorkerPool.submit');
    if (typeof label !== 'string') throw new TypeError(`WorkerPool.submit: label must be a string (got ${describe(label)})`);
    return new Job<J, R>(job, new JobExtras(ctx, timeout, label));
  }

  /** Whether a submit now would be accepted without waiting. */
  private _hasRoom(): boolean {
    return this._idle.length > 0 || this._workers < this._limit || this._queue._length < this._queueSize;
  }

  /** Accepts a job with a record if there is room, else makes it wait or refuses it. */
  private _admit(j: Job<J, R>, mustFit: boolean): Promise<R> {
    if (this._closed) {
      this._rejected++;
      return Promise.reject(new PoolClosedError(j._job));
    }
    const ctx = j._x?.ctx;
    if (ctx !== undefined) {
      const err = ctx.err;
      if (err !== undefined) return Promise.reject(err);
    }
    const p = new Promise<R>((resolve) => {
      j._resolve = resolve;
    });
    if (!this._accept(j)) return this._noRoom(j, mustFit, p);
    // Watch the submitter's context while the job is queued or runs.
    if (ctx !== undefined && j._state !== DONE) (j._x as JobExtras).unwatch = afterFunc(ctx, () => this._submitterDone(j));
    return p;
  }

  /** No room for `j`: it waits for room, or is refused. */
  private _noRoom(j: Job<J, R>, mustFit: boolean, p: Promise<R>): Promise<R> {
    if (mustFit || this._onFull === 'reject' || this._waiting._length >= this._maxWaiting) {
      this._rejected++;
      j._state = DONE;
      rejectJob(j, new PoolOverloadError(j._job));
      return p;
    }
    j._state = WAITING;
    this._waiting._push(j);
    const ctx = j._x?.ctx;
    if (ctx !== undefined) (j._x as JobExtras).unwatch = afterFunc(ctx, () => this._submitterDone(j));
    return p;
  }

  /** Hands a job to an idle worker, a new worker or the queue; false when none has room. */
  private _place(job: J, res: (v: R | PromiseLike<R>) => void, rec: Job<J, R> | null): boolean {
    const idle = this._idle.pop();
    if (idle !== undefined) {
      idle._idleAt = -1;
      idle._hold(job, res, rec);
      this._wakeWorker(idle, true);
      return true;
    }
    if (this._workers < this._limit) {
      const w = new Worker<J, R>();
      w._hold(job, res, rec);
      this._spawn(w);
      return true;
    }
    if (this._queue._length < this._queueSize) {
      if (rec === null) this._queue._pushPlain(job, res);
      else this._queue._pushRec(rec);
      return true;
    }
    return false;
  }

  /** Places a job with a record, keeping its state in step. */
  private _accept(j: Job<J, R>): boolean {
    // ASSIGNED first: a new worker may start the job (and move its state on) before _place returns.
    j._state = ASSIGNED;
    const queued = this._queue._length;
    if (!this._place(j._job, j._resolve, j)) return false;
    if (j._state === ASSIGNED && this._queue._length > queued) j._state = QUEUED;
    return true;
  }

  /**
   * Puts free capacity to use, oldest first: queued jobs go to idle or new workers, then waiting
   * submits are accepted while there is room (after a resize, or a queued job withdrawn).
   */
  private _fill(): void {
    for (;;) {
      if (this._queue._length > 0 && (this._idle.length > 0 || this._workers < this._limit)) {
        const idle = this._idle.pop();
        const w = idle ?? new Worker<J, R>();
        this._queue._shiftInto(w);
        if (idle !== undefined) {
          idle._idleAt = -1;
          this._wakeWorker(idle, true);
        } else {
          this._spawn(w);
        }
        continue;
      }
      const j = this._waiting._head;
      if (j !== null && this._hasRoom()) {
        this._waiting._remove(j);
        this._accept(j);
        continue;
      }
      return;
    }
  }

  /** The submitter's context ended: withdraw the job if it has not started, else cancel it. */
  private _submitterDone(j: Job<J, R>): void {
    const err = (j._x?.ctx as Context).err;
    switch (j._state) {
      case WAITING:
        this._waiting._remove(j);
        j._state = DONE;
        rejectJob(j, err);
        return;
      case QUEUED:
        this._queue._dropped(); // left in the ring as a tombstone
        j._state = DONE;
        this._withdrawn++;
        rejectJob(j, err);
        this._fill();
        this._checkDone();
        return;
      case RUNNING:
      case INTERRUPTING:
        j._x?.cancel?.(err);
        return;
      default:
        // ASSIGNED: the worker checks the context before it starts the job.
        return;
    }
  }

  /** Puts the next job in a free worker's hands; false when there is none for it. */
  private _takeNext(w: Worker<J, R>): boolean {
    if (this._workers > this._limit) return false; // lowered: this worker retires
    if (this._queue._shiftInto(w)) {
      // A queue slot freed: the oldest waiting submit is accepted into it.
      const j = this._waiting._shift();
      if (j !== null) {
        j._state = QUEUED;
        this._queue._pushRec(j);
      }
      return true;
    }
    const j = this._waiting._shift(); // queueSize 0: a direct hand-off
    if (j === null) return false;
    j._state = ASSIGNED;
    w._hold(j._job, j._resolve, j);
    return true;
  }

  private _spawn(w: Worker<J, R>): void {
    this._workers++;
    this._alive++;
    this._all.add(w);
    this._group.go((wctx) => this._work(w, wctx), { name: `${this.name} worker` });
  }

  private _wakeWorker(w: Worker<J, R>, go: boolean): void {
    const wake = w._wake as (go: boolean) => void;
    w._wake = undefined;
    wake(go);
  }

  /** Sends an idle worker away; it stops counting against the limit now, though it returns later. */
  private _dismiss(w: Worker<J, R>): void {
    this._removeIdle(w);
    w._dismissed = true;
    this._workers--;
    this._wakeWorker(w, false);
  }

  private _removeIdle(w: Worker<J, R>): void {
    const i = w._idleAt;
    if (i < 0) return;
    const last = this._idle.pop() as Worker<J, R>;
    if (last !== w) {
      this._idle[i] = last;
      last._idleAt = i;
    }
    w._idleAt = -1;
  }

  /**
   * A worker's life: run jobs until there is none for it. Never throws. One loop with the await in
   * it, rather than an async helper per job: that would cost a promise and a microtask per job.
   * A worker whose job the shutdown gave up on (stuck) was already written off, and leaves without
   * counting itself out.
   */
  private async _work(w: Worker<J, R>, wctx: Context): Promise<void> {
    // Read through the context: go() runs this before it returns the task.
    const task = wctx.value(TASK_KEY) as Task<void> | undefined;
    let writtenOff = false;
    try {
      for (;;) {
        if (w._curRes === null) {
          if (wctx.err !== undefined) break; // aborted: this worker's run of the pool is over
          if (!this._takeNext(w)) {
            if (this._closed || this._workers > this._limit) break;
            if (!(await this._idleWait(w, task))) break;
            if (w._curRes === null) continue; // the job handed over was taken back (abort)
          }
        }
        if (this._running >= this._limit) {
          // The limit was lowered after this job was handed over: it goes back to the front of
          // the queue (accepted jobs are never dropped), and this worker, one too many, retires.
          const rec = w._curRec;
          if (rec !== null) rec._state = QUEUED;
          this._queue._unshift(w);
          w._empty();
          continue;
        }
        const ctx = this._start(w, wctx, task);
        if (ctx !== undefined) {
          const t0 = now();
          let ok = true;
          let value: unknown;
          try {
            value = await this._handler(w._cur as J, ctx);
          } catch (e) {
            ok = false;
            value = e;
          }
          if (task !== undefined) task._labels = undefined;
          if (w._curState === DONE) {
            writtenOff = true; // given up on at shutdown: already accounted for
            break;
          }
          this._settle(w, ok, value, now() - t0);
        }
        w._empty();
      }
    } finally {
      if (!writtenOff) {
        if (!w._dismissed) this._workers--;
        this._alive--;
        this._all.delete(w);
        this._checkDone();
      }
    }
  }

  /** Waits idle until handed a job (true) or sent away (false). */
  private _idleWait(w: Worker<J, R>, task: Task<void> | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const prev = enterWait(task, IDLE);
      w._wake = (go) => {
        leaveWait(task, prev, IDLE);
        resolve(go);
      };
      w._idleAt = this._idle.length;
      w._idleSince = now();
      this._idle.push(w);
      this._armSweep();
    });
  }

  private _armSweep(): void {
    if (this._sweepTimer !== undefined || this._idleTimeout === 0 || this._closed) return;
    if (this._idle.length === 0 || this._workers <= this._minWorkers) return;
    const oldest = Math.min(...this._idle.map((w) => w._idleSince));
    const delay = Math.max(1, oldest + this._idleTimeout - now());
    this._sweepTimer = setTimeout(() => this._sweep(), delay);
    this._sweepTimer.unref();
  }

  /** Dismisses the workers idle for idleTimeout, down to minWorkers, oldest first. */
  private _sweep(): void {
    this._sweepTimer = undefined;
    const t = now();
    const due = this._idle.filter((w) => w._idleSince + this._idleTimeout <= t).sort((a, b) => a._idleSince - b._idleSince);
    for (const w of due) {
      if (this._workers <= this._minWorkers) break;
      this._dismiss(w);
    }
    this._armSweep();
  }

  /**
   * Starts the job in `w`'s hands: returns the context its handler gets, or undefined when its
   * submitter gave up between the hand-off and now (then it is withdrawn, never started).
   */
  private _start(w: Worker<J, R>, wctx: Context, task: Task<void> | undefined): Context | undefined {
    const rec = w._curRec;
    this._running++;
    w._curState = RUNNING;
    if (rec === null) return this._jobTimeout === 0 ? wctx : this._ownCtx(w, wctx, this._jobTimeout);
    const x = rec._x;
    const sctx = x?.ctx;
    if (sctx !== undefined && sctx.err !== undefined) {
      this._running--;
      w._curState = 0;
      x?.unwatch?.();
      rec._state = DONE;
      this._withdrawn++;
      rejectJob(rec, sctx.err);
      this._checkDone();
      return undefined;
    }
    rec._state = RUNNING;
    if (task !== undefined && x !== undefined && x.label !== '') task._labels = { job: x.label };
    const timeout = x === undefined ? this._jobTimeout : x.timeout;
    if (sctx === undefined && timeout === 0) return wctx;
    return this._ownCtx(w, wctx, timeout);
  }

  /** A context of the job's own (a submitter's ctx to follow, or a timeout), ended when it settles. */
  private _ownCtx(w: Worker<J, R>, wctx: Context, timeout: number): Context {
    const c = timeout > 0 ? withTimeout(wctx, timeout) : withCancel(wctx);
    let rec = w._curRec;
    if (rec === null) {
      // A plain job run with the pool's jobTimeout gets a record now, to hold its cancel.
      rec = new Job<J, R>(w._cur as J, new JobExtras(undefined, timeout, ''));
      rec._resolve = w._curRes as (v: R | PromiseLike<R>) => void;
      rec._state = RUNNING;
      w._curRec = rec;
    }
    const x = rec._x ?? (rec._x = new JobExtras(undefined, timeout, ''));
    x.cancel = c.cancel;
    return c.ctx;
  }

  /** Accounts for how the job in `w`'s hands settled, and tells its submitter. */
  private _settle(w: Worker<J, R>, ok: boolean, value: unknown, ms: number): void {
    this._running--;
    const interrupted = w._curState === INTERRUPTING;
    const rec = w._curRec;
    if (rec !== null) {
      const x = rec._x;
      if (x !== undefined) {
        x.cancel?.();
        x.cancel = undefined;
        x.unwatch?.();
      }
      rec._state = DONE;
    }
    this._latency.record(ms);
    const res = w._curRes as (v: R | PromiseLike<R>) => void;
    const job = w._cur as J;
    if (ok) {
      this._completed++;
      res(value as R);
      return;
    }
    if (interrupted) this._interruptedJobs.push(job);
    else this._failed++;
    this._reportError(value, job);
    rejectVia(res, value);
  }

  private _reportError(err: unknown, job: J): void {
    const onError = this._onError;
    if (onError === undefined) return;
    try {
      onError(err, job);
    } catch (e) {
      process.emitWarning(`WorkerPool "${this.name}": onError threw: ${e instanceof Error ? e.message : String(e)}`, {
        code: 'CORRAL_POOL_ONERROR',
      });
    }
  }

  /** Cancels running jobs and hands queued ones back; `grace` later, gives up on the rest. */
  private _abort(grace: number): void {
    // Jobs handed to a worker that has not started them yet are older than the queued ones.
    const held = [...this._all].filter((w) => w._curRes !== null && w._curState === 0).sort((a, b) => a._heldAt - b._heldAt);
    for (const w of held) {
      this._handBack(w);
      w._empty();
    }
    const slot: JobSlot<J, R> = { _cur: undefined, _curRes: null, _curRec: null };
    while (this._queue._shiftInto(slot)) this._handBack(slot);
    let running = 0;
    for (const w of this._all) {
      if (w._curState !== RUNNING) continue;
      w._curState = INTERRUPTING;
      if (w._curRec !== null) w._curRec._state = INTERRUPTING;
      running++;
    }
    this._group.cancel(new PoolClosedError(undefined, 'worker pool aborted'));
    if (running > 0) this._timers.push(setTimeout(() => this._giveUp(), grace));
    this._checkDone();
  }

  /** An accepted job that will never start: unprocessed, its submitter told with PoolClosedError. */
  private _handBack(slot: JobSlot<J, R>): void {
    const job = slot._cur as J;
    const rec = slot._curRec;
    if (rec !== null) {
      rec._state = DONE;
      rec._x?.unwatch?.();
    }
    this._unprocessed.push(job);
    rejectVia(slot._curRes as (v: R) => void, new PoolClosedError(job));
  }

  /**
   * Handlers still running `grace` after cancellation: reported as interrupted and stuck, their
   * submitters rejected, and their workers written off (each leaves when its handler settles;
   * until then dumps still show it, stuck in its handler).
   */
  private _giveUp(): void {
    for (const w of this._all) {
      if (w._curState !== RUNNING && w._curState !== INTERRUPTING) continue;
      this._all.delete(w);
      w._curState = DONE;
      const rec = w._curRec;
      if (rec !== null) {
        rec._state = DONE;
        rec._x?.cancel?.();
        rec._x?.unwatch?.();
      }
      this._running--;
      this._workers--;
      this._alive--;
      this._stuck++;
      const job = w._cur as J;
      this._interruptedJobs.push(job);
      rejectVia(w._curRes as (v: R) => void, new PoolClosedError(job, 'worker pool shut down while the job ignored cancellation'));
    }
    this._checkDone();
  }

  /** Resolves a pending shutdown once no queued job and no worker is left. */
  private _checkDone(): void {
    if (this._finish === undefined || this._queue._length > 0 || this._alive > 0) return;
    const finish = this._finish;
    this._finish = undefined;
    finish();
  }
}

const BACKGROUND_CTX = background();
