/**
 * Health endpoints: liveness (200 while the process is alive) and readiness (200 once started,
 * 503 from the first instant of a shutdown), on the main server or on a port of their own.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** Which probe a URL asks for. @internal */
export const NONE = 0;
export const LIVE = 1;
export const READY = 2;

/** Matches `url` against the paths: exact, or followed by a query string. @internal */
export function probeOf(url: string | undefined, liveness: string | null, readiness: string | null): number {
  if (url === undefined) return NONE;
  if (liveness !== null && startsPath(url, liveness)) return LIVE;
  if (readiness !== null && startsPath(url, readiness)) return READY;
  return NONE;
}

function startsPath(url: string, path: string): boolean {
  const n = path.length;
  return url.length >= n && url.startsWith(path) && (url.length === n || url.charCodeAt(n) === 63 /* ? */);
}

/** Answers a probe; `ready` is the service's readiness now. @internal */
export function answerProbe(res: ServerResponse | Http2ServerResponse, probe: number, ready: boolean): void {
  const ok = probe === LIVE || ready;
  const body = probe === LIVE ? 'ok\n' : ready ? 'ready\n' : 'not ready\n';
  res.statusCode = ok ? 200 : 503;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  (res as ServerResponse).end(body);
}

/** A server of its own for the probes; anything else is a 404. @internal */
export function healthServer(liveness: string | null, readiness: string | null, ready: () => boolean): Server {
  return createServer((req: IncomingMessage | Http2ServerRequest, res: ServerResponse) => {
    const probe = probeOf(req.url, liveness, readiness);
    if (probe === NONE) {
      res.statusCode = 404;
      res.end();
      return;
    }
    answerProbe(res, probe, ready());
  });
}
