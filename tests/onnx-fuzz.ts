// The ONNX fuzzer behind tests/onnx-fuzz.test.ts: seeded mutants (byte flips, truncations, field
// mutations) of the shared conformance models, and the public entry points they are fed to.
//
// To fuzz another entry point, add it to ONNX_FUZZ_ENTRY_POINTS: every mutant goes through every
// entry point, and each must either succeed or throw a SimdnetError (an error wrapping another as
// its `cause` counts as that other), leaving the engine's heap as it found it. The entry points run
// synchronously on the test's engine (InferenceSession.create is fromBytes on a new engine).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../src/engine.js";
import { importOnnx } from "../src/onnx/model.js";
import { AttributeType, DataType, decodeModel, encodeModel, type ModelProto, type NodeProto } from "../src/onnx/onnx-proto.js";
import { importOnnxModel } from "../src/onnx/to-model.js";
import { InferenceSession } from "../src/graph/session.js";
import { mulberry32 } from "../src/random.js";

/** A graph input's feed: declared dimensions (symbolic or unknown ones 1), values from a ramp. */
interface FeedInput {
  name: string;
  shape?: (number | string | null)[];
  elemType: number;
}

/** Feeds for declared inputs, or undefined when they would be large (the fuzzer tests import, not throughput). */
function feedsFor(inputs: FeedInput[], maxElements = 1 << 16): Record<string, { dims: number[]; data: Float32Array; dataType?: number }> | undefined {
  const feeds: Record<string, { dims: number[]; data: Float32Array; dataType?: number }> = {};
  for (const i of inputs) {
    const dims = (i.shape ?? [1]).map((d) => (typeof d === "number" && d > 0 ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    if (!(n <= maxElements)) return undefined;
    feeds[i.name] = { dims, data: Float32Array.from({ length: n }, (_, k) => ((k % 13) - 6) / 4) };
  }
  return feeds;
}

export interface FuzzEntryPoint {
  name: string;
  /** Imports `bytes` (and runs the result on small feeds where it can), then frees everything it made. */
  run(engine: Engine, bytes: Uint8Array): void;
}

/** The public ONNX entry points, as a user calls them. */
export const ONNX_FUZZ_ENTRY_POINTS: FuzzEntryPoint[] = [
  {
    name: "importOnnx + run",
    run(engine, bytes) {
      const m = importOnnx(engine, bytes);
      try {
        const feeds = feedsFor(m.inputs);
        if (feeds) m.run(feeds);
      } finally {
        m.dispose();
      }
    },
  },
  {
    name: "importOnnxModel + runOnnx",
    run(engine, bytes) {
      const m = importOnnxModel(engine, bytes, { backward: false });
      try {
        const feeds = feedsFor(m.onnxInputs.map((b) => ({ name: b.name, shape: b.shape, elemType: DataType.FLOAT })));
        if (feeds) m.runOnnx(feeds);
      } finally {
        m.dispose();
      }
    },
  },
  {
    name: "InferenceSession.fromBytes + runSync",
    run(engine, bytes) {
      const s = InferenceSession.fromBytes(engine, bytes);
      try {
        const feeds = feedsFor(s.inputMetadata.map((i) => ({ name: i.name, shape: i.shape ? [...i.shape] : undefined, elemType: DataType.FLOAT })));
        if (feeds) s.runSync(feeds);
      } finally {
        void s.release();
      }
    },
  },
];

/** Every decodable model.onnx below the shared node/ and pytorch-converted/ folders (small graphs), sorted. */
export function seedModels(onnxDir: string, subdirs: readonly string[] = ["node", "pytorch-converted"]): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  for (const sub of subdirs) {
    const root = join(onnxDir, sub);
    let cases: string[];
    try {
      cases = readdirSync(root).sort();
    } catch {
      continue;
    }
    for (const c of cases) {
      const p = join(root, c, "model.onnx");
      try {
        if (!statSync(p).isFile()) continue;
        const bytes = new Uint8Array(readFileSync(p)); // a copy: Buffer.slice would be a view
        decodeModel(bytes); // seeds the decoder reads (a few cases use fields it refuses)
        out.push({ name: `${sub}/${c}`, bytes });
      } catch {
        // a case without a model, or one the decoder refuses
      }
    }
  }
  return out;
}

/** Values that break size and index arithmetic. */
const NASTY_INTS = [0, -1, 1, 2, 3, -2, 255, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, -(2 ** 53 - 1), 1e9, 1e15];
const NASTY_FLOATS = [0, -0, 1, -1, 1e-30, 1e30, 1e9, -1e9, 3.4e38, Infinity, -Infinity, NaN, 0.5, 2];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** One mutation of a decoded model (in place); returns what it did. */
function mutateModel(r: Rand, m: ModelProto, opTypes: string[]): string {
  const g = m.graph;
  const nodes = g.node;
  const choice = Math.floor(r() * 12);
  const node: NodeProto | undefined = nodes.length ? pick(r, nodes) : undefined;
  switch (choice) {
    case 0: {
      // an int / ints attribute to a nasty value
      const a = node?.attribute.filter((x) => x.type === AttributeType.INT || x.type === AttributeType.INTS);
      if (!a?.length) break;
      const at = pick(r, a);
      const v = pick(r, NASTY_INTS);
      if (at.type === AttributeType.INT) at.i = v;
      else if (at.ints?.length) at.ints[Math.floor(r() * at.ints.length)] = v;
      return `attribute ${at.name} of ${node!.opType} -> ${v}`;
    }
    case 1: {
      // a float attribute
      const a = node?.attribute.filter((x) => x.type === AttributeType.FLOAT || x.type === AttributeType.FLOATS);
      if (!a?.length) break;
      const at = pick(r, a);
      const v = pick(r, NASTY_FLOATS);
      if (at.type === AttributeType.FLOAT) at.f = v;
      else if (at.floats?.length) at.floats[Math.floor(r() * at.floats.length)] = v;
      return `attribute ${at.name} of ${node!.opType} -> ${v}`;
    }
    case 2: {
      // an initializer's values
      if (!g.initializer.length) break;
      const t = pick(r, g.initializer);
      if (!t.data.length) break;
      const v = t.dataType === DataType.FLOAT ? pick(r, NASTY_FLOATS) : pick(r, NASTY_INTS);
      t.data[Math.floor(r() * t.data.length)] = v;
      return `initializer ${t.name} value -> ${v}`;
    }
    case 3: {
      // an initializer's dims (the data keeps its length)
      if (!g.initializer.length) break;
      const t = pick(r, g.initializer);
      const d = [...t.dims];
      if (d.length && r() < 0.7) d[Math.floor(r() * d.length)] = Math.abs(pick(r, NASTY_INTS));
      else d.push(pick(r, [1, 2, 0]));
      t.dims = d;
      return `initializer ${t.name} dims -> [${d}]`;
    }
    case 4: {
      // a declared input shape
      if (!g.input.length) break;
      const i = pick(r, g.input);
      const s = [...(i.shape ?? [])];
      if (s.length && r() < 0.6) s[Math.floor(r() * s.length)] = pick(r, [0, 1, 2, 7, 65536, 2 ** 31, "N", null]);
      else if (r() < 0.5) s.pop();
      else s.push(pick(r, [1, 3]));
      i.shape = s;
      return `input ${i.name} shape -> [${s}]`;
    }
    case 5: {
      // the op type
      if (!node) break;
      const to = pick(r, [...opTypes, "__proto__", "constructor", "toString", "hasOwnProperty", ""]);
      const from = node.opType;
      node.opType = to;
      return `op ${from} -> ${to}`;
    }
    case 6: {
      // a node input renamed, emptied or added
      if (!node) break;
      const names = [...g.input.map((i) => i.name), ...g.initializer.map((t) => t.name), ...nodes.flatMap((n) => n.output), "", "nope", "__proto__"];
      if (node.input.length && r() < 0.6) node.input[Math.floor(r() * node.input.length)] = pick(r, names);
      else node.input.push(pick(r, names));
      return `inputs of ${node.opType} -> [${node.input}]`;
    }
    case 7: {
      // outputs: dropped, duplicated, renamed
      const k = r();
      if (k < 0.3) g.output = [];
      else if (k < 0.6 && g.output.length) g.output.push({ ...g.output[0]! });
      else if (g.output.length) g.output[0] = { ...g.output[0]!, name: pick(r, ["x", "", "nope", ...nodes.flatMap((n) => n.input)]) };
      return `outputs -> [${g.output.map((o) => o.name)}]`;
    }
    case 8: {
      // the opset
      const v = pick(r, [0, 1, 5, 6, 7, 9, 11, 13, 18, 25, 26, 99, 2 ** 31]);
      if (m.opsetImport.length) m.opsetImport[0]!.version = v;
      else m.opsetImport.push({ domain: "", version: v });
      return `opset -> ${v}`;
    }
    case 9: {
      // a node duplicated or removed
      if (!node) break;
      if (r() < 0.5) nodes.push(structuredClone(node));
      else nodes.splice(nodes.indexOf(node), 1);
      return `node ${node.opType} duplicated or removed`;
    }
    case 10: {
      // an attribute removed or its type changed
      if (!node?.attribute.length) break;
      const at = pick(r, node.attribute);
      if (r() < 0.5) node.attribute.splice(node.attribute.indexOf(at), 1);
      else at.type = pick(r, [AttributeType.INT, AttributeType.INTS, AttributeType.FLOAT, AttributeType.STRING, AttributeType.TENSOR, 99]);
      return `attribute ${at.name} of ${node.opType} removed or retyped`;
    }
    case 11: {
      // an initializer's data type
      if (!g.initializer.length) break;
      const t = pick(r, g.initializer);
      t.dataType = pick(r, [DataType.FLOAT, DataType.INT64, DataType.INT32, DataType.DOUBLE, DataType.BOOL, DataType.UINT8]);
      return `initializer ${t.name} type -> ${t.dataType}`;
    }
  }
  return "no change";
}

export interface Mutant {
  label: string;
  bytes: Uint8Array;
}

/**
 * `count` mutants of the seed models, deterministic for a seed: a third byte flips (1-8 bytes), a
 * sixth truncations, the rest one to three field mutations of the decoded model, re-encoded.
 */
export function* mutants(seeds: { name: string; bytes: Uint8Array }[], count: number, seed: number): Generator<Mutant> {
  const r = mulberry32(seed);
  const opTypes = [...new Set(seeds.flatMap((s) => decodeModel(s.bytes).graph.node.map((n) => n.opType)))].sort();
  for (let k = 0; k < count; k++) {
    const base = seeds[Math.floor(r() * seeds.length)]!;
    const kind = r();
    if (kind < 1 / 3) {
      const bytes = base.bytes.slice();
      const flips = 1 + Math.floor(r() * 8);
      const at: number[] = [];
      for (let f = 0; f < flips; f++) {
        const i = Math.floor(r() * bytes.length);
        bytes[i] = r() < 0.5 ? bytes[i]! ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
        at.push(i);
      }
      yield { label: `#${k} ${base.name}: bytes changed at ${at.join(",")}`, bytes };
    } else if (kind < 0.5) {
      const cut = Math.floor(r() * base.bytes.length);
      yield { label: `#${k} ${base.name}: truncated to ${cut} bytes`, bytes: base.bytes.slice(0, cut) };
    } else {
      const m = decodeModel(base.bytes);
      const done: string[] = [];
      for (let n = 1 + Math.floor(r() * 3); n > 0; n--) done.push(mutateModel(r, m, opTypes));
      let bytes: Uint8Array;
      try {
        bytes = encodeModel(m);
      } catch {
        continue; // a mutation the encoder cannot write (not a file anyone can make)
      }
      yield { label: `#${k} ${base.name}: ${done.join("; ")}`, bytes };
    }
  }
}
