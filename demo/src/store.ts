/**
 * The durable store: an embedded SQLite database (better-sqlite3) holding submissions, their
 * state transitions, and what the HIS sync brought in.
 *
 * Invariants the rest of the service relies on:
 * - A submission is answered `202` only after its row is committed (`submit` resolves after the
 *   transaction), and commits are synchronous to disk (`synchronous = FULL`): a SIGKILL or a power
 *   cut right after the answer loses nothing.
 * - Writes are group-committed: those requested during one turn of the event loop run in one
 *   transaction at the next `setImmediate`, and each caller's promise resolves once that
 *   transaction is on disk. Under load one fsync then serves many submissions (an fsync costs
 *   0.3 ms on an idle disk here and several ms on a busy one, and better-sqlite3 blocks the event
 *   loop meanwhile); when idle, a write waits less than a millisecond for its turn. A write that
 *   throws aborts its batch, which is then retried one write per transaction, so one bad write
 *   fails alone.
 * - An `Idempotency-Key` is unique: a retry finds the row its first attempt committed, whatever
 *   happened to the process in between, and never creates a second one.
 * - A submission leaves `pending` once, in the same transaction that records the event
 *   (`processed` or `failed`) and the result; a second attempt to do so changes nothing.
 *   Anything not yet processed is `pending` in the table, so the next start resumes it.
 * better-sqlite3 is synchronous, so each of these transactions runs without interleaving with the
 * event loop's other work: no two handlers can race on one key.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { ScoreResult, Submission } from './forms.js';

/** The store could not be opened or written: the message says where and why. */
export class StoreError extends Error {
  readonly code = 'ERR_EPRO_STORE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export type SubmissionState = 'pending' | 'processed' | 'failed';

/** What `submit` did: a new row, the row an earlier request with the same key made, or a key clash. */
export type SubmitOutcome =
  | { kind: 'created'; id: number }
  | { kind: 'replayed'; id: number }
  | { kind: 'conflict' };

/** A submission's public status (no patient data). */
export interface SubmissionStatus {
  id: number;
  formId: string;
  status: SubmissionState;
  score: number | null;
  severity: string | null;
  flags: string[];
  attempts: number;
  receivedAt: string;
  processedAt: string | null;
}

/** A pending submission, loaded for processing. */
export interface PendingSubmission extends Submission {
  id: number;
  status: SubmissionState;
  attempts: number;
}

/** A patient record from the hospital system. */
export interface HisPatient {
  patientId: string;
  ward: string;
  updatedAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS submissions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  idempotency_key TEXT UNIQUE,
  fingerprint TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  form_id TEXT NOT NULL,
  answers TEXT NOT NULL,
  symptoms TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  score INTEGER,
  severity TEXT,
  codes TEXT,
  flags TEXT,
  received_at INTEGER NOT NULL,
  processed_at INTEGER
);
CREATE INDEX IF NOT EXISTS submissions_due ON submissions (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS submissions_by_form ON submissions (form_id, status);
CREATE TABLE IF NOT EXISTS submission_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  submission_id INTEGER NOT NULL REFERENCES submissions (id),
  kind TEXT NOT NULL CHECK (kind IN ('received', 'retry', 'processed', 'failed')),
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_submission ON submission_events (submission_id);
CREATE TABLE IF NOT EXISTS his_patients (
  patient_id TEXT PRIMARY KEY,
  ward TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS his_syncs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  records INTEGER NOT NULL,
  outcome TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** The default database file, relative to the working directory. */
export const DEFAULT_DB_PATH = './data/epro.sqlite';

/** The durable store. Every method is synchronous and transactional where it writes. */
export class Store {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly q: ReturnType<typeof prepare>;
  /** Writes waiting for the next group commit, in order. */
  private batch: Write[] = [];
  private flushing: NodeJS.Immediate | undefined;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
    this.q = prepare(db);
  }

  /**
   * Opens (creating if needed) the database at `path`, its directory included, and proves it
   * writable with a write.
   * @throws StoreError naming the path and the reason (a directory that cannot be created, a file
   *   that is not writable, a file that is not a database, a database another process holds).
   */
  static open(path: string): Store {
    const full = resolve(path);
    try {
      mkdirSync(dirname(full), { recursive: true });
    } catch (e) {
      throw new StoreError(`cannot create the database directory ${dirname(full)}: ${reason(e)}`, { cause: e });
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(full, { timeout: 5_000 });
      db.pragma('journal_mode = WAL');
      // FULL: a commit is on disk before the 202 goes out. NORMAL would survive a SIGKILL but not
      // a power cut; the measured cost of FULL here is ~0.3 ms a commit.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.exec(SCHEMA);
      // The proof it is writable: CREATE TABLE IF NOT EXISTS writes nothing on an existing file.
      db.prepare(`INSERT INTO meta (key, value) VALUES ('opened_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(
        new Date().toISOString(),
      );
      return new Store(full, db);
    } catch (e) {
      db?.close();
      throw new StoreError(`cannot use the database ${full}: ${reason(e)}`, { cause: e });
    }
  }

  /**
   * Stores a validated submission, or finds the one an earlier request with the same
   * idempotency key stored. `fingerprint` identifies the content: the same key with another
   * content is a conflict, never an overwrite.
   */
  submit(sub: Submission, key: string | undefined, fingerprint: string, now: number): Promise<SubmitOutcome> {
    return this.write((): SubmitOutcome => {
      if (key !== undefined) {
        const row = this.q.byKey.get(key) as { id: number; fingerprint: string } | undefined;
        if (row !== undefined) return row.fingerprint === fingerprint ? { kind: 'replayed', id: row.id } : { kind: 'conflict' };
      }
      const info = this.q.insert.run(
        key ?? null,
        fingerprint,
        sub.patientId,
        sub.formId,
        JSON.stringify(sub.answers),
        JSON.stringify(sub.symptoms),
        now,
        now,
      );
      const id = Number(info.lastInsertRowid);
      this.q.event.run(id, 'received', now);
      return { kind: 'created', id };
    });
  }

  /** A submission's status, or undefined. */
  status(id: number): SubmissionStatus | undefined {
    const r = this.q.status.get(id) as Record<string, any> | undefined;
    if (r === undefined) return undefined;
    return {
      id: r.id,
      formId: r.form_id,
      status: r.status,
      score: r.score,
      severity: r.severity,
      flags: r.flags === null ? [] : (JSON.parse(r.flags) as string[]),
      attempts: r.attempts,
      receivedAt: new Date(r.received_at).toISOString(),
      processedAt: r.processed_at === null ? null : new Date(r.processed_at).toISOString(),
    };
  }

  /** Up to `limit` pending submissions due by `now`, oldest first, skipping those in `skip`. */
  due(now: number, limit: number, skip: ReadonlySet<number>): number[] {
    const out: number[] = [];
    // Over-fetch by the skipped count: those are in flight and come back first in this order.
    for (const r of this.q.due.iterate(now, limit + skip.size) as Iterable<{ id: number }>) {
      if (skip.has(r.id)) continue;
      out.push(r.id);
      if (out.length === limit) break;
    }
    return out;
  }

  /** When the earliest pending submission not in `skip` is due (epoch ms), or undefined if none is pending. */
  nextDue(skip: ReadonlySet<number>): number | undefined {
    for (const r of this.q.nextDue.iterate(skip.size + 1) as Iterable<{ id: number; next_attempt_at: number }>) {
      if (!skip.has(r.id)) return r.next_attempt_at;
    }
    return undefined;
  }

  /** A submission's content and state, for processing. */
  load(id: number): PendingSubmission | undefined {
    const r = this.q.load.get(id) as Record<string, any> | undefined;
    if (r === undefined) return undefined;
    return {
      id: r.id,
      patientId: r.patient_id,
      formId: r.form_id,
      answers: JSON.parse(r.answers) as Record<string, number>,
      symptoms: JSON.parse(r.symptoms) as string[],
      status: r.status,
      attempts: r.attempts,
    };
  }

  /**
   * pending → processed, with its result and a `processed` event, in one transaction. Returns false
   * (and changes nothing) when the submission was not pending.
   */
  complete(id: number, result: ScoreResult, now: number): Promise<boolean> {
    return this.write((): boolean => {
      const info = this.q.complete.run(result.score, result.severity, JSON.stringify(result.codes), JSON.stringify(result.flags), now, id);
      if (info.changes === 0) return false;
      this.q.event.run(id, 'processed', now);
      return true;
    });
  }

  /**
   * Records a failed attempt (`error` is a short reason, never data): the submission stays
   * pending, due again after `backoffMs`, until `maxAttempts`, when it becomes `failed`.
   * Returns what happened, or 'gone' when the submission was not pending.
   */
  attemptFailed(id: number, error: string, now: number, maxAttempts: number, backoffMs: number): Promise<'retry' | 'failed' | 'gone'> {
    return this.write((): 'retry' | 'failed' | 'gone' => {
      const r = this.q.attempts.get(id) as { attempts: number; status: string } | undefined;
      if (r === undefined || r.status !== 'pending') return 'gone';
      const attempts = r.attempts + 1;
      if (attempts >= maxAttempts) {
        this.q.fail.run(attempts, error, now, id);
        this.q.event.run(id, 'failed', now);
        return 'failed';
      }
      this.q.retry.run(attempts, error, now + backoffMs, id);
      this.q.event.run(id, 'retry', now);
      return 'retry';
    });
  }

  /** How many submissions are in each state. */
  counts(): Record<SubmissionState, number> {
    const out: Record<SubmissionState, number> = { pending: 0, processed: 0, failed: 0 };
    for (const r of this.q.counts.all() as { status: SubmissionState; n: number }[]) out[r.status] = r.n;
    return out;
  }

  /** Where the HIS sync left off (the newest `updatedAt` it stored), 0 before the first sync. */
  hisCursor(): number {
    const r = this.q.getMeta.get('his_cursor') as { value: string } | undefined;
    return r === undefined ? 0 : Number(r.value);
  }

  /** Stores one page of HIS records and the new cursor, together. */
  saveHisPage(records: readonly HisPatient[], cursor: number): void {
    this.db.transaction(() => {
      for (const p of records) this.q.upsertPatient.run(p.patientId, p.ward, p.updatedAt);
      this.q.setMeta.run('his_cursor', String(cursor));
    }).immediate();
  }

  /** Records the outcome of one HIS sync run. */
  recordSync(startedAt: number, finishedAt: number, records: number, outcome: string): void {
    this.q.recordSync.run(startedAt, finishedAt, records, outcome);
  }

  /** Report sections for a form. Aggregates only: no patient identifiers. */
  reportSection(formId: string, section: 'status' | 'severity' | 'codes' | 'wards'): Record<string, number> {
    const rows = this.q.report[section].all(formId) as { k: string | null; n: number }[];
    const out: Record<string, number> = {};
    for (const r of rows) out[r.k ?? 'unknown'] = r.n;
    return out;
  }

  /** Commits the writes waiting for their group commit, then closes the database (a WAL checkpoint happens on close). */
  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }

  /** Runs `fn` in the next group commit; resolves with its result once that commit is on disk. */
  private write<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.batch.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.flushing ??= setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.flushing !== undefined) clearImmediate(this.flushing);
    this.flushing = undefined;
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    let results: unknown[];
    try {
      results = this.db.transaction(() => batch.map((w) => w.fn())).immediate();
    } catch {
      // Nothing of the batch was committed: each write again, alone, so only the bad one fails.
      for (const w of batch) {
        try {
          w.resolve(this.db.transaction(w.fn).immediate());
        } catch (e) {
          w.reject(e);
        }
      }
      return;
    }
    for (let i = 0; i < batch.length; i++) (batch[i] as Write).resolve(results[i]);
  }
}

interface Write {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

function prepare(db: Database.Database) {
  return {
    byKey: db.prepare('SELECT id, fingerprint FROM submissions WHERE idempotency_key = ?'),
    insert: db.prepare(
      `INSERT INTO submissions (idempotency_key, fingerprint, patient_id, form_id, answers, symptoms, next_attempt_at, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    event: db.prepare('INSERT INTO submission_events (submission_id, kind, at) VALUES (?, ?, ?)'),
    status: db.prepare(
      'SELECT id, form_id, status, score, severity, flags, attempts, received_at, processed_at FROM submissions WHERE id = ?',
    ),
    due: db.prepare(
      `SELECT id FROM submissions WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
    ),
    nextDue: db.prepare(`SELECT id, next_attempt_at FROM submissions WHERE status = 'pending' ORDER BY next_attempt_at, id LIMIT ?`),
    load: db.prepare('SELECT id, patient_id, form_id, answers, symptoms, status, attempts FROM submissions WHERE id = ?'),
    complete: db.prepare(
      `UPDATE submissions SET status = 'processed', score = ?, severity = ?, codes = ?, flags = ?, processed_at = ?, last_error = NULL
       WHERE id = ? AND status = 'pending'`,
    ),
    attempts: db.prepare('SELECT attempts, status FROM submissions WHERE id = ?'),
    fail: db.prepare(
      `UPDATE submissions SET status = 'failed', attempts = ?, last_error = ?, processed_at = ? WHERE id = ? AND status = 'pending'`,
    ),
    retry: db.prepare(`UPDATE submissions SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ? AND status = 'pending'`),
    counts: db.prepare('SELECT status, COUNT(*) AS n FROM submissions GROUP BY status'),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    upsertPatient: db.prepare(
      `INSERT INTO his_patients (patient_id, ward, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (patient_id) DO UPDATE SET ward = excluded.ward, updated_at = excluded.updated_at`,
    ),
    recordSync: db.prepare('INSERT INTO his_syncs (started_at, finished_at, records, outcome) VALUES (?, ?, ?, ?)'),
    report: {
      status: db.prepare('SELECT status AS k, COUNT(*) AS n FROM submissions WHERE form_id = ? GROUP BY status'),
      severity: db.prepare(
        `SELECT severity AS k, COUNT(*) AS n FROM submissions WHERE form_id = ? AND status = 'processed' GROUP BY severity`,
      ),
      codes: db.prepare(
        `SELECT j.value AS k, COUNT(*) AS n FROM submissions s, json_each(s.codes) j
         WHERE s.form_id = ? AND s.status = 'processed' GROUP BY j.value ORDER BY n DESC LIMIT 10`,
      ),
      wards: db.prepare(
        `SELECT p.ward AS k, COUNT(*) AS n FROM submissions s LEFT JOIN his_patients p ON p.patient_id = s.patient_id
         WHERE s.form_id = ? GROUP BY p.ward`,
      ),
    },
  };
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'SQLITE_READONLY':
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_READONLY_DIRECTORY':
      return `not writable (${err.code}: ${err.message})`;
    case 'ENOTDIR':
      return `a part of the path is a file, not a directory (${err.message})`;
    case 'SQLITE_NOTADB':
      return `not a SQLite database (${err.message})`;
    case 'SQLITE_BUSY':
      return `locked by another process (${err.message})`;
    default:
      return err instanceof Error ? err.message : String(e);
  }
}
