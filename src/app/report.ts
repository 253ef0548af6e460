/**
 * The stop report: what each shutdown step took, how each service and resource ended, and what
 * was still running, so a slow or failed shutdown names its culprit.
 * @module
 */
import { snapshot } from '../registry.js';

/** One shutdown step and how long it took. */
export interface StepReport {
  /** `'drain-begin'`, `'pre-stop-delay'`, `'stop-accepting'`, `'cancel-runs'` or `'stop-services'`. */
  name: string;
  ms: number;
}

/** How one service or resource ended. */
export interface ServiceReport {
  name: string;
  kind: 'service' | 'resource';
  /** Its `start` was called (a resource counts as started: it was open when added). */
  started: boolean;
  /** Its `stop` was called and settled in time (true for a started service without `stop`). */
  stopped: boolean;
  /** Nothing about it failed: start, run, shutdown hooks and stop. */
  ok: boolean;
  /** The first failure: the hook's own error, a ServiceTimeoutError, or an AppStopError. */
  error?: unknown;
  /** Its start, run or stop ran out of time. */
  timedOut?: boolean;
  /** What `stop()` resolved to, when it resolved to something (an HTTP server's drain report). */
  result?: unknown;
  /** How long its stop took (including its `run`'s wait). */
  ms: number;
}

/** A task still live when the shutdown ended, as the registry sees it. Never holds task data. */
export interface RunningTask {
  id: number;
  name: string;
  state: string;
  /** Milliseconds since the task started. */
  age: number;
  /** Where it was spawned ("at ..." lines), when spawn sites are captured (`configure({ spawnSites })`). */
  spawnSite: string | undefined;
}

/** What `app.stop()` resolves to. */
export interface StopReport {
  /** Everything started and stopped cleanly, and the stop was not caused by a failure. */
  ok: boolean;
  /** 0 when `ok`, else 1: what `main()` sets as `process.exitCode`. */
  exitCode: 0 | 1;
  /** Why the app stopped: `'stop()'`, `'SIGTERM'`, `'start failed: api'`, `'run ended: worker'`, `'uncaughtException'`… */
  reason: string;
  steps: StepReport[];
  /** In stop order: reverse dependency order. */
  services: ServiceReport[];
  stillRunning: RunningTask[];
  /** The whole shutdown. */
  ms: number;
}

/** Milliseconds since `t0` (a performance.now() reading), to 0.1 ms. @internal */
export function since(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/** The registry's live tasks as report lines. @internal */
export function stillRunning(): RunningTask[] {
  const snap = snapshot();
  return snap.tasks.map((t) => ({
    id: t.id,
    name: t.name,
    state: t.state,
    age: snap.takenAt - t.startedAt,
    spawnSite: t.spawnSite,
  }));
}

/** A one-line, data-free description of an error for logs. @internal */
export function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
