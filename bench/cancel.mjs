// Cancellation fan-out: N pending tasks are told to stop; the time measured runs from the
// cancel() call until the last task's finally block ran. corral's groups and contexts against
// the web platform's ways of doing the same (one shared AbortSignal, AbortSignal.any, a tree of
// AbortControllers), side by side in one process.
//
//   node bench/cancel.mjs           10,000 pending tasks
//   node bench/cancel.mjs --tiny    2,000 pending tasks (CI)
//   node bench/cancel.mjs --only=group   only the variants whose name contains "group"
//
// Three views of the same variants: side by side in one process (the variants take turns) with
// one long-lived corral task alive, as in a service; the same with no corral object alive between
// turns (V8 then drops corral's hidden classes and the optimized cancellation code, see
// pinClasses below); and each variant alone in a fresh process. They differ: see
// docs/benchmarks.md.
//
// Flat: every task hangs off one cancellation point. Tree: three levels of 10 x 10 x (N/100);
// the leaves are the N tasks. Before each measurement everything is built, every task is parked
// at its await, and a full GC has run, so the figure is the cancellation alone.
import { spawnSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import * as corral from 'corral';
import { Group, background, configure, withCancel } from 'corral';
import { TINY, arg, fmt, gc, median, rounds, table, tick, writeResults } from './lib/harness.mjs';

const N = TINY ? 2_000 : 10_000;
const FAN = [10, 10, N / 100]; // the tree: 10 x 10 x N/100 leaves
const sleep = typeof corral.sleep === 'function' ? corral.sleep : undefined;
const FOREVER = 2 ** 30;

/** A latch: `hit()` N times, then `end` is the performance.now() of the last hit. */
function latch(n) {
  const l = {
    left: n,
    end: 0,
    hit() {
      if (--l.left === 0) {
        l.end = performance.now();
        l.resolve();
      }
    },
  };
  l.done = new Promise((resolve) => (l.resolve = resolve));
  return l;
}

/** Resolves when `signal` aborts (one abort listener). */
function aborted(signal) {
  return new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
}

/**
 * Builds a scenario with `setup(latch)` (which returns the function that cancels), parks the
 * tasks, collects garbage, then times the cancellation until the latch is complete.
 */
function scenario(setup) {
  return async () => {
    configure({ spawnSites: 'off' });
    const l = latch(N);
    const { cancel, settle } = setup(l);
    await tick();
    gc();
    const t0 = performance.now();
    cancel();
    await l.done;
    const ms = l.end - t0;
    if (settle) await settle();
    return ms;
  };
}

// --- corral ----------------------------------------------------------------------------------------

const leafDone = (l) => async (ctx) => {
  try {
    await ctx.done;
  } finally {
    l.hit();
  }
};
const leafSleep = (l) => async (ctx) => {
  try {
    await sleep(ctx, FOREVER);
  } finally {
    l.hit();
  }
};

function groupFlat(leaf) {
  return (l) => {
    const g = new Group(background(), { name: 'flat' });
    const fn = leaf(l);
    for (let i = 0; i < N; i++) g.go(fn);
    return { cancel: () => g.cancel(), settle: () => g.wait().catch(() => {}) };
  };
}

function groupTree(leaf) {
  return (l) => {
    const fn = leaf(l);
    const root = new Group(background(), { name: 'root' });
    for (let a = 0; a < FAN[0]; a++) {
      root.go(async (ctx) => {
        const g1 = new Group(ctx, { name: 'level1' });
        for (let b = 0; b < FAN[1]; b++) {
          g1.go(async (ctx) => {
            const g2 = new Group(ctx, { name: 'level2' });
            for (let c = 0; c < FAN[2]; c++) g2.go(fn);
            await g2.wait();
          });
        }
        await g1.wait();
      });
    }
    return { cancel: () => root.cancel(), settle: () => root.wait().catch(() => {}) };
  };
}

function withCancelTree(l) {
  const root = withCancel(background());
  for (let a = 0; a < FAN[0]; a++) {
    const c1 = withCancel(root.ctx);
    for (let b = 0; b < FAN[1]; b++) {
      const c2 = withCancel(c1.ctx);
      for (let c = 0; c < FAN[2]; c++) {
        const leaf = withCancel(c2.ctx);
        (async () => {
          try {
            await leaf.ctx.done;
          } finally {
            l.hit();
          }
        })();
      }
    }
  }
  return { cancel: () => root.cancel() };
}

// --- anchors ---------------------------------------------------------------------------------------

const parked = (l, signal) =>
  (async () => {
    try {
      await aborted(signal);
    } finally {
      l.hit();
    }
  })();

function sharedSignalFlat(l) {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  for (let i = 0; i < N; i++) parked(l, ac.signal);
  return { cancel: () => ac.abort() };
}

function anyFlat(l) {
  const ac = new AbortController();
  for (let i = 0; i < N; i++) parked(l, AbortSignal.any([ac.signal]));
  return { cancel: () => ac.abort() };
}

/** A child controller aborted by an abort listener on its parent's signal. */
function childController(parent) {
  const ac = new AbortController();
  parent.addEventListener('abort', () => ac.abort(parent.reason), { once: true });
  return ac;
}

function controllerFlat(l) {
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  for (let i = 0; i < N; i++) parked(l, childController(ac.signal).signal);
  return { cancel: () => ac.abort() };
}

function controllerTree(perLeaf) {
  return (l) => {
    const ac = new AbortController();
    for (let a = 0; a < FAN[0]; a++) {
      const c1 = childController(ac.signal);
      for (let b = 0; b < FAN[1]; b++) {
        const c2 = childController(c1.signal);
        setMaxListeners(0, c2.signal);
        for (let c = 0; c < FAN[2]; c++) parked(l, perLeaf ? childController(c2.signal).signal : c2.signal);
      }
    }
    return { cancel: () => ac.abort() };
  };
}

function anyTree(l) {
  const ac = new AbortController();
  for (let a = 0; a < FAN[0]; a++) {
    const s1 = AbortSignal.any([ac.signal]);
    for (let b = 0; b < FAN[1]; b++) {
      const s2 = AbortSignal.any([s1]);
      for (let c = 0; c < FAN[2]; c++) parked(l, AbortSignal.any([s2]));
    }
  }
  return { cancel: () => ac.abort() };
}

// --- run -------------------------------------------------------------------------------------------

const SHAPES = [
  {
    shape: 'flat',
    goalMs: 8,
    anchor: 'shared AbortSignal (1 listener per task)',
    variants: [
      { name: 'group.go, tasks await ctx.done', corral: true, setup: groupFlat(leafDone) },
      ...(sleep ? [{ name: 'group.go, tasks await sleep(ctx)', corral: true, setup: groupFlat(leafSleep) }] : []),
      { name: 'shared AbortSignal (1 listener per task)', setup: sharedSignalFlat },
      { name: 'AbortSignal.any([parent]) per task', setup: anyFlat },
      { name: 'AbortController per task (listener on parent)', setup: controllerFlat },
    ],
  },
  {
    shape: `tree ${FAN.join(' x ')}`,
    goalMs: 12,
    anchor: 'AbortController tree, leaves share level-2 signal',
    variants: [
      { name: 'groups in groups, tasks await ctx.done', corral: true, setup: groupTree(leafDone) },
      ...(sleep ? [{ name: 'groups in groups, tasks await sleep(ctx)', corral: true, setup: groupTree(leafSleep) }] : []),
      { name: 'withCancel tree, leaves await ctx.done', corral: true, setup: withCancelTree },
      { name: 'AbortController tree, leaves share level-2 signal', setup: controllerTree(false) },
      { name: 'AbortController tree, controller per leaf', setup: controllerTree(true) },
      { name: 'AbortSignal.any tree', setup: anyTree },
    ],
  },
];

const warmup = TINY ? 1 : 3;
const runs = TINY ? 5 : 21;

/** Measures the named variants of one shape side by side in this process; returns samples by name. */
async function measure(shape, names) {
  const vs = shape.variants.filter((v) => names.includes(v.name)).map((v) => ({ name: v.name, run: scenario(v.setup) }));
  return rounds(vs, { warmup, runs });
}

function report(shape, samples, title) {
  const anchor = samples.has(shape.anchor) ? median(samples.get(shape.anchor)) : NaN;
  const rows = [['variant', 'median ms', 'min ms', 'max ms', 'x anchor', 'goal']];
  const variants = {};
  for (const v of shape.variants) {
    const xs = samples.get(v.name);
    if (xs === undefined) continue;
    const m = median(xs);
    const met = v.corral ? m < shape.goalMs : undefined;
    variants[v.name] = { medianMs: m, samplesMs: xs, ratioToAnchor: m / anchor, goalMs: v.corral ? shape.goalMs : undefined, met };
    const verdict = v.corral && !TINY ? `${met ? 'MET' : 'NOT MET'} (< ${shape.goalMs} ms)` : '';
    rows.push([v.name, fmt(m), fmt(Math.min(...xs)), fmt(Math.max(...xs)), fmt(m / anchor), verdict]);
  }
  console.log(`\n${title}\n`);
  console.log(table(rows));
  return variants;
}

const childVariant = arg('variant', undefined);
if (childVariant !== undefined) {
  // A child run by the parent below: one variant, alone in a fresh process; samples go to stdout.
  const shape = SHAPES.find((s) => s.variants.some((v) => v.name === childVariant));
  if (shape === undefined) throw new Error(`unknown variant ${childVariant}`);
  const samples = await measure(shape, [childVariant]);
  process.stdout.write(JSON.stringify(samples.get(childVariant)) + '\n');
  process.exit(0);
}

/**
 * One corral task kept pending, as a service's long-lived tasks are. V8 holds an object's hidden
 * class only weakly once no instance is left: a full GC while no corral task, context or group
 * exists throws the classes away, and with them the optimized code of the cancellation path
 * (deoptimized for "weak objects"), so the next cancel runs in the interpreter. A live task pins
 * the classes. Both cases are measured; see docs/benchmarks.md.
 */
function pinClasses() {
  const g = new Group(background(), { name: 'long-lived' });
  g.go(async (ctx) => {
    await ctx.done;
  });
  return async () => {
    g.cancel();
    await g.wait().catch(() => {});
  };
}

if (!sleep) console.log('(no sleep export in corral yet: the sleep(ctx) variants are skipped)');
const only = arg('only', undefined);
// The unpinned and alone-in-a-process views are part of the full run; --tiny skips them.
const full = !TINY && only === undefined;
const self = fileURLToPath(import.meta.url);
const out = [];
for (const s of SHAPES) {
  const names = s.variants.map((v) => v.name).filter((n) => only === undefined || n.includes(only));
  if (names.length === 0) continue;
  const head = `cancel ${N.toLocaleString('en-US')} pending tasks, ${s.shape}: cancel() until the last finally ran (median of ${runs} runs after ${warmup} warm-up; anchor: ${s.anchor})`;
  const unpin = pinClasses();
  const pinned = report(s, await measure(s, names), `${head}\nside by side in one process, variants taking turns, one long-lived corral task alive:`);
  await unpin();
  let unpinned;
  let alone;
  if (full) {
    gc();
    unpinned = report(s, await measure(s, names), `${head}\nside by side in one process, variants taking turns, no corral object alive between turns:`);
    const samples = new Map();
    for (const name of names) {
      const r = spawnSync(process.execPath, ['--expose-gc', self, `--variant=${name}`], { encoding: 'utf8' });
      if (r.status !== 0) {
        process.stderr.write(r.stderr);
        throw new Error(`cancel child "${name}" exited with ${r.status}`);
      }
      samples.set(name, JSON.parse(r.stdout.trim().split('\n').pop()));
    }
    alone = report(s, samples, `${head}\neach variant alone in a fresh process:`);
  }
  out.push({ shape: s.shape, goalMs: s.goalMs, anchor: s.anchor, sideBySide: pinned, sideBySideNothingPinned: unpinned, alone });
}

if (TINY) console.log('\n(--tiny: a smoke test with fewer tasks; the goals apply to 10,000)');
const name = only === undefined ? 'cancel' : `cancel-only-${only.replace(/[^\w.-]+/g, '_')}`;
const file = writeResults(name, { only, tasks: N, tree: FAN, sleepVariant: sleep !== undefined, warmup, runs, shapes: out });
console.log(`\nresults: ${file}`);
