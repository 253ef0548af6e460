/**
 * The debug endpoint, Go's `net/http/pprof` for corral: live tasks, metrics, health and watchdog
 * alerts over HTTP, as a node:http handler ({@link debugHandler}, which also mounts in express
 * and fastify) or a server of its own ({@link startDebugServer}).
 *
 * Safe by default: nothing listens unless asked; the server binds to loopback, and any other
 * address needs a token; the token is compared in constant time; answers are never cached, are
 * bounded in size, and hold what dumps hold (names, redacted labels, states, ages, spawn sites),
 * never task arguments or results.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - A `?token=` query parameter: URLs end up in access logs, proxies' logs and shell history.
 *   The token travels in the Authorization header only.
 * - Cutting a JSON answer to fit `maxBytes`: a cut document does not parse. JSON that does not
 *   fit is a 413 that says how to ask for less; text is cut at an entry with a marker line.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6, type AddressInfo } from 'node:net';
import { liveCounts } from '../registry.js';
import { describe } from '../validate.js';
import { dump, DumpTooLargeError, isControl, type DumpFormat } from './dump.js';
import { metricsText, METRICS_CONTENT_TYPE } from './metrics.js';
import type { Redactor } from './redact.js';

/** What the endpoint needs of an App: its `health()` (corral/app's `App` fits). */
export interface DebugApp {
  health(): { healthy: boolean; state: string };
}

/** What the endpoint needs of a Watchdog (corral/inspect's `Watchdog` fits). */
export interface DebugWatchdog {
  alerts(): unknown[];
  status?(): unknown;
}

/** Options for {@link debugHandler}. */
export interface DebugHandlerOptions {
  /**
   * When set, every request must carry `Authorization: Bearer <token>` (else 401). At least 16
   * characters, no whitespace: e.g. `randomBytes(24).toString('base64url')`.
   */
  token?: string;
  /** Its `health()` answers `health`. Default: the process, always ready. */
  app?: DebugApp;
  /** Its alerts and status answer `watchdog`. Default: none, and `watchdog` is a 404. */
  watchdog?: DebugWatchdog;
  /**
   * What `metrics` answers (Prometheus text): a function returning it, or false for no `metrics`
   * page (404). Default: corral's `metricsText()`.
   */
  metrics?: false | (() => string | Promise<string>);
  /** Where the endpoint lives: it answers paths under it. Default '/debug/corral/'. */
  prefix?: string;
  /** The most bytes of an answer: text is cut with a marker line, JSON that does not fit is a 413. Default 8 MiB. */
  maxBytes?: number;
  /** Label redaction for the dumps. Default: the process-wide one (setRedaction), else none. */
  redact?: Redactor;
}

/**
 * A node:http request handler; `next` is express's (and connect's): called for paths not under
 * the prefix. Without `next` such paths get a 404.
 */
export type DebugHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

const HANDLER_KEYS = ['token', 'app', 'watchdog', 'metrics', 'prefix', 'maxBytes', 'redact'];
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
const MIN_BYTES = 1024;
const MIN_TOKEN = 16;
const FORMATS: readonly DumpFormat[] = ['grouped', 'full', 'json'];
const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

