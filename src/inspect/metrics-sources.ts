/**
 * Which pools and apps the metrics read: those tracked for the whole process (trackPool,
 * trackApp) and those passed to one call. Also the option checks shared by metricsText and
 * registerMetrics.
 * @module
 */
import { InvalidStateError } from '../errors.js';
import { describe } from '../validate.js';
import type { App } from '../app/app.js';
import type { MetricsPool, PoolSource } from './metrics-families.js';

/** Options for {@link metricsText} and `registerMetrics`. */
export interface MetricsOptions {
  /** Pools to expose besides those tracked with {@link trackPool}, each under its `name`. */
  pools?: readonly MetricsPool[];
  /** An app whose last shutdown to expose, besides those tracked with {@link trackApp}. */
  app?: App;
  /** How many spawn sites `corral_tasks_live` shows before folding the rest into site="other". Default 20. */
  topSites?: number;
}

/** The checked options. @internal */
export interface CheckedOptions {
  pools: readonly MetricsPool[];
  app: App | undefined;
  topSites: number;
}

const KEYS = new Set(['pools', 'app', 'topSites']);
const DEFAULT_TOP_SITES = 20;

const trackedPools: PoolSource[] = [];
const trackedApps: App[] = [];

function checkPool(pool: unknown, what: string, fn: string): asserts pool is MetricsPool {
  const p = pool as Partial<MetricsPool> | null;
  if (typeof p !== 'object' || p === null || typeof p.stats !== 'function' || typeof p.name !== 'string') {
    throw new TypeError(`${fn}: ${what} must be a WorkerPool (got ${describe(pool)})`);
  }
}

function checkApp(app: unknown, what: string, fn: string): asserts app is App {
  const a = app as Partial<App> | null;
  if (typeof a !== 'object' || a === null || typeof a.health !== 'function' || typeof a.stop !== 'function' || a.ctx === undefined) {
    throw new TypeError(`${fn}: ${what} must be an App (got ${describe(app)})`);
  }
}

/** Checks the options of `fn` and applies defaults. @internal */
export function checkOptions(options: MetricsOptions | undefined, fn: string): CheckedOptions {
  if (options === undefined) return { pools: [], app: undefined, topSites: DEFAULT_TOP_SITES };
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${fn}: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (!KEYS.has(k)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(k)}`);
  }
  const { pools = [], app, topSites = DEFAULT_TOP_SITES } = options;
  if (!Array.isArray(pools)) throw new TypeError(`${fn}: pools must be an array of WorkerPools (got ${describe(pools)})`);
  pools.forEach((p, i) => checkPool(p, `pools[${i}]`, fn));
  if (app !== undefined) checkApp(app, 'app', fn);
  if (typeof topSites !== 'number' || !Number.isInteger(topSites) || topSites < 1) {
    throw new RangeError(`${fn}: topSites must be an integer >= 1 (got ${describe(topSites)})`);
  }
  return { pools, app, topSites };
}

/**
 * The pools and apps one collection reads: the tracked ones, then those in `options`. A pool is
 * shown once however it was given. Two pools under one name would repeat a label set, which
 * Prometheus rejects: `strict` throws a TypeError for that, else the later pool is left out.
 * @internal
 */
export function resolve(options: CheckedOptions, strict: boolean, fn: string): { pools: PoolSource[]; apps: App[] } {
  const pools = [...trackedPools];
  for (const pool of options.pools) {
    if (pools.some((p) => p.pool === pool)) continue;
    if (pools.some((p) => p.name === pool.name)) {
      if (strict) throw new TypeError(`${fn}: two pools are named ${JSON.stringify(pool.name)}; give each a distinct name`);
      continue;
    }
    pools.push({ name: pool.name, pool });
  }
  const apps = [...trackedApps];
  const extra = options.app;
  if (extra !== undefined && !apps.includes(extra)) {
    if (!apps.some((a) => a.name === extra.name)) apps.push(extra);
    else if (strict) throw new TypeError(`${fn}: two apps are named ${JSON.stringify(extra.name)}; give each a distinct name`);
  }
  return { pools, apps };
}

/**
 * trackPool adds `pool` to every metrics output of the process (metricsText, the debug
 * endpoint, registered prom-client collectors) under the label `pool="NAME"`, until the returned
 * function is called. The pool is held until then.
 *
 * @param name The `pool` label. Default: `pool.name`.
 * @throws TypeError when `pool` is not a WorkerPool or `name` not a non-empty string;
 *   InvalidStateError when another tracked pool has that name, or this pool is tracked under another.
 * @example
 * ```ts
 * const pool = new WorkerPool(score, { name: 'scoring', concurrency: 4 });
 * const untrack = trackPool(pool);
 * // ... at shutdown
 * untrack();
 * ```
 */
export function trackPool(pool: MetricsPool, name?: string): () => void {
  checkPool(pool, 'pool', 'trackPool');
  const label = name ?? pool.name;
  if (typeof label !== 'string' || label === '') {
    throw new TypeError(`trackPool: name must be a non-empty string (got ${describe(label)})`);
  }
  const same = trackedPools.find((p) => p.pool === pool);
  if (same !== undefined && same.name !== label) {
    throw new InvalidStateError(`trackPool: this pool is already tracked as ${JSON.stringify(same.name)}`);
  }
  if (same === undefined) {
    if (trackedPools.some((p) => p.name === label)) {
      throw new InvalidStateError(`trackPool: another pool is already tracked as ${JSON.stringify(label)}; give each a distinct name`);
    }
    trackedPools.push({ name: label, pool });
  }
  return () => {
    const i = trackedPools.findIndex((p) => p.pool === pool);
    if (i !== -1) trackedPools.splice(i, 1);
  };
}

/**
 * trackApp adds `app`'s shutdown metrics (`corral_app_*`, labelled `app="NAME"`) to every metrics
 * output of the process, until the returned function is called. They appear once the app has
 * stopped; track the app before it stops so its report is caught as soon as it exists.
 *
 * @throws TypeError when `app` is not an App; InvalidStateError when another tracked app has its name.
 * @example
 * ```ts
 * const app = new App({ name: 'epro' });
 * trackApp(app);
 * const report = await app.main();
 * await pushMetrics(); // corral_app_shutdown_duration_seconds{app="epro"} and the rest
 * ```
 */
export function trackApp(app: App): () => void {
  checkApp(app, 'app', 'trackApp');
  if (!trackedApps.includes(app)) {
    if (trackedApps.some((a) => a.name === app.name)) {
      throw new InvalidStateError(`trackApp: another app is already tracked as ${JSON.stringify(app.name)}`);
    }
    trackedApps.push(app);
  }
  return () => {
    const i = trackedApps.indexOf(app);
    if (i !== -1) trackedApps.splice(i, 1);
  };
}
