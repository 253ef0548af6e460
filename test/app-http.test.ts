// The App and corral/http together: the shutdown sequence as a load balancer and a client see it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { App } from '../src/app/index.js';
import { serve } from '../src/http/index.js';
import type { Context } from '../src/context.js';

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
});
