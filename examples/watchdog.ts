// The seeds' late-night ePRO alert, caught early: each questionnaire submission starts a
// background check of its medical terms and waits for a result that never comes, one lost task per
// request. A Watchdog sampling the service notices the tasks piling up at one spawn site within a
// few samples, names the line that spawns them, dumps them, and marks the app not ready: /readyz
// turns 503, so the load balancer stops sending it patients while the on-call engineer reads the
// dump (health.mark: 'liveness' would have the orchestrator restart it instead).
import assert from 'node:assert/strict';
import { Channel, background, configure, go, sleep } from 'corral';
import { App } from 'corral/app';
import { serve } from 'corral/http';
import { Watchdog, type Alert } from 'corral/inspect';

configure({ spawnSites: 'always' }); // production default is 'sampled': one spawn in 64

function submitQuestionnaire(_req: unknown, res: { end(body: string): void }): void {
  // ... the form is saved ...
  const termCheck = new Channel<boolean>(); // the validator that should answer was never started
  go(async () => {
    const valid = await termCheck.recv(); // waits forever: the leak
    if (!valid.value) console.log('terms need review');
  }, { name: 'validate-terms' });
  res.end('saved\n');
}

const app = new App({ name: 'epro', logger: false });
const http = serve(submitQuestionnaire as never, { host: '127.0.0.1', port: 0 });
app.add(http);
await app.start();

let alert: Alert | undefined;
const watchdog = new Watchdog({
  app,
  interval: 250, // 10 s by default; short here so the example ends within seconds
  health: { rules: ['growthPerSite'], after: 1 },
  onAlert: (a) => {
    if (a.rule === 'growthPerSite') alert ??= a;
    console.log(`watchdog ${a.severity}: ${a.message}`);
  },
}).start();

// Patients submit steadily, about a hundred forms a second, until the watchdog speaks up.
const until = Date.now() + 5_000;
while (alert === undefined && Date.now() < until) {
  await fetch(`http://127.0.0.1:${http.port}/questionnaires/phq-9`, { method: 'POST', body: '{}' }).then((r) => r.text());
  await sleep(background(), 10);
}

assert.ok(alert !== undefined, 'the watchdog caught the leak');
assert.equal(alert.sites?.[0]?.name, 'validate-terms');
assert.ok(alert.sites?.[0]?.site?.includes('submitQuestionnaire'), 'and named the line that spawns it');
console.log('\nthe offending tasks:\n' + alert.dump);
const health = app.health();
assert.equal(health.ready, false);
const readyz = await fetch(`http://127.0.0.1:${http.port}/readyz`);
assert.equal(readyz.status, 503);
console.log(`GET /readyz: ${readyz.status} ${(await readyz.text()).trim()} (${health.notReady.join('; ')})`);

watchdog.stop();
await app.stop();
