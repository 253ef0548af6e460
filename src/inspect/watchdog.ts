/**
 * Watchdog: the seeds' production "goroutine watchdog", for corral tasks and the Node process
 * around them. It samples on an unref'd timer, checks rules (live tasks, their growth, stuck
 * tasks, event loop delay and utilisation, the heap after GC, active handles, abort listeners,
 * process warnings), raises an alert once when a rule's cause appears and clears it once when the
 * cause has been gone for `clearAfter` samples, and with an App marks it not ready while critical
 * causes stand (with hysteresis both ways).
 *
 * Invariants:
 * - A sample is synchronous and never re-entered: callbacks run after its readings, and a
 *   callback that calls `sample()` gets an InvalidStateError.
 * - One alert per rule at a time: `_rules` holds the standing alert of each rule. A cause that
 *   comes and goes within `clearAfter` samples does not raise a second alert.
 * - Hooks (histogram, GC observer, 'warning' listener, timer) exist only between `start()` and
 *   `stop()`; the reasons the watchdog gave to the app are withdrawn by `stop()`.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Alerting again at every sample while a cause stands: an on-call pager does not need the same
 *   leak every ten seconds; `status().active` and `alerts()` show what stands.
 * - Calling `app.markReady()`/`markHealthy()` without a reason to withdraw: it clears every
 *   reason, other components' too. The watchdog withdraws its own, one by one.
 * - Marking liveness by default: a leak or a backlog on every instance would then restart them
 *   all under load. Readiness takes one out of rotation; `health.mark` opts into liveness.
 * @module
 */
import { config } from '../config.js';
import { InvalidStateError } from '../errors.js';
import { LEAKED, leakedBySite, leakedCount, type LeakedSite } from '../unreachable.js';
import { formatAge, liveCounts, now, type EntryInfo } from '../registry.js';
import { dump } from './dump.js';
import { Census, type FoundSite } from './watchdog-census.js';
import {
  resolveOptions,
  ruleSeverity,
  RULES,
  type Alert,
  type AlertSite,
  type Resolved,
  type Severity,
  type WatchdogOptions,
  type WatchdogRule,
} from './watchdog-options.js';
import { abortListeners, activeResources, EventLoop, HeapAfterGc, OWN_WARNING, Warnings } from './watchdog-probes.js';

export type {
  AbortListenersRule,
  Alert,
  AlertSite,
  EventLoopDelayRule,
  EventLoopUtilizationRule,
  GrowthRule,
  HandlesRule,
  HeapRule,
  LeakedRule,
  LiveTasksRule,
  Severity,
  StuckRule,
  WarningsRule,
  WatchdogApp,
  WatchdogHealthOptions,
  WatchdogOptions,
  WatchdogRule,
  WatchdogRules,
} from './watchdog-options.js';

/** What one sample measured. Values a rule did not read (it is off, or needs `start()`) are undefined. */
export interface WatchdogReadings {
  /** Epoch milliseconds. */
  at: number;
  /** Live tasks. */
  tasks: number;
  /** Live tasks that were already live at the previous sample. */
  retained: number;
  /** Growth of `retained` per second over the last step; undefined before the third sample. */
  growthPerSec: number | undefined;
  /** p99 of the event loop delay since the last sample, ms (needs `start()`). */
  eventLoopDelayP99: number | undefined;
  /** Event loop utilisation since the last sample, 0 to 1. */
  eventLoopUtilization: number | undefined;
  /** The lowest heap reading after a major GC since the last sample, bytes (needs `start()`). */
  heapAfterGc: number | undefined;
  /** Active handles and requests. */
  handles: number | undefined;
  /**
   * Tasks found unreachable (they can never finish) since the process started; undefined when the
   * rule 'leaked' is off or detection is (`configure({ detectUnreachable: true })`).
   */
  leaked: number | undefined;
  /** 'abort' listeners on each watched signal, in the order given. */
  abortListeners: number[];
  /** Process warnings since the last sample (needs `start()`). */
  warnings: number | undefined;
  /** What the readings cost, ms (callbacks and dumps excluded). */
  costMs: number;
}

