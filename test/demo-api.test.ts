// The ePRO demo's API end to end: one demo process (real sockets, loopback), a keep-alive client,
// and the database read back. Also the process's startup errors and flags.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startTerminologySim, type TerminologySim } from '../demo/src/terminology-sim.js';
import { Client, delay, readDb, startDemo, statusCounts, taskNames, tempDir, until, type DemoProcess } from '../demo/testing/harness.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const PHQ9 = { patientId: 'P-0001', formId: 'phq-9', answers: { q1: 1, q2: 2, q3: 1, q4: 0, q5: 1, q6: 0, q7: 1, q8: 0, q9: 1 }, symptoms: [' Headache ', 'tired', 'headache', 'gibberish'] };

describe('the ePRO demo API', () => {
  const dir = tempDir('api');
  const db = join(dir.path, 'epro.sqlite');
  let demo: DemoProcess;
  let client: Client;
  // The terminology service in this process, switched between answering, failing and hanging.
  let sim: TerminologySim;

  before(async () => {
    sim = await startTerminologySim({ latencyMs: 5 });
    demo = await startDemo(
      ['--db', db, '--debug-port', '0', '--terminology-url', sim.url, '--call-timeout', '2s', '--max-attempts', '3', '--retry-base', '20ms',
        '--report-step', '30s', '--max-body', '4096'],
      { verbose: true },
    );
    client = new Client(demo.port, 2);
  });

  after(async () => {
    client?.close();
    demo?.kill('SIGTERM');
    const exit = await demo?.exited;
    await sim?.close();
    dir.dispose();
    assert.equal(exit?.code, 0, `the demo exits 0 after SIGTERM\n${demo?.stderr}`);
  });

  test('a valid submission is answered 202 with its id once stored, then processed and scored', async () => {
    const r = await client.request('POST', '/submissions', PHQ9, { 'idempotency-key': 'api-1' });
    assert.equal(r.kind, 'answer');
    if (r.kind !== 'answer') return;
    assert.equal(r.status, 202);
    assert.equal(typeof r.body.id, 'number');
    assert.equal(r.headers.location, `/submissions/${r.body.id}`);
    // Committed before the answer: the row is there the instant the client has its 202.
    assert.ok(readDb(db).submissions.some((s) => s.id === r.body.id && s.key === 'api-1'), 'the row is committed when the 202 arrives');
    let status: any;
    await until(async () => {
      const s = await client.request('GET', `/submissions/${r.body.id}`);
      status = s.kind === 'answer' ? s.body : undefined;
      return status?.status === 'processed';
    }, 'the submission to be processed');
    assert.equal(status.score, 7);
    assert.equal(status.severity, 'mild');
    assert.deepEqual(status.flags, ['phq-9 item 9 positive: clinician review', '1 symptom term(s) not recognised by the terminology service']);
    assert.ok(!JSON.stringify(status).includes('P-0001'), 'the status carries no patient identifier');
  });

  test('the 202 waits for the commit: while another connection holds the write lock, no answer comes', async () => {
    // Another writer holds the database for 500 ms (less than the demo's 5 s busy timeout). A 202
    // sent before the commit would arrive during that time; one sent after it cannot.
    const lock = new Database(db);
    let answeredAt = 0;
    let answer: ReturnType<Client['request']>;
    try {
      lock.exec('BEGIN IMMEDIATE');
      answer = client.request('POST', '/submissions', PHQ9, { 'idempotency-key': 'api-lock' }).then((o) => {
        answeredAt = performance.now();
        return o;
      });
      await delay(500);
      assert.equal(answeredAt, 0, 'no answer while the row could not be committed');
      assert.ok(!readDb(db).submissions.some((r) => r.key === 'api-lock'), 'nothing committed yet');
    } finally {
      lock.exec('COMMIT');
      lock.close();
    }
    const releasedAt = performance.now();
    const r = await answer;
    assert.ok(r.kind === 'answer' && r.status === 202, `answered 202 once the lock went (${JSON.stringify(r)})`);
    assert.ok(answeredAt >= releasedAt, 'the answer came after the lock was released');
    assert.ok(readDb(db).submissions.some((row) => r.kind === 'answer' && row.id === r.body.id && row.key === 'api-lock'), 'and its row is there');
  });

  test('a retry with the same Idempotency-Key answers the same id and stores nothing new', async () => {
    const first = await client.request('POST', '/submissions', PHQ9, { 'idempotency-key': 'api-2' });
    const before = readDb(db).submissions.length;
    const again = await client.request('POST', '/submissions', { ...PHQ9, answers: { ...PHQ9.answers } }, { 'idempotency-key': 'api-2' });
    assert.ok(first.kind === 'answer' && again.kind === 'answer', 'both answered');
    if (first.kind !== 'answer' || again.kind !== 'answer') return;
    assert.equal(again.status, 202);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(readDb(db).submissions.length, before);
  });

  test('the same Idempotency-Key with other answers is refused with 422, never overwritten', async () => {
    await client.request('POST', '/submissions', PHQ9, { 'idempotency-key': 'api-3' });
    const other = await client.request('POST', '/submissions', { ...PHQ9, answers: { ...PHQ9.answers, q1: 3 } }, { 'idempotency-key': 'api-3' });
    assert.equal(other.kind === 'answer' && other.status, 422);
  });

  test('an invalid submission is a 400 naming every bad field, and nothing is stored', async () => {
    const before = readDb(db).submissions.length;
    const r = await client.request('POST', '/submissions', {
      patientId: '',
      formId: 'gad-7',
      answers: { q1: 4, q2: 1.5, q3: 0, q4: 0, q5: 0, q6: 0, extra: 1 },
      symptoms: ['ok', 7],
      comment: 'x',
    });
    assert.ok(r.kind === 'answer' && r.status === 400, 'a 400');
    if (r.kind !== 'answer') return;
    assert.deepEqual(Object.keys(r.body.fields).sort(), ['answers.extra', 'answers.q1', 'answers.q2', 'answers.q7', 'comment', 'patientId', 'symptoms[1]']);
    assert.equal(readDb(db).submissions.length, before);
  });

  test('malformed JSON is a 400, and the keep-alive connection serves the next request', async () => {
    const one = new Client(demo.port, 1);
    try {
      const r = await one.request('POST', '/submissions', '{"patientId": "P-1", ');
      assert.ok(r.kind === 'answer' && r.status === 400, 'a 400');
      if (r.kind === 'answer') assert.equal(r.body.error, 'malformed JSON');
      const next = await one.request('GET', '/readyz');
      assert.ok(next.kind === 'answer' && next.status === 200, 'the same connection is still served');
    } finally {
      one.close();
    }
  });

  test('a body over the limit is a 413, whether declared or streamed, and the server keeps serving', async () => {
    const big = JSON.stringify({ ...PHQ9, symptoms: Array.from({ length: 20 }, () => 'x'.repeat(100)), pad: 'y'.repeat(10_000) });
    const declared = await client.request('POST', '/submissions', big);
    assert.ok(declared.kind === 'answer' && declared.status === 413, `declared: ${JSON.stringify(declared)}`);
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: demo.port, path: '/submissions', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('z'.repeat(1_000)); // chunked: no Content-Length
      req.end();
    });
    assert.equal(streamed, 413);
    const after = await client.request('GET', '/healthz');
    assert.ok(after.kind === 'answer' && after.status === 200, 'still serving');
  });

  test('unknown ids, forms and paths are 404s; a wrong method is a 405', async () => {
    const r1 = await client.request('GET', '/submissions/999999');
    const r2 = await client.request('GET', '/reports/no-such-form');
    const r3 = await client.request('GET', '/nowhere');
    const r4 = await client.request('GET', '/submissions');
    assert.deepEqual(
      [r1, r2, r3, r4].map((r) => (r.kind === 'answer' ? r.status : r.code)),
      [404, 404, 404, 405],
    );
  });

  test('GET /submissions/:id tells pending, processed and failed apart, with the attempts made', async () => {
    await until(() => statusCounts(db).pending === 0, 'the earlier submissions to be processed');
    const get = async (id: number): Promise<any> => {
      const s = await client.request('GET', `/submissions/${id}`);
      assert.ok(s.kind === 'answer' && s.status === 200, `status answered (${JSON.stringify(s)})`);
      return s.kind === 'answer' ? s.body : undefined;
    };
    // Its call hangs (and times out after 2 s): pending, nothing scored yet.
    sim.set({ hangRate: 1 });
    const r = await client.request('POST', '/submissions', { ...PHQ9, patientId: 'P-0002' }, { 'idempotency-key': 'api-status' });
    assert.ok(r.kind === 'answer' && r.status === 202, 'a 202');
    if (r.kind !== 'answer') return;
    try {
      await until(() => sim.stats().hanging === 1, 'its terminology call to hang', 5_000, 10);
      const pending = await get(r.body.id);
      assert.deepEqual(
        [pending.status, pending.score, pending.severity, pending.processedAt],
        ['pending', null, null, null],
        `pending while its call hangs (${JSON.stringify(pending)})`,
      );
      // Then the service fails every call: the timed-out call and two 503s are its 3 attempts.
      sim.set({ hangRate: 0, errorRate: 1 });
      let failed: any;
      await until(async () => (failed = await get(r.body.id)).status !== 'pending', 'the submission to leave pending', 15_000, 50);
      assert.deepEqual(
        [failed.status, failed.attempts, failed.score, failed.severity, typeof failed.processedAt],
        ['failed', 3, null, null, 'string'],
        `failed after --max-attempts 3 (${JSON.stringify(failed)})`,
      );
      assert.ok(!JSON.stringify(failed).includes('P-0002'), 'the status carries no patient identifier');
    } finally {
      sim.set({ hangRate: 0, errorRate: 0 });
    }
  });

  test('liveness and readiness answer 200 while the service runs', async () => {
    const live = await client.request('GET', '/healthz');
    const ready = await client.request('GET', '/readyz');
    assert.ok(live.kind === 'answer' && live.status === 200, 'healthz 200');
    assert.ok(ready.kind === 'answer' && ready.status === 200 && ready.body.state === 'ready', 'readyz 200');
    if (ready.kind === 'answer') assert.deepEqual([ready.body.reasons, ready.body.notReady], [[], []], 'no reason stands');
  });

  test("a client disconnecting from a report stops the report's work: its tasks are gone at once", async () => {
    const debugUrl = demo.debugUrl as string;
    const sections = async (): Promise<number> => (await taskNames(debugUrl)).filter((n) => n === 'report section').length;
    assert.equal(await sections(), 0);
    const before = (await taskNames(debugUrl)).sort();
    // Each report step lasts 30 s here: the tasks can only be gone early if the disconnect cancelled them.
    const sock = net.connect(demo.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /reports/phq-9 HTTP/1.1\r\nHost: x\r\n\r\n');
    await demo.waitFor(/report phq-9 started/, 5_000);
    assert.equal(await sections(), 4, 'the report runs its four sections as tasks');
    sock.destroy();
    // The demo measures from the request context's cancellation to the last section settled.
    const m = await demo.waitFor(/report phq-9 stopped ([\d.]+) ms after its client disconnected/, 5_000);
    assert.equal(await sections(), 0, 'the report sections are gone');
    assert.deepEqual((await taskNames(debugUrl)).sort(), before, 'the task count dropped back to what it was before the report');
    // A tick, measured in the demo: ~0.3 ms. The bound leaves room for a loaded machine and is
    // still 30 times shorter than the step that had just begun.
    assert.ok(Number(m[1]) < 1_000, `the sections stopped ${m[1]} ms after the disconnect, long before a step could end`);
  });
});

