// ONNX import: a decoded ModelProto becomes a Graph: every node checked against the op registry
// (one error listing every node the runtime cannot run, subgraphs included), attributes parsed,
// initializers converted to host tensors (half floats to float32, integers to i32), nodes sorted
// topologically (files whose nodes are out of order load as onnxruntime loads them), nodes no
// output depends on dropped, outputs nothing reads omitted. Subgraphs (If's branches) are imported
// the same way; the values they read from the enclosing graph count as inputs of their node. Calls
// of model-local functions (ModelProto.functions) are inlined first (see inlineFunctions).
// Nothing here touches an engine: planning (plan.ts) does, once input shapes are known.
import { fail, SimdnetError } from "../errors.js";
import { Attributes } from "../onnx/attributes.js";
import {
  type AttributeProto,
  DataType,
  type Dim,
  type FunctionProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "../onnx/onnx-proto.js";
import { type OpDef, opDef } from "./registry.js";
import { elemOf, type HostTensor, hostTensor } from "./types.js";

/** Default-domain opsets the runtime accepts. */
export const MIN_OPSET = 6;
export const MAX_OPSET = 28;

export interface GraphNode {
  /** Index in its graph's node list (errors name it). */
  readonly index: number;
  readonly name: string;
  readonly opType: string;
  readonly def: OpDef;
  readonly attrs: unknown;
  /** Input value names; "" for an omitted optional input. */
  readonly inputs: readonly string[];
  /** Output value names; "" for an output the file omits or nothing reads. */
  readonly outputs: readonly string[];
  /** Values of enclosing graphs its subgraphs read (If's branches): dependencies, not op inputs. */
  readonly implicitInputs: readonly string[];
  /** `onnx: node k "name" (OpType)`: the prefix of errors about this node. */
  readonly where: string;
}

export interface GraphIO {
  readonly name: string;
  /** ONNX element type (FLOAT if the file does not say). */
  readonly dataType: number;
  /** Declared shape (sizes, symbolic names or null), undefined when the file gives none. */
  readonly shape?: readonly Dim[];
}

/** A graph's nodes (topologically sorted) with its initializers and outputs. */
export interface Subgraph {
  /** A node attribute's graph inputs (Loop's body: iteration number, condition, carried values). */
  readonly inputs?: readonly GraphIO[];
  readonly nodes: readonly GraphNode[];
  readonly outputs: readonly GraphIO[];
  readonly initializers: ReadonlyMap<string, HostTensor>;
  /** Values of enclosing graphs the nodes read. */
  readonly outerReads: readonly string[];
}

export interface Graph extends Subgraph {
  readonly opset: number;
  /** Graph inputs that are not initializers, in file order. */
  readonly inputs: readonly GraphIO[];
}

/** The host form of a decoded TensorProto. */
export function tensorFromProto(t: TensorProto, where: string): HostTensor {
  elemOf(t.dataType, where);
  return hostTensor(t.dataType, t.dims, t.data);
}

/** The default-domain opset of a model (IR version 1/2 files may omit it: opset 1). */
export function defaultOpset(m: ModelProto): number {
  const o = m.opsetImport.find((x) => x.domain === "" || x.domain === "ai.onnx");
  return o ? o.version : 1;
}

const whereOf = (n: NodeProto, k: number, scope: string) => `onnx: ${scope}node ${k} "${n.name || n.output[0] || "?"}" (${n.opType})`;

/** Every node the registry lacks, subgraphs included (with their path). */
function unsupported(g: GraphProto, scope: string, out: string[]): void {
  g.node.forEach((n, k) => {
    const domainOk = n.domain === "" || n.domain === "ai.onnx";
    if (!domainOk || !opDef(n.opType)) out.push(`${n.opType}${domainOk ? "" : ` (domain "${n.domain}")`} at ${scope}node ${k} "${n.name}"`);
    for (const a of n.attribute) {
      if (a.g) unsupported(a.g, `${scope}node ${k} "${n.name}" ${a.name}: `, out);
      for (const s of a.graphs ?? []) unsupported(s, `${scope}node ${k} "${n.name}" ${a.name}: `, out);
    }
  });
}

/** Sequences, maps, sparse tensors and optionals are not supported: a graph input or output of one is refused. */
function refuseNonTensor(v: ValueInfoProto, what: string): void {
  if (v.nonTensor) fail(what, `is ${v.nonTensor === "optional" ? "an" : "a"} ${v.nonTensor}, not a tensor (only tensors are supported)`);
}

/** Builds the Graph of a decoded model; throws a SimdnetError naming every problem it can. */
export function importGraph(proto: ModelProto): Graph {
  if (!proto.graph) fail("onnx", "the model has no graph");
  const opset = defaultOpset(proto);
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    fail("onnx", `opset ${opset} of the default domain is not supported (supported: ${MIN_OPSET} to ${MAX_OPSET})`);
  }
  const g = proto.functions?.length ? inlineFunctions(proto, opset) : proto.graph;
  const bad: string[] = [];
  unsupported(g, "", bad);
  if (bad.length) throw new SimdnetError(`onnx: ${bad.length} unsupported node${bad.length > 1 ? "s" : ""}: ${bad.join("; ")}`);
  if (g.output.length === 0) fail("onnx", "the graph has no outputs");
  const inputs: GraphIO[] = [];
  const initNames = new Set(g.initializer.map((t) => t.name));
  for (const i of g.input) {
    if (initNames.has(i.name)) continue;
    refuseNonTensor(i, `onnx: input "${i.name}"`);
    elemOf(i.elemType || DataType.FLOAT, `onnx: input "${i.name}"`);
    inputs.push({ name: i.name, dataType: i.elemType || DataType.FLOAT, shape: i.shape });
  }
  const sub = importSubgraph(g, opset, "", new Set(inputs.map((i) => i.name)), () => false);
  return { ...sub, opset, inputs };
}

