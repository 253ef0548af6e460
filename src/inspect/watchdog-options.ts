/**
 * The Watchdog's options and rules, their defaults (stated once, here), and the checks that turn
 * bad input into a TypeError or RangeError naming the option.
 * @module
 */
import { describe } from '../validate.js';

/** What an alert says about how bad things are. With an App, 'critical' rules mark it not ready by default. */
export type Severity = 'warning' | 'critical';

/** The rules a Watchdog checks; an alert's `rule` is one of these. */
export type WatchdogRule =
  | 'liveTasks'
  | 'liveTasksPerSite'
  | 'growth'
  | 'growthPerSite'
  | 'stuck'
  | 'leaked'
  | 'eventLoopDelay'
  | 'eventLoopUtilization'
  | 'heap'
  | 'handles'
  | 'abortListeners'
  | 'warnings';

/** Every rule, in the order a sample checks them. */
export const RULES: readonly WatchdogRule[] = [
  'liveTasks',
  'liveTasksPerSite',
  'growth',
  'growthPerSite',
  'stuck',
  'leaked',
  'eventLoopDelay',
  'eventLoopUtilization',
  'heap',
  'handles',
  'abortListeners',
  'warnings',
];

/** Live tasks in the process (rule 'liveTasks') and at one spawn site (rule 'liveTasksPerSite'). */
export interface LiveTasksRule {
  /** Alert when the process has more live tasks than this. Default 100,000. */
  total?: number;
  /** Alert when one spawn site has more live tasks than this. Default 25,000. */
  perSite?: number;
  /** Default 'critical': a hard cap, the last line before the process runs out of memory. */
  severity?: Severity;
}

/**
 * Growth of the tasks that outlive a sampling interval, in the process (rule 'growth') and per
 * spawn site (rule 'growthPerSite'). A step counts as growth when the tasks that were already live
 * at the previous sample grew faster than the rate given, measured on the samples' real
 * timestamps; the rule fires after `samples` such steps in a row.
 */
export interface GrowthRule {
  /** Tasks per second for the whole process. Default 50. */
  total?: number;
  /** Tasks per second at one spawn site. Default 10. */
  perSite?: number;
  /** Consecutive growing steps before the alert. Default 2 (three samples: growth is seen on tasks that outlived an interval). */
  samples?: number;
  /** Default 'warning'. */
  severity?: Severity;
}

/** Tasks whose state has not changed for `after` ms, per spawn site (rule 'stuck'). */
export interface StuckRule {
  /** How long a task must keep one state (running, or waiting on the same thing) to count as stuck. Default 300,000 (5 minutes). */
  after?: number;
  /** Alert when one spawn site has at least this many stuck tasks. Default 100 (long-lived loops are few per site; leaks are many). */
  count?: number;
  /** Default 'warning'. */
  severity?: Severity;
}

/**
 * Tasks found unreachable (rule 'leaked'): their pending promise was collected by V8, so they can
 * never finish and their `finally` never runs (see `leakedBySite()` in corral). Certain, not a
 * guess, but only seen while detection is on (`configure({ detectUnreachable: true })` or
 * `CORRAL_DETECT_UNREACHABLE=1`) and only as V8 collects: no GC is forced in production. The
 * counts never go down, so the rule looks at what is new: it fires when at least `min` tasks were
 * found since the previous sample, and clears after `clearAfter` samples with none.
 */
export interface LeakedRule {
  /** Tasks newly found unreachable between two samples. Default 1: every one is a bug. */
  min?: number;
  /** Default 'warning': a bug to fix, not a reason to take the instance out of rotation. */
  severity?: Severity;
}

/** The event loop's delay, from `perf_hooks.monitorEventLoopDelay` while started (rule 'eventLoopDelay'). */
export interface EventLoopDelayRule {
  /** Alert when the 99th percentile of the delay over a sampling interval exceeds this many ms (it includes `resolution`). Default 1,000. */
  p99?: number;
  /** The histogram's resolution in ms. Default 20. */
  resolution?: number;
  /** Default 'critical': a loop this blocked cannot answer its probes either. */
  severity?: Severity;
}

