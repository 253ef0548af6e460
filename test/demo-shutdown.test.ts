// The ePRO demo stopped under load, then restarted: SIGTERM (a deploy) and SIGKILL (a crash).
// A client posts submissions at a steady rate over keep-alive connections, each with its own
// Idempotency-Key; the signal lands at a seeded random moment; the demo restarts on the same
// database; the client retries every request whose outcome it could not know. Then the
// invariants: every acknowledged submission is stored and processed exactly once, every key maps to
// exactly one submission, and (SIGTERM) no client saw an error after its request reached a handler.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTerminologySim, type TerminologySim } from '../demo/src/terminology-sim.js';
import {
  Client,
  delay,
  randomSubmission,
  readAccessLog,
  readDb,
  rng,
  startDemo,
  statusCounts,
  tempDir,
  until,
  type DemoProcess,
  type Outcome,
} from '../demo/testing/harness.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const SEED = Number(process.env.DEMO_SEED ?? 20260422);
const RATE = 120; // submissions per second, over SOCKETS keep-alive connections
const SOCKETS = 6;

interface Sent {
  key: string;
  body: Record<string, unknown>;
  outcome?: Outcome;
}

function demoArgs(dbPath: string, terminologyUrl: string, accessLog: string): string[] {
  return [
    // A deploy's SIGTERM: not ready at once, still serving for 1 s (load balancers move away), then the drain.
    '--pre-stop-delay', '1s',
    '--db', dbPath,
    '--terminology-url', terminologyUrl,
    '--access-log', accessLog,
    // Slower scoring than intake, so a backlog is pending when the signal lands.
    '--concurrency', '4',
    '--queue-size', '8',
    '--call-timeout', '2s',
    '--retry-base', '20ms',
    '--max-attempts', '50',
    '--shutdown-timeout', '10s',
    // A report takes 5 x 100 ms: long enough to be in flight when the signal lands.
    '--report-steps', '5',
    '--report-step', '100ms',
  ];
}

/** Posts at RATE until `stop()` resolves; returns every request sent, its outcome filled once settled. */
async function postUntil(client: Client, rand: () => number, stop: Promise<unknown>): Promise<Sent[]> {
  const sent: Sent[] = [];
  const pending: Promise<void>[] = [];
  let stopped = false;
  void stop.then(() => (stopped = true));
  const t0 = performance.now();
  for (let i = 0; !stopped; i++) {
    const s: Sent = { key: `load-${SEED}-${i}`, body: randomSubmission(rand, i) };
    sent.push(s);
    pending.push(client.request('POST', '/submissions', s.body, { 'idempotency-key': s.key }).then((o) => void (s.outcome = o)));
    // A steady schedule: the i-th request goes out at i / RATE seconds, whatever the answers do.
    const wait = t0 + ((i + 1) * 1000) / RATE - performance.now();
    if (wait > 0) await delay(wait);
  }
  await Promise.all(pending);
  return sent;
}

