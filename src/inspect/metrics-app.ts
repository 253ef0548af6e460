/**
 * An App's last stop report, for the shutdown metrics: `app.lastStopReport`, set when its
 * shutdown ends.
 * @module
 */
import type { App } from '../app/app.js';
import type { StopReport } from '../app/report.js';

/** The stop report of `app` once its shutdown has ended. @internal */
export function stopReportOf(app: App): StopReport | undefined {
  return app.lastStopReport;
}

/** The stop report of `app` once it has stopped, without waiting for a shutdown in progress. @internal */
export function settledStopReportOf(app: App): Promise<StopReport | undefined> {
  return Promise.resolve(app.lastStopReport);
}
