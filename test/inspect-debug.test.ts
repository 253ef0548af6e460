// The debug endpoint on real sockets at 127.0.0.1: every page and format, the token, the limits,
// and the express and fastify mounts.
import { test, describe, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express from 'express';
import Fastify from 'fastify';
import { request } from 'undici';
import { background, withCancel, type Context } from '../src/index.js';
import { Group } from '../src/group.js';
import { App } from '../src/app/index.js';
import { debugHandler, isLoopback, startDebugServer, type DebugHandler, type DebugServer } from '../src/inspect/debug.js';
import { setRedaction } from '../src/inspect/redact.js';
import { METRICS_CONTENT_TYPE } from '../src/inspect/metrics.js';
import { Watchdog } from '../src/inspect/watchdog.js';

const TOKEN = 'k3WzL0vD9qRtY7uP2xNa';
const never = new Promise<never>(() => {});
const blocked = (ctx: Context): Promise<unknown> => Promise.race([never, ctx.done]);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  setRedaction(undefined);
  while (cleanups.length > 0) await cleanups.pop()?.();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on a connection of its own, closed after the answer (`reset`): no socket left behind. */
async function get(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const r = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, reset: true });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

async function server(options: Parameters<typeof startDebugServer>[0] = { port: 0 }): Promise<DebugServer> {
  const s = await startDebugServer(options);
  cleanups.push(() => s.close());
  return s;
}

function tasks(n: number, name: string): Group {
  const { ctx, cancel } = withCancel(background());
  const g = new Group(ctx, { name: `${name}-group` });
  for (let i = 0; i < n; i++) g.go(blocked, { name, labels: { study: 'PHQ-9', patientId: `P-${i}` } });
  cleanups.push(async () => {
    cancel();
    await g.wait().catch(() => {});
  });
  return g;
}

