import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Once } from '../src/once.js';
import { mulberry32 } from './helpers/random.js';

/** Lets every queued microtask and promise callback run. */
const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

function gate<T>(): { promise: Promise<T>; open: (v: T) => void; fail: (e: unknown) => void } {
  let open!: (v: T) => void;
  let fail!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

describe('Once', () => {
  test('do runs fn once and concurrent callers share the one promise', async () => {
    const once = new Once<string>();
    const g = gate<string>();
    let calls = 0;
    const fn = (): Promise<string> => {
      calls++;
      return g.promise;
    };
    const a = once.do(fn);
    const b = once.do(fn);
    const c = once.do(() => 'another function');
    assert.equal(a, b);
    assert.equal(a, c);
    assert.equal(calls, 1);
    g.open('codes-v7');
    assert.deepEqual(await Promise.all([a, b, c]), ['codes-v7', 'codes-v7', 'codes-v7']);
  });

  test('a later caller gets the same result without fn running again', async () => {
    const once = new Once<number>();
    let calls = 0;
    const first = await once.do(async () => ++calls);
    const later = once.do(async () => ++calls);
    assert.equal(first, 1);
    assert.equal(await later, 1);
    assert.equal(calls, 1);
  });

  test('a rejection is shared by every caller and fn is never retried', async () => {
    const once = new Once();
    const boom = new Error('terminology service down');
    let calls = 0;
    const fn = async (): Promise<void> => {
      calls++;
      throw boom;
    };
    const a = once.do(fn);
    await assert.rejects(a, (e) => e === boom);
    const b = once.do(fn);
    assert.equal(b, a);
    await assert.rejects(b, (e) => e === boom);
    assert.equal(calls, 1);
    assert.equal(once.done, true);
  });

  test('a synchronous throw becomes the shared rejection, not a throw from do', async () => {
    const once = new Once();
    const boom = new Error('sync');
    let p: Promise<void> | undefined;
    assert.doesNotThrow(() => {
      p = once.do(() => {
        throw boom;
      });
    });
    assert.equal(once.done, true, 'fn has finished, by throwing');
    await assert.rejects(p!, (e) => e === boom);
    await assert.rejects(once.do(() => {}), (e) => e === boom);
  });

  test('done is false until fn has settled, then true', async () => {
    const once = new Once<number>();
    assert.equal(once.done, false);
    const g = gate<number>();
    const p = once.do(() => g.promise);
    await turn();
    assert.equal(once.done, false, 'fn is still running');
    g.open(1);
    await p;
    assert.equal(once.done, true, 'true by the time an awaiting caller resumes');
  });

  test('done is true as soon as do returns for a synchronous fn', () => {
    const once = new Once<number>();
    void once.do(() => 42);
    assert.equal(once.done, true);
  });

  test('a call made from inside fn gets the same promise instead of running fn again', async () => {
    const once = new Once<string>();
    let inner: Promise<string> | undefined;
    let calls = 0;
    const outer = once.do(() => {
      calls++;
      inner = once.do(() => 'nested');
      return 'outer';
    });
    assert.equal(inner, outer);
    assert.equal(await outer, 'outer');
    assert.equal(calls, 1);
  });

  test('a non-function is refused with a TypeError rejection and does not use up the Once', async () => {
    const once = new Once<number>();
    await assert.rejects(once.do(42 as unknown as () => number), (e: unknown) => e instanceof TypeError && /fn/.test(e.message));
    assert.equal(once.done, false);
    assert.equal(await once.do(() => 7), 7);
  });

  test('a failure nobody awaits still surfaces as an unhandled rejection, never swallowed', () => {
    const url = pathToFileURL(new URL('../src/once.ts', import.meta.url).pathname).href;
    const script = `
      const { Once } = await import(${JSON.stringify(url)});
      new Once().do(async () => { throw new Error('lost-failure-marker'); });
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, 'the process fails on the unhandled rejection');
    assert.match(r.stderr, /lost-failure-marker/);
  });

  test('randomized callers arriving at random points all see the one result and fn runs once', async () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = mulberry32(seed);
      const once = new Once<number>();
      const g = gate<number>();
      // The test observes every outcome at the end; mark them handled now so a failing seed is not an unhandled rejection meanwhile.
      g.promise.catch(() => {});
      let calls = 0;
      const fails = rand() < 0.5;
      const results: Promise<number>[] = [];
      const settleAt = Math.floor(rand() * 10);
      for (let i = 0; i < 10; i++) {
        if (i === settleAt) {
          if (fails) g.fail(new Error(`seed ${seed}`));
          else g.open(seed);
        }
        const burst = 1 + Math.floor(rand() * 3);
        for (let k = 0; k < burst; k++) {
          const p = once.do(() => {
            calls++;
            return g.promise;
          });
          p.catch(() => {});
          results.push(p);
        }
        if (rand() < 0.5) await turn();
        else await Promise.resolve();
      }
      assert.equal(calls, 1, `seed ${seed}: fn ran once`);
      assert.ok(results.every((p) => p === results[0]), `seed ${seed}: one shared promise`);
      const outcomes = await Promise.allSettled(results);
      for (const o of outcomes) {
        if (fails) assert.ok(o.status === 'rejected' && (o.reason as Error).message === `seed ${seed}`);
        else assert.ok(o.status === 'fulfilled' && o.value === seed);
      }
      assert.equal(once.done, true);
    }
  });
});
