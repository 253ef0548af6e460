/**
 * corral's metrics in a prom-client registry. prom-client is an optional peer dependency and is
 * never imported: the caller hands over its registry, and each metric family is registered as an
 * object with the shape prom-client's registries read (`name`, `help`, `type`, `aggregator`,
 * `get()`, `reset()`), so any prom-client from 13 on (and a registry from another copy of it)
 * works, and users without prom-client load nothing of it.
 *
 * Rejected: prom-client's own Gauge/Counter/Histogram with `collect()` callbacks. Gauges and
 * counters would do, but a Histogram can only be fed one observation at a time, and the task
 * duration histogram is kept as bucket counts (see metrics-duration.ts); with every family built
 * from the same definitions as metricsText(), the two outputs cannot disagree.
 * @module
 */
import { InvalidStateError } from '../errors.js';
import { describe } from '../validate.js';
import type { App } from '../app/app.js';
import type { StopReport } from '../app/report.js';
import { enableDurations } from './metrics-duration.js';
import { FAMILIES, type FamilyDef, type MetricLabels, type Sources } from './metrics-families.js';
import { checkOptions, resolve, type CheckedOptions, type MetricsOptions } from './metrics-sources.js';
import { settledStopReportOf } from './metrics-app.js';

/** What {@link registerMetrics} needs of a registry: prom-client's `Registry` (or its default `register`) has it. */
export interface PromRegistryLike {
  registerMetric(metric: any): void;
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
}

/** What {@link registerMetrics} returns. */
export interface MetricsRegistration {
  /** The names of the metrics registered. */
  readonly names: readonly string[];
  /** Removes corral's metrics from the registry (those still registered by this call). Idempotent. */
  unregister(): void;
}

/** One sample in the shape prom-client's registry renders. */
interface PromValue {
  value: number;
  labels: MetricLabels;
  metricName?: string;
}

/** A metric family as prom-client's registry sees it. */
class CorralMetric {
  /** Read and (for counters, in OpenMetrics mode) rewritten by the registry. */
  name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  private readonly _def: FamilyDef;
  private readonly _opts: CheckedOptions;

  constructor(def: FamilyDef, opts: CheckedOptions) {
    this.name = def.name;
    this.help = def.help;
    this.type = def.type;
    this.aggregator = def.aggregator;
    this._def = def;
    this._opts = opts;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: PromValue[] }> {
    const { pools, apps } = resolve(this._opts, false, 'registerMetrics');
    const reports = new Map<App, StopReport>();
    for (const app of apps) {
      const r = await settledStopReportOf(app);
      if (r !== undefined) reports.set(app, r);
    }
    const src: Sources = { topSites: this._opts.topSites, pools, apps, reportOf: (app) => reports.get(app) };
    const values: PromValue[] = [];
    // A suffixed sample (_bucket, _sum, _count) names itself; the registry names the rest, adding
    // _total to a counter's samples in OpenMetrics mode after stripping it from `name`.
    this._def.collect(src, (value, labels, suffix) => {
      const v: PromValue = { value, labels: labels === undefined ? {} : { ...labels } };
      if (suffix !== undefined) v.metricName = this.name + suffix;
      values.push(v);
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The registry's resetMetrics() calls this; corral's counts are not the registry's to reset. */
  reset(): void {}
}

/**
 * registerMetrics adds corral's metrics (the same families as {@link metricsText}, read at each
 * scrape) to a prom-client registry, and turns metrics on (see `enableMetrics`). Pools and apps
 * tracked with `trackPool`/`trackApp` are included at each scrape, with those in `options`. An
 * app's shutdown metrics appear once it has stopped.
 *
 * @throws TypeError when `registry` is not a prom-client registry, for an unknown option, a pool or
 *   app of the wrong kind, or two pools with one name; RangeError for a bad `topSites`;
 *   InvalidStateError when the registry already has a metric of one of corral's names (nothing is
 *   registered then).
 * @example
 * ```ts
 * import { register } from 'prom-client';
 * import { registerMetrics } from 'corral/inspect';
 *
 * registerMetrics(register, { pools: [scoringPool], app });
 * // GET /metrics -> res.end(await register.metrics())
 * ```
 */
export function registerMetrics(registry: PromRegistryLike, options?: MetricsOptions): MetricsRegistration {
  const r = registry as Partial<PromRegistryLike> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.registerMetric !== 'function' ||
    typeof r.getSingleMetric !== 'function' ||
    typeof r.removeSingleMetric !== 'function'
  ) {
    throw new TypeError(`registerMetrics: registry must be a prom-client Registry (got ${describe(registry)})`);
  }
  const opts = checkOptions(options, 'registerMetrics');
  resolve(opts, true, 'registerMetrics');
  for (const f of FAMILIES) {
    if (registry.getSingleMetric(f.name) !== undefined) {
      throw new InvalidStateError(`registerMetrics: the registry already has a metric named ${f.name}`);
    }
  }
  // Keyed by the name registered: in OpenMetrics mode the registry renames a counter in place
  // (dropping _total) but keeps it under the old key.
  const entries = FAMILIES.map((f) => [f.name, new CorralMetric(f, opts)] as const);
  for (const [, m] of entries) registry.registerMetric(m);
  enableDurations();
  return {
    names: entries.map(([name]) => name),
    unregister() {
      for (const [name, m] of entries) if (registry.getSingleMetric(name) === m) registry.removeSingleMetric(name);
    },
  };
}