/**
 * Imports graph `g`: `given` are the names its nodes may read besides its initializers and its own
 * nodes' outputs (the main graph's inputs); `outer(name)` says whether an enclosing graph defines
 * a name (subgraphs read them; they are recorded in outerReads).
 */
export function importSubgraph(g: GraphProto, opset: number, scope: string, given: ReadonlySet<string>, outer: (name: string) => boolean): Subgraph {
  const initializers = new Map<string, HostTensor>();
  for (const t of g.initializer) {
    if (!t.name) fail("onnx", `${scope}an initializer has no name`);
    initializers.set(t.name, tensorFromProto(t, `onnx: ${scope}initializer "${t.name}"`));
  }
  for (const o of g.output) refuseNonTensor(o, `onnx: ${scope}output "${o.name}"`);
  const outputs: GraphIO[] = g.output.map((o) => ({ name: o.name, dataType: o.elemType || DataType.FLOAT, shape: o.shape }));
  const producer = new Map<string, number>();
  g.node.forEach((n, k) => {
    for (const o of n.output) {
      if (!o) continue;
      if (producer.has(o) || initializers.has(o) || given.has(o)) fail(whereOf(n, k, scope), `output "${o}" is already defined`);
      producer.set(o, k);
    }
  });
  const local = (name: string) => initializers.has(name) || given.has(name);
  const visible = (name: string) => local(name) || producer.has(name) || outer(name);

  // each node's subgraphs, imported with this graph's names visible to them
  const subgraphs = new Map<number, { attrs: Map<string, Subgraph>; reads: string[] }>();
  g.node.forEach((n, k) => {
    const graphs = n.attribute.filter((a) => a.g);
    if (graphs.length === 0) return;
    const attrs = new Map<string, Subgraph>();
    const reads = new Set<string>();
    for (const a of graphs) {
      // a subgraph's declared inputs (a Loop body's) are its own names, not reads of this graph
      const s = importSubgraph(a.g!, opset, `${scope}node ${k} "${n.name}" ${a.name}: `, new Set(a.g!.input.map((i) => i.name)), visible);
      attrs.set(a.name, s);
      for (const r of s.outerReads) reads.add(r);
    }
    subgraphs.set(k, { attrs, reads: [...reads] });
  });
  const depsOf = (k: number) => [...g.node[k]!.input.filter(Boolean), ...(subgraphs.get(k)?.reads ?? [])];

  // nodes some output depends on (walk back from the outputs)
  const needed = new Set<number>();
  const outerReads = new Set<string>();
  const stack: string[] = [];
  for (const o of outputs) {
    if (!visible(o.name)) fail("onnx", `${scope}graph output "${o.name}" is not produced by any node, initializer or input`);
    stack.push(o.name);
  }
  const seen = new Set<string>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const k = producer.get(v);
    if (k === undefined) {
      if (!local(v) && outer(v)) outerReads.add(v);
      continue;
    }
    if (needed.has(k)) continue;
    needed.add(k);
    for (const i of depsOf(k)) stack.push(i);
  }

  // topological order (Kahn with a min-heap on the file index: a sorted file keeps its order)
  const missing = new Map<number, number>();
  const consumers = new Map<number, number[]>();
  for (const k of needed) {
    const n = g.node[k]!;
    let count = 0;
    for (const i of depsOf(k)) {
      const p = producer.get(i);
      if (p === undefined) {
        if (!local(i) && !outer(i)) fail(whereOf(n, k, scope), `input "${i}" is not produced by any node, initializer or graph input`);
        continue;
      }
      count++;
      let list = consumers.get(p);
      if (!list) consumers.set(p, (list = []));
      list.push(k);
    }
    missing.set(k, count);
  }
  const heap = new MinHeap();
  for (const [k, c] of missing) if (c === 0) heap.push(k);
  const order: number[] = [];
  while (heap.size) {
    const k = heap.pop();
    order.push(k);
    for (const c of consumers.get(k) ?? []) {
      const left = missing.get(c)! - 1;
      missing.set(c, left);
      if (left === 0) heap.push(c);
    }
  }
  if (order.length !== needed.size) {
    const stuck = [...needed]
      .filter((k) => missing.get(k)! > 0)
      .slice(0, 8)
      .map((k) => whereOf(g.node[k]!, k, scope));
    fail("onnx", `the graph has a cycle through ${stuck.join(", ")}`);
  }

  // outputs nothing reads become omitted ("") so ops can skip them (Dropout's mask, MaxPool's indices)
  const read = new Set<string>(outputs.map((o) => o.name));
  for (const k of needed) for (const i of depsOf(k)) read.add(i);
  const nodes: GraphNode[] = order.map((k) => {
    const n = g.node[k]!;
    const where = whereOf(n, k, scope);
    const def = opDef(n.opType)!;
    const attrs = def.parse(new Attributes(n, where, subgraphs.get(k)?.attrs), nodeOpset.get(n) ?? opset);
    const outs = n.output.map((o) => (read.has(o) ? o : ""));
    return { index: k, name: n.name, opType: n.opType, def, attrs, inputs: n.input, outputs: outs, implicitInputs: subgraphs.get(k)?.reads ?? [], where };
  });
  for (const i of g.input) refuseNonTensor(i, `onnx: ${scope}input "${i.name}"`);
  const inputs: GraphIO[] = g.input.map((i) => ({ name: i.name, dataType: i.elemType || DataType.FLOAT, shape: i.shape }));
  return { inputs, nodes, outputs, initializers, outerReads: [...outerReads] };
}

