import { test, describe, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { background, configure, InvalidStateError } from '../src/index.js';
import { Group } from '../src/group.js';
import type { Task } from '../src/task.js';
import { config } from '../src/config.js';
import { liveCounts, observers, totals } from '../src/registry.js';
import { WorkerPool } from '../src/pool/index.js';
import { App } from '../src/app/index.js';
import {
  disableMetrics,
  enableMetrics,
  metricsText,
  METRICS_CONTENT_TYPE,
  registerMetrics,
  trackApp,
  trackPool,
} from '../src/inspect/metrics.js';
import { readDurations } from '../src/inspect/metrics-duration.js';
import { shortSite } from '../src/inspect/metrics-sites.js';
import { gate, turn } from './helpers/schedule.js';

const saved = { ...config };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  configure(saved);
  enableMetrics();
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the text format 0.0.4: every line is a HELP, a TYPE, or a sample of the
 * family the last TYPE named; label values are unescaped. Throws on anything else.
 */
function parse(text: string): { samples: Sample[]; types: Map<string, string>; helps: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'the output ends with a line feed');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  let family = '';
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // the format ignores empty lines (prom-client puts one between families)
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m !== null) {
      assert.ok(!helps.has(m[1]!), `one HELP per family: ${m[1]}`);
      helps.set(m[1]!, m[2]!);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m !== null) {
      assert.ok(helps.has(m[1]!), `HELP before TYPE for ${m[1]}`);
      assert.ok(!types.has(m[1]!), `one TYPE per family: ${m[1]}`);
      types.set(m[1]!, m[2]!);
      family = m[1]!;
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const type = types.get(family);
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    assert.ok(suffixes.some((s) => name === family + s), `sample ${name} belongs to family ${family}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/.exec(rest);
      assert.ok(l !== null, `well-formed labels: ${JSON.stringify(m[2])}`);
      labels[l[1]!] = l[2]!.replace(/\\(\\|"|n)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    const v = m[3]!;
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : v === 'NaN' ? NaN : Number(v);
    assert.ok(!Number.isNaN(value) || v === 'NaN', `a number: ${v}`);
    samples.push({ name, labels, value });
  }
  return { samples, types, helps };
}

/** The value of the one sample named `name` whose labels include `labels`. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = parse(text).samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length,
  );
  assert.ok(found.length <= 1, `at most one ${name}${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** Spawns `n` tasks named `name` that run until the returned function is called. */
function hold(g: Group, n: number, name: string): () => Promise<void> {
  const h = gate();
  const tasks = Array.from({ length: n }, () => g.go(() => h.promise, { name }));
  return async () => {
    h.open();
    await Promise.all(tasks);
  };
}

describe('metricsText', () => {
  test('every line follows the text format: HELP, then TYPE, then samples of that family', async () => {
    const pool = new WorkerPool(async (n: number) => n, { name: 'echo' });
    cleanups.push(() => pool.shutdown());
    await pool.submit(1);
    const text = metricsText({ pools: [pool] });
    const { types } = parse(text);
    assert.equal(types.get('corral_tasks_live'), 'gauge');
    assert.equal(types.get('corral_tasks_spawned_total'), 'counter');
    assert.equal(types.get('corral_tasks_finished_total'), 'counter');
    assert.equal(types.get('corral_task_duration_seconds'), 'histogram');
    assert.equal(types.get('corral_groups_live'), 'gauge');
    assert.equal(types.get('corral_pool_queued'), 'gauge');
    assert.equal(types.get('corral_pool_jobs_completed_total'), 'counter');
    assert.equal(types.get('corral_pool_job_duration_seconds'), 'summary');
    assert.equal(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });

  test('spawned and finished totals count every task, finished ones by outcome', async () => {
    const before = metricsText();
    const g = new Group(background(), { failFast: false });
    for (let i = 0; i < 3; i++) g.go(async () => 1);
    for (let i = 0; i < 2; i++) g.go(async () => Promise.reject(new Error('boom')));
    const h = gate();
    const c: Task<void> = g.go(() => h.promise.then(() => c.ctx.throwIfDone()));
    c.cancel();
    h.open();
    await g.wait().catch(() => {});
    const after = metricsText();
    const delta = (name: string, labels?: Record<string, string>): number => valueOf(after, name, labels)! - valueOf(before, name, labels)!;
    assert.equal(delta('corral_tasks_spawned_total'), 6);
    assert.equal(delta('corral_tasks_finished_total', { outcome: 'succeeded' }), 3);
    assert.equal(delta('corral_tasks_finished_total', { outcome: 'failed' }), 2);
    assert.equal(delta('corral_tasks_finished_total', { outcome: 'canceled' }), 1);
    assert.equal(valueOf(after, 'corral_tasks_spawned_total'), totals.spawned);
  });

  test('corral_tasks_live counts live tasks by the file and line that spawned them', async () => {
    configure({ spawnSites: 'always' });
    const g = new Group(background());
    const h = gate();
    for (let i = 0; i < 3; i++) g.go(() => h.promise, { name: 'a' });
    for (let i = 0; i < 2; i++) g.go(() => h.promise, { name: 'b' });
    cleanups.push(async () => {
      h.open();
      await g.wait();
    });
    const ours = parse(metricsText())
      .samples.filter((s) => s.name === 'corral_tasks_live' && /^test\/metrics\.test\.ts:\d+$/.test(s.labels.site ?? ''))
      .map((s) => s.value)
      .sort();
    assert.deepEqual(ours, [2, 3], 'two sites, relative to the working directory, with their counts');
    const live = parse(metricsText()).samples.filter((s) => s.name === 'corral_tasks_live');
    assert.equal(
      live.reduce((n, s) => n + s.value, 0),
      liveCounts().tasks,
      'the series add up to every live task',
    );
  });

  test('a task whose spawn site was not captured is counted under its name', async () => {
    configure({ spawnSites: 'off' });
    const g = new Group(background());
    const release = hold(g, 4, 'his-sync');
    cleanups.push(release);
    assert.equal(valueOf(metricsText(), 'corral_tasks_live', { site: 'name:his-sync' }), 4);
  });

  test('sites beyond topSites fold into site="other", the largest kept', async () => {
    configure({ spawnSites: 'off' });
    const g = new Group(background());
    const counts = { 'fold-e': 5, 'fold-d': 4, 'fold-c': 3, 'fold-b': 2, 'fold-a': 1 };
    for (const [name, n] of Object.entries(counts)) cleanups.push(hold(g, n, name));
    const text = metricsText({ topSites: 2 });
    const live = parse(text).samples.filter((s) => s.name === 'corral_tasks_live');
    assert.equal(live.length, 3, 'two sites and "other"');
    assert.equal(valueOf(text, 'corral_tasks_live', { site: 'name:fold-e' }), 5);
    assert.equal(valueOf(text, 'corral_tasks_live', { site: 'name:fold-d' }), 4);
    assert.equal(valueOf(text, 'corral_tasks_live', { site: 'other' }), liveCounts().tasks - 9);
    assert.equal(parse(metricsText()).samples.filter((s) => s.name === 'corral_tasks_live').length >= 5, true, 'default topSites keeps more');
  });

  test('label values escape backslash, double quote and line feed', async () => {
    configure({ spawnSites: 'off' });
    const g = new Group(background());
    cleanups.push(hold(g, 1, 'a\\b"c\nd'));
    const text = metricsText();
    assert.ok(text.includes('corral_tasks_live{site="name:a\\\\b\\"c\\nd"} 1\n'), 'escaped on one line');
    assert.equal(valueOf(text, 'corral_tasks_live', { site: 'name:a\\b"c\nd' }), 1, 'reads back as the name');
  });

  test('groups_live counts groups with pending tasks', async () => {
    const before = valueOf(metricsText(), 'corral_groups_live')!;
    const g1 = new Group(background());
    const g2 = new Group(background());
    cleanups.push(hold(g1, 1, 'x'), hold(g2, 2, 'y'));
    assert.equal(valueOf(metricsText(), 'corral_groups_live'), before + 2);
  });

  test('rejects unknown options, a bad topSites and pools that are not pools', () => {
    assert.throws(() => metricsText({ top: 3 } as never), { name: 'TypeError', message: /unknown option "top"/ });
    assert.throws(() => metricsText({ topSites: 0 }), { name: 'RangeError', message: /topSites/ });
    assert.throws(() => metricsText({ topSites: 1.5 }), { name: 'RangeError', message: /topSites/ });
    assert.throws(() => metricsText({ pools: [{}] as never }), { name: 'TypeError', message: /pools\[0\]/ });
    assert.throws(() => metricsText({ app: {} as never }), { name: 'TypeError', message: /app must be an App/ });
    assert.throws(() => metricsText(null as never), { name: 'TypeError' });
  });
});

describe('spawn sites', () => {
  test('a frame shortens to file:line, relative to the working directory when inside it', () => {
    const cwd = process.cwd();
    assert.equal(shortSite(`at handler (file://${cwd}/srv/app.js:12:5)`), 'srv/app.js:12');
    assert.equal(shortSite('at handler (file:///elsewhere/app.js:12:5)\nat main (file:///x.js:1:1)'), '/elsewhere/app.js:12');
    assert.equal(shortSite('at /abs/app.js:7:3'), '/abs/app.js:7');
    assert.equal(shortSite('at async Promise.all (index 0)'), 'index 0');
  });
});

describe('the task duration histogram', () => {
  test('records each finished task in the power-of-two bucket of its duration, and the sum', async () => {
    // The registry's clock reads Date.now(); mocking Date makes every duration exact.
    await turn();
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    cleanups.push(() => mock.timers.reset());
    enableMetrics();
    const durations = [0, 1, 2, 3, 100, 5000, 2 ** 21, 2 ** 21 + 1];
    const before = readDurations();
    const g = new Group(background());
    const gates = durations.map(() => gate());
    const tasks = durations.map((_, i) => g.go(() => gates[i]!.promise));
    let elapsed = 0;
    for (let i = 0; i < durations.length; i++) {
      mock.timers.tick(durations[i]! - elapsed);
      elapsed = durations[i]!;
      await turn(); // the registry's cached clock reading expires
      gates[i]!.open();
      await tasks[i];
    }
    const after = readDurations();
    const perBucket = (d: typeof after): number[] => d.cumulative.map((c, k) => c - (k === 0 ? 0 : d.cumulative[k - 1]!));
    const delta = perBucket(after).map((n, k) => n - perBucket(before)[k]!);
    const expected = new Array<number>(delta.length).fill(0);
    const bucketOf = (le: string): number => (le === '+Inf' ? after.bounds.length : after.bounds.indexOf(le));
    for (const le of ['0.001', '0.001', '0.002', '0.004', '0.128', '8.192', '2097.152', '+Inf']) expected[bucketOf(le)]!++;
    assert.deepEqual(delta, expected);
    assert.equal(after.count - before.count, 8);
    assert.equal(Math.round((after.sumSeconds - before.sumSeconds) * 1000), durations.reduce((a, b) => a + b, 0));
    await g.wait();
  });

  test('the histogram in the text output is cumulative and ends with +Inf, _sum and _count', () => {
    const text = metricsText();
    const buckets = parse(text).samples.filter((s) => s.name === 'corral_task_duration_seconds_bucket');
    assert.equal(buckets.at(-1)?.labels.le, '+Inf');
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'cumulative');
    const bounds = buckets.slice(0, -1).map((b) => Number(b.labels.le));
    for (let i = 1; i < bounds.length; i++) assert.equal(bounds[i], bounds[i - 1]! * 2, 'power-of-two bounds');
    assert.equal(valueOf(text, 'corral_task_duration_seconds_count'), buckets.at(-1)?.value);
    assert.ok(valueOf(text, 'corral_task_duration_seconds_sum') !== undefined, '_sum present');
  });

  test('durations are recorded only while metrics are enabled; metricsText enables them', async () => {
    disableMetrics();
    assert.equal(observers.finish, undefined, 'nothing on the finish path while disabled');
    const before = readDurations().count;
    const g = new Group(background());
    await g.go(async () => 1);
    assert.equal(readDurations().count, before, 'not recorded while disabled');
    metricsText();
    assert.notEqual(observers.finish, undefined, 'the first collect installs the observer');
    await g.go(async () => 1);
    assert.equal(readDurations().count, before + 1, 'recorded once enabled');
  });
});

describe('pool metrics', () => {
  test('a tracked pool shows its concurrency, running and queued jobs, and totals', async () => {
    const h = gate();
    const pool = new WorkerPool(
      async (job: string) => {
        if (job === 'fail') throw new Error('no');
        if (job === 'block') await h.promise;
      },
      { name: 'scoring', concurrency: 2, queueSize: 1, onFull: 'reject' },
    );
    cleanups.push(() => pool.shutdown());
    const untrack = trackPool(pool);
    cleanups.push(untrack);
    await pool.submit('ok');
    await pool.submit('fail').catch(() => {});
    const blocked = [pool.submit('block'), pool.submit('block'), pool.submit('block')];
    await pool.submit('over').catch(() => {}); // no room: rejected
    await turn();
    let text = metricsText();
    const v = (name: string): number | undefined => valueOf(text, name, { pool: 'scoring' });
    assert.equal(v('corral_pool_concurrency'), 2);
    assert.equal(v('corral_pool_running'), 2);
    assert.equal(v('corral_pool_queued'), 1);
    assert.equal(v('corral_pool_workers'), 2);
    assert.equal(v('corral_pool_waiting_submitters'), 0);
    assert.equal(v('corral_pool_jobs_completed_total'), 1);
    assert.equal(v('corral_pool_jobs_failed_total'), 1);
    assert.equal(v('corral_pool_jobs_rejected_total'), 1);
    assert.equal(v('corral_pool_jobs_withdrawn_total'), 0);
    assert.equal(v('corral_pool_job_duration_seconds_count'), 2);
    assert.equal(valueOf(text, 'corral_pool_job_duration_seconds', { pool: 'scoring', quantile: '0.99' }), pool.stats().latency.p99 / 1000);
    h.open();
    await Promise.all(blocked);
    text = metricsText();
    assert.equal(v('corral_pool_jobs_completed_total'), 4);
    assert.equal(v('corral_pool_running'), 0);
    untrack();
    assert.equal(valueOf(metricsText(), 'corral_pool_running', { pool: 'scoring' }), undefined, 'untracked: gone');
  });

  test('a pool given to one call is shown in that call only, under its name or a tracked name', async () => {
    const pool = new WorkerPool(async () => {}, { name: 'imaging' });
    cleanups.push(() => pool.shutdown());
    assert.equal(valueOf(metricsText({ pools: [pool] }), 'corral_pool_concurrency', { pool: 'imaging' }), 1);
    assert.equal(valueOf(metricsText(), 'corral_pool_concurrency', { pool: 'imaging' }), undefined);
    cleanups.push(trackPool(pool, 'imaging-eu'));
    const text = metricsText({ pools: [pool] });
    assert.equal(valueOf(text, 'corral_pool_concurrency', { pool: 'imaging-eu' }), 1, 'tracked once, under the tracked name');
    assert.equal(valueOf(text, 'corral_pool_concurrency', { pool: 'imaging' }), undefined);
  });

  test('two pools under one name are refused', async () => {
    const a = new WorkerPool(async () => {}, { name: 'dup' });
    const b = new WorkerPool(async () => {}, { name: 'dup' });
    cleanups.push(() => a.shutdown(), () => b.shutdown());
    assert.throws(() => metricsText({ pools: [a, b] }), { name: 'TypeError', message: /two pools are named "dup"/ });
    cleanups.push(trackPool(a));
    assert.throws(() => trackPool(b), InvalidStateError);
    assert.throws(() => trackPool(a, 'other-name'), InvalidStateError);
    assert.doesNotThrow(() => trackPool(a), 'tracking the same pool again is a no-op');
    assert.throws(() => trackPool({} as never), TypeError);
    assert.throws(() => trackPool(a, ''), TypeError);
  });
});

describe('app shutdown metrics', () => {
  test("a tracked app's last shutdown appears once it has stopped: durations, steps, failures", async () => {
    const never = new Promise<void>(() => {});
    const app = new App({ name: 'epro', logger: false, signals: [] });
    app.add(
      { name: 'api', start() {}, stop: async () => ({ graceful: false, forced: [{ method: 'GET', url: '/x', ms: 1, answered: true }] }) },
      { name: 'stuck', start() {}, stop: () => never, stopTimeout: 20 },
      { name: 'broken', start() {}, stop: () => Promise.reject(new Error('disk gone')) },
      { name: 'web', start() {}, stop: async () => ({ graceful: true, forced: [] }) },
    );
    app.resource('db', () => {});
    cleanups.push(trackApp(app));
    await app.start();
    assert.ok(!metricsText().includes('corral_app_'), 'nothing before the shutdown');
    const report = await app.stop();
    await turn();
    const text = metricsText();
    const v = (name: string, labels: Record<string, string> = {}): number | undefined => valueOf(text, name, { app: 'epro', ...labels });
    assert.equal(v('corral_app_shutdown_duration_seconds'), report.ms / 1000);
    for (const s of report.steps) assert.equal(v('corral_app_shutdown_step_duration_seconds', { step: s.name }), s.ms / 1000);
    assert.equal(parse(text).samples.filter((s) => s.name === 'corral_app_shutdown_step_duration_seconds').length, 5);
    for (const s of report.services) assert.equal(v('corral_app_stop_duration_seconds', { service: s.name, kind: s.kind }), s.ms / 1000);
    assert.equal(v('corral_app_shutdown_ok'), 0);
    assert.equal(v('corral_app_stops_failed'), 3, 'api cut requests, stuck timed out, broken threw');
    assert.equal(v('corral_app_stops_timed_out'), 1);
    assert.equal(v('corral_app_shutdown_tasks_left'), report.stillRunning.length);
    assert.equal(v('corral_app_shutdown_requests_forced', { service: 'api' }), 1);
    assert.equal(v('corral_app_shutdown_requests_forced', { service: 'web' }), 0);
  });

  test('a clean shutdown reports ok 1 and no failure', async () => {
    const app = new App({ name: 'clean', logger: false, signals: [] });
    app.add({ name: 'svc', start() {}, stop() {} });
    await app.start();
    await app.stop();
    // Exact at once: the report is the app's lastStopReport.
    const text = metricsText({ app });
    assert.equal(valueOf(text, 'corral_app_shutdown_ok', { app: 'clean' }), 1);
    assert.equal(valueOf(text, 'corral_app_stops_failed', { app: 'clean' }), 0);
    assert.equal(valueOf(text, 'corral_app_stops_timed_out', { app: 'clean' }), 0);
  });
});

describe('registerMetrics (prom-client)', () => {
  test('corral metrics appear in the registry with the values of the moment', async () => {
    const registry = new client.Registry();
    const reg = registerMetrics(registry);
    cleanups.push(() => reg.unregister());
    const spawned = totals.spawned;
    const g = new Group(background(), { failFast: false });
    for (let i = 0; i < 4; i++) g.go(async () => 1);
    g.go(async () => Promise.reject(new Error('x')));
    await g.wait().catch(() => {});
    const text = await registry.metrics();
    const { types } = parse(text);
    assert.equal(types.get('corral_task_duration_seconds'), 'histogram');
    assert.equal(valueOf(text, 'corral_tasks_spawned_total'), spawned + 5);
    assert.equal(valueOf(text, 'corral_tasks_finished_total', { outcome: 'failed' }), totals.failed);
    assert.equal(valueOf(text, 'corral_tasks_finished_total', { outcome: 'succeeded' }), totals.succeeded);
    const d = readDurations();
    assert.equal(valueOf(text, 'corral_task_duration_seconds_count'), d.count);
    assert.equal(valueOf(text, 'corral_task_duration_seconds_bucket', { le: '+Inf' }), d.count);
    assert.equal(valueOf(text, 'corral_task_duration_seconds_bucket', { le: '0.001' }), d.cumulative[0]);
    // Held tasks show up live at the next scrape.
    configure({ spawnSites: 'off' });
    const g2 = new Group(background());
    cleanups.push(hold(g2, 3, 'prom-held'));
    assert.equal(valueOf(await registry.metrics(), 'corral_tasks_live', { site: 'name:prom-held' }), 3);
    const json = await registry.getMetricsAsJSON();
    assert.ok(json.some((m) => m.name === 'corral_groups_live' && String(m.type) === 'gauge'), 'JSON export works too');
  });

  test('pools and an app given at registration are read at every scrape', async () => {
    const registry = new client.Registry();
    const pool = new WorkerPool(async () => {}, { name: 'outbox', concurrency: 3 });
    cleanups.push(() => pool.shutdown());
    const app = new App({ name: 'sync', logger: false, signals: [] });
    app.add({ name: 'svc', start() {}, stop() {} });
    const reg = registerMetrics(registry, { pools: [pool], app });
    cleanups.push(() => reg.unregister());
    await pool.submit(undefined);
    let text = await registry.metrics();
    assert.equal(valueOf(text, 'corral_pool_concurrency', { pool: 'outbox' }), 3);
    assert.equal(valueOf(text, 'corral_pool_jobs_completed_total', { pool: 'outbox' }), 1);
    assert.equal(valueOf(text, 'corral_app_shutdown_ok', { app: 'sync' }), undefined, 'not stopped yet');
    await app.start();
    const report = await app.stop();
    text = await registry.metrics(); // no turn needed: a scrape waits for a stopped app's report
    assert.equal(valueOf(text, 'corral_app_shutdown_ok', { app: 'sync' }), 1);
    assert.equal(valueOf(text, 'corral_app_shutdown_duration_seconds', { app: 'sync' }), report.ms / 1000);
  });

  test('an OpenMetrics registry names each counter with one _total', async () => {
    const registry = new client.Registry<client.OpenMetricsContentType>();
    registry.setContentType(client.openMetricsContentType);
    const reg = registerMetrics(registry);
    cleanups.push(() => reg.unregister());
    const text = await registry.metrics();
    assert.match(text, /^# TYPE corral_tasks_spawned counter$/m);
    assert.match(text, /^corral_tasks_spawned_total \d+$/m);
    assert.doesNotMatch(text, /_total_total/);
    await registry.metrics();
    reg.unregister();
    assert.equal(registry.getMetricsAsArray().length, 0, 'unregister finds counters renamed by the registry');
  });

  test('refuses a registry that already has one of its names, registering nothing', () => {
    const registry = new client.Registry();
    new client.Gauge({ name: 'corral_groups_live', help: 'mine', registers: [registry] });
    assert.throws(() => registerMetrics(registry), InvalidStateError);
    assert.equal(registry.getMetricsAsArray().length, 1);
    assert.throws(() => registerMetrics({} as never), { name: 'TypeError', message: /prom-client Registry/ });
    assert.throws(() => registerMetrics(new client.Registry(), { topSites: -1 }), RangeError);
  });

  test('unregister removes every corral metric and leaves the rest', async () => {
    const registry = new client.Registry();
    new client.Gauge({ name: 'app_thing', help: 'mine', registers: [registry] });
    const reg = registerMetrics(registry);
    assert.ok(reg.names.length > 10, 'many families');
    reg.unregister();
    reg.unregister();
    assert.deepEqual(
      registry.getMetricsAsArray().map((m) => m.name),
      ['app_thing'],
    );
    assert.ok(!(await registry.metrics()).includes('corral_'), 'nothing of corral left');
  });
});
