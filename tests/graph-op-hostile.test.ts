// Hostile one-operator graphs for EVERY registered op (registeredOps(), so a new op is covered the
// day it is registered): from each op's valid base case (tests/op-cases.ts), seeded mutants with
// extreme attribute values (0, negative, 2^31, 2^32...), rank 0 and rank 7+ inputs, zero-sized and
// mismatched shapes, NaN/Inf data, wrong element types, initializers whose data does not fill their
// dims, huge or out-of-range index/shape/count inputs, missing and extra inputs and outputs. Each
// goes through InferenceSession (plan and run) and, for ops with a gradient, a training step; each
// must succeed or throw a SimdnetError (never a raw TypeError/RangeError or a wasm trap), leave
// the heap as it found it and take seconds at most (no hang); afterwards the engine still computes.
// SIMDNET_HOSTILE_CASES changes the number of mutants per op, SIMDNET_HOSTILE_SEED the seed,
// SIMDNET_HOSTILE_BUILD the wasm build (default simd).
import { describe, expect, it } from "vitest";
import { init } from "../src/engine.js";
import type { BuildName } from "../src/runtime.js";
import { SimdnetError } from "../src/errors.js";
import { opDef, registeredOps } from "../src/graph/registry.js";
import { InferenceSession } from "../src/graph/session.js";
import { Attributes } from "../src/onnx/attributes.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type ModelProto } from "../src/onnx/onnx-proto.js";
import { mulberry32 } from "../src/random.js";
import { caseModel, GENERIC_CASE, OP_CASES, type OpCase, valuesFor } from "./op-cases.js";

const CASES = Number(process.env.SIMDNET_HOSTILE_CASES ?? 60);
const SEED = Number(process.env.SIMDNET_HOSTILE_SEED ?? 1);
const BUILD = (process.env.SIMDNET_HOSTILE_BUILD ?? "simd") as BuildName;
const NASTY_INTS = [0, -1, 1, 2, 3, -2, 7, 255, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, -(2 ** 53 - 1), 1e9, 1e15];
const NASTY_FLOATS = [0, -0, 1, -1, 1e-30, 1e30, 1e9, -1e9, 3.4e38, Infinity, -Infinity, NaN, 0.5, 2];
const NASTY_STRINGS = [
  "",
  "bogus",
  "NOTSET",
  "SAME_UPPER",
  "SAME_LOWER",
  "VALID",
  "reflect",
  "edge",
  "wrap",
  "constant",
  "linear",
  "cubic",
  "nearest",
  "bilinear",
  "bicubic",
  "border",
  "reflection",
  "zeros",
  "half_pixel",
  "align_corners",
  "tf_crop_and_resize",
  "floor",
  "ceil",
  "round_prefer_ceil",
  "ij,jk->ik",
  "ij->",
  "i,i",
  "...ij->...ji",
  "ii->i",
  "ab,bc,cd->ad",
  "a->aa",
  "ij,jk",
  "->",
  ",",
  "i j,j k->i k",
  "ij,jk->iz",
  "ÿ->ÿ",
  "abcdefghijklmnopqrstuvwxyz->a",
  "...,...->...",
  "..i,i->",
  "I,I->",
  "ij,jk->ik,",
  "tanh",
  "Sigmoid",
  "Relu",
];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** The attributes an op's parser reads (name -> type), found by parsing an empty node through a recorder. */
function attributeNames(opType: string, opset: number): Map<string, number> {
  const seen = new Map<string, number>();
  const def = opDef(opType)!;
  class Recorder extends Attributes {
    override int(name: string, fallback: number) {
      seen.set(name, AttributeType.INT);
      return super.int(name, fallback);
    }
    override float(name: string, fallback: number) {
      seen.set(name, AttributeType.FLOAT);
      return super.float(name, fallback);
    }
    override string(name: string, fallback: string) {
      seen.set(name, AttributeType.STRING);
      return super.string(name, fallback);
    }
    override ints(name: string) {
      seen.set(name, AttributeType.INTS);
      return super.ints(name);
    }
    override floats(name: string) {
      seen.set(name, AttributeType.FLOATS);
      return super.floats(name);
    }
    override has(name: string) {
      if (!seen.has(name)) seen.set(name, -1);
      return super.has(name);
    }
    override only(names: readonly string[]) {
      for (const n of names) if (!seen.has(n)) seen.set(n, -1);
      super.only(names);
    }
  }
  try {
    def.parse(new Recorder({ name: "n", opType, domain: "", input: [], output: [], attribute: [] }, "probe"), opset);
  } catch {
    // a required attribute missing: the names read before it still count
  }
  return seen;
}