/** What {@link Watchdog.sample} returns. */
export interface WatchdogSample {
  readings: WatchdogReadings;
  /** Alerts raised by this sample (already passed to `onAlert`). */
  fired: Alert[];
  /** Alerts cleared by this sample (already passed to `onClear`). */
  cleared: Alert[];
}

/** What {@link Watchdog.status} returns. */
export interface WatchdogStatus {
  /** Between `start()` and `stop()`. */
  running: boolean;
  interval: number;
  /** Samples taken so far. */
  samples: number;
  /** The last sample's readings. */
  last: WatchdogReadings | undefined;
  /** The alerts standing now. */
  active: Alert[];
  /** Whether the watchdog holds the app not ready (or unhealthy, per `health.mark`) now. */
  unhealthy: boolean;
  /** What samples cost, ms: the last, the largest, the mean. */
  cost: { last: number; max: number; mean: number };
}

/** A cause a rule found in a sample. */
interface Finding {
  value: number;
  threshold: number;
  message: string;
  sites?: FoundSite[];
  details?: Record<string, number>;
  /** The dump shows the sites' leaked tasks only. */
  leaked?: boolean;
}

interface RuleState {
  active: Alert | undefined;
  /** Consecutive samples without a finding while `active` stands. */
  good: number;
}

/** One line on stderr per alert: the default `onAlert`. */
function printAlert(a: Alert): void {
  process.stderr.write(`corral watchdog: ${a.severity} ${a.rule}: ${a.message}\n`);
}

/** One line on stderr per cleared alert: the default `onClear`. */
function printClear(a: Alert): void {
  process.stderr.write(`corral watchdog: cleared ${a.rule} (raised ${formatAge((a.clearedAt ?? a.at) - a.at)} before)\n`);
}

