/**
 * An optional access log (`--access-log FILE`): one JSON line per request that reached the
 * handler, written when its response closes: method, path (no query string), status, duration,
 * whether the answer was fully written, and the Idempotency-Key if any (a client-made token, not
 * patient data). Tests use it to tell "the client saw an error after its request reached a
 * handler" from "the request never reached one" (then a retry is always safe).
 * @module
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, resolve } from 'node:path';

export class AccessLog {
  private fd: number | undefined;

  constructor(path: string) {
    const full = resolve(path);
    mkdirSync(dirname(full), { recursive: true });
    this.fd = openSync(full, 'a');
  }

  /** Logs `req` when its response closes. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const t0 = performance.now();
    const key = req.headers['idempotency-key'];
    res.once('close', () => {
      if (this.fd === undefined) return;
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const line = {
        t: new Date().toISOString(),
        method: req.method,
        path: q === -1 ? url : url.slice(0, q),
        status: res.statusCode,
        ms: Math.round((performance.now() - t0) * 10) / 10,
        answered: res.writableFinished,
        ...(typeof key === 'string' ? { key } : {}),
      };
      // Synchronous: a line is on disk before the process can exit, whatever stops it next.
      writeSync(this.fd, JSON.stringify(line) + '\n');
    });
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
