import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Browser and CLI tests spawn processes; two cores are all CI has.
    maxWorkers: 2,
    // The CLI tests run the built bin: bring dist/lib up to date first. Then one temp folder per
    // test run, checked for leftover files, processes and mounts at the end.
    globalSetup: ['test/helpers/build-first.ts', 'test/setup/global.ts'],
    setupFiles: ['test/setup/each-file.ts'],
  },
});
