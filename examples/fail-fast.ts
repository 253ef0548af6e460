// errgroup's contract: the first failure cancels the siblings, and wait() rejects with it.
import assert from 'node:assert/strict';
import { CanceledError, Group, background, sleep } from 'corral';

const group = new Group(background(), { name: 'trial-export' });
const outage = new Error('EDC export endpoint returned 503');

group.go(async (ctx) => {
  await sleep(ctx, 20);
  throw outage;
}, { name: 'export-site-a' });

const slow = group.go(async (ctx) => {
  await sleep(ctx, 60_000); // would take a minute; told to stop after 20 ms instead
}, { name: 'export-site-b' });

await assert.rejects(group.wait(), (err) => err === outage);
await assert.rejects(Promise.resolve(slow), CanceledError);
console.log(`first error: ${outage.message}; sibling state: ${slow.state}; cause on the group ctx: ${(group.ctx.cause as Error).message}`);
