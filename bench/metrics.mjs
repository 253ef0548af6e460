// What metrics and tracing cost a task: spawn + await N trivial async tasks with group.go (spawn
// sites off) with nothing on the registry's observer slots, with the duration histogram's finish
// observer (enableMetrics), and with corral/otel spans (enableTracing) through a no-op tracer
// (corral's own share), through the OpenTelemetry SDK (a span per task, a processor that does
// nothing, so no exporter is measured), and sampled at 1%. Then what one metricsText() scrape
// costs with many live tasks.
//
// Every measurement runs in a fresh child process: a real process installs its observers once,
// while switching them back and forth in one process deoptimizes the spawn path and leaves the
// tracing variants' garbage to whichever variant runs next (measured: the anchor came out ~20%
// slower than the same code with an observer). Rounds rotate the variants' order.
//
//   node bench/metrics.mjs           full sizes (100,000 tasks; scrapes over 10,000 live tasks)
//   node bench/metrics.mjs --tiny    CI size (2,000 tasks): a smoke test, not a measurement
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TINY, arg, fmt, gc, int, median, table, writeResults } from './lib/harness.mjs';

const N = TINY ? 2_000 : 100_000;
const LIVE = TINY ? 1_000 : 10_000;
const ANCHOR = 'no observer';
const VARIANTS = [
  ANCHOR,
  'duration histogram (enableMetrics)',
  'otel, no-op tracer (corral share)',
  'otel, SDK tracer, every task',
  'otel, SDK tracer, sampleRate 0.01',
  'metrics + otel SDK, every task',
];

// --- child: one variant, measured a few times after a warm-up --------------------------------------

async function child(variant, n, reps) {
  const { trace } = await import('@opentelemetry/api');
  const { BasicTracerProvider } = await import('@opentelemetry/sdk-trace-base');
  const { Group, background, configure } = await import('corral');
  const { enableMetrics } = await import('corral/inspect');
  const { enableTracing } = await import('corral/otel');
  configure({ spawnSites: 'off' });
  /** A span processor that keeps nothing: the SDK's span work is measured, no exporter's. */
  const nothing = { onStart() {}, onEnd() {}, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };
  const sdkTracer = new BasicTracerProvider({ spanProcessors: [nothing] }).getTracer('bench');
  // No provider registered: the API's tracer makes non-recording spans, so this is corral's share.
  const noopTracer = trace.getTracer('bench-noop');
  const setups = {
    [ANCHOR]: () => {},
    'duration histogram (enableMetrics)': () => enableMetrics(),
    'otel, no-op tracer (corral share)': () => enableTracing({ tracer: noopTracer }),
    'otel, SDK tracer, every task': () => enableTracing({ tracer: sdkTracer }),
    'otel, SDK tracer, sampleRate 0.01': () => enableTracing({ tracer: sdkTracer, sampleRate: 0.01 }),
    'metrics + otel SDK, every task': () => {
      enableMetrics();
      enableTracing({ tracer: sdkTracer });
    },
  };
  setups[variant]();
  const work = async () => 1;
  const once = async (count) => {
    const g = new Group(background());
    const t0 = performance.now();
    for (let i = 0; i < count; i++) g.go(work);
    await g.wait();
    return performance.now() - t0;
  };
  await once(n);
  const times = [];
  for (let i = 0; i < reps; i++) {
    if (!TINY) gc();
    times.push(await once(n));
  }
  return median(times);
}

// --- child: scrapes over many live tasks ------------------------------------------------------------

async function scrapeChild(sites, live) {
  const { Group, background, configure } = await import('corral');
  const { metricsText } = await import('corral/inspect');
  configure({ spawnSites: sites });
  const g = new Group(background());
  let open;
  const held = new Promise((r) => (open = r));
  for (let i = 0; i < live / 2; i++) g.go(() => held, { name: 'a' });
  for (let i = 0; i < live / 2; i++) g.go(() => held, { name: 'b' });
  const t0 = performance.now();
  metricsText();
  const firstMs = performance.now() - t0;
  const times = [];
  for (let i = 0; i < (TINY ? 3 : 15); i++) {
    const t = performance.now();
    metricsText();
    times.push(performance.now() - t);
  }
  open();
  await g.wait();
  return { firstMs, medianMs: median(times) };
}

