// The cost of a task dump at 100,000 live tasks: the grouped, full and JSON dumps of corral/inspect
// and groupTasks(), against the core's dumpTasks() (the anchor: the same grouped text, written by
// the registry itself), with spawn sites at the production default ('sampled': one spawn in 64
// captured) and at 'always' (tests' default).
//
//   node bench/dump.mjs          100,000 tasks, 15 rounds
//   node bench/dump.mjs --tiny   10,000 tasks, 1 round (CI smoke test)
//
// The population: tasks spawned from four sites in the code below (four names), blocked the way
// leaked tasks are: on a channel receive, in a sleep, on a promise that never settles, and a few
// in a group slot. Nothing runs while a dump is taken; every dump walks all of them.
//
// Two costs are measured:
// - steady: the same population dumped again and again, variants in turn each round (harness
//   rounds), ratios per round against dumpTasks() (pairedMedian).
// - first dump: a fresh population's first dump. With captured sites, the first read of each
//   captured stack makes V8 format it into a string (the CallSite formatting Node runs for
//   `.stack`); every reader pays that once per task (dumpTasks(), the watchdog, metrics), then
//   formatSite() keeps the formatted site on the task. The row "V8 formats the captured stacks"
//   shows that share on its own.
//
// Goal (issue 6): a grouped dump of 100,000 live tasks takes under 200 ms.
import { Buffer } from 'node:buffer';
import { Channel, Group, background, configure, dumpTasks, sleep, withCancel } from 'corral';
import { dump, groupTasks } from 'corral/inspect';
import { forEachEntry } from '../dist/registry.js';
import { TINY, fmt, gc, int, median, pairedMedian, rounds, table, tick, writeResults } from './lib/harness.mjs';

const N = TINY ? 10_000 : 100_000;
const RUNS = TINY ? 1 : 15;
const WARMUP = TINY ? 0 : 2;
const FIRST_RUNS = TINY ? 1 : 3;
const GOAL_MS = 200;

/** Spawns N blocked tasks from four sites; returns a function that ends them all. */
async function populate() {
  const { ctx, cancel } = withCancel(background());
  const g = new Group(ctx, { name: 'crowd', failFast: false });
  const slots = new Group(ctx, { name: 'limited', limit: 1 });
  const results = new Channel();
  const never = new Promise(() => {});
  const recvResult = () => g.go((c) => results.recv(c), { name: 'validate-terms', labels: { study: 'PHQ-9' } });
  const pollHis = () => g.go((c) => sleep(c, 3_600_000), { name: 'his-sync' });
  const awaitReply = () => g.go((c) => Promise.race([never, c.done]), { name: 'lost-reply' });
  const queued = () => slots.go((c) => Promise.race([never, c.done]), { name: 'export' });
  for (let i = 0; i < N; i++) {
    const k = i % 100;
    if (k < 50) recvResult();
    else if (k < 80) pollHis();
    else if (k < 99) awaitReply();
    else queued();
  }
  await tick();
  return async () => {
    cancel();
    await Promise.allSettled([g.wait(), slots.wait()]);
    await tick();
  };
}

const time = (fn) => {
  const t0 = performance.now();
  const out = fn();
  return { ms: performance.now() - t0, out };
};

const VARIANTS = [
  { name: 'dumpTasks() (anchor)', fn: () => dumpTasks() },
  { name: "dump({ format: 'grouped' })", fn: () => dump({ format: 'grouped' }) },
  { name: 'groupTasks()', fn: () => JSON.stringify(groupTasks()) },
  { name: "dump({ format: 'full' })", fn: () => dump({ format: 'full' }) },
  { name: "dump({ format: 'json' })", fn: () => dump({ format: 'json' }) },
];
const anchor = VARIANTS[0].name;
const grouped = VARIANTS[1].name;

// Warm the code up on a small population first: the first dumps of a process run in V8's interpreter.
{
  configure({ spawnSites: 'always' });
  const end = await populate();
  for (const v of VARIANTS) v.fn();
  await end();
}

const results = {};
const goals = [];
for (const spawnSites of ['sampled', 'always']) {
  configure({ spawnSites });

  // First dumps: a fresh population each, so nothing is formatted yet.
  const first = { v8Stacks: [], dumpTasks: [], grouped: [] };
  for (let r = 0; r < FIRST_RUNS; r++) {
    for (const which of ['v8Stacks', 'dumpTasks', 'grouped']) {
      if (!TINY) gc();
      const end = await populate();
      const t =
        which === 'v8Stacks'
          ? time(() => forEachEntry((e) => e._site?.stack))
          : which === 'dumpTasks'
            ? time(() => dumpTasks())
            : time(() => dump({ format: 'grouped' }));
      first[which].push(t.ms);
      await end();
    }
  }

  // Steady state: one population, dumped round after round.
  if (!TINY) gc();
  const end = await populate();
  const sizes = {};
  const samples = await rounds(
    VARIANTS.map((v) => ({
      name: v.name,
      run: async () => {
        const t = time(v.fn);
        sizes[v.name] = Buffer.byteLength(t.out);
        return t.ms;
      },
    })),
    { warmup: WARMUP, runs: RUNS },
  );
  await end();

  const rows = [['variant', 'median ms', 'vs dumpTasks (paired)', 'output']];
  const steady = {};
  for (const v of VARIANTS) {
    const ms = median(samples.get(v.name));
    const ratio = v.name === anchor ? 1 : pairedMedian(samples, v.name, anchor);
    steady[v.name] = { medianMs: ms, ratioToAnchor: ratio, bytes: sizes[v.name], samplesMs: samples.get(v.name) };
    rows.push([v.name, fmt(ms), fmt(ratio), `${fmt(sizes[v.name] / 1e6, 1)} MB`]);
  }
  const firstRows = [
    ['first dump of a fresh population', 'median ms'],
    ['V8 formats the captured stacks (first read of .stack)', fmt(median(first.v8Stacks))],
    ['dumpTasks() (anchor)', fmt(median(first.dumpTasks))],
    ["dump({ format: 'grouped' })", fmt(median(first.grouped))],
  ];
  console.log(`\n${int(N)} live tasks, spawnSites '${spawnSites}': steady state, ${RUNS} rounds after ${WARMUP} warm-up\n`);
  console.log(table(rows));
  console.log(`\nfirst dump, median of ${FIRST_RUNS} fresh populations\n`);
  console.log(table(firstRows));
  results[spawnSites] = {
    steady,
    first: { v8StacksMs: first.v8Stacks, dumpTasksMs: first.dumpTasks, groupedMs: first.grouped },
  };
  const steadyMs = steady[grouped].medianMs;
  const firstMs = median(first.grouped);
  goals.push({ goal: `grouped dump of ${int(N)} tasks, spawnSites '${spawnSites}', steady < ${GOAL_MS} ms`, value: steadyMs, met: steadyMs < GOAL_MS });
  goals.push({ goal: `grouped dump of ${int(N)} tasks, spawnSites '${spawnSites}', first dump < ${GOAL_MS} ms`, value: firstMs, met: firstMs < GOAL_MS });
}
configure({ spawnSites: 'sampled' });

console.log('');
if (TINY) console.log(`(--tiny: ${int(N)} tasks, a smoke test; the goal applies to the full run)`);
for (const x of goals) console.log(`${TINY ? '-' : x.met ? 'MET    ' : 'NOT MET'}  ${x.goal}: ${fmt(x.value)} ms`);
const file = writeResults('dump', { tasks: N, runs: RUNS, anchor, results, goals });
console.log(`\nresults: ${file}`);
