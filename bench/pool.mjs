// WorkerPool: throughput on trivial jobs and memory per queued job, against p-queue, p-limit, raw
// Promise.all (the floor for any API that returns a promise per job) and a hand-written loop of
// N async workers pulling from an array (no promise per job), side by side.
//
//   node --expose-gc bench/pool.mjs     full sizes: 100,000 and 1,000,000 jobs at concurrency 16 and
//                                       256, then 100,000 queued jobs per memory measurement (minutes)
//   node bench/pool.mjs --tiny          CI size (2,000 jobs, 1 memory process per variant: a smoke
//                                       test that every variant still runs, not a measurement)
//
// Throughput. Every variant runs the same handler, `async (job) => job + 1`, over the same jobs
// (the integers 0..N-1), and every variant sums the results and checks the sum, so none can skip
// work. Each sample starts the clock, builds the pool/queue/limiter, hands it all N jobs at once,
// and stops the clock when the last result is in:
//   - WorkerPool: `new WorkerPool(handler, { concurrency, queueSize: Infinity })` (an unbounded
//     queue, like p-queue's), `submit` all, `Promise.all` the results. `shutdown()` runs after the
//     clock stopped (its time goes to the JSON, not the sample) and its report must count N
//     completed jobs.
//   - p-queue 9.3.5: `new PQueue({ concurrency })`, `queue.add(() => handler(job))` all, `Promise.all`.
//   - p-limit 7: `limit = pLimit(concurrency)`, `limit(handler, job)` all, `Promise.all`.
//   - raw Promise.all: `Promise.all(jobs.map(async (j) => handler(j)))`, unbounded (the anchor);
//     also with `handler(j)` called directly, one promise fewer per job (for reference).
//   - a hand-written loop: `concurrency` async functions, each `while (next < N)` awaiting
//     `handler(jobs[next++])` and adding the result to a sum; no promise per job beyond the
//     handler's own.
// The variants run in turn, round after round (harness `rounds`), a full GC before each sample
// (not with --tiny); tables show medians, and the verdicts use paired ratios (each round's own
// ratio of two variants that ran back to back, then the median over rounds: see pairedMedian).
//
// Memory. N = 100,000 jobs are handed to a WorkerPool of concurrency 1 whose handler awaits a
// gate that stays shut: one job runs, the rest wait in the queue. Heap growth after a full GC,
// divided by N, is the cost of one queued job; the same for p-queue(1) and p-limit(1) holding N
// pending the same way, and two references: a pending promise with its two resolving functions
// (what any submit that returns a promise keeps, whatever else it does: the "over a promise"
// column subtracts it) and a floor (a one-worker queue keeping that promise's resolvers in a
// {job, resolve, reject} record in an array, the least a promise-returning queue can keep; about
// 40 lines of code written here, not a library). Each measurement runs in a
// fresh child process (like bench/memory.mjs); the array that receives the N promises is allocated
// before the baseline. A job is the small integer i, which V8 stores in place of a pointer, so
// "the job itself" is 0 bytes and nothing is subtracted (the slot that holds it is the queue's).
// p-queue takes a function per job (`() => handler(i)`): that closure is counted, it is what
// p-queue's API costs. Then the gate opens, every job completes, the sum is checked and the
// pool is shut down; the child must then exit on its own (a leftover timer or worker would keep it
// alive: the parent fails after a timeout).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { WorkerPool } from 'corral/pool';
import { TINY, arg, fmt, gc, int, median, pairedMedian, rounds, table, tick, writeResults } from './lib/harness.mjs';

const SIZES = TINY ? [2_000] : [100_000, 1_000_000];
const CONCURRENCY = [16, 256];
const MEM_JOBS = TINY ? 2_000 : 100_000;
const MEM_REPS = TINY ? 1 : 5;
const MEM_GOAL = 200; // bytes per queued job (issue 4)

