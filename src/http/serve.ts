/**
 * serve(): a graceful HTTP server as a service (the shape corral/app's App runs), usable on its own.
 *
 * The shutdown, in three steps an App can time separately (`stop()` runs whichever have not run):
 * 1. `drainBegin()`: readiness turns 503, and from then on every HTTP/1 response carries
 *    `Connection: close` (HTTP/2: each session gets a GOAWAY after its next stream) while the
 *    server still serves, so load balancers and clients move away without an error.
 * 2. `stopAccepting()`: the listening socket closes, so a new connection is refused (ECONNREFUSED)
 *    rather than accepted and reset.
 * 3. `stop()`: idle connections get a FIN after `idleCloseDelay` (10 ms; a request arriving
 *    meanwhile is served with `Connection: close`); each in-flight request finishes, carrying
 *    `Connection: close` if its headers were not sent yet, and its connection is ended right
 *    after; at `shutdownTimeout` the contexts of requests still running are cancelled; `forceGrace`
 *    later their connections are destroyed. The report resolves as soon as the last connection is
 *    gone.
 *
 * Per request the cost is one context object and one 'close' listener (a function made once per
 * server): no AsyncLocalStorage, no AbortController unless the handler reads `ctx.signal`, no timer.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - `server.close()` alone: it waits out keepAliveTimeout (fastify: 72 s), and a client that keeps
 *   sending holds it open forever.
 * - Destroying sockets after their response without `Connection: close` (stoppable, terminus):
 *   the client's next request runs in the handler and the client gets EOF.
 * - Keeping the listener open during the drain and resetting new connections (http-terminator):
 *   a reset after accept looks like a crash to the client; a refused connect is retried elsewhere.
 * @module
 */
import { Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer, Http2Server, Http2ServerRequest, Http2ServerResponse, Http2Session, ServerHttp2Stream } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import { afterFunc, attach, background, detach, type Context } from '../context.js';
import { InvalidStateError, quietDeadline } from '../errors.js';
import { now } from '../registry.js';
import { checkOptionalCtx, describe } from '../validate.js';
import { ClientDisconnectedError, ShutdownDeadlineError } from './errors.js';
import { answerProbe, healthServer, NONE, probeOf } from './health.js';
import { resolveOptions, type ForcedRequest, type Resolved, type ServeOptions, type StopReport } from './options.js';
import { kCtx, RequestCtx, type ServedRequest } from './request-context.js';
import { kConn, Tracker, type Conn } from './tracker.js';

/** A request handler for {@link serve}: node:http's, plus the request's context. */
export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: Context) => unknown;

/** A server {@link serve} can drive. */
export type AnyServer = HttpServer | HttpsServer | Http2Server | Http2SecureServer;

/**
 * HttpService is what {@link serve} returns: a service with the shape corral/app's App runs
 * (`name`, `start`, `stop`, `drainBegin`, `stopAccepting`), usable on its own.
 */
