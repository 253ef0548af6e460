/**
 * corral: Go-style lifecycles for Node.js tasks. Contexts, groups that own their tasks, a live
 * task registry, sync primitives and timers that never leave a timer or listener behind.
 * @module
 */
export {
  afterFunc,
  background,
  createKey,
  fromSignal,
  withCancel,
  withDeadline,
  withTimeout,
  withValue,
  withoutCancel,
  type CancelableContext,
  type CancelFunc,
  type Context,
  type ContextError,
  type ContextKey,
} from './context.js';
export {
  CanceledError,
  ChannelClosedError,
  DeadlineExceededError,
  GroupClosedError,
  InvalidStateError,
  StopTimeoutError,
  isCancellation,
  isTimeout,
  type StuckTask,
} from './errors.js';
export { configure, type CorralConfig, type SpawnSiteLevel } from './config.js';
export { Group, type GroupOptions } from './group.js';
export { Task, type GoOptions } from './task.js';
export { go, currentTask, enableAmbientTracking, rootGroup } from './go.js';
export { liveCounts, snapshot, type EntryInfo, type Labels, type Snapshot, type TaskState } from './registry.js';
export { dumpTasks } from './dump.js';
export { collectUnreachable, leakedBySite, leakedCount, LEAKED, type LeakedSite } from './unreachable.js';
export { WaitGroup } from './waitgroup.js';
export { Semaphore } from './semaphore.js';
export { Once } from './once.js';
export { Stopper } from './stopper.js';
export { sleep, timeout, every, type EveryOptions, type EveryTask } from './timers.js';
export { YIELD_BUDGET, YIELD_SLICE_MS } from './fairness.js';
export { Channel, type ChannelOptions, type RecvCase, type RecvResult, type SendCase, type TryRecvResult } from './channel.js';
export {
  select,
  type CaseResult,
  type SelectCase,
  type SelectDefault,
  type SelectOptions,
  type SelectResult,
  type SelectResultOf,
} from './select.js';
