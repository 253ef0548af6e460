/**
 * What the simulated external systems share: a seeded random generator, small JSON bodies in and
 * out, and listening. The simulators are plain node:http on purpose (they stand for systems the
 * service does not own).
 * @module
 */
import type http from 'node:http';

/** mulberry32: a small seeded generator in [0, 1), so a simulated run replays from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LIMIT = 64 * 1024;

/** Reads a JSON body of at most 64 KiB; calls back with an error message or the value ({} when empty). */
export function readSmallJson(req: http.IncomingMessage, cb: (err: string | undefined, body: unknown) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > LIMIT && !done) {
      done = true;
      cb('body too large', undefined);
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (done) return;
    done = true;
    const text = Buffer.concat(chunks).toString('utf8');
    if (text === '') return cb(undefined, {});
    try {
      cb(undefined, JSON.parse(text));
    } catch {
      cb('malformed JSON', undefined);
    }
  });
  req.on('error', () => {
    done = true;
  });
}

/** Answers with a JSON body. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** Listens and resolves once listening, or rejects with the listen error (EADDRINUSE...). */
export function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
