import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { background, configure } from '../src/index.js';
import { Group } from '../src/group.js';
import { Semaphore } from '../src/semaphore.js';
import { WaitGroup } from '../src/waitgroup.js';
import { config } from '../src/config.js';
import { dumpTasks } from '../src/dump.js';
import { formatAge, liveCounts, snapshot } from '../src/registry.js';
import { Channel } from '../src/channel.js';
import { select } from '../src/select.js';
import { sleep } from '../src/timers.js';
import { collectGarbage } from './helpers/gc.js';

const saved = { ...config };
afterEach(() => configure(saved));

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe('snapshot', () => {
  test('records id, name, labels, parent, state, timestamps and spawn site as plain data', async () => {
    configure({ spawnSites: 'always' });
    const g = new Group(background(), { name: 'epro-intake' });
    const hold = gate();
    // The registry's clock is coarse: it may reuse a reading until the current microtask burst
    // ends. A turn later it reads afresh, so the bounds below are exact.
    await new Promise((r) => setImmediate(r));
    const before = Date.now();
    const t = g.go(() => hold.promise, { name: 'score', labels: { form: 'PHQ-9' } });
    const snap = snapshot();
    const info = snap.tasks.find((x) => x.id === t.id);
    assert.ok(info, "info");
    assert.equal(info.kind, 'task');
    assert.equal(info.name, 'score');
    assert.deepEqual(info.labels, { form: 'PHQ-9' });
    assert.equal(info.state, 'running');
    assert.equal(info.parentId, g.id);
    assert.ok(info.startedAt >= before && info.startedAt <= Date.now(), 'startedAt within the spawn');
    assert.ok(info.since >= info.startedAt, 'since after start');
    assert.match(info.spawnSite ?? '', /registry\.test\.ts:\d+:\d+/);
    // Only the user's frame and below: corral's own go() is hidden.
    assert.doesNotMatch((info.spawnSite ?? '').split('\n')[0] ?? '', /src\/group/);
    assert.ok(snap.groups.some((x) => x.id === g.id && x.name === 'epro-intake'), "snap.groups.some((x) => x.id === g.id && x.name === 'epro-intake')");
    assert.equal(JSON.parse(JSON.stringify(snap)).tasks.length, snap.tasks.length, 'plain data');
    hold.open();
    await g.wait();
    assert.ok(!snapshot().tasks.some((x) => x.id === t.id), 'a finished task leaves the registry');
    assert.ok(!snapshot().groups.some((x) => x.id === g.id), 'an idle group leaves the registry');
  });

  test("a spawn site shows the user's frames, never corral's or Node's internals", async () => {
    configure({ spawnSites: 'always' });
    const g = new Group(background());
    const hold = gate();
    let inner: { id: number } | undefined;
    g.go(async (ctx) => {
      // Spawned from inside a task: corral's own frames (runTask, _spawn, go) sit below this one.
      inner = new Group(ctx).go(() => hold.promise, { name: 'nested' });
      await hold.promise;
    });
    const site = snapshot().tasks.find((t) => t.id === inner?.id)?.spawnSite ?? '';
    assert.match(site, /registry\.test\.ts/);
    assert.doesNotMatch(site, /\/src\/(group|task|registry)\.ts|node:internal/);
    hold.open();
    await g.wait();
  });

  test('never holds task arguments or results', async () => {
    const g = new Group(background());
    const secret = 'patient P-0042 answered 3';
    const hold = gate();
    g.go(async () => {
      await hold.promise;
      return secret;
    });
    const text = JSON.stringify(snapshot()) + dumpTasks();
    assert.ok(!text.includes(secret), "!text.includes(secret)");
    hold.open();
    await g.wait();
  });

  test("spawn-site capture 'off' records none and 'sampled' records one spawn in sampleEvery", async () => {
    const g = new Group(background());
    const hold = gate();
    configure({ spawnSites: 'off' });
    const off = Array.from({ length: 10 }, () => g.go(() => hold.promise, { name: 'off' }));
    configure({ spawnSites: 'sampled', sampleEvery: 4 });
    const sampled = Array.from({ length: 40 }, () => g.go(() => hold.promise, { name: 'sampled' }));
    const byId = new Map(snapshot().tasks.map((t) => [t.id, t]));
    assert.ok(off.every((t) => byId.get(t.id)?.spawnSite === undefined), "off.every((t) => byId.get(t.id)?.spawnSite === undefined)");
    const captured = sampled.filter((t) => byId.get(t.id)?.spawnSite !== undefined).length;
    assert.equal(captured, 10);
    hold.open();
    await g.wait();
  });

  test('a task keeps no strong reference to its pending promise, so an unreachable one can be collected', async () => {
    const g = new Group(background());
    let ref: WeakRef<Promise<never>> | undefined;
    const t = g.go(() => {
      const p = new Promise<never>(() => {});
      ref = new WeakRef(p);
      return p;
    }, { name: 'stuck-forever' });
    await collectGarbage();
    assert.equal(ref?.deref(), undefined, 'the promise was kept alive by corral');
    assert.ok(snapshot().tasks.some((x) => x.id === t.id), 'the task is still listed');
    t.cancel(); // it cannot finish; the test leaves it in the registry on purpose
  });
});