/** One attribute of `name` with a nasty value of type `type` (-1: unknown, any type). */
function nastyAttribute(r: Rand, name: string, type: number, base?: AttributeProto): AttributeProto {
  const t = type >= 0 ? type : pick(r, [AttributeType.INT, AttributeType.INTS, AttributeType.FLOAT, AttributeType.STRING]);
  const len = base?.ints?.length ?? base?.floats?.length ?? Math.floor(r() * 5);
  const count = r() < 0.7 ? len : Math.floor(r() * 9);
  switch (t) {
    case AttributeType.INT:
      return { name, type: t, i: pick(r, NASTY_INTS) };
    case AttributeType.INTS: {
      const ints = base?.ints ? [...base.ints] : Array.from({ length: count }, () => pick(r, [0, 1, 2, 3]));
      if (count !== ints.length) ints.length = count;
      for (let k = 0; k < ints.length; k++) ints[k] ??= 1;
      if (ints.length) ints[Math.floor(r() * ints.length)] = pick(r, NASTY_INTS);
      return { name, type: t, ints };
    }
    case AttributeType.FLOAT:
      return { name, type: t, f: pick(r, NASTY_FLOATS) };
    case AttributeType.FLOATS:
      return { name, type: t, floats: Array.from({ length: count }, () => pick(r, NASTY_FLOATS)) };
    default:
      return { name, type: AttributeType.STRING, s: pick(r, NASTY_STRINGS) };
  }
}

/** Dims with a size that can be fed (at most 2^16 elements) of a random hostile kind. */
function hostileDims(r: Rand, dims: number[]): number[] {
  switch (Math.floor(r() * 6)) {
    case 0:
      return [];
    case 1:
      return Array.from({ length: 7 + Math.floor(r() * 3) }, () => 1 + Math.floor(r() * 2));
    case 2: {
      const d = dims.length ? [...dims] : [3];
      d[Math.floor(r() * d.length)] = 0;
      return d;
    }
    case 3: {
      const d = dims.length ? [...dims] : [3];
      const k = Math.floor(r() * d.length);
      d[k] = Math.max(1, d[k]! + pick(r, [-1, 1, 2, 5]));
      return d;
    }
    case 4:
      return dims.slice(0, Math.max(0, dims.length - 1));
    default:
      return [...dims, pick(r, [1, 2, 3])];
  }
}

const sizeOf = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

interface Mutant {
  label: string;
  model: ModelProto;
  feeds: Record<string, { dims: number[]; data: number[]; type?: string }>;
}

