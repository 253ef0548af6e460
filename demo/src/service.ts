/**
 * The service assembled: the database, the simulated external systems (unless external ones are
 * configured), the scoring pool and its dispatcher, the HIS sync, the diagnostics and the API,
 * under one App. The App starts them in that order and stops them in reverse: the API drains
 * first (every request it accepted is answered), then the sync and the pool (the pool drains
 * within what is left of the budget; what it hands back is still pending in the database), then
 * the simulators, and the database closes last.
 * @module
 */
import { App, type Service } from 'corral/app';
import { serve, type HttpService } from 'corral/http';
import { AccessLog } from './access-log.js';
import { createApi } from './api.js';
import type { Config } from './config.js';
import { createDiagnostics, type Diagnostics } from './diagnostics.js';
import { startHisSim, type HisSim } from './his-sim.js';
import { hisSyncService } from './his-sync.js';
import { startIntervalSync, validateInBackground } from './leaky.js';
import type { Log } from './log.js';
import { createProcessing, type Processing } from './processing.js';
import { Store } from './store.js';
import { startTerminologySim, type TerminologySim } from './terminology-sim.js';

export interface Epro {
  readonly app: App;
  readonly api: HttpService;
  readonly store: Store;
  readonly terminologyUrl: string;
  readonly hisUrl: string;
  /** The embedded simulators, when no external system was configured. */
  readonly terminologySim: TerminologySim | undefined;
  readonly hisSim: HisSim | undefined;
  /** The managed processing; undefined with `--leaky`. */
  readonly processing: Processing | undefined;
  readonly diagnostics: Diagnostics;
}

/**
 * createEpro opens the database and starts the embedded simulators (so their addresses are known),
 * then wires everything into an App that is not started yet.
 * @throws StoreError when the database cannot be opened or written.
 */
export async function createEpro(cfg: Config, log: Log): Promise<Epro> {
  const store = Store.open(cfg.db);
  const app = new App({
    name: 'epro',
    shutdownTimeout: cfg.shutdownTimeoutMs,
    preStopDelay: cfg.preStopDelayMs,
    handleUncaught: true,
    logger: log,
  });
  app.resource('database', () => {
    const c = store.counts();
    log.info(`database closed: ${c.pending} pending, ${c.processed} processed, ${c.failed} failed`);
    store.close();
  });

  const accessLog = cfg.accessLog === undefined ? undefined : new AccessLog(cfg.accessLog);
  if (accessLog !== undefined) app.resource('access-log', () => accessLog.close());

  const sims: string[] = [];
  let terminologySim: TerminologySim | undefined;
  let hisSim: HisSim | undefined;
  try {
    if (cfg.terminologyUrl === undefined) {
      terminologySim = await startTerminologySim({ ...cfg.terminology });
      app.resource('terminology-sim', () => terminologySim?.close());
      sims.push('terminology-sim');
    }
    if (cfg.hisUrl === undefined) {
      hisSim = await startHisSim({ latencyMs: cfg.hisLatencyMs });
      app.resource('his-sim', () => hisSim?.close());
      sims.push('his-sim');
    }
  } catch (e) {
    await terminologySim?.close();
    store.close();
    throw e;
  }
  const terminologyUrl = cfg.terminologyUrl ?? (terminologySim as TerminologySim).url;
  const hisUrl = cfg.hisUrl ?? (hisSim as HisSim).url;

  const processing = cfg.leaky
    ? undefined
    : createProcessing(
        store,
        {
          terminologyUrl,
          concurrency: cfg.concurrency,
          queueSize: cfg.queueSize,
          callTimeoutMs: cfg.callTimeoutMs,
          maxAttempts: cfg.maxAttempts,
          retryBaseMs: cfg.retryBaseMs,
          drainTimeoutMs: cfg.drainTimeoutMs,
          dependsOn: sims,
        },
        log,
      );
  let onSubmitted: (id: number) => void;
  const apiDeps: string[] = [];
  const late: Service[] = [];
  if (processing === undefined) {
    late.push({
      name: 'his-sync (interval)',
      dependsOn: sims,
      start: () => startIntervalSync(store, hisUrl, cfg.syncIntervalMs, log),
    });
    onSubmitted = (id) => validateInBackground(store, terminologyUrl, id, log);
  } else {
    late.push(processing.service);
    late.push(hisSyncService(store, { hisUrl, intervalMs: cfg.syncIntervalMs, pageTimeoutMs: cfg.callTimeoutMs, dependsOn: sims }, log));
    apiDeps.push('scoring');
    const p = processing;
    onSubmitted = () => p.notify();
  }

  const api = serve(
    createApi({
      store,
      maxBodyBytes: cfg.maxBodyBytes,
      report: { steps: cfg.reportSteps, stepMs: cfg.reportStepMs },
      onSubmitted,
      health: () => app.health(),
      log,
      accessLog,
    }),
    {
      name: 'api',
      host: cfg.host,
      port: cfg.port,
      shutdownTimeout: cfg.shutdownTimeoutMs,
      // /healthz and /readyz are the API's own, from the App's health (a watchdog can mark it not ready).
      health: false,
      onError: (err, req) => log.error(`${req.method ?? '?'} request failed: ${(err as Error)?.stack ?? String(err)}`),
    },
  );
  // Started before the work it watches and stopped after it: the endpoint still answers (and the
  // watchdog still samples) while the API and the pool drain.
  const diagnostics = createDiagnostics(
    app,
    {
      port: cfg.debugPort,
      token: cfg.debugToken,
      watchdogInterval: cfg.watchdogIntervalMs,
      watchdogMaxTasks: cfg.watchdogMaxTasks,
      pools: processing === undefined ? [] : [processing.pool],
      api,
      store,
    },
    log,
  );
  app.add(diagnostics.service);
  app.add(...late);
  app.add({
    name: api.name,
    dependsOn: apiDeps,
    start: (ctx) => api.start(ctx),
    stop: (ctx) => api.stop(ctx),
    drainBegin: () => api.drainBegin(),
    stopAccepting: () => api.stopAccepting(),
  });
  return { app, api, store, terminologyUrl, hisUrl, terminologySim, hisSim, processing, diagnostics };
}
