/**
 * Creation sites for what the checks note themselves (abort listeners): the user's frames only,
 * as the registry shows spawn sites.
 * @module
 */
import { isNoiseFrame, userFrames } from '../stack.js';

/** A V8 stack as "at ..." lines, user frames only, at most `depth` of them. @internal */
export function formatStack(stack: string | undefined, depth = 8): string | undefined {
  return stack === undefined ? undefined : userFrames(stack, depth).text;
}

// Test runners' own code: node:test's internals, and Jest's and Vitest's packages.
const RUNNER = /node:internal\/test_runner|[\\/]node_modules[\\/](?:jest-[\w-]+|@jest[\\/]|jest[\\/]|expect[\\/]|vitest[\\/]|@vitest[\\/]|tinypool[\\/]|tinyspy[\\/]|vite-node[\\/])/;

/** Whether a frame ("at ...") is the user's code: not Node's, not corral's, not a test runner's, not a bare async marker. @internal */
export function isUserFrame(frame: string): boolean {
  const f = frame.trim();
  if (!f.startsWith('at ') || isNoiseFrame(f) || RUNNER.test(f)) return false;
  return !(f.endsWith('(<anonymous>)') || /^at async Promise\.(all|allSettled|any|race) \(index \d+\)$/.test(f));
}

/**
 * Whether a raw V8 stack has a frame of the user's code. What has none was done by the runner
 * (node:test's per-test timers and abort listeners) or by Node on nobody's behalf that can be named.
 * @internal
 */
export function hasUserFrame(stack: string | undefined): boolean {
  return stack !== undefined && stack.split('\n').slice(1).some(isUserFrame);
}
