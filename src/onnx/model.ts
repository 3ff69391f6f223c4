// Importing and running an ONNX model: decode, check every node against the op table (one error
// listing every unsupported node), parse attributes, fold constant subgraphs (shape plumbing,
// ConstantOfShape weights), convert constant weights to device layouts once, then run the
// remaining nodes in order, freeing each intermediate after its last consumer.
import type { Engine } from "../engine.js";
import { fail, fmtShape, OutOfMemoryError, SimdnetError } from "../errors.js";
import { Attributes } from "./attributes.js";
import { type HostData, sizeOfDims } from "./host.js";
import { DataType, decodeModel, type Dim, type ModelProto, type NodeProto } from "./onnx-proto.js";
import { ONNX_OPS, type OnnxOp, tensorValue } from "./ops.js";
import { RunContext, Value } from "./value.js";

/** Lowest default-domain opset accepted (the conformance set's PyTorch exports use opset 6). */
export const MIN_OPSET = 6;
/**
 * Newest default-domain opset accepted: the newest whose semantics of the supported ops the
 * conformance cases check (ONNX 1.20, opset 25). A newer opset may change an op: refused, not guessed.
 */
export const MAX_OPSET = 25;

interface PlannedNode {
  node: NodeProto;
  op: OnnxOp;
  attrs: unknown;
  where: string;
}

/** A tensor going into or out of OnnxModel.run: dims, data (ONNX order) and ONNX data type. */
export interface OnnxTensorData {
  dims: number[];
  /** ONNX row-major order; float tensors as Float32Array. */
  data: HostData;
  dataType: number;
}

/** A graph input's data: dataType defaults to the declared element type (FLOAT if undeclared). */
export interface OnnxFeed {
  dims: number[];
  data: HostData;
  dataType?: number;
}

/** A graph input of an OnnxModel: its name, declared shape and element type. */
export interface OnnxInputInfo {
  name: string;
  /** Declared shape (numbers, symbolic names or null), undefined when the model gives none. */
  shape?: Dim[];
  elemType: number;
}

/** A decoded ONNX model bound to an engine: constants folded and weights packed. */
export class OnnxModel {
  /** Graph inputs that are not initializers, in graph order. */
  readonly inputs: OnnxInputInfo[];
  readonly outputs: string[];
  readonly opset: number;
  private readonly constants = new Map<string, Value>();
  private readonly plan: PlannedNode[] = [];
  private readonly consumers = new Map<string, number>();
  private readonly shapes = new Map<string, readonly number[]>();
  private disposed = false;

