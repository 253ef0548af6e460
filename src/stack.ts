/**
 * Creation sites for what diagnostics note outside the registry (handles, abort listeners): a V8
 * stack cut down to the user's frames, as the registry shows spawn sites.
 * @module
 */
import { fileURLToPath } from 'node:url';

// Frames from corral's own modules (src/ and dist/ of this package), Node's built-ins and the
// Promise constructor a wrapper runs in say nothing about who did it.
const ROOT = new URL('..', import.meta.url);
const OWN = ['src/', 'dist/'].flatMap((d) => {
  const url = new URL(d, ROOT);
  return [url.href, fileURLToPath(url)];
});

/** Whether a trimmed frame ("at ...") is corral's or Node's own, not the user's. @internal */
export function isNoiseFrame(frame: string): boolean {
  return frame.includes('(node:') || frame.startsWith('at node:') || frame === 'at new Promise (<anonymous>)' || OWN.some((p) => frame.includes(p));
}

/**
 * A V8 stack as "at ..." lines, user frames only (all of them when there is none), at most
 * `depth`, and how many user frames there were. @internal
 */
export function userFrames(stack: string, depth: number): { text: string; userFrames: number } {
  const frames = stack
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('at '));
  const mine = frames.filter((f) => !isNoiseFrame(f));
  return { text: (mine.length > 0 ? mine : frames).slice(0, depth).join('\n'), userFrames: mine.length };
}