interface Resolved {
  digest: Buffer | undefined;
  app: DebugApp | undefined;
  watchdog: DebugWatchdog | undefined;
  metrics: (() => string | Promise<string>) | undefined;
  prefix: string;
  maxBytes: number;
  redact: Redactor | undefined;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function checkOptions(options: unknown, keys: readonly string[], fn: string): Resolved {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: options must be an object (got ${describe(options)})`);
  for (const k of Object.keys(options)) if (!keys.includes(k)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(k)}`);
  const o = options as DebugHandlerOptions;
  if (o.token !== undefined) {
    if (typeof o.token !== 'string') throw new TypeError(`${fn}: token must be a string (got ${describe(o.token)})`);
    // The value stays out of the message: it would end up in logs.
    if (o.token.length < MIN_TOKEN) throw new RangeError(`${fn}: token must be at least ${MIN_TOKEN} characters (got ${o.token.length})`);
    if (/\s/.test(o.token) || [...o.token].some((ch) => isControl(ch.charCodeAt(0)))) throw new RangeError(`${fn}: token must not contain whitespace or control characters`);
  }
  if (o.app !== undefined && (typeof o.app !== 'object' || o.app === null || typeof o.app.health !== 'function')) {
    throw new TypeError(`${fn}: app must have a health() method (got ${describe(o.app)})`);
  }
  if (o.watchdog !== undefined && (typeof o.watchdog !== 'object' || o.watchdog === null || typeof o.watchdog.alerts !== 'function')) {
    throw new TypeError(`${fn}: watchdog must have an alerts() method (got ${describe(o.watchdog)})`);
  }
  if (o.metrics !== undefined && o.metrics !== false && typeof o.metrics !== 'function') {
    throw new TypeError(`${fn}: metrics must be a function or false (got ${describe(o.metrics)})`);
  }
  let prefix = o.prefix ?? '/debug/corral/';
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || /[?#\s]/.test(prefix)) {
    throw new TypeError(`${fn}: prefix must be a path starting with "/" (got ${describe(prefix)})`);
  }
  if (!prefix.endsWith('/')) prefix += '/';
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_BYTES) throw new RangeError(`${fn}: maxBytes must be an integer >= ${MIN_BYTES} (got ${describe(maxBytes)})`);
  if (o.redact !== undefined && typeof o.redact !== 'function') throw new TypeError(`${fn}: redact must be a function (got ${describe(o.redact)})`);
  return {
    digest: o.token === undefined ? undefined : sha256(o.token),
    app: o.app,
    watchdog: o.watchdog,
    metrics: o.metrics === false ? undefined : (o.metrics ?? (() => metricsText())),
    prefix,
    maxBytes,
    redact: o.redact,
  };
}

/** Whether the Authorization header carries the token. Constant time in the token's content. */
function authorized(header: string | string[] | undefined, digest: Buffer): boolean {
  if (typeof header !== 'string' || header.length < 7 || header.slice(0, 7).toLowerCase() !== 'bearer ') return false;
  // Both sides are hashed first: equal lengths for timingSafeEqual, and nothing about the
  // token's length leaks through timing.
  return timingSafeEqual(sha256(header.slice(7).trim()), digest);
}

/** An answer; HEAD gets its headers only. */
function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string, headers?: Record<string, string>): void {
  const buf = Buffer.from(body, 'utf8');
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('content-length', buf.length);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  if (headers !== undefined) for (const k of Object.keys(headers)) res.setHeader(k, headers[k] as string);
  if (req.method === 'HEAD') res.end();
  else res.end(buf);
}

/** A JSON answer, or a 413 when it does not fit. */
function sendJson(req: IncomingMessage, res: ServerResponse, o: Resolved, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  if (Buffer.byteLength(body) > o.maxBytes) {
    tooLarge(req, res, o.maxBytes);
    return;
  }
  send(req, res, status, JSON_TYPE, body);
}

function tooLarge(req: IncomingMessage, res: ServerResponse, max: number): void {
  send(req, res, 413, TEXT, `413 the answer exceeds maxBytes (${max}); ask for fewer rows (limit=N) or format=grouped\n`);
}

function badRequest(req: IncomingMessage, res: ServerResponse, reason: string): void {
  send(req, res, 400, TEXT, `400 bad request: ${reason}\n`);
}

/** Prometheus text cut at a line, with a comment (valid exposition syntax) saying so. */
function cutText(text: string, max: number, note: string): string {
  if (Buffer.byteLength(text) <= max) return text;
  const buf = Buffer.from(text, 'utf8');
  const room = max - Buffer.byteLength(note);
  const end = buf.lastIndexOf(10, room - 1);
  return buf.subarray(0, end + 1).toString('utf8') + note;
}

