// The seeds' load experiment, run against the ePRO demo: managed (corral) against --leaky (the
// seeds' naive code: fire-and-forget validation whose result channel is never written when the
// terminology call hangs, an interval sync that overlaps). Seed 004 reports, for a Go handler
// leaking a goroutine per request at 1,000 requests/s for 60 s: average latency 2.1 ms vs 38.7 ms,
// ESTABLISHED connections 12 vs 416, goroutines ~150 vs ~2,100.
//
//   node bench/demo-load.mjs             full: the seeds' 1,000 requests/s for 60 s per variant
//   node bench/demo-load.mjs --tiny      CI: 100/s for 2 s per variant (a smoke test, not a measurement)
//   --rate=N  --duration=S  --hang-rate=R (default 0.02)  --only=managed,leaky
//
// Each variant is a fresh demo process (its own database in a temp dir) pointed at one simulators
// process (demo/src/simulators.ts: the terminology service answering in ~20 ms, a share
// --hang-rate of calls never answered, no errors; the HIS), so the demo's sockets and memory are
// its own. The client runs here: open loop (request i is sent at i / rate s whatever the answers
// do, so a slow server is not offered less load), one undici Pool that opens connections as
// requests wait (up to 2,048), each request a new submission with its own Idempotency-Key.
//
// After a warm-up (3 s at the rate, not measured), measured at the start (the first window of the
// run: 5 s) and at the end (the last window):
//   live tasks    sum(corral_tasks_live) from the demo's debug endpoint (/metrics)
//   conns in      ESTABLISHED TCP connections of the demo process on the API port (from /proc)
//   conns out     ESTABLISHED TCP connections of the demo process to the terminology service
//   RSS           VmRSS of the demo process (/proc/PID/status)
//   heap          nodejs_heap_size_used_bytes from /metrics (prom-client's default metrics)
//   p50, p99      client latency of the requests scheduled in that window, from their scheduled
//                 send time (so queueing in the client counts: no coordinated omission)
// then the demo gets SIGTERM: its exit code and how long it took to exit.
//
// The seeds ran 1,000 requests/s against a handler that does nothing; here each submission is
// stored (a SQLite commit synced to disk), scored (a terminology call, another commit) and
// answered as JSON, on a 2-core machine shared with the load generator and the simulators. The
// store's group commit (one fsync per event-loop turn, not per write) is what lets the managed
// service keep up at that rate.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool, fetch } from 'undici';
import { ROOT, TINY, arg, fmt, int, table, writeResults } from './lib/harness.mjs';

const RATE = Number(arg('rate', TINY ? '100' : '1000'));
const SECONDS = Number(arg('duration', TINY ? '2' : '60'));
const WINDOW = TINY ? 1 : 5; // seconds at each end of the run
const WARMUP = TINY ? 0 : 3; // seconds at the rate before the run, not measured (JIT, first connections)
const HANG_RATE = Number(arg('hang-rate', '0.02'));
const ONLY = arg('only', 'managed,leaky').split(',');
const MAIN = join(ROOT, 'demo', 'src', 'main.ts');
const SIMS = join(ROOT, 'demo', 'src', 'simulators.ts');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Spawns a TypeScript entry under tsx; resolves with the child and the first stdout match of `re`. */
function launch(file, args, re) {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  const ready = new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out.stdout += d;
      const m = out.stdout.match(re);
      if (m) resolve(m);
    });
    child.stderr.setEncoding('utf8').on('data', (d) => (out.stderr += d));
    void exited.then(() => reject(new Error(`${file} exited before it was ready\n${out.stdout}\n${out.stderr}`)));
  });
  return { child, out, exited, ready };
}

