// The corral command line: help, version and usage errors, and `dump` and `top` against a debug
// endpoint: corral/inspect's real one (startDebugServer over this process's tasks), and a small
// node:http server answering the documented paths with the documented shapes ("corral.dump/v1"
// JSON, the watchdog's { alerts, status }) where a test needs exact control of what the CLI
// receives (growth between two dumps, alert times).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Channel, Group, background, configure } from '../src/index.js';
import { Watchdog, startDebugServer, type DebugServer } from '../src/inspect/index.js';
import { cli } from './fixtures/cli-harness.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function assertIncludes(text: string, part: string, what: string): void {
  assert.ok(text.includes(part), `${what}: expected ${JSON.stringify(part)} in:\n${text}`);
}

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const SITE_SYNC = 'at syncLoop (file:///srv/epro/src/sync.js:12:5)\nat main (file:///srv/epro/src/main.js:3:1)';
const SITE_VALIDATE = 'at handleSubmission (file:///srv/epro/src/intake.js:33:9)';

function task(id: number, name: string, state: string, startedAt: number, spawnSite: string, waitingOn: string | null = null): Record<string, unknown> {
  return { id, name, labels: {}, state, waitingOn, since: startedAt, startedAt, ageMs: T0 - startedAt, parentId: 1, spawnSite };
}

/** A "corral.dump/v1" dump with `syncs` his-sync tasks and one validate task. */
function dumpJson(takenAt: number, syncs: number): Record<string, unknown> {
  const tasks = [task(2, 'validate', 'waiting: chan send', T0 - 312_000, SITE_VALIDATE, 'terminology-results')];
  for (let i = 0; i < syncs; i++) tasks.push(task(10 + i, 'his-sync', 'waiting: sleep', T0 - 5_000 + i, SITE_SYNC));
  return {
    schema: 'corral.dump/v1',
    takenAt,
    pid: 4242,
    counts: { tasks: tasks.length, groups: 1 },
    filtered: false,
    omitted: { tasks: 0, sites: 0 },
    tasks,
    groups: [{ id: 1, name: 'root', labels: {}, state: 'running', since: T0 - 400_000, startedAt: T0 - 400_000, ageMs: 400_000, parentId: null, tasks: tasks.length, spawnSite: null }],
    sites: [
      { name: 'his-sync', state: 'waiting: sleep', waitingOn: null, spawnSite: SITE_SYNC, count: syncs, oldestMs: takenAt - (T0 - 5_000), taskIds: tasks.slice(1).map((t) => t.id) },
      { name: 'validate', state: 'waiting: chan send', waitingOn: 'terminology-results', spawnSite: SITE_VALIDATE, count: 1, oldestMs: takenAt - (T0 - 312_000), taskIds: [2] },
    ],
  };
}

interface Service {
  base: string;
  requests: { url: string; auth: string | undefined }[];
  close(): Promise<void>;
}

