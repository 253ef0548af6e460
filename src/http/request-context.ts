/**
 * The request context: one per request, the handler's third argument (or `requestContext(req)`).
 *
 * It is a corral cancellable context with four extra fields, so a request costs one object: it is
 * linked into its parent (only when the parent can be cancelled) and into the server's in-flight
 * list, and unlinked from both when the response closes. Like every corral context it makes its
 * `AbortController` only when a handler reads `ctx.signal`; corral/http itself never reads it.
 *
 * Rejected designs, kept here so nobody re-adds them:
 * - AsyncLocalStorage around the handler: measured at a third of raw node:http's requests/s on
 *   Node 20 (with an AbortController per request); the ctx is passed explicitly instead.
 * - `req` 'close' to detect a disconnect: it fires for every request once its body is read, so it
 *   cannot tell a gone client from a finished one. `res` 'close' with `!res.writableFinished` can.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { CancelCtx, type Context } from '../context.js';
import { describe } from '../validate.js';
import type { Conn } from './tracker.js';

/** Where a request's context hangs on its `req`. @internal */
export const kCtx: unique symbol = Symbol('corral.http.ctx');

/** A request served through {@link serve}: its ctx is on it. @internal */
export type ServedRequest = (IncomingMessage | Http2ServerRequest) & { [kCtx]?: RequestCtx };

/**
 * A request's context, and its place in the server's in-flight list. Invariant: `_ip`/`_in` are
 * non-null only while the request is in the list (from its arrival until its response closes).
 * @internal
 */
export class RequestCtx extends CancelCtx {
  _req: ServedRequest;
  /** The connection it arrived on; null for an HTTP/2 stream (its session is tracked instead). */
  _conn: Conn | null;
  /** When it arrived, on the registry's coarse clock. */
  _t0: number;
  _ip: RequestCtx | null = null;
  _in: RequestCtx | null = null;

  constructor(parent: Context, req: ServedRequest, conn: Conn | null, t0: number) {
    super(parent);
    this._req = req;
    this._conn = conn;
    this._t0 = t0;
  }

  override toString(): string {
    return `http.RequestContext(${this._err === undefined ? 'live' : this._err.message})`;
  }
}

/**
 * requestContext returns the context of a request served through {@link serve}: the same object a
 * handler given to `serve(handler)` receives as its third argument. Use it where the framework
 * owns the handler's signature (express, koa, fastify, HTTP/2 servers passed to `serve(server)`).
 *
 * @throws TypeError when `req` did not come through a server passed to {@link serve}.
 * @example
 * ```ts
 * app.get('/report/:id', async (req, res) => {
 *   const ctx = requestContext(req); // cancelled if the client leaves
 *   res.json(await buildReport(ctx, req.params.id));
 * });
 * serve(http.createServer(app), { port: 8080 });
 * ```
 */
export function requestContext(req: IncomingMessage | Http2ServerRequest): Context {
  const ctx = (req as ServedRequest | null | undefined)?.[kCtx];
  if (ctx === undefined) {
    throw new TypeError(`requestContext: not a request served through serve() (got ${describe(req)})`);
  }
  return ctx;
}