const handler = async (job) => job + 1;
const expectedSum = (n) => (n * (n + 1)) / 2; // jobs 0..n-1, each returns job + 1

const POOL = 'WorkerPool';
const PQ = 'p-queue';
const PL = 'p-limit';
const RAW = 'raw Promise.all';
const RAW_DIRECT = 'raw Promise.all, handler called directly';
const LOOP = 'hand-written loop of workers';

function check(sum, n, name) {
  if (sum !== expectedSum(n)) throw new Error(`${name}: wrong sum ${sum}, expected ${expectedSum(n)}`);
}

function sumOf(results) {
  let s = 0;
  for (let i = 0; i < results.length; i++) s += results[i];
  return s;
}

// --- throughput -------------------------------------------------------------------------------------

/** The variants for N jobs at concurrency c; each `run` returns the milliseconds it measured. */
function throughputVariants(jobs, c, shutdownMs) {
  const n = jobs.length;
  const vs = [
    {
      name: RAW,
      run: async () => {
        const t0 = performance.now();
        const results = await Promise.all(jobs.map(async (j) => handler(j)));
        const ms = performance.now() - t0;
        check(sumOf(results), n, RAW);
        return ms;
      },
    },
    {
      name: RAW_DIRECT,
      run: async () => {
        const t0 = performance.now();
        const ps = new Array(n);
        for (let i = 0; i < n; i++) ps[i] = handler(jobs[i]);
        const results = await Promise.all(ps);
        const ms = performance.now() - t0;
        check(sumOf(results), n, RAW_DIRECT);
        return ms;
      },
    },
    {
      name: LOOP,
      run: async () => {
        const t0 = performance.now();
        let next = 0;
        let sum = 0;
        const worker = async () => {
          while (next < n) {
            const r = await handler(jobs[next++]); // not `sum += await`: that reads sum before the await
            sum += r;
          }
        };
        const ws = new Array(c);
        for (let k = 0; k < c; k++) ws[k] = worker();
        await Promise.all(ws);
        const ms = performance.now() - t0;
        check(sum, n, LOOP);
        return ms;
      },
    },
  ];
  vs.push(
    {
      name: POOL,
      run: async () => {
        const t0 = performance.now();
        const pool = new WorkerPool(handler, { concurrency: c, queueSize: Infinity });
        const ps = new Array(n);
        for (let i = 0; i < n; i++) ps[i] = pool.submit(jobs[i]);
        const results = await Promise.all(ps);
        const ms = performance.now() - t0;
        const s0 = performance.now();
        const report = await pool.shutdown();
        shutdownMs.push(performance.now() - s0);
        check(sumOf(results), n, POOL);
        if (report.completed !== n) throw new Error(`${POOL}: shutdown report counts ${report.completed} completed, expected ${n}`);
        return ms;
      },
    },
    {
      name: PQ,
      run: async () => {
        const t0 = performance.now();
        const q = new PQueue({ concurrency: c });
        const ps = new Array(n);
        for (let i = 0; i < n; i++) {
          const j = jobs[i];
          ps[i] = q.add(() => handler(j));
        }
        const results = await Promise.all(ps);
        const ms = performance.now() - t0;
        check(sumOf(results), n, PQ);
        return ms;
      },
    },
    {
      name: PL,
      run: async () => {
        const t0 = performance.now();
        const limit = pLimit(c);
        const ps = new Array(n);
        for (let i = 0; i < n; i++) ps[i] = limit(handler, jobs[i]);
        const results = await Promise.all(ps);
        const ms = performance.now() - t0;
        check(sumOf(results), n, PL);
        return ms;
      },
    },
  );
  return vs;
}