describe('waiting states', () => {
  test('a task inside two waits at once shows the one still in progress, then running', async () => {
    const sem = new Semaphore(1);
    sem.tryAcquire();
    const wg = new WaitGroup();
    wg.add(1);
    const g = new Group(background());
    const task = g.go(async (ctx) => {
      await Promise.all([sem.acquire(ctx), wg.wait(ctx)]);
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(task.state, 'waiting: waitgroup');
    sem.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(task.state, 'waiting: waitgroup', 'the semaphore wait ended, the waitgroup wait did not');
    wg.done();
    await g.wait();
    assert.equal(task.state, 'succeeded');
  });

  test('a task whose inner wait ends first goes back to its outer wait', async () => {
    const outer = new WaitGroup();
    outer.add(1);
    const inner = new WaitGroup();
    inner.add(1);
    const g = new Group(background());
    const task = g.go(async (ctx) => {
      const o = outer.wait(ctx);
      const i = new Group(background());
      i.go(() => inner.wait());
      await i.wait(ctx);
      await o;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(task.state, 'waiting: group.wait');
    inner.done();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(task.state, 'waiting: waitgroup');
    outer.done();
    await g.wait();
  });
});

describe('dumpTasks', () => {
  test('groups tasks by spawn site, state and name, largest first, with the oldest age', async () => {
    configure({ spawnSites: 'always' });
    const g = new Group(background(), { name: 'sync' });
    const hold = gate();
    const spawn = (name: string): unknown => g.go(() => hold.promise, { name });
    for (let i = 0; i < 3; i++) spawn('his-sync');
    spawn('report');
    const dump = dumpTasks();
    const lines = dump.split('\n');
    const his = lines.findIndex((l) => l.startsWith('3 tasks "his-sync" [running, oldest '));
    const rep = lines.findIndex((l) => l.startsWith('1 task "report" [running, oldest '));
    assert.ok(his >= 0, dump);
    assert.ok(rep > his, 'sorted by count');
    assert.match(lines[his + 1] ?? '', /registry\.test\.ts/);
    hold.open();
    await g.wait();
  });

  test('formats ages like Go dumps', () => {
    assert.equal(formatAge(850), '850ms');
    assert.equal(formatAge(12_000), '12s');
    assert.equal(formatAge(312_000), '5m12s');
    assert.equal(formatAge(3 * 3600_000 + 4 * 60_000), '3h4m');
  });

  test('liveCounts counts live tasks and groups and returns to its baseline', async () => {
    const before = liveCounts();
    const g = new Group(background());
    const hold = gate();
    g.go(() => hold.promise);
    g.go(() => hold.promise);
    assert.deepEqual(liveCounts(), { tasks: before.tasks + 2, groups: before.groups + 1 });
    hold.open();
    await g.wait();
    assert.deepEqual(liveCounts(), before);
  });
});

describe('what a task waits on', () => {
  const infoOf = (id: number): ReturnType<typeof snapshot>['tasks'][number] | undefined =>
    snapshot().tasks.find((t) => t.id === id);
  const lineOf = (name: string): string | undefined => dumpTasks().split('\n').find((l) => l.includes(`"${name}" [`));

  test('a task blocked on a named channel shows its name in the snapshot and the dump, then forgets it', async () => {
    const ch = new Channel<number>(0, { name: 'terminology-results' });
    const g = new Group(background());
    const rx = g.go((ctx) => ch.recv(ctx), { name: 'validate' });
    assert.equal(rx.state, 'waiting: chan receive', 'the state itself is unchanged');
    assert.equal(infoOf(rx.id)?.waitingOn, 'terminology-results');
    assert.match(lineOf('validate') ?? '', /^1 task "validate" \[waiting: chan receive on "terminology-results", oldest \d+ms\]$/);
    await ch.send(1);
    await rx;
    const tx = g.go((ctx) => ch.send(2, ctx), { name: 'producer' });
    assert.equal(infoOf(tx.id)?.waitingOn, 'terminology-results');
    assert.match(lineOf('producer') ?? '', /\[waiting: chan send on "terminology-results", oldest /);
    const hold = gate();
    const after = g.go(
      async (ctx) => {
        await ch.recv(ctx);
        await hold.promise;
      },
      { name: 'after' },
    );
    await tx;
    await new Promise((r) => setImmediate(r));
    assert.equal(after.state, 'running');
    assert.equal(infoOf(after.id)?.waitingOn, undefined, 'a task that stopped waiting names nothing');
    assert.ok(!('waitingOn' in (infoOf(after.id) ?? {})), 'the field is absent, not undefined');
    hold.open();
    await g.wait();
  });

  test('an unnamed channel adds nothing to the state line', async () => {
    const ch = new Channel<number>();
    const g = new Group(background());
    const rx = g.go((ctx) => ch.recv(ctx), { name: 'anon-reader' });
    assert.equal(infoOf(rx.id)?.waitingOn, undefined);
    assert.match(lineOf('anon-reader') ?? '', /^1 task "anon-reader" \[waiting: chan receive, oldest /);
    ch.close();
    await g.wait();
  });

  test('tasks waiting on different channels are counted apart in the dump', async () => {
    const a = new Channel<number>(0, { name: 'a' });
    const b = new Channel<number>(0, { name: 'b' });
    const g = new Group(background());
    for (let i = 0; i < 2; i++) g.go((ctx) => a.recv(ctx), { name: 'reader' });
    g.go((ctx) => b.recv(ctx), { name: 'reader' });
    const lines = dumpTasks().split('\n');
    assert.ok(lines.some((l) => l.startsWith('2 tasks "reader" [waiting: chan receive on "a", ')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('1 task "reader" [waiting: chan receive on "b", ')), lines.join('\n'));
    a.close();
    b.close();
    await g.wait();
  });

  test('a task blocked in select names its named channels, a few at most', async () => {
    const named = ['results', 'quit', 'errors', 'ticks', 'audit'].map((name) => new Channel<number>(0, { name }));
    const anon = new Channel<number>();
    const g = new Group(background());
    const two = g.go((ctx) => select([named[0]?.recvCase(), anon.recvCase(), named[1]?.recvCase(), named[0]?.recvCase()], { ctx }), {
      name: 'two',
    });
    const many = g.go((ctx) => select(named.map((c) => c.recvCase()), { ctx }), { name: 'many' });
    const none = g.go((ctx) => select([anon.recvCase()], { ctx }), { name: 'none' });
    assert.equal(two.state, 'waiting: select');
    assert.equal(infoOf(two.id)?.waitingOn, 'results, quit');
    assert.match(lineOf('two') ?? '', /\[waiting: select on "results, quit", oldest /);
    assert.equal(infoOf(many.id)?.waitingOn, 'results, quit, errors, +2 more');
    assert.equal(infoOf(none.id)?.waitingOn, undefined);
    assert.match(lineOf('none') ?? '', /\[waiting: select, oldest /);
    g.cancel();
    await assert.rejects(g.wait());
    assert.equal(snapshot().tasks.filter((t) => t.waitingOn !== undefined).length, 0, 'no task names a channel any more');
  });

  test('an inner wait that ends hands the channel name back with the outer state', async () => {
    const ch = new Channel<number>(0, { name: 'inbox' });
    const g = new Group(background());
    const task = g.go(async (ctx) => {
      await Promise.all([ch.recv(ctx), sleep(ctx, 1)]);
    });
    assert.equal(task.state, 'waiting: sleep');
    assert.equal(infoOf(task.id)?.waitingOn, undefined, 'a sleep names nothing');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(task.state, 'waiting: chan receive');
    assert.equal(infoOf(task.id)?.waitingOn, 'inbox');
    await ch.send(1);
    await g.wait();
  });

  test('an inner channel wait that ends hands back the outer channel name, not its own', async () => {
    const a = new Channel<number>(0, { name: 'a' });
    const b = new Channel<number>(0, { name: 'b' });
    const g = new Group(background());
    const task = g.go(async (ctx) => {
      await Promise.all([a.recv(ctx), b.recv(ctx)]);
    });
    assert.equal(infoOf(task.id)?.waitingOn, 'b');
    await b.send(1);
    assert.equal(task.state, 'waiting: chan receive');
    assert.equal(infoOf(task.id)?.waitingOn, 'a');
    await a.send(1);
    await g.wait();
  });
});

describe('configure', () => {
  test('rejects unknown options and bad values by name', () => {
    assert.throws(() => configure({ spawnSite: 'off' } as never), /unknown option "spawnSite"/);
    assert.throws(() => configure({ spawnSites: 'sometimes' as never }), /spawnSites/);
    assert.throws(() => configure({ sampleEvery: 0 }), /sampleEvery/);
    assert.throws(() => configure({ stackDepth: 1.5 }), /stackDepth/);
  });

  test("defaults to 'always' under NODE_ENV=test, 'sampled' otherwise, and CORRAL_SPAWN_SITES wins", () => {
    const read = (env: Record<string, string>): string =>
      execFileSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/config.ts').then((m) => process.stdout.write(m.config.spawnSites))"], {
        env: { PATH: process.env.PATH ?? '', ...env },
        cwd: new URL('..', import.meta.url),
      }).toString();
    assert.equal(read({ NODE_ENV: 'test' }), 'always');
    assert.equal(read({ NODE_ENV: 'production' }), 'sampled');
    assert.equal(read({ NODE_ENV: 'test', CORRAL_SPAWN_SITES: 'off' }), 'off');
  });
});