/**
 * The default-domain opset a function body's node was written for, where it differs from the
 * model's (its attributes are parsed for it; planning uses the model's opset).
 */
const nodeOpset = new WeakMap<NodeProto, number>();

const MAX_FUNCTION_DEPTH = 32;
const functionKey = (domain: string, name: string, overload = "") => `${domain === "ai.onnx" ? "" : domain}\u0000${name}\u0000${overload}`;

/**
 * The model's graph with every call of a model-local function replaced by the function's body
 * (recursively: functions calling functions, calls inside subgraphs): formal inputs and outputs
 * bound to the call's values, the body's other values renamed to names unique in the model, and
 * attribute references (ref_attr_name) replaced by the call's attributes or the function's
 * defaults (an attribute neither gives is left out, as ONNX says).
 */
function inlineFunctions(proto: ModelProto, opset: number): GraphProto {
  const functions = new Map<string, FunctionProto>();
  for (const f of proto.functions ?? []) functions.set(functionKey(f.domain, f.name, f.overload), f);
  const used = new Set<string>();
  const collect = (g: GraphProto) => {
    for (const v of [...g.input, ...g.output, ...g.valueInfo]) used.add(v.name);
    for (const t of g.initializer) used.add(t.name);
    for (const n of g.node) {
      for (const v of [...n.input, ...n.output]) used.add(v);
      for (const a of n.attribute) for (const s of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) collect(s);
    }
  };
  collect(proto.graph);
  for (const f of functions.values()) for (const n of f.node) for (const v of [...n.input, ...n.output]) used.add(v);
  const fresh = (base: string) => {
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };

  const expandGraph = (g: GraphProto, stack: readonly string[], nodesOpset: number): GraphProto => ({
    ...g,
    node: expand(g.node, stack, nodesOpset),
  });
  const expand = (nodes: readonly NodeProto[], stack: readonly string[], nodesOpset: number): NodeProto[] => {
    const out: NodeProto[] = [];
    for (const n of nodes) {
      const call: NodeProto = n.attribute.some((a) => a.g || a.graphs)
        ? {
            ...n,
            attribute: n.attribute.map((a) =>
              a.g || a.graphs ? { ...a, g: a.g && expandGraph(a.g, stack, nodesOpset), graphs: a.graphs?.map((s) => expandGraph(s, stack, nodesOpset)) } : a,
            ),
          }
        : n;
      const key = functionKey(n.domain, n.opType, n.overload);
      const f = functions.get(key);
      if (!f) {
        if (nodesOpset !== opset) nodeOpset.set(call, nodesOpset);
        out.push(call);
        continue;
      }
      const what = `onnx: function "${f.domain ? `${f.domain}.` : ""}${f.name}" called by node "${n.name || n.output[0] || "?"}"`;
      if (stack.includes(key)) fail(what, "calls itself (recursive functions cannot be inlined)");
      if (stack.length >= MAX_FUNCTION_DEPTH) fail(what, `is nested deeper than ${MAX_FUNCTION_DEPTH} calls`);
      const fOpset = f.opsetImport.find((o) => o.domain === "" || o.domain === "ai.onnx")?.version ?? nodesOpset;
      if (fOpset < MIN_OPSET || fOpset > MAX_OPSET)
        fail(what, `opset ${fOpset} of the default domain is not supported (supported: ${MIN_OPSET} to ${MAX_OPSET})`);
      out.push(...expand(instantiate(f, call, what), [...stack, key], fOpset));
    }
    return out;
  };

  const instantiate = (f: FunctionProto, call: NodeProto, what: string): NodeProto[] => {
    if (call.input.length > f.input.length) fail(what, `has ${call.input.length} inputs; the function takes at most ${f.input.length}`);
    if (call.output.length > f.output.length) fail(what, `has ${call.output.length} outputs; the function gives at most ${f.output.length}`);
    const prefix = `${call.name || call.output[0] || f.name}/`;
    const rename = new Map<string, string>();
    f.input.forEach((x, i) => rename.set(x, call.input[i] ?? ""));
    f.output.forEach((y, i) => rename.set(y, call.output[i] || fresh(`${prefix}${y}`)));
    for (const b of f.node) for (const o of b.output) if (o && !rename.has(o)) rename.set(o, fresh(`${prefix}${o}`));
    const given = new Map(call.attribute.map((a) => [a.name, a]));
    const defaults = new Map(f.attributeProto.map((a) => [a.name, a]));
    const bindAttrs = (attrs: readonly AttributeProto[], names: ReadonlyMap<string, string>): AttributeProto[] => {
      const out: AttributeProto[] = [];
      for (const a of attrs) {
        if (a.refAttrName) {
          const v = given.get(a.refAttrName) ?? defaults.get(a.refAttrName);
          if (v) out.push({ ...v, name: a.name });
          continue;
        }
        if (a.g || a.graphs) out.push({ ...a, g: a.g && bindGraph(a.g, names), graphs: a.graphs?.map((s) => bindGraph(s, names)) });
        else out.push(a);
      }
      return out;
    };
    // a subgraph in the body reads the body's values by their function names; its own names stay
    const bindGraph = (g: GraphProto, names: ReadonlyMap<string, string>): GraphProto => {
      const inner = new Map(names);
      for (const v of g.input) inner.delete(v.name);
      for (const t of g.initializer) inner.delete(t.name);
      for (const n of g.node) for (const o of n.output) inner.delete(o);
      const r = (v: string) => inner.get(v) ?? v;
      return {
        ...g,
        node: g.node.map((n) => ({ ...n, input: n.input.map(r), attribute: bindAttrs(n.attribute, inner) })),
        output: g.output.map((o) => ({ ...o, name: r(o.name) })),
      };
    };
    return f.node.map((b) => ({
      ...b,
      name: `${prefix}${b.name || b.opType}`,
      input: b.input.map((v) => {
        if (!v) return "";
        const to = rename.get(v);
        if (to === undefined) fail(what, `its node "${b.name || b.opType}" reads "${v}", which is neither an input of the function nor made in it`);
        return to;
      }),
      output: b.output.map((o) => (o ? rename.get(o)! : "")),
      attribute: bindAttrs(b.attribute, rename),
    }));
  };

  return expandGraph(proto.graph, [], opset);
}

/** A binary min-heap of integers. */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      a[p] = v;
      i = p;
    }
  }
  pop(): number {
    const a = this.a,
      top = a[0]!,
      last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