/** Event loop utilisation, from `performance.eventLoopUtilization()` (rule 'eventLoopUtilization'). */
export interface EventLoopUtilizationRule {
  /** Alert when the utilisation (0 to 1) stays above this... Default 0.95. */
  max?: number;
  /** ...for at least this many ms of consecutive samples. Default 60,000. */
  forMs?: number;
  /** Default 'warning'. */
  severity?: Severity;
}

/** The heap used right after major garbage collections, watched while started (rule 'heap'). */
export interface HeapRule {
  /** Alert after this many post-GC readings in a row, each higher than the one before... Default 5. */
  samples?: number;
  /** ...that rose by at least this many bytes in all. Default 32 MiB. */
  minGrowth?: number;
  /** Default 'warning'. */
  severity?: Severity;
}

/** Active handles and requests, from `process.getActiveResourcesInfo()` (rule 'handles'). */
export interface HandlesRule {
  /** Alert when more than this many are active (unref'd timers are not counted by Node). Default 20,000. */
  max?: number;
  /** Default 'warning'. */
  severity?: Severity;
}

/** 'abort' listeners on the long-lived signals given in `signals` (rule 'abortListeners'). */
export interface AbortListenersRule {
  /** Alert when one watched signal has more 'abort' listeners than this. Default 1,000. */
  max?: number;
  /** Default 'warning'. */
  severity?: Severity;
}

/** Process warnings emitted while started, MaxListenersExceededWarning first among them (rule 'warnings'). */
export interface WarningsRule {
  /** Warning names or codes left out. Default `['DeprecationWarning', 'ExperimentalWarning']`. */
  ignore?: readonly string[];
  /** Default 'warning'. */
  severity?: Severity;
}

/** The rules and their thresholds: `false` turns a rule off, `true` or `{}` keeps its defaults. */
export interface WatchdogRules {
  liveTasks?: boolean | LiveTasksRule;
  growth?: boolean | GrowthRule;
  stuck?: boolean | StuckRule;
  leaked?: boolean | LeakedRule;
  eventLoopDelay?: boolean | EventLoopDelayRule;
  eventLoopUtilization?: boolean | EventLoopUtilizationRule;
  heap?: boolean | HeapRule;
  handles?: boolean | HandlesRule;
  abortListeners?: boolean | AbortListenersRule;
  warnings?: boolean | WarningsRule;
}

/**
 * The part of corral/app's App a Watchdog uses: any object with the methods `health.mark` needs
 * fits ('readiness': `markUnready` and `markReady`; 'liveness': `markUnhealthy` and `markHealthy`).
 * Given a reason, `markReady` and `markHealthy` must withdraw that one reason only, as App's do.
 * With `ctx`, its signal is watched by the 'abortListeners' rule.
 */
export interface WatchdogApp {
  markUnready?(reason: string): void;
  markReady?(reason?: string): void;
  markUnhealthy?(reason: string): void;
  markHealthy?(reason?: string): void;
  readonly ctx?: { readonly signal: AbortSignal };
}

/** How alerts turn an App not ready (or unhealthy) and back (hysteresis over samples). */
export interface WatchdogHealthOptions {
  /**
   * What a bad run of samples marks: 'readiness' (default: `app.markUnready()`, so `/readyz` turns
   * 503 and the instance leaves the load balancer without being restarted), 'liveness'
   * (`app.markUnhealthy()`, so a liveness probe fails and the orchestrator restarts it) or 'both'.
   */
  mark?: 'readiness' | 'liveness' | 'both';
  /** Consecutive samples in which one of `rules` finds its cause before the app is marked. Default 3. */
  after?: number;
  /** Consecutive samples in which none does before the watchdog's reasons are withdrawn. Default 3. */
  clearAfter?: number;
  /** The rules that count. Default: those whose severity is 'critical'. */
  rules?: readonly WatchdogRule[];
}

