/**
 * What corral exposes as metrics: one definition per metric family, each reading corral's state
 * when collected. The Prometheus text output and the prom-client collectors both render these
 * definitions, so the two cannot drift apart.
 * @module
 */
import { liveCounts, totals } from '../registry.js';
import type { App } from '../app/app.js';
import type { StopReport } from '../app/report.js';
import type { PoolStats } from '../pool/options.js';
import { readDurations } from './metrics-duration.js';
import { leakedBySiteLabel, liveBySite } from './metrics-sites.js';

/** What metrics need of a pool: its name and `stats()`. A `WorkerPool` has both. */
export interface MetricsPool {
  readonly name: string;
  stats(): PoolStats;
}

/** A pool and the `pool` label it is shown under. @internal */
export interface PoolSource {
  name: string;
  pool: MetricsPool;
}

/** Where a collection reads from. @internal */
export interface Sources {
  topSites: number;
  pools: readonly PoolSource[];
  apps: readonly App[];
  /** The stop report of each app, when it has one. */
  reportOf: (app: App) => StopReport | undefined;
}

/** Label name to value. */
export type MetricLabels = Readonly<Record<string, string>>;

/** Receives one sample: `suffix` is appended to the family's name (`_bucket`, `_sum`, `_count`). @internal */
export type Emit = (value: number, labels?: MetricLabels, suffix?: string) => void;

/** @internal */
export interface FamilyDef {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary';
  /** How prom-client's cluster aggregation combines workers' values. */
  aggregator: 'sum' | 'max';
  collect(src: Sources, emit: Emit): void;
}

const OUTCOMES = ['succeeded', 'failed', 'canceled'] as const;

/** A pool family: one sample per pool, read from its stats. */
function poolGauge(name: string, help: string, type: 'counter' | 'gauge', read: (s: PoolStats) => number): FamilyDef {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    collect(src, emit) {
      for (const p of src.pools) emit(read(p.pool.stats()), { pool: p.name });
    },
  };
}

/** An app family read from the app's last stop report; nothing before the app has stopped. */
function shutdownFamily(name: string, help: string, collect: (r: StopReport, app: string, emit: Emit) => void): FamilyDef {
  return {
    name,
    help,
    type: 'gauge',
    aggregator: 'max',
    collect(src, emit) {
      for (const app of src.apps) {
        const r = src.reportOf(app);
        if (r !== undefined) collect(r, app.name, emit);
      }
    },
  };
}

/** Whether a service's stop result is an HTTP server's drain report (corral/http's StopReport). */
function httpReport(v: unknown): { forced: unknown[] } | undefined {
  const r = v as { graceful?: unknown; forced?: unknown } | null | undefined;
  return typeof r === 'object' && r !== null && typeof r.graceful === 'boolean' && Array.isArray(r.forced)
    ? (r as { forced: unknown[] })
    : undefined;
}

const QUANTILES = [
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.99', 'p99'],
  ['1', 'max'],
] as const;