/** One mutant of op `opType`'s base case: 1 to 3 hostile changes. */
function mutant(r: Rand, opType: string, base: OpCase, attrs: Map<string, number>): Mutant {
  const c: OpCase = structuredClone(base);
  c.attrs ??= [];
  const done: string[] = [];
  const overrides: (number[] | undefined)[] = [];
  const dataLength: (number | undefined)[] = [];
  for (let m = 1 + Math.floor(r() * 3); m > 0; m--) {
    const present = c.inputs.map((t, k) => (t ? k : -1)).filter((k) => k >= 0);
    const kind = Math.floor(r() * 12);
    const k = present.length ? pick(r, present) : -1;
    const t = k >= 0 ? c.inputs[k]! : undefined;
    switch (kind) {
      case 0:
      case 1: {
        // an attribute the parser reads, to a nasty value
        const names: string[] = [...new Set([...attrs.keys(), ...c.attrs.map((a) => a.name)])];
        if (!names.length) break;
        const name: string = pick(r, names);
        const old = c.attrs.find((a) => a.name === name);
        const type = old?.type ?? attrs.get(name) ?? -1;
        const a = nastyAttribute(r, name, r() < 0.9 ? type : -1, old);
        c.attrs = [...c.attrs.filter((x) => x.name !== name), a];
        done.push(`attribute ${name} = ${JSON.stringify(a.i ?? a.ints ?? a.f ?? a.floats ?? a.s)}`);
        break;
      }
      case 2: {
        // an input's shape (values follow)
        if (!t) break;
        t.dims = hostileDims(r, t.dims);
        t.values = undefined;
        done.push(`input ${k} dims [${t.dims}]`);
        break;
      }
      case 3: {
        // a constant whose dims and data disagree, or huge dims over little data
        if (!t || t.kind !== "init") break;
        const len = sizeOf(t.dims);
        if (r() < 0.5) {
          dataLength[k] = pick(r, [0, 1, Math.max(0, len - 1), len + 1, len * 2]);
          done.push(`input ${k} dims [${t.dims}] with ${dataLength[k]} values`);
        } else {
          const d = t.dims.length ? [...t.dims] : [1];
          d[Math.floor(r() * d.length)] = pick(r, [2 ** 31, 2 ** 32, 2 ** 31 - 1, 65536 * 65536, 1e15, 2 ** 53 - 1]);
          t.dims = d;
          dataLength[k] = len;
          done.push(`input ${k} dims [${d}] with ${len} values`);
        }
        break;
      }
      case 4:
      case 5: {
        // nasty values (indices, shapes, counts out of range; NaN/Inf)
        if (!t) break;
        const vals = valuesFor(t, r);
        if (!vals.length) break;
        const float = t.dataType === DataType.FLOAT;
        const at = Math.floor(r() * vals.length);
        vals[at] = float ? pick(r, NASTY_FLOATS) : pick(r, NASTY_INTS);
        if (r() < 0.3) vals.fill(vals[at]!);
        overrides[k] = vals;
        done.push(`input ${k} value ${vals[at]}${vals.every((v) => Object.is(v, vals[at])) ? " (all)" : ""}`);
        break;
      }
      case 6: {
        // a wrong element type
        if (!t) break;
        t.dataType = pick(r, [DataType.FLOAT, DataType.INT64, DataType.INT32, DataType.BOOL, DataType.UINT8, DataType.DOUBLE, DataType.INT8, DataType.FLOAT16]);
        t.values = undefined;
        done.push(`input ${k} type ${t.dataType}`);
        break;
      }
      case 7: {
        // an input omitted, dropped, or one too many
        const q = r();
        if (q < 0.3 && k >= 0) c.inputs[k] = null;
        else if (q < 0.6) c.inputs.pop();
        else
          c.inputs.push(
            pick(r, [
              { kind: "feed", dataType: DataType.FLOAT, dims: [2, 3] },
              { kind: "init", dataType: DataType.INT64, dims: [1], values: [pick(r, NASTY_INTS)] },
            ]),
          );
        done.push(`inputs ${c.inputs.map((x) => (x ? x.kind : "-")).join(",")}`);
        break;
      }
      case 8: {
        const o = pick(r, [6, 7, 9, 11, 12, 13, 14, 16, 17, 18, 20, 21, 28]);
        c.opset = o;
        done.push(`opset ${o}`);
        break;
      }
      case 9: {
        c.outputs = pick(r, [1, 2, 3, 4]);
        done.push(`${c.outputs} outputs`);
        break;
      }
      case 10: {
        // a feed turned constant or a constant turned feed
        if (!t) break;
        t.kind = t.kind === "feed" ? "init" : "feed";
        done.push(`input ${k} as ${t.kind}`);
        break;
      }
      default: {
        // a large but affordable shape (tiles, loops)
        if (!t) break;
        t.dims = t.dims.length ? t.dims.map((d, i) => (i === t.dims.length - 1 ? 1000 + Math.floor(r() * 5) : d)) : [1001];
        if (sizeOf(t.dims) > 1 << 16) t.dims = [1, 1001];
        t.values = undefined;
        done.push(`input ${k} dims [${t.dims}]`);
      }
    }
  }
  const values = c.inputs.map((t, k) => {
    if (!t) return undefined;
    if (sizeOf(t.dims) > 1 << 16) dataLength[k] ??= 1; // data that cannot fill the dims
    const v = overrides[k] && overrides[k]!.length === sizeOf(t.dims) ? overrides[k]! : valuesFor(sizeOf(t.dims) > 1 << 16 ? { ...t, dims: [4] } : t, r);
    if (dataLength[k] !== undefined) return Array.from({ length: Math.min(dataLength[k]!, 1 << 16) }, (_, i) => v[i % Math.max(1, v.length)] ?? 1);
    return v;
  });
  const { model, feeds } = caseModel(opType, c, values);
  return { label: `${opType}: ${done.join("; ") || "base"}`, model, feeds };
}

/** Why `err` is not a clean SimdnetError (or one wrapping another error), else "". */
function rawError(err: unknown): string {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 10; e = (e as Error).cause, depth++) {
    if (!(e instanceof SimdnetError)) return e instanceof Error ? `${e.name}: ${e.message}` : `thrown ${String(e)}`;
  }
  return "";
}

