import { test } from 'vitest';

test('a cleared interval is fine', () => {
  clearInterval(setInterval(() => {}, 1_000));
});
