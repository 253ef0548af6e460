import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// Node 20 can expose gc() at run time: set the flag, then a fresh context gets the function.
setFlagsFromString('--expose-gc');
const gcFn = runInNewContext('gc') as () => void;

/** Runs full garbage collections, letting finalizers and WeakRef clearing happen between them. */
export async function collectGarbage(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gcFn();
    await new Promise<void>((r) => setImmediate(r));
  }
}
