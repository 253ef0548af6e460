// reportStuckAtExit: at beforeExit nothing can settle anything any more, so every pending task is
// certainly stuck. Run in child processes, since it is about the process ending.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

function run(script: string): Promise<{ code: number | null; stderr: string }> {
  const prelude = `
    const { Group, background } = await import('./src/index.ts');
    const { reportStuckAtExit } = await import('./src/testing/index.ts');
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', prelude + script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('reportStuckAtExit', () => {
  test('every task still pending when the loop empties is reported as certain, the unreachable ones as such, with the exit code given', async () => {
    const { code, stderr } = await run(`
      reportStuckAtExit({ exitCode: 3 });
      const g = new Group(background(), { name: 'jobs' });
      g.go(() => new Promise(() => {}), { name: 'hung-forever' });
      g.go(() => new Promise((r) => setTimeout(r, 60_000).unref()), { name: 'waits-on-unref-timer' });
      g.go(() => new Promise((r) => setTimeout(r, 5)), { name: 'finishes' });
    `);
    assert.equal(code, 3, stderr);
    assert.match(stderr, /^corral: at exit, with the event loop empty: 2 tasks \(2 certain\) left behind\n/m);
    assert.match(stderr, /1 task "hung-forever" \[leaked \(unreachable\): CERTAIN, it can never finish; it was running/);
    assert.match(stderr, /1 task "waits-on-unref-timer" \[running: CERTAIN, still pending with the event loop empty/);
    assert.match(stderr, /owned by group "jobs"/);
    assert.doesNotMatch(stderr, /finishes/);
  });

  test('a process whose tasks all finished exits as it would have, silently', async () => {
    const { code, stderr } = await run(`
      reportStuckAtExit({ exitCode: 3 });
      new Group(background()).go(() => new Promise((r) => setTimeout(r, 5)), { name: 'finishes' });
    `);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
  });

  test('ignored tasks are not reported, and without exitCode the exit code is left alone', async () => {
    const { code, stderr } = await run(`
      reportStuckAtExit({ ignore: { names: ['known-hang'] } });
      const g = new Group(background());
      g.go(() => new Promise(() => {}), { name: 'known-hang' });
      g.go(() => new Promise(() => {}), { name: 'new-hang' });
    `);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /1 task "new-hang"/);
    assert.doesNotMatch(stderr, /known-hang/);
  });

  test('bad options throw TypeError or RangeError naming the option', async () => {
    const { reportStuckAtExit } = await import('../src/testing/index.js');
    assert.throws(() => reportStuckAtExit({ exitCode: 256 }), { name: 'RangeError', message: /exitCode must be an integer from 0 to 255/ });
    assert.throws(() => reportStuckAtExit({ write: 'stderr' as never }), { name: 'TypeError', message: /write must be a function/ });
    assert.throws(() => reportStuckAtExit({ code: 1 } as never), { name: 'TypeError', message: /unknown option "code"/ });
  });
});
