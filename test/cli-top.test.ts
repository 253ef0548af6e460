// corral top's pieces, in process: the terminal path (redraw, fit to the window), growth between
// frames, site rows computed from tasks when the dump has none, and URL handling.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { endpointBase } from '../src/cli/endpoint.js';
import { UsageError } from '../src/cli/errors.js';
import { buildView, firstFrame, renderTop, sitesOf, top, type DumpJson } from '../src/cli/top.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

function dump(takenAt: number, perSite: number[]): DumpJson {
  const tasks: DumpJson['tasks'] = [];
  let id = 1;
  perSite.forEach((n, s) => {
    for (let i = 0; i < n; i++) {
      tasks.push({ id: id++, name: `worker-${s}`, state: 'waiting: sleep', since: takenAt - 1_000 * (s + 1), startedAt: takenAt - 1_000 * (s + 1), spawnSite: `at loop${s} (file:///srv/app/jobs/w${s}.js:${s + 1}:1)` });
    }
  });
  return { schema: 'corral.dump/v1', takenAt, pid: 7, counts: { tasks: tasks.length, groups: 1 }, tasks };
}

describe('corral top on a terminal', () => {
  test('redraws with clear-and-home and fits every line to the window', async () => {
    const server = http.createServer((req, res) => {
      if (req.url?.startsWith('/debug/corral/tasks')) res.end(JSON.stringify(dump(T0, [5, 4, 3, 2, 1, 1, 1, 1, 1, 1])));
      else res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      let written = '';
      const out = { isTTY: true, columns: 50, rows: 20, write: (s: string) => (written += s) };
      const code = await top([`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '--once'], out);
      assert.equal(code, 0);
      assert.ok(written.startsWith('\x1b[H\x1b[2J'), 'the frame starts by moving home and clearing the screen');
      const lines = written.slice('\x1b[H\x1b[2J'.length).split('\n');
      for (const l of lines) assert.ok(l.length <= 50, `line fits 50 columns: ${JSON.stringify(l)}`);
      assert.ok(lines.length <= 20, `frame fits 20 rows (${lines.length})`);
      assert.ok(lines.some((l) => /^\s+\.\.\. \d+ more sites$/.test(l)), `sites that do not fit are counted:\n${lines.join('\n')}`);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('top views', () => {
  test('growth per site is the change in count over the time between the two dumps', () => {
    const first = buildView('u', 1000, dump(T0, [2, 3]), [], undefined);
    assert.deepEqual(first.sites.map((s) => s.growth), [undefined, undefined], 'no growth on the first frame');
    assert.equal(first.taskGrowth, undefined);
    const second = buildView('u', 1000, dump(T0 + 4_000, [10, 1, 2]), [], first);
    assert.deepEqual(
      second.sites.map((s) => [s.name, s.count, s.growth]),
      [
        ['worker-0', 10, 2],
        ['worker-2', 2, 0.5],
        ['worker-1', 1, -0.5],
      ],
      'largest first; a new site grows from 0',
    );
    assert.equal(second.taskGrowth, (13 - 5) / 4);
    assert.ok(/\+2\/s/.test(renderTop(second, { width: Infinity, height: Infinity })), 'rendered as +2/s');
  });

  test('site rows are grouped from the tasks when the dump has no sites', () => {
    const rows = sitesOf(dump(T0, [3, 1]));
    assert.deepEqual(
      rows.map((r) => [r.name, r.count, r.oldestMs]),
      [
        ['worker-0', 3, 1_000],
        ['worker-1', 1, 2_000],
      ],
    );
  });

  test('a failed refresh keeps the last data and says so', () => {
    const v = buildView('u', 1000, dump(T0, [1]), undefined, undefined);
    const text = renderTop({ ...v, error: 'could not reach u (ECONNREFUSED)' }, { width: Infinity, height: Infinity });
    assert.ok(text.includes('! could not reach u (ECONNREFUSED) (showing the last answer; retrying)'), text);
    assert.ok(text.includes('(no watchdog on this service)'), text);
  });

  test('control characters from the service cannot reach the terminal or split a row', () => {
    const d = dump(T0, [2]);
    for (const t of d.tasks) t.name = 'evil\x1b[2J\nfake row\u2028';
    const alerts = [{ rule: 'stuck', severity: 'warning', message: 'line one\r\nline two\x07', at: T0 }];
    const text = renderTop(buildView('u', 1000, d, alerts, undefined), { width: Infinity, height: Infinity });
    const raw = [...text].filter((ch) => {
      const c = ch.charCodeAt(0);
      return (c < 0x20 && c !== 0x0a) || c === 0x7f || c === 0x2028;
    });
    assert.deepEqual(raw, [], `no raw control character:\n${JSON.stringify(text)}`);
    assert.ok(!/^fake row/m.test(text), 'no row of its own');
    assert.ok(text.includes('evil\\u001b[2J\\u000afake row\\u2028'), `the name, escaped:\n${text}`);
    assert.ok(text.includes('stuck: line one\\u000d\\u000aline two\\u0007'), `the alert, escaped:\n${text}`);
  });

  test('firstFrame keeps the function and the last two path segments', () => {
    assert.equal(firstFrame('at syncLoop (file:///srv/epro/src/sync.js:12:5)\nat main (x.js:1:1)'), 'syncLoop (src/sync.js:12:5)');
    assert.equal(firstFrame('at file:///srv/epro/main.mjs:3:1'), 'epro/main.mjs:3:1');
    assert.equal(firstFrame('at /srv/epro/lib/a.js:3:1'), 'lib/a.js:3:1');
    assert.equal(firstFrame(undefined), '(site not captured)');
  });
});

describe('endpoint URLs', () => {
  test('every accepted form leads to the endpoint base', () => {
    const cases: [string, string][] = [
      ['http://127.0.0.1:9229', 'http://127.0.0.1:9229/debug/corral/'],
      ['http://127.0.0.1:9229/', 'http://127.0.0.1:9229/debug/corral/'],
      ['http://127.0.0.1:9229/debug/corral', 'http://127.0.0.1:9229/debug/corral/'],
      ['http://127.0.0.1:9229/debug/corral/tasks?format=json', 'http://127.0.0.1:9229/debug/corral/'],
      ['https://epro.internal:8443/admin', 'https://epro.internal:8443/admin/debug/corral/'],
      ['localhost:9229', 'http://localhost:9229/debug/corral/'],
      ['9229', 'http://127.0.0.1:9229/debug/corral/'],
    ];
    for (const [input, want] of cases) assert.equal(endpointBase(input, 'dump').href, want, input);
    assert.throws(() => endpointBase('http://[bad', 'dump'), UsageError);
    assert.throws(() => endpointBase('ws://127.0.0.1:1', 'dump'), /only http and https/);
  });
});
