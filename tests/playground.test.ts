// The playground's static server (scripts/playground.mjs): the fixed routes, the cross-origin
// isolation headers, and nothing else (no path from a request reaches the file system).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without type declarations
import { startPlayground } from "../scripts/playground.mjs";

describe("playground server", () => {
  let server: { close(cb: () => void): void }, url: string;
  beforeAll(async () => {
    ({ server, url } = await startPlayground({ port: 0 }));
  }, 120_000);
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("serves the page, both bundles and the data, cross-origin isolated", async () => {
    for (const [path, type] of [
      ["", "text/html"],
      ["build/playground/main.js", "text/javascript"],
      ["build/playground/worker.js", "text/javascript"],
      ["data/train-labels-idx1-ubyte.gz", "application/gzip"],
    ] as const) {
      const r = await fetch(url + path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get("content-type"), path).toContain(type);
      expect(r.headers.get("cross-origin-opener-policy")).toBe("same-origin");
      expect(r.headers.get("cross-origin-embedder-policy")).toBe("require-corp");
      expect((await r.arrayBuffer()).byteLength, path).toBeGreaterThan(100);
    }
    const page = await (await fetch(url)).text();
    expect(page).toContain('src="/build/playground/main.js"');
  });

  it("answers 404 for anything else, including traversal attempts", async () => {
    for (const path of ["package.json", "data/../package.json", "build/playground/../../package.json", "%2e%2e/package.json", "src/index.ts"]) {
      expect((await fetch(url + path)).status, path).toBe(404);
    }
  });
});
