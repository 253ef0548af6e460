// The demo's store in this process: what the service's guarantees rest on. A submission is
// acknowledged only once committed, an Idempotency-Key finds its row after a reopen, a submission
// leaves `pending` once, and a bad write in a group commit fails alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Submission } from '../demo/src/forms.js';
import { Store, StoreError } from '../demo/src/store.js';
import { readDb, tempDir } from '../demo/testing/harness.js';

// Every assert.ok carries a message: without one, Node 20 re-reads the source to quote the
// expression, and under tsx's source maps that read can spin forever instead of failing.

const SUB: Submission = { patientId: 'P-0001', formId: 'nrs-pain', answers: { q1: 4 }, symptoms: ['headache'] };
const RESULT = { score: 4, severity: 'moderate', codes: ['25064002'], flags: [] };

/** Runs `fn` with a store on a fresh file, closed (and the file removed) afterwards. */
async function withStore(fn: (store: Store, path: string) => Promise<void>): Promise<void> {
  const dir = tempDir('store');
  const path = join(dir.path, 'epro.sqlite');
  const store = Store.open(path);
  try {
    await fn(store, path);
  } finally {
    store.close();
    dir.dispose();
  }
}

/** Whether another connection (as another process would) sees the row with `key`. */
function committed(path: string, key: string): boolean {
  return readDb(path).submissions.some((r) => r.key === key);
}

describe('the ePRO demo store', () => {
  test('submit resolves only once its row is committed: another connection sees it at that moment, not before', async () => {
    await withStore(async (store, path) => {
      const p = store.submit(SUB, 'k-1', 'f-1', Date.now());
      assert.equal(committed(path, 'k-1'), false, 'nothing committed while the write waits for its group commit');
      // Checked inside the continuation itself: nothing else runs between the resolution and this.
      const seen = await p.then((o) => ({ o, visible: committed(path, 'k-1') }));
      assert.equal(seen.o.kind, 'created');
      assert.equal(seen.visible, true, 'the row is committed when submit resolves');
    });
  });

  test('a bad write fails alone: the other writes of its group commit are committed', async () => {
    await withStore(async (store, path) => {
      const bad = { ...SUB, patientId: null } as unknown as Submission; // NOT NULL: this insert throws
      const outcomes = await Promise.allSettled([
        store.submit(SUB, 'b-1', 'f', 1),
        store.submit(bad, 'b-2', 'f', 1),
        store.submit(SUB, 'b-3', 'f', 1),
      ]);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      assert.deepEqual(
        readDb(path).submissions.map((r) => r.key),
        ['b-1', 'b-3'],
      );
    });
  });

  test('an Idempotency-Key finds its row after the store is closed and reopened; other content with it is a conflict', async () => {
    const dir = tempDir('store-reopen');
    const path = join(dir.path, 'epro.sqlite');
    try {
      const first = Store.open(path);
      const created = await first.submit(SUB, 'retry-me', 'fp', 1);
      first.close();
      assert.equal(created.kind, 'created');
      const second = Store.open(path);
      try {
        assert.deepEqual(await second.submit(SUB, 'retry-me', 'fp', 2), { kind: 'replayed', id: (created as { id: number }).id });
        assert.deepEqual(await second.submit(SUB, 'retry-me', 'other', 3), { kind: 'conflict' });
        assert.equal(second.counts().pending, 1, 'one submission, whatever the retries');
      } finally {
        second.close();
      }
    } finally {
      dir.dispose();
    }
  });

  test('a submission leaves pending once: a second result or a late failure changes nothing', async () => {
    await withStore(async (store, path) => {
      const o = await store.submit(SUB, undefined, 'f', 1);
      const id = (o as { id: number }).id;
      const [a, b] = await Promise.all([store.complete(id, RESULT, 2), store.complete(id, { ...RESULT, score: 9 }, 3)]);
      assert.deepEqual([a, b], [true, false], 'the first result wins; the second is refused');
      assert.equal(await store.attemptFailed(id, 'terminology timeout', 4, 5, 10), 'gone');
      assert.deepEqual([store.status(id)?.status, store.status(id)?.score, store.status(id)?.attempts], ['processed', 4, 0]);
      assert.deepEqual(
        readDb(path).events.filter((e) => e.id === id).map((e) => e.kind),
        ['received', 'processed'],
      );
    });
  });

  test('failed attempts keep a submission pending, due after the backoff, until maxAttempts makes it failed for good', async () => {
    await withStore(async (store, path) => {
      const id = ((await store.submit(SUB, undefined, 'f', 1)) as { id: number }).id;
      assert.equal(await store.attemptFailed(id, 'terminology 503', 100, 3, 50), 'retry');
      assert.deepEqual(store.due(149, 10, new Set()), [], 'not due before its backoff');
      assert.deepEqual(store.due(150, 10, new Set()), [id], 'due once the backoff passed');
      assert.deepEqual(store.due(150, 10, new Set([id])), [], 'one in the pool is skipped');
      assert.equal(await store.attemptFailed(id, 'terminology 503', 200, 3, 50), 'retry');
      assert.equal(await store.attemptFailed(id, 'terminology timeout', 300, 3, 50), 'failed');
      assert.equal(await store.complete(id, RESULT, 400), false, 'a failed submission is never processed after all');
      assert.deepEqual([store.status(id)?.status, store.status(id)?.attempts], ['failed', 3]);
      assert.equal(store.nextDue(new Set()), undefined, 'nothing pending');
      assert.deepEqual(
        readDb(path).events.map((e) => e.kind),
        ['received', 'retry', 'retry', 'failed'],
      );
    });
  });

  test('open() names the path and the reason when the database cannot be used', () => {
    const dir = tempDir('store-bad');
    try {
      const file = join(dir.path, 'plain-file');
      writeFileSync(file, 'x'.repeat(200));
      assert.throws(() => Store.open(join(file, 'sub', 'e.sqlite')), (e: unknown) => e instanceof StoreError && e.code === 'ERR_EPRO_STORE' && e.message.includes(`cannot create the database directory ${join(file, 'sub')}`));
      assert.throws(() => Store.open(file), (e: unknown) => e instanceof StoreError && e.message.includes(file) && /not a SQLite database/.test(e.message));
      // A database another process holds for writing: not silently waited on forever (5 s busy timeout).
      const path = join(dir.path, 'held.sqlite');
      Store.open(path).close();
      const holder = new Database(path);
      holder.exec('BEGIN EXCLUSIVE');
      try {
        // WAL: a reader is never blocked, but the open's proof-of-write is.
        const t0 = performance.now();
        assert.throws(() => Store.open(path), (e: unknown) => e instanceof StoreError && /locked by another process/.test(e.message));
        assert.ok(performance.now() - t0 >= 4_000, 'it waited its busy timeout first');
      } finally {
        holder.exec('ROLLBACK');
        holder.close();
      }
    } finally {
      dir.dispose();
    }
  });
});
