/**
 * The preload `corral run` gives the program (`node --import <this file> app.js`). It tracks
 * handles from the first line of the program on, and reports what is still alive when the
 * program exits, when a SIGINT/SIGTERM/SIGHUP it has no handler for would kill it, and on SIGUSR2.
 * When the program's loop drains, it forces garbage collections first, so tasks that can never
 * finish because nothing references their promise any more are reported as unreachable (the CLI
 * turns detection on in the program's environment).
 *
 * It acts only in the process the CLI started: the CLI passes the report file in
 * CORRAL_RUN_REPORT and the preload takes it out of the environment at once, so a process the
 * program forks (which inherits `--import` through execArgv) loads this file and does nothing.
 *
 * The registry it reads must be the program's. A program that imports 'corral' from its own
 * node_modules and a CLI installed elsewhere would be two copies of the module, two registries;
 * so the preload resolves 'corral' the way the program's entry script would, and imports that
 * (the same URL is the same module instance), falling back to the CLI's own copy. What it cannot
 * see: a second copy nested deeper (a library with its own corral), or corral's sources loaded
 * through a TypeScript loader.
 * @module
 */
import { writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { trackHandles } from '../inspect/handles.js';
import { collectReport, formatReport, type CorralRegistry, type ReportReason } from './report.js';

const TERMINATING: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

async function install(file: string): Promise<void> {
  // Before the program's first line, so that everything it opens is seen.
  const tracker = trackHandles();
  const corralUrl = resolveCorral();
  let corral: CorralRegistry | undefined;
  let finished = false;
  let drained = false;
  let collecting = false;
  /** A forced collection failed: say so once and do not try again (it would fail the same way). */
  let gcFailed = false;
  /**
   * Live tasks when the last collection began. Another is worth its GCs only when that moved: a
   * task spawned while one ran (by the program's own beforeExit listener, called right after ours)
   * may have been registered after its last GC, so the count after it would hide that task.
   * Marking leaks never moves it (leaked tasks stay listed), so once the program stops starting
   * work, the next beforeExit finds the count unchanged and the loop is left to end.
   */
  let collectedAt = -1;
  const report = (reason: ReportReason, detail: { exitCode?: number; signal?: string; drained?: boolean }): void => {
    const r = collectReport(corral, corralUrl, tracker, reason, detail);
    writeAll(2, formatReport(r));
    try {
      writeFileSync(file, JSON.stringify(r));
    } catch (err) {
      writeAll(2, `corral run: could not write the report for the CLI to ${file}: ${(err as Error).message}\n`);
    }
  };

  // A terminating signal reports only when the program has no handler of its own: then Node's
  // default would kill it silently, so report and die by the same signal. When it has one, it is
  // shutting down its own way: step aside (so a library that counts a signal's listeners sees
  // only its own) and report at exit.
  const onTerminate = (sig: NodeJS.Signals): void => {
    process.off(sig, onTerminate);
    if (process.listenerCount(sig) > 0 || finished) return;
    finished = true;
    report('signal', { signal: sig });
    process.kill(process.pid, sig);
  };
  for (const s of TERMINATING) process.on(s, onTerminate);
  process.on('SIGUSR2', () => report('request', { signal: 'SIGUSR2' }));
  // The loop drained: every task still pending is stuck for good. Force the collections that mark
  // the unreachable ones (they can never finish, and say what they were doing) before the report.
  // They take a few turns, so beforeExit comes again after them; the report itself waits for
  // 'exit'. A program's own beforeExit listener that starts new work gets it collected again.
  process.on('beforeExit', () => {
    drained = true;
    const collect = corral?.collectUnreachable;
    if (collecting || gcFailed || corral === undefined || typeof collect !== 'function') return;
    const live = corral.liveCounts().tasks;
    if (live === 0 || live === collectedAt) return;
    collecting = true;
    collectedAt = live;
    collect.call(corral).then(
      () => {
        collecting = false;
      },
      (err: unknown) => {
        collecting = false;
        gcFailed = true;
        writeAll(2, `corral run: could not force a garbage collection (${(err as Error)?.message}); unreachable tasks may show as pending\n`);
      },
    );
  });
  // The report at 'exit' rather than 'beforeExit': it comes last, after whatever the program's own
  // beforeExit listeners started, and also after process.exit() and fatal errors, which skip
  // beforeExit (and leave no turn for a collection: tasks are reported as they stand).
  process.on('exit', (code) => {
    if (finished) return;
    finished = true;
    report('exit', { exitCode: code, drained });
  });

  try {
    const mod = (await import(corralUrl)) as Partial<CorralRegistry>;
    if (typeof mod.dumpTasks === 'function' && typeof mod.liveCounts === 'function') corral = mod as CorralRegistry;
  } catch (err) {
    writeAll(2, `corral run: could not load corral from ${corralUrl} (${(err as Error).message}); reporting handles only\n`);
  }
}

/** The URL of the corral module the program imports: resolved from its entry script, else from the working directory, else ours. */
function resolveCorral(): string {
  const from = [process.argv[1], join(process.cwd(), 'noop.js')];
  for (const f of from) {
    if (f === undefined || f === '') continue;
    try {
      return pathToFileURL(createRequire(f).resolve('corral')).href;
    } catch {
      // Not resolvable from there; try the next place.
    }
  }
  return new URL('../index.js', import.meta.url).href;
}

/** Writes all of `text` to `fd` synchronously: at exit there is no later turn to finish an async write. */
function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text);
  for (let tries = 0; buf.length > 0 && tries < 1000; tries++) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (err) {
      // A non-blocking pipe that is full: try again; anything else (a closed stderr) ends it.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

const reportFile = process.env.CORRAL_RUN_REPORT;
if (reportFile !== undefined && reportFile !== '') {
  delete process.env.CORRAL_RUN_REPORT;
  await install(reportFile);
}
