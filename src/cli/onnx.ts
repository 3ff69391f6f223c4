// The ONNX subcommands of the command line:
//   onnx-test    run ONNX backend-test case folders (and light_<net>.onnx files), one line per case
//   run          one inference of a .onnx file from the command line
//   export-onnx  a zoo model (with trained weights) as a .onnx file
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { init } from "../engine.js";
import { SimdnetError } from "../errors.js";
import type { BuildName } from "../runtime.js";
import { createModel } from "../model/model.js";
import { loadWeights } from "../model/weights.js";
import { arangeInput, findOnnxCases, formatOnnxResult, runOnnxCase } from "../onnx/conformance.js";
import { exportOnnx } from "../onnx/export.js";
import { importOnnx, type OnnxTensorData } from "../onnx/model.js";
import { DataType, decodeModel, decodeTensor } from "../onnx/onnx-proto.js";
import { importOnnxModel, NotConvertibleError } from "../onnx/to-model.js";
import { mulberry32 } from "../model/init.js";
import { zooSpec } from "./zoo-registry.js";

type Flags = Record<string, string | boolean | undefined>;

/** `simdnet onnx-test <case>...`: prints PASS/FAIL lines and "N passed, N failed"; returns the exit code. */
export async function onnxTest(paths: string[], build: "auto" | BuildName, via: string | undefined): Promise<number> {
  if (paths.length === 0) throw new SimdnetError("onnx-test needs case directories, light_<net>.onnx files or directories of cases");
  if (via !== undefined && !["auto", "model", "executor"].includes(via)) throw new SimdnetError(`--via must be auto, model or executor, got '${via}'`);
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
      const r = await runOnnxCase(c, { engine, via: via as "auto" | "model" | "executor" | undefined });
      console.log(formatOnnxResult(r));
      if (r.passed) passed++;
      else failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

/** A feed for a declared input: a TensorProto file, "random" (uniform [0, 1), seed 1) or "arange" (the light nets' input). */
function feedFor(spec: string, dims: number[]): OnnxTensorData {
  if (spec === "arange") return arangeInput(dims);
  if (spec === "random") {
    const r = mulberry32(1);
    return { dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r()), dataType: DataType.FLOAT };
  }
  if (!existsSync(spec)) throw new SimdnetError(`--input ${spec}: no such file (give a TensorProto .pb file, random or arange)`);
  const t = decodeTensor(readFileSync(spec), spec);
  return { dims: t.dims, data: t.data, dataType: t.dataType };
}

/** `simdnet run model.onnx [--input file.pb|random|arange]...`: output names, shapes, first values, top-5. */
export async function runOnnxFile(positionals: string[], flags: Flags): Promise<void> {
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new SimdnetError("run needs exactly one model.onnx file");
  const proto = decodeModel(readFileSync(file));
  const inits = new Set(proto.graph.initializer.map((t) => t.name));
  const inputs = proto.graph.input.filter((i) => !inits.has(i.name));
  const specs = String(flags.input ?? "arange").split(",");
  if (specs.length !== 1 && specs.length !== inputs.length) throw new SimdnetError(`--input gives ${specs.length} inputs, the model has ${inputs.length}`);
  const feeds = inputs.map((i, k) =>
    feedFor(
      specs[specs.length === 1 ? 0 : k]!,
      (i.shape ?? []).map((d) => (typeof d === "number" && d > 0 ? d : 1)),
    ),
  );
  const top = flags.top === undefined ? 5 : Number(flags.top);
  if (!Number.isInteger(top) || top < 0) throw new SimdnetError(`--top must be a non-negative integer, got '${flags.top}'`);
  const engine = await init({ build: (flags.build as "auto" | BuildName | undefined) ?? "auto" });
  const t0 = performance.now();
  let outputs: Record<string, OnnxTensorData>, via: string;
  try {
    const m = importOnnxModel(engine, proto, { backward: false, inputShapes: Object.fromEntries(inputs.map((i, k) => [i.name, feeds[k]!.dims])) });
    outputs = m.runOnnx(feeds);
    via = "model";
    m.dispose();
  } catch (err) {
    if (!(err instanceof NotConvertibleError)) throw err;
    const m = importOnnx(engine, readFileSync(file));
    outputs = m.run(feeds);
    via = "executor";
    m.dispose();
  }
  console.log(`${file}: ${inputs.length} input(s), run via ${via} (${engine.build} build) in ${(performance.now() - t0).toFixed(1)} ms`);
  for (const [name, t] of Object.entries(outputs)) {
    const first = Array.from(t.data.subarray(0, 8), (v) => +v.toPrecision(6)).join(", ");
    console.log(`${name} [${t.dims.join(",")}]: ${first}${t.data.length > 8 ? ", ..." : ""}`);
    // class scores: [N, K] or [N, K, 1, 1]
    const classes = t.dims[1] ?? 0;
    if (top > 0 && t.dims.length >= 2 && classes > 1 && t.dims.slice(2).every((d) => d === 1)) {
      for (let r = 0; r < t.dims[0]!; r++) {
        const row = Array.from(t.data.subarray(r * classes, (r + 1) * classes), (v, i) => [v, i] as const)
          .sort((a, b) => b[0] - a[0])
          .slice(0, top);
        console.log(`  top-${row.length}${t.dims[0]! > 1 ? ` (row ${r})` : ""}: ${row.map(([v, i]) => `#${i} ${+v.toPrecision(4)}`).join("  ")}`);
      }
    }
  }
}

/** `simdnet export-onnx [--model lenet5] [--weights FILE] [--out model.onnx]`. */
export async function exportOnnxFile(flags: Flags, zooOptions: { classes?: number; channels?: number; inputSize?: number }): Promise<void> {
  const name = (flags.model as string | undefined) ?? "lenet5";
  const engine = await init({ build: (flags.build as "auto" | BuildName | undefined) ?? "auto" });
  const model = createModel(engine, zooSpec(name, zooOptions), { backward: false });
  if (flags.weights) loadWeights(model, readFileSync(String(flags.weights)));
  const out = (flags.out as string | undefined) ?? `${name}.onnx`;
  const bytes = exportOnnx(model, { graphName: name });
  writeFileSync(out, bytes);
  console.log(`wrote ${out} (${bytes.length} bytes, opset 13, input ${model.graph.inputs[0]!.name} NCHW)`);
  model.dispose();
}