/** Every family, in output order. @internal */
export const FAMILIES: readonly FamilyDef[] = [
  {
    name: 'corral_tasks_live',
    help: 'Live tasks by spawn site (file:line, else name:NAME when the site was not captured); the smallest sites folded into site="other".',
    type: 'gauge',
    aggregator: 'sum',
    collect(src, emit) {
      for (const [site, n] of liveBySite(src.topSites)) emit(n, { site });
    },
  },
  {
    name: 'corral_tasks_leaked_total',
    help: 'Tasks found unreachable (they can never finish) since the process started, by spawn site as corral_tasks_live labels it; seen only while unreachable detection is on.',
    type: 'counter',
    aggregator: 'sum',
    collect(src, emit) {
      for (const [site, n] of leakedBySiteLabel(src.topSites)) emit(n, { site });
    },
  },
  {
    name: 'corral_groups_live',
    help: 'Live groups: groups with a task pending, or being disposed.',
    type: 'gauge',
    aggregator: 'sum',
    collect(_src, emit) {
      emit(liveCounts().groups);
    },
  },
  {
    name: 'corral_tasks_spawned_total',
    help: 'Tasks spawned since the process started.',
    type: 'counter',
    aggregator: 'sum',
    collect(_src, emit) {
      emit(totals.spawned);
    },
  },
  {
    name: 'corral_tasks_finished_total',
    help: 'Tasks finished since the process started, by outcome (succeeded, failed, canceled).',
    type: 'counter',
    aggregator: 'sum',
    collect(_src, emit) {
      for (const outcome of OUTCOMES) emit(totals[outcome], { outcome });
    },
  },
  {
    name: 'corral_task_duration_seconds',
    help: 'Time from spawn (queueing included) to finish of the tasks that finished since metrics were enabled (millisecond clock).',
    type: 'histogram',
    aggregator: 'sum',
    collect(_src, emit) {
      const d = readDurations();
      for (let k = 0; k < d.bounds.length; k++) emit(d.cumulative[k] as number, { le: d.bounds[k] as string }, '_bucket');
      emit(d.count, { le: '+Inf' }, '_bucket');
      emit(d.sumSeconds, undefined, '_sum');
      emit(d.count, undefined, '_count');
    },
  },
  poolGauge('corral_pool_concurrency', 'The most jobs a pool runs at once.', 'gauge', (s) => s.concurrency),
  poolGauge('corral_pool_workers', 'Workers alive in a pool, busy or idle.', 'gauge', (s) => s.workers),
  poolGauge('corral_pool_running', 'Jobs running in a pool.', 'gauge', (s) => s.running),
  poolGauge('corral_pool_queued', 'Jobs accepted by a pool and waiting for a worker (the queue length).', 'gauge', (s) => s.queued),
  poolGauge('corral_pool_waiting_submitters', 'Submits waiting for room in a full pool (not accepted yet).', 'gauge', (s) => s.waitingSubmitters),
  poolGauge('corral_pool_jobs_completed_total', 'Jobs whose handler resolved (reset by pool.restart()).', 'counter', (s) => s.completed),
  poolGauge('corral_pool_jobs_failed_total', 'Jobs whose handler threw or rejected (reset by pool.restart()).', 'counter', (s) => s.failed),
  poolGauge('corral_pool_jobs_withdrawn_total', "Queued jobs withdrawn because their submitter's context ended (reset by pool.restart()).", 'counter', (s) => s.withdrawn),
  poolGauge('corral_pool_jobs_rejected_total', 'Submits refused: pool overloaded or shut down (reset by pool.restart()).', 'counter', (s) => s.rejected),
  {
    name: 'corral_pool_job_duration_seconds',
    help: 'Handler run time of the jobs a pool ran to the end; quantiles are power-of-two bucket bounds (at most 2x above the truth), quantile 1 is the maximum; no _sum.',
    type: 'summary',
    aggregator: 'max',
    collect(src, emit) {
      for (const p of src.pools) {
        const l = p.pool.stats().latency;
        for (const [quantile, key] of QUANTILES) emit(l[key] / 1000, { pool: p.name, quantile });
        emit(l.count, { pool: p.name }, '_count');
      }
    },
  },
  shutdownFamily('corral_app_shutdown_duration_seconds', "How long the app's last shutdown took.", (r, app, emit) => emit(r.ms / 1000, { app })),
  shutdownFamily('corral_app_shutdown_step_duration_seconds', "How long each step of the app's last shutdown took.", (r, app, emit) => {
    for (const s of r.steps) emit(s.ms / 1000, { app, step: s.name });
  }),
  shutdownFamily(
    'corral_app_stop_duration_seconds',
    'How long each service and resource took to stop in the last shutdown.',
    (r, app, emit) => {
      for (const s of r.services) if (s.started) emit(s.ms / 1000, { app, service: s.name, kind: s.kind });
    },
  ),
  shutdownFamily('corral_app_shutdown_ok', 'Whether the last shutdown was clean: 1 (exit code 0) or 0.', (r, app, emit) =>
    emit(r.ok ? 1 : 0, { app }),
  ),
  shutdownFamily('corral_app_stops_failed', 'Services and resources whose start, run or stop failed or timed out in the last shutdown.', (r, app, emit) =>
    emit(r.services.filter((s) => !s.ok).length, { app }),
  ),
  shutdownFamily('corral_app_stops_timed_out', 'Services and resources whose run or stop ran out of time in the last shutdown.', (r, app, emit) =>
    emit(r.services.filter((s) => s.timedOut === true).length, { app }),
  ),
  shutdownFamily('corral_app_shutdown_tasks_left', 'Tasks still live in the registry when the last shutdown ended.', (r, app, emit) =>
    emit(r.stillRunning.length, { app }),
  ),
  shutdownFamily('corral_app_shutdown_requests_forced', 'HTTP requests an HTTP service had to cut in the last shutdown.', (r, app, emit) => {
    for (const s of r.services) {
      const h = httpReport(s.result);
      if (h !== undefined) emit(h.forced.length, { app, service: s.name });
    }
  }),
];
