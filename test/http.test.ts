import { test as nodeTest, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Agent, Pool } from 'undici';
import { serve, requestContext, ClientDisconnectedError, ShutdownDeadlineError, type HttpService, type ServeOptions, type Handler } from '../src/http/index.js';
import { background, withCancel, type Context } from '../src/context.js';
import { CanceledError, DeadlineExceededError, InvalidStateError } from '../src/errors.js';
import { sleep } from '../src/timers.js';
import { gate, RawClient, tryConnect } from './helpers/http.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const test = (name: string, fn: () => unknown): void => {
  nodeTest(name, { timeout: 10_000 }, fn as () => Promise<void>);
};

async function started(handler: Handler, options: ServeOptions = {}): Promise<HttpService> {
  const svc = serve(handler, { host: '127.0.0.1', ...options });
  await svc.start();
  return svc;
}

const hello: Handler = (_req, res) => {
  res.end('hello\n');
};

/** Sends GET `path` through a keep-alive http.Agent; resolves with status, headers and body. */
function agentGet(agent: http.Agent, port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; socket: import('node:net').Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket: req.socket as import('node:net').Socket }));
    });
    req.on('error', reject);
  });
}

describe('1. idle keep-alive connections', () => {
  test('close with a FIN within 50 ms of stop(), never a reset (raw sockets, http.Agent, undici)', async () => {
    const svc = await started(hello);
    const port = svc.port as number;
    // Raw clients: each made one request and now idles on its keep-alive connection.
    const raws = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(port)));
    for (const c of raws) c.send('/');
    await Promise.all(raws.map((c) => c.until(() => c.data.endsWith('hello\n'), 'a response')));
    // http.Agent keep-alive: sockets idle in the agent's free list.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 5 });
    const agentSockets = (await Promise.all(Array.from({ length: 5 }, () => agentGet(agent, port, '/')))).map((r) => r.socket);
    const agentErrors: unknown[] = [];
    const agentClosed = agentSockets.map((s) => {
      s.on('error', (e) => agentErrors.push(e));
      return new Promise<number>((r) => s.once('close', () => r(performance.now())));
    });
    // undici: five connections, then idle.
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 5, keepAliveTimeout: 60_000 });
    const disconnects: { at: number; err: Error }[] = [];
    pool.on('disconnect', (_o, _t, err) => disconnects.push({ at: performance.now(), err }));
    await Promise.all(Array.from({ length: 5 }, () => pool.request({ path: '/', method: 'GET' }).then((r) => r.body.text())));
    assert.equal(svc.stats().inFlight, 0, 'nothing in flight before stop');

    const t0 = performance.now();
    const report = await svc.stop();
    const tStop = performance.now() - t0;
    await Promise.all(raws.map((c) => c.until(() => c.closed, 'the raw socket to close')));
    const agentCloseTimes = await Promise.all(agentClosed);
    for (const c of raws) {
      assert.ok(c.gotFin, 'the raw client got a FIN');
      assert.equal(c.err, undefined, `no reset or error on a raw client (got ${c.err?.code})`);
      assert.ok(c.closedAt - t0 < 50, `a raw socket closed within 50 ms (took ${(c.closedAt - t0).toFixed(1)} ms)`);
    }
    assert.deepEqual(agentErrors, [], 'no error on the http.Agent sockets');
    for (const at of agentCloseTimes) assert.ok(at - t0 < 50, `an agent socket closed within 50 ms (took ${(at - t0).toFixed(1)})`);
    assert.ok(tStop < 50, `stop() resolved within 50 ms (took ${tStop.toFixed(1)} ms)`);
    assert.equal(report.graceful, true, 'graceful');
    assert.equal(report.destroyedConnections, 0, 'every idle connection closed by FIN, none destroyed');
    // undici learns of the FIN as "other side closed", not a reset.
    for (const d of disconnects) assert.ok(!/ECONNRESET/.test(String(d.err.message) + String((d.err as NodeJS.ErrnoException).code)), `undici saw no reset (got ${d.err.message})`);
    await pool.close();
    agent.destroy();
  });
});

