/**
 * `corral/pool`: WorkerPool, a bounded set of workers with backpressure, per-job contexts and a
 * shutdown that accounts for every job it accepted. See docs/pool.md.
 * @module
 */
export { WorkerPool } from './pool.js';
export type { PoolOptions, PoolStats, ShutdownOptions, ShutdownReport, SubmitOptions } from './options.js';
export { PoolClosedError, PoolOverloadError } from './errors.js';
export type { LatencyStats } from './histogram.js';
