import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { background, configure, withCancel, type Context } from '../src/index.js';
import { Group } from '../src/group.js';
import { Channel } from '../src/channel.js';
import { sleep } from '../src/timers.js';
import { config } from '../src/config.js';
import { dumpTasks } from '../src/dump.js';
import { forEachEntry, formatSite, type Entry } from '../src/registry.js';
import { dump, DumpTooLargeError, DUMP_SCHEMA, groupTasks, type DumpJson } from '../src/inspect/dump.js';
import { setRedaction } from '../src/inspect/redact.js';

const saved = { ...config };
afterEach(() => {
  configure(saved);
  setRedaction(undefined);
});

const never = new Promise<never>(() => {});
const blocked = (ctx: Context): Promise<unknown> => Promise.race([never, ctx.done]);

/** A cancellable scope for a test's tasks: `end()` cancels them and waits until they are gone. */
function scope(name = 'scope'): { ctx: Context; group: Group; end(): Promise<void> } {
  const { ctx, cancel } = withCancel(background());
  const group = new Group(ctx, { name, failFast: false });
  return {
    ctx,
    group,
    async end() {
      cancel();
      await group.wait().catch(() => {});
    },
  };
}

function taskIds(): Set<number> {
  const ids = new Set<number>();
  forEachEntry((e) => {
    if (e.kind === 'task') ids.add(e.id);
  });
  return ids;
}

function spawnA(g: Group): void {
  g.go(blocked, { name: 'his-sync' });
}
function spawnB(g: Group, ch: Channel<number>): void {
  g.go((ctx) => ch.recv(ctx), { name: 'validate-terms' });
}
function spawnC(g: Group): void {
  g.go((ctx) => sleep(ctx, 3_600_000), { name: 'poll' });
}

describe('dump: grouped', () => {
  test('reads exactly as the core dumpTasks() for the same tasks', async () => {
    configure({ spawnSites: 'always' });
    const s = scope();
    const ch = new Channel<number>(0, { name: 'terminology-results' });
    for (let i = 0; i < 3; i++) spawnA(s.group);
    for (let i = 0; i < 2; i++) spawnB(s.group, ch);
    spawnC(s.group);
    await new Promise((r) => setImmediate(r));
    // Taken in one turn, both read the registry's clock once: the ages agree too.
    const core = dumpTasks();
    const ours = dump({ format: 'grouped' });
    assert.equal(ours, core);
    assert.equal(dump(), core, "'grouped' is the default");
    assert.match(ours, /^3 tasks "his-sync" \[running, oldest \d+m?s\]$/m);
    assert.match(ours, /^2 tasks "validate-terms" \[waiting: chan receive on "terminology-results", oldest \d+m?s\]$/m);
    assert.match(ours, /^1 task "poll" \[waiting: sleep, oldest \d+m?s\]$/m);
    await s.end();
  });

  test('one entry per spawn site, state and name, the largest first, with the site lines below it', async () => {
    configure({ spawnSites: 'always' });
    const s = scope();
    for (let i = 0; i < 2; i++) spawnA(s.group);
    // The same name from another line is another entry.
    for (let i = 0; i < 5; i++) s.group.go(blocked, { name: 'his-sync' });
    await new Promise((r) => setImmediate(r));
    const text = dump({ filter: (t) => t.parentId === s.group.id });
    const entries = text.split('\n\n').slice(1);
    assert.equal(entries.length, 2, text);
    assert.match(entries[0] ?? '', /^5 tasks "his-sync" \[running, oldest \d+m?s\]\n {4}at .*inspect-dump\.test\.ts:\d+:\d+/);
    assert.match(entries[1] ?? '', /^2 tasks "his-sync" \[running, oldest \d+m?s\]\n {4}at spawnA .*inspect-dump\.test\.ts:\d+:\d+/);
    await s.end();
  });

  test('a task without a captured spawn site says how to capture one', async () => {
    configure({ spawnSites: 'off' });
    const s = scope();
    spawnA(s.group);
    const text = dump({ filter: (t) => t.parentId === s.group.id });
    assert.match(text, /1 task "his-sync" \[running, oldest \d+ms\]\n {4}\(spawn site not captured; configure\(\{ spawnSites: "always" \}\)\)\n/);
    await s.end();
  });

  test('a filter selects the tasks counted, and the header says how many matched', async () => {
    const s = scope();
    spawnA(s.group);
    spawnA(s.group);
    spawnC(s.group);
    const text = dump({ filter: (t) => t.name === 'poll' && t.parentId === s.group.id });
    assert.match(text, /^corral: \d+ tasks in \d+ groups?; 1 task matches the filter\n/);
    assert.match(text, /1 task "poll"/);
    assert.doesNotMatch(text, /his-sync/);
    await s.end();
  });

  test('limit keeps the largest sites and counts the rest', async () => {
    const s = scope();
    for (let i = 0; i < 3; i++) spawnA(s.group);
    for (let i = 0; i < 2; i++) spawnC(s.group);
    s.group.go(blocked, { name: 'single' });
    const text = dump({ limit: 1, filter: (t) => t.parentId === s.group.id });
    assert.match(text, /3 tasks "his-sync"/);
    assert.doesNotMatch(text, /"poll"|"single"/);
    assert.match(text, /\n\.\.\. and 2 more sites \(3 tasks\)\n$/);
    await s.end();
  });
});