describe('2. in-flight requests at stop()', () => {
  test('finish, carry Connection: close, and their socket closes right after the response', async () => {
    const g = gate();
    let entered = 0;
    const allIn = gate();
    const svc = await started(async (_req, res) => {
      if (++entered === 10) allIn.open();
      await g.promise;
      res.end('done\n');
    });
    const port = svc.port as number;
    const raws = await Promise.all(Array.from({ length: 10 }, () => RawClient.connect(port)));
    for (const c of raws) c.send('/work');
    await allIn.promise;
    const stopping = svc.stop();
    assert.equal(svc.stats().inFlight, 10, 'ten requests in flight');
    g.open();
    const report = await stopping;
    for (const c of raws) {
      await c.until(() => c.closed, 'the socket to close');
      const [res] = c.responses();
      assert.ok(res?.startsWith('200'), `answered 200 (got ${res})`);
      assert.match(res ?? '', /\r\nConnection: close\r\n/i, 'the response carries Connection: close');
      assert.ok(res?.endsWith('done\n'), 'the whole body arrived');
      assert.ok(c.gotFin && c.err === undefined, `closed by FIN after the response (err ${c.err?.code})`);
    }
    assert.equal(report.inFlightAtStop, 10, 'the report counts them');
    assert.equal(report.graceful, true, 'graceful');
  });
});

describe('3. new connections after shutdown starts', () => {
  test('are refused (ECONNREFUSED) while in-flight requests still drain', async () => {
    const g = gate();
    const inside = gate();
    const svc = await started(async (_req, res) => {
      inside.open();
      await g.promise;
      res.end('done\n');
    });
    const port = svc.port as number;
    const c = await RawClient.connect(port);
    c.send('/work');
    await inside.promise;
    const stopping = svc.stop();
    assert.equal(await tryConnect(port), 'ECONNREFUSED', 'a new connection is refused, not accepted then reset');
    g.open();
    await stopping;
    await c.until(() => c.data.endsWith('done\n'), 'the in-flight response');
  });

  test('stopAccepting() alone closes the listener; existing connections keep being served', async () => {
    const svc = await started(hello);
    const port = svc.port as number;
    const c = await RawClient.connect(port);
    svc.stopAccepting();
    assert.equal(await tryConnect(port), 'ECONNREFUSED', 'refused after stopAccepting()');
    c.send('/');
    await c.until(() => c.data.endsWith('hello\n'), 'a response on the existing connection');
    await svc.stop();
  });
});

