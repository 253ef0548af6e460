/**
 * Creation sites for what the checks note themselves (abort listeners): the user's frames only,
 * as the registry shows spawn sites.
 * @module
 */
import { fileURLToPath } from 'node:url';

// Frames from corral's own modules (src/ and dist/) and from Node's internals say nothing about who
// did it; all frames are kept when that would leave none.
const ROOT = new URL('../..', import.meta.url);
const OWN = ['src/', 'dist/'].flatMap((d) => {
  const url = new URL(d, ROOT);
  return [url.href, fileURLToPath(url)];
});
function isNoise(frame: string): boolean {
  return frame.includes('(node:') || frame.startsWith('at node:') || OWN.some((p) => frame.includes(p));
}

/** A V8 stack as "at ..." lines, user frames only, at most `depth` of them. @internal */
export function formatStack(stack: string | undefined, depth = 8): string | undefined {
  if (stack === undefined) return undefined;
  const frames = stack
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('at '));
  const mine = frames.filter((f) => !isNoise(f));
  return (mine.length > 0 ? mine : frames).slice(0, depth).join('\n');
}

// Test runners' own code: node:test's internals, and Jest's and Vitest's packages.
const RUNNER = /node:internal\/test_runner|[\\/]node_modules[\\/](?:jest-[\w-]+|@jest[\\/]|jest[\\/]|expect[\\/]|vitest[\\/]|@vitest[\\/]|tinypool[\\/]|tinyspy[\\/]|vite-node[\\/])/;

/** Whether a frame ("at ...") is the user's code: not Node's, not corral's, not a test runner's, not a bare async marker. @internal */
export function isUserFrame(frame: string): boolean {
  const f = frame.trim();
  if (!f.startsWith('at ') || isNoise(f) || RUNNER.test(f)) return false;
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
