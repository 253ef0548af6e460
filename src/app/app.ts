/**
 * App: the seeds' "signal + context + WaitGroup" service shutdown, written once. Services start
 * in dependency order and stop in reverse, each stop with its own deadline inside one overall
 * budget; `main()` turns SIGTERM into that shutdown and the outcome into an exit code.
 *
 * Invariants:
 * - `_units` is always a valid start order (graph.ts): every unit comes after its dependencies.
 *   Stopping walks it backwards, so a service stops before what it depends on closes.
 * - At most one shutdown runs: `_stopping` is set once, and every trigger (stop(), a signal, a
 *   failed start, a run that ended, an uncaught error) returns that same promise.
 * - The shutdown never starts stopping while a start is in flight: it cancels that start's
 *   context and waits for the start loop to leave first, so no hook of a service runs
 *   concurrently with another hook of the same service.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - Stopping services in parallel by dependency level: faster when many stops are slow, but the
 *   order in the logs stops being the order in the code, and two stops would share one budget
 *   slice. Sequential stops with a deadline each keep a hang bounded and easy to attribute.
 * - `process.exit()` after the stop: it cuts off stdout writes and `finally` blocks still
 *   pending. `main()` sets `process.exitCode` and lets the loop drain; only a second signal or
 *   a loop that will not drain (linger.ts) exits by force.
 * @module
 */
import { background, withCancel, withTimeout, type CancelFunc, type Context } from '../context.js';
import { InvalidStateError, isCancellation } from '../errors.js';
import { Group } from '../group.js';
import { describe } from '../validate.js';
import { AppStartError, AppStopError, ServiceTimeoutError } from './errors.js';
import { orderBatch } from './graph.js';
import { watchExit } from './linger.js';
import { resolveOptions, type AppOptions, type ResolvedOptions } from './options.js';
import { errorText, since, stillRunning, type ServiceReport, type StepReport, type StopReport } from './report.js';
import { toResourceUnit, toServiceUnit, type ResourceOptions, type Service, type Unit } from './service.js';
import { installProcessListeners, signalExitCode } from './signals.js';

/** What {@link App.health} returns. */
export interface Health {
  /** 'starting' until every service started, 'ready', then 'stopping' from the first shutdown step, then 'stopped'. */
  state: 'starting' | 'ready' | 'stopping' | 'stopped';
  /** Liveness: false while some reason given to `markUnhealthy` stands. */
  healthy: boolean;
  /**
   * Readiness: true in state 'ready' while no reason given to `markUnready` stands (it turns false
   * at the first instant of shutdown).
   */
  ready: boolean;
  /** The reasons given to `markUnhealthy`, oldest first. */
  reasons: string[];
  /** The reasons given to `markUnready`, oldest first. */
  notReady: string[];
}

/** A unit and what happened to it. */
interface Runtime {
  readonly unit: Unit;
  started: boolean;
  stopped: boolean;
  /** The first failure of any of its hooks. */
  error: unknown;
  timedOut: boolean;
  result: unknown;
  /** Settles (never rejects) when its run task ended. */
  run: Promise<void> | undefined;
  runDone: boolean;
  ms: number;
  /** Ends the context given to `start()`: the service's lifetime (see _startAll). */
  endLife: CancelFunc | undefined;
}

type Outcome = { kind: 'ok'; value: unknown } | { kind: 'error'; err: unknown } | { kind: 'done' };

/**
 * Calls a hook and waits for it until `ctx` is done. A hook that throws synchronously or returns
 * a plain value settles at once, even with a `ctx` already done, so a synchronous close still
 * counts when the budget is spent. A hook still pending when `ctx` ends is left behind with its
 * rejection handled: it cannot become an unhandled rejection later.
 */
function settle(fn: () => unknown, ctx: Context): Promise<Outcome> {
  let p: unknown;
  try {
    p = fn();
  } catch (err) {
    return Promise.resolve({ kind: 'error', err });
  }
  if (typeof (p as PromiseLike<unknown> | null)?.then !== 'function') return Promise.resolve({ kind: 'ok', value: p });
  const hook = Promise.resolve(p).then(
    (value): Outcome => ({ kind: 'ok', value }),
    (err): Outcome =>
      // A hook that rejects because its own ctx ended is the timeout, not a failure of its own.
      ctx.err !== undefined && isCancellation(err) ? { kind: 'done' } : { kind: 'error', err },
  );
  // The hook first: when both are already settled, the hook's outcome wins.
  return Promise.race([hook, ctx.done.then((): Outcome => ({ kind: 'done' }))]);
}

