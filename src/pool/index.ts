/**
 * `corral/pool`: WorkerPool, a bounded set of workers with backpressure, per-job contexts and a
 * shutdown that accounts for every job it accepted. See docs/pool.md.
 * @module
 */
export { WorkerPool, type PoolOptions, type PoolStats, type ShutdownOptions, type ShutdownReport, type SubmitOptions } from './pool.js';
export { PoolClosedError, PoolOverloadError } from './errors.js';
export type { LatencyStats } from './histogram.js';
