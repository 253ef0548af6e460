// The Watchdog's own cost on a busy service: throughput of a busy workload with no watchdog, with
// one sampling at its default interval (10 s), and with one sampling every 100 ms; then the cost
// of one sample at 10,000 and 100,000 live tasks.
//
//   node bench/watchdog.mjs          21 rounds of 4 x 8 interleaved slices of 200 ms (~2.5 min)
//   node bench/watchdog.mjs --tiny   1 round of 4 x 2 slices of 50 ms (CI smoke test)
//
// The workload: a group keeps ~10,000 short tasks in flight; each task yields to the event loop
// once (setImmediate, so timers run and the watchdog samples) and spawns its successor when it
// ends. One workload runs throughout; the variants take turns on it in slices of 200 ms, their
// order rotating, so a change in the machine's load (it is shared) falls on all of them alike.
// A round gives each variant 8 slices; its throughput in the round is tasks finished per CPU
// second of the process (process.cpuUsage(), every thread), which another process taking the
// cores disturbs far less than wall time (shown too). Two variants run no watchdog; the baseline
// of a round is their mean, and a variant's ratio is the median of its per-round ratios to it
// (harness pairedMedian). How far the two no-watchdog variants differ is the noise floor. As a cross-check, the watchdog's own share is also accounted
// directly: the wall time its samples measured, over the CPU time of its slices (an upper bound
// when the machine is busy: a sample preempted by another process counts its wait).
//
// The watchdogs are started for each of their slices (their hooks on: the event loop histogram,
// the GC observer, the warning listener) with their own timer out of the way, and a bench timer
// calls sample() every 10 s (or 100 ms) of the variant's own time, carried from slice to slice,
// as its timer would over an uninterrupted run. Spawn sites at the production default ('sampled').
import { Group, background, configure, withCancel } from 'corral';
import { Watchdog } from 'corral/inspect';
import { TINY, fmt, gc, int, median, pairedMedian, table, tick, writeResults } from './lib/harness.mjs';

const SLICE_MS = TINY ? 50 : 200;
const SLICES = TINY ? 2 : 8;
const RUNS = TINY ? 1 : 21;
const WARMUP = TINY ? 0 : 1;
const IN_FLIGHT = TINY ? 2_000 : 10_000;
const GOAL = 0.98;

const quiet = { onAlert: () => {}, onClear: () => {} };
/** Longer than any slice: the watchdogs' own timers never fire, the bench's carried one does. */
const NEVER = 2 ** 31 - 1;

configure({ spawnSites: 'sampled' });
const work = new Group(background(), { name: 'busy' });
let finished = 0;
let running = true;
const yieldTurn = () => new Promise((r) => setImmediate(r));
const request = async () => {
  await yieldTurn();
  finished++;
  if (running) work.go(request, { name: 'request' });
};
for (let i = 0; i < IN_FLIGHT; i++) work.go(request, { name: 'request' });
await tick();

function variant(name, period) {
  const w = period === undefined ? undefined : new Watchdog({ ...quiet, interval: NEVER });
  return { name, w, period, dueIn: period, acc: { cpuMs: 0, wallMs: 0, tasks: 0, samples: 0, sampleMs: 0 } };
}
const VARIANTS = [
  variant('no watchdog'),
  variant('watchdog, default interval (10 s)', 10_000),
  variant('watchdog, 100 ms interval', 100),
  variant('no watchdog (control)'),
];