/** ESTABLISHED TCP connections of process `pid`, by local port and by remote port. */
function connections(pid, localPort, remotePort) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  let inbound = 0;
  let outbound = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9])) continue; // 01: ESTABLISHED
      const local = parseInt(f[1].split(':')[1], 16);
      const remote = parseInt(f[2].split(':')[1], 16);
      if (local === localPort) inbound++;
      else if (remote === remotePort) outbound++;
    }
  }
  return { inbound, outbound };
}

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Live tasks and heap from the demo's /metrics (undefined when the endpoint is not there). */
async function scrape(debugPort) {
  if (debugPort === undefined) return { tasks: undefined, heapMb: undefined };
  try {
    const text = await (await fetch(`http://127.0.0.1:${debugPort}/metrics`)).text();
    let tasks = 0;
    let seen = false;
    let heap;
    for (const line of text.split('\n')) {
      if (line.startsWith('corral_tasks_live')) {
        tasks += Number(line.slice(line.lastIndexOf(' ') + 1));
        seen = true;
      } else if (line.startsWith('nodejs_heap_size_used_bytes')) heap = Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return { tasks: seen ? tasks : undefined, heapMb: heap === undefined ? undefined : heap / 2 ** 20 };
  } catch {
    return { tasks: undefined, heapMb: undefined };
  }
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const SUBMISSION = JSON.stringify({
  patientId: 'P-0042',
  formId: 'phq-9',
  answers: { q1: 1, q2: 2, q3: 1, q4: 0, q5: 1, q6: 0, q7: 1, q8: 0, q9: 0 },
  symptoms: ['headache', 'tired'],
});

/** Calls the terminology simulator made hang so far (its admin endpoint). */
async function hungSoFar(terminologyUrl) {
  return (await (await fetch(`${terminologyUrl}/admin/stats`)).json()).hung;
}

async function runVariant(name, sims, termPort) {
  const dir = mkdtempSync(join(tmpdir(), `epro-bench-${name}-`));
  const args = [
    '--port', '0', '--debug-port', '0', '--quiet',
    '--db', join(dir, 'epro.sqlite'),
    '--terminology-url', sims.terminology, '--his-url', sims.his,
    '--concurrency', '64', '--queue-size', '256', '--call-timeout', '500ms',
    '--sync-interval', '2s',
    ...(name === 'leaky' ? ['--leaky'] : []),
  ];
  const demo = launch(MAIN, args, /listening on http:\/\/[^:]+:(\d+)/);
  const port = Number((await demo.ready)[1]);
  const debugPort = /debug endpoint \(127\.0\.0\.1 only\): http:\/\/127\.0\.0\.1:(\d+)/.exec(demo.out.stdout)?.[1];
  const pid = demo.child.pid;
  const client = new Pool(`http://127.0.0.1:${port}`, { connections: 2_048, pipelining: 1 });
  const results = []; // [scheduledAtSeconds, latencyMs, status]
  const pending = [];
  const samples = {};
  const takeSample = async (when) => {
    const { tasks, heapMb } = await scrape(debugPort === undefined ? undefined : Number(debugPort));
    samples[when] = { tasks, heapMb, rssMb: rssMb(pid), ...connections(pid, port, termPort), hung: await hungSoFar(sims.terminology) };
  };
  // The warm-up: the same load, not recorded (in the leaky run it leaks too: that is the service).
  const w0 = performance.now();
  for (let i = 0; i < RATE * WARMUP; i++) {
    const wait = w0 + (i * 1000) / RATE - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(
      client
        .request({ path: '/submissions', method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `warm-${name}-${i}` }, body: SUBMISSION })
        .then((r) => r.body.text(), () => {}),
    );
  }
  const total = RATE * SECONDS;
  const t0 = performance.now();
  let startSampled = false;
  for (let i = 0; i < total; i++) {
    const at = t0 + (i * 1000) / RATE;
    const wait = at - performance.now();
    if (wait > 1) await sleep(wait);
    if (!startSampled && i / RATE >= WINDOW) {
      startSampled = true;
      pending.push(takeSample('start'));
    }
    const sec = i / RATE;
    pending.push(
      client
        .request({
          path: '/submissions',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `bench-${name}-${i}` },
          body: SUBMISSION,
        })
        .then(
          async (r) => {
            await r.body.text();
            results.push([sec, performance.now() - at, r.statusCode]);
          },
          (err) => results.push([sec, performance.now() - at, err?.code ?? 'error']),
        ),
    );
  }
  await takeSample('end');
  await Promise.all(pending);
  await client.close();

  const window = (from, to) => {
    const xs = results.filter(([s]) => s >= from && s < to).map(([, l]) => l).sort((a, b) => a - b);
    return { p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), mean: xs.reduce((a, b) => a + b, 0) / (xs.length || 1) };
  };
  Object.assign(samples.start, window(0, WINDOW));
  Object.assign(samples.end, window(SECONDS - WINDOW, SECONDS));
  const failures = {};
  for (const [, , st] of results) if (st !== 202) failures[st] = (failures[st] ?? 0) + 1;
  const failed = Object.values(failures).reduce((a, b) => a + b, 0);

  const signalled = performance.now();
  demo.child.kill('SIGTERM');
  const cap = setTimeout(() => demo.child.kill('SIGKILL'), 15_000);
  const exit = await demo.exited;
  clearTimeout(cap);
  rmSync(dir, { recursive: true, force: true });
  return {
    name,
    samples,
    requests: results.length,
    failed,
    failures,
    exit: { code: exit.code, signal: exit.signal, ms: Math.round(exit.at - signalled) },
  };
}

