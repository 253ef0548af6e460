/**
 * Diagnostics, all in one place: the metrics (prom-client's process metrics plus corral's tasks
 * and the scoring pool, plus the service's own), the watchdog (alerts in the log, the App marked
 * not ready while a critical one stands, so /readyz sends patients to another instance), and the debug endpoint serving them on 127.0.0.1 only,
 * behind a bearer token when one is configured: corral's pages under `/debug/corral/` (tasks,
 * health, metrics, watchdog: what `corral dump` and `corral top` read) and the metrics again at
 * `/metrics`, where a Prometheus scraper looks by default.
 *
 * Nothing here shows what a patient sent: corral's dumps and alerts carry task names, states,
 * ages and spawn sites; the service's own gauges are counts.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App, Service } from 'corral/app';
import type { HttpService } from 'corral/http';
import { debugHandler, registerMetrics, Watchdog, type Alert, type MetricsPool } from 'corral/inspect';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Log } from './log.js';
import type { Store } from './store.js';

export interface DiagnosticsOptions {
  /** The debug endpoint's port on 127.0.0.1 (0: a free one); null: no endpoint. */
  port: number | null;
  token: string | undefined;
  /** Time between watchdog samples, ms. */
  watchdogInterval: number;
  /** Live tasks above which the watchdog's critical rule fires (it marks the App not ready). */
  watchdogMaxTasks: number;
  pools: MetricsPool[];
  api: HttpService;
  store: Store;
}

export interface Diagnostics {
  readonly service: Service;
  readonly watchdog: Watchdog;
  /** The debug endpoint's base URL, once started (undefined when off). */
  readonly url: string | undefined;
}

export function createDiagnostics(app: App, o: DiagnosticsOptions, log: Log): Diagnostics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerMetrics(registry, { pools: o.pools, app });
  new Gauge({
    name: 'epro_http_connections',
    help: 'Open connections to the API.',
    registers: [registry],
    collect() {
      this.set(o.api.stats().connections);
    },
  });
  new Gauge({
    name: 'epro_http_requests_in_flight',
    help: 'API requests being handled.',
    registers: [registry],
    collect() {
      this.set(o.api.stats().inFlight);
    },
  });
  new Gauge({
    name: 'epro_submissions',
    help: 'Submissions in the database, by status.',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      for (const [status, n] of Object.entries(o.store.counts())) this.set({ status }, n);
    },
  });

  const watchdog = new Watchdog({
    interval: o.watchdogInterval,
    // Only 'critical' rules take the instance out of rotation (health.mark 'readiness', the
    // default; liveness is never touched: a leak is no reason for a restart loop). Of the default
    // rules, the live-task cap is the one a leak reaches; growth alerts are warnings.
    rules: { liveTasks: { total: o.watchdogMaxTasks } },
    app,
    onAlert: (a: Alert) => {
      const n = watchdog.status().samples;
      log.warn(`watchdog: ${a.severity} ${a.rule} (sample ${n}): ${a.message}${a.dump === '' ? '' : `\n${a.dump}`}`);
    },
    onClear: (a: Alert) => log.info(`watchdog: cleared ${a.rule}`),
  });

  let server: http.Server | undefined;
  let url: string | undefined;
  const metrics = (): Promise<string> => registry.metrics();
  const corralPages = debugHandler({ token: o.token, app, watchdog, metrics });
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      corralPages(req, res); // its own 404 for anything else
      return;
    }
    if (o.token !== undefined && !sameToken(req.headers.authorization, o.token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="epro debug"' }).end('401 unauthorized: send the token as "Authorization: Bearer <token>"\n');
      return;
    }
    const text = await metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(text);
  };

  const service: Service = {
    name: 'diagnostics',
    start: async () => {
      watchdog.start();
      if (o.port === null) return;
      const s = http.createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          log.error(`debug endpoint: ${(err as Error)?.message ?? String(err)}`);
          if (!res.headersSent) res.writeHead(500).end();
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        // Loopback only, whatever the API's host: dumps and metrics are for operators on the box.
        s.listen(o.port as number, '127.0.0.1', () => {
          s.off('error', reject);
          resolve();
        });
      });
      server = s;
      url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    },
    stop: async () => {
      watchdog.stop();
      const s = server;
      if (s === undefined) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
  return {
    service,
    watchdog,
    get url() {
      return url;
    },
  };
}

/** Compares the Authorization header with the token in constant time (hashes of equal length). */
function sameToken(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(header.slice(7)), digest(token));
}
