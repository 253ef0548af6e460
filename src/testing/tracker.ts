/**
 * The one handle tracker the leak checks share: `corral/inspect`'s, started by the first check and
 * kept running, so every window and scope reads the same sequence numbers.
 * @module
 */
import { trackHandles, type HandleTracker } from '../inspect/handles.js';

let tracker: HandleTracker | undefined;

/** The shared tracker, started on first use. @internal */
export function handleTracker(): HandleTracker {
  return (tracker ??= trackHandles());
}