async function throughput() {
  const results = [];
  const goals = [];
  for (const n of SIZES) {
    const jobs = Array.from({ length: n }, (_, i) => i);
    for (const c of CONCURRENCY) {
      const shutdownMs = [];
      const vs = throughputVariants(jobs, c, shutdownMs);
      const warmup = TINY ? 1 : n >= 1_000_000 ? 1 : 2;
      const runs = TINY ? 1 : n >= 1_000_000 ? 7 : 11;
      // --tiny skips the GC between samples: it is a smoke test, and full GCs would dominate its time.
      const samples = await rounds(vs, { warmup, runs, beforeEach: TINY ? undefined : gc });
      const med = new Map([...samples].map(([k, xs]) => [k, median(xs)]));
      const raw = med.get(RAW);
      const rows = [['variant', 'median ms', 'min ms', 'max ms', 'jobs/s', 'x raw (time)', 'paired x raw']];
      const byName = {};
      for (const v of vs) {
        const xs = samples.get(v.name);
        const m = med.get(v.name);
        const paired = pairedMedian(samples, v.name, RAW);
        byName[v.name] = { medianMs: m, samplesMs: xs, jobsPerSec: (n / m) * 1000, ratioToRaw: m / raw, pairedRatioToRaw: paired };
        rows.push([v.name, fmt(m), fmt(Math.min(...xs)), fmt(Math.max(...xs)), int((n / m) * 1000), fmt(m / raw), fmt(paired)]);
      }
      if (shutdownMs.length > 0) byName[POOL].shutdownMs = { median: median(shutdownMs), samples: shutdownMs };
      console.log(`\n${int(n)} trivial jobs at concurrency ${c} (median of ${runs} runs after ${warmup} warm-up; raw is unbounded)\n`);
      console.log(table(rows));
      if (shutdownMs.length > 0) console.log(`(WorkerPool shutdown() after the last result, not in the samples: median ${fmt(median(shutdownMs), 3)} ms)`);

      // Verdicts from paired ratios: speed-ups are the peer's time over the pool's, round by round.
      const vsPq = pairedMedian(samples, PQ, POOL);
      const vsPl = pairedMedian(samples, PL, POOL);
      const vsRaw = pairedMedian(samples, POOL, RAW);
      const g = [
        { goal: `WorkerPool(${c}) >= 3x the throughput of p-queue(${c})`, value: vsPq, unit: 'x (paired)', met: vsPq >= 3 },
        { goal: `WorkerPool(${c}) >= 3x the throughput of p-limit(${c})`, value: vsPl, unit: 'x (paired)', met: vsPl >= 3 },
        { goal: `WorkerPool(${c}) within 2x of raw Promise.all (time ratio <= 2)`, value: vsRaw, unit: 'x raw time (paired)', met: vsRaw <= 2 },
      ];
      // Not a goal: the same ratio against the raw form with one promise fewer per job.
      const vsDirect = pairedMedian(samples, POOL, RAW_DIRECT);
      console.log('');
      if (TINY) console.log('(--tiny: a smoke test; the goals apply to the full sizes)');
      for (const x of g) console.log(`${TINY ? '-' : x.met ? 'MET    ' : 'NOT MET'}  ${int(n)} jobs: ${x.goal}: ${fmt(x.value)} ${x.unit}`);
      console.log(`(for reference)  ${int(n)} jobs: WorkerPool(${c}) vs raw Promise.all with the handler called directly: ${fmt(vsDirect)} x its time (paired)`);
      goals.push({ n, concurrency: c, goals: g, pairedRatioToRawDirect: vsDirect });
      results.push({ n, concurrency: c, warmup, runs, variants: byName });
    }
  }
  return { results, goals };
}

// --- memory: child ----------------------------------------------------------------------------------

const MEM_PROMISE = 'a pending promise + its two resolvers';
const MEM_FLOOR = 'floor: promise + resolvers + record in an array';
const MEM_VARIANTS = [MEM_PROMISE, MEM_FLOOR, 'WorkerPool(1)', 'p-queue(1)', 'p-limit(1)'];

/**
 * One measurement in this (fresh) process: `n` jobs handed to `variant` whose single worker is
 * blocked on a gate. Returns the heap growth per job; then opens the gate and drains.
 */