async function scenario(t: TestContext, signal: 'SIGTERM' | 'SIGKILL', seed: number): Promise<void> {
  const dir = tempDir(signal.toLowerCase());
  const dbPath = join(dir.path, 'epro.sqlite');
  const log1 = join(dir.path, 'access-1.log');
  const log2 = join(dir.path, 'access-2.log');
  const rand = rng(seed); // the submissions
  // The signal's moments from a generator of their own: drawn while the client is drawing
  // submissions, one shared generator would make neither replay from the seed.
  const schedule = rng(seed ^ 0x5eed);
  // Scoring slower than intake in the first run (4 scorers, calls of 50 to 150 ms: at most 80/s
  // against 120/s posted), so a backlog is certainly pending when the signal lands.
  const sim: TerminologySim = await startTerminologySim({ latencyMs: 100, errorRate: 0.05, hangRate: 0, seed });
  let first: DemoProcess | undefined;
  let second: DemoProcess | undefined;
  let client: Client | undefined;
  try {
    first = await startDemo(demoArgs(dbPath, sim.url, log1), { verbose: true });
    client = new Client(first.port, SOCKETS);
    const signalAfter = 400 + Math.floor(schedule() * 1_000);
    const firstRun = first;
    let signalledAt = 0;
    // SIGTERM: a clinician's report is in flight when the signal lands (it started, and it takes
    // 500 ms; the signal comes 0 to 300 ms into it). It must be answered in full.
    const reporter = new Client(first.port, 1);
    let report: Promise<Outcome> | undefined;
    let probes: Outcome[] = [];
    const kill = delay(signalAfter).then(async () => {
      if (signal === 'SIGTERM') {
        report = reporter.request('GET', '/reports/phq-9');
        await firstRun.waitFor(/report phq-9 started/, 5_000);
        await delay(Math.floor(schedule() * 300));
      }
      signalledAt = performance.now();
      firstRun.kill(signal);
      if (signal === 'SIGTERM') {
        // Within the pre-stop delay: readiness is 503 from the first instant, liveness still 200.
        await firstRun.waitFor(/stopping \(SIGTERM\)/, 5_000);
        const probe = new Client(firstRun.port, 1);
        probes = [await probe.request('GET', '/readyz'), await probe.request('GET', '/healthz')];
        probe.close();
      }
    });
    const sent = await postUntil(client, rand, first.exited);
    await kill;
    const exit1 = await first.exited;
    client.close();
    const reportOutcome = await report;
    reporter.close();

    const acked = new Map<string, number>();
    const unknown: Sent[] = [];
    const errorCodes: Record<string, number> = {};
    for (const s of sent) {
      const o = s.outcome as Outcome;
      if (o.kind === 'answer') {
        assert.equal(o.status, 202, `every answer is a 202 (${s.key}: ${o.status} ${JSON.stringify(o.body)})`);
        acked.set(s.key, o.body.id);
      } else {
        unknown.push(s);
        errorCodes[o.code] = (errorCodes[o.code] ?? 0) + 1;
      }
    }
    if (signal === 'SIGTERM') {
      assert.equal(exit1.code, 0, `exit code 0 after SIGTERM\n${first.stderr}`);
      const m = /stopped in ([\d.]+) ms \(SIGTERM\): ([^\n]*)/.exec(first.stderr);
      assert.ok(m !== null, `the shutdown reports its duration\n${first.stderr}`);
      assert.ok(Number(m?.[1]) <= 10_000, `the shutdown (${m?.[1]} ms) kept within its --shutdown-timeout of 10 s`);
      assert.ok(
        reportOutcome?.kind === 'answer' && reportOutcome.status === 200 && reportOutcome.body.formId === 'phq-9',
        `the report in flight at the signal was answered in full (${JSON.stringify(reportOutcome)})`,
      );
      if (reportOutcome?.kind === 'answer') assert.equal(reportOutcome.headers.connection, 'close');
      assert.deepEqual(
        probes.map((p) => (p.kind === 'answer' ? [p.status, p.body.state] : p.code)),
        [
          [503, 'stopping'],
          [200, 'stopping'],
        ],
        'during the shutdown: not ready, still alive',
      );
      const handedBack = /(\d+) handed back/.exec(first.stderr)?.[1];
      t.diagnostic(
        `SIGTERM after ${signalAfter} ms: ${sent.length} sent, ${acked.size} acknowledged, ${unknown.length} unknown ` +
          `(${JSON.stringify(errorCodes)}); shutdown ${m?.[1]} ms (${m?.[2]}), exit ${((exit1.at - signalledAt) | 0)} ms after the signal; ` +
          `pool handed back ${handedBack}; ${first.stderr.match(/database closed: [^\n]*/)?.[0]}`,
      );
      // No client saw an error after its request reached a handler: every request a handler saw
      // was answered in full, and none of the requests the client lost appears among them.
      const seen = readAccessLog(log1);
      assert.ok(seen.length > 0, 'the access log saw the requests');
      const cut = seen.filter((l) => !l.answered);
      assert.deepEqual(cut, [], 'every request that reached a handler was answered');
      const reached = new Set(seen.map((l) => l.key));
      const lostAfterHandler = unknown.filter((s) => reached.has(s.key)).map((s) => `${s.key}: ${(s.outcome as { code: string }).code}`);
      assert.deepEqual(lostAfterHandler, [], 'no client error on a request that reached a handler');
    } else {
      assert.equal(exit1.signal, 'SIGKILL');
      t.diagnostic(`SIGKILL after ${signalAfter} ms: ${sent.length} sent, ${acked.size} acknowledged, ${unknown.length} unknown (${JSON.stringify(errorCodes)})`);
    }

    // Right after the stop, before any retry: every acknowledged submission is in the table under
    // its id, and what was not processed yet is pending there.
    const atStop = new Map(readDb(dbPath).submissions.map((r) => [r.key, r.id]));
    const lost = [...acked].filter(([key, id]) => atStop.get(key) !== id).map(([key]) => key);
    assert.deepEqual(lost, [], `no acknowledged submission lost by the ${signal}`);
    const pendingAtStop = statusCounts(dbPath).pending ?? 0;
    assert.ok(pendingAtStop > 0, `a backlog was pending at the ${signal} (${pendingAtStop})`);

    // The restart: pending submissions resume; the client retries what it could not know.
    sim.set({ latencyMs: 40 });
    second = await startDemo(demoArgs(dbPath, sim.url, log2), { verbose: true });
    // (stderr and stdout are two pipes: the line may arrive after the banner.)
    const resumed = Number((await second.waitFor(/resuming (\d+) pending/, 5_000))[1]);
    assert.equal(resumed, pendingAtStop, 'the restart resumes exactly what was pending at the stop');
    client = new Client(second.port, SOCKETS);
    for (const s of unknown) {
      const o = await client.request('POST', '/submissions', s.body, { 'idempotency-key': s.key });
      assert.ok(o.kind === 'answer' && o.status === 202, `the retry of ${s.key} is answered 202 (${JSON.stringify(o)})`);
      if (o.kind === 'answer') acked.set(s.key, o.body.id);
    }
    // A retry of a request that was acknowledged before the restart answers the same id.
    for (const [key, id] of [...acked].slice(0, 5)) {
      const s = sent.find((x) => x.key === key) as Sent;
      const o = await client.request('POST', '/submissions', s.body, { 'idempotency-key': key });
      assert.ok(o.kind === 'answer' && o.status === 202 && o.body.id === id, `a retry of ${key} after the restart answers id ${id}`);
    }
    await until(() => statusCounts(dbPath).pending === 0, 'every submission to be processed after the restart', 30_000, 100);
    client.close();
    second.kill('SIGTERM');
    const exit2 = await second.exited;
    assert.equal(exit2.code, 0, `the second run exits 0\n${second.stderr}`);
    t.diagnostic(`restart: ${resumed} pending submission(s) resumed, ${unknown.length} retried`);

    // The invariants, on the database.
    const { submissions, events } = readDb(dbPath);
    assert.equal(acked.size, sent.length, 'every request sent was acknowledged, at first or on retry');
    assert.equal(submissions.length, sent.length, 'one submission per key: none lost, none duplicated');
    const byKey = new Map(submissions.map((s) => [s.key, s]));
    for (const [key, id] of acked) {
      const row = byKey.get(key);
      assert.ok(row !== undefined && row.id === id, `${key} is stored under the id it was acknowledged with (${id})`);
      assert.equal(row?.status, 'processed', `${key} is processed`);
    }
    const count = new Map<string, number>();
    for (const e of events) count.set(`${e.id} ${e.kind}`, (count.get(`${e.id} ${e.kind}`) ?? 0) + 1);
    for (const s of submissions) {
      assert.equal(count.get(`${s.id} received`), 1, `submission ${s.id} was received once`);
      assert.equal(count.get(`${s.id} processed`), 1, `submission ${s.id} was processed exactly once`);
      assert.equal(count.get(`${s.id} failed`), undefined, `submission ${s.id} never failed`);
    }
  } finally {
    client?.close();
    for (const d of [first, second]) {
      if (d !== undefined && d.child.exitCode === null && d.child.signalCode === null) {
        d.kill('SIGKILL');
        await d.exited;
      }
    }
    await sim.close();
    dir.dispose();
  }
}

describe('the ePRO demo stopped under load', () => {
  test(`SIGTERM under load loses nothing, processes nothing twice, cuts no request (seed ${SEED})`, (t) => scenario(t, 'SIGTERM', SEED));

  test(`SIGKILL under load, then a restart: no acknowledged submission lost, the pending ones resumed (seed ${SEED + 1})`, (t) =>
    scenario(t, 'SIGKILL', SEED + 1));
});
