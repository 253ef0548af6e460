// The App and corral/http together: the shutdown sequence as a load balancer and a client see it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { App } from '../src/app/index.js';
import { serve } from '../src/http/index.js';
import type { Context } from '../src/context.js';
import { AppStopError } from '../src/app/index.js';

interface Reply {
  status: number;
  connection: string | undefined;
  body: string;
}

/** One request on a fresh connection (no agent), so each call tests the listener itself. */
function get(port: number, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('App with an HTTP service: the shutdown sequence', () => {
  test('readiness turns 503 at once, requests in the pre-stop delay get Connection: close, then new connections are refused and the in-flight request is answered', async () => {
    const release = gate();
    const entered = gate();
    let handlerCtx: Context | undefined;
    const http = serve(
      async (req, res, ctx) => {
        if (req.url === '/slow') {
          handlerCtx = ctx;
          entered.open();
          await release.promise;
        }
        res.end('ok');
      },
      { name: 'http', port: 0 },
    );
    const app = new App({ name: 'itest', preStopDelay: 150, shutdownTimeout: 5_000, logger: false, signals: [] });
    app.add(http);
    await app.start();
    const port = http.port as number;
    assert.equal((await get(port, '/readyz')).status, 200, 'ready once started');

    const slow = get(port, '/slow');
    await entered.promise;
    const stopping = app.stop();

    // Pre-stop delay: still serving, but not ready, and every response says the connection closes.
    const ready = await get(port, '/readyz');
    assert.equal(ready.status, 503, 'not ready from the first instant of the shutdown');
    const during = await get(port, '/');
    assert.equal(during.status, 200, 'still serving during the pre-stop delay');
    assert.equal(during.connection, 'close', 'responses carry Connection: close during the pre-stop delay');

    // After the delay the listener is closed: a new connection is refused, not accepted and reset.
    await new Promise((r) => setTimeout(r, 250));
    await assert.rejects(get(port, '/'), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    assert.equal(handlerCtx?.err, undefined, 'the in-flight request is not cancelled while it is within the budget');

    release.open();
    const answered = await slow;
    assert.equal(answered.status, 200, 'the in-flight request is answered');
    assert.equal(answered.connection, 'close', 'and its connection closes after it');

    const report = await stopping;
    assert.equal(report.ok, true, `a clean shutdown (${JSON.stringify(report.services)})`);
    assert.equal(report.exitCode, 0);
    const steps = report.steps.map((s) => s.name);
    assert.ok(steps.length >= 4, `each step is timed (${steps.join(', ')})`);
  });

  test('a request outliving the HTTP shutdownTimeout is cut: the app exits 1 and its report and log name the request', async () => {
    const entered = gate();
    const lines: string[] = [];
    const log = (l: string): number => lines.push(l);
    const http = serve(
      (_req, _res, _ctx) => {
        entered.open(); // ignores its context and never answers
      },
      { name: 'http', port: 0, shutdownTimeout: 100, forceGrace: 50 },
    );
    const app = new App({ name: 'itest', shutdownTimeout: 5_000, signals: [], logger: { info: log, warn: log, error: log } });
    app.add(http);
    await app.start();
    const client = new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port: http.port as number, path: '/exports/P-0042?full=1', method: 'POST', agent: false });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.on('response', () => resolve('answered'));
      req.end();
    });
    await entered.promise;
    const report = await app.stop();
    assert.equal(await client, 'ECONNRESET', 'the cut request\'s connection was destroyed');
    assert.equal(report.ok, false, 'not a clean shutdown');
    assert.equal(report.exitCode, 1, 'exit code 1');
    const svc = report.services.find((s) => s.name === 'http');
    assert.ok(svc?.error instanceof AppStopError, `the http service's stop failed with AppStopError (got ${String(svc?.error)})`);
    const forced = (svc.result as { forced: { method: string; url: string }[] }).forced;
    assert.deepEqual(forced.map((f) => `${f.method} ${f.url}`), ['POST /exports/P-0042'], 'the report names the request');
    assert.match(svc.error.message, /1 request cut: POST \/exports\/P-0042 \(\d+ ms\)$/);
    assert.ok(!svc.error.message.includes('full=1'), 'the query string stays out');
    assert.ok(lines.some((l) => l.includes('POST /exports/P-0042')), `the log names it too: ${lines.join(' | ')}`);
  });
});

describe('App readiness and a served /readyz', () => {
  test("markUnready turns a served /readyz 503 inside the App (serve()'s readyWhen), and markReady back to 200", async () => {
    const app = new App({ logger: false });
    const svc = serve((_req, res) => res.end('ok\n'), { host: '127.0.0.1', port: 0 });
    app.add(svc);
    await app.start();
    try {
      const get = async (path: string): Promise<number> => (await fetch(`http://127.0.0.1:${svc.port}${path}`)).status;
      assert.equal(await get('/readyz'), 200);
      app.markUnready('scoring backlog');
      assert.equal(svc.ready, false);
      assert.equal(await get('/readyz'), 503);
      assert.equal(await get('/healthz'), 200);
      app.markReady('scoring backlog');
      assert.equal(await get('/readyz'), 200);
      app.markUnhealthy('db down');
      assert.equal(await get('/readyz'), 200, 'liveness reasons do not touch readiness');
    } finally {
      await app.stop();
    }
  });
});