/** The query's parameters, or the reason they are refused. */
function params(query: string, allowed: readonly string[]): Map<string, string> | string {
  const out = new Map<string, string>();
  if (query === '') return out;
  for (const [k, v] of new URLSearchParams(query)) {
    if (k === 'token') return 'the token goes in the Authorization header (Bearer), never in the URL';
    if (!allowed.includes(k)) {
      return `unknown parameter ${JSON.stringify(k)}${allowed.length === 0 ? ' (this page takes none)' : `; this page takes ${allowed.join(', ')}`}`;
    }
    if (out.has(k)) return `parameter ${JSON.stringify(k)} given twice`;
    out.set(k, v);
  }
  return out;
}

function index(o: Resolved): string {
  const p = o.prefix;
  const lines = [
    `corral debug endpoint, pid ${process.pid}`,
    '',
    `GET ${p}tasks                    live tasks grouped by spawn site, state and name (text)`,
    `GET ${p}tasks?format=full        every task with its spawn site and parent chain (text)`,
    `GET ${p}tasks?format=json        the "corral.dump/v1" JSON document`,
    `    &limit=N                     at most N rows (sites, or the oldest tasks)`,
  ];
  if (o.metrics !== undefined) lines.push(`GET ${p}metrics                  Prometheus text`);
  lines.push(`GET ${p}health                   health and live counts (JSON; 503 when unhealthy)`);
  if (o.watchdog !== undefined) lines.push(`GET ${p}watchdog                 the watchdog's alerts and status (JSON)`);
  return `${lines.join('\n')}\n`;
}

function tasks(req: IncomingMessage, res: ServerResponse, o: Resolved, query: string): void {
  const q = params(query, ['format', 'limit']);
  if (typeof q === 'string') return badRequest(req, res, q);
  const format = q.get('format') ?? 'grouped';
  if (!(FORMATS as readonly string[]).includes(format)) {
    return badRequest(req, res, `unknown format ${JSON.stringify(format)}; use grouped, full or json`);
  }
  let limit: number | undefined;
  const l = q.get('limit');
  if (l !== undefined) {
    if (!/^[0-9]{1,9}$/.test(l) || Number(l) < 1) return badRequest(req, res, `limit must be an integer >= 1 (got ${JSON.stringify(l)})`);
    limit = Number(l);
  }
  let body: string;
  try {
    // JSON gets a newline after it: one byte of the budget.
    body = dump({ format: format as DumpFormat, limit, maxBytes: format === 'json' ? o.maxBytes - 1 : o.maxBytes, redact: o.redact });
  } catch (err) {
    if (err instanceof DumpTooLargeError) return tooLarge(req, res, o.maxBytes);
    throw err;
  }
  send(req, res, 200, format === 'json' ? JSON_TYPE : TEXT, format === 'json' ? `${body}\n` : body);
}

function health(req: IncomingMessage, res: ServerResponse, o: Resolved): void {
  const h: Record<string, unknown> = o.app === undefined ? { state: 'ready', healthy: true, ready: true, reasons: [] } : { ...o.app.health() };
  const body = { ...h, pid: process.pid, uptimeMs: Math.round(process.uptime() * 1000), live: liveCounts() };
  sendJson(req, res, o, h.healthy === false ? 503 : 200, body);
}

async function metrics(req: IncomingMessage, res: ServerResponse, o: Resolved, source: () => string | Promise<string>): Promise<void> {
  const text = await source();
  if (typeof text !== 'string') throw new TypeError(`the metrics function returned ${describe(text)}, not a string`);
  send(req, res, 200, METRICS_CONTENT_TYPE, cutText(text, o.maxBytes, `# corral: truncated at ${o.maxBytes} bytes (maxBytes)\n`));
}

