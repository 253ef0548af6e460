// checkLeaks: what it reports, how it settles, how it scopes, its options.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Group, background, sleep, withCancel, type Context, type Task } from '../src/index.js';
import { checkLeaks, leakGuard, LeakError, takeBaseline, type LeakOptions } from '../src/testing/index.js';

const HERE = fileURLToPath(import.meta.url);

/** Runs a leak check that must fail, and returns its LeakError. */
async function mustLeak(fn: () => unknown, options?: LeakOptions): Promise<LeakError> {
  try {
    await checkLeaks(fn, options);
  } catch (err) {
    assert.ok(err instanceof LeakError, `expected a LeakError, got ${String(err)}`);
    return err;
  }
  assert.fail('the leak check passed, but the work leaks');
}

const forever = (ctx: Context): Promise<void> => sleep(ctx, 3_600_000);

describe('what checkLeaks reports', () => {
  test('it resolves with what fn returns when everything fn started has finished or closed', async () => {
    const value = await checkLeaks(async () => {
      const g = new Group(background(), { name: 'tidy' });
      g.go((ctx) => sleep(ctx, 5));
      const t = setTimeout(() => {}, 60_000);
      clearTimeout(t);
      const server = http.createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      await new Promise<void>((r) => server.close(() => r()));
      await g.wait();
      return 42;
    });
    assert.equal(value, 42);
  });

  test('a task still alive is named with its state, age, spawn site in the test and owner chain', async () => {
    const request = new Group(background(), { name: 'request' });
    let inner: Task<any> | undefined;
    const err = await mustLeak(async () => {
      request.go(async (ctx) => {
        const intake = new Group(ctx, { name: 'intake' });
        inner = intake.go(forever, { name: 'score-questionnaire' });
        await sleep(ctx, 3_600_000);
      }, { name: 'handle-submission' });
      await sleep(background(), 1);
    }, { settle: 20 });
    assert.equal(err.code, 'ERR_CORRAL_LEAK');
    assert.equal(err.name, 'LeakError');
    const leak = err.leaks.tasks.find((t) => t.name === 'score-questionnaire');
    assert.ok(leak !== undefined, 'the inner task is reported');
    assert.equal(leak.state, 'waiting: sleep');
    assert.equal(leak.certain, false);
    assert.deepEqual(leak.owners.map((o) => `${o.kind} ${o.name}`), ['group intake', 'task handle-submission', 'group request']);
    assert.ok(leak.spawnSite?.includes(HERE), `the site names this file: ${leak.spawnSite}`);
    // Each sleep holds a timer: the tasks and their two timers.
    assert.match(err.message, /^checkLeaks: 2 tasks, 2 handles left behind\n/);
    assert.match(err.message, /1 task "score-questionnaire" \[waiting: sleep, oldest \d+ms\]\n {4}at .*testing-leak-check\.test\.ts:\d+:\d+/);
    assert.match(err.message, /owned by group "intake" <- task "handle-submission" <- group "request"/);
    request.cancel();
    await request.wait().catch(() => {});
    assert.equal(inner?.state, 'canceled');
  });

  test('identical leaks are one entry with a count, certain ones first and counted in the header', async () => {
    const g = new Group(background(), { name: 'pile' });
    const err = await mustLeak(() => {
      for (let i = 0; i < 3; i++) g.go(forever, { name: 'his-sync' });
      g.go(() => new Promise<never>(() => {}), { name: 'hung' });
    }, { settle: 20 });
    assert.match(err.message, /^checkLeaks: 4 tasks \(1 certain\), 3 handles left behind\n\n1 task "hung" \[leaked \(unreachable\): CERTAIN/);
    assert.match(err.message, /\n3 tasks "his-sync" \[waiting: sleep, oldest \d+ms\]/);
    g.cancel();
  });

  test('an interval, a listening server, a child process and an open file handle are each reported with their site', async () => {
    let interval: ReturnType<typeof setInterval> | undefined;
    let server: http.Server | undefined;
    let child: ChildProcess | undefined;
    let file: Awaited<ReturnType<typeof open>> | undefined;
    const err = await mustLeak(async () => {
      interval = setInterval(() => {}, 60_000);
      server = http.createServer();
      await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
      child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
      file = await open(HERE, 'r');
    }, { settle: 20 });
    try {
      const port = (server?.address() as { port: number }).port;
      const byType = new Map(err.leaks.handles.map((h) => [h.type, h]));
      assert.equal(byType.get('Timeout')?.description, 'setInterval 60000 ms');
      assert.equal(byType.get('TCPSERVERWRAP')?.description, `server 127.0.0.1:${port}`);
      assert.match(byType.get('PROCESSWRAP')?.description ?? '', /^child process node pid \d+$/);
      assert.match(byType.get('FILEHANDLE')?.description ?? '', /^file handle fd \d+$/);
      for (const h of err.leaks.handles) {
        // fs.promises opens a FileHandle in a libuv callback, where no stack says who asked.
        if (h.type === 'FILEHANDLE') assert.equal(h.site, undefined);
        else assert.ok(h.site?.includes(HERE), `${h.type} site names this file: ${h.site}`);
      }
      assert.match(err.message, /1 Timeout "setInterval 60000 ms" \[keeps the process alive, oldest \d+ms\]\n {4}at .*testing-leak-check\.test\.ts/);
    } finally {
      clearInterval(interval);
      server?.close();
      const exited = child === undefined ? undefined : new Promise((r) => child?.once('exit', r));
      child?.kill();
      await exited;
      await file?.close();
    }
  });

  test('an abort listener left on a long-lived signal is reported; one removed, or on a signal that is gone, is not', async () => {
    const shutdown = new AbortController();
    const onAbort = (): void => {};
    const err = await mustLeak(() => {
      shutdown.signal.addEventListener('abort', onAbort);
      const removed = (): void => {};
      shutdown.signal.addEventListener('abort', removed);
      shutdown.signal.removeEventListener('abort', removed);
      new AbortController().signal.addEventListener('abort', () => {}); // dies with its controller
    }, { settle: 20 });
    assert.equal(err.leaks.abortListeners.length, 1);
    assert.ok(err.leaks.abortListeners[0]?.site?.includes(HERE), 'the site names this file');
    assert.match(err.message, /1 abort listener still on a live AbortSignal \[never removed, oldest \d+ms\]/);
    shutdown.signal.removeEventListener('abort', onAbort);
    await checkLeaks(() => {
      shutdown.signal.addEventListener('abort', onAbort, { once: true });
      shutdown.abort(); // an aborted signal will never call it again
    });
  });

  test('what is closing gets time to finish: a server closed without waiting, a task ending after fn returned', async () => {
    await checkLeaks(async () => {
      const server = http.createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      server.close();
      new Group(background()).go((ctx) => sleep(ctx, 150), { name: 'finishing' });
    });
  });

  test('settling: a check polls with a growing back-off, so what ends 30 ms late passes long before the budget, and what stays fails once the budget is spent', async () => {
    let started = Date.now();
    await checkLeaks(() => {
      new Group(background()).go((ctx) => sleep(ctx, 30), { name: 'ends-late' });
    }); // default budget: 500 ms
    const late = Date.now() - started;
    assert.ok(late >= 30 && late < 300, `seen ${late} ms after fn returned: a poll, not a fixed wait`);

    const { ctx, cancel } = withCancel(background());
    started = Date.now();
    await mustLeak(() => {
      new Group(ctx).go((ctx) => sleep(ctx, 2_000), { name: 'stays' });
    }, { settle: 200 });
    const spent = Date.now() - started;
    cancel();
    assert.ok(spent >= 200 && spent < 1_500, `failed after ${spent} ms with a 200 ms budget`);
  });

  test('a throwing fn rejects with its own error at once, whatever it left', async () => {
    const boom = new Error('validation service down');
    const { ctx, cancel } = withCancel(background());
    const started = Date.now();
    await assert.rejects(
      checkLeaks(() => {
        new Group(ctx).go(forever, { name: 'left-by-a-failing-test' });
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.ok(Date.now() - started < 400, 'it did not wait for the settle time');
    cancel();
  });
});

describe('scoping', () => {
  test('concurrent checks do not blame each other: tasks, timers, servers, child processes and abort listeners', async () => {
    const g = new Group(background(), { name: 'shared' });
    const shutdown = new AbortController(); // one long-lived signal both tests subscribe to
    let interval: ReturnType<typeof setInterval> | undefined;
    let leakyServer: http.Server | undefined;
    const onLeakyAbort = (): void => {};
    let leakyEnded!: () => void;
    const leakyDone = new Promise<void>((r) => (leakyEnded = r));
    const leakyCheck = checkLeaks(async () => {
      await sleep(background(), 5); // inside the other check's time window
      g.go(forever, { name: 'leaky-task' });
      interval = setInterval(() => {}, 60_000);
      leakyServer = http.createServer();
      await new Promise<void>((r) => leakyServer?.listen(0, '127.0.0.1', r));
      shutdown.signal.addEventListener('abort', onLeakyAbort);
    }, { settle: 20 }).finally(leakyEnded);
    const cleanCheck = checkLeaks(async () => {
      await g.go((ctx) => sleep(ctx, 10), { name: 'clean-task' });
      // All of this is open while the leaky check looks, and closed before this one ends.
      const t = setTimeout(() => {}, 60_000);
      const server = http.createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
      const onAbort = (): void => {};
      shutdown.signal.addEventListener('abort', onAbort);
      await leakyDone;
      clearTimeout(t);
      shutdown.signal.removeEventListener('abort', onAbort);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
      await new Promise<void>((r) => server.close(() => r()));
    });
    const [leaky, clean] = await Promise.allSettled([leakyCheck, cleanCheck]);
    clearInterval(interval);
    leakyServer?.close();
    shutdown.signal.removeEventListener('abort', onLeakyAbort);
    g.cancel();
    assert.equal(clean.status, 'fulfilled', clean.status === 'rejected' ? String(clean.reason) : '');
    assert.equal(leaky.status, 'rejected');
    const leaks = (leaky as PromiseRejectedResult).reason.leaks as LeakError['leaks'];
    assert.deepEqual(leaks.tasks.map((t) => t.name), ['leaky-task']);
    // The leaky test's own: its task's sleep timer, its interval, its server; none of the other's.
    assert.deepEqual(
      leaks.handles.map((h) => h.description.replace(/:\d+$/, ':PORT')).sort(),
      ['server 127.0.0.1:PORT', 'setInterval 60000 ms', 'setTimeout 3600000 ms'],
    );
    assert.equal(leaks.abortListeners.length, 1);
  });

  test('background work started before the check is not blamed, even for the tasks and timers it starts during it', async () => {
    const { ctx, cancel } = withCancel(background());
    const bg = new Group(ctx, { name: 'background' });
    bg.go(async (ctx) => {
      for (;;) {
        bg.go(forever, { name: 'background-child' });
        await sleep(ctx, 5);
      }
    }, { name: 'background-loop' });
    await checkLeaks(() => sleep(background(), 40));
    cancel();
    await bg.wait().catch(() => {});
  });

  test("scope 'all' reports what is alive at the end and was not at the start, whoever started it", async () => {
    const { ctx, cancel } = withCancel(background());
    const bg = new Group(ctx, { name: 'background' });
    let tick: (() => void) | undefined;
    bg.go(async (ctx) => {
      await new Promise<void>((r) => (tick = r));
      bg.go(forever, { name: 'started-by-background' });
      await forever(ctx);
    }, { name: 'background-loop' });
    await checkLeaks(() => tick?.()); // scope 'test': not the test's doing
    tick = undefined;
    bg.go(async () => {
      await new Promise<void>((r) => (tick = r));
      bg.go(forever, { name: 'started-by-background' });
    }, { name: 'second-round' });
    const err = await mustLeak(() => tick?.(), { scope: 'all', settle: 20 });
    assert.deepEqual(err.leaks.tasks.map((t) => t.name), ['started-by-background']);
    cancel();
    await bg.wait().catch(() => {});
  });

  test('a baseline: what was alive when it was taken is never reported, what started after it is', async () => {
    const { ctx, cancel } = withCancel(background());
    const g = new Group(ctx, { name: 'fixtures' });
    g.go(forever, { name: 'before-baseline' });
    const baseline = takeBaseline();
    g.go(forever, { name: 'after-baseline' });
    const err = await mustLeak(() => {}, { scope: 'all', baseline, settle: 20 });
    assert.deepEqual(err.leaks.tasks.map((t) => t.name), ['after-baseline']);
    cancel();
    await g.wait().catch(() => {});
  });

  test('a leak that checkLeaks reported is not reported again by a guard around it', async () => {
    const guard = leakGuard({ settle: 20 });
    guard.before();
    const g = new Group(background());
    await mustLeak(() => {
      g.go(() => new Promise<never>(() => {}), { name: 'asserted-leak' });
    });
    await guard.after();
  });
});

describe('options', () => {
  test('ignore by name, spawn site, state and handle', async () => {
    // The ignored tasks wait on a gate rather than a timer: ignoring a task does not ignore its timers.
    let open: (() => void) | undefined;
    const gate = new Promise<void>((r) => (open = r));
    const g = new Group(background());
    let interval: ReturnType<typeof setInterval> | undefined;
    const options: LeakOptions = {
      settle: 20,
      ignore: { names: ['metrics-flush'], sites: ['startCacheSweeper'], states: ['waiting: group slot'], handles: ['setInterval'] },
    };
    const leaky = (): void => {
      g.go(() => gate, { name: 'metrics-flush' });
      (function startCacheSweeper() {
        g.go(() => gate, { name: 'sweeper' });
      })();
      const limited = new Group(background(), { limit: 1 });
      limited.go(() => gate, { name: 'slot-holder' });
      limited.go(() => gate, { name: 'queued' }); // 'waiting: group slot'
      interval = setInterval(() => {}, 60_000);
    };
    const err = await mustLeak(leaky, options);
    assert.deepEqual(err.leaks.tasks.map((t) => t.name), ['slot-holder'], 'only what no ignore matched');
    assert.deepEqual(err.leaks.handles, []);
    clearInterval(interval);
    open?.();
    await g.wait();
  });

  test('bad options throw TypeError or RangeError naming the option', async () => {
    const cases: [unknown, RegExp, string][] = [
      [{ scope: 'file' }, /scope must be 'test' or 'all'/, 'RangeError'],
      [{ settle: -1 }, /settle must be a finite number/, 'RangeError'],
      [{ settle: Infinity }, /settle must be a finite number/, 'RangeError'],
      [{ gc: 'yes' }, /gc must be a boolean/, 'TypeError'],
      [{ handles: 1 }, /handles must be a boolean/, 'TypeError'],
      [{ ignore: { names: 'x' } }, /ignore\.names must be an array/, 'TypeError'],
      [{ ignore: { names: [1] } }, /ignore\.names must hold strings and RegExps/, 'TypeError'],
      [{ ignore: { labels: [] } }, /unknown ignore option "labels"/, 'TypeError'],
      [{ baseline: {} }, /baseline must come from takeBaseline/, 'TypeError'],
      [{ timeout: 5 }, /unknown option "timeout"/, 'TypeError'],
    ];
    for (const [options, message, name] of cases) {
      await assert.rejects(checkLeaks(() => {}, options as LeakOptions), { name, message }, JSON.stringify(options));
      assert.throws(() => leakGuard(options as LeakOptions), { name, message }, JSON.stringify(options));
    }
    await assert.rejects(checkLeaks('nope' as never), { name: 'TypeError', message: /fn must be a function/ });
  });
});
