/**
 * `corral/app`: App, the service lifecycle. Services and resources start in dependency order and
 * stop in reverse with a deadline each, inside one shutdown budget; `main()` turns SIGINT/SIGTERM
 * into that shutdown and its outcome into an exit code. See docs/app.md.
 * @module
 */
export { App, type Health } from './app.js';
export type { Service, ResourceOptions } from './service.js';
export type { AppOptions, Logger } from './options.js';
export type { StopReport, ServiceReport, StepReport, RunningTask } from './report.js';
export { AppStartError, AppStopError, DependencyError, ServiceTimeoutError } from './errors.js';