  constructor(
    readonly engine: Engine,
    readonly proto: ModelProto,
  ) {
    const g = proto.graph;
    this.opset = defaultOpset(proto);
    checkSupported(proto, this.opset);
    const ctx = new RunContext(engine, this.opset);
    try {
      const known = new Set<string>();
      for (const t of g.initializer) {
        const v = tensorValue(t);
        v.constant = true;
        this.constants.set(t.name, v);
        known.add(t.name);
      }
      this.inputs = g.input.filter((i) => !this.constants.has(i.name)).map((i) => ({ name: i.name, shape: i.shape, elemType: i.elemType }));
      for (const i of this.inputs) known.add(i.name);
      this.outputs = g.output.map((o) => o.name);

      // Static shapes (ONNX order) where known: constants, fully fixed graph inputs, inferred outputs.
      for (const [name, v] of this.constants) this.shapes.set(name, v.shape);
      for (const i of this.inputs) {
        if (i.shape && i.shape.every((d) => typeof d === "number" && d >= 0)) this.shapes.set(i.name, i.shape as number[]);
      }

      g.node.forEach((node, k) => {
        const where = `onnx: node ${k} "${node.name || node.output[0] || "?"}" (${node.opType})`;
        ctx.where = where;
        const op = ONNX_OPS[node.opType]!;
        const attrs = op.parse(new Attributes(node, where), this.opset);
        for (const name of node.input) {
          if (name && !known.has(name)) fail(where, `input "${name}" is not produced by any earlier node, initializer or graph input`);
        }
        for (const name of node.output) {
          if (!name) continue;
          if (known.has(name))
            fail(where, `output "${name}" is already produced by an earlier node, an initializer or a graph input (ONNX values are assigned once)`);
          known.add(name);
        }
        const ins = node.input.map((n) => (n ? this.constants.get(n) : undefined));
        const allConstant = node.input.every((n) => !n || this.constants.has(n));
        const allShapes = node.input.every((n) => !n || this.shapes.has(n));
        if ((allConstant && op.fold !== false) || (allShapes && op.foldOnShapes)) {
          const args = op.foldOnShapes ? node.input.map((n) => (n ? new Value(this.shapes.get(n)!) : undefined)) : ins;
          const outs = op.run(ctx, args, attrs, node.output.length);
          node.output.forEach((name, i) => {
            const v = outs[i];
            if (!v) return;
            if (!name) {
              if (!args.includes(v) && !v.constant) v.dispose(); // an output nothing reads
              return;
            }
            v.constant = true;
            this.constants.set(name, v);
            this.shapes.set(name, v.shape);
          });
          return;
        }
        if (op.shape && allShapes) {
          const infos = node.input.map((n) => (n ? { shape: this.shapes.get(n)!, value: this.constants.get(n) } : undefined));
          op.shape(ctx, infos, attrs).forEach((shape, i) => {
            const name = node.output[i];
            if (name && shape) this.shapes.set(name, shape);
          });
        }
        this.plan.push({ node, op, attrs, where });
        for (const name of node.input) if (name && !this.constants.has(name)) this.consumers.set(name, (this.consumers.get(name) ?? 0) + 1);
      });
      for (const o of this.outputs) if (!known.has(o)) fail("onnx", `graph output "${o}" is not produced by any node`);
      // Convert constant weights to their device layouts once, now.
      for (const p of this.plan) {
        ctx.where = p.where;
        p.op.prepare?.(
          ctx,
          p.node.input.map((n) => (n ? this.constants.get(n) : undefined)),
          p.attrs,
        );
      }
    } catch (err) {
      this.dispose();
      throw withContext(err, ctx.where);
    }
  }

  /** The op types of the nodes left to run on each call, in order (the others were folded at import). */
  get runOps(): string[] {
    return this.plan.map((p) => p.node.opType);
  }

  /** The static ONNX-order shape of a named value, if import-time inference determined it. */
  shapeOf(name: string): readonly number[] | undefined {
    return this.shapes.get(name);
  }

  /**
   * Runs the model. `feeds` maps input names (or, as an array, the non-initializer inputs in
   * order) to data in ONNX layout (NCHW images). Returns every graph output in ONNX layout.
   */
  run(feeds: Record<string, OnnxFeed> | OnnxFeed[]): Record<string, OnnxTensorData> {
    if (this.disposed) fail("onnx", "the model was disposed");
    const ctx = new RunContext(this.engine, this.opset);
    const values = new Map<string, Value>();
    const live = new Set<Value>();
    const given = Array.isArray(feeds) ? new Map(this.inputs.map((inp, i) => [inp.name, feeds[i]])) : new Map(Object.entries(feeds));
    const bind = (name: string, v: Value) => {
      values.set(name, v);
      if (v.constant) return;
      v.uses += this.consumers.get(name) ?? 0;
      if (this.outputs.includes(name)) v.uses += 1e9; // kept until the end
      live.add(v);
    };
    try {
      for (const inp of this.inputs) {
        const t = given.get(inp.name);
        if (!t) fail("onnx", `missing input "${inp.name}"`);
        bind(inp.name, this.inputValue(inp, t));
      }
      for (const p of this.plan) {
        ctx.where = p.where;
        const ins = p.node.input.map((n) => (n ? (values.get(n) ?? this.constants.get(n)) : undefined));
        const outs = p.op.run(ctx, ins, p.attrs, p.node.output.length);
        p.node.output.forEach((name, i) => {
          const v = outs[i];
          if (!v) return;
          if (name) bind(name, v);
          else if (!ins.includes(v) && !v.constant) v.dispose(); // an output nothing reads
        });
        for (const v of ins) {
          if (!v || v.constant) continue;
          if (--v.uses <= 0 && !outs.includes(v)) {
            v.dispose();
            live.delete(v);
          }
        }
      }
      const result: Record<string, OnnxTensorData> = {};
      for (const name of this.outputs) {
        const v = values.get(name) ?? this.constants.get(name)!;
        const data = ctx.host(v);
        result[name] = { dims: [...v.shape], data: data.slice(), dataType: v.dataType };
      }
      return result;
    } catch (err) {
      throw withContext(err, ctx.where);
    } finally {
      for (const v of live) v.dispose();
    }
  }

