// corral/http over TLS and HTTP/2: TLS sockets tracked (a client stuck mid-handshake included),
// HTTP/2 sessions drained with GOAWAY.
import { test as nodeTest, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import http2 from 'node:http2';
import { Agent } from 'undici';
import { serve, requestContext } from '../src/http/index.js';
import { gate, tryConnect } from './helpers/http.js';
import net from 'node:net';

const test = (name: string, fn: () => unknown): void => {
  nodeTest(name, { timeout: 10_000 }, fn as () => Promise<void>);
};

let key: Buffer | undefined;
let cert: Buffer | undefined;
let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'corral-http-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    key = readFileSync(join(dir, 'k.pem'));
    cert = readFileSync(join(dir, 'c.pem'));
  } catch {
    console.error('\n*** openssl not found: the HTTPS and secure HTTP/2 tests are SKIPPED ***\n');
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const tlsTest = (name: string, fn: () => unknown): void => {
  test(name, () => (key === undefined ? undefined : fn()));
};

describe('8. HTTPS', () => {
  tlsTest('drains TLS keep-alive connections, answers in-flight requests, and closes a client stuck mid-handshake', async () => {
    const g = gate();
    const inside = gate();
    const server = https.createServer({ key, cert }, async (req, res) => {
      const ctx = requestContext(req);
      if (req.url === '/slow') {
        inside.open();
        await g.promise;
      }
      res.end(ctx.err === undefined ? 'done\n' : 'cancelled\n');
    });
    const svc = serve(server, { host: '127.0.0.1', shutdownTimeout: 2_000 });
    await svc.start();
    const agent = new Agent({ connect: { rejectUnauthorized: false }, connections: 4 });
    const origin = `https://127.0.0.1:${svc.port}`;
    for (let i = 0; i < 3; i++) await (await agent.request({ origin, path: '/', method: 'GET' })).body.text();
    const slow = agent.request({ origin, path: '/slow', method: 'GET' });
    await inside.promise;
    // A TCP client that never starts its TLS handshake.
    const stuck = net.connect(svc.port as number, '127.0.0.1');
    await new Promise((r) => stuck.once('connect', r));
    await new Promise((r) => setImmediate(r));
    const stuckClosed = new Promise<void>((r) => stuck.once('close', () => r()));
    stuck.on('error', () => {});
    assert.ok(svc.stats().connections >= 2, `the TLS and the stuck connections are tracked (${svc.stats().connections})`);
    const stopping = svc.stop();
    assert.equal(await tryConnect(svc.port as number), 'ECONNREFUSED', 'new connections refused');
    g.open();
    const r = await slow;
    assert.equal(await r.body.text(), 'done\n', 'in-flight answered');
    assert.equal(r.headers.connection, 'close', 'with Connection: close');
    const report = await stopping;
    await stuckClosed;
    assert.equal(report.graceful, true, 'graceful');
    assert.ok(report.closeMs < 500, `closed promptly (${report.closeMs} ms)`);
    await agent.close();
  });
});

function h2get(client: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = client.request({ ':path': path });
    let status = 0;
    let body = '';
    s.on('response', (h) => (status = Number(h[':status'])));
    s.setEncoding('utf8');
    s.on('data', (d: string) => (body += d));
    s.on('end', () => resolve({ status, body }));
    s.on('error', reject);
  });
}

for (const secure of [false, true]) {
  describe(`8. HTTP/2${secure ? ' over TLS' : ' cleartext'}`, () => {
    const t = secure ? tlsTest : test;
    t('sessions get GOAWAY, in-flight streams complete, new streams fail, no hang', async () => {
      const g = gate();
      const inside = gate();
      const handler = async (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): Promise<void> => {
        const ctx = requestContext(req);
        if (req.url === '/slow') {
          inside.open();
          await g.promise;
        }
        res.end(ctx.err === undefined ? 'done\n' : 'cancelled\n');
      };
      const server = secure ? http2.createSecureServer({ key, cert }, handler) : http2.createServer(handler);
      const svc = serve(server, { host: '127.0.0.1' });
      await svc.start();
      const url = `${secure ? 'https' : 'http'}://127.0.0.1:${svc.port}`;
      const busy = http2.connect(url, { rejectUnauthorized: false });
      const idle = http2.connect(url, { rejectUnauthorized: false });
      assert.deepEqual(await h2get(idle, '/'), { status: 200, body: 'done\n' }, 'served');
      assert.deepEqual(await h2get(busy, '/health-of-app'), { status: 200, body: 'done\n' }, 'served');
      const goaway = new Promise<void>((r) => busy.once('goaway', () => r()));
      const idleClosed = new Promise<void>((r) => idle.once('close', () => r()));
      const slow = h2get(busy, '/slow');
      await inside.promise;
      const stopping = svc.stop();
      await goaway;
      await idleClosed; // an idle session closes at once
      // A new stream on a session that got GOAWAY fails; it never reaches a handler.
      const late = await h2get(busy, '/late').then(
        () => 'served',
        (e: NodeJS.ErrnoException) => e.code ?? 'error',
      );
      assert.notEqual(late, 'served', 'a new stream after GOAWAY is not served');
      g.open();
      assert.deepEqual(await slow, { status: 200, body: 'done\n' }, 'the in-flight stream completes');
      const report = await stopping;
      assert.equal(report.graceful, true, 'graceful');
      assert.ok(report.closeMs < 1_000, `no hang (${report.closeMs} ms)`);
      busy.destroy();
      idle.destroy();
    });

    t('a stream outliving shutdownTimeout is cancelled, then its session destroyed', async () => {
      const inside = gate();
      const handler = (req: http2.Http2ServerRequest): void => {
        void req;
        inside.open(); // never answers
      };
      const server = secure ? http2.createSecureServer({ key, cert }, handler) : http2.createServer(handler);
      const svc = serve(server, { host: '127.0.0.1', shutdownTimeout: 50, forceGrace: 50 });
      await svc.start();
      const client = http2.connect(`${secure ? 'https' : 'http'}://127.0.0.1:${svc.port}`, { rejectUnauthorized: false });
      client.on('error', () => {});
      const s = client.request({ ':path': '/never?x=1' });
      s.on('error', () => {});
      await inside.promise;
      const report = await svc.stop();
      assert.equal(report.graceful, false, 'not graceful');
      assert.equal(report.forced[0]?.url, '/never', 'names the stream');
      assert.ok(report.closeMs < 500, `within the deadline (${report.closeMs} ms)`);
      client.destroy();
    });
  });
}
