export { dump, groupTasks, DumpTooLargeError, DUMP_SCHEMA, type DumpFormat, type DumpJson, type DumpJsonGroup, type DumpJsonSite, type DumpJsonTask, type DumpOptions, type GroupTasksOptions, type TaskSite } from './dump.js';
export { setRedaction, type Redactor } from './redact.js';
export { debugHandler, startDebugServer, type DebugApp, type DebugHandler, type DebugHandlerOptions, type DebugServer, type DebugServerOptions, type DebugWatchdog } from './debug.js';
export { dumpOnSignal, type DumpOnSignalOptions } from './signal.js';
export { disableMetrics, enableMetrics, metricsText, METRICS_CONTENT_TYPE, registerMetrics, trackApp, trackPool, type MetricLabels, type MetricsOptions, type MetricsPool, type MetricsRegistration, type PromRegistryLike } from './metrics.js';
export { formatHandles, HANDLE_TYPES, trackHandles, type HandleInfo, type HandleTracker, type LiveHandlesOptions, type TrackHandlesOptions } from './handles.js';
export { Watchdog, type AbortListenersRule, type Alert, type AlertSite, type EventLoopDelayRule, type EventLoopUtilizationRule, type GrowthRule, type HandlesRule, type HeapRule, type LiveTasksRule, type Severity, type StuckRule, type WarningsRule, type WatchdogApp, type WatchdogHealthOptions, type WatchdogOptions, type WatchdogReadings, type WatchdogRule, type WatchdogRules, type WatchdogSample, type WatchdogStatus } from './watchdog.js';
