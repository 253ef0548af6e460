// corral/http with express, fastify and koa, each through its http.Server: a drain under
// keep-alive load completes promptly and serves the requests in flight.
import { test as nodeTest, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { Pool } from 'undici';
import { serve, requestContext, type AnyServer } from '../src/http/index.js';
import { gate, tryConnect, type Gate } from './helpers/http.js';

const test = (name: string, fn: () => unknown): void => {
  nodeTest(name, { timeout: 10_000 }, fn as () => Promise<void>);
};

/**
 * Five keep-alive clients loop on '/', one request waits in '/slow' when stop() begins. The slow
 * one is answered with Connection: close, the loops end with refused connections, the close is
 * prompt (whatever the framework's keepAliveTimeout), and no request the client sent got EOF
 * after reaching a handler.
 */
async function drainUnderLoad(server: AnyServer, g: Gate, inside: Gate, counts: { handled: number }): Promise<void> {
  const svc = serve(server, { host: '127.0.0.1', shutdownTimeout: 5_000 });
  await svc.start();
  const port = svc.port as number;
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 6 });
  let answered = 0;
  let running = true;
  const loops = Array.from({ length: 5 }, async () => {
    while (running) {
      try {
        const r = await pool.request({ path: '/', method: 'GET' });
        assert.equal(await r.body.text(), 'hi', 'whole body');
        answered++;
      } catch {
        return;
      }
    }
  });
  const slow = pool.request({ path: '/slow', method: 'GET' });
  await inside.promise;
  while (answered < 30) await new Promise((r) => setImmediate(r));
  const t0 = performance.now();
  const stopping = svc.stop();
  assert.equal(await tryConnect(port), 'ECONNREFUSED', 'refused once stopping');
  setTimeout(() => g.open(), 20);
  const r = await slow;
  assert.equal(await r.body.text(), 'slow done', 'the in-flight request is served');
  assert.equal(r.headers.connection, 'close', 'with Connection: close');
  const report = await stopping;
  const took = performance.now() - t0;
  running = false;
  await Promise.all(loops);
  assert.ok(took < 300, `closed ${took.toFixed(1)} ms after stop() (the slow request took 20)`);
  assert.equal(report.graceful, true, 'graceful');
  // Every request a handler saw was answered (+1: the slow one).
  assert.equal(counts.handled, answered + 1, `handled ${counts.handled}, answered ${answered + 1}`);
  await pool.destroy();
}

describe('adapters', () => {
  test('express', async () => {
    const g = gate();
    const inside = gate();
    const counts = { handled: 0 };
    const app = express();
    app.get('/', (_req, res) => {
      counts.handled++;
      res.send('hi');
    });
    app.get('/slow', async (req, res) => {
      counts.handled++;
      const ctx = requestContext(req);
      inside.open();
      await g.promise;
      res.send(ctx.err === undefined ? 'slow done' : 'cancelled');
    });
    await drainUnderLoad(http.createServer(app), g, inside, counts);
  });

  test('fastify, with its 72 s keepAliveTimeout', async () => {
    const g = gate();
    const inside = gate();
    const counts = { handled: 0 };
    const app = Fastify();
    app.get('/', async () => {
      counts.handled++;
      return 'hi';
    });
    app.get('/slow', async (request) => {
      counts.handled++;
      const ctx = requestContext(request.raw);
      inside.open();
      await g.promise;
      return ctx.err === undefined ? 'slow done' : 'cancelled';
    });
    await app.ready();
    assert.equal(app.server.keepAliveTimeout, 72_000, "fastify's default keepAliveTimeout");
    await drainUnderLoad(app.server, g, inside, counts);
  });

  test('koa', async () => {
    const g = gate();
    const inside = gate();
    const counts = { handled: 0 };
    const app = new Koa();
    app.use(async (kctx) => {
      counts.handled++;
      if (kctx.path === '/slow') {
        const ctx = requestContext(kctx.req);
        inside.open();
        await g.promise;
        kctx.body = ctx.err === undefined ? 'slow done' : 'cancelled';
      } else {
        kctx.body = 'hi';
      }
    });
    await drainUnderLoad(http.createServer(app.callback()), g, inside, counts);
  });
});