async function memoryChild(variant, n) {
  let started = 0;
  const slots = variant === MEM_PROMISE ? Math.max(n, 1_000) : 0;
  const resolves = new Array(slots).fill(undefined);
  const rejects = new Array(slots).fill(undefined);
  let gate;
  let open;
  const shut = () => (gate = new Promise((resolve) => (open = resolve)));
  const blocked = async (job) => {
    started++;
    await gate;
    return job + 1;
  };

  /** Makes a fresh queue; returns `{ add(handles, count), drain() }`. */
  function make() {
    switch (variant) {
      case MEM_PROMISE: {
        // Not a queue: what any submit that returns a promise keeps before it stores anything.
        // The resolvers go into arrays allocated before the baseline (like the handles), so the
        // row is the promise and its two resolving functions alone. The first job "runs" at once.
        return {
          add(handles, count) {
            for (let i = 0; i < count; i++) {
              handles[i] = new Promise((resolve, reject) => {
                resolves[i] = resolve;
                rejects[i] = reject;
              });
            }
            started++;
          },
          async drain() {},
          open(count) {
            for (let i = 0; i < count; i++) resolves[i](i + 1);
            resolves.fill(undefined);
            rejects.fill(undefined);
          },
        };
      }
      case MEM_FLOOR: {
        // A one-worker queue with the least per-job state a promise-returning submit can keep.
        const queue = [];
        let head = 0;
        let busy = false;
        const pump = async () => {
          busy = true;
          while (head < queue.length) {
            const r = queue[head];
            queue[head++] = undefined;
            try {
              r.resolve(await blocked(r.job));
            } catch (err) {
              r.reject(err);
            }
          }
          busy = false;
        };
        const submit = (job) =>
          new Promise((resolve, reject) => {
            queue.push({ job, resolve, reject });
            if (!busy) pump();
          });
        return {
          add(handles, count) {
            for (let i = 0; i < count; i++) handles[i] = submit(i);
          },
          async drain() {},
        };
      }
      case 'WorkerPool(1)': {
        const pool = new WorkerPool(blocked, { concurrency: 1, queueSize: Infinity });
        return {
          add(handles, count) {
            for (let i = 0; i < count; i++) handles[i] = pool.submit(i);
          },
          async drain() {
            const report = await pool.shutdown();
            return { completed: report.completed };
          },
        };
      }
      case 'p-queue(1)': {
        const q = new PQueue({ concurrency: 1 });
        return {
          add(handles, count) {
            for (let i = 0; i < count; i++) handles[i] = q.add(() => blocked(i));
          },
          async drain() {
            await q.onIdle();
          },
        };
      }
      case 'p-limit(1)': {
        const limit = pLimit(1);
        return {
          add(handles, count) {
            for (let i = 0; i < count; i++) handles[i] = limit(blocked, i);
          },
          async drain() {},
        };
      }
      default:
        throw new Error(`unknown memory variant ${variant}`);
    }
  }

  /** Hands `count` jobs to a fresh queue and waits until its one worker is blocked in a job. */
  async function fill(handles, count) {
    const q = make();
    const expect = started + 1;
    q.add(handles, count);
    for (let i = 0; started < expect; i++) {
      if (i > 10_000) throw new Error(`${variant}: the first job never started`);
      await tick();
    }
    await tick();
    return q;
  }

  async function release(q, handles, count) {
    open();
    q.open?.(count);
    const sum = sumOf(await Promise.all(handles));
    check(sum, count, variant);
    const report = await q.drain();
    if (report !== undefined && report.completed !== count) throw new Error(`${variant}: shutdown report counts ${report.completed} completed, expected ${count}`);
  }

  // Warm-up: a small batch through the same paths (queued, started, drained), so code is compiled
  // and object layouts are settled before the baseline.
  shut();
  const warm = new Array(1_000);
  await release(await fill(warm, warm.length), warm, warm.length);

  shut();
  const handles = new Array(n).fill(undefined);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const q = await fill(handles, n);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await release(q, handles, n);
  const drainMs = performance.now() - t0;
  return { variant, n, heapBefore: before, heapAfter: after, bytesPerJob: (after - before) / n, drainMs };
}