// --- parent -----------------------------------------------------------------------------------------

const self = fileURLToPath(import.meta.url);
function runChild(args) {
  const res = spawnSync(process.execPath, [self, ...args, ...(TINY ? ['--tiny'] : [])], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`metrics bench child ${args.join(' ')} exited with ${res.status}:\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').at(-1));
}

const childVariant = arg('child', undefined);
const scrapeSites = arg('scrape', undefined);
if (childVariant !== undefined) {
  console.log(JSON.stringify(await child(childVariant, Number(arg('n', String(N))), Number(arg('reps', '5')))));
} else if (scrapeSites !== undefined) {
  console.log(JSON.stringify(await scrapeChild(scrapeSites, LIVE)));
} else {
  const rounds = TINY ? 1 : 8;
  const reps = TINY ? 2 : 5;
  const samples = new Map(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    const order = [...VARIANTS.slice(r % VARIANTS.length), ...VARIANTS.slice(0, r % VARIANTS.length)];
    for (const v of order) samples.get(v).push(runChild([`--child=${v}`, `--n=${N}`, `--reps=${reps}`]));
  }
  // Paired per round: a disturbance that slows one round slows both sides of its ratio.
  const paired = (v) => median(samples.get(v).map((x, i) => x / samples.get(ANCHOR)[i]));
  const rows = [['variant', 'median ms', 'tasks/s', 'x anchor (paired)']];
  const byName = {};
  for (const v of VARIANTS) {
    const m = median(samples.get(v));
    byName[v] = { medianMs: m, samplesMs: samples.get(v), tasksPerSec: (N / m) * 1000, ratioToAnchor: paired(v) };
    rows.push([v, fmt(m), int((N / m) * 1000), fmt(paired(v))]);
  }
  console.log(`\nspawn + await ${int(N)} trivial async tasks, group.go, spawnSites off`);
  console.log(`(${rounds} rounds of one fresh process per variant, each the median of ${reps} runs after a warm-up)\n`);
  console.log(table(rows));

  const scrapes = { off: runChild(['--scrape=off']), always: runChild(['--scrape=always']) };
  console.log(`\nmetricsText() over ${int(LIVE)} live tasks from two spawn sites\n`);
  console.log(
    table([
      ['spawn sites', 'first scrape ms', 'later scrapes ms (median)'],
      ['off (counted by name)', fmt(scrapes.off.firstMs), fmt(scrapes.off.medianMs)],
      ['always (by file:line)', fmt(scrapes.always.firstMs), fmt(scrapes.always.medianMs)],
    ]),
  );

  const ratio = (n) => byName[n].ratioToAnchor;
  const goals = [
    {
      goal: 'the duration histogram costs spawn+await at most 10% (<= 1.10x)',
      value: ratio('duration histogram (enableMetrics)'),
      unit: 'x anchor',
      met: ratio('duration histogram (enableMetrics)') <= 1.1,
    },
    {
      goal: 'tracing sampled at 1% costs spawn+await at most 25% (<= 1.25x)',
      value: ratio('otel, SDK tracer, sampleRate 0.01'),
      unit: 'x anchor',
      met: ratio('otel, SDK tracer, sampleRate 0.01') <= 1.25,
    },
  ];
  console.log('');
  if (TINY) console.log('(--tiny: a smoke test; the goals apply to the full sizes)');
  for (const x of goals) console.log(`${TINY ? '-' : x.met ? 'MET    ' : 'NOT MET'}  ${x.goal}: ${fmt(x.value)} ${x.unit}`);

  const file = writeResults('metrics', {
    tasks: N,
    task: 'async () => 1',
    anchor: ANCHOR,
    rounds,
    repsPerChild: reps,
    variants: byName,
    scrapes: { liveTasks: LIVE, ...scrapes },
    goals,
  });
  console.log(`\nresults: ${file}`);
}