/** Resolves after `ms`, or at once when `ms` is 0; the timer keeps the process alive meanwhile. */
function delay(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}

/** The period of an interval whose only job is to keep the process alive: it never fires in practice. */
const HOLD_MS = 2 ** 31 - 1;

/**
 * Keeps the process alive until `p` settles. A start hook waiting on a context's deadline (whose
 * timer is unref'd, by design) and nothing else must still time out rather than let Node exit.
 */
async function hold<T>(p: Promise<T>): Promise<T> {
  const held = setInterval(() => {}, HOLD_MS);
  try {
    return await p;
  } finally {
    clearInterval(held);
  }
}

/** Whether `p` settles within `ms`; the timer is cleared either way. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(r, ms, false)));
  return Promise.race([p.then(() => true), late]).finally(() => clearTimeout(timer));
}

/**
 * App owns a process's services and resources: it starts them in dependency order, runs their
 * long-running work under one root context, and stops them in reverse order with a deadline
 * each, inside one overall budget, following this sequence (each step timed in the report):
 *
 * 1. `drain-begin`: state 'stopping', readiness off, `drainBegin()` on every started service;
 * 2. `pre-stop-delay`: `preStopDelay` ms, still serving, so load balancers notice;
 * 3. `stop-accepting`: `stopAccepting()` on every started service;
 * 4. `cancel-runs`: the root context `app.ctx` is cancelled; the `run` tasks are awaited;
 * 5. `stop-services`: `stop(ctx)` on each started service and resource, in reverse order.
 *
 * A hook that throws or times out is recorded and the others still run. The report also lists
 * the tasks still live in the registry, with their spawn sites.
 *
 * @throws TypeError from the constructor for an unknown option or a wrongly typed one; RangeError
 *   naming the option for a bad duration or signal name.
 * @example
 * ```ts
 * const app = new App({ name: 'epro', shutdownTimeout: 25_000, preStopDelay: 5_000 });
 * app.resource('db', () => pool.end(), { timeout: 5_000 });
 * app.add({ name: 'his-sync', dependsOn: ['db'], run: (ctx) => every(ctx, 60_000, syncFromHis) });
 * await app.main(); // until SIGTERM; then process.exitCode is 0, or 1 if anything failed
 * ```
 */
export class App {
  /** The name given at construction, shown in logs. */
  readonly name: string;
  private readonly _o: ResolvedOptions;
  private readonly _root: Context;
  private readonly _cancelRoot: CancelFunc;
  /** In start order. */
  private readonly _units: Runtime[] = [];
  private readonly _byName = new Map<string, Unit>();
  private _state: Health['state'] = 'starting';
  private readonly _unhealthy: string[] = [];
  private readonly _notReady: string[] = [];
  /** Handed to services' `readyWhen`: readiness they answer also needs no `markUnready` reason to stand. */
  private readonly _readyCheck = (): boolean => this._notReady.length === 0;
  private _starting: Promise<void> | undefined;
  /** The start loop alone (it never stops anything); the shutdown waits for it. */
  private _startLoop: Promise<{ name: string; err: unknown } | undefined> | undefined;
  /** Cancels the context of the start in flight. */
  private _abortStart: CancelFunc | undefined;
  private _group: Group | undefined;
  private _stopping: Promise<StopReport> | undefined;
  private _lastReport: StopReport | undefined;
  /** The first failure that caused or happened during the stop (exit code 1), else undefined. */
  private _failure: string | undefined;
  /** What the shutdown is doing now, for the message of a forced exit. */
  private _doing = '';
  private _onStopRequested: (() => void) | undefined;
  private readonly _stopRequested: Promise<void>;
  private _mainCalled = false;

  constructor(options: AppOptions = {}) {
    this._o = resolveOptions(options);
    this.name = this._o.name;
    const { ctx, cancel } = withCancel(background());
    this._root = ctx;
    this._cancelRoot = cancel;
    this._stopRequested = new Promise((r) => (this._onStopRequested = r));
  }