/** Plans and runs `m` (and a training step when the op has a gradient and the model has parameters). */
function runMutant(engine: Awaited<ReturnType<typeof init>>, m: Mutant, bytes: Uint8Array, train: boolean): void {
  const s = InferenceSession.fromBytes(engine, bytes);
  try {
    const outs = s.runSync(m.feeds);
    if (!train) return;
    const lossOutputs = Object.keys(outs).filter((name) => outs[name]!.data instanceof Float32Array);
    if (!lossOutputs.length) return;
    const t = s.trainable({ lossOutputs });
    try {
      if (!t.parameters().length) return;
      const out = t.forward(m.feeds);
      const grads: Record<string, Float32Array> = {};
      for (const name of t.lossOutputs) grads[name] = new Float32Array(out[name]!.data.length).fill(1);
      t.backward(grads);
    } finally {
      t.release();
    }
  } finally {
    void s.release();
  }
}

describe("hostile one-operator graphs, every registered op", () => {
  it("every registered op has a base case that runs", async () => {
    const engine = await init({ build: BUILD, memoryLimit: 256 * 2 ** 20 });
    const missing = registeredOps().filter((op) => !OP_CASES[op]);
    expect(missing, "add a base case to tests/op-cases.ts").toEqual([]);
    const broken: string[] = [];
    for (const op of registeredOps()) {
      if (op === "If" || op === "Loop" || op === "Scan") continue; // need graph attributes: their mutants test the refusals
      const c = OP_CASES[op]!(3);
      const r = mulberry32(1);
      const { model, feeds } = caseModel(
        op,
        c,
        c.inputs.map((t) => (t ? valuesFor(t, r) : undefined)),
      );
      try {
        runMutant(engine, { label: op, model, feeds }, encodeModel(model), !!opDef(op)!.gradient);
      } catch (err) {
        broken.push(`${op}: ${(err as Error).message}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it(`${CASES} mutants per op give only SimdnetErrors, leave the heap unchanged and stay fast`, { timeout: 1200 * Math.max(100, CASES) }, async () => {
    // a small budget: a mutant asking for a huge buffer is refused at once
    const engine = await init({ build: BUILD, memoryLimit: 256 * 2 ** 20 });
    const problems: string[] = [];
    let ok = 0,
      refused = 0;
    for (const op of registeredOps()) {
      const base = (OP_CASES[op] ?? GENERIC_CASE)(3);
      const attrs = attributeNames(op, base.opset ?? 13);
      const train = !!opDef(op)!.gradient;
      let seed = SEED;
      for (const ch of op) seed = (Math.imul(seed, 31) + ch.charCodeAt(0)) | 0;
      const r = mulberry32(seed);
      for (let k = 0; k < CASES; k++) {
        const m = mutant(r, op, base, attrs);
        let bytes: Uint8Array;
        try {
          bytes = encodeModel(m.model);
        } catch {
          continue; // a mutant the encoder cannot write (an int64 of Infinity): not a file anyone can make
        }
        const before = engine.heap.bytesInUse;
        const t0 = performance.now();
        try {
          runMutant(engine, m, bytes, train);
          ok++;
        } catch (err) {
          const raw = rawError(err);
          if (raw) problems.push(`#${k} ${m.label}: ${raw}`);
          else refused++;
        }
        const ms = performance.now() - t0;
        if (ms > 10_000) problems.push(`#${k} ${m.label}: took ${ms.toFixed(0)} ms`);
        if (ms > 2000 && process.env.SIMDNET_HOSTILE_SEED) console.log(`slow: #${k} ${m.label}: ${ms.toFixed(0)} ms`);
        if (engine.heap.bytesInUse !== before) {
          problems.push(`#${k} ${m.label}: bytes in use ${before} -> ${engine.heap.bytesInUse}`);
          break;
        }
        if (engine.heap.bytesQuarantined !== 0) problems.push(`#${k} ${m.label}: quarantined bytes`);
      }
    }
    expect(problems, problems.join("\n")).toEqual([]);
    // the mutants reach past the checks, and the checks refuse some
    expect(ok).toBeGreaterThan(registeredOps().length * CASES * 0.1);
    expect(refused).toBeGreaterThan(registeredOps().length * CASES * 0.1);
    const s = InferenceSession.fromBytes(engine, encodeModel(caseModel("Relu", OP_CASES.Relu!(2), [[-1, 2, -3, 4, 5, -6, 7, -8]]).model));
    expect(Array.from(s.runSync({ in0: { dims: [1, 2, 2, 2], data: [-1, 2, -3, 4, 5, -6, 7, -8] } }).out0!.data as Float32Array)).toEqual([
      0, 2, 0, 4, 5, 0, 7, 0,
    ]);
    await s.release();
  });
});