/** Options for `new Watchdog()`. Every duration is in milliseconds. */
export interface WatchdogOptions {
  /** Time between samples once started. Default 10,000. */
  interval?: number;
  /** The rules and their thresholds; see {@link WatchdogRules}. Default: every rule with its defaults. */
  rules?: WatchdogRules;
  /** Called with each new alert. Default: one line on stderr, `corral watchdog: <severity> <rule>: <message>`. */
  onAlert?: (alert: Alert) => void;
  /** Called when an alert's cause went away (`clearedAt` set). Default: one line on stderr. */
  onClear?: (alert: Alert) => void;
  /** An App (or anything with its health methods) to mark not ready (see `health.mark`) while critical alerts stand. */
  app?: WatchdogApp;
  /** With `app`: the hysteresis; see {@link WatchdogHealthOptions}. */
  health?: WatchdogHealthOptions;
  /** Long-lived signals whose 'abort' listeners are counted (the app's `ctx.signal` is added). Default none. */
  signals?: readonly AbortSignal[];
  /** Consecutive samples without its cause before an alert clears. Default 3. */
  clearAfter?: number;
  /** How many spawn sites an alert names and dumps. Default 5. */
  topSites?: number;
  /** How many alerts `alerts()` keeps, newest last. Default 100. */
  history?: number;
  /** Task names (or patterns) the per-site rules leave out; they still count in the process totals. Default none. */
  ignore?: readonly (string | RegExp)[];
}

/** One spawn site named by an alert. */
export interface AlertSite {
  /** The spawn site as "at ..." lines (corral's own frames left out), or undefined when not captured. */
  site: string | undefined;
  /** The tasks' name (the first seen, if a site spawns tasks under several names). */
  name: string;
  /** The tasks the rule counted at this site: live ones, ones that outlived an interval (growth), stuck ones, or (rule 'leaked') those found unreachable since the process started. */
  count: number;
  /** Growth of the site's tasks that outlived an interval, per second, over the last step (0 when not measured). */
  growthPerSec: number;
  /** Age of the oldest counted task in its current state, in ms (rule 'leaked': since it was found unreachable). */
  oldestMs: number;
}

/** An alert, as plain data: never task arguments, results or labels' values beyond the dump's redaction. */
export interface Alert {
  rule: WatchdogRule;
  severity: Severity;
  /** One line, numbers included. */
  message: string;
  /** Epoch milliseconds when it was raised. */
  at: number;
  /** What was measured (tasks, tasks per second, ms, bytes, a ratio, a count: see docs/watchdog.md). */
  value: number;
  /** The threshold it crossed. */
  threshold: number;
  /** For task rules: the top offending spawn sites, worst first. */
  sites?: AlertSite[];
  /** For task rules: the grouped dump of the tasks at `sites`; '' for the other rules. */
  dump: string;
  /** Counts by kind: active handles per type, warnings per name, listeners per watched signal. */
  details?: Record<string, number>;
  /** Epoch milliseconds when its cause went away; absent while it stands. */
  clearedAt?: number;
}

/** @internal */
export interface Resolved {
  interval: number;
  liveTasks: { total: number; perSite: number; severity: Severity } | undefined;
  growth: { total: number; perSite: number; samples: number; severity: Severity } | undefined;
  stuck: { after: number; count: number; severity: Severity } | undefined;
  leaked: { min: number; severity: Severity } | undefined;
  eventLoopDelay: { p99: number; resolution: number; severity: Severity } | undefined;
  eventLoopUtilization: { max: number; forMs: number; severity: Severity } | undefined;
  heap: { samples: number; minGrowth: number; severity: Severity } | undefined;
  handles: { max: number; severity: Severity } | undefined;
  abortListeners: { max: number; severity: Severity } | undefined;
  warnings: { ignore: Set<string>; severity: Severity } | undefined;
  onAlert: (alert: Alert) => void;
  onClear: (alert: Alert) => void;
  app: WatchdogApp | undefined;
  health: { readiness: boolean; liveness: boolean; after: number; clearAfter: number; rules: Set<WatchdogRule> };
  signals: AbortSignal[];
  clearAfter: number;
  topSites: number;
  history: number;
  ignore: ((name: string) => boolean) | undefined;
}

