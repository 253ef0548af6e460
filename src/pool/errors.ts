/**
 * The errors a WorkerPool rejects with. Each carries the job it concerns, so a caller can persist
 * or retry it: nothing a pool turns away is lost to its submitter.
 * @module
 */

/**
 * PoolClosedError rejects a `submit` made after `shutdown()` began, a submit still waiting for room
 * when it began, and every queued job that never started because the pool shut down (those are
 * also in the shutdown report's `unprocessed`). `job` is the job.
 *
 * @example
 * ```ts
 * try {
 *   await pool.submit(upload);
 * } catch (e) {
 *   if (e instanceof PoolClosedError) await persistForNextStart(e.job);
 * }
 * ```
 */
export class PoolClosedError<J = unknown> extends Error {
  /** Always `'ERR_CORRAL_POOL_CLOSED'`. */
  readonly code = 'ERR_CORRAL_POOL_CLOSED' as const;
  /** The job that was not run. */
  readonly job: J;
  constructor(job: J, message = 'worker pool is shut down') {
    super(message);
    this.name = 'PoolClosedError';
    this.job = job;
  }
}

/**
 * PoolOverloadError rejects a `submit` that found no room when the pool's `onFull` is `'reject'`,
 * or when `maxWaitingSubmitters` submits already wait for room. `job` is the job, not accepted.
 *
 * @example
 * ```ts
 * pool.submit(job).catch((e) => {
 *   if (e instanceof PoolOverloadError) res.writeHead(503).end();
 * });
 * ```
 */
export class PoolOverloadError<J = unknown> extends Error {
  /** Always `'ERR_CORRAL_POOL_OVERLOAD'`. */
  readonly code = 'ERR_CORRAL_POOL_OVERLOAD' as const;
  /** The job that was turned away. */
  readonly job: J;
  constructor(job: J, message = 'worker pool is full') {
    super(message);
    this.name = 'PoolOverloadError';
    this.job = job;
  }
}
