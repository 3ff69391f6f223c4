// `simdnet viz <kind>`: each kind writes a PNG that decodes, for LeNet-5 weights saved by saveWeights.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode } from "fast-png";
import { afterAll, describe, expect, it, vi } from "vitest";
import * as nn from "../src/index.js";
import { VIZ_KINDS, vizCommand } from "../src/cli/viz.js";

const dir = mkdtempSync(join(tmpdir(), "simdnet-viz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("simdnet viz", async () => {
  const e = await nn.init({ build: "simd" });
  const m = nn.createModel(e, nn.lenet5(), { seed: 5 });
  const weights = join(dir, "lenet5.safetensors");
  writeFileSync(weights, nn.saveWeights(m));
  m.dispose();

  it.each(VIZ_KINDS)("%s writes a PNG", async (kind) => {
    const out = join(dir, `${kind}.png`);
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const extra =
        kind === "class-model" ? ["--class", "3", "--steps", "5"] : kind === "tsne" || kind === "neighbours" ? ["--count", "40", "--steps", "30"] : [];
      expect(await vizCommand([kind, "--weights", weights, "--out", out, "--index", "2", "--build", "simd", ...extra])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const png = decode(readFileSync(out));
    expect(png.width).toBeGreaterThan(20);
    expect(png.height).toBeGreaterThan(20);
  });

  it("rejects an unknown kind, missing weights and a bad class", async () => {
    await expect(vizCommand(["nope", "--weights", weights])).rejects.toThrow(/viz needs one of filters/);
    await expect(vizCommand(["filters"])).rejects.toThrow(/--weights/);
    await expect(vizCommand(["saliency", "--weights", weights, "--class", "12", "--out", join(dir, "x.png")])).rejects.toThrow(
      /class must be an integer in \[0, 10\)/,
    );
  });
});
