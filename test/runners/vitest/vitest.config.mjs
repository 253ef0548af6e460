// A Vitest 3 project whose tests run under corral's leak guard (setup.mjs). Run by
// test/testing-runners.test.ts: `vitest run --root test/runners/vitest`, against the built dist/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['*.spec.mjs'],
    setupFiles: ['./setup.mjs'],
    // Each file in its own process, as Vitest's default pool does; no watch, no retries.
    pool: 'forks',
    watch: false,
  },
});
