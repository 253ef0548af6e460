/**
 * The App's options, its logger, and the checks that turn bad input into a TypeError or
 * RangeError naming the option.
 * @module
 */
import { constants } from 'node:os';
import { checkDuration } from '../context.js';
import { describe } from '../validate.js';

/**
 * Where the app writes what it does: start and stop of each service, signals, the stop report.
 * `console` fits, and so does any logger whose methods take a message first.
 */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Options for {@link App}. Every duration is in milliseconds. */
export interface AppOptions {
  /** Shown in logs. Default `'app'`. */
  name?: string;
  /** The whole shutdown's budget, from the first step to the last stop. Default 30,000. */
  shutdownTimeout?: number;
  /** Each service's start limit, unless the service sets `startTimeout`. Default 60,000. */
  startTimeout?: number;
  /** The signals `main()` handles; `[]` for none. SIGKILL and SIGSTOP cannot be. Default `['SIGINT', 'SIGTERM']`. */
  signals?: readonly NodeJS.Signals[];
  /** How long, after readiness turns off, services keep serving so load balancers notice; inside the budget. Default 0. */
  preStopDelay?: number;
  /** Where to log; `false` for nothing. Default: one line per message on stderr. */
  logger?: Logger | false;
  /** With `main()`: an uncaughtException or unhandledRejection stops the app gracefully, exit code 1. Default false. */
  handleUncaught?: boolean;
  /**
   * After `main()` stopped the app, how long the event loop may take to drain before the process
   * prints what keeps it alive and exits 1. `Infinity`: never check. Default 2,000.
   */
  exitGrace?: number;
}

/** The options with their defaults applied. @internal */
export interface ResolvedOptions {
  name: string;
  shutdownTimeout: number;
  startTimeout: number;
  signals: NodeJS.Signals[];
  preStopDelay: number;
  logger: Logger | undefined;
  handleUncaught: boolean;
  exitGrace: number;
}

const APP_OPTIONS = new Set([
  'name',
  'shutdownTimeout',
  'startTimeout',
  'signals',
  'preStopDelay',
  'logger',
  'handleUncaught',
  'exitGrace',
]);

/** A logger that writes `[name] message {fields}` lines to stderr. @internal */
export function stderrLogger(name: string): Logger {
  const line = (level: string, msg: string, fields?: Record<string, unknown>): void => {
    const extra = fields === undefined ? '' : ` ${JSON.stringify(fields)}`;
    process.stderr.write(`[${name}] ${level}${msg}${extra}\n`);
  };
  return {
    info: (msg, fields) => line('', msg, fields),
    warn: (msg, fields) => line('warning: ', msg, fields),
    error: (msg, fields) => line('error: ', msg, fields),
  };
}

/** Checks the App's options and applies the defaults. @internal */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`App: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (!APP_OPTIONS.has(k)) throw new TypeError(`App: unknown option ${JSON.stringify(k)}`);
  }
  const o = options as AppOptions;
  const name = o.name ?? 'app';
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(`App: name must be a non-empty string (got ${describe(name)})`);
  }
  const shutdownTimeout = o.shutdownTimeout ?? 30_000;
  checkDuration(shutdownTimeout, 'shutdownTimeout', 'App');
  const startTimeout = o.startTimeout ?? 60_000;
  checkDuration(startTimeout, 'startTimeout', 'App');
  const preStopDelay = o.preStopDelay ?? 0;
  checkDuration(preStopDelay, 'preStopDelay', 'App');
  if (preStopDelay > 0 && preStopDelay >= shutdownTimeout) {
    // The delay is spent inside the budget: one that fills it leaves no time to stop anything.
    throw new RangeError(
      `App: preStopDelay must be less than shutdownTimeout (got ${preStopDelay} >= ${shutdownTimeout})`,
    );
  }
  const exitGrace = o.exitGrace ?? 2_000;
  if (exitGrace !== Infinity) checkDuration(exitGrace, 'exitGrace', 'App');
  const signals = o.signals ?? ['SIGINT', 'SIGTERM'];
  if (!Array.isArray(signals)) throw new TypeError(`App: signals must be an array (got ${describe(signals)})`);
  for (const s of signals as unknown[]) {
    if (typeof s !== 'string' || !(s in constants.signals) || s === 'SIGKILL' || s === 'SIGSTOP') {
      throw new RangeError(`App: signals must hold catchable signal names like 'SIGTERM' (got ${describe(s)})`);
    }
  }
  let logger: Logger | undefined;
  if (o.logger === false) logger = undefined;
  else if (o.logger === undefined) logger = stderrLogger(name);
  else {
    const l = o.logger as Partial<Logger> | null;
    if (typeof l !== 'object' || l === null || ['info', 'warn', 'error'].some((m) => typeof l[m as keyof Logger] !== 'function')) {
      throw new TypeError(`App: logger must be false or an object with info, warn and error methods (got ${describe(l)})`);
    }
    logger = o.logger;
  }
  const handleUncaught = o.handleUncaught ?? false;
  if (typeof handleUncaught !== 'boolean') {
    throw new TypeError(`App: handleUncaught must be a boolean (got ${describe(handleUncaught)})`);
  }
  return { name, shutdownTimeout, startTimeout, signals: [...new Set(signals)], preStopDelay, logger, handleUncaught, exitGrace };
}
