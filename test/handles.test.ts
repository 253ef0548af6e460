import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HANDLE_TYPES, formatHandles, trackHandles, type HandleInfo, type HandleTracker } from '../src/inspect/handles.js';
import { collectGarbage } from './helpers/gc.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const THIS_FILE = fileURLToPath(import.meta.url);

/** A turn of the loop, so that handle closes (which complete in libuv) are done. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function tracking<T>(fn: (t: HandleTracker) => Promise<T>): Promise<T> {
  const t = trackHandles();
  try {
    return await fn(t);
  } finally {
    t.stop();
  }
}

function only(t: HandleTracker, since: number, type: string): HandleInfo[] {
  return t.live({ since }).filter((h) => h.type === type);
}

function assertSite(h: HandleInfo | undefined, fnName: string): void {
  assert.ok(h !== undefined, `a ${fnName} handle is tracked`);
  assert.ok(h.site !== undefined, `${h.type} has a site`);
  const first = h.site.split('\n')[0] as string;
  assert.ok(first.includes(fnName) && first.includes(THIS_FILE), `the site starts at ${fnName} in this file, got:\n${h.site}`);
  assert.ok(!h.site.includes('node:internal') && !h.site.includes('/src/inspect/'), `Node's and corral's frames are hidden:\n${h.site}`);
}

describe('trackHandles', () => {
  test('timers, intervals and immediates are tracked with their creation sites, and disappear once cleared or run', async () => {
    await tracking(async (t) => {
      const mark = t.mark();
      function startTicker(): NodeJS.Timeout {
        return setInterval(() => {}, 60_000);
      }
      function armAlarm(): NodeJS.Timeout {
        return setTimeout(() => {}, 60_000);
      }
      function queueWork(): NodeJS.Immediate {
        return setImmediate(() => {});
      }
      const iv = startTicker();
      const to = armAlarm();
      const im = queueWork();
      const timers = only(t, mark, 'Timeout');
      assert.deepEqual(timers.map((h) => h.description).sort(), ['setInterval 60000 ms', 'setTimeout 60000 ms']);
      assertSite(timers.find((h) => h.description.startsWith('setInterval')), 'startTicker');
      assertSite(timers.find((h) => h.description.startsWith('setTimeout')), 'armAlarm');
      for (const h of timers) assert.ok(h.keepsAlive && h.hasRef === true, `${h.description} keeps the process alive`);
      const imms = only(t, mark, 'Immediate');
      assert.equal(imms.length, 1);
      assertSite(imms[0], 'queueWork');

      clearInterval(iv);
      assert.deepEqual(only(t, mark, 'Timeout').map((h) => h.description), ['setTimeout 60000 ms'], 'a cleared interval is gone at once');
      clearTimeout(to);
      void im;
      await turn();
      assert.deepEqual(t.live({ since: mark }), [], 'the cleared timeout and the immediate that ran are gone');
    });
  });

  test('an unref\'d timer is listed but does not keep the process alive', async () => {
    await tracking(async (t) => {
      const mark = t.mark();
      const to = setTimeout(() => {}, 60_000).unref();
      const [h] = only(t, mark, 'Timeout');
      assert.ok(h !== undefined, 'the unref\'d timer is tracked');
      assert.equal(h.hasRef, false);
      assert.equal(h.keepsAlive, false);
      clearTimeout(to);
    });
  });

  test('a server, a client socket and the connection it accepted are tracked with sites; closed, they disappear', async () => {
    await tracking(async (t) => {
      const mark = t.mark();
      function startServer(): net.Server {
        // listen() on a host creates the handle a tick later, after the lookup: the site is still this call.
        return net.createServer().listen(0, '127.0.0.1');
      }
      const server = startServer();
      await once(server, 'listening');
      const port = (server.address() as net.AddressInfo).port;
      const accepted = once(server, 'connection');
      function connectClient(): net.Socket {
        return net.connect(port, '127.0.0.1');
      }
      const client = connectClient();
      await once(client, 'connect');
      const [conn] = (await accepted) as [net.Socket];

      const [srv] = only(t, mark, 'TCPSERVERWRAP');
      assert.equal(srv?.description, `server 127.0.0.1:${port}`);
      assertSite(srv, 'startServer');
      const sockets = only(t, mark, 'TCPWRAP');
      assert.equal(sockets.length, 2, 'the client socket and the accepted connection');
      const mine = sockets.find((h) => h.description === `socket 127.0.0.1:${port}`);
      assertSite(mine, 'connectClient');
      const theirs = sockets.find((h) => h.description.startsWith('connection from 127.0.0.1:'));
      assert.ok(theirs?.description.endsWith(`on server 127.0.0.1:${port}`), `the accepted connection names its server: ${theirs?.description}`);
      assertSite(theirs, 'startServer');
      for (const h of [srv, mine, theirs]) assert.ok(h?.keepsAlive === true, `${h?.description} keeps the process alive`);

      client.destroy();
      conn.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await turn();
      assert.deepEqual(t.live({ since: mark }).filter((h) => h.type.startsWith('TCP')), [], 'closed server and sockets are gone');
    });
  });

  test('a child process is tracked until it has exited', async () => {
    await tracking(async (t) => {
      const mark = t.mark();
      function startWorker(): ReturnType<typeof spawn> {
        return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 50)'], { stdio: 'ignore' });
      }
      const child = startWorker();
      const [h] = only(t, mark, 'PROCESSWRAP');
      assert.equal(h?.description, `child process ${basename(process.execPath)} pid ${child.pid}`);
      assertSite(h, 'startWorker');
      assert.ok(h?.keepsAlive === true, 'a running child keeps the process alive');
      await once(child, 'close');
      await turn();
      assert.deepEqual(only(t, mark, 'PROCESSWRAP'), [], 'an exited child is gone');
    });
  });

  test('an fs.watch watcher is tracked until it is closed', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'corral-handles-'));
    try {
      await tracking(async (t) => {
        const mark = t.mark();
        function watchConfig(): fs.FSWatcher {
          return fs.watch(dir);
        }
        const w = watchConfig();
        const [h] = only(t, mark, 'FSEVENTWRAP');
        assert.equal(h?.description, 'fs.watch watcher');
        assertSite(h, 'watchConfig');
        w.close();
        await turn();
        assert.deepEqual(only(t, mark, 'FSEVENTWRAP'), [], 'a closed watcher is gone');
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an open FileHandle is listed (it does not keep the process alive) until it is closed', async () => {
    await tracking(async (t) => {
      const mark = t.mark();
      const fh = await fs.promises.open(THIS_FILE);
      const [h] = only(t, mark, 'FILEHANDLE');
      assert.equal(h?.description, `file handle fd ${fh.fd}`);
      assert.equal(h?.keepsAlive, false);
      await fh.close();
      assert.deepEqual(only(t, mark, 'FILEHANDLE'), [], 'a closed FileHandle is gone');
    });
  });

  test('promises are never tracked, even when asked for', async () => {
    const t = trackHandles({ types: ['PROMISE', 'Timeout'] });
    try {
      const mark = t.mark();
      await Promise.all(Array.from({ length: 100 }, async (_, i) => i));
      const pending = new Promise(() => {});
      assert.equal(t.mark(), mark, 'no promise got a sequence number');
      assert.deepEqual(t.live({ since: mark }), []);
      void pending;
      const to = setTimeout(() => {}, 60_000);
      assert.equal(t.live({ since: mark }).length, 1, 'the other type asked for is tracked');
      clearTimeout(to);
    } finally {
      t.stop();
    }
  });

  test('mark() and live({ since }) give the handles created since the mark', async () => {
    await tracking(async (t) => {
      const a = setInterval(() => {}, 60_000);
      const mark = t.mark();
      const b = setInterval(() => {}, 30_000);
      const since = t.live({ since: mark }).filter((h) => h.type === 'Timeout');
      assert.deepEqual(since.map((h) => h.description), ['setInterval 30000 ms']);
      assert.ok((since[0]?.seq ?? 0) > mark, 'seq is past the mark');
      assert.ok(t.live().some((h) => h.description === 'setInterval 60000 ms'), 'live() without since has the older one');
      clearInterval(a);
      clearInterval(b);
      assert.throws(() => t.live({ since: -1 }), /since must be a mark\(\) value/);
    });
  });

  test('through thousands of short-lived timers (and the sweeps they cause), the open ones stay listed', async () => {
    await tracking(async (t) => {
      const mark = t.mark();
      const kept: NodeJS.Timeout[] = [];
      for (let i = 0; i < 5_000; i++) {
        const timer = setTimeout(() => {}, 60_000);
        if (i % 1_000 === 999) kept.push(timer);
        else clearTimeout(timer);
      }
      assert.equal(t.mark() - mark, 5_000, 'every timer was seen');
      assert.equal(only(t, mark, 'Timeout').length, kept.length, 'exactly the ones left open');
      for (const k of kept) clearTimeout(k);
    });
  });

  test('stop() ends tracking; what was tracked can still be listed', async () => {
    const t = trackHandles();
    const mark = t.mark();
    const a = setInterval(() => {}, 60_000);
    t.stop();
    t.stop();
    const b = setInterval(() => {}, 60_000);
    assert.equal(t.live({ since: mark }).filter((h) => h.type === 'Timeout').length, 1, 'only the interval made before stop()');
    assert.equal(t.mark(), mark + 1);
    clearInterval(a);
    clearInterval(b);
  });

  test('the tracker keeps no resource alive', async () => {
    const t = trackHandles();
    try {
      const mark = t.mark();
      let ref: WeakRef<object> | undefined;
      (() => {
        class Poller {
          data = new Array(1000).fill(0);
          arm(): NodeJS.Timeout {
            return setTimeout(() => {}, 60_000);
          }
        }
        const p = new Poller();
        const timer = p.arm();
        ref = new WeakRef(p);
        clearTimeout(timer);
      })();
      await collectGarbage();
      assert.equal(ref?.deref(), undefined, 'the object whose method created the timer was collected (its frame\'s receiver is not held)');
      assert.deepEqual(t.live({ since: mark }), []);
    } finally {
      t.stop();
    }
  });

  test('unattributed() names open handles created before tracking began', async () => {
    const early = trackHandles();
    const iv = setInterval(() => {}, 60_000);
    const late = trackHandles();
    try {
      const timeouts = (t: HandleTracker): number => t.unattributed().filter((n) => n === 'Timeout').length;
      assert.equal(timeouts(late) - timeouts(early), 1, 'the interval is unattributed for the tracker started after it only');
      assert.ok(early.unattributed().every((n) => !n.includes('Req')), 'pending requests are not counted');
    } finally {
      clearInterval(iv);
      early.stop();
      late.stop();
    }
  });

  test('sites: false records types and descriptions without stacks', async () => {
    const t = trackHandles({ sites: false });
    try {
      const mark = t.mark();
      const iv = setInterval(() => {}, 60_000);
      const [h] = t.live({ since: mark });
      assert.equal(h?.description, 'setInterval 60000 ms');
      assert.equal(h?.site, undefined);
      clearInterval(iv);
    } finally {
      t.stop();
    }
  });

  test('stackDepth bounds the frames kept per site', async () => {
    const t = trackHandles({ stackDepth: 1 });
    try {
      const mark = t.mark();
      const iv = setInterval(() => {}, 60_000);
      const [h] = t.live({ since: mark });
      assert.equal(h?.site?.split('\n').length, 1);
      clearInterval(iv);
    } finally {
      t.stop();
    }
  });

  test('bad options throw naming the option', () => {
    assert.throws(() => trackHandles({ stackDepth: 0 }), { name: 'RangeError', message: /stackDepth must be an integer from 1 to 100 \(got 0\)/ });
    assert.throws(() => trackHandles({ depth: 3 } as never), { name: 'TypeError', message: /unknown option "depth"/ });
    assert.throws(() => trackHandles({ types: 'Timeout' as never }), { name: 'TypeError', message: /types must be an iterable of async_hooks type names \(got "Timeout"\)/ });
    assert.throws(() => trackHandles({ types: ['Timeout', 42] as never }), { name: 'TypeError', message: /types must hold async_hooks type names such as "Timeout" \(got 42\)/ });
    assert.throws(() => trackHandles({ sites: 'yes' as never }), { name: 'TypeError', message: /sites must be a boolean \(got "yes"\)/ });
    assert.throws(() => trackHandles(null as never), { name: 'TypeError', message: /options must be an object \(got null\)/ });
    assert.ok(HANDLE_TYPES.includes('TCPSERVERWRAP') && !HANDLE_TYPES.includes('PROMISE'), 'the default types are handles, never promises');
  });
});

describe('async_hooks only while tracking', () => {
  test('corral, its dumps, watchdog, metrics and leak checks install no async hook; trackHandles() installs one', async () => {
    // A fresh process importing the built package by name, as an application does, with
    // async_hooks.createHook counted (handles.ts imports it by name; syncBuiltinESMExports makes
    // that binding see the counter).
    const code = `
      import ah from 'node:async_hooks';
      import { syncBuiltinESMExports } from 'node:module';
      let hooks = 0;
      const createHook = ah.createHook;
      ah.createHook = (...args) => { hooks++; return createHook(...args); };
      syncBuiltinESMExports();
      const corral = await import('corral');
      const inspect = await import('corral/inspect');
      await import('corral/testing');
      const g = new corral.Group(corral.background());
      for (let i = 0; i < 10; i++) g.go(() => new Promise((r) => setTimeout(r, 1)), { name: 'short' });
      await g.wait();
      inspect.dump({ format: 'full' });
      new inspect.Watchdog({ onAlert() {} }).sample();
      inspect.metricsText();
      const before = hooks;
      const tracker = inspect.trackHandles();
      const during = hooks;
      tracker.stop();
      console.log(JSON.stringify({ before, during }));
    `;
    const root = fileURLToPath(new URL('..', import.meta.url));
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const [exit] = (await once(child, 'exit')) as [number | null];
    assert.equal(exit, 0, `the child ran (dist/ must be built): ${err}`);
    assert.deepEqual(JSON.parse(out), { before: 0, during: 1 });
  });
});

describe('formatHandles', () => {
  test('groups handles by type, description and site, the largest group first', () => {
    const base = { asyncId: 1, hasRef: true, keepsAlive: true, createdAt: 1_000 };
    const text = formatHandles(
      [
        { ...base, seq: 1, type: 'TCPSERVERWRAP', description: 'server :3000', site: 'at listen (file:///srv/app.js:3:9)' },
        { ...base, seq: 2, type: 'Timeout', description: 'setInterval 1000 ms', site: 'at poll (file:///srv/poll.js:1:1)' },
        { ...base, seq: 3, type: 'Timeout', description: 'setInterval 1000 ms', site: 'at poll (file:///srv/poll.js:1:1)', createdAt: 500 },
        { ...base, seq: 4, type: 'FILEHANDLE', description: 'file handle fd 9', site: undefined, keepsAlive: false },
      ],
      13_500,
    );
    assert.equal(
      text,
      [
        '2 Timeout "setInterval 1000 ms" [keeps the process alive, oldest 13s]',
        '    at poll (file:///srv/poll.js:1:1)',
        '',
        '1 TCPSERVERWRAP "server :3000" [keeps the process alive, oldest 12s]',
        '    at listen (file:///srv/app.js:3:9)',
        '',
        '1 FILEHANDLE "file handle fd 9" [does not keep the process alive, oldest 12s]',
        '    (creation site not captured)',
        '',
      ].join('\n'),
    );
    assert.equal(formatHandles([]), '');
  });
});
