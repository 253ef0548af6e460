/**
 * `--leaky`: the seeds' naive code, swapped in for the managed processing and sync, so the
 * diagnostics have something to find and the load experiment something to compare.
 *
 * 1. Validation, fire and forget (seed 001, the ePRO incident): each stored submission starts a
 *    task that starts another to call the terminology service, and waits on an unbuffered result
 *    channel. The call has no context and no timeout; when the service hangs, the result is never
 *    sent, and both tasks (and the call's socket) stay for good: in practice until undici's
 *    300 s headers timeout, far longer than any load test. Nothing resumes the submissions left
 *    pending, and nothing stops these tasks at shutdown.
 * 2. The HIS sync on a bare interval (seed 000): every tick starts a sync task whether or not the
 *    previous one finished, so a slow HIS makes syncs pile up; the interval is never cleared, so
 *    the process cannot exit on its own after a SIGTERM.
 *
 * The tasks are corral tasks (so the registry, the dumps and the watchdog see them), spawned into
 * the root group as `go(fn)` outside any task would. `rootGroup().go` rather than `go` keeps the
 * ambient AsyncLocalStorage off, so the load experiment compares the leak, not that overhead; the
 * channel operations get the task's own context (which nothing ever cancels: the root group
 * lives as long as the process) only so that dumps can say what each task waits on.
 * Do not copy this file.
 * @module
 */
import { Channel, background, rootGroup } from 'corral';
import { cleanSymptoms, score, type Coding } from './forms.js';
import { syncOnce } from './his-sync.js';
import type { Log } from './log.js';
import type { Store } from './store.js';

/** The naive validation of one stored submission: two tasks, an unbuffered channel, no context. */
export function validateInBackground(store: Store, terminologyUrl: string, id: number, log: Log): void {
  // go func() { ... }()
  rootGroup().go(
    async (ctx) => {
      const sub = store.load(id);
      if (sub === undefined) return;
      const results = new Channel<Coding | undefined>(); // make(chan bool)
      // go func() { isValid, _ := external.ValidateTerms(formData); results <- isValid }()
      rootGroup().go(
        async (ctx) => {
          let coding: Coding | undefined;
          try {
            const res = await fetch(`${terminologyUrl}/validate`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ formId: sub.formId, terms: cleanSymptoms(sub.symptoms) }),
            });
            coding = res.ok ? ((await res.json()) as Coding) : undefined;
          } catch {
            coding = undefined; // the error is dropped, as in the seed
          }
          await results.send(coding, ctx);
        },
        { name: 'terminology call' },
      );
      const { value } = await results.recv(ctx); // isValid := <-results
      if (value === undefined) {
        log.warn(`submission ${id} validation failed`);
        return;
      }
      await store.complete(id, score(sub, value), Date.now());
    },
    { name: 'validate submission' },
  );
}

/** The naive HIS sync: a sync task per tick, overlapping, on an interval nobody clears. */
export function startIntervalSync(store: Store, hisUrl: string, intervalMs: number, log: Log): void {
  setInterval(() => {
    rootGroup().go(
      async () => {
        try {
          const n = await syncOnce(background(), store, hisUrl);
          log.info(`HIS sync (leaky): ${n} record(s)`);
        } catch (err) {
          log.warn(`HIS sync (leaky) failed: ${(err as Error)?.message ?? String(err)}`);
        }
      },
      { name: 'his-sync (interval)' },
    );
  }, intervalMs);
}