export interface HttpService {
  readonly name: string;
  /** The server: the one passed to serve(), or the one it created. */
  readonly server: AnyServer;
  /** The port listened on, once started. */
  readonly port: number | undefined;
  /** The health port, when `health.port` was given and the service started. */
  readonly healthPort: number | undefined;
  /**
   * True from the end of `start()` until `drainBegin()` or `stop()`, while every check given to
   * `readyWhen` is true: what `/readyz` answers.
   */
  readonly ready: boolean;
  /** Current connections and requests in flight (for tests and dashboards). */
  stats(): { connections: number; inFlight: number };
  /**
   * Listens (unless the server already does) and resolves once listening. `ctx` becomes the
   * parent of request contexts unless `options.ctx` was given.
   * @throws InvalidStateError (as a rejection) when called twice or after stop().
   */
  start(ctx?: Context): Promise<void>;
  /** Turns readiness off; from now on every response carries `Connection: close`. Idempotent. */
  drainBegin(): void;
  /**
   * Makes readiness also need `check()` to be true (checks add up; each is called per probe, so it
   * must be cheap; one that throws or returns anything but `true` means not ready). `app.add(svc)` gives the App's, so `app.markUnready()` turns
   * `/readyz` 503.
   * @throws TypeError when `check` is not a function.
   * @example
   * ```ts
   * svc.readyWhen(() => db.connected);
   * ```
   */
  readyWhen(check: () => boolean): void;
  /** Closes the listening socket: new connections are refused. Idempotent. */
  stopAccepting(): void;
  /**
   * Drains and resolves with the report once the last connection is gone. `ctx`'s deadline, if
   * earlier, shortens `shutdownTimeout` (keeping `forceGrace` inside it); `ctx` ending cancels the
   * requests still running at once. Calling it again returns the same promise.
   */
  stop(ctx?: Context): Promise<StopReport>;
  /** `await using svc = serve(...)` stops it on scope exit. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How long idle connections we sent a FIN may wait for the client's, once no request is in flight. */
const LINGER_MS = 100;

type Listener = (this: unknown, req: any, res: any) => void;
type TrackedSocket = Socket & { [kConn]?: Conn };

class Service implements HttpService {
  readonly name: string;
  readonly server: AnyServer;
  _o: Resolved;
  _handler: Handler | null;
  /** The server's own 'request' listeners, which we call after our bookkeeping (serve(server)). */
  _inner: Listener[] = [];
  _h2: boolean;
  _parent: Context = background();
  _t = new Tracker();
  _health: HttpServer | null = null;
  _started = false;
  /** Given to readyWhen; all must be true for /readyz to answer 200. */
  _checks: (() => boolean)[] = [];
  _startCalled = false;
  _draining = false;
  _listening = false;
  _stopping = false;
  _stopP: Promise<StopReport> | null = null;
  /** During a stop that hit its deadline: the requests it cut. */
  _forced: Map<RequestCtx, ForcedRequest> | null = null;
  /** res 'close' listener; `this` is the response. Made once per server, not per request. */
  _onClose: (this: ServerResponse | Http2ServerResponse) => void;

  constructor(target: Handler | AnyServer, o: Resolved) {
    this.name = o.name;
    this._o = o;
    const finish = this._finish.bind(this);
    this._onClose = function onClose(this: ServerResponse | Http2ServerResponse): void {
      finish(this);
    };
    let server: AnyServer;
    if (typeof target === 'function') {
      this._handler = target;
      server = new HttpServer();
    } else {
      this._handler = null;
      server = target;
      this._inner = server.listeners('request') as Listener[];
      server.removeAllListeners('request');
    }
    this.server = server;
    this._h2 = typeof (server as Http2Server).updateSettings === 'function';
    this._t.watch(server as NetServer, server instanceof TlsServer);
    this._t.onConn = (c) => {
      if (this._stopping) c.end();
    };
    if (this._h2) {
      const h2 = server as Http2Server;
      h2.on('session', (s: Http2Session) => {
        const c = this._t.watchSession(s);
        if (c !== undefined && this._stopping) {
          c.ended = false;
          c.end();
        }
      });
      // The HTTP/2 counterpart of `Connection: close`, for compat and stream handlers alike: the
      // stream that arrived is served, the client opens its next one elsewhere.
      h2.on('stream', (stream: ServerHttp2Stream) => {
        const s = stream.session;
        if (this._draining && s !== undefined && !s.closed) s.close();
      });
    }
    (server as HttpServer).on('request', this._h2 ? this._onRequest2.bind(this) : this._onRequest1.bind(this));
  }

  /** Kept after the listener closes, so a report or a log line can still name it. */
  _port: number | undefined = undefined;
  _healthPort: number | undefined = undefined;

  get port(): number | undefined {
    return this._port;
  }

  get healthPort(): number | undefined {
    return this._healthPort;
  }

  get ready(): boolean {
    if (!this._started || this._draining) return false;
    for (const check of this._checks) {
      try {
        if (check() !== true) return false;
      } catch {
        // Thrown from a probe it would crash the server; a check that cannot answer is not a yes.
        return false;
      }
    }
    return true;
  }

  readyWhen(check: () => boolean): void {
    if (typeof check !== 'function') throw new TypeError(`serve: readyWhen needs a function (got ${describe(check)})`);
    this._checks.push(check);
  }

  stats(): { connections: number; inFlight: number } {
    return { connections: this._t.conns.size, inFlight: this._t.inflight };
  }

  // --- the request path ------------------------------------------------------------------------

