import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // most test files wait on real servers and child processes, not on the CPU: two files at
    // a time on a 2-core machine (vitest's default would be one) keeps npm test near a minute
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
