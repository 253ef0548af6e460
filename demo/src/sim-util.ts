/**
 * What the simulated external systems share: a seeded random generator, small JSON bodies in and
 * out (read and written by the API's own helpers in http-util.ts), and listening with the admin
 * routes. The simulators are plain node:http on purpose (they stand for systems the service does
 * not own).
 * @module
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { BodyAbortedError, BodyTooLargeError, readBody, refuseBody, sendJson } from './http-util.js';

/** JSON answers: the API's own helper (a no-op once the response can no longer be written). */
export { sendJson };

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

/**
 * Reads a JSON body of at most 64 KiB (the API's size-limited reader): the value ({} when empty),
 * or an error message after which the caller answers 400; undefined when the client left first.
 */
export async function readSmallJson(req: http.IncomingMessage): Promise<{ body: unknown } | { error: string } | undefined> {
  let buf: Buffer;
  try {
    buf = await readBody(req, LIMIT);
  } catch (e) {
    if (e instanceof BodyTooLargeError) return { error: 'body too large' };
    if (e instanceof BodyAbortedError) return undefined;
    throw e;
  }
  const text = buf.toString('utf8');
  if (text === '') return { body: {} };
  try {
    return { body: JSON.parse(text) as unknown };
  } catch {
    return { error: 'malformed JSON' };
  }
}

/** Answers a simulator's request that could not be read: 400, closing the connection on an unread body. */
export function badRequest(req: http.IncomingMessage, res: http.ServerResponse, error: string): void {
  refuseBody(req, res, 400, { error });
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
      void readSmallJson(req).then((r) => {
        if (r === undefined) return;
        if ('error' in r) return badRequest(req, res, r.error);
        try {
          set(r.body as Partial<B>);
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