// --- memory: parent ---------------------------------------------------------------------------------

function memory() {
  const self = fileURLToPath(import.meta.url);
  const names = MEM_VARIANTS;
  const samples = new Map(names.map((v) => [v, []]));
  for (let r = 0; r < MEM_REPS; r++) {
    for (const v of names) {
      const res = spawnSync(process.execPath, ['--expose-gc', self, `--mem-child=${v}`, `--n=${MEM_JOBS}`], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
        timeout: 120_000,
      });
      if (res.error?.code === 'ETIMEDOUT') throw new Error(`memory child "${v}" did not exit within 120 s (a pool left a worker or timer behind?)`);
      if (res.status !== 0) {
        process.stderr.write(res.stderr);
        throw new Error(`memory child "${v}" exited with ${res.status ?? res.signal}`);
      }
      samples.get(v).push(JSON.parse(res.stdout.trim().split('\n').pop()));
    }
  }
  // "over a promise": what each keeps beyond the promise it returns and that promise's resolvers,
  // i.e. its own bookkeeping per queued job.
  const rows = [['variant', 'bytes/queued job', 'min', 'max', 'over a promise', 'x floor', 'goal']];
  const variants = {};
  const mid = (v) => median(samples.get(v).map((x) => x.bytesPerJob));
  const floor = mid(MEM_FLOOR);
  const promise = mid(MEM_PROMISE);
  let goal;
  for (const v of names) {
    const xs = samples.get(v).map((x) => x.bytesPerJob);
    const m = median(xs);
    const isPool = v.startsWith('WorkerPool');
    const met = isPool ? m < MEM_GOAL : undefined;
    if (isPool) goal = { goal: `WorkerPool: under ${MEM_GOAL} bytes per queued job`, value: m, unit: 'bytes', overPromise: m - promise, met };
    variants[v] = { bytesPerJob: m, samples: xs, overPromise: m - promise, ratioToFloor: m / floor, drainMs: samples.get(v).map((x) => x.drainMs), met };
    rows.push([
      v,
      int(m),
      int(Math.min(...xs)),
      int(Math.max(...xs)),
      v === MEM_PROMISE ? '-' : int(m - promise),
      fmt(m / floor),
      isPool && !TINY ? `${met ? 'MET' : 'NOT MET'} (< ${MEM_GOAL} B)` : '',
    ]);
  }
  console.log(`\nheap bytes per queued job, ${int(MEM_JOBS)} jobs behind one blocked worker, each in a fresh process (median of ${MEM_REPS}; jobs are small integers, 0 B each, nothing subtracted)\n`);
  console.log(table(rows));
  console.log('');
  if (TINY) console.log('(--tiny: a smoke test; the goal applies to the full size)');
  console.log(`${TINY ? '-' : goal.met ? 'MET    ' : 'NOT MET'}  ${goal.goal}: ${int(goal.value)} ${goal.unit} (${int(goal.overPromise)} over the promise submit returns)`);
  return { jobs: MEM_JOBS, repetitions: MEM_REPS, goalBytes: MEM_GOAL, variants, goal };
}

// --- main -------------------------------------------------------------------------------------------

const memChild = arg('mem-child', undefined);
if (memChild !== undefined) {
  const res = await memoryChild(memChild, Number(arg('n', '100000')));
  process.stdout.write(JSON.stringify(res) + '\n');
} else {
  const tp = await throughput();
  const mem = memory();
  const file = writeResults('pool', {
    handler: 'async (job) => job + 1',
    anchor: RAW,
    throughput: tp.results,
    memory: mem,
    goals: { throughput: tp.goals, memory: mem.goal },
  });
  console.log(`\nresults: ${file}`);
}
