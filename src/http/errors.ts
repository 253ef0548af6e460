/**
 * The causes corral/http gives when it cancels a request's context. The context's `err` is the
 * usual `CanceledError` or `DeadlineExceededError`; `ctx.cause` says why, with a stable `code`.
 * @module
 */

/**
 * ClientDisconnectedError is `ctx.cause` of a request whose client went away before the response
 * finished (`ctx.err` is a `CanceledError`). Work done for that request can stop: nobody will
 * read its result.
 *
 * @example
 * ```ts
 * serve(async (req, res, ctx) => {
 *   try { res.end(await buildReport(ctx)); }
 *   catch (e) { if (ctx.cause instanceof ClientDisconnectedError) return; throw e; }
 * });
 * ```
 */
export class ClientDisconnectedError extends Error {
  /** Always `'ERR_CORRAL_HTTP_CLIENT_DISCONNECTED'`. */
  readonly code = 'ERR_CORRAL_HTTP_CLIENT_DISCONNECTED' as const;
  constructor(message = 'client disconnected before the response finished') {
    super(message);
    this.name = 'ClientDisconnectedError';
  }
}

/**
 * ShutdownDeadlineError is `ctx.cause` of a request still running when the server's
 * `shutdownTimeout` ran out (`ctx.err` is a `DeadlineExceededError`). The handler has `forceGrace`
 * milliseconds to answer before its connection is destroyed.
 *
 * @example
 * ```ts
 * if (ctx.cause instanceof ShutdownDeadlineError) res.writeHead(503).end();
 * ```
 */
export class ShutdownDeadlineError extends Error {
  /** Always `'ERR_CORRAL_HTTP_SHUTDOWN_DEADLINE'`. */
  readonly code = 'ERR_CORRAL_HTTP_SHUTDOWN_DEADLINE' as const;
  constructor(message = 'server shutdown deadline passed') {
    super(message);
    this.name = 'ShutdownDeadlineError';
  }
}
