/**
 * The ePRO intake service's process: configuration, clear startup errors, the App's main loop,
 * and what to try once it listens. `npm start` runs this with the embedded defaults.
 *
 * Exit codes: 0 after a clean stop; 1 when a start failed (the port in use...) or the stop was
 * not clean; 2 for a configuration or database error before anything started.
 * @module
 */
import { AppStartError } from 'corral/app';
import { ConfigError, loadConfig, usage, type Config } from './config.js';
import { createLog } from './log.js';
import { createEpro, type Epro } from './service.js';
import { StoreError } from './store.js';

let cfg: Config;
try {
  cfg = loadConfig(process.argv.slice(2), process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`epro: ${e.message}\n`);
  process.exit(2);
}
if (cfg.help) {
  process.stdout.write(usage() + '\n');
  process.exit(0);
}

const log = createLog('epro', cfg.quiet);
let epro: Epro;
try {
  epro = await createEpro(cfg, log);
} catch (e) {
  if (e instanceof StoreError) {
    process.stderr.write(`epro: ${e.message}\nChoose another file with --db <path> or EPRO_DB.\n`);
  } else {
    // The access log's file, a simulator's port: the message names what failed.
    process.stderr.write(`epro: cannot start: ${(e as Error)?.message ?? String(e)}\n`);
  }
  process.exit(2);
}

const running = epro.app.main();
try {
  await epro.app.start(); // the same start main() runs: resolves once everything listens
  announce(epro, cfg);
} catch (e) {
  if (!(e instanceof AppStartError)) throw e;
  process.stderr.write(`epro: ${startHint(e, cfg)}\n`);
}
const report = await running;
log.info(`shutdown took ${report.ms} ms (${report.reason}), exit code ${report.exitCode}`);

function announce(e: Epro, c: Config): void {
  const base = `http://${c.host.includes(':') ? `[${c.host}]` : c.host}:${e.api.port}`;
  const t = c.terminology;
  const sample = JSON.stringify({
    patientId: 'P-0001',
    formId: 'phq-9',
    answers: { q1: 1, q2: 2, q3: 1, q4: 0, q5: 1, q6: 0, q7: 1, q8: 0, q9: 0 },
    symptoms: ['Headache', 'tired'],
  });
  const lines = [
    `ePRO intake listening on ${base} (database ${e.store.path}${c.leaky ? '; --leaky: the naive code is in' : ''})`,
    `  terminology service: ${e.terminologyUrl}${e.terminologySim === undefined ? '' : ` (simulated: ~${t.latencyMs} ms, ${t.errorRate * 100}% errors, ${t.hangRate * 100}% never answer)`}`,
    `  hospital system (HIS): ${e.hisUrl}${e.hisSim === undefined ? '' : ' (simulated)'}, synced every ${c.syncIntervalMs / 1000} s`,
    ...(e.diagnostics.url === undefined
      ? []
      : [
          `  debug endpoint (127.0.0.1 only): ${e.diagnostics.url} (/debug/corral/, /metrics)`,
          `    npx corral dump ${e.diagnostics.url}        npx corral top ${e.diagnostics.url}`,
        ]),
    'try it:',
    `  curl -i ${base}/submissions -H 'content-type: application/json' -H 'idempotency-key: try-1' -d '${sample}'`,
    `  curl ${base}/submissions/1          # status and score of submission 1`,
    `  curl ${base}/reports/phq-9          # ${(c.reportSteps * c.reportStepMs) / 1000} s of work; Ctrl+C stops the server's work too`,
    'Ctrl+C or SIGTERM stops it gracefully; --help lists the options.',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function startHint(e: AppStartError, c: Config): string {
  const code = (e.cause as NodeJS.ErrnoException | undefined)?.code;
  if (e.service === 'api' && code === 'EADDRINUSE') {
    return `cannot listen on ${c.host}:${c.port}: the port is in use. Pick another with --port <n> or PORT=<n> (0 picks a free one).`;
  }
  if (e.service === 'api' && (code === 'EACCES' || code === 'EPERM')) {
    return `cannot listen on ${c.host}:${c.port}: permission denied (ports below 1024 need privileges). Pick another with --port <n>.`;
  }
  if (e.service === 'api' && code === 'EADDRNOTAVAIL') {
    return `cannot listen on ${c.host}:${c.port}: no such address on this machine. Check --host or HOST.`;
  }
  return e.message;
}
