// Shared by the benchmark files: argument parsing, timing, medians, tables and JSON results.
// Not a benchmark itself (scripts/run-benches.mjs runs only bench/*.mjs).
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

/** The repository's root directory. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Whether `--tiny` was given: CI sizes, a second or two per file. */
export const TINY = process.argv.includes('--tiny');

/** Reads `--name=value` from the command line. */
export function arg(name, fallback) {
  const prefix = `--${name}=`;
  const a = process.argv.find((s) => s.startsWith(prefix));
  return a === undefined ? fallback : a.slice(prefix.length);
}

let gcFn = globalThis.gc;
/** A full, synchronous garbage collection (works with or without --expose-gc). */
export function gc() {
  if (gcFn === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc');
  }
  gcFn();
}

/** The median of an array of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Lets pending macrotasks (and their microtasks) run. */
export function tick() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The machine the numbers come from. */
export function machine() {
  const c = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
  };
}

/** The 1-minute load average: other processes on the machine skew timings, so it goes in the results. */
export function load() {
  return Math.round(loadavg()[0] * 100) / 100;
}

/**
 * The commit measured and whether src/ had uncommitted changes, taken when the run started
 * (scripts/run-benches.mjs passes what it saw right after the build), and when dist/ was built.
 */
function sourceNow() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', '--short', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return { commit: 'unknown', srcDirty: undefined };
  }
}

const SOURCE = {
  ...(process.env.CORRAL_BENCH_SOURCE ? JSON.parse(process.env.CORRAL_BENCH_SOURCE) : sourceNow()),
  distBuiltAt: (() => {
    try {
      return statSync(join(ROOT, 'dist', 'index.js')).mtime.toISOString();
    } catch {
      return undefined;
    }
  })(),
};

const LOAD_AT_START = load();

/**
 * Runs every variant `warmup` times, then `runs` rounds in which each variant runs once, in turn,
 * so slow drift (heap growth, thermal) spreads over all variants alike. Each variant is an
 * `async () => number` returning the milliseconds it measured itself. Returns the samples.
 */
export async function rounds(variants, { warmup, runs, beforeEach }) {
  const samples = new Map(variants.map((v) => [v.name, []]));
  for (let i = 0; i < warmup; i++) {
    for (const v of variants) {
      if (beforeEach) await beforeEach();
      await v.run();
    }
  }
  for (let r = 0; r < runs; r++) {
    for (const v of variants) {
      if (beforeEach) await beforeEach();
      samples.get(v.name).push(await v.run());
    }
  }
  return samples;
}

/**
 * The median over rounds of `samples[a][i] / samples[b][i]`: a ratio of two variants measured
 * back to back in the same round, so a disturbance that slows one round slows both sides of its
 * ratio. Steadier than the ratio of two medians on a noisy machine.
 */
export function pairedMedian(samples, a, b) {
  const xs = samples.get(a);
  const ys = samples.get(b);
  return median(xs.map((x, i) => x / ys[i]));
}

/** Formats rows (arrays of cells) as an aligned text table; the first row is the header. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** Formats a number with a fixed number of decimals. */
export function fmt(x, digits = 2) {
  return x === undefined || Number.isNaN(x) ? '-' : x.toFixed(digits);
}

/** Formats an integer with thousands separators. */
export function int(x) {
  return Math.round(x).toLocaleString('en-US');
}

/** Writes `.bench-results/<name>.json` and returns its path. */
export function writeResults(name, data) {
  const dir = join(ROOT, '.bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}${TINY ? '.tiny' : ''}.json`);
  writeFileSync(file, JSON.stringify(
      { bench: name, tiny: TINY, date: new Date().toISOString(), machine: machine(), source: SOURCE, loadAvg1m: { start: LOAD_AT_START, end: load() }, ...data },
      null,
      2,
    ) + '\n');
  return file;
}