describe('groupTasks', () => {
  test('returns the grouped rows as plain objects, the largest first, with the oldest ids', async () => {
    configure({ spawnSites: 'always' });
    const s = scope();
    const ch = new Channel<number>(0, { name: 'results' });
    const before = taskIds();
    for (let i = 0; i < 12; i++) spawnB(s.group, ch);
    spawnA(s.group);
    await new Promise((r) => setImmediate(r));
    const rows = groupTasks({ filter: (t) => !before.has(t.id) });
    assert.equal(rows.length, 2);
    const [top, second] = rows;
    assert.equal(top?.name, 'validate-terms');
    assert.equal(top?.state, 'waiting: chan receive');
    assert.equal(top?.waitingOn, 'results');
    assert.equal(top?.count, 12);
    assert.ok(typeof top?.oldestMs === 'number' && top.oldestMs >= 0, 'oldestMs is a number of ms');
    assert.match(top?.spawnSite ?? '', /^at spawnB /);
    const ids = [...taskIds()].filter((id) => !before.has(id)).sort((a, b) => a - b);
    assert.deepEqual(top?.taskIds, ids.slice(0, 10), 'the 10 oldest ids, oldest first');
    assert.equal(second?.name, 'his-sync');
    assert.equal(second?.waitingOn, undefined, 'no waitingOn when the wait names nothing');
    assert.deepEqual(JSON.parse(JSON.stringify(rows)), rows, 'plain data');
    assert.equal(groupTasks({ limit: 1, filter: (t) => !before.has(t.id) }).length, 1);
    await s.end();
  });

  test('leaves spawnSite out when none was captured', async () => {
    configure({ spawnSites: 'off' });
    const s = scope();
    spawnA(s.group);
    const [row] = groupTasks({ filter: (t) => t.parentId === s.group.id });
    assert.ok(row !== undefined && !('spawnSite' in row), 'no spawnSite key');
    await s.end();
  });

  test('refuses options it does not know and bad limits', () => {
    assert.throws(() => groupTasks({ format: 'json' } as never), (e: unknown) => e instanceof TypeError && /unknown option "format"/.test(e.message));
    assert.throws(() => groupTasks({ limit: 0 }), (e: unknown) => e instanceof RangeError && /limit/.test(e.message));
    assert.throws(() => groupTasks({ filter: 'x' as never }), (e: unknown) => e instanceof TypeError && /filter/.test(e.message));
  });
});