describe('4. requests arriving during the drain', () => {
  test('after drainBegin(), a request on a busy keep-alive connection is served with Connection: close', async () => {
    const svc = await started(hello);
    const port = svc.port as number;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await agentGet(agent, port, '/');
    assert.equal(first.headers.connection, 'keep-alive', 'keep-alive before the drain');
    svc.drainBegin();
    const closed = new Promise<void>((r) => first.socket.once('close', () => r()));
    const second = await agentGet(agent, port, '/');
    assert.equal(second.socket, first.socket, 'the same keep-alive connection');
    assert.equal(second.status, 200, 'served');
    assert.equal(second.body, 'hello\n', 'whole body');
    assert.equal(second.headers.connection, 'close', 'with Connection: close');
    await closed; // and the server closed the connection after it
    await svc.stop();
    agent.destroy();
  });

  test('a request that reaches an idle connection within idleCloseDelay of stop() is served with Connection: close', async () => {
    let handled = 0;
    const svc = await started(
      (req, res) => {
        handled++;
        res.end(`done ${req.url}\n`);
      },
      // Generous, so a loaded machine cannot turn this into a race; the default is 10 ms.
      { idleCloseDelay: 500 },
    );
    const c = await RawClient.connect(svc.port as number);
    c.send('/first');
    await c.until(() => c.data.includes('done /first'), 'the first answer');
    // The busy client's next request leaves in the same tick as the stop: on the wire (or unread
    // in the server's socket buffer) when stop() begins, exactly the race a FIN at once loses.
    c.send('/next');
    const report = await svc.stop();
    await c.until(() => c.closed, 'the connection to close');
    assert.equal(handled, 2, 'both requests reached the handler');
    const answers = c.responses();
    assert.equal(answers.length, 2, `both answered (got ${answers.length})`);
    assert.match(c.data, /done \/next/, 'the second request was answered');
    assert.match(c.data.slice(c.data.indexOf('done /first')), /connection: close/i, 'the second answer carries Connection: close');
    assert.ok(c.gotFin && c.err === undefined, `closed by FIN after the answer (err ${c.err?.code})`);
    assert.equal(report.graceful, true, 'graceful');
  });

  test('with idleCloseDelay 0 idle connections get their FIN at once, and a request crossing it never reaches a handler', async () => {
    let handled = 0;
    const svc = await started(
      (req, res) => {
        handled++;
        res.end(`done ${req.url}\n`);
      },
      { idleCloseDelay: 0 },
    );
    const c = await RawClient.connect(svc.port as number);
    c.send('/first');
    await c.until(() => c.data.includes('done /first'), 'the first answer');
    c.send('/next');
    await svc.stop();
    await c.until(() => c.closed, 'the connection to close');
    assert.equal(handled, 1, 'the request that crossed the FIN never ran');
    assert.equal(c.responses().length, 1, 'and got no answer: the client knows to retry it');
  });

  test('a request pipelined behind an in-flight one at stop() is answered, or never reaches a handler', async () => {
    const g = gate();
    const inside = gate();
    let handled = 0;
    const svc = await started(async (req, res) => {
      handled++;
      if (req.url === '/a') {
        inside.open();
        await g.promise;
      }
      res.end(`done ${req.url}\n`);
    });
    const c = await RawClient.connect(svc.port as number);
    c.send('/a');
    await inside.promise;
    c.send('/b'); // pipelined: sent before the client saw any answer
    await new Promise((r) => setTimeout(r, 20)); // let it reach the server's parser
    const stopping = svc.stop();
    g.open();
    await stopping;
    await c.until(() => c.closed, 'the connection to close');
    const answered = c.responses().length;
    // Never "the handler ran and the client got EOF".
    assert.equal(handled, answered, `every handled request was answered (handled ${handled}, answered ${answered})`);
    assert.ok(c.data.includes('done /a'), 'the in-flight request was answered');
    // /b's response was complete (headers included) before stop(), so it could not change; the
    // connection then closes with a FIN, after every answer.
    assert.ok(c.gotFin && c.err === undefined, `closed by FIN after the answers (err ${c.err?.code})`);
  });
});

describe('5. a busy keep-alive client', () => {
  test('cannot hold the server open, and a 72 s keepAliveTimeout does not delay the close', async () => {
    const svc = await started(hello);
    (svc.server as http.Server).keepAliveTimeout = 72_000;
    const port = svc.port as number;
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 2, pipelining: 1 });
    let ok = 0;
    let running = true;
    const loops = [0, 1].map(async () => {
      while (running) {
        try {
          const r = await pool.request({ path: '/', method: 'GET' });
          const body = await r.body.text();
          assert.equal(body, 'hello\n', 'every response the client got is whole');
          ok++;
        } catch {
          return; // refused once the server closed: expected
        }
      }
    });
    while (ok < 50) await new Promise((r) => setImmediate(r));
    const t0 = performance.now();
    const report = await svc.stop();
    const took = performance.now() - t0;
    running = false;
    await Promise.all(loops);
    assert.ok(took < 200, `closed in ${took.toFixed(1)} ms despite the busy client`);
    assert.equal(report.graceful, true, 'graceful');
    await pool.destroy();
  });
});

