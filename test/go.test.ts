import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { background, CanceledError, currentTask, go, rootGroup, type Context } from '../src/index.js';
import { Group } from '../src/group.js';
import { ambientEnabled } from '../src/als.js';

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

function runScript(code: string): string {
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, NODE_OPTIONS: '' },
  }).toString();
}

describe('ambient owner', () => {
  test('the explicit group.go path never turns ambient tracking on', () => {
    const out = runScript(`
      import { Group } from './src/group.ts';
      import { background } from './src/context.ts';
      import { ambientEnabled } from './src/als.ts';
      const g = new Group(background());
      g.go(async () => 1);
      await g.wait();
      process.stdout.write(String(ambientEnabled()));
    `);
    assert.equal(out, 'false');
  });

  test('go() outside any task spawns into the root group', async () => {
    const t = go(async () => 'hello');
    assert.ok(ambientEnabled(), "ambientEnabled()");
    assert.equal(t.parent, rootGroup());
    assert.equal(await t, 'hello');
  });

  test('go() deep in a call chain without a ctx spawns into the current task\'s group and is cancelled with it', async () => {
    // The seeds' "nested goroutine without context": a helper starts background work and forgets
    // to pass anything down. The work still has an owner.
    let orphanCtx: Context | undefined;
    let orphanStopped = false;
    function auditHelper(): void {
      go(async (ctx) => {
        orphanCtx = ctx;
        await ctx.done;
        orphanStopped = true;
      }, { name: 'audit-write' });
    }
    const g = new Group(background(), { name: 'request' });
    g.go(async () => {
      await ticks(1);
      auditHelper();
    });
    await ticks();
    assert.ok(orphanCtx, 'the nested task ran');
    assert.equal(g.running, 1, 'the nested task is owned by the request group');
    g.cancel(new Error('client went away'));
    await g.wait(); // the orphan obeyed and returned: no task failed
    assert.ok(orphanStopped, "orphanStopped");
    assert.ok(orphanCtx.err instanceof CanceledError, "orphanCtx.err instanceof CanceledError");
  });

  test('currentTask() names the running task inside its continuations', async () => {
    go(async () => 1); // ensure tracking is on
    const g = new Group(background());
    const seen: unknown[] = [];
    const t = g.go(async () => {
      seen.push(currentTask());
      await ticks(1);
      seen.push(currentTask());
    });
    await g.wait();
    assert.deepEqual(seen, [t, t]);
    assert.equal(currentTask(), undefined);
  });

  test('new Group() inside a task derives from that task and records it as parent', async () => {
    go(async () => 1);
    const outer = new Group(background());
    let inner: Group | undefined;
    const t = outer.go(async (ctx) => {
      inner = new Group();
      assert.equal(inner.parent, currentTask());
      inner.go(async (c) => c.done);
      void ctx;
      await ticks(1);
    });
    await outer.wait();
    assert.equal(inner?.parent, t);
    assert.ok(inner?.ctx.err, 'the inner group ends when its parent task does');
    await inner?.wait();
  });

  test('a root-group task that fails unobserved is reported as a warning, an awaited one is not', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      go(async () => {
        throw new Error('nobody listens');
      }, { name: 'fire-and-forget' });
      const awaited = go(async () => {
        throw new Error('someone listens');
      });
      await assert.rejects(Promise.resolve(awaited));
      await ticks(5);
      const ours = warnings.filter((w) => (w as { code?: string }).code === 'CORRAL_UNOBSERVED_FAILURE');
      assert.equal(ours.length, 1);
      assert.match(ours[0]?.message ?? '', /fire-and-forget.*nobody listens/s);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