  /**
   * The app's root context: cancelled at the shutdown's `cancel-runs` step. Work started under it
   * (`go`, `every`, a Group) is told to stop then, before services stop and resources close.
   */
  get ctx(): Context {
    return this._root;
  }

  /**
   * add registers services. Their dependencies must already be in the app or be in the same
   * call (which may list them in any order). Returns the app, for chaining.
   *
   * @throws DependencyError for a duplicate name, a dependency not added, or a cycle (named);
   *   TypeError for a malformed service; InvalidStateError once the app started or stopped.
   * @example
   * ```ts
   * app.add(
   *   { name: 'api', dependsOn: ['cache'], start: listen, stop: close },
   *   { name: 'cache', start: warm },
   * );
   * ```
   */
  add(...services: Service[]): this {
    this._checkOpen('add');
    const units = services.map(toServiceUnit);
    this._append(units);
    for (const u of units) u.service.readyWhen?.(this._readyCheck);
    return this;
  }

  /**
   * resource registers something that only needs closing (a database pool, a cache, a client):
   * `close(ctx)` runs at the shutdown's last step, in reverse order with the services, within
   * `timeout` (and what is left of the budget). It counts as open from now: it is closed even if
   * the app never started. Returns the app, for chaining.
   *
   * @throws DependencyError for a duplicate name or a dependency not added yet; TypeError for a bad
   *   argument or an unknown option; RangeError for a bad timeout; InvalidStateError once started.
   * @example
   * ```ts
   * app.resource('db', (ctx) => pool.end(), { timeout: 5_000 });
   * app.resource('redis', () => redis.quit(), { timeout: 2_000, dependsOn: ['db'] });
   * ```
   */
  resource(name: string, close: (ctx: Context) => unknown, options: ResourceOptions = {}): this {
    this._checkOpen('resource');
    this._append([toResourceUnit(name, close, options)]);
    return this;
  }

  /**
   * health reports the app's state for liveness and readiness endpoints.
   *
   * @example
   * ```ts
   * const h = app.health();
   * res.writeHead(h.ready ? 200 : 503).end(h.state);
   * ```
   */
  health(): Health {
    return {
      state: this._state,
      healthy: this._unhealthy.length === 0,
      ready: this._state === 'ready' && this._notReady.length === 0,
      reasons: [...this._unhealthy],
      notReady: [...this._notReady],
    };
  }

  /**
   * markUnhealthy makes `health().healthy` false, with `reason` among its reasons, until
   * `markHealthy(reason)`: for a dependency gone for good or a loop blocked past saving, where an
   * orchestrator should restart the process. Repeating a reason adds it once.
   *
   * @throws TypeError when `reason` is not a non-empty string.
   * @example
   * ```ts
   * if (loopDelayMs > 5_000) app.markUnhealthy(`event loop blocked ${loopDelayMs} ms`);
   * ```
   */
  markUnhealthy(reason: string): void {
    addReason(this._unhealthy, reason, 'App.markUnhealthy');
  }

  /**
   * markHealthy withdraws `reason` given to {@link App.markUnhealthy}; without `reason` it clears
   * them all. A reason that does not stand is ignored.
   *
   * @throws TypeError when `reason` is given and is not a non-empty string.
   */
  markHealthy(reason?: string): void {
    dropReason(this._unhealthy, reason, 'App.markHealthy');
  }

  /**
   * markUnready makes `health().ready` false, with `reason` in `health().notReady`, until
   * `markReady(reason)`: for a cause that should take the instance out of rotation without
   * restarting it (a backlog, a slow dependency, a watchdog alert). Services that answer readiness
   * (corral/http's `serve()` `/readyz`) follow it. Repeating a reason adds it once.
   *
   * @throws TypeError when `reason` is not a non-empty string.
   * @example
   * ```ts
   * if (queue.depth > 10_000) app.markUnready('scoring backlog');
   * else app.markReady('scoring backlog');
   * ```
   */
  markUnready(reason: string): void {
    addReason(this._notReady, reason, 'App.markUnready');
  }

