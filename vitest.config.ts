import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    // Node 20 runs relaxed SIMD only behind this flag (NODE_OPTIONS cannot carry it);
    // with it every test also runs against the relaxed build.
    execArgv: ["--experimental-wasm-relaxed-simd"],
    testTimeout: 60_000,
  },
});