const FN = 'Watchdog';
const OPTIONS = new Set(['interval', 'rules', 'onAlert', 'onClear', 'app', 'health', 'signals', 'clearAfter', 'topSites', 'history', 'ignore']);
const RULE_KEYS: Record<keyof WatchdogRules, readonly string[]> = {
  liveTasks: ['total', 'perSite', 'severity'],
  growth: ['total', 'perSite', 'samples', 'severity'],
  stuck: ['after', 'count', 'severity'],
  leaked: ['min', 'severity'],
  eventLoopDelay: ['p99', 'resolution', 'severity'],
  eventLoopUtilization: ['max', 'forMs', 'severity'],
  heap: ['samples', 'minGrowth', 'severity'],
  handles: ['max', 'severity'],
  abortListeners: ['max', 'severity'],
  warnings: ['ignore', 'severity'],
};

function checkObject(v: unknown, name: string): asserts v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new TypeError(`${FN}: ${name} must be an object (got ${describe(v)})`);
  }
}

function checkKeys(o: Record<string, unknown>, allowed: ReadonlySet<string> | readonly string[], name: string): void {
  const has = (k: string): boolean => (allowed instanceof Set ? allowed.has(k) : (allowed as readonly string[]).includes(k));
  for (const k of Object.keys(o)) {
    if (!has(k)) throw new TypeError(`${FN}: unknown option ${JSON.stringify(name === '' ? k : `${name}.${k}`)}`);
  }
}

/** A number in [min, max] (integer when asked), or the default when undefined. */
function num(v: unknown, name: string, dflt: number, min: number, max = Infinity, integer = false): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new TypeError(`${FN}: ${name} must be a number (got ${describe(v)})`);
  if (Number.isNaN(v) || v < min || v > max || (integer && !Number.isInteger(v)) || (!Number.isFinite(v) && max !== Infinity)) {
    const kind = integer ? 'an integer' : 'a number';
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`${FN}: ${name} must be ${kind} ${range} (got ${describe(v)})`);
  }
  return v;
}

function severity(v: unknown, name: string, dflt: Severity): Severity {
  if (v === undefined) return dflt;
  if (v !== 'warning' && v !== 'critical') {
    throw new RangeError(`${FN}: ${name} must be 'warning' or 'critical' (got ${describe(v)})`);
  }
  return v;
}

/** The rule's options object, `undefined` when the rule is off. */
function ruleOptions(rules: Record<string, unknown>, key: keyof WatchdogRules): Record<string, unknown> | undefined {
  const v = rules[key];
  if (v === false) return undefined;
  if (v === undefined || v === true) return {};
  checkObject(v, `rules.${key}`);
  checkKeys(v, RULE_KEYS[key], `rules.${key}`);
  return v;
}

function callback(v: unknown, name: string, dflt: (alert: Alert) => void): (alert: Alert) => void {
  if (v === undefined) return dflt;
  if (typeof v !== 'function') throw new TypeError(`${FN}: ${name} must be a function (got ${describe(v)})`);
  return v as (alert: Alert) => void;
}

const MAX_TIMER = 2 ** 31 - 1;