function failed(req: IncomingMessage, res: ServerResponse, page: string, err: unknown): void {
  // The error stays out of the answer (it may carry data); the process's warnings get it.
  process.emitWarning(`corral debug endpoint: ${page} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
    code: 'CORRAL_DEBUG_ERROR',
  });
  if (res.headersSent) res.destroy();
  else send(req, res, 500, TEXT, `500 internal error: ${page} failed; see the process's warnings\n`);
}

function route(req: IncomingMessage, res: ServerResponse, o: Resolved, page: string, query: string): void | Promise<void> {
  switch (page) {
    case '': {
      const q = params(query, []);
      if (typeof q === 'string') return badRequest(req, res, q);
      return send(req, res, 200, TEXT, index(o));
    }
    case 'tasks':
      return tasks(req, res, o, query);
    case 'health': {
      const q = params(query, []);
      if (typeof q === 'string') return badRequest(req, res, q);
      return health(req, res, o);
    }
    case 'metrics': {
      if (o.metrics === undefined) break;
      const q = params(query, []);
      if (typeof q === 'string') return badRequest(req, res, q);
      return metrics(req, res, o, o.metrics);
    }
    case 'watchdog': {
      const w = o.watchdog;
      if (w === undefined) break;
      const q = params(query, []);
      if (typeof q === 'string') return badRequest(req, res, q);
      return sendJson(req, res, o, 200, { alerts: w.alerts(), status: w.status === undefined ? null : w.status() });
    }
  }
  send(req, res, 404, TEXT, `404 not found: ${o.prefix} has no page ${JSON.stringify(page)}; GET ${o.prefix} lists them\n`);
}

/**
 * debugHandler returns a request handler serving corral's debug pages under `prefix`
 * (default `/debug/corral/`):
 *
 * | path | answer |
 * | --- | --- |
 * | `/debug/corral/` | the list of pages (text) |
 * | `tasks?format=grouped\|full\|json&limit=N` | a task dump (see {@link dump}); default grouped |
 * | `metrics` | Prometheus text (`metrics` option; default corral's `metricsText()`) |
 * | `health` | JSON: the app's `health()` (or the process's), `pid`, `uptimeMs`, `live` counts; 503 when unhealthy |
 * | `watchdog` | JSON `{ alerts, status }` of the `watchdog` option (404 without one) |
 *
 * GET and HEAD only (405), never cached (`Cache-Control: no-store`); with `token`, 401 unless the
 * request carries `Authorization: Bearer <token>`; unknown parameters, formats or a bad `limit`
 * get a 400 naming the problem; answers over `maxBytes` are cut (text) or refused with a 413
 * (JSON). It mounts in node:http as is, in express with `app.use(handler)` (paths outside the
 * prefix go to `next()`), and in fastify through a hijacked route (see docs/inspect.md).
 *
 * @throws TypeError for an unknown option or a wrong type; RangeError for a short token or a bad `maxBytes`.
 * @example
 * ```ts
 * const debug = debugHandler({ token: process.env.DEBUG_TOKEN, app });
 * http.createServer((req, res) => debug(req, res, () => appHandler(req, res)));
 * ```
 */
export function debugHandler(options?: DebugHandlerOptions): DebugHandler {
  const o = checkOptions(options, HANDLER_KEYS, 'debugHandler');
  const bare = o.prefix.slice(0, -1);
  return function corralDebug(req, res, next) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    let page: string;
    if (path.startsWith(o.prefix)) page = path.slice(o.prefix.length);
    else if (path === bare && bare !== '') page = '';
    else {
      if (next !== undefined) next();
      else send(req, res, 404, TEXT, '404 not found\n');
      return;
    }
    if (o.digest !== undefined && !authorized(req.headers.authorization, o.digest)) {
      send(req, res, 401, TEXT, '401 unauthorized: send the token as "Authorization: Bearer <token>"\n', {
        'www-authenticate': 'Bearer realm="corral debug"',
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 405, TEXT, `405 method not allowed: ${o.prefix} answers GET and HEAD\n`, { allow: 'GET, HEAD' });
      return;
    }
    try {
      const p = route(req, res, o, page, query);
      if (p !== undefined) p.catch((err: unknown) => failed(req, res, page, err));
    } catch (err) {
      failed(req, res, page, err);
    }
  };
}

// --- a server of its own ----------------------------------------------------------------------

/** Options for {@link startDebugServer}: where to listen, plus {@link debugHandler}'s. */
export interface DebugServerOptions extends DebugHandlerOptions {
  /** The port; 0 picks a free one (read it from `port` after). */
  port: number;
  /** The address to bind. Default '127.0.0.1'. Any address that is not loopback needs `token`. */
  host?: string;
  /** Whether the server keeps the process alive. Default false: diagnostics never keep a finished program running. */
  ref?: boolean;
  /** The service name an App knows it by. Default 'corral-debug'. */
  name?: string;
}

/**
 * DebugServer is what {@link startDebugServer} returns: a listening server, and a service with
 * the shape corral/app's App runs (`name`, `start`, `stop`), so the app closes it on shutdown.
 */
export interface DebugServer {
  readonly name: string;
  readonly server: Server;
  /** The port listened on. */
  readonly port: number;
  readonly host: string;
  /** The endpoint's URL, e.g. `http://127.0.0.1:9229/debug/corral/`. */
  readonly url: string;
  /** Already listening: resolves at once (the App's start hook). */
  start(): Promise<void>;
  /**
   * Stops listening, lets answers in flight finish (1 s at most, then their connections are
   * cut) and resolves when the server is closed. Idempotent.
   */
  close(): Promise<void>;
  /** The same as close() (the App's stop hook). */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const SERVER_KEYS = [...HANDLER_KEYS, 'port', 'host', 'ref', 'name'];
/** How long close() lets answers in flight finish. */
const CLOSE_GRACE_MS = 1_000;

/** Whether binding `host` keeps the server reachable from this machine only. @internal */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) {
    const h = host.toLowerCase();
    if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
    const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return m !== null && (m[1] as string).startsWith('127.');
  }
  return false;
}