console.log(
  `ePRO demo under load: ${RATE} submissions/s for ${SECONDS} s per variant, terminology hangs on ${HANG_RATE * 100}% of calls` +
    `${TINY ? ' (--tiny: a smoke test, not a measurement)' : ''}\n`,
);
const sims = launch(SIMS, ['--latency', '20', '--error-rate', '0', '--hang-rate', String(HANG_RATE), '--his-latency', '50'], /\{.*\}/);
const simUrls = JSON.parse((await sims.ready)[0]);
const termPort = Number(new URL(simUrls.terminology).port);
const runs = [];
try {
  for (const name of ['managed', 'leaky'].filter((n) => ONLY.includes(n))) runs.push(await runVariant(name, simUrls, termPort));
} finally {
  sims.child.kill('SIGTERM');
  await sims.exited;
}

const rows = [['variant', 'when', 'live tasks', 'conns in', 'conns out', 'RSS MB', 'heap MB', 'p50 ms', 'p99 ms', 'mean ms']];
for (const r of runs) {
  for (const when of ['start', 'end']) {
    const s = r.samples[when];
    rows.push([r.name, when, s.tasks === undefined ? '-' : int(s.tasks), s.inbound, s.outbound, fmt(s.rssMb, 0), s.heapMb === undefined ? '-' : fmt(s.heapMb, 0), fmt(s.p50, 1), fmt(s.p99, 1), fmt(s.mean, 1)]);
  }
}
console.log(table(rows));
console.log('');
for (const r of runs) {
  console.log(
    `${r.name}: ${int(r.requests)} requests, ${r.failed} not answered 202${r.failed > 0 ? ` ${JSON.stringify(r.failures)}` : ''}; SIGTERM: ` +
      `${r.exit.code === null ? `killed by ${r.exit.signal}` : `exit ${r.exit.code}`} after ${r.exit.ms} ms`,
  );
}
console.log('\nseed 004 (Go, 1,000 requests/s, 60 s): mean latency 2.1 vs 38.7 ms, ESTABLISHED 12 vs 416, goroutines ~150 vs ~2,100\n');

const goals = [];
const m = runs.find((r) => r.name === 'managed');
const l = runs.find((r) => r.name === 'leaky');
if (m) {
  const { start, end } = m.samples;
  if (start.tasks !== undefined) {
    goals.push({ goal: 'managed: live tasks stay bounded (end <= 2 x start + 64)', met: end.tasks <= 2 * start.tasks + 64, value: `${start.tasks} -> ${end.tasks}` });
  }
  goals.push({
    goal: 'managed: connections to the terminology service stay bounded (end <= 2 x start + 16)',
    met: end.outbound <= 2 * start.outbound + 16,
    value: `${start.outbound} -> ${end.outbound}, ${end.hung - start.hung} calls hung`,
  });
  goals.push({ goal: 'managed: SIGTERM exits 0', met: m.exit.code === 0, value: `exit ${m.exit.code} after ${m.exit.ms} ms` });
}
if (l) {
  const { start, end } = l.samples;
  if (start.tasks !== undefined) {
    goals.push({ goal: 'leaky: the leak is reproduced (live tasks end >= 3 x start)', met: end.tasks >= 3 * Math.max(1, start.tasks), value: `${start.tasks} -> ${end.tasks}` });
  }
  const hung = end.hung - start.hung;
  goals.push({
    goal: 'leaky: every hung call keeps its connection (growth >= half the calls hung in between)',
    met: end.outbound - start.outbound >= hung / 2,
    value: `${start.outbound} -> ${end.outbound}, ${hung} calls hung`,
  });
}
if (m && l && m.samples.end.tasks !== undefined && l.samples.end.tasks !== undefined) {
  console.log(
    `at the end, leaky / managed: live tasks ${fmt(l.samples.end.tasks / m.samples.end.tasks, 1)}x, connections out ` +
      `${fmt(l.samples.end.outbound / Math.max(1, m.samples.end.outbound), 1)}x, RSS ${fmt(l.samples.end.rssMb / m.samples.end.rssMb, 2)}x, ` +
      `p99 ${fmt(l.samples.end.p99 / m.samples.end.p99, 2)}x`,
  );
}
for (const g of goals) console.log(`${TINY ? '-' : g.met ? 'MET    ' : 'NOT MET'}  ${g.goal}: ${g.value}`);
console.log(`\nresults: ${writeResults('demo-load', { rate: RATE, seconds: SECONDS, window: WINDOW, hangRate: HANG_RATE, runs, goals })}`);
