// What production sees of tasks found unreachable (they can never finish): the Watchdog's rule
// 'leaked' and the corral_tasks_leaked_total counter. Its own file: the tasks it leaks on purpose
// stay leaked for the life of the process, and every other watchdog in it would report them too (a
// new watchdog reports the leaks found before it existed, once).
import { test as nodeTest, describe } from 'node:test';
import assert from 'node:assert/strict';
import { configure } from '../src/config.js';
import { background } from '../src/context.js';
import { Group } from '../src/group.js';
import { metricsText } from '../src/inspect/metrics-text.js';
import { Watchdog } from '../src/inspect/watchdog.js';
import { checkLeaks, LeakError } from '../src/testing/index.js';
import { collectUnreachable, leakedCount } from '../src/unreachable.js';
import { TASK_RULES_ONLY, watch } from './helpers/watchdog.js';

configure({ spawnSites: 'always' });

const test = (name: string, fn: () => unknown): void => {
  nodeTest(name, { timeout: 20_000 }, fn as () => Promise<void>);
};

/** Only rule 'leaked', so the test does not depend on the machine's load. */
const LEAKED_ONLY = { ...TASK_RULES_ONLY, liveTasks: false, growth: false, stuck: false, leaked: { min: 1 } } as const;

/** Leaves tasks behind on purpose; the inner check takes them, so the file's guard does not. */
async function leakOnPurpose(fn: () => unknown): Promise<void> {
  const err = await checkLeaks(fn, { settle: 0 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof LeakError, `the work leaks on purpose (got ${String(err)})`);
}

describe('tasks that can never finish', () => {
  let release: (() => void) | undefined;

  test("tasks found unreachable alert once ('leaked'), naming their spawn site and dumping only them, and clear after clearAfter quiet samples", async () => {
    configure({ detectUnreachable: true });
    const { w, fired, cleared } = watch({ rules: LEAKED_ONLY, clearAfter: 2 });
    const g = new Group(background(), { name: 'intake' });
    // Earlier leaks are found now, not in round 1; and from here on the test runs in an async
    // continuation, so both rounds spawn with the same stack (the same site).
    await collectUnreachable();
    const first = w.sample();
    const base = first.readings.leaked as number;
    assert.equal(typeof base, 'number', 'read while detection is on');
    function validateLater(): void {
      // The answer channel was never handed to anyone: nothing can ever resolve these.
      for (let i = 0; i < 3; i++) g.go((): Promise<void> => new Promise(() => {}), { name: 'validate-terms' });
    }
    try {
      // Twice from the same line: the second round's tasks count at the same spawn site.
      for (const round of [1, 2]) {
        await leakOnPurpose(() => {
          validateLater();
          // Waiting too, but on a resolver kept in a variable: someone could still finish it.
          if (round === 1) g.go(() => new Promise<void>((resolve) => (release = resolve)), { name: 'awaits-release' });
        });
        await collectUnreachable();
        const s = w.sample();
        assert.equal(s.readings.leaked, base + 3 * round);
        const a = s.fired.find((x) => x.rule === 'leaked');
        assert.ok(a !== undefined, `round ${round} fired: ${JSON.stringify(s.fired.map((x) => x.rule))}`);
        assert.equal(a.value, 3, 'what is new since the last sample');
        assert.equal(a.sites?.[0]?.count, 3 * round, `the site count is since the process started: ${JSON.stringify(a.sites)}`);
        if (round === 2) break;
        assert.equal(a.severity, 'warning');
        assert.equal(a.sites?.[0]?.name, 'validate-terms');
        assert.ok(a.sites?.[0]?.site?.includes('validateLater'), `site: ${a.sites?.[0]?.site}`);
        assert.match(a.message, /^3 tasks found unreachable since the last sample .*most "validate-terms" \(\+3, 3 in all, last running\) at validateLater/);
        assert.match(a.dump, /3 tasks "validate-terms" \[leaked \(unreachable\)/);
        assert.ok(!a.dump.includes('awaits-release'), `only the leaked tasks are dumped:\n${a.dump}`);
        assert.equal(w.sample().fired.length, 0, 'no second alert for the same tasks');
        assert.equal(cleared.length, 0, 'one quiet sample is not enough');
        const c = w.sample();
        assert.deepEqual(c.cleared.map((x) => x.rule), ['leaked'], 'cleared after 2 samples with no new ones');
        assert.equal(c.readings.leaked, base + 3, 'the count never goes down');
        assert.equal(fired.filter((x) => x.rule === 'leaked').length, 1);
      }
    } finally {
      // Not g.wait(): a group waiting on leaked tasks is stuck for good, as in Go.
      release?.();
      g.cancel();
    }
  });

  test("with detection off the rule reads nothing and stays quiet, even with leaked tasks in the process; rules.leaked.min is checked", async () => {
    configure({ detectUnreachable: false });
    try {
      assert.ok(leakedCount() > 0, 'the process has leaked tasks (the test before)');
      const { w, fired } = watch({ rules: LEAKED_ONLY });
      const s = w.sample();
      assert.equal(s.readings.leaked, undefined);
      assert.equal(fired.length, 0);
    } finally {
      configure({ detectUnreachable: true });
    }
    assert.throws(() => new Watchdog({ rules: { leaked: { min: 0 } } }), { name: 'RangeError', message: /rules\.leaked\.min/ });
    assert.throws(() => new Watchdog({ rules: { leaked: { max: 1 } as never } }), { name: 'TypeError', message: /rules\.leaked\.max/ });
    assert.equal(new Watchdog({ rules: { ...LEAKED_ONLY, leaked: false } }).sample().readings.leaked, undefined, 'off');
  });
});

describe('metrics', () => {
  test('corral_tasks_leaked_total counts the leaked tasks by spawn site (file:line), and only those', async () => {
    configure({ detectUnreachable: true });
    const g = new Group(background(), { name: 'sync' });
    let release: (() => void) | undefined;
    await collectUnreachable();
    const counter = (text: string): Map<string, number> => {
      const m = new Map<string, number>();
      for (const line of text.split('\n')) {
        const x = /^corral_tasks_leaked_total\{site="([^"]+)"\} (\d+)$/.exec(line);
        if (x !== null) m.set(x[1] as string, Number(x[2]));
      }
      return m;
    };
    const before = counter(metricsText());
    function syncFromHis(): void {
      for (let i = 0; i < 4; i++) g.go((): Promise<void> => new Promise(() => {}), { name: 'his-ack' });
    }
    try {
      await leakOnPurpose(() => {
        syncFromHis();
        g.go(() => new Promise<void>((resolve) => (release = resolve)), { name: 'reachable' });
      });
      await collectUnreachable();
      const text = metricsText();
      assert.match(text, /# TYPE corral_tasks_leaked_total counter/);
      const after = counter(text);
      const grew = [...after].filter(([site, n]) => n !== (before.get(site) ?? 0));
      assert.equal(grew.length, 1, `one site grew: ${JSON.stringify(grew)}`);
      const [site, n] = grew[0] as [string, number];
      assert.match(site, /^test\/watchdog-leaked\.test\.ts:\d+$/);
      assert.equal(n - (before.get(site) ?? 0), 4);
    } finally {
      release?.();
      g.cancel();
    }
  });
});
