/**
 * Report generation for a form: the seeds' long report that must stop when its requester goes
 * away. Its sections are built side by side in a Group under the request's context, each in
 * several steps; a client that disconnects cancels the context, every section stops at its next
 * await, and disposing the group waits for them, so no work outlives the request.
 *
 * The steps stand for the expensive passes of a real report (queries over months of data,
 * rendering); here each step is a `sleep` of `stepMs` and the data comes from the database at the
 * end of its section.
 * @module
 */
import { Group, sleep, type Context } from 'corral';
import type { Store } from './store.js';

export const SECTIONS = ['status', 'severity', 'codes', 'wards'] as const;
export type Section = (typeof SECTIONS)[number];

export interface Report {
  formId: string;
  generatedAt: string;
  sections: Record<Section, Record<string, number>>;
}

export interface ReportOptions {
  steps: number;
  stepMs: number;
}

/**
 * buildReport builds a form's report; it rejects with `ctx.err` (for a disconnect, a
 * CanceledError whose cause is the http layer's ClientDisconnectedError) as soon as `ctx` ends.
 */
export async function buildReport(ctx: Context, store: Store, formId: string, o: ReportOptions): Promise<Report> {
  await using group = new Group(ctx, { name: 'report', failFast: true });
  const tasks = SECTIONS.map((section) =>
    group.go(
      async (sctx: Context) => {
        for (let i = 0; i < o.steps; i++) await sleep(sctx, o.stepMs);
        return store.reportSection(formId, section);
      },
      { name: 'report section', labels: { form: formId, section } },
    ),
  );
  await group.wait();
  const sections = {} as Record<Section, Record<string, number>>;
  for (let i = 0; i < SECTIONS.length; i++) sections[SECTIONS[i] as Section] = await (tasks[i] as PromiseLike<Record<string, number>>);
  return { formId, generatedAt: new Date().toISOString(), sections };
}