describe('startDebugServer', () => {
  test('listens on loopback and lists its pages at the prefix', async () => {
    const s = await server({ port: 0 });
    assert.equal(s.host, '127.0.0.1');
    assert.equal(s.url, `http://127.0.0.1:${s.port}/debug/corral/`);
    assert.equal((s.server.address() as AddressInfo).address, '127.0.0.1');
    const r = await get(s.url);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.match(r.body, /^corral debug endpoint, pid \d+\n/);
    for (const page of ['tasks', 'tasks?format=full', 'tasks?format=json', 'metrics', 'health']) assert.ok(r.body.includes(`GET /debug/corral/${page} `), `lists ${page}`);
    assert.ok(!r.body.includes('watchdog'), 'no watchdog page without a watchdog');
    const bare = await get(`http://127.0.0.1:${s.port}/debug/corral`);
    assert.equal(bare.body, r.body, 'the prefix without its slash shows the list too');
  });

  test('serves the dumps in every format, grouped by default, with limit', async () => {
    const g = tasks(3, 'his-sync');
    const s = await server({ port: 0 });
    const grouped = await get(`${s.url}tasks`);
    assert.equal(grouped.status, 200);
    assert.equal(grouped.headers['content-type'], 'text/plain; charset=utf-8');
    assert.match(grouped.body, /^corral: \d+ tasks? in \d+ groups?\n/);
    assert.match(grouped.body, /\n3 tasks "his-sync" \[running, oldest \d+m?s\]\n/);
    assert.match((await get(`${s.url}tasks?format=grouped`)).body, /\n3 tasks "his-sync" \[running, oldest \d+m?s\]\n/);
    const full = await get(`${s.url}tasks?format=full`);
    assert.match(full.body, new RegExp(`\\ntask \\d+ "his-sync" \\[running, \\d+m?s\\]\\n(.*\\n)*? {4}in group ${g.id} "his-sync-group"\\n`));
    const json = await get(`${s.url}tasks?format=json&limit=1`);
    assert.equal(json.headers['content-type'], 'application/json; charset=utf-8');
    const doc = JSON.parse(json.body) as { schema: string; tasks: unknown[]; counts: { tasks: number }; omitted: { tasks: number } };
    assert.equal(doc.schema, 'corral.dump/v1');
    assert.equal(doc.tasks.length, 1);
    assert.equal(doc.omitted.tasks, doc.counts.tasks - 1);
  });

  test('answers HEAD with the headers only, and refuses other methods with 405', async () => {
    const s = await server({ port: 0 });
    const head = await get(`${s.url}tasks`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.ok(Number(head.headers['content-length']) > 0, 'content-length of the GET answer');
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await get(`${s.url}tasks`, { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD');
      assert.equal(r.headers['cache-control'], 'no-store');
    }
  });

  test('bad query parameters get a 400 that names the problem', async () => {
    const s = await server({ port: 0 });
    const cases: [string, RegExp][] = [
      ['tasks?format=xml', /unknown format "xml"; use grouped, full or json/],
      ['tasks?colour=red', /unknown parameter "colour"; this page takes format, limit/],
      ['tasks?limit=ten', /limit must be an integer >= 1 \(got "ten"\)/],
      ['tasks?limit=0', /limit must be an integer >= 1/],
      ['tasks?limit=1.5', /limit must be an integer >= 1/],
      ['tasks?format=full&format=json', /parameter "format" given twice/],
      ['health?verbose=1', /unknown parameter "verbose" \(this page takes none\)/],
      ['?x=1', /unknown parameter "x"/],
      [`tasks?token=${TOKEN}`, /the token goes in the Authorization header/],
    ];
    for (const [path, reason] of cases) {
      const r = await get(`${s.url}${path}`);
      assert.equal(r.status, 400, path);
      assert.match(r.body, /^400 bad request: /);
      assert.match(r.body, reason, path);
      assert.equal(r.headers['cache-control'], 'no-store');
    }
  });

  test('an unknown page is a 404 that points at the list', async () => {
    const s = await server({ port: 0 });
    const r = await get(`${s.url}goroutines`);
    assert.equal(r.status, 404);
    assert.match(r.body, /no page "goroutines"; GET \/debug\/corral\/ lists them/);
    assert.equal((await get(`http://127.0.0.1:${s.port}/elsewhere`)).status, 404);
  });

  test('with a token, every page wants "Authorization: Bearer <token>"', async () => {
    const s = await server({ port: 0, token: TOKEN });
    for (const path of ['', 'tasks', 'health', 'metrics', 'nope']) {
      const none = await get(`${s.url}${path}`);
      assert.equal(none.status, 401, `${path}: no token`);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="corral debug"');
      assert.ok(!none.body.includes('corral:'), 'nothing of the dump');
    }
    for (const authorization of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, 'Bearer ', `Basic ${TOKEN}`, TOKEN]) {
      assert.equal((await get(`${s.url}tasks`, { headers: { authorization } })).status, 401, `refused: ${authorization}`);
    }
    assert.equal((await get(`${s.url}tasks`, { method: 'POST' })).status, 401, 'the token is checked before the method');
    const ok = await get(`${s.url}tasks`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^corral: /);
    assert.equal((await get(`${s.url}tasks`, { headers: { authorization: `bearer  ${TOKEN} ` } })).status, 200, 'scheme case and spaces');
  });

  test('the token is compared in constant time: timingSafeEqual over two SHA-256 digests, whatever the length sent', async () => {
    // debug.ts imports timingSafeEqual by name from node:crypto; syncBuiltinESMExports() makes that
    // binding see the spy. A plain === (which stops at the first byte that differs) would call it never.
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    cleanups.push(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });
    const s = await server({ port: 0, token: TOKEN });
    const sent = [`Bearer ${TOKEN}`, `Bearer ${TOKEN.slice(0, 3)}`, `Bearer ${TOKEN}${'x'.repeat(500)}`, `Bearer ${'k'.repeat(TOKEN.length)}`];
    const statuses: number[] = [];
    for (const authorization of sent) statuses.push((await get(`${s.url}tasks`, { headers: { authorization } })).status);
    assert.deepEqual(statuses, [200, 401, 401, 401]);
    const calls = spy.mock.calls.map((c) => c.arguments.map((b) => b.byteLength));
    assert.deepEqual(calls, sent.map(() => [32, 32]), 'one comparison per request, of equal-length digests');
    // A header without the Bearer scheme is refused before any comparison: nothing about the token to time.
    assert.equal((await get(`${s.url}tasks`, { headers: { authorization: `Basic ${TOKEN}` } })).status, 401);
    assert.equal(spy.mock.callCount(), sent.length);
  });

  test('a host that is not loopback listens once a token is given, and every page then wants it', async () => {
    const s = await server({ port: 0, host: '0.0.0.0', token: TOKEN });
    assert.equal((s.server.address() as AddressInfo).address, '0.0.0.0');
    assert.equal(s.url, `http://0.0.0.0:${s.port}/debug/corral/`);
    const local = `http://127.0.0.1:${s.port}/debug/corral/`;
    assert.equal((await get(`${local}tasks`)).status, 401, 'loopback clients need it too: the server cannot tell a proxy from a user');
    assert.equal((await get(`${local}tasks`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  });

  test('a host that is not loopback needs a token; a short token is refused', async () => {
    await assert.rejects(startDebugServer({ port: 0, host: '0.0.0.0' }), (e: unknown) => e instanceof TypeError && /host "0\.0\.0\.0" is not a loopback address, so token is required/.test(e.message));
    await assert.rejects(startDebugServer({ port: 0, host: '::' }), (e: unknown) => e instanceof TypeError && /token is required/.test(e.message));
    await assert.rejects(startDebugServer({ port: 0, token: 'short' }), (e: unknown) => e instanceof RangeError && /token must be at least 16 characters \(got 5\)/.test(e.message));
    await assert.rejects(startDebugServer({ port: 0, token: `${TOKEN} x` }), (e: unknown) => e instanceof RangeError && /token must not contain whitespace/.test(e.message));
    await assert.rejects(startDebugServer({ host: '127.0.0.1' } as never), (e: unknown) => e instanceof TypeError && /port must be an integer/.test(e.message));
    await assert.rejects(startDebugServer({ port: 0, verbose: true } as never), (e: unknown) => e instanceof TypeError && /unknown option "verbose"/.test(e.message));
    assert.throws(() => debugHandler({ maxBytes: 100 }), (e: unknown) => e instanceof RangeError && /maxBytes/.test(e.message));
    assert.throws(() => debugHandler({ prefix: 'debug' }), (e: unknown) => e instanceof TypeError && /prefix/.test(e.message));
    for (const host of ['127.0.0.1', '127.8.0.3', 'localhost', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.org', '::ffff:10.0.0.1', '128.0.0.1']) assert.equal(isLoopback(host), false, host);
  });

  test('answers over maxBytes: text is cut with a marker line, JSON is a 413', async () => {
    tasks(40, 'x'.repeat(60));
    const s = await server({ port: 0, maxBytes: 2048 });
    const full = await get(`${s.url}tasks?format=full`);
    assert.equal(full.status, 200);
    assert.ok(Buffer.byteLength(full.body) <= 2048, `within maxBytes (${Buffer.byteLength(full.body)})`);
    assert.match(full.body, /\n-- truncated at 2048 bytes: \d+ of \d+ tasks shown; ask for fewer \(limit\) or a narrower filter --\n$/);
    const json = await get(`${s.url}tasks?format=json`);
    assert.equal(json.status, 413);
    assert.match(json.body, /^413 the answer exceeds maxBytes \(2048\); ask for fewer rows \(limit=N\) or format=grouped\n$/);
    assert.equal((await get(`${s.url}tasks?format=json&limit=1`)).status, 200, 'fewer rows fit');
  });

  test('metrics over maxBytes are cut at a line, with a comment the Prometheus format accepts', async () => {
    const lines = Array.from({ length: 200 }, (_, i) => `app_queue_depth{queue="q${i}"} ${i}\n`).join('');
    const s = await server({ port: 0, maxBytes: 2048, metrics: () => `# TYPE app_queue_depth gauge\n${lines}` });
    const r = await get(`${s.url}metrics`);
    assert.equal(r.status, 200);
    assert.ok(Buffer.byteLength(r.body) <= 2048, `within maxBytes (${Buffer.byteLength(r.body)})`);
    assert.match(r.body, /\n# corral: truncated at 2048 bytes \(maxBytes\)\n$/);
    const kept = r.body.split('\n').slice(0, -2);
    assert.ok(kept.length > 10, `most of what fits is kept (${kept.length} lines)`);
    for (const line of kept) assert.match(line, /^(# TYPE app_queue_depth gauge|app_queue_depth\{queue="q\d+"\} \d+)$/, 'only whole lines');
    const small = await server({ port: 0, maxBytes: 2048, metrics: () => 'x 1\n' });
    assert.equal((await get(`${small.url}metrics`)).body, 'x 1\n', 'what fits is untouched');
  });

  test('the JSON pages over maxBytes are a 413, never a cut document', async () => {
    const alerts = Array.from({ length: 50 }, (_, i) => ({ rule: 'stuck', severity: 'warning', message: `alert ${i} ${'x'.repeat(60)}`, at: i }));
    const s = await server({ port: 0, maxBytes: 2048, watchdog: { alerts: () => alerts } });
    const r = await get(`${s.url}watchdog`);
    assert.equal(r.status, 413);
    assert.match(r.body, /^413 the answer exceeds maxBytes \(2048\)/);
    assert.equal((await get(`${s.url}health`)).status, 200, 'a page that fits is served');
  });

  test('metrics: corral metricsText() by default, or the function given, or none', async () => {
    const s = await server({ port: 0 });
    const m = await get(`${s.url}metrics`);
    assert.equal(m.status, 200);
    assert.equal(m.headers['content-type'], METRICS_CONTENT_TYPE);
    assert.match(m.body, /^# HELP corral_/m);
    assert.match(m.body, /^corral_groups_live \d+$/m);
    const stub = await server({ port: 0, metrics: async () => 'app_requests_total 7\n' });
    assert.equal((await get(`${stub.url}metrics`)).body, 'app_requests_total 7\n');
    const sync = await server({ port: 0, metrics: () => 'x 1\n' });
    assert.equal((await get(`${sync.url}metrics`)).body, 'x 1\n');
    const off = await server({ port: 0, metrics: false });
    assert.equal((await get(`${off.url}metrics`)).status, 404);
    assert.ok(!(await get(off.url)).body.includes('metrics'), 'not listed');
  });

  test('a failing page is a 500 that holds no error text; the error goes to the warnings', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const s = await server({ port: 0, metrics: () => Promise.reject(new Error('patient P-0042 not found')) });
    const r = await get(`${s.url}metrics`);
    assert.equal(r.status, 500);
    assert.equal(r.body, '500 internal error: metrics failed; see the process\'s warnings\n');
    while (warnings.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.match(warnings[0]?.message ?? '', /corral debug endpoint: metrics failed: Error: patient P-0042 not found/);
    assert.equal((warnings[0] as Error & { code?: string }).code, 'CORRAL_DEBUG_ERROR');
  });

  test('health: the process when no app is given, with the live counts', async () => {
    const s = await server({ port: 0 });
    const r = await get(`${s.url}health`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    const h = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(h.state, 'ready');
    assert.equal(h.healthy, true);
    assert.equal(h.pid, process.pid);
    assert.deepEqual(Object.keys(h.live as object), ['tasks', 'groups']);
    assert.equal(typeof h.uptimeMs, 'number');
  });

  test("health with an App: the app's health(), and 503 while it is unhealthy", async () => {
    const app = new App({ name: 'epro', logger: false });
    app.add({ name: 'db', start: () => {}, stop: () => {} });
    await app.start();
    cleanups.push(() => app.stop());
    const s = await server({ port: 0, app });
    const ok = JSON.parse((await get(`${s.url}health`)).body) as Record<string, unknown>;
    assert.deepEqual({ state: ok.state, healthy: ok.healthy, ready: ok.ready, reasons: ok.reasons }, { state: 'ready', healthy: true, ready: true, reasons: [] });
    app.markUnhealthy('event loop blocked 6000 ms');
    const bad = await get(`${s.url}health`);
    assert.equal(bad.status, 503);
    const h = JSON.parse(bad.body) as { healthy: boolean; reasons: string[]; live: { tasks: number } };
    assert.equal(h.healthy, false);
    assert.deepEqual(h.reasons, ['event loop blocked 6000 ms']);
    assert.equal(typeof h.live.tasks, 'number');
  });

  test("watchdog: its alerts and status as JSON; a 404 without one", async () => {
    const none = await server({ port: 0 });
    assert.equal((await get(`${none.url}watchdog`)).status, 404);
    const alert = { rule: 'liveTasks', severity: 'warning', message: '12,000 tasks "validate-terms"', at: 1 };
    const stub = await server({ port: 0, watchdog: { alerts: () => [alert], status: () => ({ running: true }) } });
    assert.match((await get(stub.url)).body, /GET \/debug\/corral\/watchdog /);
    const r = await get(`${stub.url}watchdog`);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { alerts: [alert], status: { running: true } });
    const bare = await server({ port: 0, watchdog: { alerts: () => [] } });
    assert.deepEqual(JSON.parse((await get(`${bare.url}watchdog`)).body), { alerts: [], status: null });
    const real = new Watchdog({ onAlert: () => {} });
    const w = await server({ port: 0, watchdog: real });
    const doc = JSON.parse((await get(`${w.url}watchdog`)).body) as { alerts: unknown[]; status: { running: boolean } };
    assert.deepEqual(doc.alerts, []);
    assert.equal(doc.status.running, false);
  });

  test('labels in the dumps pass through the redaction: the process-wide one, or the endpoint\'s own', async () => {
    const g = tasks(1, 'intake');
    setRedaction((key, value) => (key === 'study' ? value : undefined));
    const s = await server({ port: 0 });
    const full = (await get(`${s.url}tasks?format=full`)).body;
    const mine = full.split('\n\n').find((b) => b.includes(`in group ${g.id} `)) ?? '';
    assert.match(mine, /labels: study="PHQ-9"\n/);
    assert.ok(!full.includes('P-0'), 'patientId dropped');
    const own = await server({ port: 0, redact: (_k, v) => v.replace(/\d/g, '#') });
    assert.match((await get(`${own.url}tasks?format=full`)).body, /labels: study="PHQ-#" patientId="P-#"/);
  });

  test('is an App service: the app closes it on shutdown', async () => {
    const s = await startDebugServer({ port: 0, name: 'debug' });
    const app = new App({ name: 'epro', logger: false });
    app.add(s);
    await app.start();
    assert.equal((await get(`${s.url}health`)).status, 200);
    const report = await app.stop();
    assert.ok(report !== undefined, 'stopped');
    assert.equal(s.server.listening, false);
    await assert.rejects(get(`${s.url}health`), (e: unknown) => (e as { code?: string }).code === 'ECONNREFUSED');
    await s.close(); // idempotent
  });

  test('close() lets an answer in flight finish, then resolves', async () => {
    let release!: () => void;
    const held = new Promise<string>((r) => (release = () => r('slow 1\n')));
    const s = await startDebugServer({ port: 0, metrics: () => held });
    const inflight = get(`${s.url}metrics`);
    // Wait until the request reached the handler: the server has a connection.
    while ((await new Promise<number>((r) => s.server.getConnections((_e, n) => r(n)))) === 0) await new Promise((r) => setImmediate(r));
    const closing = s.close();
    release();
    assert.equal((await inflight).body, 'slow 1\n');
    await closing;
    assert.equal(s.server.listening, false);
  });
});

describe('debugHandler in frameworks', () => {
  async function listen(srv: http.Server): Promise<number> {
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    return (srv.address() as AddressInfo).port;
  }

  test('node:http: paths outside the prefix go to next()', async () => {
    const debug: DebugHandler = debugHandler({ prefix: '/admin/debug' });
    const port = await listen(http.createServer((req, res) => debug(req, res, () => res.end('app\n'))));
    assert.equal((await get(`http://127.0.0.1:${port}/questionnaires`)).body, 'app\n');
    assert.match((await get(`http://127.0.0.1:${port}/admin/debug/tasks`)).body, /^corral: /);
    assert.match((await get(`http://127.0.0.1:${port}/admin/debug`)).body, /GET \/admin\/debug\/tasks /);
  });

  test('express: app.use(handler) serves the pages and passes every other path on', async () => {
    const app = express();
    app.use(debugHandler({ token: TOKEN }));
    app.get('/questionnaires', (_req, res) => {
      res.send('forms\n');
    });
    const port = await listen(http.createServer(app));
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await get(`${base}/questionnaires`)).body, 'forms\n', 'the app still answers');
    assert.equal((await get(`${base}/debug/corral/tasks`)).status, 401);
    const r = await get(`${base}/debug/corral/tasks?format=json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { schema: string }).schema, 'corral.dump/v1');
    assert.equal((await get(`${base}/debug/corral/tasks?format=bad`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 400);
    assert.equal((await get(`${base}/debug/corral/tasks`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 405);
  });

  test('express: mounted under a path, the pages move under it', async () => {
    const app = express();
    app.use('/admin', debugHandler());
    app.get('/admin/other', (_req, res) => {
      res.send('other\n');
    });
    const port = await listen(http.createServer(app));
    assert.match((await get(`http://127.0.0.1:${port}/admin/debug/corral/tasks`)).body, /^corral: /);
    assert.equal((await get(`http://127.0.0.1:${port}/admin/other`)).body, 'other\n');
    assert.equal((await get(`http://127.0.0.1:${port}/debug/corral/tasks`)).status, 404, 'not at the root');
  });

  test('fastify: a hijacked catch-all route under the prefix', async () => {
    const fastify = Fastify();
    const debug = debugHandler({ token: TOKEN });
    fastify.all('/debug/corral/*', (req, reply) => {
      reply.hijack();
      debug(req.raw, reply.raw);
    });
    fastify.get('/questionnaires', async () => 'forms\n');
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => fastify.close());
    const port = (fastify.server.address() as AddressInfo).port;
    const base = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    assert.equal((await get(`${base}/questionnaires`)).body, 'forms\n');
    assert.equal((await get(`${base}/debug/corral/tasks`)).status, 401);
    const grouped = await get(`${base}/debug/corral/tasks`, { headers: auth });
    assert.equal(grouped.status, 200);
    assert.match(grouped.body, /^corral: /);
    assert.match((await get(`${base}/debug/corral/`, { headers: auth })).body, /^corral debug endpoint/);
    assert.equal((await get(`${base}/debug/corral/health`, { headers: auth })).status, 200);
    assert.equal((await get(`${base}/debug/corral/tasks?limit=x`, { headers: auth })).status, 400);
    assert.equal((await get(`${base}/debug/corral/tasks`, { method: 'DELETE', headers: auth })).status, 405);
    const head = await get(`${base}/debug/corral/tasks`, { method: 'HEAD', headers: auth });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });
});

describe('startDebugServer: nothing listens unless called', () => {
  test('importing corral/inspect opens no port, installs no signal listener, and keeps nothing alive', async () => {
    // In a fresh process: this file imported the module long before any test ran.
    const entry = fileURLToPath(new URL('../src/inspect/index.ts', import.meta.url));
    const code = [
      `const signals = ['SIGUSR2', 'SIGUSR1', 'SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s));`,
      `const m = await import(${JSON.stringify(entry)});`,
      `const net = await import('node:net');`,
      `const servers = process._getActiveHandles().filter((h) => h instanceof net.Server).length;`,
      `const after = ['SIGUSR2', 'SIGUSR1', 'SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s));`,
      `console.log(JSON.stringify({ exports: typeof m.startDebugServer, servers, same: JSON.stringify(signals) === JSON.stringify(after) }));`,
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const exit = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(killer);
    assert.equal(exit, 0, `the process exits by itself once the import is done: ${err}`);
    assert.deepEqual(JSON.parse(out), { exports: 'function', servers: 0, same: true });
  });
});