  /**
   * markReady withdraws `reason` given to {@link App.markUnready}; without `reason` it clears them
   * all. A reason that does not stand is ignored. It cannot make a stopping app ready.
   *
   * @throws TypeError when `reason` is given and is not a non-empty string.
   */
  markReady(reason?: string): void {
    dropReason(this._notReady, reason, 'App.markReady');
  }

  /**
   * start starts the services in dependency order (each `start` awaited within its limit, then
   * its `run` spawned as a task) and resolves when all are up. Calling it again returns the same
   * promise. When a start throws or times out, or the app is stopped meanwhile, the app stops
   * what had started and start rejects with AppStartError, which carries that stop's report.
   *
   * @throws InvalidStateError (rejects) when the app was stopped before start.
   * @example
   * ```ts
   * await app.start();
   * // ... later, from your own shutdown code:
   * const report = await app.stop();
   * ```
   */
  start(): Promise<void> {
    if (this._starting !== undefined) return this._starting;
    if (this._stopping !== undefined) {
      return Promise.reject(new InvalidStateError(`App "${this.name}": start() after stop()`));
    }
    this._starting = this._start();
    return this._starting;
  }

  /** The report of the last shutdown, once it has ended (undefined before that): for metrics and logs. */
  get lastStopReport(): StopReport | undefined {
    return this._lastReport;
  }

  /**
   * stop runs the shutdown sequence (see {@link App}) and resolves with its report; it never
   * rejects. Idempotent: every call, and every other trigger (a signal, a failure), returns the
   * same promise.
   *
   * @example
   * ```ts
   * const report = await app.stop();
   * if (!report.ok) console.error(report.services.filter((s) => !s.ok));
   * ```
   */
  stop(): Promise<StopReport> {
    return this._stop('stop()', undefined);
  }

  /**
   * main is the whole life of a service process: it installs the signal listeners (and, with
   * `handleUncaught`, the uncaughtException/unhandledRejection ones), starts the app, keeps the
   * process alive until a signal, a fatal error or `stop()`, stops the app, sets
   * `process.exitCode` (0 clean, 1 if anything failed or timed out), removes its listeners, and
   * resolves with the report. A second signal during the shutdown exits at once with 128 + the
   * signal's number. If the process has not exited `exitGrace` ms after that, it prints what keeps
   * it alive and exits 1.
   *
   * @throws InvalidStateError (rejects) when called twice.
   * @example
   * ```ts
   * const app = new App({ name: 'epro' });
   * app.add(await serveHttp(), scoringWorker);
   * await app.main();
   * ```
   */
  async main(): Promise<StopReport> {
    if (this._mainCalled) throw new InvalidStateError(`App "${this.name}": main() called twice`);
    this._mainCalled = true;
    const removeListeners = installProcessListeners(this._o.signals, this._o.handleUncaught, {
      signal: (sig) => {
        if (this._stopping === undefined) {
          this._o.logger?.info(`received ${sig}: stopping`);
          void this._stop(sig, undefined);
          return;
        }
        const code = signalExitCode(sig);
        this._say(`received ${sig} again during the shutdown (${this._doing}): exiting now with code ${code}`);
        process.exit(code);
      },
      fatal: (kind, err) => {
        this._o.logger?.error(`${kind}: ${err instanceof Error ? (err.stack ?? errorText(err)) : errorText(err)}`);
        void this._stop(kind, kind);
      },
    });
    // A pending promise does not keep Node alive; this interval does, until a stop is requested,
    // so an app whose services hold no handle of their own still waits for its signal.
    const keepAlive = setInterval(() => {}, HOLD_MS);
    try {
      await this.start().catch((err: unknown) => {
        if (!(err instanceof AppStartError)) throw err;
      });
      await this._stopRequested;
      clearInterval(keepAlive);
      const report = await (this._stopping as Promise<StopReport>);
      process.exitCode = report.exitCode;
      return report;
    } finally {
      clearInterval(keepAlive);
      removeListeners();
      watchExit(this._o.exitGrace, (msg) => this._say(msg));
    }
  }

  // --- internals --------------------------------------------------------------------------------

  private _checkOpen(fn: string): void {
    if (this._starting !== undefined || this._stopping !== undefined) {
      throw new InvalidStateError(`App "${this.name}": ${fn}() after start() or stop()`);
    }
  }

