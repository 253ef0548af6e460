/**
 * The HTTP API, a corral/http handler:
 *
 * - `POST /submissions`: validate, store, answer `202 { id }` once the row is committed. An
 *   `Idempotency-Key` makes a retry answer the first attempt's id (also across restarts), never
 *   store twice; the same key with another content is a 422.
 * - `GET /submissions/:id`: status (pending, processed, failed) and score.
 * - `GET /reports/:formId`: a long report, stopped as soon as the client disconnects.
 * - `GET /healthz`, `GET /readyz`: the App's liveness and readiness. Readiness is 503 from the
 *   first instant of a shutdown, and while the watchdog's critical alert stands (its reason in
 *   `notReady`); nothing here marks the service unhealthy.
 *
 * Nothing a patient sent appears in an error message or a log line.
 * @module
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'corral';
import type { Health } from 'corral/app';
import { ClientDisconnectedError, ShutdownDeadlineError, type Handler } from 'corral/http';
import type { AccessLog } from './access-log.js';
import { FORMS } from './forms.js';
import { BodyAbortedError, BodyTooLargeError, readBody, refuseBody, sendJson } from './http-util.js';
import type { Log } from './log.js';
import { buildReport, type ReportOptions } from './report.js';
import type { Store } from './store.js';
import { validateSubmission } from './validation.js';

export interface ApiOptions {
  store: Store;
  /** The largest submission body accepted, in bytes (larger: 413). */
  maxBodyBytes: number;
  report: ReportOptions;
  /** Called after a new submission was committed (not for a replay). */
  onSubmitted: (id: number) => void;
  health: () => Health;
  log: Log;
  accessLog?: AccessLog;
}

const KEY = /^[\x21-\x7e]{1,200}$/;
const SUBMISSION = /^\/submissions\/(\d{1,15})$/;
const REPORT = /^\/reports\/([^/]{1,64})$/;

/** Makes the API's request handler. */
export function createApi(o: ApiOptions): Handler {
  return async (req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> => {
    o.accessLog?.track(req, res);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path === '/submissions') {
      if (method !== 'POST') return notAllowed(res, 'POST');
      return submit(o, req, res);
    }
    let m = SUBMISSION.exec(path);
    if (m !== null) {
      if (method !== 'GET') return notAllowed(res, 'GET');
      const status = o.store.status(Number(m[1]));
      if (status === undefined) return sendJson(res, 404, { error: 'no such submission' });
      return sendJson(res, 200, status);
    }
    m = REPORT.exec(path);
    if (m !== null) {
      if (method !== 'GET') return notAllowed(res, 'GET');
      return report(o, decodeURIComponent(m[1] as string), res, ctx);
    }
    if (path === '/healthz' || path === '/readyz') {
      const h = o.health();
      const ok = path === '/healthz' ? h.healthy : h.ready;
      // Both lists, so a probe's body says why: `reasons` (not healthy) and `notReady` (out of rotation).
      return sendJson(res, ok ? 200 : 503, { state: h.state, healthy: h.healthy, ready: h.ready, reasons: h.reasons, notReady: h.notReady });
    }
    if (path === '/' && method === 'GET') {
      return sendJson(res, 200, {
        service: 'ePRO intake (corral demo)',
        endpoints: ['POST /submissions', 'GET /submissions/:id', 'GET /reports/:formId', 'GET /healthz', 'GET /readyz'],
        forms: [...FORMS.values()].map((f) => ({ id: f.id, title: f.title, items: f.items, answerRange: [0, f.max] })),
      });
    }
    sendJson(res, 404, { error: 'not found' });
  };
}

async function submit(o: ApiOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawKey = req.headers['idempotency-key'];
  if (rawKey !== undefined && (typeof rawKey !== 'string' || !KEY.test(rawKey))) {
    return refuseBody(req, res, 400, {
      error: 'invalid request',
      fields: { 'Idempotency-Key': 'must be 1 to 200 visible ASCII characters' },
    });
  }
  let body: Buffer;
  try {
    body = await readBody(req, o.maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      return refuseBody(req, res, 413, { error: `submission larger than ${o.maxBodyBytes} bytes` });
    }
    if (err instanceof BodyAbortedError) return; // nobody to answer; nothing was stored
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return sendJson(res, 400, { error: 'malformed JSON' });
  }
  const v = validateSubmission(parsed);
  if (!v.ok) return sendJson(res, 400, { error: 'invalid submission', fields: v.fields });
  // The fingerprint of the validated content (stable key order), not of the raw bytes: a client
  // that re-serializes the same answers differently is still retrying the same submission.
  const fingerprint = createHash('sha256').update(JSON.stringify(v.value)).digest('base64url');
  const outcome = await o.store.submit(v.value, rawKey, fingerprint, Date.now());
  if (outcome.kind === 'conflict') {
    return sendJson(res, 422, { error: 'Idempotency-Key already used for a different submission' });
  }
  if (outcome.kind === 'created') o.onSubmitted(outcome.id);
  sendJson(
    res,
    202,
    { id: outcome.id, status: 'pending' },
    { location: `/submissions/${outcome.id}`, ...(outcome.kind === 'replayed' ? { 'idempotent-replayed': 'true' } : {}) },
  );
}

async function report(o: ApiOptions, formId: string, res: ServerResponse, ctx: Context): Promise<void> {
  if (!FORMS.has(formId)) return sendJson(res, 404, { error: 'no such form' });
  const t0 = performance.now();
  o.log.info(`report ${formId} started: ${o.report.steps} steps of ${o.report.stepMs} ms`);
  // When the request's context ends, to measure how long the report's tasks take to stop.
  let cancelledAt = 0;
  const onAbort = (): void => void (cancelledAt = performance.now());
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await buildReport(ctx, o.store, formId, o.report);
    sendJson(res, 200, { ...r, ms: Math.round(performance.now() - t0) });
  } catch (err) {
    if (ctx.err === undefined) throw err;
    const stopMs = (performance.now() - cancelledAt).toFixed(2);
    if (ctx.cause instanceof ClientDisconnectedError) {
      o.log.info(`report ${formId} stopped ${stopMs} ms after its client disconnected`);
    } else if (ctx.cause instanceof ShutdownDeadlineError) {
      o.log.warn(`report ${formId} cut by the shutdown deadline`);
      sendJson(res, 503, { error: 'the service is restarting; retry' }, { 'retry-after': '5' });
    } else throw err;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

function notAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, { error: 'method not allowed' }, { allow });
}
