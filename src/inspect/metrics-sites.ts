/**
 * The `site` label of `corral_tasks_live`: where live tasks were spawned, as "file:line", the
 * largest N sites kept and the rest folded into "other" so the series count stays bounded.
 *
 * A task whose spawn site was not captured (spawnSites 'off', or 63 spawns in 64 with the default
 * 'sampled') is counted under its name as "name:NAME". A single "unknown" would lump most tasks
 * of a production process into one series that points nowhere; the name still names the code.
 * @module
 */
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forEachEntry, formatSite, type Entry } from '../registry.js';
import { leakedBySite } from '../unreachable.js';

/** The label of the folded remainder. Never a real label: sites contain ':', names are prefixed. */
export const OTHER = 'other';

// formatSite() makes V8 format the stack (microseconds) and splits it; a long-lived task is
// counted at every scrape, so its label is worked out once per captured site, keyed by the
// object V8 filled (the registry never replaces it). Weak: a finished task's entry goes.
const labels = new WeakMap<object, string>();

/** The spawn site's first user frame as "file:line", `file` relative to the working directory when inside it. @internal */
export function shortSite(site: string): string {
  const nl = site.indexOf('\n');
  let frame = (nl === -1 ? site : site.slice(0, nl)).trim();
  if (frame.startsWith('at ')) frame = frame.slice(3);
  // "fn (LOCATION)" or a bare "LOCATION".
  if (frame.endsWith(')')) {
    const open = frame.lastIndexOf('(');
    if (open !== -1) frame = frame.slice(open + 1, -1);
  }
  const m = /^(.*):(\d+):\d+$/.exec(frame);
  if (m === null) return frame;
  let file = m[1] as string;
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file);
    } catch {
      // Not a local file URL: keep it as written.
    }
  }
  if (isAbsolute(file)) {
    const rel = relative(process.cwd(), file);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) file = rel;
  }
  return `${file}:${m[2] as string}`;
}

/** The site label of a task with a captured site, or undefined. @internal */
export function siteLabel(e: Entry): string | undefined {
  const holder = e._site;
  if (holder === undefined) return undefined;
  let label = labels.get(holder);
  if (label === undefined) {
    const site = formatSite(e);
    label = site === undefined ? '' : shortSite(site);
    labels.set(holder, label);
  }
  return label === '' ? undefined : label;
}

/** The `top` largest labels, ties broken by label; the rest summed under OTHER (only when there is a rest). */
function foldTop(bySite: Map<string, number>, top: number): [string, number][] {
  const all = [...bySite];
  all.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (all.length <= top) return all;
  let rest = 0;
  for (let i = top; i < all.length; i++) rest += (all[i] as [string, number])[1];
  const kept = all.slice(0, top);
  kept.push([OTHER, rest]);
  return kept;
}

/**
 * Counts live tasks per site label: the `top` largest labels, then OTHER for the rest (only when
 * there is a rest). Ties are broken by label, so a scrape's output does not depend on spawn order.
 * @internal
 */
export function liveBySite(top: number): [string, number][] {
  const bySite = new Map<string, number>();
  // Counted by raw name, prefixed at the end: no string built per task.
  const byName = new Map<string, number>();
  forEachEntry((e) => {
    if (e.kind !== 'task') return;
    const site = siteLabel(e);
    if (site !== undefined) bySite.set(site, (bySite.get(site) ?? 0) + 1);
    else byName.set(e._name, (byName.get(e._name) ?? 0) + 1);
  });
  for (const [name, n] of byName) {
    const label = `name:${name}`;
    bySite.set(label, (bySite.get(label) ?? 0) + n);
  }
  return foldTop(bySite, top);
}

/**
 * Counts the tasks found unreachable since the process started per site label, folded as
 * {@link liveBySite} folds: several full spawn stacks can share one first frame, and add up there.
 * @internal
 */
export function leakedBySiteLabel(top: number): [string, number][] {
  const bySite = new Map<string, number>();
  for (const s of leakedBySite()) {
    const label = s.site === undefined ? `name:${s.name}` : shortSite(s.site);
    bySite.set(label, (bySite.get(label) ?? 0) + s.count);
  }
  return foldTop(bySite, top);
}