  private _append(batch: Unit[]): void {
    for (const unit of orderBatch(this._byName, batch)) {
      this._byName.set(unit.name, unit);
      this._units.push({
        unit,
        // A resource was opened by its owner before it was handed to the app.
        started: unit.kind === 'resource',
        stopped: false,
        error: undefined,
        timedOut: false,
        result: undefined,
        run: undefined,
        runDone: false,
        ms: 0,
        endLife: undefined,
      });
    }
  }

  /** Writes a message that precedes a forced exit: to the logger, or stderr when logging is off. */
  private _say(msg: string): void {
    if (this._o.logger !== undefined) this._o.logger.error(msg);
    else process.stderr.write(`[${this.name}] ${msg}\n`);
  }

  private async _start(): Promise<void> {
    this._startLoop = this._startAll();
    const failed = await hold(this._startLoop);
    if (failed === undefined && this._stopping === undefined) {
      this._state = 'ready';
      this._o.logger?.info('ready');
      return;
    }
    const report = await this._stop(failed === undefined ? 'stop()' : `start failed: ${failed.name}`, failed && `start failed: ${failed.name}`);
    if (failed === undefined) {
      throw new AppStartError(`App "${this.name}" was stopped while starting`, undefined, undefined, report);
    }
    throw new AppStartError(`App "${this.name}": start of "${failed.name}" failed: ${errorText(failed.err)}`, failed.name, failed.err, report);
  }

  /** Starts each service in order; returns the one that failed, if any. Never throws. */
  private async _startAll(): Promise<{ name: string; err: unknown } | undefined> {
    const log = this._o.logger;
    for (const r of this._units) {
      if (this._stopping !== undefined) return undefined;
      if (r.unit.kind === 'resource') continue;
      const svc = r.unit.service;
      // Counted as started from the call: a start that fails half-way gets its stop too.
      r.started = true;
      if (svc.start !== undefined) {
        const limit = r.unit.startTimeout ?? this._o.startTimeout;
        // start() gets the service's lifetime context, not the root: the root is cancelled in
        // the middle of the shutdown (cancel-root), before services stop, and a service may keep
        // this context for work that must outlive that step (an HTTP server's in-flight requests
        // drain in stop-services). It ends when the service's stop is over, or when its start
        // times out or is abandoned; the start's own limit is enforced by the race below.
        const life = withCancel(background());
        r.endLife = life.cancel;
        const { ctx: limitCtx, cancel } = withTimeout(this._root, limit);
        this._abortStart = cancel;
        const t0 = performance.now();
        const out = await settle(() => svc.start!(life.ctx), limitCtx);
        this._abortStart = undefined;
        cancel();
        if (out.kind === 'done') life.cancel();
        if (out.kind === 'done' && this._stopping !== undefined) {
          // Told to stop: not the service's failure.
          log?.info(`start of "${r.unit.name}" abandoned: the app is stopping`);
          return undefined;
        }
        if (out.kind !== 'ok') {
          const err = out.kind === 'error' ? out.err : new ServiceTimeoutError(r.unit.name, 'start', limit);
          r.error = err;
          r.timedOut = out.kind === 'done';
          log?.error(`start of "${r.unit.name}" failed: ${errorText(err)}`);
          return { name: r.unit.name, err };
        }
        log?.info(`started "${r.unit.name}" (${since(t0)} ms)`);
      }
      if (svc.run !== undefined) this._spawnRun(r, svc);
    }
    return undefined;
  }

  private _spawnRun(r: Runtime, svc: Service): void {
    this._group ??= new Group(this._root, { name: this.name, failFast: false });
    const task = this._group.go((ctx) => svc.run!(ctx), { name: `${r.unit.name} run` });
    r.run = new Promise<void>((resolve) => {
      task.then(
        () => resolve(this._runEnded(r, false, undefined)),
        (err: unknown) => resolve(this._runEnded(r, true, err)),
      );
    });
  }

