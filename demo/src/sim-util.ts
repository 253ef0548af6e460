/**
 * What the simulated external systems share: a seeded random generator, small JSON bodies in and
 * out, and listening. The simulators are plain node:http on purpose (they stand for systems the
 * service does not own).
 * @module
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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

/** A running simulator: where it listens, what it counts, and its behaviour to change at run time. */
export interface Sim<B, S> {
  readonly url: string;
  readonly port: number;
  stats(): S;
  set(b: Partial<B>): void;
  /** Stops listening and cuts every connection, calls held open included. */
  close(): Promise<void>;
}

/** Answers one request to the simulated system's own API; `later` is a setTimeout that close() clears. */
export type SimRoute = (req: http.IncomingMessage, res: http.ServerResponse, url: URL, later: (fn: () => void, ms: number) => void) => void;

/**
 * Starts a simulator on loopback: `route` answers its API; `GET /admin/stats` answers `stats()`
 * and `POST /admin/behaviour` merges into `behaviour` what `check` accepts (a 400 naming the
 * field otherwise), as `set()` does in-process.
 */
export async function serveSim<B extends object, S>(
  options: { port?: number; host?: string },
  behaviour: B,
  check: (b: B) => void,
  stats: () => S,
  route: SimRoute,
): Promise<Sim<B, S>> {
  check(behaviour);
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const later = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const set = (next: Partial<B>): void => {
    const merged = { ...behaviour, ...next };
    check(merged);
    Object.assign(behaviour, merged);
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (req.method === 'GET' && url.pathname === '/admin/stats') return sendJson(res, 200, stats());
    if (req.method === 'POST' && url.pathname === '/admin/behaviour') {
      readSmallJson(req, (err, body) => {
        if (err !== undefined) return sendJson(res, 400, { error: err });
        try {
          set(body as Partial<B>);
        } catch (e) {
          return sendJson(res, 400, { error: (e as Error).message });
        }
        sendJson(res, 200, behaviour);
      });
      return;
    }
    route(req, res, url, later);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    set,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
