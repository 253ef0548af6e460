// Spawn + await N trivial async tasks: corral's group.go against raw Promise.all, p-limit,
// p-queue, Effect.forEach and a naive tracked-task sketch, side by side in one process.
//
//   node bench/spawn.mjs            full sizes (100,000 and 1,000,000 tasks)
//   node bench/spawn.mjs --tiny     CI size (2,000 tasks, barely warmed up: a smoke test, not a measurement)
//
// Every variant runs the same task, `async () => 1`, and awaits all of them. Each sample is one
// spawn-and-await of N tasks, timed with performance.now() after a full GC (not with --tiny); the variants run in
// turn, round after round, and the table shows the median per variant.
import { Effect } from 'effect';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { Group, background, configure } from 'corral';
import { TINY, fmt, gc, int, median, rounds, table, writeResults } from './lib/harness.mjs';

const SIZES = TINY ? [2_000] : [100_000, 1_000_000];

const work = async () => 1;

/** The naive sketch: every task in a Map, removed in a finally. */
function naiveTracker() {
  const live = new Map();
  let nextId = 0;
  return {
    live,
    spawn(fn) {
      const id = nextId++;
      const p = (async () => {
        try {
          return await fn();
        } finally {
          live.delete(id);
        }
      })();
      live.set(id, p);
      return p;
    },
  };
}

function timed(fn) {
  return async () => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
}

function variants(n) {
  const items = Array.from({ length: n }, (_, i) => i);
  const group = (spawnSites, limit) =>
    timed(async () => {
      configure({ spawnSites });
      const g = new Group(background(), { limit });
      for (let i = 0; i < n; i++) g.go(work);
      await g.wait();
    });
  return [
    {
      name: 'raw Promise.all',
      run: timed(async () => {
        const ps = new Array(n);
        for (let i = 0; i < n; i++) ps[i] = work();
        await Promise.all(ps);
      }),
    },
    { name: 'group.go, spawnSites off', run: group('off', undefined) },
    { name: 'group.go, spawnSites sampled', run: group('sampled', undefined) },
    { name: 'group.go, spawnSites always', run: group('always', undefined) },
    {
      name: 'naive sketch (Map + try/finally)',
      run: timed(async () => {
        const t = naiveTracker();
        const ps = new Array(n);
        for (let i = 0; i < n; i++) ps[i] = t.spawn(work);
        await Promise.all(ps);
      }),
    },
    {
      name: 'Effect.forEach unbounded',
      run: timed(() =>
        Effect.runPromise(Effect.forEach(items, () => Effect.promise(work), { concurrency: 'unbounded', discard: true })),
      ),
    },
    { name: 'group.go limit 16, off', run: group('off', 16) },
    {
      name: 'p-limit(16)',
      run: timed(async () => {
        const limit = pLimit(16);
        const ps = new Array(n);
        for (let i = 0; i < n; i++) ps[i] = limit(work);
        await Promise.all(ps);
      }),
    },
    {
      name: 'p-queue(16)',
      run: timed(async () => {
        const q = new PQueue({ concurrency: 16 });
        for (let i = 0; i < n; i++) q.add(work);
        await q.onIdle();
      }),
    },
    {
      name: 'Effect.forEach concurrency 16',
      run: timed(() => Effect.runPromise(Effect.forEach(items, () => Effect.promise(work), { concurrency: 16, discard: true }))),
    },
  ];
}

const ANCHOR = 'raw Promise.all';
const results = [];
const goals = [];

for (const n of SIZES) {
  const vs = variants(n);
  const warmup = TINY ? 1 : n >= 1_000_000 ? 1 : 2;
  const runs = TINY ? 5 : n >= 1_000_000 ? 5 : 9;
  // --tiny skips the GC between samples: it is a smoke test, and full GCs would dominate its time.
  const samples = await rounds(vs, { warmup, runs, beforeEach: TINY ? undefined : gc });
  const med = new Map([...samples].map(([k, xs]) => [k, median(xs)]));
  const anchor = med.get(ANCHOR);
  const rows = [['variant', 'median ms', 'min ms', 'max ms', 'tasks/s', 'x raw']];
  const byName = {};
  for (const v of vs) {
    const xs = samples.get(v.name);
    const m = med.get(v.name);
    byName[v.name] = { medianMs: m, samplesMs: xs, tasksPerSec: (n / m) * 1000, ratioToRaw: m / anchor };
    rows.push([v.name, fmt(m), fmt(Math.min(...xs)), fmt(Math.max(...xs)), int((n / m) * 1000), fmt(m / anchor)]);
  }
  console.log(`\nspawn + await ${int(n)} trivial async tasks (median of ${runs} runs after ${warmup} warm-up)\n`);
  console.log(table(rows));

  const off = med.get('group.go, spawnSites off');
  const effU = med.get('Effect.forEach unbounded');
  const lim = med.get('group.go limit 16, off');
  const fastest16 = ['p-limit(16)', 'p-queue(16)', 'Effect.forEach concurrency 16'].sort((a, b) => med.get(a) - med.get(b))[0];
  const g = [
    {
      goal: 'group.go (off, unbounded) <= 2x raw Promise.all',
      value: off / anchor,
      unit: 'x raw',
      met: off / anchor <= 2,
    },
    {
      goal: 'group.go (off, unbounded) >= 3x faster than Effect.forEach unbounded',
      value: effU / off,
      unit: 'x faster',
      met: effU / off >= 3,
    },
    {
      goal: `group.go (limit 16, off) >= 3x faster than the fastest 16-wide anchor (${fastest16})`,
      value: med.get(fastest16) / lim,
      unit: 'x faster',
      met: med.get(fastest16) / lim >= 3,
    },
  ];
  console.log('');
  if (TINY) console.log('(--tiny: a smoke test; the goals apply to the full sizes)');
  for (const x of g) console.log(`${TINY ? '-' : x.met ? 'MET    ' : 'NOT MET'}  ${x.goal}: ${fmt(x.value)} ${x.unit}`);
  goals.push({ n, goals: g });
  results.push({ n, warmup, runs, variants: byName });
}

configure({ spawnSites: 'off' });
const file = writeResults('spawn', { task: 'async () => 1', anchor: ANCHOR, results, goals });
console.log(`\nresults: ${file}`);