describe('dump: full', () => {
  test('lists every task with its state, age, labels, spawn site and parent chain, then the groups', async () => {
    configure({ spawnSites: 'always' });
    const s = scope('outer');
    const ch = new Channel<number>(0, { name: 'results' });
    const spawned: number[] = [];
    let innerId = 0;
    const scheduler = s.group.go(
      async (ctx) => {
        const inner = new Group(ctx, { name: 'inner', labels: { study: 'PHQ-9' } });
        innerId = inner.id;
        for (let i = 0; i < 2; i++) spawned.push(inner.go((c) => ch.recv(c), { name: 'his-sync', labels: { site: 'Lyon' } }).id);
        await inner.wait();
      },
      { name: 'scheduler' },
    );
    await new Promise((r) => setImmediate(r));
    const mine = new Set([scheduler.id, ...spawned]);
    const text = dump({ format: 'full', filter: (t) => mine.has(t.id) });
    assert.match(text, /^corral: \d+ tasks in \d+ groups, pid \d+, taken \d{4}-\d\d-\d\dT[\d:.]+Z; 3 tasks match the filter\n/);
    const blocks = text.split('\n\n');
    const task = blocks.find((b) => b.startsWith(`task ${spawned[0]} `)) ?? '';
    const lines = task.split('\n');
    assert.equal(lines[0], `task ${spawned[0]} "his-sync" [waiting: chan receive on "results", ${/\[.*, (\d+m?s)\]/.exec(lines[0] ?? '')?.[1]}]`);
    assert.equal(lines[1], '    labels: site="Lyon"');
    assert.match(lines[2] ?? '', /^ {4}at .*inspect-dump\.test\.ts:\d+:\d+/);
    assert.equal(lines.at(-1), `    in group ${innerId} "inner", spawned by task ${scheduler.id} "scheduler" in group ${s.group.id} "outer"`);
    // Oldest first: the scheduler, then its tasks in spawn order.
    const order = [...text.matchAll(/^task (\d+) /gm)].map((m) => Number(m[1]));
    assert.deepEqual(order, [scheduler.id, ...spawned]);
    const groups = text.slice(text.indexOf('\ngroups:\n'));
    assert.match(groups, new RegExp(`\\ngroup ${s.group.id} "outer" \\[running, \\d+m?s, 1 task\\]\\n`));
    assert.match(groups, new RegExp(`\\ngroup ${innerId} "inner" \\[running, \\d+m?s, 2 tasks\\]\\n {4}labels: study="PHQ-9"\\n {4}spawned by task ${scheduler.id} "scheduler" in group ${s.group.id} "outer"\\n`));
    await s.end();
  });

  test('a parent task that has finished shows in the chain with its final state', async () => {
    const s = scope('outer');
    let child = 0;
    let inner!: Group;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await s.group.go(
      (ctx) => {
        // A group the task leaves running when it returns, with a task that ignores its context.
        inner = new Group(ctx, { name: 'orphans' });
        child = inner.go(() => held, { name: 'left-behind' }).id;
      },
      { name: 'starter' },
    );
    const text = dump({ format: 'full', filter: (t) => t.id === child });
    assert.match(text, new RegExp(`in group ${inner.id} "orphans", spawned by task \\d+ "starter" \\(succeeded\\) in group ${s.group.id} "outer"`));
    release();
    await inner.wait().catch(() => {});
    await s.end();
  });

  test('limit keeps the oldest tasks and says how many were left out', async () => {
    const s = scope();
    const ids = [s.group.go(blocked, { name: 'a' }).id, s.group.go(blocked, { name: 'b' }).id, s.group.go(blocked, { name: 'c' }).id];
    const text = dump({ format: 'full', limit: 2, filter: (t) => ids.includes(t.id) });
    assert.deepEqual([...text.matchAll(/^task (\d+) /gm)].map((m) => Number(m[1])), ids.slice(0, 2));
    assert.match(text, /\n\.\.\. and 1 more task \(limit 2\)\n/);
    await s.end();
  });
});

