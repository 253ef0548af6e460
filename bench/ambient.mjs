// What ambient tracking (the AsyncLocalStorage behind `go()`) costs on promise-heavy code. Once
// turned on it stays on for the process, so every measurement runs in a fresh child process.
//
//   node bench/ambient.mjs          2,000 tasks x 200 awaits each, 5 processes per variant
//   node bench/ambient.mjs --tiny   200 tasks x 20 awaits, 1 process per variant (CI)
//
// The workload: a group of tasks, each awaiting a chain of small async functions, the shape of
// code that parses, validates and stores records. Variants:
// - off: group.go, ambient tracking never turned on (corral's default);
// - on: enableAmbientTracking() first, then the same group.go (each task runs inside the storage);
// - raw: the same functions without corral, the floor.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TINY, fmt, median, table, writeResults } from './lib/harness.mjs';

const VARIANTS = ['raw promises', 'group.go, ambient off', 'group.go, ambient on'];
const TASKS = TINY ? 200 : 2_000;
const AWAITS = TINY ? 20 : 200;
const PROCESSES = TINY ? 1 : 5;
const RUNS = TINY ? 2 : 7;

async function child(variant) {
  const { Group, background, enableAmbientTracking } = await import('corral');
  if (variant === 'group.go, ambient on') enableAmbientTracking();
  const step = async (x) => x + 1;
  const work = async () => {
    let x = 0;
    for (let i = 0; i < AWAITS; i++) x = await step(x);
    return x;
  };
  const once = async () => {
    if (variant === 'raw promises') {
      const ps = [];
      for (let i = 0; i < TASKS; i++) ps.push(work());
      await Promise.all(ps);
    } else {
      const g = new Group(background());
      for (let i = 0; i < TASKS; i++) g.go(work);
      await g.wait();
    }
  };
  await once(); // warm-up
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  process.stdout.write(JSON.stringify(median(times)));
}

async function main() {
  const self = fileURLToPath(import.meta.url);
  const results = {};
  // Variants take turns, process after process, so drifting load hits them alike.
  for (let p = 0; p < PROCESSES; p++) {
    for (const v of VARIANTS) {
      const r = spawnSync(process.execPath, [self, '--child', v, ...(TINY ? ['--tiny'] : [])], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`child "${v}" failed: ${r.stderr}`);
      (results[v] ??= []).push(JSON.parse(r.stdout));
    }
  }
  const off = median(results['group.go, ambient off']);
  const rows = [['variant', 'median ms', 'x raw', 'x ambient off']];
  const medians = {};
  for (const v of VARIANTS) {
    const m = median(results[v]);
    medians[v] = m;
    rows.push([v, fmt(m), fmt(m / median(results['raw promises'])), fmt(m / off)]);
  }
  console.log(`\n${TASKS.toLocaleString('en-US')} tasks x ${AWAITS} awaits, median of ${RUNS} runs per process, ${PROCESSES} process(es) per variant\n`);
  console.log(table(rows));
  console.log(`\nambient tracking on costs ${fmt(medians['group.go, ambient on'] / off)}x on this workload`);
  writeResults('ambient', { tasks: TASKS, awaits: AWAITS, samples: results, medians });
}

const at = process.argv.indexOf('--child');
if (at >= 0) await child(process.argv[at + 1]);
else await main();
