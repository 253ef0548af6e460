// Runs every bench/*.mjs in turn, each in its own Node process, and exits non-zero if any fails.
//
//   node scripts/run-benches.mjs          full sizes (minutes; `npm run bench` builds first)
//   node scripts/run-benches.mjs --tiny   CI sizes, so the benchmarks never rot (`npm run test:bench`)
//   node scripts/run-benches.mjs cancel   only the benchmarks whose file name contains "cancel"
//
// The benchmarks import the built package by its name, so dist/ must exist (`npm run build`).
// Results go to .bench-results/<name>.json (<name>.tiny.json with --tiny).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const tiny = args.includes('--tiny');
const filters = args.filter((a) => !a.startsWith('--'));

if (!existsSync(join(root, 'dist', 'index.js'))) {
  console.error('run-benches: dist/index.js is missing; run `npm run build` first');
  process.exit(1);
}

const files = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.mjs'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`run-benches: no benchmark in bench/ matches ${filters.join(', ')}`);
  process.exit(1);
}

// What is measured: the commit and whether src/ had uncommitted changes, as seen now (right after
// `npm run build`); each benchmark writes it into its results.
function source() {
  try {
    const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { commit: git('rev-parse', '--short', 'HEAD'), srcDirty: git('status', '--porcelain', '--', 'src') !== '' };
  } catch {
    return { commit: 'unknown', srcDirty: undefined };
  }
}
const env = { ...process.env, CORRAL_BENCH_SOURCE: JSON.stringify(source()) };

// --expose-gc: the benchmarks collect garbage between samples and measure heaps after a full GC.
// A large old space: the full sizes keep a million tasks (and their competitors' objects) alive.
const nodeFlags = ['--expose-gc', '--max-old-space-size=8192'];
const failed = [];
for (const f of files) {
  const started = performance.now();
  console.log(`\n=== bench/${f}${tiny ? ' --tiny' : ''}`);
  const r = spawnSync(process.execPath, [...nodeFlags, join(root, 'bench', f), ...(tiny ? ['--tiny'] : [])], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  if (r.status === 0) {
    console.log(`=== bench/${f}: ok (${secs}s)`);
  } else {
    failed.push(f);
    console.log(`=== bench/${f}: FAILED (${r.signal ?? `exit ${r.status}`}, ${secs}s)`);
  }
}

if (failed.length > 0) {
  console.error(`\nrun-benches: ${failed.length} of ${files.length} failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`\nrun-benches: ${files.length} benchmark(s) ran`);
