// The real-model corpus's shared parts (tests/corpus.test.ts; reusable by benchmarks): the manifest's
// types, seeded feeds of each model's shape, simdnet behind one small interface (the planned
// runtime's InferenceSession), onnxruntime-node as the
// reference, and the comparison rule: every output within 1e-3 of its largest absolute value.
import * as ort from "onnxruntime-node";
import "../../src/graph/ops/index.js";
import { registeredOps } from "../../src/graph/registry.js";
import * as nn from "../../src/index.js";
import { mulberry32 } from "../../src/random.js";

export interface CorpusValueInfo {
  name: string;
  /** Element type as ONNX names it, lower case ("float", "int64", ...). */
  type: string;
  /** Declared dims: sizes, symbolic names, or null where the file gives neither. */
  dims: (number | string | null)[];
}

/**
 * A graph input and what the corpus feeds it: seeded uniform floats of `dims`, one integer `value`,
 * or `text`: a seeded synthetic page of dark glyph rows on a light ground ([1, C, H, W]), normalised
 * per channel as (pixel - mean) / std (OCR nets give near-zero outputs on noise).
 */
export interface CorpusInput extends CorpusValueInfo {
  feed: { dims: number[]; uniform?: [number, number]; value?: number; text?: { mean: number[]; std: number[] }; lines?: LinesFeed };
}

/**
 * `lines`: a seeded synthetic photo for line detectors, NHWC [1, H, W, C] with values in [0, 255]:
 * a smooth grey gradient with `count` straight bars 3 pixels wide in random dark colours; channel 3
 * (alpha, when C = 4) is 255. On uniform noise a peak-picking head (MaxPool + Equal) outputs values
 * of 1e-4 whose survival depends on float32 rounding in the last bit, which differs between
 * onnxruntime's own CPU kernels; clear lines give clear peaks.
 */
export interface LinesFeed {
  count: number;
}

export type CorpusStatus = "pass" | "error" | "mismatch";

export interface CorpusModel {
  id: string;
  title: string;
  task: string;
  package: string;
  version: string;
  license: string;
  modelLicense: string;
  /** The file inside the package, or the chunks to join (a resources file and its key). */
  path?: string;
  chunks?: { resources: string; key: string };
  /** "ci": run by npm test; "bench": too big or slow for it, benchmarks only. */
  tier: "ci" | "bench";
  size: number;
  sha256: string;
  irVersion: number;
  opset: Record<string, number>;
  producer: string;
  inputs: CorpusInput[];
  /** Declared outputs, with the shape onnxruntime-node gives for the corpus feeds. */
  outputs: (CorpusValueInfo & { shape: number[] })[];
  initializers: Record<string, number>;
  nodes: number;
  /** Operator histogram, nodes inside If/Loop bodies included. */
  ops: Record<string, number>;
  subgraphOps: Record<string, number>;
  /**
   * "float32": onnxruntime runs the file's float32 twin (tests/corpus/float32.ts) instead of the file,
   * for files whose float16 arithmetic in onnxruntime differs from float32 by more than the tolerance.
   */
  reference?: "float32";
  /**
   * The comparison tolerance (fraction of each output's largest value) when it is not TOLERANCE,
   * with the reason in `toleranceReason`.
   */
  tolerance?: number;
  toleranceReason?: string;
  /** What simdnet does with the file today; the test fails when that changes either way. */
  expect: CorpusStatus;
  /** The first line of today's error (or mismatch), for the blocker list. */
  error: string;
}

export interface CorpusResult {
  id: string;
  status: CorpusStatus;
  error?: string;
  /** The error's class name (a SimdnetError is a clear refusal; anything else is a crash). */
  errorType?: string;
  /** When simdnet lists the nodes it cannot run: how many of each op type. */
  unsupported?: Record<string, number>;
  /** The entry point that ran the model. */
  api: string;
  build: string;
  /** Worst output: max |simdnet - onnxruntime| / max |onnxruntime|. */
  worst?: { output: string; relErr: number };
  /** Milliseconds: simdnet import (+ plan), first and second run; onnxruntime-node session, first and second run. */
  ms: { load?: number; run?: number; run2?: number; ortLoad?: number; ortRun?: number; ortRun2?: number };
  date: string;
}

export { compareOutputs, TOLERANCE } from "../../scripts/compare-outputs.mjs";

export interface Feed {
  dims: number[];
  data: Float32Array | BigInt64Array;
  type: "float32" | "int64";
}

/**
 * A synthetic grey-level page, h x w in [0, 1], from a seeded generator: light ground (0.95) with rows
 * of dark "glyphs" (random-width boxes, 80% of their pixels at 0.1), 24 pixels high (less on short
 * images), one row per 56 pixels, or one centred row when the image is under 60 pixels high.
 */
export function textImage(h: number, w: number, r: () => number): Float32Array {
  const img = new Float32Array(h * w).fill(0.95);
  const line = Math.min(24, Math.floor(h / 2));
  const rows: number[] = [];
  if (h < 60) rows.push(Math.floor((h - line) / 2));
  else for (let y = 40; y + line < h; y += 56) rows.push(y);
  for (const row of rows) {
    let x = Math.floor(w / 20) + Math.floor(r() * 40);
    while (x < w - 40) {
      const gw = 6 + Math.floor(r() * 14);
      for (let y = row; y < row + line; y++) for (let xx = x; xx < x + gw && xx < w; xx++) if (r() < 0.8) img[y * w + xx] = 0.1;
      x += gw + 3 + Math.floor(r() * 6) + (r() < 0.15 ? 20 : 0);
    }
  }
  return img;
}

