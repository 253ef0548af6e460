/**
 * `corral/otel`: OpenTelemetry spans for corral tasks, parented along the task tree. Needs the
 * optional peer dependency `@opentelemetry/api`. See docs/metrics.md.
 * @module
 */
export { disableTracing, enableTracing, taskSpan, type TracingOptions } from './tracing.js';