/** Checks a Watchdog's options and applies the defaults. @internal */
export function resolveOptions(options: unknown, defaults: { onAlert: (a: Alert) => void; onClear: (a: Alert) => void }): Resolved {
  checkObject(options, 'options');
  checkKeys(options, OPTIONS, '');
  const o = options as WatchdogOptions & Record<string, unknown>;
  const rules = o.rules ?? {};
  checkObject(rules, 'rules');
  checkKeys(rules, Object.keys(RULE_KEYS), 'rules');

  const r: Partial<Resolved> = {};
  r.interval = num(o.interval, 'interval', 10_000, 10, MAX_TIMER);

  let x = ruleOptions(rules, 'liveTasks');
  r.liveTasks = x && {
    total: num(x.total, 'rules.liveTasks.total', 100_000, 1),
    perSite: num(x.perSite, 'rules.liveTasks.perSite', 25_000, 1),
    severity: severity(x.severity, 'rules.liveTasks.severity', 'critical'),
  };
  x = ruleOptions(rules, 'growth');
  r.growth = x && {
    total: num(x.total, 'rules.growth.total', 50, 0),
    perSite: num(x.perSite, 'rules.growth.perSite', 10, 0),
    samples: num(x.samples, 'rules.growth.samples', 2, 1, 1000, true),
    severity: severity(x.severity, 'rules.growth.severity', 'warning'),
  };
  x = ruleOptions(rules, 'stuck');
  r.stuck = x && {
    after: num(x.after, 'rules.stuck.after', 300_000, 1),
    count: num(x.count, 'rules.stuck.count', 100, 1, Infinity, true),
    severity: severity(x.severity, 'rules.stuck.severity', 'warning'),
  };
  x = ruleOptions(rules, 'leaked');
  r.leaked = x && {
    min: num(x.min, 'rules.leaked.min', 1, 1, Infinity, true),
    severity: severity(x.severity, 'rules.leaked.severity', 'warning'),
  };
  x = ruleOptions(rules, 'eventLoopDelay');
  r.eventLoopDelay = x && {
    p99: num(x.p99, 'rules.eventLoopDelay.p99', 1_000, 1),
    resolution: num(x.resolution, 'rules.eventLoopDelay.resolution', 20, 1, 10_000, true),
    severity: severity(x.severity, 'rules.eventLoopDelay.severity', 'critical'),
  };
  x = ruleOptions(rules, 'eventLoopUtilization');
  r.eventLoopUtilization = x && {
    max: num(x.max, 'rules.eventLoopUtilization.max', 0.95, 0, 1),
    forMs: num(x.forMs, 'rules.eventLoopUtilization.forMs', 60_000, 0),
    severity: severity(x.severity, 'rules.eventLoopUtilization.severity', 'warning'),
  };
  x = ruleOptions(rules, 'heap');
  r.heap = x && {
    samples: num(x.samples, 'rules.heap.samples', 5, 1, 1000, true),
    minGrowth: num(x.minGrowth, 'rules.heap.minGrowth', 32 * 1024 * 1024, 0),
    severity: severity(x.severity, 'rules.heap.severity', 'warning'),
  };
  x = ruleOptions(rules, 'handles');
  r.handles = x && {
    max: num(x.max, 'rules.handles.max', 20_000, 0),
    severity: severity(x.severity, 'rules.handles.severity', 'warning'),
  };
  x = ruleOptions(rules, 'abortListeners');
  r.abortListeners = x && {
    max: num(x.max, 'rules.abortListeners.max', 1_000, 0),
    severity: severity(x.severity, 'rules.abortListeners.severity', 'warning'),
  };
  x = ruleOptions(rules, 'warnings');
  if (x === undefined) r.warnings = undefined;
  else {
    const ignore = x.ignore ?? ['DeprecationWarning', 'ExperimentalWarning'];
    if (!Array.isArray(ignore) || ignore.some((s) => typeof s !== 'string')) {
      throw new TypeError(`${FN}: rules.warnings.ignore must be an array of strings (got ${describe(ignore)})`);
    }
    r.warnings = { ignore: new Set(ignore as string[]), severity: severity(x.severity, 'rules.warnings.severity', 'warning') };
  }

  r.onAlert = callback(o.onAlert, 'onAlert', defaults.onAlert);
  r.onClear = callback(o.onClear, 'onClear', defaults.onClear);

  const app = o.app;
  const health = o.health ?? {};
  checkObject(health, 'health');
  checkKeys(health, ['mark', 'after', 'clearAfter', 'rules'], 'health');
  if (o.health !== undefined && app === undefined) throw new TypeError(`${FN}: health needs app`);
  const mark = health.mark ?? 'readiness';
  if (mark !== 'readiness' && mark !== 'liveness' && mark !== 'both') {
    throw new RangeError(`${FN}: health.mark must be 'readiness', 'liveness' or 'both' (got ${describe(mark)})`);
  }
  const readiness = mark !== 'liveness';
  const liveness = mark !== 'readiness';
  if (app !== undefined) {
    const a = app as Record<string, unknown> | null;
    if (typeof a !== 'object' || a === null) throw new TypeError(`${FN}: app must be an object (got ${describe(app)})`);
    const needs = [...(readiness ? ['markUnready', 'markReady'] : []), ...(liveness ? ['markUnhealthy', 'markHealthy'] : [])];
    const missing = needs.filter((m) => typeof a[m] !== 'function');
    if (missing.length > 0) {
      throw new TypeError(`${FN}: app must have ${needs.join(', ')} methods for health.mark ${describe(mark)} (missing ${missing.join(', ')})`);
    }
  }
  r.app = app;
  let healthRules: WatchdogRule[];
  if (health.rules === undefined) {
    healthRules = RULES.filter((rule) => ruleSeverity(r as Resolved, rule) === 'critical');
  } else {
    if (!Array.isArray(health.rules)) throw new TypeError(`${FN}: health.rules must be an array (got ${describe(health.rules)})`);
    for (const rule of health.rules as unknown[]) {
      if (!RULES.includes(rule as WatchdogRule)) {
        throw new RangeError(`${FN}: health.rules must hold rule names like 'growthPerSite' (got ${describe(rule)})`);
      }
      // A rule that is off never finds anything: the app would silently never be marked.
      if (ruleSeverity(r as Resolved, rule as WatchdogRule) === undefined) {
        throw new RangeError(`${FN}: health.rules names ${describe(rule)}, but that rule is off (rules.${ruleKey(rule as WatchdogRule)} is false)`);
      }
    }
    healthRules = [...health.rules];
  }
  r.health = {
    readiness,
    liveness,
    after: num(health.after, 'health.after', 3, 1, 1000, true),
    clearAfter: num(health.clearAfter, 'health.clearAfter', 3, 1, 1000, true),
    rules: new Set(healthRules),
  };

  const signals = o.signals ?? [];
  if (!Array.isArray(signals)) throw new TypeError(`${FN}: signals must be an array (got ${describe(signals)})`);
  for (const s of signals as unknown[]) {
    if (!(s instanceof AbortSignal)) throw new TypeError(`${FN}: signals must hold AbortSignals (got ${describe(s)})`);
  }
  r.signals = [...signals];
  r.clearAfter = num(o.clearAfter, 'clearAfter', 3, 1, 1000, true);
  r.topSites = num(o.topSites, 'topSites', 5, 1, 1000, true);
  r.history = num(o.history, 'history', 100, 1, 100_000, true);

  if (o.ignore === undefined) r.ignore = undefined;
  else {
    if (!Array.isArray(o.ignore)) throw new TypeError(`${FN}: ignore must be an array (got ${describe(o.ignore)})`);
    const names = new Set<string>();
    const patterns: RegExp[] = [];
    for (const p of o.ignore as unknown[]) {
      if (typeof p === 'string') names.add(p);
      else if (p instanceof RegExp) patterns.push(p);
      else throw new TypeError(`${FN}: ignore must hold task names or RegExps (got ${describe(p)})`);
    }
    r.ignore = (name) => names.has(name) || patterns.some((re) => {
      re.lastIndex = 0;
      return re.test(name);
    });
  }
  return r as Resolved;
}

/** The key under `rules` that configures a rule ('liveTasksPerSite' is set by `rules.liveTasks`). */
function ruleKey(rule: WatchdogRule): keyof WatchdogRules {
  if (rule === 'liveTasksPerSite') return 'liveTasks';
  if (rule === 'growthPerSite') return 'growth';
  return rule;
}

/** The severity a rule's alerts carry, or undefined when the rule is off. @internal */
export function ruleSeverity(o: Resolved, rule: WatchdogRule): Severity | undefined {
  switch (rule) {
    case 'liveTasks':
    case 'liveTasksPerSite':
      return o.liveTasks?.severity;
    case 'growth':
    case 'growthPerSite':
      return o.growth?.severity;
    default:
      return o[rule]?.severity;
  }
}