/** The first frame of a site, or what to say when it was not captured. */
function where(s: AlertSite): string {
  if (s.site === undefined) return '(spawn site not captured)';
  const nl = s.site.indexOf('\n');
  return nl === -1 ? s.site : s.site.slice(0, nl);
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The finding of a per-site rule: "N spawn sites <text> <first frame of the worst>", with the
 * `top` worst sites. `sites` is worst first and not empty; `text` words the worst one.
 */
function siteFinding(sites: readonly FoundSite[], top: number, value: number, threshold: number, text: string): Finding {
  return { value, threshold, message: `${plural(sites.length, 'spawn site')} ${text} ${where(sites[0] as FoundSite)}`, sites: sites.slice(0, top) };
}

/** A deep copy for the outside: callbacks and `alerts()` never hand out the records kept here. */
function copy(a: Alert): Alert {
  const c: Alert = { ...a };
  if (a.sites !== undefined) c.sites = a.sites.map((s) => ({ ...s }));
  if (a.details !== undefined) c.details = { ...a.details };
  return c;
}

/**
 * Watchdog samples corral's live tasks and the process on an unref'd timer and raises alerts: too
 * many live tasks (in all, or at one spawn site), tasks that pile up (growth of the tasks that
 * outlive an interval, in all or per spawn site), tasks stuck in one state, a blocked or saturated
 * event loop, a heap that only grows after GCs, too many active handles or 'abort' listeners on a
 * long-lived signal, process warnings (MaxListenersExceededWarning among them).
 *
 * An alert is plain data (see {@link Alert}); for task rules it names the top offending spawn
 * sites and carries the grouped dump of their tasks (never arguments or results). It is passed to
 * `onAlert` once, and to `onClear` once its cause has been gone for `clearAfter` samples. With
 * `app`, the rules counted by `health` mark the app not ready (or unhealthy: `health.mark`) after
 * `health.after` bad samples in a row and withdraw that after `health.clearAfter` good ones.
 *
 * A sample costs one pass over the live tasks with no allocation per task in the steady state (see
 * docs/watchdog.md for figures); spawn sites are looked at only for the task names that look wrong.
 *
 * @throws TypeError from the constructor for an unknown option or a wrongly typed one; RangeError
 *   naming the option for an out-of-range value.
 * @example
 * ```ts
 * const watchdog = new Watchdog({ app, onAlert: (a) => log.warn(a.message, { rule: a.rule, dump: a.dump }) });
 * watchdog.start(); // samples every 10 s until stop()
 * ```
 */
export class Watchdog {
  private readonly _o: Resolved;
  private readonly _census: Census | undefined;
  private readonly _loop: EventLoop;
  private readonly _heap: HeapAfterGc | undefined;
  private readonly _warnings: Warnings | undefined;
  private readonly _signals: AbortSignal[];
  private readonly _rules = new Map<WatchdogRule, RuleState>();
  private readonly _history: Alert[] = [];
  private _timer: ReturnType<typeof setInterval> | undefined;
  private _sampling = false;
  private _samples = 0;
  private _last: WatchdogReadings | undefined;
  private _prevAt: number;
  private readonly _cost = { last: 0, max: 0, total: 0 };
  /** Epoch ms since when the utilisation has stayed above its threshold. */
  private _busySince: number | undefined;
  /** Post-GC heap readings, oldest first, at most `heap.samples + 1`. */
  private readonly _heapPoints: number[] = [];
  private _bad = 0;
  private _good = 0;
  /** `leakedCount()` at the previous sample that read it. */
  private _leakedBefore: number | undefined;
  /** Per leaked site (its key in leakedBySite's order): the count seen and when it was first seen. */
  private readonly _leakedSites = new Map<string, { count: number; firstAt: number }>();
  /** The reasons this watchdog gave to the app, by rule. */
  private readonly _marked = new Map<WatchdogRule, string>();

  constructor(options: WatchdogOptions = {}) {
    const o = resolveOptions(options, { onAlert: printAlert, onClear: printClear });
    this._o = o;
    const taskRules = o.liveTasks !== undefined || o.growth !== undefined || o.stuck !== undefined;
    this._census = taskRules
      ? new Census(
          {
            perSite: o.liveTasks?.perSite,
            growthPerSite: o.growth?.perSite,
            growthTotal: o.growth?.total,
            growthSamples: o.growth?.samples ?? 1,
            stuckAfter: o.stuck?.after,
            stuckCount: o.stuck?.count ?? 1,
            // A name stays broken down by site while an alert about it may still stand.
            grace: o.clearAfter + 1,
            ignore: o.ignore,
          },
          now(),
        )
      : undefined;
    this._loop = new EventLoop(o.eventLoopDelay?.resolution ?? 20);
    this._heap = o.heap === undefined ? undefined : new HeapAfterGc();
    this._warnings = o.warnings === undefined ? undefined : new Warnings(o.warnings.ignore);
    const signals = [...o.signals];
    const appSignal = o.app?.ctx?.signal;
    if (appSignal !== undefined && !signals.includes(appSignal)) signals.push(appSignal);
    this._signals = signals;
    for (const rule of RULES) if (ruleSeverity(o, rule) !== undefined) this._rules.set(rule, { active: undefined, good: 0 });
    this._prevAt = Date.now();
  }

  /** Whether the watchdog is sampling on its timer (between `start()` and `stop()`). */
  get running(): boolean {
    return this._timer !== undefined;
  }

  /**
   * start begins sampling every `interval` ms on an unref'd timer (it never keeps the process
   * alive) and installs the hooks some rules read: the event loop delay histogram, the GC
   * observer, the 'warning' listener. Idempotent. Returns the watchdog, for chaining.
   *
   * @example
   * ```ts
   * const watchdog = new Watchdog({ interval: 30_000 }).start();
   * ```
   */
  start(): this {
    if (this._timer !== undefined) return this;
    if (this._o.eventLoopDelay !== undefined) this._loop.start();
    this._heap?.start();
    this._warnings?.start();
    this._timer = setInterval(() => this._tick(), this._o.interval);
    this._timer.unref();
    return this;
  }

  /**
   * stop ends sampling, removes every hook `start()` installed, and withdraws the reasons it gave
   * to the app. Alerts and history are kept; `start()` may be called again. Idempotent.
   *
   * @example
   * ```ts
   * app.resource('watchdog', () => watchdog.stop());
   * ```
   */
  stop(): void {
    if (this._timer !== undefined) {
      clearInterval(this._timer);
      this._timer = undefined;
    }
    this._loop.stop();
    this._heap?.stop();
    this._warnings?.stop();
    this._withdraw();
    this._bad = this._good = 0;
    // Runs measured by the hooks do not span a stop: a restart begins them afresh.
    this._heapPoints.length = 0;
    this._busySince = undefined;
  }

  /** `using watchdog = new Watchdog().start()` stops it on scope exit. */
  [Symbol.dispose](): void {
    this.stop();
  }

  /**
   * sample takes one sample now, checks every rule, calls `onAlert`/`onClear` for what changed,
   * updates the app's health, and returns what it measured. The timer calls it; tests and
   * on-demand checks call it by hand (it works without `start()`, minus the rules that need a
   * hook: event loop delay, heap, warnings).
   *
   * @throws InvalidStateError when called from inside `onAlert` or `onClear`.
   * @example
   * ```ts
   * const { readings, fired } = watchdog.sample();
   * console.log(readings.tasks, fired.map((a) => a.rule));
   * ```
   */
  sample(): WatchdogSample {
    if (this._sampling) throw new InvalidStateError('Watchdog.sample: called from inside onAlert or onClear');
    this._sampling = true;
    try {
      return this._sample();
    } finally {
      this._sampling = false;
    }
  }

  /**
   * alerts returns the recent alerts as plain data, oldest first (at most `history` of them);
   * a cleared one has `clearedAt`.
   *
   * @example
   * ```ts
   * const standing = watchdog.alerts().filter((a) => a.clearedAt === undefined);
   * ```
   */
  alerts(): Alert[] {
    return this._history.map(copy);
  }

  /**
   * status returns whether the watchdog runs, its last readings, the alerts standing and what
   * sampling costs.
   *
   * @example
   * ```ts
   * res.end(JSON.stringify(watchdog.status()));
   * ```
   */
  status(): WatchdogStatus {
    const active: Alert[] = [];
    for (const s of this._rules.values()) if (s.active !== undefined) active.push(copy(s.active));
    const c = this._cost;
    return {
      running: this.running,
      interval: this._o.interval,
      samples: this._samples,
      last: this._last === undefined ? undefined : { ...this._last, abortListeners: [...this._last.abortListeners] },
      active,
      unhealthy: this._marked.size > 0,
      cost: { last: round2(c.last), max: round2(c.max), mean: this._samples === 0 ? 0 : round2(c.total / this._samples) },
    };
  }

  private _tick(): void {
    try {
      this.sample();
    } catch (err) {
      // A timer callback that throws would take the service down: the watchdog must not.
      process.emitWarning(`corral watchdog: a sample failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
        code: OWN_WARNING,
      });
    }
  }

  private _sample(): WatchdogSample {
    const o = this._o;
    const t0 = performance.now();
    const at = Date.now();
    const findings = new Map<WatchdogRule, Finding>();
    const r: WatchdogReadings = {
      at,
      tasks: 0,
      retained: 0,
      growthPerSec: undefined,
      eventLoopDelayP99: undefined,
      eventLoopUtilization: undefined,
      heapAfterGc: undefined,
      handles: undefined,
      leaked: undefined,
      abortListeners: [],
      warnings: undefined,
      costMs: 0,
    };

    const census = this._census?.sample(now());
    if (census !== undefined) {
      r.tasks = census.tasks;
      r.retained = census.retained;
      r.growthPerSec = census.growthPerSec;
      this._checkTasks(census, findings);
    } else r.tasks = liveCounts().tasks;

    if (o.leaked !== undefined && config.detectUnreachable) this._checkLeaked(r, at, findings);

    const ld = o.eventLoopDelay;
    if (ld !== undefined) {
      const p99 = this._loop.delayP99();
      r.eventLoopDelayP99 = p99;
      if (p99 !== undefined && p99 > ld.p99) {
        findings.set('eventLoopDelay', { value: p99, threshold: ld.p99, message: `event loop delay p99 ${p99} ms (threshold ${ld.p99} ms)` });
      }
    }

    const lu = o.eventLoopUtilization;
    if (lu !== undefined) {
      const u = this._loop.utilization();
      r.eventLoopUtilization = u;
      if (u > lu.max) {
        // The run began when the first busy interval did: at the previous sample.
        this._busySince ??= this._prevAt;
        const busy = at - this._busySince;
        if (busy >= lu.forMs) {
          findings.set('eventLoopUtilization', {
            value: u,
            threshold: lu.max,
            message: `event loop utilisation ${u} above ${lu.max} for ${formatAge(busy)}`,
          });
        }
      } else this._busySince = undefined;
    }

    if (o.heap !== undefined && this._heap !== undefined) {
      const low = this._heap.take();
      r.heapAfterGc = low;
      const pts = this._heapPoints;
      if (low !== undefined) {
        pts.push(low);
        if (pts.length > o.heap.samples + 1) pts.shift();
      }
      if (pts.length === o.heap.samples + 1 && pts.every((p, i) => i === 0 || p > (pts[i - 1] as number))) {
        const first = pts[0] as number;
        const last = pts[pts.length - 1] as number;
        if (last - first >= o.heap.minGrowth) {
          findings.set('heap', {
            value: last - first,
            threshold: o.heap.minGrowth,
            message: `heap after GC rose ${plural(o.heap.samples, 'time')} in a row: ${mib(first)} to ${mib(last)} (+${mib(last - first)})`,
          });
        }
      }
    }

    if (o.handles !== undefined) {
      const { total, byType } = activeResources();
      r.handles = total;
      if (total > o.handles.max) {
        const top = Object.entries(byType)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([t, n]) => `${t} x${n}`)
          .join(', ');
        findings.set('handles', { value: total, threshold: o.handles.max, message: `${total} active handles (threshold ${o.handles.max}): ${top}`, details: byType });
      }
    }

    if (o.abortListeners !== undefined && this._signals.length > 0) {
      const counts = abortListeners(this._signals);
      r.abortListeners = counts;
      let worst = 0;
      for (let i = 1; i < counts.length; i++) if ((counts[i] as number) > (counts[worst] as number)) worst = i;
      const n = counts[worst] as number;
      if (n > o.abortListeners.max) {
        const details: Record<string, number> = {};
        counts.forEach((c, i) => (details[`signal ${i}`] = c));
        findings.set('abortListeners', {
          value: n,
          threshold: o.abortListeners.max,
          message: `watched signal ${worst} has ${n} 'abort' listeners (threshold ${o.abortListeners.max}): something adds one per operation and never removes it`,
          details,
        });
      }
    }

    if (this._warnings !== undefined && this.running) {
      const w = this._warnings.take();
      r.warnings = w.total;
      if (w.total > 0) {
        const details: Record<string, number> = {};
        const parts: string[] = [];
        for (const [name, s] of w.byName) {
          details[name] = s.count;
          if (parts.length < 3) parts.push(`${name} x${s.count}: ${s.message}`);
        }
        findings.set('warnings', { value: w.total, threshold: 0, message: `${plural(w.total, 'process warning')}: ${parts.join('; ')}`, details });
      }
    }

    r.costMs = round2(performance.now() - t0);
    this._samples++;
    this._cost.last = r.costMs;
    this._cost.total += r.costMs;
    if (r.costMs > this._cost.max) this._cost.max = r.costMs;
    this._last = r;
    this._prevAt = at;

    const { fired, cleared } = this._apply(findings, at);
    this._health(findings);
    for (const a of fired) this._call(o.onAlert, a, 'onAlert');
    for (const a of cleared) this._call(o.onClear, a, 'onClear');
    return { readings: { ...r, abortListeners: [...r.abortListeners] }, fired: fired.map(copy), cleared: cleared.map(copy) };
  }

  private _checkTasks(c: ReturnType<Census['sample']>, findings: Map<WatchdogRule, Finding>): void {
    const o = this._o;
    const top = o.topSites;
    const lt = o.liveTasks;
    if (lt !== undefined) {
      if (c.tasks > lt.total) {
        const sites = this._census!.mostLive(top);
        const worst = sites[0];
        findings.set('liveTasks', {
          value: c.tasks,
          threshold: lt.total,
          message: `${c.tasks} live tasks (threshold ${lt.total})${worst === undefined ? '' : `; most are "${worst.name}" (${worst.count})`}`,
          sites,
        });
      }
      const w = c.liveSites[0];
      if (w !== undefined) {
        findings.set('liveTasksPerSite', siteFinding(c.liveSites, top, w.count, lt.perSite, `over ${lt.perSite} live tasks; worst "${w.name}" (${w.count})`));
      }
    }
    const g = o.growth;
    if (g !== undefined) {
      if (c.growthStreak >= g.samples && c.growthPerSec !== undefined) {
        const sites = this._census!.fastestGrowing(top);
        const worst = sites[0];
        findings.set('growth', {
          value: c.growthPerSec,
          threshold: g.total,
          message:
            `live tasks piling up: +${c.growthPerSec}/s for ${plural(c.growthStreak, 'sample')} (threshold ${g.total}/s), ${c.retained} outlived an interval` +
            (worst === undefined ? '' : `; fastest "${worst.name}" +${worst.growthPerSec}/s ${where(worst)}`),
          sites,
        });
      }
      const w = c.growingSites[0];
      if (w !== undefined) {
        const text = `piling up tasks for ${g.samples}+ samples; fastest "${w.name}" +${w.growthPerSec}/s (${w.count} retained)`;
        findings.set('growthPerSite', siteFinding(c.growingSites, top, w.growthPerSec, g.perSite, text));
      }
    }
    const st = o.stuck;
    const w = c.stuckSites[0];
    if (st !== undefined && w !== undefined) {
      const text = `with ${st.count}+ tasks unchanged for over ${formatAge(st.after)}; worst "${w.name}" (${w.count}, oldest ${formatAge(w.oldestMs)})`;
      findings.set('stuck', siteFinding(c.stuckSites, top, w.count, st.count, text));
    }
  }

  /**
   * Rule 'leaked'. No allocation unless the count moved: leakedBySite() copies, and the dump walks
   * the live tasks, only in a sample that found new ones.
   */
  private _checkLeaked(r: WatchdogReadings, at: number, findings: Map<WatchdogRule, Finding>): void {
    const rule = this._o.leaked!;
    const total = leakedCount();
    r.leaked = total;
    const before = this._leakedBefore;
    this._leakedBefore = total;
    // The first reading is a baseline only when the watchdog starts late: leaks found before it
    // existed are reported too, once (they are as certain as the new ones).
    const fresh = total - (before ?? 0);
    if (fresh < rule.min) return;
    const found: { s: LeakedSite; key: string; fresh: number; firstAt: number }[] = [];
    for (const s of leakedBySite()) {
      const key = s.site ?? `\u0000${s.name}`;
      const seen = this._leakedSites.get(key);
      const n = s.count - (seen?.count ?? 0);
      if (seen === undefined) this._leakedSites.set(key, { count: s.count, firstAt: at });
      else seen.count = s.count;
      if (n > 0) found.push({ s, key, fresh: n, firstAt: seen?.firstAt ?? at });
    }
    found.sort((a, b) => b.fresh - a.fresh || b.s.count - a.s.count);
    const top = found.slice(0, this._o.topSites);
    const sites: FoundSite[] = top.map(({ s, firstAt }) => ({
      site: s.site,
      name: s.name,
      count: s.count,
      growthPerSec: 0,
      oldestMs: at - firstAt,
      match: { name: s.name, frame: s.site === undefined ? null : s.site },
    }));
    const w = top[0] as (typeof top)[number];
    const was = w.s.lastState === '' ? '' : `, last ${w.s.lastState}`;
    findings.set('leaked', {
      value: fresh,
      threshold: rule.min,
      message:
        `${plural(fresh, 'task')} found unreachable since the last sample (they can never finish; ${total} since start); ` +
        `most "${w.s.name}" (+${w.fresh}, ${w.s.count} in all${was}) ${where(sites[0] as FoundSite)}`,
      sites,
      leaked: true,
    });
  }

  /** Raises and clears alerts; returns what changed. */
  private _apply(findings: Map<WatchdogRule, Finding>, at: number): { fired: Alert[]; cleared: Alert[] } {
    const fired: Alert[] = [];
    const cleared: Alert[] = [];
    for (const [rule, state] of this._rules) {
      const f = findings.get(rule);
      if (f !== undefined) {
        state.good = 0;
        if (state.active !== undefined) continue;
        const alert: Alert = {
          rule,
          severity: ruleSeverity(this._o, rule) as Severity,
          message: f.message,
          at,
          value: f.value,
          threshold: f.threshold,
          dump: f.sites === undefined || f.sites.length === 0 ? '' : dumpOf(f.sites, f.leaked === true),
        };
        if (f.sites !== undefined) alert.sites = f.sites.map(({ match: _match, ...s }) => s);
        if (f.details !== undefined) alert.details = f.details;
        state.active = alert;
        this._history.push(alert);
        if (this._history.length > this._o.history) this._history.shift();
        fired.push(alert);
      } else if (state.active !== undefined && ++state.good >= this._o.clearAfter) {
        state.active.clearedAt = at;
        cleared.push(state.active);
        state.active = undefined;
        state.good = 0;
      }
    }
    return { fired, cleared };
  }

  /** The app's readiness (or liveness), with hysteresis over samples. */
  private _health(findings: Map<WatchdogRule, Finding>): void {
    const app = this._o.app;
    if (app === undefined) return;
    const h = this._o.health;
    const bad: WatchdogRule[] = [];
    for (const rule of findings.keys()) if (h.rules.has(rule)) bad.push(rule);
    if (bad.length > 0) {
      this._good = 0;
      if (++this._bad < h.after) return;
      for (const rule of bad) {
        if (this._marked.has(rule)) continue;
        const reason = `watchdog ${rule}: ${(findings.get(rule) as Finding).message}`;
        this._marked.set(rule, reason);
        if (h.readiness) app.markUnready!(reason);
        if (h.liveness) app.markUnhealthy!(reason);
      }
    } else {
      this._bad = 0;
      if (this._marked.size > 0 && ++this._good >= h.clearAfter) {
        this._withdraw();
        this._good = 0;
      }
    }
  }

  /** Withdraws this watchdog's reasons, one by one: other components' reasons stay. */
  private _withdraw(): void {
    const app = this._o.app;
    if (app === undefined || this._marked.size === 0) return;
    const h = this._o.health;
    for (const reason of this._marked.values()) {
      if (h.readiness) app.markReady!(reason);
      if (h.liveness) app.markHealthy!(reason);
    }
    this._marked.clear();
  }

  private _call(fn: (a: Alert) => void, a: Alert, name: string): void {
    try {
      fn(copy(a));
    } catch (err) {
      // Thrown from a timer it would crash the service; its own warning is left out of the 'warnings' rule.
      process.emitWarning(`corral watchdog: ${name} threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
        code: OWN_WARNING,
      });
    }
  }
}

/** The most bytes of an alert's dump. */
const DUMP_BYTES = 32 * 1024;

/** The grouped dump of the tasks at the given sites. */
function dumpOf(sites: readonly FoundSite[], leakedOnly: boolean): string {
  const matches = sites.map((s) => s.match);
  const filter = (t: EntryInfo): boolean => {
    if (leakedOnly && t.state !== LEAKED) return false;
    for (const m of matches) {
      if (t.name !== m.name) continue;
      // A name-level entry, or tasks with no captured site (spawnSites 'sampled' captures one in
      // 64): every task of the name, so the captured ones show where they come from.
      if (m.frame === null || m.frame === undefined) return true;
      const site = t.spawnSite;
      if (site !== undefined && site.startsWith(m.frame) && (site.length === m.frame.length || site[m.frame.length] === '\n')) return true;
    }
    return false;
  };
  // Bounded: a few states per site, and never a wall of text in a log line's payload.
  return dump({ format: 'grouped', filter, limit: 4 * sites.length, maxBytes: DUMP_BYTES });
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