/** One slice of the workload with `v`'s watchdog (if any) started and sampling on its carried period. */
async function slice(v) {
  const w = v.w;
  const before = w?.status();
  w?.start();
  let timer;
  let scheduledAt = 0;
  const schedule = (ms) => {
    scheduledAt = performance.now();
    timer = setTimeout(() => {
      w.sample();
      v.dueIn = v.period;
      schedule(v.period);
    }, ms);
  };
  if (w !== undefined) schedule(v.dueIn);
  const f0 = finished;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SLICE_MS));
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const tasks = finished - f0;
  if (w !== undefined) {
    clearTimeout(timer);
    v.dueIn = Math.max(0, v.dueIn - (performance.now() - scheduledAt));
    const after = w.status();
    w.stop();
    v.acc.samples += after.samples - before.samples;
    v.acc.sampleMs += after.cost.mean * after.samples - before.cost.mean * before.samples;
  }
  v.acc.cpuMs += (c.user + c.system) / 1e3;
  v.acc.wallMs += wall;
  v.acc.tasks += tasks;
}

const cpuSamples = new Map(VARIANTS.map((v) => [v.name, []]));
const wallSamples = new Map(VARIANTS.map((v) => [v.name, []]));
const totals = new Map(VARIANTS.map((v) => [v.name, { cpuMs: 0, tasks: 0, samples: 0, sampleMs: 0, variantMs: 0 }]));
for (let r = -WARMUP; r < RUNS; r++) {
  if (!TINY) gc();
  for (const v of VARIANTS) v.acc = { cpuMs: 0, wallMs: 0, tasks: 0, samples: 0, sampleMs: 0 };
  for (let k = 0; k < SLICES; k++) {
    const shift = (r + WARMUP + k) % VARIANTS.length;
    for (let i = 0; i < VARIANTS.length; i++) await slice(VARIANTS[(i + shift) % VARIANTS.length]);
  }
  if (r < 0) continue;
  for (const v of VARIANTS) {
    const a = v.acc;
    cpuSamples.get(v.name).push((a.cpuMs * 1e6) / a.tasks);
    wallSamples.get(v.name).push((a.wallMs * 1e6) / a.tasks);
    const t = totals.get(v.name);
    t.cpuMs += a.cpuMs;
    t.tasks += a.tasks;
    t.samples += a.samples;
    t.sampleMs += a.sampleMs;
    t.variantMs += a.wallMs;
  }
}
running = false;
await work.wait();

// The baseline: the mean of the two no-watchdog variants, round by round.
const anchor = 'baseline (mean of the two without)';
for (const m of [cpuSamples, wallSamples]) {
  const a = m.get('no watchdog');
  const b = m.get('no watchdog (control)');
  m.set(anchor, a.map((x, i) => (x + b[i]) / 2));
}
const rows = [['variant', 'tasks per CPU s', 'vs baseline (paired)', 'tasks per wall s', 'vs baseline (paired)', 'samples per s', "samples' share of CPU"]];
const throughput = {};
for (const v of VARIANTS) {
  const cpu = cpuSamples.get(v.name);
  const wall = wallSamples.get(v.name);
  const t = totals.get(v.name);
  const ratio = 1 / pairedMedian(cpuSamples, v.name, anchor);
  const wallRatio = 1 / pairedMedian(wallSamples, v.name, anchor);
  const perSec = t.samples / (t.variantMs / 1000);
  const share = t.sampleMs / t.cpuMs;
  throughput[v.name] = {
    tasksPerCpuSec: 1e9 / median(cpu),
    tasksPerWallSec: 1e9 / median(wall),
    throughputRatio: ratio,
    wallThroughputRatio: wallRatio,
    samples: t.samples,
    samplesPerSec: perSec,
    cpuShare: share,
    nsPerTaskCpu: cpu,
    nsPerTaskWall: wall,
  };
  rows.push([v.name, int(1e9 / median(cpu)), fmt(ratio, 3), int(1e9 / median(wall)), fmt(wallRatio, 3), fmt(perSec, 2), `${fmt(share * 100, 3)}%`]);
}
console.log(`\nbusy workload: ~${int(IN_FLIGHT)} short tasks in flight; ${RUNS} rounds (after ${WARMUP} warm-up) of ${SLICES} slices of ${SLICE_MS} ms per variant, interleaved\n`);
console.log(table(rows));

// --- one sample's cost -------------------------------------------------------------------------

