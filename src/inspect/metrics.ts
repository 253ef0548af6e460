/**
 * corral's metrics: the registry's counts, the task duration histogram, pools and app shutdowns,
 * as Prometheus text ({@link metricsText}) or in a prom-client registry (`registerMetrics`).
 * See docs/metrics.md for every metric.
 * @module
 */
import { disableDurations, enableDurations } from './metrics-duration.js';

/**
 * enableMetrics starts recording task durations for `corral_task_duration_seconds`. Everything
 * else is counted whether metrics are on or not; durations cost each finishing task a few integer
 * operations, so they are recorded only from this call on (the first `metricsText()` or
 * `registerMetrics()` call does it too). Call it at startup to have every task's duration.
 * Idempotent.
 *
 * @example
 * ```ts
 * enableMetrics(); // before the app spawns its tasks
 * ```
 */
export function enableMetrics(): void {
  enableDurations();
}

/**
 * disableMetrics stops recording task durations; what was recorded is kept, and the other metrics
 * stay readable. Idempotent.
 *
 * @example
 * ```ts
 * disableMetrics(); // back to zero cost per task
 * ```
 */
export function disableMetrics(): void {
  disableDurations();
}

export { metricsText, METRICS_CONTENT_TYPE } from './metrics-text.js';
export { registerMetrics, type MetricsRegistration, type PromRegistryLike } from './metrics-prom.js';
export { trackApp, trackPool, type MetricsOptions } from './metrics-sources.js';
export type { MetricLabels, MetricsPool } from './metrics-families.js';