describe('dump: json', () => {
  test('is the versioned corral.dump/v1 document, with every field present and consistent', async () => {
    configure({ spawnSites: 'always' });
    const s = scope('outer');
    const ch = new Channel<number>(0, { name: 'results' });
    const before = taskIds();
    for (let i = 0; i < 3; i++) s.group.go((c) => ch.recv(c), { name: 'validate', labels: { study: 'PHQ-9' } });
    spawnA(s.group);
    await new Promise((r) => setImmediate(r));
    const doc = JSON.parse(dump({ format: 'json' })) as DumpJson;
    assert.equal(doc.schema, DUMP_SCHEMA);
    assert.equal(doc.schema, 'corral.dump/v1');
    assert.equal(doc.pid, process.pid);
    assert.ok(Math.abs(doc.takenAt - Date.now()) < 60_000, 'takenAt is epoch ms');
    assert.deepEqual(Object.keys(doc), ['schema', 'takenAt', 'pid', 'counts', 'filtered', 'omitted', 'tasks', 'groups', 'sites']);
    assert.equal(doc.counts.tasks, doc.tasks.length, 'unfiltered: every live task listed');
    assert.equal(doc.counts.groups, doc.groups.length);
    assert.equal(doc.filtered, false);
    assert.deepEqual(doc.omitted, { tasks: 0, sites: 0 });
    assert.equal(doc.sites.reduce((n, x) => n + x.count, 0), doc.tasks.length, 'the sites count every task once');
    const mine = doc.tasks.filter((t) => !before.has(t.id));
    assert.equal(mine.length, 4);
    const v = mine[0];
    assert.deepEqual(Object.keys(v ?? {}), ['id', 'name', 'labels', 'state', 'waitingOn', 'lastState', 'since', 'startedAt', 'ageMs', 'parentId', 'spawnSite']);
    assert.equal(v?.lastState, null, 'null for a task that is not leaked');
    assert.equal(v?.name, 'validate');
    assert.deepEqual(v?.labels, { study: 'PHQ-9' });
    assert.equal(v?.state, 'waiting: chan receive');
    assert.equal(v?.waitingOn, 'results');
    assert.equal(v?.parentId, s.group.id);
    assert.match(v?.spawnSite ?? '', /inspect-dump\.test\.ts/);
    for (const t of doc.tasks) assert.equal(t.ageMs, doc.takenAt - t.since, 'ageMs is takenAt - since');
    assert.equal(mine[3]?.waitingOn, null, 'null, not absent, when the wait names nothing');
    const g = doc.groups.find((x) => x.id === s.group.id);
    assert.deepEqual(Object.keys(g ?? {}), ['id', 'name', 'labels', 'state', 'since', 'startedAt', 'ageMs', 'parentId', 'tasks', 'spawnSite']);
    assert.equal(g?.tasks, 4);
    assert.equal(g?.parentId, null);
    const site = doc.sites.find((x) => x.name === 'validate');
    assert.deepEqual(Object.keys(site ?? {}), ['name', 'state', 'waitingOn', 'lastState', 'spawnSite', 'count', 'oldestMs', 'taskIds']);
    assert.equal(site?.count, 3);
    assert.deepEqual(site?.taskIds, mine.slice(0, 3).map((t) => t.id));
    await s.end();
  });

  test('limit and filter are reported: omitted counts and filtered', async () => {
    const s = scope();
    for (let i = 0; i < 3; i++) spawnA(s.group);
    spawnC(s.group);
    const doc = JSON.parse(dump({ format: 'json', limit: 1, filter: (t) => t.parentId === s.group.id })) as DumpJson;
    assert.equal(doc.filtered, true);
    assert.equal(doc.tasks.length, 1);
    assert.deepEqual(doc.omitted, { tasks: 3, sites: 1 });
    assert.equal(doc.sites[0]?.count, 3);
    assert.deepEqual(doc.groups.map((x) => x.id), [s.group.id], 'filtered: the groups above the tasks listed');
    await s.end();
  });

  test('a JSON dump over maxBytes throws DumpTooLargeError rather than cut the document', async () => {
    const s = scope();
    for (let i = 0; i < 50; i++) s.group.go(blocked, { name: 'x'.repeat(40) });
    assert.throws(
      () => dump({ format: 'json', maxBytes: 1024 }),
      (e: unknown) => e instanceof DumpTooLargeError && e.code === 'ERR_CORRAL_DUMP_TOO_LARGE' && e.maxBytes === 1024,
    );
    assert.doesNotThrow(() => JSON.parse(dump({ format: 'json', maxBytes: 1024, limit: 1, filter: (t) => t.parentId === s.group.id })));
    await s.end();
  });
});

