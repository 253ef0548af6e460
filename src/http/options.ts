/**
 * serve()'s options, its stop report, and the checks that turn bad input into a TypeError or
 * RangeError naming the option.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Context } from '../context.js';
import { describe, isContextLike } from '../validate.js';

/** Where the health endpoints are served. */
export interface HealthOptions {
  /** Liveness path: 200 while the process is alive. Default `'/healthz'`. */
  liveness?: string;
  /** Readiness path: 200 once started, 503 from the first instant of `drainBegin()`/`stop()`. Default `'/readyz'`. */
  readiness?: string;
  /**
   * Serve the health endpoints on their own port (0 picks a free one; `svc.healthPort` after
   * start) instead of on the main server. Default: on the main server.
   */
  port?: number;
}

/** Options for {@link serve}. Every duration is in milliseconds. */
export interface ServeOptions {
  /** The service's name, as an App shows it. Default `'http'`. */
  name?: string;
  /** The port `start()` listens on; 0 picks a free port. Default 0. Ignored for a server already listening. */
  port?: number;
  /** The address `start()` listens on. Default: Node's (every interface). */
  host?: string;
  /** How long `stop()` lets in-flight requests run before cancelling their contexts. Default 10,000. */
  shutdownTimeout?: number;
  /** How long after that cancellation `stop()` waits before destroying their connections. Default 1,000. */
  forceGrace?: number;
  /**
   * How long after `stop()` begins the idle keep-alive connections get their FIN. A request that
   * arrives on one meanwhile (a busy client between two requests, a request that raced the stop)
   * is served with `Connection: close` instead of crossing our FIN. Default 10; 0 sends the FINs
   * at once. At most 1,000.
   */
  idleCloseDelay?: number;
  /** Health endpoints: `true` (default) for `/healthz` and `/readyz`, `false` for none, or their paths and port. */
  health?: boolean | HealthOptions;
  /**
   * The parent of every request context: when it ends, every in-flight request's context ends.
   * Default: the ctx given to `start(ctx)`, else `background()`.
   */
  ctx?: Context;
  /**
   * Called when a handler throws or rejects (after a 500 was sent, or the response destroyed if
   * it had started). Default: a one-line `console.error` with the method and the error, never the URL.
   */
  onError?: (err: unknown, req: IncomingMessage | Http2ServerRequest) => void;
}

/** A request that was still running when the shutdown deadline passed. */
export interface ForcedRequest {
  method: string;
  /** The request's path, without its query string (which may carry data). */
  url: string;
  /** Its age, in milliseconds, when its context was cancelled. */
  ms: number;
  /** Whether it was answered within `forceGrace` after the cancellation (else its connection was destroyed). */
  answered: boolean;
}

/** What `stop()` resolves with. */
export interface StopReport {
  /** False when requests had to be cut: `forced` is not empty. An App counts that as a failed stop. */
  graceful: boolean;
  /** From `stop()` to the last connection closed. */
  closeMs: number;
  /** Requests in flight when `stop()` began. */
  inFlightAtStop: number;
  /** Requests still running at `shutdownTimeout`. */
  forced: ForcedRequest[];
  /** Connections destroyed rather than closed: those of forced requests, and idle ones whose client ignored our FIN. */
  destroyedConnections: number;
}

/** The checked options, defaults applied. @internal */
export interface Resolved {
  name: string;
  port: number;
  host: string | undefined;
  shutdownTimeout: number;
  forceGrace: number;
  idleCloseDelay: number;
  liveness: string | null;
  readiness: string | null;
  healthPort: number | undefined;
  ctx: Context | undefined;
  onError: (err: unknown, req: IncomingMessage | Http2ServerRequest) => void;
}

const KNOWN = new Set(['name', 'port', 'host', 'shutdownTimeout', 'forceGrace', 'idleCloseDelay', 'health', 'ctx', 'onError']);
const HEALTH_KNOWN = new Set(['liveness', 'readiness', 'port']);

function defaultOnError(err: unknown, req: IncomingMessage | Http2ServerRequest): void {
  console.error(`corral/http: a ${req.method ?? ''} handler failed:`, err);
}

function checkPort(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw new RangeError(`serve: ${name} must be an integer from 0 to 65535 (got ${describe(v)})`);
  }
  return v;
}

function checkMs(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`serve: ${name} must be a finite number of milliseconds >= 0 (got ${describe(v)})`);
  }
  return v;
}

function checkPath(v: unknown, name: string): string {
  if (typeof v !== 'string' || !v.startsWith('/') || /[?#\s]/.test(v)) {
    throw new TypeError(`serve: ${name} must be a path starting with "/", without query or spaces (got ${describe(v)})`);
  }
  return v;
}

/** Checks serve()'s options and applies the defaults. @internal */
export function resolveOptions(options: unknown): Resolved {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`serve: options must be an object (got ${describe(options)})`);
  }
  for (const k of Object.keys(options)) {
    if (!KNOWN.has(k)) throw new TypeError(`serve: unknown option ${JSON.stringify(k)}`);
  }
  const o = options as ServeOptions;
  const name = o.name ?? 'http';
  if (typeof name !== 'string' || name === '') throw new TypeError(`serve: name must be a non-empty string (got ${describe(name)})`);
  const port = checkPort(o.port ?? 0, 'port');
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '')) {
    throw new TypeError(`serve: host must be a non-empty string (got ${describe(o.host)})`);
  }
  const shutdownTimeout = checkMs(o.shutdownTimeout ?? 10_000, 'shutdownTimeout');
  const forceGrace = checkMs(o.forceGrace ?? 1_000, 'forceGrace');
  const idleCloseDelay = checkMs(o.idleCloseDelay ?? 10, 'idleCloseDelay');
  // A longer wait would no longer be "idle connections close promptly": that is the drain's job.
  if (idleCloseDelay > 1_000) throw new RangeError(`serve: idleCloseDelay must be at most 1000 ms (got ${idleCloseDelay})`);
  let liveness: string | null = '/healthz';
  let readiness: string | null = '/readyz';
  let healthPort: number | undefined;
  const h = o.health ?? true;
  if (h === false) {
    liveness = readiness = null;
  } else if (h !== true) {
    if (typeof h !== 'object' || h === null) {
      throw new TypeError(`serve: health must be a boolean or { liveness, readiness, port } (got ${describe(h)})`);
    }
    for (const k of Object.keys(h)) {
      if (!HEALTH_KNOWN.has(k)) throw new TypeError(`serve: unknown option health.${k}`);
    }
    liveness = checkPath(h.liveness ?? liveness, 'health.liveness');
    readiness = checkPath(h.readiness ?? readiness, 'health.readiness');
    if (liveness === readiness) throw new TypeError(`serve: health.liveness and health.readiness are both ${JSON.stringify(liveness)}`);
    if (h.port !== undefined) healthPort = checkPort(h.port, 'health.port');
  }
  if (o.ctx !== undefined && !isContextLike(o.ctx)) {
    throw new TypeError(`serve: ctx must be a Context (got ${describe(o.ctx)})`);
  }
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw new TypeError(`serve: onError must be a function (got ${describe(o.onError)})`);
  }
  return {
    name,
    port,
    host: o.host,
    shutdownTimeout,
    forceGrace,
    idleCloseDelay,
    liveness,
    readiness,
    healthPort,
    ctx: o.ctx,
    onError: o.onError ?? defaultOnError,
  };
}
