// Test helpers for corral/http: a raw HTTP/1.1 client that sees FIN vs reset, gates, timing.
import net from 'node:net';

/** A promise with its resolve exposed: lets a handler wait until the test releases it. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}
export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Resolves when `pred` holds, polled on every event of the raw client; rejects after `ms`. */
export class RawClient {
  readonly sock: net.Socket;
  data = '';
  /** The server sent a FIN. */
  gotFin = false;
  err: NodeJS.ErrnoException | undefined;
  closed = false;
  closedAt = 0;
  private pokes: (() => void)[] = [];

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.data += d;
      this.poke();
    });
    sock.on('end', () => {
      this.gotFin = true;
      sock.end(); // what a real client does on the server's FIN
      this.poke();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      this.err = e;
      this.poke();
    });
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = performance.now();
      this.poke();
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private poke(): void {
    const p = this.pokes;
    this.pokes = [];
    for (const f of p) f();
  }

  until(pred: () => boolean, what: string, ms = 3_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.data.slice(-300))}`)), ms);
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else {
          this.pokes.push(check);
        }
      };
      check();
    });
  }

  send(path: string, method = 'GET'): void {
    this.sock.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  }

  /** Complete responses received so far (bodies end with "\n" and are short). */
  responses(): string[] {
    return this.data.split('HTTP/1.1 ').slice(1);
  }
}

/** Resolves with the error of a TCP connect to `port` (or 'connected'). */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}