  /** HTTP/1 (http and https servers, and HTTP/1 requests on an HTTP/2 server with allowHTTP1). */
  _onRequest1(req: IncomingMessage & ServedRequest, res: ServerResponse): void {
    const sock = req.socket as TrackedSocket;
    const conn = sock[kConn];
    if (conn !== undefined) {
      // The answer could not reach the client: our FIN is out, or a response ahead of it closes
      // the connection. The handler must not run (the client retries what got no answer).
      if (conn.ended) {
        sock.destroy();
        return;
      }
      if (conn.last && conn.inflight > 0) return;
      if (this._draining) {
        res.shouldKeepAlive = false;
        conn.last = true;
      }
    } else if (this._draining) {
      res.shouldKeepAlive = false;
    }
    if (this._probe(req, res)) return;
    this._run(req, res, conn ?? null);
    if (conn !== undefined) {
      conn.inflight++;
      conn.res = res;
    }
  }

  /** HTTP/2 compat requests; the session, not the request, carries the drain (see 'stream'). */
  _onRequest2(req: Http2ServerRequest & ServedRequest, res: Http2ServerResponse): void {
    if (req.httpVersionMajor < 2) {
      this._onRequest1(req as unknown as IncomingMessage & ServedRequest, res as unknown as ServerResponse);
      return;
    }
    if (this._probe(req, res)) return;
    this._run(req, res, null);
  }

  _probe(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): boolean {
    const o = this._o;
    if (o.liveness === null || o.healthPort !== undefined) return false;
    const probe = probeOf(req.url, o.liveness, o.readiness);
    if (probe === NONE) return false;
    answerProbe(res, probe, this.ready);
    return true;
  }

  _run(req: ServedRequest, res: ServerResponse | Http2ServerResponse, conn: Conn | null): void {
    const parent = this._parent;
    const ctx = new RequestCtx(parent, req, conn, now());
    attach(ctx, parent);
    req[kCtx] = ctx;
    this._t.push(ctx);
    res.on('close', this._onClose);
    const h = this._handler;
    if (h === null) {
      const inner = this._inner;
      // Same calling convention as the server's own emit: `this` is the server, two arguments
      // (express's app takes a third, `next`, which must not receive a context).
      for (let i = 0; i < inner.length; i++) (inner[i] as Listener).call(this.server, req, res);
      return;
    }
    try {
      const r = h(req as IncomingMessage, res as ServerResponse, ctx) as PromiseLike<unknown> | undefined;
      if (r !== undefined && r !== null && typeof r.then === 'function') {
        r.then(undefined, (e: unknown) => this._failed(e, req, res));
      }
    } catch (e) {
      this._failed(e, req, res);
    }
  }

  _failed(e: unknown, req: ServedRequest, res: ServerResponse | Http2ServerResponse): void {
    try {
      this._o.onError(e, req);
    } catch (e2) {
      process.emitWarning(`corral/http: onError threw: ${String(e2)}`);
    }
    if (!res.headersSent) {
      res.statusCode = 500;
      (res as ServerResponse).end();
    } else if (!res.writableEnded) {
      // Half a response: cutting the connection is the only way to tell the client it is broken.
      (res as ServerResponse).destroy();
    }
  }

  /** A response closed: finished, or its connection went away. */
  _finish(res: ServerResponse | Http2ServerResponse): void {
    const ctx = (res.req as ServedRequest | undefined)?.[kCtx];
    if (ctx === undefined) return;
    const conn = ctx._conn;
    if (conn !== null) {
      conn.inflight--;
      if (conn.res === res) conn.res = null;
    }
    if (ctx._err === undefined) {
      // A response that closed unfinished lost its client: whatever serves it can stop.
      if (res.writableFinished) detach(ctx);
      else ctx._cancelBy(new ClientDisconnectedError());
    }
    const forced = this._forced;
    if (forced !== null) {
      const f = forced.get(ctx);
      if (f !== undefined) f.answered = res.writableFinished;
    }
    if (this._stopping && conn !== null && conn.inflight === 0) conn.end();
    this._t.remove(ctx);
  }

  // --- the lifecycle ---------------------------------------------------------------------------

  start(ctx?: Context): Promise<void> {
    try {
      checkOptionalCtx(ctx, 'HttpService.start');
      if (this._startCalled) throw new InvalidStateError(`serve: ${this.name} was already started`);
    } catch (e) {
      return Promise.reject(e);
    }
    this._startCalled = true;
    this._parent = this._o.ctx ?? ctx ?? background();
    return this._start();
  }