/**
 * startDebugServer serves {@link debugHandler}'s pages on a server of its own and resolves once
 * it listens. Off unless called. It binds to 127.0.0.1 by default; binding any address that is
 * not loopback requires a `token`. The server does not keep the process alive (`ref: true` to
 * change that). Add it to an App first, so it stops last and can still show a shutdown that hangs.
 *
 * @throws TypeError (as a rejection) for a missing or bad `port`, an unknown option, or a
 *   non-loopback `host` without `token`; RangeError for a short token; the listen error (EADDRINUSE).
 * @example
 * ```ts
 * const debug = await startDebugServer({ port: 9229, app });
 * app.add(debug); // closed on shutdown
 * // curl http://127.0.0.1:9229/debug/corral/tasks?format=full
 * ```
 */
export async function startDebugServer(options: DebugServerOptions): Promise<DebugServer> {
  const fn = 'startDebugServer';
  if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: options must be an object with a port (got ${describe(options)})`);
  const { port, host = '127.0.0.1', ref = false, name = 'corral-debug', ...handlerOptions } = options;
  checkOptions(options, SERVER_KEYS, fn);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`${fn}: port must be an integer from 0 to 65535 (got ${describe(port)})`);
  }
  if (typeof host !== 'string' || host === '') throw new TypeError(`${fn}: host must be a non-empty string (got ${describe(host)})`);
  if (typeof ref !== 'boolean') throw new TypeError(`${fn}: ref must be a boolean (got ${describe(ref)})`);
  if (typeof name !== 'string' || name === '') throw new TypeError(`${fn}: name must be a non-empty string (got ${describe(name)})`);
  if (!isLoopback(host) && handlerOptions.token === undefined) {
    throw new TypeError(`${fn}: host ${JSON.stringify(host)} is not a loopback address, so token is required (the endpoint shows the process's tasks)`);
  }
  const handler = debugHandler(handlerOptions);
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (!ref) server.unref();
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' || isIPv6(host) ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      cut.unref();
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return {
    name,
    server,
    port: addr.port,
    host,
    url: `http://${urlHost}:${addr.port}${(handlerOptions.prefix ?? '/debug/corral/').replace(/\/?$/, '/')}`,
    start: () => Promise.resolve(),
    close,
    stop: close,
    [Symbol.asyncDispose]: close,
  };
}