/** A debug endpoint: `dumps` are served in turn for format=json (the last one repeats). */
async function service(opts: { token?: string; watchdog?: boolean; dumps?: Record<string, unknown>[]; prefix?: string } = {}): Promise<Service> {
  const requests: Service['requests'] = [];
  const dumps = opts.dumps ?? [dumpJson(T0, 2)];
  let served = 0;
  const prefix = `${opts.prefix ?? ''}/debug/corral/`;
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', auth: req.headers.authorization });
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
      res.writeHead(401).end('unauthorized');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === `${prefix}tasks`) {
      const format = url.searchParams.get('format');
      if (format === 'json') {
        const d = dumps[Math.min(served++, dumps.length - 1)];
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(d));
      } else res.writeHead(200, { 'content-type': 'text/plain' }).end(`corral: dump in format ${format}\n`);
      return;
    }
    if (url.pathname === `${prefix}watchdog` && opts.watchdog !== false) {
      const alerts = [
        { rule: 'stuck', severity: 'warn', message: '1 task waiting more than 5m', at: T0 - 60_000, sites: [], dump: 'corral: ...', clearedAt: T0 - 30_000 },
        { rule: 'growth', severity: 'critical', message: 'his-sync grew 40% in 10m', at: T0 - 1_000, dump: 'corral: ...' },
      ];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ alerts, status: null }));
      return;
    }
    res.writeHead(404).end('not found');
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A port nothing listens on: one the OS just handed out and took back. */
async function deadPort(): Promise<number> {
  const s = http.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('corral (help, version, usage errors)', () => {
  test('--help lists every command, and exits 0', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const part of ['corral dump URL', 'corral top URL', 'corral run', '--fail-on-leak', 'Exit codes']) assertIncludes(r.stdout, part, 'the usage');
  });

  test('help COMMAND and COMMAND --help print the command\'s help', async () => {
    const a = await cli(['help', 'run']);
    const b = await cli(['run', '--help']);
    assert.equal(a.code, 0);
    assert.equal(b.code, 0);
    assert.equal(a.stdout, b.stdout);
    for (const part of ['--fail-on-leak', '--report never', 'SIGUSR2', 'corral run -- node']) assertIncludes(a.stdout, part, 'run\'s help');
    assertIncludes((await cli(['dump', '-h'])).stdout, '--format F', 'dump\'s help');
    assertIncludes((await cli(['help', 'top'])).stdout, '--interval MS', 'top\'s help');
  });

  test('--version prints the version from package.json', async () => {
    const r = await cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${VERSION}\n`);
  });

  test('no command prints the usage and exits 2', async () => {
    const r = await cli([]);
    assert.equal(r.code, 2);
    assertIncludes(r.stdout, 'Usage:', 'the usage');
  });

  test('usage errors exit 2, name the problem and point at the help', async () => {
    const cases: [string[], string][] = [
      [['frob'], 'corral: unknown command "frob"; the commands are dump, top and run\nRun `corral help` for usage.\n'],
      [['dump', '--fromat', 'json', 'http://127.0.0.1:1'], 'corral dump: unknown option --fromat\nRun `corral help dump` for usage.\n'],
      [['dump', 'http://127.0.0.1:1', '--format', 'yaml'], 'corral dump: --format must be one of grouped, full, json (got "yaml")\nRun `corral help dump` for usage.\n'],
      [['dump'], 'corral dump: missing the service URL\nRun `corral help dump` for usage.\n'],
      [['dump', 'ftp://127.0.0.1:1'], 'corral dump: "ftp://127.0.0.1:1": only http and https URLs are supported\nRun `corral help dump` for usage.\n'],
      [['top', 'http://127.0.0.1:1', '--interval', '5'], 'corral top: --interval must be at least 100 ms (got 5)\nRun `corral help top` for usage.\n'],
      [['top', 'http://127.0.0.1:1', '-n', 'many'], 'corral top: -n must be a whole number (got "many")\nRun `corral help top` for usage.\n'],
      [['top', 'http://127.0.0.1:1', '--once', '-n', '2'], 'corral top: give --once or -n N, not both\nRun `corral help top` for usage.\n'],
      [['help', 'frob'], 'corral: no help on "frob"; the commands are dump, top and run\nRun `corral help` for usage.\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `corral ${args.join(' ')}`);
      assert.equal(r.stderr, stderr);
      assert.equal(r.stdout, '');
    }
  });
});

describe('dump and top against the real debug endpoint', () => {
  const TOKEN = 'cli-test-token-0123456789';
  const THIS_FILE = fileURLToPath(import.meta.url);
  let debug: DebugServer;
  let group: Group;
  before(async () => {
    configure({ spawnSites: 'always' });
    group = new Group(background(), { name: 'intake' });
    const results = new Channel<string>(0, { name: 'terminology-results' });
    function startValidators(): void {
      for (let i = 0; i < 3; i++) group.go((ctx) => results.recv(ctx), { name: 'validate' });
    }
    startValidators();
    const watchdog = new Watchdog({ rules: { liveTasks: { total: 2 } } });
    watchdog.sample();
    debug = await startDebugServer({ port: 0, token: TOKEN, watchdog });
  });
  after(async () => {
    group.cancel();
    await group.wait().catch(() => {});
    await debug.close();
  });

  test('dump prints the grouped dump of the live tasks, with their spawn sites', async () => {
    const r = await cli(['dump', debug.url, '--token', TOKEN]);
    assert.equal(r.code, 0, r.stderr);
    assertIncludes(r.stdout, '3 tasks "validate" [waiting: chan receive on "terminology-results", oldest', 'the site entry');
    assertIncludes(r.stdout, `at startValidators (${THIS_FILE}:`, 'the spawn site in this file');
  });

  test('dump --format json prints the corral.dump/v1 document', async () => {
    const r = await cli(['dump', `http://127.0.0.1:${debug.port}`, '--format', 'json'], { env: { ...process.env, CORRAL_TOKEN: TOKEN } });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.schema, 'corral.dump/v1');
    assert.equal(doc.pid, process.pid);
    assert.equal(doc.sites.find((x: { name: string }) => x.name === 'validate')?.count, 3);
  });

  test('without the token the endpoint refuses, and the CLI says how to pass one', async () => {
    const r = await cli(['dump', debug.url], { env: { ...process.env, CORRAL_TOKEN: '' } });
    assert.equal(r.code, 1);
    assertIncludes(r.stderr, 'answered 401 Unauthorized: the debug endpoint wants a token', 'the refusal');
  });

  test('top --once shows the site, the oldest tasks and the watchdog alert', async () => {
    const r = await cli(['top', `127.0.0.1:${debug.port}`, '--once', '--token', TOKEN]);
    assert.equal(r.code, 0, r.stderr);
    assertIncludes(r.stdout, `pid ${process.pid}`, 'the service\'s pid');
    assert.ok(/^\s+3\s+-\s+\S+\s+validate\s+waiting: chan receive on "\S*…\s+startValidators \(test\/cli-main\.test\.ts:\d+:\d+\)$/m.test(r.stdout), `the site row:\n${r.stdout}`);
    assert.equal(r.stdout.match(/#\d+ validate {2}waiting: chan receive on "terminology-results"/g)?.length, 3, `the oldest tasks:\n${r.stdout}`);
    assert.ok(/critical\s+liveTasks: /.test(r.stdout), `the watchdog's alert:\n${r.stdout}`);
  });
});

describe('corral dump', () => {
  let svc: Service;
  before(async () => (svc = await service()));
  after(() => svc.close());

  test('fetches the grouped dump by default and prints it', async () => {
    const r = await cli(['dump', svc.base]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'corral: dump in format grouped\n');
    assert.equal(svc.requests.at(-1)?.url, '/debug/corral/tasks?format=grouped');
  });

  test('--format full and --format json ask for those formats; json is printed as received', async () => {
    assert.equal((await cli(['dump', svc.base, '--format', 'full'])).stdout, 'corral: dump in format full\n');
    const r = await cli(['dump', svc.base, '--format=json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), dumpJson(T0, 2));
  });

  test('accepts the endpoint URL itself, one of its pages, host:port or a bare port', async () => {
    const port = new URL(svc.base).port;
    for (const url of [`${svc.base}/debug/corral/`, `${svc.base}/debug/corral/tasks`, `127.0.0.1:${port}`, port]) {
      const r = await cli(['dump', url]);
      assert.equal(r.code, 0, `${url}: ${r.stderr}`);
      assert.equal(svc.requests.at(-1)?.url, '/debug/corral/tasks?format=grouped', url);
    }
  });

  test('a base URL with a path prefix keeps it', async () => {
    const mounted = await service({ prefix: '/admin' });
    try {
      const r = await cli(['dump', `${mounted.base}/admin/`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(mounted.requests.at(-1)?.url, '/admin/debug/corral/tasks?format=grouped');
    } finally {
      await mounted.close();
    }
  });

  test('sends the token as a bearer token, from --token or CORRAL_TOKEN, and says what to do when it is missing', async () => {
    const guarded = await service({ token: 's3cret' });
    try {
      const none = await cli(['dump', guarded.base], { env: { ...process.env, CORRAL_TOKEN: '' } });
      assert.equal(none.code, 1);
      assertIncludes(none.stderr, 'answered 401 Unauthorized: the debug endpoint wants a token; pass it with --token or the CORRAL_TOKEN environment variable', 'the fix');
      const wrong = await cli(['dump', guarded.base, '--token', 'guess']);
      assert.equal(wrong.code, 1);
      assertIncludes(wrong.stderr, 'the token given was refused', 'a refused token');
      assert.equal((await cli(['dump', guarded.base, '--token', 's3cret'])).code, 0);
      assert.equal((await cli(['dump', guarded.base], { env: { ...process.env, CORRAL_TOKEN: 's3cret' } })).code, 0);
      assert.equal(guarded.requests.at(-1)?.auth, 'Bearer s3cret');
    } finally {
      await guarded.close();
    }
  });

  test('an unreachable URL exits 1 and says what to check', async () => {
    const port = await deadPort();
    const r = await cli(['dump', `http://127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `corral: could not reach http://127.0.0.1:${port}/debug/corral/tasks?format=grouped (ECONNREFUSED). Is the service running with startDebugServer() or debugHandler()?\n`,
    );
  });

  test('a service that does not answer within --timeout exits 1 and says so', async () => {
    const silent = http.createServer(() => {});
    silent.listen(0, '127.0.0.1');
    await new Promise((res) => silent.once('listening', res));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const r = await cli(['dump', url, '--timeout', '200']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `corral: no answer from ${url}/debug/corral/tasks?format=grouped within 200 ms. Is the service busy or stopped? Raise --timeout to wait longer\n`);
    } finally {
      silent.closeAllConnections();
      await new Promise((res) => silent.close(res));
    }
  });

  test('a server without the endpoint (404) or answering something else exits 1 and says so', async () => {
    const r = await cli(['dump', `${svc.base}/elsewhere/`]);
    assert.equal(r.code, 1);
    assertIncludes(r.stderr, 'answered 404: no corral debug endpoint there', 'a 404');
    const other = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}'));
    other.listen(0, '127.0.0.1');
    await new Promise((res) => other.once('listening', res));
    try {
      const j = await cli(['dump', `http://127.0.0.1:${(other.address() as AddressInfo).port}`, '--format', 'json']);
      assert.equal(j.code, 1);
      assertIncludes(j.stderr, 'answered JSON that is not a corral dump', 'not a dump');
      // The text formats too: a catch-all route answering 200 is not printed as if it were a dump.
      const port = (other.address() as AddressInfo).port;
      for (const format of ['grouped', 'full']) {
        const t = await cli(['dump', `http://127.0.0.1:${port}`, '--format', format]);
        assert.equal(t.code, 1, format);
        assert.equal(t.stdout, '', format);
        assert.equal(
          t.stderr,
          `corral: http://127.0.0.1:${port}/debug/corral/tasks?format=${format} did not answer a corral dump (it starts "{\\"hello\\":\\"world\\"}"); check the URL, and that the service mounts debugHandler() there\n`,
        );
      }
    } finally {
      other.closeAllConnections();
      await new Promise((res) => other.close(res));
    }
  });
});

describe('corral top (not on a terminal)', () => {
  test('--once prints one plain-text snapshot: sites, oldest tasks, watchdog alerts; no escape codes', async () => {
    const svc = await service();
    try {
      const r = await cli(['top', svc.base, '--once']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes('\x1b'), `no ANSI escapes when stdout is not a terminal:\n${r.stdout}`);
      const lines = r.stdout.split('\n');
      assertIncludes(lines[0] as string, `corral top  ${svc.base}/debug/corral/  pid 4242`, 'the header');
      assertIncludes(r.stdout, '3 tasks in 1 group', 'the totals');
      assert.ok(
        lines.some((l) => /^\s+2\s+-\s+5s\s+his-sync\s+waiting: sleep\s+syncLoop \(src\/sync\.js:12:5\)$/.test(l)),
        `the his-sync site row (count, no growth yet, oldest, name, state, first frame):\n${r.stdout}`,
      );
      assert.ok(
        lines.some((l) => /^\s+1\s+-\s+5m12s\s+validate\s+waiting: chan send on "termin…\s+handleSubmission \(src\/intake\.js:33:9\)$/.test(l)),
        `the validate row:\n${r.stdout}`,
      );
      assertIncludes(r.stdout, 'OLDEST TASKS\n    5m12s  #2 validate  waiting: chan send on "terminology-results"  handleSubmission (src/intake.js:33:9)', 'the oldest task first');
      assertIncludes(r.stdout, 'critical  growth: his-sync grew 40% in 10m', 'the latest alert');
      assert.ok(/warn {6}stuck: 1 task waiting more than 5m \(cleared \d\d:\d\d:\d\d\)\n/.test(r.stdout), `the earlier alert, cleared:\n${r.stdout}`);
      assert.deepEqual(svc.requests.map((q) => q.url).sort(), ['/debug/corral/tasks?format=json&limit=200', '/debug/corral/watchdog']);
    } finally {
      await svc.close();
    }
  });

  test('-n 2 prints two snapshots; the second shows growth per second between them', async () => {
    // The dumps are 2 s apart by their own clocks (takenAt), whatever the interval took.
    const svc = await service({ dumps: [dumpJson(T0, 2), dumpJson(T0 + 2_000, 6)] });
    try {
      const r = await cli(['top', svc.base, '-n', '2', '--interval', '100']);
      assert.equal(r.code, 0, r.stderr);
      const frames = r.stdout.split(/\n(?=corral top )/);
      assert.equal(frames.length, 2, r.stdout);
      assertIncludes(frames[0] as string, '3 tasks in 1 group', 'the first frame has no growth');
      assertIncludes(frames[1] as string, '7 tasks (+2/s) in 1 group', 'total growth: 4 tasks in 2 s');
      assert.ok(/^\s+6\s+\+2\/s\s+7s\s+his-sync/m.test(frames[1] as string), `site growth: (6 - 2) / 2 s:\n${frames[1]}`);
      assert.ok(/^\s+1\s+0\/s\s+5m14s\s+validate/m.test(frames[1] as string), `an unchanged site:\n${frames[1]}`);
    } finally {
      await svc.close();
    }
  });

  test('a service without a watchdog endpoint still shows its tasks', async () => {
    const svc = await service({ watchdog: false });
    try {
      const r = await cli(['top', svc.base, '--once']);
      assert.equal(r.code, 0, r.stderr);
      assertIncludes(r.stdout, 'WATCHDOG\n  (no watchdog on this service)', 'the watchdog section');
    } finally {
      await svc.close();
    }
  });

  test('an unreachable URL exits 1 with the same advice as dump', async () => {
    const port = await deadPort();
    const r = await cli(['top', `http://127.0.0.1:${port}`, '--once']);
    assert.equal(r.code, 1);
    assertIncludes(r.stderr, `could not reach http://127.0.0.1:${port}/debug/corral/`, 'the URL');
    assertIncludes(r.stderr, 'Is the service running with startDebugServer() or debugHandler()?', 'the advice');
  });
});
