import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Tests that dump real processes with CRIU must not race each other for PIDs and iptables locks.
    fileParallelism: false,
    reporters: ["default"],
  },
});
