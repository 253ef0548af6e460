#!/usr/bin/env node
// Runs every file in examples/ the way a reader would, so examples never rot. Files marked
// "example: long-running" are stopped with SIGINT after a few seconds and must then exit 0.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = new URL('../examples/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => /\.(ts|mts|js|mjs)$/.test(f)).sort();
let failed = 0;
for (const file of files) {
  const path = join(dir, file);
  const longRunning = /example: long-running/.test(readFileSync(path, 'utf8').slice(0, 300));
  const started = Date.now();
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const stopper = longRunning ? setTimeout(() => child.kill('SIGINT'), 4_500) : undefined;
    const limit = setTimeout(() => {
      out += '\n[run-examples] no exit after 30 s: killed';
      child.kill('SIGKILL');
    }, 30_000);
    child.on('exit', (c, sig) => {
      clearTimeout(stopper);
      clearTimeout(limit);
      if (c !== 0) process.stdout.write(out);
      resolve(c ?? sig);
    });
  });
  const ok = code === 0;
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} examples/${file} (${Date.now() - started} ms${ok ? '' : `, exit ${code}`})`);
}
console.log(`${files.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
