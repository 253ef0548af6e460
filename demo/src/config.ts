/**
 * Configuration from flags and environment variables (a flag wins over its variable), with
 * embedded defaults: `npm start` needs neither. Durations take `ms`, `s`, `m` or `h` (bare
 * numbers are milliseconds).
 * @module
 */
import { parseArgs } from 'node:util';
import { DEFAULT_DB_PATH } from './store.js';

/** A bad flag or variable: the message names it and the value received. */
export class ConfigError extends Error {
  readonly code = 'ERR_EPRO_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface Config {
  help: boolean;
  port: number;
  host: string;
  db: string;
  /** The debug endpoint's port on 127.0.0.1; null: off. */
  debugPort: number | null;
  debugToken: string | undefined;
  watchdogIntervalMs: number;
  /** Live tasks above which the watchdog raises its critical alert (the App turns not ready). */
  watchdogMaxTasks: number;
  /** An external terminology service; undefined: start the simulated one. */
  terminologyUrl: string | undefined;
  /** An external HIS; undefined: start the simulated one. */
  hisUrl: string | undefined;
  terminology: { latencyMs: number; errorRate: number; hangRate: number; seed: number };
  hisLatencyMs: number;
  syncIntervalMs: number;
  concurrency: number;
  queueSize: number;
  callTimeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  reportSteps: number;
  reportStepMs: number;
  maxBodyBytes: number;
  shutdownTimeoutMs: number;
  drainTimeoutMs: number;
  preStopDelayMs: number;
  leaky: boolean;
  accessLog: string | undefined;
  quiet: boolean;
}

interface Opt {
  env?: string;
  type: 'string' | 'boolean';
  default?: string;
  help: string;
}

const OPTIONS: Record<string, Opt> = {
  port: { env: 'PORT', type: 'string', default: '3000', help: 'port of the API (0: a free one)' },
  host: { env: 'HOST', type: 'string', default: '127.0.0.1', help: 'address of the API (0.0.0.0: every interface)' },
  db: { env: 'EPRO_DB', type: 'string', default: DEFAULT_DB_PATH, help: 'SQLite database file (created with its directory)' },
  'debug-port': { env: 'EPRO_DEBUG_PORT', type: 'string', default: '0', help: "debug endpoint port, on 127.0.0.1 (0: a free one, printed at startup; 'off')" },
  'debug-token': { env: 'EPRO_DEBUG_TOKEN', type: 'string', help: 'require this bearer token (16+ characters) on the debug endpoint' },
  'watchdog-interval': { env: 'EPRO_WATCHDOG_INTERVAL', type: 'string', default: '10s', help: 'time between watchdog samples' },
  'watchdog-max-tasks': { type: 'string', default: '100000', help: 'live tasks above which the watchdog alerts critical; after 3 samples /readyz is 503' },
  'terminology-url': { env: 'EPRO_TERMINOLOGY_URL', type: 'string', help: 'external terminology service (default: start the simulated one)' },
  'his-url': { env: 'EPRO_HIS_URL', type: 'string', help: 'external HIS (default: start the simulated one)' },
  'terminology-latency': { type: 'string', default: '20ms', help: 'simulated terminology: mean latency' },
  'terminology-error-rate': { type: 'string', default: '0.02', help: 'simulated terminology: share of 503 answers, 0 to 1' },
  'terminology-hang-rate': { type: 'string', default: '0.01', help: 'simulated terminology: share of calls that never answer, 0 to 1' },
  'terminology-seed': { type: 'string', default: '42', help: 'simulated terminology: random seed (runs replay)' },
  'his-latency': { type: 'string', default: '50ms', help: 'simulated HIS: latency of each page' },
  'sync-interval': { env: 'EPRO_SYNC_INTERVAL', type: 'string', default: '1h', help: 'HIS sync period' },
  concurrency: { type: 'string', default: '8', help: 'scorers running at once' },
  'queue-size': { type: 'string', default: '32', help: 'submissions queued in the scoring pool (the rest wait in the database)' },
  'call-timeout': { type: 'string', default: '2s', help: 'time limit of a terminology call' },
  'max-attempts': { type: 'string', default: '5', help: 'terminology attempts before a submission is failed' },
  'retry-base': { type: 'string', default: '1s', help: 'first retry delay (doubles each attempt)' },
  'report-steps': { type: 'string', default: '5', help: 'steps of a report' },
  'report-step': { type: 'string', default: '1s', help: 'duration of each report step' },
  'max-body': { type: 'string', default: '65536', help: 'largest submission body in bytes (larger: 413)' },
  'shutdown-timeout': { env: 'EPRO_SHUTDOWN_TIMEOUT', type: 'string', default: '20s', help: 'the whole shutdown budget' },
  'drain-timeout': { type: 'string', default: '5s', help: 'how long the scoring pool keeps scoring at shutdown (the rest stays pending)' },
  'pre-stop-delay': { type: 'string', default: '0', help: 'keep serving (not ready) this long after SIGTERM, for load balancers' },
  'access-log': { env: 'EPRO_ACCESS_LOG', type: 'string', help: 'append one JSON line per request to this file' },
  leaky: { type: 'boolean', help: "swap in the seeds' naive code (fire-and-forget validation, interval sync)" },
  quiet: { type: 'boolean', help: 'log warnings and errors only' },
  help: { type: 'boolean', help: 'show this help' },
};

