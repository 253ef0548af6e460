/**
 * The Service shape: what `app.add()` accepts. It is structural, so `corral/http`'s `serve()` and
 * any user object with these members are services without importing this module.
 * @module
 */
import type { Context } from '../context.js';
import { checkDuration } from '../context.js';
import { describe } from '../validate.js';

/**
 * Service is something the App starts, runs and stops. Every member but `name` is optional.
 *
 * - `start(ctx)` brings it up; `ctx` ends when the start times out (`startTimeout`) or the app
 *   stops. The app waits for it before starting what depends on it.
 * - `run(ctx)` is long-running work (a consumer loop, an `every` schedule), started as a corral
 *   task after `start`; `ctx` derives from the app's root context and is cancelled when the app
 *   stops. A run that ends by itself before that stops the app (exit code 1 if it threw).
 * - `stop(ctx)` shuts it down; `ctx` carries the stop's deadline (`stopTimeout`, within the app's
 *   `shutdownTimeout`). A stop that resolves to `{ graceful: false }` counts as failed. `stop` is
 *   also called for a service whose `start` threw or timed out, so it must tolerate a half start.
 * - `drainBegin()` and `stopAccepting()` are the first shutdown steps (see the App's docs).
 *
 * @example
 * ```ts
 * const consumer: Service = {
 *   name: 'hl7-consumer',
 *   dependsOn: ['db'],
 *   stopTimeout: 5_000,
 *   start: (ctx) => queue.connect(ctx),
 *   run: async (ctx) => { for await (const msg of queue.messages(ctx)) await store(ctx, msg); },
 *   stop: () => queue.close(),
 * };
 * app.add(consumer);
 * ```
 */
export interface Service {
  /** Unique within the app; what `dependsOn` and the report name it by. */
  name: string;
  /**
   * Starts the service. `ctx` is the service's lifetime: it ends once the service's `stop()` is
   * over (or when its start times out or the app stops while it starts), not when the app's root
   * context is cancelled, so the service may keep it for work that must outlive that step (an HTTP
   * server's in-flight requests, which drain in its stop).
   */
  start?(ctx: Context): unknown;
  run?(ctx: Context): unknown;
  stop?(ctx: Context): unknown;
  /** Names of services or resources that must start before this one and stop after it. */
  dependsOn?: readonly string[];
  /** This service's stop (and the wait for its `run`) limit, in ms; always capped by what is left of the app's budget. */
  stopTimeout?: number;
  /** This service's start limit in ms, instead of the app's `startTimeout`. */
  startTimeout?: number;
  /** From now on: not ready, and every response carries `Connection: close`. */
  drainBegin?(): void;
  /** Listeners stop accepting new connections. */
  stopAccepting?(): void;
  /**
   * Called once by `app.add()` for a service that answers readiness itself (`serve()`'s `/readyz`):
   * from then on it is ready only while `check()` is true too, so `app.markUnready()` (a watchdog
   * alert, a backlog) takes it out of rotation.
   */
  readyWhen?(check: () => boolean): void;
}

/** Options for `app.resource(name, close, options)`. */
export interface ResourceOptions {
  /** The close's limit in ms, capped by what is left of the app's budget. Default: the rest of the budget. */
  timeout?: number;
  /** Names of services or resources that must stop before this resource closes. */
  dependsOn?: readonly string[];
}

const RESOURCE_OPTIONS = new Set(['timeout', 'dependsOn']);

/**
 * A service or resource as the app tracks it. Its hooks were read once at `add` time, so a
 * service object changing its members later changes nothing.
 * @internal
 */
export interface Unit {
  readonly name: string;
  readonly kind: 'service' | 'resource';
  readonly service: Service;
  readonly dependsOn: readonly string[];
  readonly stopTimeout: number | undefined;
  readonly startTimeout: number | undefined;
}

function checkDependsOn(deps: unknown, where: string): readonly string[] {
  if (deps === undefined) return [];
  if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string')) {
    throw new TypeError(`${where}: dependsOn must be an array of names (got ${describe(deps)})`);
  }
  return [...(deps as string[])];
}

function checkName(name: unknown, where: string): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(`${where}: name must be a non-empty string (got ${describe(name)})`);
  }
}

/** Checks a service's members and takes a copy of what the app needs. @internal */
export function toServiceUnit(svc: unknown): Unit {
  if (typeof svc !== 'object' || svc === null) {
    throw new TypeError(`App.add: a service must be an object (got ${describe(svc)})`);
  }
  const s = svc as Service;
  checkName(s.name, 'App.add');
  const where = `App.add("${s.name}")`;
  for (const hook of ['start', 'run', 'stop', 'drainBegin', 'stopAccepting', 'readyWhen'] as const) {
    if (s[hook] !== undefined && typeof s[hook] !== 'function') {
      throw new TypeError(`${where}: ${hook} must be a function (got ${describe(s[hook])})`);
    }
  }
  if (s.stopTimeout !== undefined) checkDuration(s.stopTimeout, 'stopTimeout', where);
  if (s.startTimeout !== undefined) checkDuration(s.startTimeout, 'startTimeout', where);
  return {
    name: s.name,
    kind: 'service',
    service: s,
    dependsOn: checkDependsOn(s.dependsOn, where),
    stopTimeout: s.stopTimeout,
    startTimeout: s.startTimeout,
  };
}

/** Checks `app.resource()`'s arguments and builds its unit: a service with a stop only. @internal */
export function toResourceUnit(name: unknown, close: unknown, options: unknown): Unit {
  checkName(name, 'App.resource');
  const where = `App.resource("${name}")`;
  if (typeof close !== 'function') throw new TypeError(`${where}: close must be a function (got ${describe(close)})`);
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${where}: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (!RESOURCE_OPTIONS.has(k)) throw new TypeError(`${where}: unknown option ${JSON.stringify(k)}`);
  }
  const o = options as ResourceOptions;
  if (o.timeout !== undefined) checkDuration(o.timeout, 'timeout', where);
  const fn = close as (ctx: Context) => unknown;
  return {
    name,
    kind: 'resource',
    service: { name, stop: (ctx) => fn(ctx) },
    dependsOn: checkDependsOn(o.dependsOn, where),
    stopTimeout: o.timeout,
    startTimeout: undefined,
  };
}
