import { defineConfig } from "vitest/config";

/**
 * `npm run test:live`: the tests against a real lab PBX (test/live), one file at a time, with
 * time for a scenario to run. Not part of `npm test`, which must pass without a PBX.
 */
export default defineConfig({
  test: {
    include: ["test/live/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
  },
});