/** The --help text. */
export function usage(): string {
  const lines = [
    'ePRO intake: the corral demo service.',
    '',
    'usage: npm start -- [options]    or    node --import tsx demo/src/main.ts [options]',
    '',
  ];
  for (const [name, o] of Object.entries(OPTIONS)) {
    const flag = `--${name}${o.type === 'string' ? ' <value>' : ''}`;
    const extra = [o.default !== undefined ? `default ${o.default}` : '', o.env !== undefined ? `env ${o.env}` : ''].filter(Boolean).join(', ');
    lines.push(`  ${flag.padEnd(34)} ${o.help}${extra === '' ? '' : ` (${extra})`}`);
  }
  lines.push('', 'Durations take ms, s, m or h (a bare number is milliseconds).');
  return lines.join('\n');
}

/** Reads the configuration. @throws ConfigError naming the flag and the value. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(OPTIONS).map(([k, o]) => [k, { type: o.type }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}. Run with --help for the options.`);
  }
  const get = (name: string): string => {
    const o = OPTIONS[name] as Opt;
    const v = values[name] ?? (o.env !== undefined ? env[o.env] : undefined) ?? o.default;
    return typeof v === 'string' ? v : '';
  };
  const has = (name: string): boolean => {
    const o = OPTIONS[name] as Opt;
    return values[name] !== undefined || (o.env !== undefined && env[o.env] !== undefined && env[o.env] !== '');
  };
  const where = (name: string): string => {
    const o = OPTIONS[name] as Opt;
    return values[name] === undefined && o.env !== undefined && env[o.env] !== undefined ? o.env : `--${name}`;
  };
  const int = (name: string, min: number, max: number): number => {
    const s = get(name);
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < min || n > max) throw new ConfigError(`${where(name)} must be an integer from ${min} to ${max} (got ${JSON.stringify(s)})`);
    return n;
  };
  const rate = (name: string): number => {
    const s = get(name);
    const n = Number(s);
    if (s === '' || !(n >= 0 && n <= 1)) throw new ConfigError(`${where(name)} must be a number from 0 to 1 (got ${JSON.stringify(s)})`);
    return n;
  };
  const duration = (name: string, min = 0): number => {
    const s = get(name);
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s);
    const ms = m === null ? NaN : Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
    if (!(ms >= min) || !Number.isFinite(ms)) throw new ConfigError(`${where(name)} must be a duration of at least ${min} ms, like 500ms, 2s, 1h (got ${JSON.stringify(s)})`);
    return Math.round(ms);
  };
  const url = (name: string): string | undefined => {
    if (!has(name)) return undefined;
    const s = get(name);
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new ConfigError(`${where(name)} must be an http:// URL (got ${JSON.stringify(s)})`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${where(name)} must be an http:// URL (got ${JSON.stringify(s)})`);
    return s.replace(/\/+$/, '');
  };

  const debug = get('debug-port');
  const cfg: Config = {
    help: values.help === true,
    port: int('port', 0, 65535),
    host: get('host'),
    db: get('db'),
    debugPort: debug === 'off' ? null : int('debug-port', 0, 65535),
    debugToken: has('debug-token') ? get('debug-token') : undefined,
    watchdogIntervalMs: duration('watchdog-interval', 10),
    watchdogMaxTasks: int('watchdog-max-tasks', 1, 100_000_000),
    terminologyUrl: url('terminology-url'),
    hisUrl: url('his-url'),
    terminology: {
      latencyMs: duration('terminology-latency'),
      errorRate: rate('terminology-error-rate'),
      hangRate: rate('terminology-hang-rate'),
      seed: int('terminology-seed', 0, 2 ** 31),
    },
    hisLatencyMs: duration('his-latency'),
    syncIntervalMs: duration('sync-interval', 1),
    concurrency: int('concurrency', 1, 1_000),
    queueSize: int('queue-size', 0, 100_000),
    callTimeoutMs: duration('call-timeout', 1),
    maxAttempts: int('max-attempts', 1, 100),
    retryBaseMs: duration('retry-base'),
    reportSteps: int('report-steps', 1, 1_000),
    reportStepMs: duration('report-step'),
    maxBodyBytes: int('max-body', 1, 16 * 1024 * 1024),
    shutdownTimeoutMs: duration('shutdown-timeout', 1),
    drainTimeoutMs: duration('drain-timeout'),
    preStopDelayMs: duration('pre-stop-delay'),
    leaky: values.leaky === true,
    accessLog: has('access-log') ? get('access-log') : undefined,
    quiet: values.quiet === true,
  };
  if (cfg.debugToken !== undefined && (cfg.debugToken.length < 16 || /\s/.test(cfg.debugToken))) {
    throw new ConfigError(`${where('debug-token')} must be at least 16 characters without whitespace (got ${cfg.debugToken.length} characters)`);
  }
  if (cfg.host === '') throw new ConfigError(`${where('host')} must not be empty`);
  if (cfg.db === '') throw new ConfigError(`${where('db')} must not be empty`);
  if (cfg.preStopDelayMs >= cfg.shutdownTimeoutMs) {
    throw new ConfigError(`--pre-stop-delay (${cfg.preStopDelayMs} ms) must be shorter than --shutdown-timeout (${cfg.shutdownTimeoutMs} ms)`);
  }
  return cfg;
}
