/**
 * The errors `corral/app` throws, rejects with, or records in a stop report. Each has a stable
 * `code`, so callers can test for it without `instanceof`.
 * @module
 */
import type { StopReport } from './report.js';

/**
 * DependencyError is thrown by `app.add()` and `app.resource()` when the services and resources
 * cannot be ordered: a dependency that was not added (dependencies are added first, or in the same
 * `add()` call), a name used twice, or a cycle (`cycle` lists it, first name repeated at the end).
 *
 * @example
 * ```ts
 * try {
 *   app.add({ name: 'api', dependsOn: ['db'], start });
 * } catch (e) {
 *   if (e instanceof DependencyError) console.error(e.message); // add "db" before "api" ...
 * }
 * ```
 */
export class DependencyError extends Error {
  /** Always `'ERR_CORRAL_APP_DEPENDENCY'`. */
  readonly code = 'ERR_CORRAL_APP_DEPENDENCY' as const;
  /** What is wrong: an unknown dependency, a duplicate name, or a cycle. */
  readonly kind: 'unknown' | 'duplicate' | 'cycle';
  /** For a cycle, the names along it, the first repeated at the end (`['a', 'b', 'a']`); else empty. */
  readonly cycle: string[];
  constructor(kind: 'unknown' | 'duplicate' | 'cycle', message: string, cycle: string[] = []) {
    super(message);
    this.name = 'DependencyError';
    this.kind = kind;
    this.cycle = cycle;
  }
}

/**
 * ServiceTimeoutError is what a stop report records for a service's `start`, `run` or `stop` that
 * did not finish within its time limit. The hook is not abandoned silently: its context was
 * cancelled, and a `run` still going shows in the report's `stillRunning`.
 *
 * @example
 * ```ts
 * const report = await app.stop();
 * for (const s of report.services) if (s.error instanceof ServiceTimeoutError) alert(s.error.message);
 * ```
 */
export class ServiceTimeoutError extends Error {
  /** Always `'ERR_CORRAL_APP_TIMEOUT'`. */
  readonly code = 'ERR_CORRAL_APP_TIMEOUT' as const;
  /** Always `true`: this error is a timeout. */
  readonly timeout = true as const;
  /** The service or resource. */
  readonly service: string;
  /** The hook that timed out. */
  readonly phase: 'start' | 'run' | 'stop';
  /** The limit it had, in milliseconds. */
  readonly limitMs: number;
  constructor(service: string, phase: 'start' | 'run' | 'stop', limitMs: number) {
    super(`${phase} of "${service}" did not finish within ${limitMs} ms`);
    this.name = 'ServiceTimeoutError';
    this.service = service;
    this.phase = phase;
    this.limitMs = limitMs;
  }
}

/**
 * What a stop result says it cut, for the message: an HTTP drain report's `forced` requests
 * (method, path without query, age), at most three named. The app knows no service kind; it reads
 * the shape any stop result may share.
 */
function cutText(result: unknown): string {
  const forced = (result as { forced?: unknown } | null)?.forced;
  if (!Array.isArray(forced) || forced.length === 0) return '';
  const named = forced.slice(0, 3).map((f: { method?: unknown; url?: unknown; ms?: unknown } | null) =>
    `${String(f?.method ?? '?')} ${String(f?.url ?? '?')}${typeof f?.ms === 'number' ? ` (${Math.round(f.ms)} ms)` : ''}`,
  );
  const more = forced.length > named.length ? ` and ${forced.length - named.length} more` : '';
  return `: ${forced.length} request${forced.length === 1 ? '' : 's'} cut: ${named.join(', ')}${more}`;
}

/**
 * AppStopError is what a stop report records for a `stop()` that resolved to an object with
 * `graceful: false` (an HTTP server that had to cut requests): the stop ended, but not cleanly,
 * so it counts as failed. `result` is what `stop()` resolved to (it names what was cut).
 *
 * @example
 * ```ts
 * const http = report.services.find((s) => s.name === 'http');
 * if (http?.error instanceof AppStopError) console.error(http.error.result);
 * ```
 */
export class AppStopError extends Error {
  /** Always `'ERR_CORRAL_APP_STOP'`. */
  readonly code = 'ERR_CORRAL_APP_STOP' as const;
  /** The service. */
  readonly service: string;
  /** What its `stop()` resolved to. */
  readonly result: unknown;
  constructor(service: string, result: unknown) {
    super(`stop of "${service}" was not graceful${cutText(result)}`);
    this.name = 'AppStopError';
    this.service = service;
    this.result = result;
  }
}

/**
 * AppStartError rejects `app.start()` when a service's `start` threw or timed out, or the app was
 * stopped before it finished starting. By then the app has already stopped what had started:
 * `report` is that stop's report, and `cause` the start's error.
 *
 * @example
 * ```ts
 * try {
 *   await app.start();
 * } catch (e) {
 *   if (e instanceof AppStartError) console.error(`${e.service} failed to start`, e.cause);
 * }
 * ```
 */
export class AppStartError extends Error {
  /** Always `'ERR_CORRAL_APP_START'`. */
  readonly code = 'ERR_CORRAL_APP_START' as const;
  /** The service whose start failed, or `undefined` when the app was stopped while starting. */
  readonly service: string | undefined;
  /** The report of the stop that followed. */
  readonly report: StopReport;
  constructor(message: string, service: string | undefined, cause: unknown, report: StopReport) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AppStartError';
    this.service = service;
    this.report = report;
  }
}