async function sampleCost(n, spawnSites, perSite) {
  configure({ spawnSites });
  const { ctx, cancel } = withCancel(background());
  const g = new Group(background(), { name: 'crowd' });
  const never = new Promise(() => {});
  for (let i = 0; i < n; i++) g.go(() => Promise.race([never, ctx.done]), { name: 'lost-result' });
  await tick();
  const rules = { eventLoopDelay: false, heap: false, warnings: false, liveTasks: { perSite } };
  const w = new Watchdog({ ...quiet, rules });
  const first = w.sample().readings.costMs;
  const rest = [];
  for (let i = 0; i < (TINY ? 3 : 20); i++) rest.push(w.sample().readings.costMs);
  cancel();
  await g.wait();
  await tick();
  return { first, steady: median(rest) };
}

// Warm the census's code up first: the first samples of a process run in V8's interpreter.
for (const spawnSites of ['sampled', 'always']) await sampleCost(TINY ? 1_000 : 10_000, spawnSites, TINY ? 500 : 5_000);

const costs = [];
const costRows = [['live tasks', 'spawnSites', 'per-site breakdown', 'first sample ms', 'steady sample ms', 'steady ns per task']];
for (const n of TINY ? [10_000] : [10_000, 100_000]) {
  for (const [spawnSites, breakdown] of [['sampled', false], ['always', false], ['sampled', true], ['always', true]]) {
    if (!TINY) gc();
    // perSite below n puts the crowd's name "of interest": its tasks are counted by site too.
    const c = await sampleCost(n, spawnSites, breakdown ? Math.floor(n / 2) : 1e9);
    costs.push({ n, spawnSites, breakdown, firstMs: c.first, steadyMs: c.steady, nsPerTask: (c.steady * 1e6) / n });
    costRows.push([int(n), spawnSites, breakdown ? 'yes' : 'no', fmt(c.first), fmt(c.steady), fmt((c.steady * 1e6) / n, 0)]);
  }
}
configure({ spawnSites: 'sampled' });
console.log('\none sample (all rules that need no hook, plus the census), median of the later samples\n');
console.log(table(costRows));

const goals = [
  {
    goal: `throughput with a watchdog at its default interval >= ${GOAL} of none (per CPU time, paired with the baseline)`,
    value: throughput['watchdog, default interval (10 s)'].throughputRatio,
    met: throughput['watchdog, default interval (10 s)'].throughputRatio >= GOAL,
  },
  {
    goal: `throughput with a watchdog sampling every 100 ms >= ${GOAL} of none (per CPU time, paired with the baseline; reported, not required)`,
    value: throughput['watchdog, 100 ms interval'].throughputRatio,
    met: throughput['watchdog, 100 ms interval'].throughputRatio >= GOAL,
  },
];
console.log('');
if (TINY) console.log('(--tiny: a smoke test; the default interval never fires in so short a run, the goals apply to the full run)');
for (const x of goals) console.log(`${TINY ? '-' : x.met ? 'MET    ' : 'NOT MET'}  ${x.goal}: ${fmt(x.value, 3)}`);
const noise = 1 / pairedMedian(cpuSamples, 'no watchdog (control)', 'no watchdog');
console.log(`\nnoise floor: the two variants without a watchdog came out at ${fmt(noise, 3)} of each other`);
console.log(
  `direct accounting: the samples themselves took ${fmt(throughput['watchdog, default interval (10 s)'].cpuShare * 100, 3)}% of the CPU ` +
    `at the default interval, ${fmt(throughput['watchdog, 100 ms interval'].cpuShare * 100, 3)}% at 100 ms (wall time of the samples over CPU time: an upper bound)`,
);
const file = writeResults('watchdog', { sliceMs: SLICE_MS, slices: SLICES, runs: RUNS, inFlight: IN_FLIGHT, anchor, noiseFloor: noise, throughput, sampleCost: costs, goals });
console.log(`\nresults: ${file}`);
