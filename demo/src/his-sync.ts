/**
 * The HIS sync: pulls the patients whose record changed since the last sync from the hospital
 * system, page by page, each page stored with the new cursor in one transaction (a sync cut
 * half-way resumes where it stopped, never re-reads or skips a page).
 *
 * It runs on `every(ctx, interval, ..., { overlap: 'skip' })`: a sync slower than its interval
 * makes the next tick wait its turn instead of starting a second sync beside it (the seeds'
 * ticker that piled up HIS syncs), and the App's shutdown cancels the page in flight.
 * @module
 */
import { every, isCancellation, withTimeout, type Context } from 'corral';
import type { Service } from 'corral/app';
import type { Log } from './log.js';
import type { HisPatient, Store } from './store.js';

const PAGE = 100;

interface Page {
  patients: HisPatient[];
  next: number | null;
}

/**
 * syncOnce runs one sync to the end of the changes and returns the number of records stored.
 * Each page's fetch is bounded by `ctx` and, when given, `pageTimeoutMs`.
 */
export async function syncOnce(ctx: Context, store: Store, hisUrl: string, pageTimeoutMs?: number): Promise<number> {
  const started = Date.now();
  let records = 0;
  try {
    let cursor = store.hisCursor();
    for (;;) {
      const page = await fetchPage(ctx, hisUrl, cursor, pageTimeoutMs);
      const last = page.patients[page.patients.length - 1];
      if (last !== undefined) {
        cursor = Math.max(cursor, last.updatedAt);
        store.saveHisPage(page.patients, cursor);
        records += page.patients.length;
      }
      if (page.next === null || last === undefined) break;
    }
    store.recordSync(started, Date.now(), records, 'ok');
    return records;
  } catch (err) {
    store.recordSync(started, Date.now(), records, isCancellation(err) ? 'cancelled' : 'failed');
    throw err;
  }
}

async function fetchPage(ctx: Context, hisUrl: string, since: number, timeoutMs: number | undefined): Promise<Page> {
  const bounded = timeoutMs === undefined ? undefined : withTimeout(ctx, timeoutMs);
  try {
    const res = await fetch(`${hisUrl}/patients?since=${since}&limit=${PAGE}`, { signal: (bounded?.ctx ?? ctx).signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HIS answered ${res.status}`);
    }
    const body = (await res.json()) as Page;
    if (!Array.isArray(body?.patients)) throw new Error('HIS sent a malformed page');
    return body;
  } finally {
    bounded?.cancel();
  }
}

export interface HisSyncOptions {
  hisUrl: string;
  intervalMs: number;
  pageTimeoutMs: number;
  dependsOn: string[];
}

/** The managed sync as an App service: a `run` on `every` with overlap 'skip', first run at start. */
export function hisSyncService(store: Store, o: HisSyncOptions, log: Log): Service {
  return {
    name: 'his-sync',
    dependsOn: o.dependsOn,
    run: (ctx: Context) =>
      every(
        ctx,
        o.intervalMs,
        async (run: Context) => {
          const t0 = performance.now();
          const n = await syncOnce(run, store, o.hisUrl, o.pageTimeoutMs);
          log.info(`HIS sync: ${n} record(s) in ${Math.round(performance.now() - t0)} ms`);
        },
        {
          name: 'his-sync',
          overlap: 'skip',
          immediate: true,
          onError: (err) => {
            if (ctx.err !== undefined && isCancellation(err)) return;
            log.warn(`HIS sync failed (the next tick retries): ${(err as Error)?.message ?? String(err)}`);
          },
        },
      ),
  };
}