describe('6. the close completes', () => {
  test('as soon as the last in-flight request ends, not at the deadline', async () => {
    const g = gate();
    const inside = gate();
    const svc = await started(
      async (_req, res) => {
        inside.open();
        await g.promise;
        res.end('done\n');
      },
      { shutdownTimeout: 5_000 },
    );
    const pool = new Pool(`http://127.0.0.1:${svc.port}`);
    const answer = pool.request({ path: '/', method: 'GET' }).then((r) => r.body.text());
    await inside.promise;
    const stopping = svc.stop();
    await new Promise((r) => setTimeout(r, 30));
    const released = performance.now();
    g.open();
    const report = await stopping;
    const after = performance.now() - released;
    assert.equal(await answer, 'done\n', 'answered');
    assert.ok(after < 20, `closed ${after.toFixed(1)} ms after the last response (limit 20)`);
    assert.ok(report.closeMs < 500, `closeMs ${report.closeMs}`);
    await pool.close();
  });
});

describe('7. a request outliving shutdownTimeout', () => {
  test('has its ctx cancelled, then its socket destroyed after forceGrace; the report names it', async () => {
    const inside = gate();
    let cancelledAt = 0;
    let ctxErr: unknown;
    let cause: unknown;
    const svc = await started(
      (_req, _res, ctx) => {
        inside.open();
        void ctx.done.then(() => {
          cancelledAt = performance.now();
          ctxErr = ctx.err;
          cause = ctx.cause;
        });
        // ignores its context: never answers
      },
      { shutdownTimeout: 150, forceGrace: 100 },
    );
    const c = await RawClient.connect(svc.port as number);
    c.sock.write('POST /upload?patient=P-0042 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    await inside.promise;
    const t0 = performance.now();
    const report = await svc.stop();
    const tEnd = performance.now();
    await c.until(() => c.closed, 'the socket to be destroyed');
    assert.ok(ctxErr instanceof DeadlineExceededError, `ctx.err is DeadlineExceededError (got ${String(ctxErr)})`);
    assert.ok(cause instanceof ShutdownDeadlineError, 'ctx.cause is ShutdownDeadlineError');
    assert.ok(cancelledAt - t0 >= 140 && cancelledAt - t0 < 220, `cancelled at shutdownTimeout (${(cancelledAt - t0).toFixed(1)} ms)`);
    assert.ok(tEnd - t0 >= 240 && tEnd - t0 < 400, `destroyed forceGrace later (${(tEnd - t0).toFixed(1)} ms)`);
    assert.equal(report.graceful, false, 'not graceful');
    assert.equal(report.forced.length, 1, 'one request forced');
    const f = report.forced[0];
    assert.equal(f?.method, 'POST', 'names the method');
    assert.equal(f?.url, '/upload', 'names the path, without the query string');
    assert.ok((f?.ms ?? 0) >= 140, `its age (${f?.ms})`);
    assert.equal(f?.answered, false, 'it was not answered');
    assert.equal(report.destroyedConnections, 1, 'its connection was destroyed');
  });

  test('a handler that answers when its ctx is cancelled is answered, still reported as forced', async () => {
    const inside = gate();
    const svc = await started(
      async (_req, res, ctx) => {
        inside.open();
        await ctx.done;
        res.writeHead(503).end('shutting down\n');
      },
      { shutdownTimeout: 50, forceGrace: 2_000 },
    );
    const c = await RawClient.connect(svc.port as number);
    c.send('/long');
    await inside.promise;
    const report = await svc.stop();
    assert.ok(report.closeMs < 500, `did not wait out forceGrace (${report.closeMs} ms)`);
    assert.equal(report.graceful, false, 'not graceful: it was cut');
    assert.equal(report.forced[0]?.answered, true, 'answered after cancellation');
    assert.equal(report.destroyedConnections, 0, 'nothing destroyed');
    await c.until(() => c.data.includes('shutting down'), 'the 503');
  });

  test("stop(ctx) keeps within ctx's deadline", async () => {
    const inside = gate();
    const svc = await started(() => inside.open(), { shutdownTimeout: 10_000, forceGrace: 50 });
    const c = await RawClient.connect(svc.port as number);
    c.send('/never');
    await inside.promise;
    const { ctx, cancel } = withCancel(background());
    const stopping = svc.stop(ctx);
    setTimeout(() => cancel(), 30);
    const report = await stopping;
    assert.ok(report.closeMs < 300, `cancelling stop's ctx cut the wait (${report.closeMs} ms)`);
    assert.equal(report.graceful, false, 'not graceful');
  });
});

describe('9. the request context', () => {
  test("the report-generation handler stops its work within a tick of the client disconnecting", async () => {
    // The seeds' story: a statistics report per protocol, five slow steps; the client gives up,
    // the server must stop generating it rather than finish for nobody.
    const stepsDone: number[] = [];
    const inside = gate();
    let stoppedBy: unknown;
    let closeSeen = 0;
    let stoppedAt = 0;
    const finished = gate();
    const svc = await started(async (req, res, ctx) => {
      res.on('close', () => (closeSeen = performance.now()));
      try {
        for (let step = 1; step <= 5; step++) {
          if (step === 2) inside.open();
          await sleep(ctx, 100);
          stepsDone.push(step);
        }
        res.end('report\n');
      } catch (e) {
        stoppedBy = e;
        stoppedAt = performance.now();
        assert.equal(requestContext(req), ctx, 'requestContext(req) is the same ctx');
      } finally {
        finished.open();
      }
    });
    const c = await RawClient.connect(svc.port as number);
    c.send('/protocols/P-7/report');
    await inside.promise;
    c.sock.destroy();
    await finished.promise;
    assert.ok(stoppedBy instanceof CanceledError, `stopped with CanceledError (got ${String(stoppedBy)})`);
    assert.ok((stoppedBy as Error).cause instanceof ClientDisconnectedError, 'the cause says the client left');
    assert.ok(stoppedAt - closeSeen < 5, `stopped within a tick of res 'close' (${(stoppedAt - closeSeen).toFixed(2)} ms)`);
    assert.ok(stepsDone.length <= 2, `no step ran after the disconnect (${stepsDone.join(',')})`);
    await svc.stop();
  });

  test('is never cancelled for a request that completed, and makes no AbortController unless read', async () => {
    const ctxs: Context[] = [];
    const svc = await started((_req, res, ctx) => {
      ctxs.push(ctx);
      res.end('ok\n');
    });
    const pool = new Pool(`http://127.0.0.1:${svc.port}`, { connections: 2 });
    for (let i = 0; i < 20; i++) await (await pool.request({ path: '/', method: 'GET' })).body.text();
    await pool.close(); // clients leave after their responses completed
    await svc.stop();
    assert.equal(ctxs.length, 20, 'twenty requests');
    for (const ctx of ctxs) {
      assert.equal(ctx.err, undefined, 'a completed request is never cancelled');
      // Test-only look at the internals: no AbortController, no extras were made.
      assert.equal((ctx as unknown as { _x: unknown })._x, undefined, 'no AbortController or extras allocated');
    }
  });

  test('is cancelled with the parent ctx (options.ctx, or the ctx given to start)', async () => {
    for (const via of ['options', 'start'] as const) {
      const { ctx: parent, cancel } = withCancel(background());
      const inside = gate();
      let reqCtx: Context | undefined;
      const svc = serve(
        async (_req, res, ctx) => {
          reqCtx = ctx;
          inside.open();
          await ctx.done;
          res.end('bye\n');
        },
        via === 'options' ? { host: '127.0.0.1', ctx: parent } : { host: '127.0.0.1' },
      );
      await svc.start(via === 'start' ? parent : undefined);
      const c = await RawClient.connect(svc.port as number);
      c.send('/');
      await inside.promise;
      cancel(new Error('app stopping'));
      assert.ok(reqCtx?.err instanceof CanceledError, `${via}: cancelled synchronously with the parent`);
      await c.until(() => c.data.endsWith('bye\n'), 'the answer');
      await svc.stop();
    }
  });

  test('with a cancelled handler-side signal: ctx.signal works when read', async () => {
    const aborted = gate();
    const svc = await started((_req, res, ctx) => {
      ctx.signal.addEventListener('abort', () => aborted.open());
      res.flushHeaders();
    });
    const c = await RawClient.connect(svc.port as number);
    c.send('/');
    await c.until(() => c.data.includes('200'), 'headers');
    c.sock.destroy();
    await aborted.promise;
    await svc.stop();
  });
});

describe('10. health endpoints', () => {
  test('/healthz 200 while alive; /readyz 200 when started, 503 from the first instant of drainBegin()', async () => {
    let handled = 0;
    const svc = serve(
      (_req, res) => {
        handled++;
        res.end('app\n');
      },
      { host: '127.0.0.1' },
    );
    assert.equal(svc.ready, false, 'not ready before start');
    await svc.start();
    const base = `http://127.0.0.1:${svc.port}`;
    const agent = new Agent();
    const get = async (p: string): Promise<number> => {
      const r = await agent.request({ origin: base, path: p, method: 'GET' });
      await r.body.text();
      return r.statusCode;
    };
    assert.equal(await get('/healthz'), 200, 'alive');
    assert.equal(await get('/readyz'), 200, 'ready');
    assert.equal(await get('/readyz?verbose=1'), 200, 'a query string is fine');
    svc.drainBegin();
    assert.equal(svc.ready, false, 'not ready at once');
    assert.equal(await get('/readyz'), 503, 'not ready from drainBegin()');
    assert.equal(await get('/healthz'), 200, 'still alive');
    assert.equal(await get('/other'), 200, 'still serving');
    assert.equal(handled, 1, 'probes never reach the handler');
    await agent.close();
    await svc.stop();
  });

  test('readyWhen checks add up: /readyz is 503 while one is false, throws, or returns a non-true value', async () => {
    const svc = await started(hello);
    const get = async (p: string): Promise<number> => {
      const r = await fetch(`http://127.0.0.1:${svc.port}${p}`);
      await r.text();
      return r.status;
    };
    let a = true;
    let b: unknown = true;
    svc.readyWhen(() => a);
    svc.readyWhen(() => {
      if (b instanceof Error) throw b;
      return b as boolean;
    });
    assert.equal(await get('/readyz'), 200);
    a = false;
    assert.equal(await get('/readyz'), 503, 'the first check is false');
    a = true;
    b = new Error('db pool gone');
    assert.equal(await get('/readyz'), 503, 'a check that throws means not ready, and the server survives');
    b = 1;
    assert.equal(await get('/readyz'), 503, 'only true is a yes');
    b = true;
    assert.equal(await get('/readyz'), 200);
    assert.equal(await get('/healthz'), 200);
    assert.throws(() => svc.readyWhen('yes' as never), { name: 'TypeError', message: /readyWhen needs a function/ });
    await svc.stop();
  });

  test('custom paths; health: false hands the paths to the handler', async () => {
    const svc = await started(hello, { health: { liveness: '/live', readiness: '/ready' } });
    const agent = new Agent();
    const get = async (s: HttpService, p: string): Promise<[number, string]> => {
      const r = await agent.request({ origin: `http://127.0.0.1:${s.port}`, path: p, method: 'GET' });
      return [r.statusCode, await r.body.text()];
    };
    assert.deepEqual(await get(svc, '/live'), [200, 'ok\n'], 'custom liveness');
    assert.deepEqual(await get(svc, '/ready'), [200, 'ready\n'], 'custom readiness');
    assert.deepEqual(await get(svc, '/healthz'), [200, 'hello\n'], 'the default path is the app');
    const off = await started(hello, { health: false });
    assert.deepEqual(await get(off, '/readyz'), [200, 'hello\n'], 'health: false');
    await agent.close();
    await Promise.all([svc.stop(), off.stop()]);
  });

  test('on a separate port: 503 there from stop(), and the main port does not answer probes', async () => {
    const inside = gate();
    const g = gate();
    const svc = await started(
      async (req, res) => {
        if (req.url === '/slow') {
          inside.open();
          await g.promise;
        }
        res.end('app\n');
      },
      { health: { port: 0 } },
    );
    const agent = new Agent();
    const status = async (port: number | undefined, p: string): Promise<number> => {
      const r = await agent.request({ origin: `http://127.0.0.1:${port}`, path: p, method: 'GET' });
      await r.body.text();
      return r.statusCode;
    };
    assert.notEqual(svc.healthPort, svc.port, 'a port of its own');
    assert.equal(await status(svc.healthPort, '/readyz'), 200, 'ready');
    assert.equal(await status(svc.healthPort, '/nope'), 404, 'only probes there');
    const slow = status(svc.port, '/slow');
    await inside.promise;
    const stopping = svc.stop();
    assert.equal(await status(svc.healthPort, '/readyz'), 503, 'not ready during the drain');
    assert.equal(await status(svc.healthPort, '/healthz'), 200, 'alive during the drain');
    g.open();
    assert.equal(await slow, 200, 'the in-flight request answered');
    await stopping;
    assert.equal(await tryConnect(svc.healthPort ?? 1), 'ECONNREFUSED', 'the health port is closed after stop');
    await agent.close();
  });
});

describe('serve() options and lifecycle', () => {
  test('bad options throw TypeError or RangeError naming the option', () => {
    assert.throws(() => serve(42 as unknown as Handler), TypeError);
    assert.throws(() => serve(hello, { port: 70_000 }), /port must be an integer from 0 to 65535 \(got 70000\)/);
    assert.throws(() => serve(hello, { port: -1 }), RangeError);
    assert.throws(() => serve(hello, { shutdownTimeout: -5 }), /shutdownTimeout.*got -5/);
    assert.throws(() => serve(hello, { forceGrace: NaN }), /forceGrace/);
    assert.throws(() => serve(hello, { idleCloseDelay: -1 }), /idleCloseDelay.*got -1/);
    assert.throws(() => serve(hello, { idleCloseDelay: 5_000 }), /idleCloseDelay must be at most 1000/);
    assert.throws(() => serve(hello, { health: { liveness: 'healthz' } }), /health.liveness/);
    assert.throws(() => serve(hello, { health: { readiness: '/x', liveness: '/x' } }), TypeError);
    assert.throws(() => serve(hello, { health: { port: 1.5 } }), /health.port/);
    assert.throws(() => serve(hello, { ctx: {} as Context }), /ctx must be a Context/);
    assert.throws(() => serve(hello, { shutdownTimout: 5 } as ServeOptions), /unknown option "shutdownTimout"/);
    assert.throws(() => serve(hello, { name: '' }), /name/);
  });

  test('start() twice rejects; stop() before start() resolves at once; stop() twice is one stop', async () => {
    const idle = serve(hello);
    const r = await idle.stop();
    assert.equal(r.graceful, true, 'nothing to drain');
    const svc = await started(hello);
    await assert.rejects(svc.start(), InvalidStateError);
    const a = svc.stop();
    assert.equal(svc.stop(), a, 'same promise');
    await a;
  });

  test('a handler that throws or rejects gets a 500 and onError is told', async () => {
    const errors: unknown[] = [];
    const svc = await started(
      async (req) => {
        if (req.url === '/sync') throw new Error('sync boom');
        await sleep(background(), 1);
        throw new Error('async boom');
      },
      { onError: (e) => errors.push(e) },
    );
    const pool = new Pool(`http://127.0.0.1:${svc.port}`);
    for (const p of ['/sync', '/async']) {
      const r = await pool.request({ path: p, method: 'GET' });
      await r.body.text();
      assert.equal(r.statusCode, 500, `${p}: 500`);
    }
    assert.deepEqual(errors.map((e) => (e as Error).message), ['sync boom', 'async boom'], 'onError got both');
    await pool.close();
    await svc.stop();
  });

  test('await using stops it', async () => {
    let port: number;
    {
      await using svc = await started(hello);
      port = svc.port as number;
    }
    assert.equal(await tryConnect(port), 'ECONNREFUSED', 'stopped on scope exit');
  });
});