  private inputValue(inp: OnnxInputInfo, t: OnnxFeed): Value {
    const what = `onnx: input "${inp.name}"`;
    if (!t || !Array.isArray(t.dims) || !t.data) fail(what, "must be {dims, data}");
    if (sizeOfDims(t.dims) !== t.data.length) fail(what, `dims ${fmtShape(t.dims)} do not match ${t.data.length} values`);
    if (inp.shape) {
      if (inp.shape.length !== t.dims.length || inp.shape.some((d, i) => typeof d === "number" && d !== t.dims[i])) {
        fail(what, `expected shape [${inp.shape.map((d) => d ?? "?").join(",")}], got ${fmtShape(t.dims)}`);
      }
    }
    const type = t.dataType ?? (inp.elemType || DataType.FLOAT);
    return Value.fromHost(t.dims, t.data, type);
  }

  /** Frees every device tensor the model holds (weights). */
  dispose(): void {
    this.disposed = true;
    for (const v of this.constants.values()) v.dispose();
  }
}

/**
 * An error from inside an op, prefixed with the node it happened in (out-of-memory errors keep
 * their type). The original is the `cause`: an error that is not a SimdnetError (a bug, a wasm
 * trap) stays visible there.
 */
function withContext(err: unknown, where: string): unknown {
  if (!(err instanceof Error) || err instanceof OutOfMemoryError || err.message.startsWith(where)) return err;
  return new SimdnetError(`${where}: ${err.message}`, { cause: err });
}

export function defaultOpset(m: ModelProto): number {
  const o = m.opsetImport.find((x) => x.domain === "" || x.domain === "ai.onnx");
  // IR version 1/2 models may omit opset_import: they target opset 1
  return o ? o.version : 1;
}

/**
 * Checks the graph as a whole first (outputs declared, opset in [MIN_OPSET, MAX_OPSET]), then
 * throws one error listing every node whose op we cannot run, before anything runs.
 */
export function checkSupported(m: ModelProto, opset: number): void {
  if (m.graph.output.length === 0) throw new SimdnetError("onnx: the graph declares no outputs (GraphProto.output is empty)");
  if (opset > MAX_OPSET) {
    throw new SimdnetError(
      `onnx: the model imports opset ${opset} of the default domain; the newest supported is ${MAX_OPSET} (a newer opset may change an operator's meaning)`,
    );
  }
  const bad: string[] = [];
  m.graph.node.forEach((n, k) => {
    const domainOk = n.domain === "" || n.domain === "ai.onnx";
    if (!domainOk || !Object.hasOwn(ONNX_OPS, n.opType) || opset < MIN_OPSET) {
      const domain = domainOk ? "" : ` domain "${n.domain}"`;
      const v = domainOk ? opset : (m.opsetImport.find((o) => o.domain === n.domain)?.version ?? "?");
      bad.push(`${n.opType}${domain} (node ${k} "${n.name}", opset ${v})`);
    }
  });
  if (bad.length) {
    const why = opset < MIN_OPSET ? ` (opsets below ${MIN_OPSET} are not supported)` : "";
    throw new SimdnetError(`onnx: ${bad.length} unsupported node${bad.length > 1 ? "s" : ""}${why}: ${bad.join("; ")}`);
  }
}

/** Decodes `.onnx` bytes and prepares the model on `engine` (see OnnxModel). */
export function importOnnx(engine: Engine, bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array)) fail("importOnnx", "bytes must be a Uint8Array");
  return new OnnxModel(engine, decodeModel(bytes));
}
