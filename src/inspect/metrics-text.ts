/**
 * The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` per family, then
 * one `name{labels} value` line per sample.
 * @module
 */
import { enableDurations } from './metrics-duration.js';
import { FAMILIES, type MetricLabels } from './metrics-families.js';
import { checkOptions, resolve, type MetricsOptions } from './metrics-sources.js';
import { stopReportOf } from './metrics-app.js';

/** The Content-Type of {@link metricsText}'s output, for an HTTP response. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A label value: backslash, double quote and line feed escaped. @internal */
export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** HELP text: backslash and line feed escaped (a double quote stays). @internal */
export function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

/** A sample value as the format spells it. @internal */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function formatLabels(labels: MetricLabels | undefined): string {
  if (labels === undefined) return '';
  let out = '';
  for (const k in labels) out += `${out === '' ? '' : ','}${k}="${escapeLabelValue(labels[k] as string)}"`;
  return out === '' ? '' : `{${out}}`;
}

/**
 * metricsText returns corral's metrics in the Prometheus text format 0.0.4 (serve it with
 * {@link METRICS_CONTENT_TYPE}): live tasks by spawn site, spawned and finished totals, the task
 * duration histogram, live groups, and for tracked or given pools and apps their load and last
 * shutdown. Families with no sample (no pool, an app not stopped yet) are left out. The first
 * call turns metrics on (see {@link enableMetrics}): task durations are recorded from then on.
 *
 * Cost: one pass over the live tasks (a spawn site is formatted once per captured site, then
 * cached), plus `stats()` per pool.
 *
 * @throws TypeError for an unknown option, a pool or app of the wrong kind, or two pools with one
 *   name; RangeError for a bad `topSites`.
 * @example
 * ```ts
 * http.createServer((req, res) => {
 *   if (req.url === '/metrics') res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(metricsText({ pools: [pool] }));
 * });
 * ```
 */
export function metricsText(options?: MetricsOptions): string {
  const opts = checkOptions(options, 'metricsText');
  const { pools, apps } = resolve(opts, true, 'metricsText');
  enableDurations();
  const src = { topSites: opts.topSites, pools, apps, reportOf: stopReportOf };
  const out: string[] = [];
  for (const f of FAMILIES) {
    const lines: string[] = [];
    f.collect(src, (value, labels, suffix) => {
      lines.push(`${f.name}${suffix ?? ''}${formatLabels(labels)} ${formatValue(value)}`);
    });
    if (lines.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...lines);
  }
  return out.join('\n') + '\n';
}
