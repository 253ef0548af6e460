/**
 * `corral/http`: a graceful HTTP server as a service. Request contexts cancelled when the client
 * leaves, health and readiness endpoints, and a shutdown that answers every request it accepted.
 * See docs/http.md.
 * @module
 */
export { serve, type AnyServer, type Handler, type HttpService } from './serve.js';
export { requestContext } from './request-context.js';
export { ClientDisconnectedError, ShutdownDeadlineError } from './errors.js';
export type { ForcedRequest, HealthOptions, ServeOptions, StopReport } from './options.js';
