/**
 * The simulated terminology service and HIS as a process of their own, for pointing the demo at
 * "external" systems (`--terminology-url`, `--his-url`) and for the load experiment, where they
 * must not share the demo's event loop or sockets.
 *
 *   node --import tsx demo/src/simulators.ts [--terminology-port 4001] [--his-port 4002]
 *     [--latency 20ms] [--error-rate 0] [--hang-rate 0.02] [--seed 42] [--his-latency 50ms]
 *
 * Prints one JSON line `{"terminology":"http://...","his":"http://..."}` once both listen; stops
 * on SIGINT/SIGTERM. Both listen on 127.0.0.1 only.
 * @module
 */
import { parseArgs } from 'node:util';
import { startHisSim } from './his-sim.js';
import { startTerminologySim } from './terminology-sim.js';

const { values } = parseArgs({
  options: {
    'terminology-port': { type: 'string', default: '0' },
    'his-port': { type: 'string', default: '0' },
    latency: { type: 'string', default: '20' },
    'error-rate': { type: 'string', default: '0' },
    'hang-rate': { type: 'string', default: '0' },
    seed: { type: 'string', default: '42' },
    'his-latency': { type: 'string', default: '50' },
  },
  strict: true,
});
const ms = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(s);
  if (m === null) throw new RangeError(`not a duration: ${JSON.stringify(s)}`);
  return Number(m[1]) * (m[2] === 's' ? 1_000 : 1);
};

const terminology = await startTerminologySim({
  port: Number(values['terminology-port']),
  latencyMs: ms(values.latency as string),
  errorRate: Number(values['error-rate']),
  hangRate: Number(values['hang-rate']),
  seed: Number(values.seed),
});
const his = await startHisSim({ port: Number(values['his-port']), latencyMs: ms(values['his-latency'] as string) });
process.stdout.write(JSON.stringify({ terminology: terminology.url, his: his.url }) + '\n');

const stop = async (): Promise<void> => {
  await Promise.all([terminology.close(), his.close()]);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
