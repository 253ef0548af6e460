/**
 * Connection and in-flight request tracking for one server.
 *
 * Every TCP connection is tracked from the server's 'connection' event (so a TLS client stuck
 * mid-handshake is seen too) until its socket's 'close'. A TLS socket, once secure, points to the
 * same record, as does an HTTP/2 session. In-flight requests are an intrusive doubly linked list of
 * their contexts: O(1) in and out, no allocation, and a shutdown can name each one.
 *
 * Why not `server.close()` + `closeIdleConnections()`: Node destroys idle sockets at once, and a
 * request racing in on one is lost with a reset; and Node cannot tell "idle" from "between two
 * requests of a busy client". Here a connection is idle when no request is in flight on it, and
 * an idle connection is closed with `end()` (a FIN): a request that crosses our FIN is never
 * handed to a handler (the connection is marked `ended`), so a client can safely retry it.
 * @module
 */
import type { Server as NetServer, Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { Http2Session } from 'node:http2';
import type { RequestCtx } from './request-context.js';

/** Where a connection's record hangs on its sockets. @internal */
export const kConn: unique symbol = Symbol('corral.http.conn');

type Tracked = Socket & { [kConn]?: Conn };

/** One TCP connection. @internal */
export class Conn {
  /** The TCP socket, as the 'connection' event gave it. */
  readonly raw: Socket;
  /** The socket HTTP reads and writes: the TLS socket once secure, else `raw`. */
  sock: Socket;
  /** TLS: set once the handshake completed; plain TCP: always true. */
  secure: boolean;
  /** Requests on it whose response has not closed (HTTP/1; pipelined ones included). */
  inflight = 0;
  /** We sent our FIN (or destroyed it): no request arriving on it may reach a handler. */
  ended = false;
  /** A response on it carries `Connection: close`: requests pipelined behind it cannot be answered. */
  last = false;
  /** The latest HTTP/1 response on it (pipelined ones queue behind each other), while open. */
  res: ServerResponse | null = null;
  /** Its HTTP/2 session, if any. */
  session: Http2Session | null = null;

  constructor(raw: Socket, secure: boolean) {
    this.raw = raw;
    this.sock = raw;
    this.secure = secure;
  }

  /** Closes our side with a FIN (HTTP/2: GOAWAY, then close once its streams are done). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const s = this.session;
    if (s !== null) {
      if (!s.closed && !s.destroyed) s.close();
    } else if (this.secure) {
      this.sock.end();
    } else {
      // Mid-TLS-handshake: there is no TLS socket to end yet, and the raw one no longer has its
      // handle (the TLS layer took it). Nothing was asked of us on it, so it is simply closed.
      this.raw.destroy();
    }
  }

  destroy(): void {
    this.ended = true;
    if (this.session !== null && !this.session.destroyed) this.session.destroy();
    this.sock.destroy();
    this.raw.destroy();
  }
}

/**
 * The connections and in-flight requests of one server. `onIdle` runs when the last connection
 * closes, `onQuiet` when the last in-flight request leaves.
 * @internal
 */
export class Tracker {
  readonly conns = new Set<Conn>();
  /** In-flight requests, newest first. */
  head: RequestCtx | null = null;
  inflight = 0;
  onIdle: (() => void) | null = null;
  onQuiet: (() => void) | null = null;
  /** Called for each new connection (a shutdown closes late ones at once). */
  onConn: ((c: Conn) => void) | null = null;

  /** Starts tracking the server's connections; `tls`: its sockets become secure later. */
  watch(server: NetServer, tls: boolean): void {
    // Prepended: an HTTP/2 server makes the session inside its own listener, which must find us.
    server.prependListener('connection', (raw: Tracked) => {
      // A connection that was closed before we saw it (rare, under load) is never tracked.
      if (raw.destroyed) return;
      const c = new Conn(raw, !tls);
      raw[kConn] = c;
      this.conns.add(c);
      raw.on('close', () => {
        this.conns.delete(c);
        if (this.conns.size === 0) this.onIdle?.();
      });
      this.onConn?.(c);
    });
    if (tls) {
      server.prependListener('secureConnection', (sock: Tracked) => {
        const c = (sock as unknown as { _parent?: Tracked })._parent?.[kConn];
        if (c === undefined) return;
        sock[kConn] = c;
        c.sock = sock;
        c.secure = true;
        // A handshake that completed after the shutdown closed everything idle: close it now.
        if (c.ended) {
          c.ended = false;
          c.end();
        }
      });
    }
  }

  /** Tracks an HTTP/2 session on its connection. */
  watchSession(session: Http2Session): Conn | undefined {
    const sock = session.socket as Tracked;
    const c = sock[kConn];
    if (c !== undefined) c.session = session;
    return c;
  }

  push(r: RequestCtx): void {
    const h = this.head;
    r._in = h;
    if (h !== null) h._ip = r;
    this.head = r;
    this.inflight++;
  }

  remove(r: RequestCtx): void {
    const p = r._ip;
    const n = r._in;
    if (p === null) {
      if (this.head !== r) return; // not in the list
      this.head = n;
    } else {
      p._in = n;
    }
    if (n !== null) n._ip = p;
    r._ip = r._in = null;
    if (--this.inflight === 0) this.onQuiet?.();
  }
}