describe('the ePRO demo process', () => {
  test('embedded defaults: the simulators start inside, its flags reach them, and the debug endpoint serves metrics on 127.0.0.1', async () => {
    const dir = tempDir('embedded');
    const db = join(dir.path, 'e.sqlite');
    // Only the simulated terminology's flags: every call fails (or, 1% of them, hangs until the 2 s
    // call timeout), so with one attempt allowed the submission is failed either way.
    const d = await startDemo(['--db', db, '--debug-port', '0', '--terminology-latency', '5ms', '--terminology-error-rate', '1', '--max-attempts', '1'], { verbose: true });
    const c = new Client(d.port, 1);
    try {
      assert.match(d.stdout, /terminology service: http:\/\/127\.0\.0\.1:\d+ \(simulated: ~5 ms, 100% errors, 1% never answer\)/);
      assert.match(d.stdout, /hospital system \(HIS\): http:\/\/127\.0\.0\.1:\d+ \(simulated\), synced every 3600 s/);
      assert.ok(d.debugUrl?.startsWith('http://127.0.0.1:'), `the debug endpoint is on loopback (${d.debugUrl})`);
      const r = await c.request('POST', '/submissions', PHQ9);
      assert.ok(r.kind === 'answer' && r.status === 202, `a 202 (${JSON.stringify(r)})`);
      await until(() => statusCounts(db).failed === 1, 'the submission to fail on the simulated 503', 10_000);
      const metrics = await (await fetch(`${d.debugUrl}/metrics`)).text();
      for (const m of ['epro_submissions{status="failed"} 1', 'corral_tasks_live{', 'process_resident_memory_bytes', 'epro_http_connections']) {
        assert.ok(metrics.includes(m), `/metrics has ${m}`);
      }
    } finally {
      c.close();
      d.kill('SIGTERM');
      const exit = await d.exited;
      dir.dispose();
      assert.equal(exit.code, 0, d.stderr);
    }
  });

  test('--help lists the options with their defaults and exits 0', async () => {
    const d = await startDemo(['--help'], { expectListen: false });
    const exit = await d.exited;
    assert.equal(exit.code, 0);
    for (const flag of ['--port', '--db', '--leaky', '--terminology-url', '--shutdown-timeout']) assert.ok(d.stdout.includes(flag), `--help mentions ${flag}`);
    assert.ok(d.stdout.includes('default 3000, env PORT'), 'the port default and its variable are stated');
  });

  test('a bad flag exits 2 with a message naming it', async () => {
    const d = await startDemo(['--port', 'eighty'], { expectListen: false });
    const exit = await d.exited;
    assert.equal(exit.code, 2);
    assert.ok(d.stderr.includes('--port must be an integer from 0 to 65535 (got "eighty")'), d.stderr);
  });

  test('a port in use exits 1 with a message naming the port and how to pick another', async () => {
    const dir = tempDir('port');
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const d = await startDemo(['--db', join(dir.path, 'e.sqlite'), '--port', String(port)], { expectListen: false });
      const exit = await d.exited;
      assert.equal(exit.code, 1);
      assert.ok(d.stderr.includes(`cannot listen on 127.0.0.1:${port}: the port is in use`), d.stderr);
    } finally {
      blocker.close();
      dir.dispose();
    }
  });

  test('a database that cannot be written exits 2 with a message naming the path', async () => {
    const dir = tempDir('ro');
    // Not writable: a directory without write permission, or (as root, who may write anywhere)
    // a "directory" that is a regular file.
    const blocked = join(dir.path, 'blocked');
    if (process.getuid?.() === 0) writeFileSync(blocked, 'not a directory');
    else {
      mkdirSync(blocked);
      chmodSync(blocked, 0o500);
    }
    try {
      const d = await startDemo(['--db', join(blocked, 'sub', 'e.sqlite')], { expectListen: false });
      const exit = await d.exited;
      assert.equal(exit.code, 2);
      assert.ok(d.stderr.includes(`cannot create the database directory ${join(blocked, 'sub')}`), d.stderr);
      assert.ok(d.stderr.includes('--db'), 'the message says how to choose another file');
    } finally {
      if (process.getuid?.() !== 0) chmodSync(blocked, 0o700);
      dir.dispose();
    }
  });
});
