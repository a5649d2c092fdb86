import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    // Against a real lab PBX: `npm run test:live` (vitest.live.config.ts); real NATS:
    // `npm run test:cluster` (vitest.cluster.config.ts).
    exclude: ["test/live/**", "test/cluster/**", "**/node_modules/**"],
    testTimeout: 20_000,
    // The SDK's browser file (served by the daemon, loaded by the browser tests) is built first.
    globalSetup: ["test/helpers/buildSdk.ts"],
    pool: "forks",
  },
});
