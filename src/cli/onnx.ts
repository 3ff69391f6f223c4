// The ONNX subcommands of the command line:
//   onnx-test    run ONNX backend-test case folders (and light_<net>.onnx files), one line per case
//   run          one inference of a .onnx file from the command line (an InferenceSession)
//   export-onnx  a zoo model (with trained weights) as a .onnx file
import { existsSync } from "node:fs";
import { init } from "../engine.js";
import { SimdnetError } from "../errors.js";
import type { BuildName } from "../runtime.js";
import { createModel } from "../model/model.js";
import { loadWeights } from "../model/weights.js";
import { arangeInput, findOnnxCases, formatOnnxResult, runOnnxCase } from "../onnx/conformance.js";
import { exportOnnx } from "../onnx/export.js";
import { DataType, decodeTensor } from "../onnx/onnx-proto.js";
import { InferenceSession, type OnnxFeedLike, onnxTensorType, type SessionIOMetadata } from "../graph/session.js";
import { decodeImage, resizeImage } from "../data/images.js";
import { mulberry32 } from "../model/init.js";
import { zooSpec } from "./zoo-registry.js";
import { checkOutputPath, readInput, writeFileAtomic } from "./files.js";

type Flags = Record<string, string | boolean | undefined>;

/**
 * `simdnet onnx-test <case>...`: runs each case through an InferenceSession; prints PASS/FAIL lines
 * and "N passed, N failed"; returns the exit code.
 */