  async _start(): Promise<void> {
    const o = this._o;
    if (!this.server.listening) await listen(this.server as NetServer, o.port, o.host);
    this._listening = true;
    this._port = portOf(this.server as NetServer);
    if (o.healthPort !== undefined && o.liveness !== null) {
      const hs = healthServer(o.liveness, o.readiness, () => this.ready);
      this._health = hs;
      await listen(hs, o.healthPort, o.host);
      this._healthPort = portOf(hs);
    }
    // stop() may have begun meanwhile: then we never became ready.
    if (!this._stopping) this._started = true;
  }

  drainBegin(): void {
    if (this._draining) return;
    this._draining = true;
    for (const c of this._t.conns) {
      if (c.session !== null) {
        // Sessions without a stream get their GOAWAY now; busy ones after their next stream.
        if (!c.session.closed) c.session.close();
        continue;
      }
      // The latest response (nothing is pipelined behind it), if its headers are not out yet,
      // becomes the connection's last.
      const res = c.res;
      if (res !== null && !res.headersSent) {
        res.shouldKeepAlive = false;
        c.last = true;
      }
    }
  }

  stopAccepting(): void {
    if (!this._listening) return;
    this._listening = false;
    const s = this.server as HttpServer;
    if (!s.listening) return;
    // http and https servers (not HTTP/2 ones) have it.
    if (typeof s.closeIdleConnections === 'function') {
      // http.Server#close() also destroys every idle socket at once (a reset for a request racing
      // in); we close them ourselves with a FIN, so that step is skipped for this one call.
      s.closeIdleConnections = noop;
      try {
        s.close();
      } finally {
        delete (s as Partial<HttpServer>).closeIdleConnections;
      }
    } else {
      s.close();
    }
  }