  private _runEnded(r: Runtime, threw: boolean, err: unknown): void {
    r.runDone = true;
    const name = r.unit.name;
    if (this._root.err === undefined) {
      // Ended before the app told it to: like an oklog/run actor returning, that ends the app.
      if (threw) {
        r.error ??= err;
        this._o.logger?.error(`run of "${name}" failed: ${errorText(err)}; stopping`);
        void this._stop(`run failed: ${name}`, `run failed: ${name}`);
      } else {
        this._o.logger?.warn(`run of "${name}" returned; stopping`);
        void this._stop(`run ended: ${name}`, undefined);
      }
    } else if (threw && !isCancellation(err)) {
      r.error ??= err;
      this._o.logger?.error(`run of "${name}" failed while stopping: ${errorText(err)}`);
    }
  }

  /** Every trigger of the shutdown goes through here; `failure` makes the exit code 1. */
  private _stop(reason: string, failure: string | undefined): Promise<StopReport> {
    if (failure !== undefined) this._failure ??= failure;
    if (this._stopping !== undefined) return this._stopping;
    this._state = 'stopping';
    this._stopping = this._shutdown(reason);
    this._onStopRequested?.();
    return this._stopping;
  }

  private async _shutdown(reason: string): Promise<StopReport> {
    const t0 = performance.now();
    // Contexts' deadline timers are unref'd, so a hook that hangs on nothing else would let the
    // process exit mid-shutdown (code 13, "unsettled top-level await"). Hold it until the report.
    const held = setInterval(() => {}, HOLD_MS);
    try {
      return await this._sequence(reason, t0);
    } finally {
      clearInterval(held);
    }
  }

  private async _sequence(reason: string, t0: number): Promise<StopReport> {
    const log = this._o.logger;
    const deadline = t0 + this._o.shutdownTimeout;
    const left = (): number => Math.max(0, Math.floor(deadline - performance.now()));
    log?.info(`stopping (${reason})`);
    // One turn first: a stop() called from inside a start hook runs before _startLoop is set.
    await undefined;
    this._abortStart?.(new Error(`app "${this.name}" is stopping`));
    if (this._startLoop !== undefined) await this._startLoop;

    const started = this._units.filter((r) => r.started);
    const steps: StepReport[] = [];
    const step = async (name: string, fn: () => unknown): Promise<void> => {
      this._doing = name;
      const s = performance.now();
      await fn();
      steps.push({ name, ms: since(s) });
    };
    await step('drain-begin', () => {
      for (const r of started) this._hook(r, 'drainBegin');
    });
    await step('pre-stop-delay', () => delay(Math.min(this._o.preStopDelay, left())));
    await step('stop-accepting', () => {
      for (const r of started) this._hook(r, 'stopAccepting');
    });
    await step('cancel-runs', async () => {
      this._cancelRoot(new Error(`app "${this.name}" is stopping (${reason})`));
      await Promise.all(started.map((r) => this._waitRun(r, left)));
    });
    await step('stop-services', async () => {
      for (let i = started.length - 1; i >= 0; i--) await this._stopUnit(started[i]!, left);
    });

    const services: ServiceReport[] = [];
    for (let i = this._units.length - 1; i >= 0; i--) {
      const r = this._units[i]!;
      const s: ServiceReport = { name: r.unit.name, kind: r.unit.kind, started: r.started, stopped: r.stopped, ok: r.error === undefined, ms: r.ms };
      if (r.error !== undefined) s.error = r.error;
      if (r.timedOut) s.timedOut = true;
      if (r.result !== undefined) s.result = r.result;
      services.push(s);
    }
    const ok = this._failure === undefined && services.every((s) => s.ok);
    const report: StopReport = {
      ok,
      exitCode: ok ? 0 : 1,
      reason,
      steps,
      services,
      stillRunning: stillRunning(),
      ms: since(t0),
    };
    this._state = 'stopped';
    this._doing = 'stopped';
    this._lastReport = report;
    this._log(report);
    return report;
  }

  /** Calls a synchronous shutdown hook (drainBegin, stopAccepting); a throw is recorded. */
  private _hook(r: Runtime, hook: 'drainBegin' | 'stopAccepting'): void {
    const fn = r.unit.service[hook];
    if (fn === undefined) return;
    try {
      fn.call(r.unit.service);
    } catch (err) {
      r.error ??= err;
      this._o.logger?.error(`${hook} of "${r.unit.name}" failed: ${errorText(err)}`);
    }
  }