export async function onnxTest(paths: string[], build: "auto" | BuildName): Promise<number> {
  if (paths.length === 0) throw new SimdnetError("onnx-test needs case directories, light_<net>.onnx files or directories of cases");
  const engine = await init({ build });
  let passed = 0,
    failed = 0;
  for (const p of paths) {
    if (!existsSync(p)) {
      console.log(`FAIL ${p} (no such file or directory)`);
      failed++;
      continue;
    }
    const cases = findOnnxCases(p);
    if (cases.length === 0) {
      console.log(`FAIL ${p} (no cases: no model.onnx or .onnx file below it)`);
      failed++;
    }
    for (const c of cases) {
      const r = await runOnnxCase(c, { engine });
      console.log(formatOnnxResult(r));
      if (r.passed) passed++;
      else failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

/**
 * The shape of each input for `run`: the declared dims, symbolic ones from `--shape
 * name=1x3x224x224` (a full shape for an input) or `--shape batch=4` (a symbolic dimension by its
 * name); a dimension still unknown is an error naming it (it used to become 1 silently).
 */
function inputShapes(inputs: readonly SessionIOMetadata[], shapeFlag: string | undefined): number[][] {
  const full = new Map<string, number[]>(),
    dims = new Map<string, number>();
  for (const part of (shapeFlag ?? "").split(",").filter(Boolean)) {
    const m = /^([^=]+)=([0-9x]+)$/.exec(part.trim());
    if (!m) throw new SimdnetError(`--shape ${part}: expected name=1x3x224x224 (an input) or name=4 (a symbolic dimension)`);
    const values = m[2]!.split("x").map(Number);
    if (values.some((v) => !Number.isSafeInteger(v) || v < 0)) throw new SimdnetError(`--shape ${part}: dimensions must be integers >= 0`);
    if (inputs.some((i) => i.name === m[1])) full.set(m[1]!, values);
    else if (values.length === 1) dims.set(m[1]!, values[0]!);
    else throw new SimdnetError(`--shape ${part}: "${m[1]}" is not an input (${inputs.map((i) => i.name).join(", ")})`);
  }
  return inputs.map((i) => {
    const given = full.get(i.name);
    if (given) return given;
    if (!i.shape) throw new SimdnetError(`input "${i.name}" declares no shape: give --shape ${i.name}=...`);
    return i.shape.map((d, k) => {
      if (typeof d === "number" && d >= 0) return d;
      if (typeof d === "string" && dims.has(d)) return dims.get(d)!;
      throw new SimdnetError(
        `input "${i.name}" dimension ${k} is ${d === null ? "unknown" : `"${d}"`}: give --shape ${typeof d === "string" ? `${d}=N` : `${i.name}=${i.shape!.map((x) => (typeof x === "number" ? x : "N")).join("x")}`}`,
      );
    });
  });
}

/** Per-channel numbers from a flag ("0.485,0.456,0.406" or one for all channels). */
function channelValues(flag: unknown, name: string, channels: number, fallback: number): number[] {
  if (flag === undefined) return new Array<number>(channels).fill(fallback);
  const v = String(flag).split(",").map(Number);
  if (v.some((x) => !Number.isFinite(x)) || (v.length !== 1 && v.length !== channels)) {
    throw new SimdnetError(`--${name} must be one number or ${channels} comma-separated numbers, got '${flag}'`);
  }
  return v.length === 1 ? new Array<number>(channels).fill(v[0]!) : v;
}

/**
 * A feed for an input of `dims`: a TensorProto file (.pb), "random" (uniform [0, 1), seed 1),
 * "arange" (the light nets' input), or PNG / JPEG images (one per batch row), resized to the
 * input's height and width, scaled to [0, 1], then (x - mean) / std per channel, laid out NCHW
 * or NHWC as the input declares (channels of 1 or 3 where dimension 1 or the last one is).
 */
function feedFor(specs: string[], dims: number[], flags: Flags): { dims: number[]; data: Float32Array | Float64Array; dataType: number } {
  const spec = specs[0]!;
  if (spec === "arange") return arangeInput(dims);
  if (spec === "random") {
    const r = mulberry32(1);
    return { dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r()), dataType: DataType.FLOAT };
  }
  for (const f of specs)
    if (!existsSync(f)) throw new SimdnetError(`--input ${f}: no such file (give a TensorProto .pb file, PNG or JPEG images, random or arange)`);
  if (/\.pb$/i.test(spec)) {
    const t = decodeTensor(readInput(spec, "--input"), spec);
    return { dims: t.dims, data: t.data, dataType: t.dataType };
  }
  if (dims.length !== 4) throw new SimdnetError(`images need an input of rank 4 (NCHW or NHWC), this one is [${dims.join(",")}]`);
  const nchw = dims[1] === 1 || dims[1] === 3;
  const [n, c, h, w] = nchw ? [dims[0]!, dims[1]!, dims[2]!, dims[3]!] : [dims[0]!, dims[3]!, dims[1]!, dims[2]!];
  if (c !== 1 && c !== 3) throw new SimdnetError(`images need 1 or 3 channels in dimension 1 (NCHW) or 3 (NHWC), the input is [${dims.join(",")}]`);
  const batch = specs.length;
  if (n !== batch && flags.shape === undefined) dims = nchw ? [batch, c, h, w] : [batch, h, w, c];
  else if (n !== batch) throw new SimdnetError(`${batch} image(s) for a batch of ${n}`);
  const mean = channelValues(flags.mean, "mean", c, 0),
    std = channelValues(flags.std, "std", c, 1);
  if (std.some((v) => v === 0)) throw new SimdnetError("--std must not be 0");
  const data = new Float32Array(batch * c * h * w);
  specs.forEach((file, b) => {
    const img = resizeImage(decodeImage(readInput(file, "--input"), file), h, w, c);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          const v = (img.data[(y * w + x) * c + ch]! / 255 - mean[ch]!) / std[ch]!;
          data[nchw ? ((b * c + ch) * h + y) * w + x : ((b * h + y) * w + x) * c + ch] = v;
        }
  });
  return { dims, data, dataType: DataType.FLOAT };
}

/**
 * `simdnet run model.onnx [--input file.pb|img.png,...|random|arange]... [--shape ...] [--mean ...]
 * [--std ...] [--labels labels.txt] [--top 5]`: one inference through an InferenceSession; prints
 * output names, shapes, first values and the top classes (named by the labels file, one per line).
 */
export async function runOnnxFile(positionals: string[], flags: Flags): Promise<void> {
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new SimdnetError("run needs exactly one model.onnx file");
  const modelBytes = readInput(file, "model");
  const top = flags.top === undefined ? 5 : Number(flags.top);
  if (!Number.isInteger(top) || top < 0) throw new SimdnetError(`--top must be a non-negative integer, got '${flags.top}'`);
  const labels =
    flags.labels === undefined
      ? undefined
      : new TextDecoder()
          .decode(readInput(String(flags.labels), "--labels"))
          .split(/\r?\n/)
          .filter((l) => l.trim() !== "");
  const engine = await init({
    build: (flags.build as "auto" | BuildName | undefined) ?? "auto",
    threads: flags.threads === undefined ? 1 : Number(flags.threads),
  });
  const t0 = performance.now();
  let session: InferenceSession;
  try {
    session = InferenceSession.fromBytes(engine, modelBytes);
  } catch (err) {
    engine.dispose();
    throw err;
  }
  const loadMs = performance.now() - t0;
  try {
    const inputs = session.inputMetadata;
    const shapes = inputShapes(inputs, flags.shape as string | undefined);
    // one spec per input, separated by ',' (or ';' when an input takes several images: a,b;c)
    const text = String(flags.input ?? "arange");
    const specs = text.includes(";") || inputs.length > 1 ? text.split(text.includes(";") ? ";" : ",") : [text];
    if (specs.length !== 1 && specs.length !== inputs.length) throw new SimdnetError(`--input gives ${specs.length} inputs, the model has ${inputs.length}`);
    const feeds: Record<string, OnnxFeedLike> = {};
    inputs.forEach((i, k) => {
      const f = feedFor(String(specs[specs.length === 1 ? 0 : k]!).split(","), shapes[k]!, flags);
      feeds[i.name] = { dims: f.dims, data: f.data, type: f.dataType === DataType.FLOAT16 ? "float32" : onnxTensorType(f.dataType) };
    });
    const t1 = performance.now();
    const outputs = session.runSync(feeds);
    const runMs = performance.now() - t1;
    console.log(
      `${file}: ${inputs.map((i) => `${i.name} [${feeds[i.name]!.dims.join(",")}]`).join(", ")}; ${engine.build} build; load ${loadMs.toFixed(1)} ms, run ${runMs.toFixed(1)} ms`,
    );
    for (const [name, t] of Object.entries(outputs)) {
      const values = Array.from(t.data as ArrayLike<number | bigint>, Number);
      const first = values
        .slice(0, 8)
        .map((v) => +v.toPrecision(6))
        .join(", ");
      console.log(`${name} [${t.dims.join(",")}]: ${first}${values.length > 8 ? ", ..." : ""}`);
      // class scores: [N, K] or [N, K, 1, 1]
      const classes = t.dims[1] ?? 0;
      if (top > 0 && t.dims.length >= 2 && classes > 1 && t.dims.slice(2).every((d) => d === 1)) {
        for (let r = 0; r < t.dims[0]!; r++) {
          const row = values
            .slice(r * classes, (r + 1) * classes)
            .map((v, i) => [v, i] as const)
            .sort((a, b) => b[0] - a[0])
            .slice(0, top);
          const named = (i: number) => (labels?.[i] !== undefined ? `${labels[i]} (#${i})` : `#${i}`);
          console.log(`  top-${row.length}${t.dims[0]! > 1 ? ` (row ${r})` : ""}: ${row.map(([v, i]) => `${named(i)} ${+v.toPrecision(4)}`).join("  ")}`);
        }
      }
    }
  } finally {
    await session.release();
    engine.dispose();
  }
}

/** `simdnet export-onnx [--model lenet5] [--weights FILE] [--out model.onnx]`. */
export async function exportOnnxFile(flags: Flags, zooOptions: { classes?: number; channels?: number; inputSize?: number }): Promise<void> {
  const name = (flags.model as string | undefined) ?? "lenet5";
  const out = (flags.out as string | undefined) ?? `${name}.onnx`;
  checkOutputPath(out, "--out");
  const engine = await init({ build: (flags.build as "auto" | BuildName | undefined) ?? "auto" });
  const model = createModel(engine, zooSpec(name, zooOptions), { backward: false });
  if (flags.weights) loadWeights(model, readInput(String(flags.weights), "--weights"));
  const bytes = exportOnnx(model, { graphName: name });
  writeFileAtomic(out, bytes, "--out");
  console.log(`wrote ${out} (${bytes.length} bytes, opset 13, input ${model.graph.inputs[0]!.name} NCHW)`);
  model.dispose();
}
