// Memory per pending task: N tasks are started and left pending (each awaits a promise that
// never settles); the heap growth after a full GC, divided by N, is the cost of one pending task
// as tracked by each tool. Every measurement runs in a fresh child process, so heaps never mix.
//
//   node bench/memory.mjs           1,000,000 pending tasks, 5 fresh processes per variant
//   node bench/memory.mjs --tiny    10,000 pending tasks, 1 process per variant (CI)
//
// Every variant runs the same function, `async () => { await never }`. The array that holds one
// handle per task (the promise, Task or Fiber a caller would keep) is allocated before the
// baseline, so the figure is the task alone, not the caller's slot for it. Each child first runs
// a small warm-up batch of its own variant so code is compiled and object layouts are settled.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TINY, arg, fmt, gc, int, median, table, tick, writeResults } from './lib/harness.mjs';

const VARIANTS = [
  'raw pending async fn',
  'naive sketch (Map + try/finally)',
  'p-limit(16)',
  'p-queue(16)',
  'Effect unbounded forkChild',
  'group.go, spawnSites off',
  'group.go, spawnSites sampled',
  'group.go, spawnSites always',
];
const ANCHOR = VARIANTS[0];
const GOAL = 1.3;

// --- child: one measurement -------------------------------------------------------------------------

async function child(variant, n) {
  const never = new Promise(() => {});
  let started = 0;
  const task = async () => {
    started++;
    await never;
  };

  /** Starts `count` pending tasks into `handles` and returns how many should be running. */
  // Only the variant's own library is loaded, so the other libraries' code costs nothing here.
  async function makeSpawner() {
    switch (variant) {
      case 'raw pending async fn':
        return (handles, count) => {
          for (let i = 0; i < count; i++) handles[i] = task();
          return count;
        };
      case 'naive sketch (Map + try/finally)':
        return (handles, count) => {
          const live = new Map();
          let nextId = 0;
          const spawn = (fn) => {
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
          };
          for (let i = 0; i < count; i++) handles[i] = spawn(task);
          return count;
        };
      case 'p-limit(16)': {
        const { default: pLimit } = await import('p-limit');
        return (handles, count) => {
          const limit = pLimit(16);
          for (let i = 0; i < count; i++) handles[i] = limit(task);
          return Math.min(16, count);
        };
      }
      case 'p-queue(16)': {
        const { default: PQueue } = await import('p-queue');
        return (handles, count) => {
          const q = new PQueue({ concurrency: 16 });
          for (let i = 0; i < count; i++) handles[i] = q.add(task);
          return Math.min(16, count);
        };
      }
      case 'Effect unbounded forkChild': {
        const { Effect } = await import('effect');
        return (handles, count) => {
          Effect.runFork(
            Effect.gen(function* () {
              for (let i = 0; i < count; i++) handles[i] = yield* Effect.forkChild(Effect.promise(task));
              yield* Effect.never;
            }),
          );
          return count;
        };
      }
      default: {
        const { Group, background, configure } = await import('corral');
        const level = /spawnSites (\w+)/.exec(variant)?.[1];
        if (level === undefined) throw new Error(`unknown variant ${variant}`);
        configure({ spawnSites: level });
        return (handles, count) => {
          const g = new Group(background(), { name: 'memory' });
          for (let i = 0; i < count; i++) handles[i] = g.go(task);
          return count;
        };
      }
    }
  }

  const spawn = await makeSpawner();
  async function startAndSettle(handles, count) {
    const expect = started + spawn(handles, count);
    for (let i = 0; started < expect; i++) {
      if (i > 10_000) throw new Error(`only ${started} of ${expect} tasks started`);
      await tick();
    }
    await tick();
  }

  const warm = new Array(1_000);
  await startAndSettle(warm, warm.length);

  const handles = new Array(n).fill(undefined);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  await startAndSettle(handles, n);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const pendingHandles = handles.filter((h) => h !== undefined).length;
  return { variant, n, heapBefore: before, heapAfter: after, bytesPerTask: (after - before) / n, pendingHandles };
}

// --- parent: fresh processes, side by side ---------------------------------------------------------

async function parent() {
  const n = TINY ? 10_000 : 1_000_000;
  const reps = TINY ? 1 : 5;
  const self = fileURLToPath(import.meta.url);
  const samples = new Map(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < reps; r++) {
    for (const v of VARIANTS) {
      const res = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', self, `--child=${v}`, `--n=${n}`], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (res.status !== 0) {
        process.stderr.write(res.stderr);
        throw new Error(`memory child "${v}" exited with ${res.status}`);
      }
      samples.get(v).push(JSON.parse(res.stdout.trim().split('\n').pop()));
    }
  }
  const med = new Map([...samples].map(([v, xs]) => [v, median(xs.map((x) => x.bytesPerTask))]));
  const raw = med.get(ANCHOR);
  const rows = [['variant', 'bytes/task', 'min', 'max', 'x raw', 'goal']];
  const variants = {};
  for (const v of VARIANTS) {
    const xs = samples.get(v).map((x) => x.bytesPerTask);
    const m = med.get(v);
    const isGroup = v.startsWith('group.go');
    const met = isGroup ? m / raw <= GOAL : undefined;
    variants[v] = { bytesPerTask: m, samples: xs, ratioToRaw: m / raw, met };
    rows.push([v, int(m), int(Math.min(...xs)), int(Math.max(...xs)), fmt(m / raw), isGroup && !TINY ? `${met ? 'MET' : 'NOT MET'} (<= ${GOAL}x)` : '']);
  }
  console.log(`\nheap bytes per pending task, ${int(n)} pending, each in a fresh process (median of ${reps})\n`);
  console.log(table(rows));
  const file = writeResults('memory', { tasks: n, repetitions: reps, task: 'async () => { await never }', anchor: ANCHOR, goalRatio: GOAL, variants });
  console.log(`\nresults: ${file}`);
}

const childVariant = arg('child', undefined);
if (childVariant === undefined) {
  await parent();
} else {
  const res = await child(childVariant, Number(arg('n', '1000000')));
  process.stdout.write(JSON.stringify(res) + '\n');
  process.exit(0);
}