  stop(ctx?: Context): Promise<StopReport> {
    if (this._stopP !== null) return this._stopP;
    try {
      checkOptionalCtx(ctx, 'HttpService.stop');
    } catch (e) {
      return Promise.reject(e);
    }
    this._stopP = this._stop(ctx);
    return this._stopP;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  _stop(ctx: Context | undefined): Promise<StopReport> {
    const t0 = performance.now();
    this.drainBegin();
    this.stopAccepting();
    this._stopping = true;
    const t = this._t;
    const report: StopReport = { graceful: true, closeMs: 0, inFlightAtStop: t.inflight, forced: [], destroyedConnections: 0 };
    const o = this._o;
    // Idle connections get their FIN a moment later, not at once: a connection is "idle" for the
    // instant between a busy client's response and its next request, and a request already on
    // its way (or sitting unread in the socket's buffer) would cross the FIN and fail. Meanwhile
    // a request that does arrive is served with Connection: close (drainBegin set that).
    let finPending = o.idleCloseDelay > 0;
    const endIdle = (): void => {
      finPending = false;
      for (const c of t.conns) if (c.inflight === 0) c.end();
    };
    if (!finPending) endIdle();

    let soft = o.shutdownTimeout;
    let hard = soft + o.forceGrace;
    const deadline = ctx?.deadline;
    if (deadline !== undefined) {
      hard = Math.max(0, Math.min(hard, deadline - Date.now()));
      soft = Math.max(0, Math.min(soft, hard - o.forceGrace));
    }

    return new Promise<StopReport>((resolve) => {
      let softTimer: ReturnType<typeof setTimeout> | undefined;
      let hardTimer: ReturnType<typeof setTimeout> | undefined;
      let lingerTimer: ReturnType<typeof setTimeout> | undefined;
      let finTimer: ReturnType<typeof setTimeout> | undefined;
      let stopWatch: (() => boolean) | undefined;
      let done = false;

      const finish = (): void => {
        if (done || t.conns.size !== 0) return;
        done = true;
        clearTimeout(softTimer);
        clearTimeout(hardTimer);
        clearTimeout(lingerTimer);
        clearTimeout(finTimer);
        stopWatch?.();
        t.onIdle = t.onQuiet = null;
        const hs = this._health;
        if (hs !== null) {
          hs.close();
          hs.closeAllConnections();
        }
        report.closeMs = Math.round((performance.now() - t0) * 10) / 10;
        report.graceful = report.forced.length === 0;
        this._forced = null;
        resolve(report);
      };

      const destroy = (c: Conn): void => {
        report.destroyedConnections++;
        c.destroy();
      };

      // Nothing in flight: connections still open only wait for the client's FIN (or a TLS
      // handshake nobody will use); a short linger, then they go, so the close never waits out
      // the grace for nothing.
      const quiet = (): void => {
        // Before the idle FINs the connections are not waiting for the client's: no linger yet.
        if (done || finPending || lingerTimer !== undefined || t.conns.size === 0) return;
        lingerTimer = setTimeout(() => {
          for (const c of t.conns) if (c.inflight === 0 && c.session === null) destroy(c);
        }, Math.min(LINGER_MS, hard));
      };

      const hardStop = (): void => {
        clearTimeout(hardTimer);
        finPending = false;
        for (const c of t.conns) destroy(c);
      };

      const softStop = (): void => {
        if (softTimer === undefined) return;
        clearTimeout(softTimer);
        softTimer = undefined;
        const at = now();
        const cut: RequestCtx[] = [];
        const forced = (this._forced = new Map());
        for (let r = t.head; r !== null; r = r._in) {
          cut.push(r);
          const f: ForcedRequest = { method: r._req.method ?? '', url: pathOf(r._req.url), ms: at - r._t0, answered: false };
          forced.set(r, f);
          report.forced.push(f);
        }
        const cause = new ShutdownDeadlineError();
        for (const r of cut) r._cancel(quietDeadline(cause), cause);
        const left = Math.max(0, hard - (performance.now() - t0));
        clearTimeout(hardTimer);
        hardTimer = setTimeout(hardStop, Math.min(left, o.forceGrace));
      };

      t.onIdle = finish;
      t.onQuiet = quiet;
      softTimer = setTimeout(softStop, soft);
      hardTimer = setTimeout(hardStop, hard);
      if (ctx !== undefined) stopWatch = afterFunc(ctx, softStop);
      if (finPending) {
        finTimer = setTimeout(
          () => {
            endIdle();
            if (t.inflight === 0) quiet();
          },
          Math.min(o.idleCloseDelay, hard),
        );
      }
      if (t.conns.size === 0) finish();
      else if (t.inflight === 0) quiet();
    });
  }
}

function noop(): void {}

function portOf(s: NetServer): number | undefined {
  const a = s.address();
  return a !== null && typeof a === 'object' ? a.port : undefined;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function listen(server: NetServer, port: number, host: string | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(host === undefined ? { port } : { port, host });
  });
}

/**
 * serve makes a graceful HTTP service of a handler or of an existing server (http, https, or an
 * HTTP/2 server; express, koa and fastify through their `http.Server`). `start()` listens;
 * `stop()` drains without dropping an accepted request and resolves with a report whose
 * `graceful` is false when requests had to be cut. `/healthz` and `/readyz` are answered unless
 * `health: false`.
 *
 * A handler gets the request's context as its third argument; with `serve(server)` the server's
 * own handler gets it from {@link requestContext}. The context is cancelled when the client
 * disconnects before the response finished, when the shutdown deadline passes, or when its parent
 * (`options.ctx`, else the ctx given to `start`) ends; never for a request that completed.
 *
 * The server's 'request' listeners at the time of the call run after corral's bookkeeping, in
 * order; listeners added later bypass it. Pass a server that is not listening yet: connections
 * made before serve() are not tracked.
 *
 * @throws TypeError for a target that is neither a function nor a server, and for bad or unknown
 *   options; RangeError for out-of-range ports and durations.
 * @example
 * ```ts
 * const svc = serve(async (req, res, ctx) => {
 *   res.end(await buildReport(ctx)); // stops when the client leaves
 * }, { port: 8080, shutdownTimeout: 20_000 });
 * await svc.start();
 * process.once('SIGTERM', async () => {
 *   const report = await svc.stop();
 *   process.exitCode = report.graceful ? 0 : 1;
 * });
 * ```
 */
export function serve(handler: Handler, options?: ServeOptions): HttpService;
export function serve(server: AnyServer, options?: ServeOptions): HttpService;
export function serve(target: Handler | AnyServer, options?: ServeOptions): HttpService {
  const isServer =
    typeof target === 'object' &&
    target !== null &&
    typeof (target as NetServer).listen === 'function' &&
    typeof (target as NetServer).on === 'function';
  if (typeof target !== 'function' && !isServer) {
    throw new TypeError(`serve: expected a handler function or an http/https/http2 server (got ${describe(target)})`);
  }
  return new Service(target, resolveOptions(options));
}
