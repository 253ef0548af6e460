/**
 * WorkerPool's options, its shutdown report and stats, and the checks that turn bad input into a
 * TypeError or RangeError naming the option.
 * @module
 */
import type { Context } from '../context.js';
import { describe } from '../validate.js';
import type { LatencyStats } from './histogram.js';

/** Options for {@link WorkerPool}. Every duration is in milliseconds. */
export interface PoolOptions<J> {
  /** Shown in dumps: the workers are tasks named `NAME worker` of a group named NAME. Default `'pool'`. */
  name?: string;
  /** The most workers, so the most jobs running at once. A positive integer. Default 1. */
  concurrency?: number;
  /** Workers started at once and kept while idle. An integer from 0 to `concurrency`. Default 0. */
  minWorkers?: number;
  /** How long a worker above `minWorkers` stays idle before it exits; 0: never. Default 60,000. */
  idleTimeout?: number;
  /** Accepted jobs waiting for a worker; 0: a job is accepted only when a worker takes it. Default Infinity. */
  queueSize?: number;
  /** What a submit does when there is no room: wait for it, or reject with PoolOverloadError. Default `'wait'`. */
  onFull?: 'wait' | 'reject';
  /** With `onFull: 'wait'`, submits beyond this many waiting reject with PoolOverloadError. Default Infinity. */
  maxWaitingSubmitters?: number;
  /** Each job's time limit (its context ends with DeadlineExceededError); 0: none. Default 0. */
  jobTimeout?: number;
  /** Called once per job whose handler threw or rejected. Its own errors are reported as process warnings. */
  onError?: (err: unknown, job: J) => void;
  /** The pool's parent context: when it ends, the pool shuts down in `'abort'` mode. Default `background()`. */
  ctx?: Context;
}

/** Options for {@link WorkerPool.submit}. */
export interface SubmitOptions {
  /** The submitter's context: when it ends, a waiting or queued job is withdrawn and a running one's context is cancelled. */
  ctx?: Context;
  /** This job's time limit in milliseconds, instead of the pool's `jobTimeout`; 0: none. */
  timeout?: number;
  /** Shown in dumps as the job a worker runs. Never put the job's data here. */
  label?: string;
}

/** Options for {@link WorkerPool.shutdown}. */
export interface ShutdownOptions {
  /**
   * `'drain'` (default) finishes queued and running jobs; `'abort'` cancels running jobs' contexts
   * and starts no queued job.
   */
  mode?: 'drain' | 'abort';
  /** In `'drain'` mode, how long to drain before cancelling what still runs. Default Infinity. */
  timeout?: number;
  /**
   * How long, once running jobs were cancelled, to wait for handlers that ignore their context.
   * Those still running then are reported as interrupted and counted in `stuck`. Default 5,000.
   */
  grace?: number;
}

/**
 * What a shutdown did with every job accepted since the pool was created (or last restarted):
 * `accepted = completed + failed + withdrawn + unprocessed.length + interrupted.length`.
 */
export interface ShutdownReport<J> {
  mode: 'drain' | 'abort';
  /** Jobs whose handler resolved. */
  completed: number;
  /** Jobs whose handler threw or rejected (not cancelled by the pool). */
  failed: number;
  /** Queued jobs taken back because their submitter's context ended before they started. */
  withdrawn: number;
  /** Jobs accepted but never started, oldest first: persist them, nothing else will run them. */
  unprocessed: J[];
  /** Jobs that started and were cancelled by the shutdown before they completed. */
  interrupted: J[];
  /** Of `interrupted`, handlers that had not settled `grace` ms after cancellation. */
  stuck: number;
  /** How long the shutdown took. */
  durationMs: number;
}

/** A snapshot of a pool's load and history, current when returned. */
export interface PoolStats {
  concurrency: number;
  /** Workers alive (running a job or idle). */
  workers: number;
  /** Jobs whose handler is running. */
  running: number;
  /** Workers waiting for a job. */
  idle: number;
  /** Accepted jobs waiting for a worker. */
  queued: number;
  /** Submits waiting for room (not accepted yet). */
  waitingSubmitters: number;
  completed: number;
  failed: number;
  withdrawn: number;
  /** Submits refused: PoolOverloadError, or PoolClosedError for a submit after or waiting at shutdown. */
  rejected: number;
  /** Handler run times of the jobs that ran to the end: completed, failed or interrupted (ms, coarse clock). */
  latency: LatencyStats;
}

/** @internal */
export const POOL_OPTIONS = new Set([
  'name',
  'concurrency',
  'minWorkers',
  'idleTimeout',
  'queueSize',
  'onFull',
  'maxWaitingSubmitters',
  'jobTimeout',
  'onError',
  'ctx',
]);
export const SUBMIT_OPTIONS = new Set(['ctx', 'timeout', 'label']);
export const SHUTDOWN_OPTIONS = new Set(['mode', 'timeout', 'grace']);


/** Throws TypeError naming the first key of `options` that is not in `known`. @internal */
export function checkKeys(options: object, known: ReadonlySet<string>, fn: string): void {
  for (const k of Object.keys(options)) {
    if (!known.has(k)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(k)}`);
  }
}

/** @internal */
export function checkPositiveInt(n: unknown, name: string, fn = 'WorkerPool'): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new RangeError(`${fn}: ${name} must be a positive integer (got ${describe(n)})`);
  }
}

/** @internal */
export function checkCount(n: unknown, name: string): asserts n is number {
  if (n === Infinity) return;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new RangeError(`WorkerPool: ${name} must be an integer >= 0 or Infinity (got ${describe(n)})`);
  }
}