  private async _waitRun(r: Runtime, left: () => number): Promise<void> {
    if (r.run === undefined || r.runDone) return;
    const s = performance.now();
    const limit = Math.min(r.unit.stopTimeout ?? Infinity, left());
    this._doing = `cancel-runs: waiting for the run of "${r.unit.name}"`;
    if (!(await within(r.run, limit))) {
      r.timedOut = true;
      r.error ??= new ServiceTimeoutError(r.unit.name, 'run', limit);
      this._o.logger?.error(`run of "${r.unit.name}" ignored the cancellation for ${limit} ms`);
    }
    r.ms = addMs(r.ms, since(s));
  }

  private async _stopUnit(r: Runtime, left: () => number): Promise<void> {
    try {
      await this._stopHook(r, left);
    } finally {
      r.endLife?.();
    }
  }

  private async _stopHook(r: Runtime, left: () => number): Promise<void> {
    const svc = r.unit.service;
    if (svc.stop === undefined) {
      r.stopped = true;
      return;
    }
    const s = performance.now();
    // Past the budget the stop is still called (a synchronous close still happens), not awaited.
    const limit = Math.min(r.unit.stopTimeout ?? Infinity, left());
    const { ctx, cancel } = withTimeout(background(), limit);
    this._doing = `stop-services: waiting for "${r.unit.name}"`;
    const out = await settle(() => svc.stop!.call(svc, ctx), ctx);
    cancel();
    r.ms = addMs(r.ms, since(s));
    const what = r.unit.kind === 'resource' ? 'close' : 'stop';
    if (out.kind === 'error') {
      r.error ??= out.err;
      this._o.logger?.error(`${what} of "${r.unit.name}" failed: ${errorText(out.err)}`);
    } else if (out.kind === 'done') {
      r.timedOut = true;
      r.error ??= new ServiceTimeoutError(r.unit.name, 'stop', limit);
      this._o.logger?.error(`${what} of "${r.unit.name}" did not finish within ${limit} ms`);
    } else {
      r.stopped = true;
      r.result = out.value;
      if ((out.value as { graceful?: unknown } | null)?.graceful === false) r.error ??= new AppStopError(r.unit.name, out.value);
      else this._o.logger?.info(`${what === 'stop' ? 'stopped' : 'closed'} "${r.unit.name}" (${r.ms} ms)`);
    }
  }

  private _log(report: StopReport): void {
    const log = this._o.logger;
    if (log === undefined) return;
    const steps = report.steps.map((s) => `${s.name} ${s.ms} ms`).join(', ');
    const msg = `stopped in ${report.ms} ms (${report.reason}): ${steps}`;
    if (report.ok) log.info(msg);
    else {
      const failed = report.services.filter((s) => !s.ok).map((s) => `"${s.name}": ${errorText(s.error)}`);
      log.error(`${msg}; failed: ${failed.length > 0 ? failed.join('; ') : (this._failure ?? '')}`);
    }
    for (const t of report.stillRunning) {
      log.warn(`still running: task "${t.name}" [${t.state}, ${t.age} ms]${t.spawnSite === undefined ? '' : `\n    ${t.spawnSite.split('\n').join('\n    ')}`}`);
    }
  }
}

function addReason(list: string[], reason: unknown, fn: string): void {
  if (typeof reason !== 'string' || reason.length === 0) {
    throw new TypeError(`${fn}: reason must be a non-empty string (got ${describe(reason)})`);
  }
  if (!list.includes(reason)) list.push(reason);
}

function dropReason(list: string[], reason: unknown, fn: string): void {
  if (reason === undefined) {
    list.length = 0;
    return;
  }
  if (typeof reason !== 'string' || reason.length === 0) {
    throw new TypeError(`${fn}: reason must be a non-empty string when given (got ${describe(reason)})`);
  }
  const i = list.indexOf(reason);
  if (i !== -1) list.splice(i, 1);
}

/** Adds two times of 0.1 ms resolution without a float artefact (1.2 + 0.1 is 1.2999999999999998). */
function addMs(a: number, b: number): number {
  return Math.round((a + b) * 10) / 10;
}