describe('dump: safety', () => {
  test('never shows task arguments, closures or results', async () => {
    const s = scope();
    const secret = 'patient P-0042 answered 3';
    const argument = { patientId: 'P-0042', answers: [3, 1, 2] };
    s.group.go(async (ctx) => {
      const held = { ...argument, secret };
      await blocked(ctx);
      return held;
    }, { name: 'score' });
    const done = s.group.go(() => secret, { name: 'finished' });
    await done;
    for (const format of ['grouped', 'full', 'json'] as const) {
      const text = dump({ format });
      assert.ok(!text.includes('P-0042') && !text.includes('answered'), `${format}: no argument or result`);
    }
    await s.end();
  });

  test('labels pass through the redaction: dropped, masked, or a throwing redactor drops them', async () => {
    const s = scope();
    const t = s.group.go(blocked, { name: 'intake', labels: { study: 'PHQ-9', patientId: 'P-0042', note: 'x' } });
    const only = (e: { id: number }) => e.id === t.id;
    const redact = (key: string, value: string) => (key === 'patientId' ? undefined : key === 'note' ? '***' : value);
    const full = dump({ format: 'full', filter: only, redact });
    assert.match(full, /\n {4}labels: study="PHQ-9" note="\*\*\*"\n/);
    assert.ok(!full.includes('P-0042'), 'the dropped label is gone');
    const doc = JSON.parse(dump({ format: 'json', filter: only, redact })) as DumpJson;
    assert.deepEqual(doc.tasks[0]?.labels, { study: 'PHQ-9', note: '***' });
    const broken = dump({ format: 'full', filter: only, redact: () => { throw new Error('P-0042'); } });
    assert.ok(!broken.includes('labels:') && !broken.includes('P-0042'), 'fails closed');
    await s.end();
  });

  test('setRedaction sets the default for every dump; a dump given its own redact uses that one', async () => {
    const s = scope();
    const t = s.group.go(blocked, { name: 'intake', labels: { patientId: 'P-0042', study: 'PHQ-9' } });
    const only = (e: { id: number }) => e.id === t.id;
    assert.equal(setRedaction((k, v) => (k === 'study' ? v : undefined)), undefined);
    const text = dump({ format: 'full', filter: only });
    assert.match(text, /labels: study="PHQ-9"\n/);
    assert.ok(!text.includes('P-0042'), 'the process-wide redaction applies');
    assert.match(dump({ format: 'full', filter: only, redact: (_k, v) => v }), /patientId="P-0042"/);
    setRedaction(undefined);
    assert.match(dump({ format: 'full', filter: only }), /patientId="P-0042"/, 'undefined restores the default');
    assert.throws(() => setRedaction('x' as never), TypeError);
    await s.end();
  });

  test('names, labels and states cannot break a line or fake an entry', async () => {
    const s = scope();
    const evil = 'x" [running, 1ms]\n\ntask 999 "fake" [running, 1ms]\u001b[31m\u2028';
    const t = s.group.go(blocked, { name: evil, labels: { 'we ird': 'a\nb"c' } });
    const only = (e: { id: number }) => e.id === t.id;
    for (const format of ['grouped', 'full'] as const) {
      const text = dump({ format, filter: only });
      assert.ok(!text.includes('\u001b') && !text.includes('\u2028'), `${format}: no raw control character`);
      assert.ok(!/^task 999/m.test(text), `${format}: no faked entry`);
      assert.ok(text.includes('"x\\" [running, 1ms]\\n\\ntask 999 \\"fake\\" [running, 1ms]\\u001b[31m\\u2028"'), `${format}: the name, quoted and escaped`);
    }
    assert.match(dump({ format: 'full', filter: only }), /\n {4}labels: "we ird"="a\\nb\\"c"\n/);
    const doc = JSON.parse(dump({ format: 'json', filter: only })) as DumpJson;
    assert.equal(doc.tasks[0]?.name, evil, 'JSON keeps the exact name');
    await s.end();
  });

  test('a text dump over maxBytes is cut after a whole entry, with a marker line', async () => {
    const s = scope();
    const ids = new Set<number>();
    for (let i = 0; i < 60; i++) ids.add(s.group.go(blocked, { name: `task-${i}-${'é'.repeat(20)}` }).id);
    for (const format of ['grouped', 'full'] as const) {
      const text = dump({ format, maxBytes: 2048, filter: (t) => ids.has(t.id) });
      assert.ok(Buffer.byteLength(text) <= 2048, `${format}: within maxBytes (${Buffer.byteLength(text)})`);
      const unit = format === 'grouped' ? 'sites' : 'tasks';
      assert.match(text, new RegExp(`\\n-- truncated at 2048 bytes: \\d+ of 60 ${unit} shown; ask for fewer \\(limit\\) or a narrower filter --\\n$`));
      const body = text.slice(0, text.lastIndexOf('\n-- truncated'));
      const entries = [...body.matchAll(format === 'grouped' ? /^1 task "task-\d+-é+" \[running, oldest \d+m?s\]$/gm : /^task \d+ "task-\d+-é+" \[running, \d+m?s\]$/gm)];
      assert.equal(entries.length, Number(/: (\d+) of 60/.exec(text)?.[1]), `${format}: the count shown matches the entries written`);
    }
    await s.end();
  });

  test('bad options throw naming the option', () => {
    assert.throws(() => dump({ format: 'xml' as never }), (e: unknown) => e instanceof RangeError && /format must be one of grouped, full, json \(got "xml"\)/.test(e.message));
    assert.throws(() => dump({ colour: true } as never), (e: unknown) => e instanceof TypeError && /unknown option "colour"/.test(e.message));
    assert.throws(() => dump({ limit: 1.5 }), (e: unknown) => e instanceof RangeError && /limit/.test(e.message));
    assert.throws(() => dump({ maxBytes: 10 }), (e: unknown) => e instanceof RangeError && /maxBytes must be an integer >= 1024/.test(e.message));
    assert.throws(() => dump({ redact: 'x' as never }), (e: unknown) => e instanceof TypeError && /redact/.test(e.message));
    assert.throws(() => dump(null as never), TypeError);
  });
});

describe('formatSite cache', () => {
  test('a site is formatted once per distinct stack, shared by the tasks, with the stack text unchanged', async () => {
    configure({ spawnSites: 'always' });
    const s = scope();
    for (let i = 0; i < 3; i++) spawnA(s.group);
    const entries: Entry[] = [];
    forEachEntry((e) => {
      if (e.kind === 'task' && e._owner === s.group) entries.push(e);
    });
    const stacks = entries.map((e) => e._site?.stack);
    const sites = entries.map((e) => formatSite(e));
    assert.match(sites[0] ?? '', /^at spawnA /);
    assert.ok(sites.every((x) => x === sites[0]), 'the same site for the same stack');
    assert.deepEqual(entries.map((e) => e._site?.stack), stacks, 'the stack text reads the same');
    assert.deepEqual(entries.map((e) => formatSite(e)), sites, 'a second read gives the same site');
    await s.end();
  });

  test('sites stay right past the cache bound (over 1024 distinct stacks)', async () => {
    configure({ spawnSites: 'always' });
    const s = scope();
    const n = 1100;
    const tasks: { id: number }[] = [];
    for (let i = 0; i < n; i++) {
      // A distinct file per function, so every stack is distinct.
      const spawn = new Function('g', 'f', `return g.go(f, { name: 'gen' });\n//# sourceURL=generated-site-${i}.js`) as (g: Group, f: (c: Context) => unknown) => { id: number };
      tasks.push(spawn(s.group, blocked));
    }
    const byId = new Map<number, Entry>();
    forEachEntry((e) => byId.set(e.id, e));
    const check = (): void => {
      for (let i = 0; i < n; i += 137) {
        const site = formatSite(byId.get((tasks[i] as { id: number }).id) as Entry) ?? '';
        assert.ok(site.includes(`generated-site-${i}.js:`), `task ${i}: its own site (${site.split('\n')[0]})`);
      }
    };
    for (const t of tasks) formatSite(byId.get(t.id) as Entry);
    check();
    check();
    await s.end();
  });
});
