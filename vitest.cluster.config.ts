import { defineConfig } from "vitest/config";

// The cluster suite (issue 13): real nats-server processes on 127.0.0.1 (`npm run test:cluster`,
// run by .ci/run after `npm test`). Each file skips with one line when nats-server is missing.
export default defineConfig({
  test: {
    include: ["test/cluster/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: "forks",
    fileParallelism: false,
  },
});
