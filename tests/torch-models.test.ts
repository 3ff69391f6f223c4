// Small PyTorch exports (tests/torch-models/, made by scripts/torch_sweep_export.py --tiny: see its
// README) of the architectures users export: transformer encoder, MultiheadAttention, GRU audio net,
// LSTM tagger, UNet, PixelShuffle, GroupNorm, adaptive pooling, interpolation, ViT, Swin, ConvNeXt,
// a 3-D conv video net, a 3-D UNet; opsets 11, 13 and 17. Each file runs in every build on the sweep's seeded
// feeds (scripts/torch-sweep.mjs), at its declared shapes and, where it has dynamic axes, at a second
// shape; every output must match onnxruntime-node (computed here, one thread) within 1e-3 of its
// largest absolute value (the corpus rule).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without type declarations
import { shapesOf, sweepFeeds } from "../scripts/torch-sweep.mjs";
import { compareOutputs, type Feed, ortRunner, type Outputs, simdnetRunner } from "./corpus/corpus.js";
import { BUILDS_UNDER_TEST, engineFor } from "./harness.js";

interface TorchModel {
  model: string;
  opset: number;
  file: string;
  inputs: { name: string; type: string; dims: number[]; high?: number }[];
  dynamic: Record<string, Record<string, string>> | null;
}

const DIR = join(import.meta.dirname, "torch-models");
const manifest: TorchModel[] = JSON.parse(readFileSync(join(DIR, "manifest.json"), "utf8"));

/** onnxruntime-node's outputs per file and shape, computed once for all builds. */
const reference = new Map<string, Promise<Outputs>>();
function ortOutputs(bytes: Uint8Array, key: string, feeds: Record<string, Feed>): Promise<Outputs> {
  let r = reference.get(key);
  if (!r) {
    r = (async () => {
      const ort = await ortRunner(bytes);
      try {
        return await ort.run(feeds);
      } finally {
        await ort.release();
      }
    })();
    reference.set(key, r);
  }
  return r;
}

describe.each(BUILDS_UNDER_TEST)("PyTorch exports vs onnxruntime-node (%s build)", (build) => {
  it("the manifest lists every model at opsets 11, 13 and 17", () => {
    for (const name of new Set(manifest.map((m) => m.model)))
      expect(
        manifest
          .filter((m) => m.model === name)
          .map((m) => m.opset)
          .sort(),
        name,
      ).toEqual([11, 13, 17]);
  });

  it.each(manifest.map((m) => [`${m.model} opset ${m.opset}`, m] as const))("%s", async (_label, m) => {
    const engine = await engineFor(build);
    const bytes = new Uint8Array(readFileSync(join(DIR, m.file)));
    const session = await simdnetRunner(engine, bytes);
    try {
      for (const dims of shapesOf(m) as number[][][]) {
        const feeds: Record<string, Feed> = sweepFeeds(m.inputs, dims);
        const want = await ortOutputs(bytes, `${m.file} ${JSON.stringify(dims)}`, feeds);
        const got = await session.run(feeds);
        const { failure } = compareOutputs(got, want);
        expect(failure, `${m.file} at ${JSON.stringify(dims)}`).toBeUndefined();
      }
    } finally {
      await session.release();
    }
  });
});