/** The `lines` image (see LinesFeed), [h, w, c] row-major, from the seeded generator r. */
export function linesImage(h: number, w: number, c: number, count: number, r: () => number): Float32Array {
  const img = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) img[(y * w + x) * c + ch] = ch === 3 ? 255 : 150 + (60 * (x + y)) / (w + h);
  for (let n = 0; n < count; n++) {
    const x0 = r() * w,
      y0 = r() * h,
      x1 = r() * w,
      y1 = r() * h;
    const colour = [r() * 80, r() * 80, r() * 80];
    const len = Math.hypot(x1 - x0, y1 - y0),
      steps = Math.ceil(len * 2);
    for (let s = 0; s <= steps; s++) {
      const cx = x0 + ((x1 - x0) * s) / steps,
        cy = y0 + ((y1 - y0) * s) / steps;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const px = Math.round(cx) + dx,
            py = Math.round(cy) + dy;
          if (px < 0 || py < 0 || px >= w || py >= h) continue;
          for (let ch = 0; ch < Math.min(c, 3); ch++) img[(py * w + px) * c + ch] = colour[ch]!;
        }
    }
  }
  return img;
}

/** The model's feeds: input k (0-based) draws from mulberry32(k + 1). */
export function corpusFeeds(m: CorpusModel): Record<string, Feed> {
  const feeds: Record<string, Feed> = {};
  m.inputs.forEach((inp, k) => {
    const { dims, uniform, value } = inp.feed;
    if (value !== undefined) {
      if (inp.type !== "int64") throw new Error(`${m.id}: input ${inp.name} is ${inp.type}; the corpus feeds integer values only to int64 inputs`);
      feeds[inp.name] = { dims, data: BigInt64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => BigInt(value)), type: "int64" };
      return;
    }
    if (inp.type !== "float") throw new Error(`${m.id}: input ${inp.name} is ${inp.type}; the corpus feeds floats only to float inputs`);
    const r = mulberry32(k + 1);
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    const { text, lines } = inp.feed;
    if (lines) {
      const [n, h, w, c] = dims as [number, number, number, number];
      for (let b = 0; b < n; b++) data.set(linesImage(h, w, c, lines.count, r), b * h * w * c);
    } else if (text) {
      const [n, c, h, w] = dims as [number, number, number, number];
      for (let b = 0; b < n; b++) {
        const img = textImage(h, w, r);
        for (let ch = 0; ch < c; ch++) {
          const at = (b * c + ch) * h * w;
          for (let i = 0; i < h * w; i++) data[at + i] = (img[i]! - text.mean[ch]!) / text.std[ch]!;
        }
      }
    } else {
      const [lo, hi] = uniform ?? [-1, 1];
      for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * r();
    }
    feeds[inp.name] = { dims, data, type: "float32" };
  });
  return feeds;
}

export interface Outputs {
  [name: string]: { dims: number[]; data: ArrayLike<number> };
}

export interface Runner {
  api: string;
  run(feeds: Record<string, Feed>): Promise<Outputs>;
  release(): Promise<void>;
}

/** The entry point simdnetRunner uses. */
export const simdnetApi = (): string => "InferenceSession";

/** The ONNX op types simdnet's runtime knows (its operator registry). */
export function simdnetOps(): string[] {
  return registeredOps();
}

/** simdnet on `bytes`: nn.InferenceSession. Throws what simdnet throws when it cannot take the file. */
export async function simdnetRunner(engine: nn.Engine, bytes: Uint8Array): Promise<Runner> {
  const s = await nn.InferenceSession.create(bytes, { engine });
  return {
    api: "InferenceSession",
    // int64 outputs come back as BigInt64Array, compared as such
    run: async (feeds) => (await s.run(feeds)) as unknown as Outputs,
    release: () => s.release(),
  };
}

/** onnxruntime-node on one thread: the reference. */
export async function ortRunner(bytes: Uint8Array): Promise<Runner> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  return {
    api: "onnxruntime-node",
    run: async (feeds) => {
      const f: Record<string, ort.Tensor> = {};
      for (const [name, v] of Object.entries(feeds)) f[name] = new ort.Tensor(v.type, v.data, v.dims);
      const out = await s.run(f);
      const result: Outputs = {};
      for (const [name, t] of Object.entries(out)) result[name] = { dims: [...t.dims], data: t.data as Float32Array };
      return result;
    },
    release: () => s.release(),
  };
}

/**
 * The op types an "N unsupported nodes: ..." error lists, with counts (both importers' wordings:
 * `Clip (node 218 "...")` and `Clip at node 218 "..."`); undefined for other errors.
 */
export function unsupportedOps(err: unknown): Record<string, number> | undefined {
  const msg = err instanceof Error ? err.message : String(err);
  if (!/unsupported nodes?/.test(msg)) return undefined;
  const counts: Record<string, number> = {};
  for (const m of msg.matchAll(/([A-Za-z][\w.:]*)(?: domain "[^"]*")? (?:\(node|at node) \d+/g)) counts[m[1]!] = (counts[m[1]!] ?? 0) + 1;
  return counts;
}

/** The first line of an error message, without the long per-node list beyond `max` characters. */
export const firstLine = (err: unknown, max = 300): string => {
  const s = (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
};
