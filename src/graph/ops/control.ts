// Control flow: If, Loop and Scan. If: a condition known when planning (a constant, a shape comparison, or a small
// input the session plans per value) replaces the node by the branch it takes; a condition that
// depends on run-time data plans both branches, and the run takes one (see plan.ts).
import { fail } from "../../errors.js";
import { DataType } from "../../onnx/onnx-proto.js";
import type { Subgraph } from "../import.js";
import { gradOpDef, registerOp } from "../registry.js";
import { intAttr, type SubgraphBuilder, subgraphBuilder } from "./inline.js";
import { knownScalar } from "./util.js";

registerOp<{ thenBranch: Subgraph; elseBranch: Subgraph }>({
  type: "If",
  parse: (at) => ({
    thenBranch: at.graph<Subgraph>("then_branch") ?? fail(at.where, "then_branch is required"),
    elseBranch: at.graph<Subgraph>("else_branch") ?? fail(at.where, "else_branch is required"),
  }),
  optionalValueInputs: [0],
  infer: (c) => c.fail("internal: If is inlined, not inferred"),
  inline(c) {
    const cond = c.need(0, "cond");
    if (cond.shape.reduce((a, d) => a * d, 1) !== 1) c.fail(`cond must hold one element, got shape [${cond.shape.join(",")}]`);
    const known = c.value(0);
    if (!known) return [c.attrs.thenBranch, c.attrs.elseBranch];
    return known.data[0] ? c.attrs.thenBranch : c.attrs.elseBranch;
  },
  algorithms: [],
});

// Loop: unrolled while planning, one iteration at a time. The trip count M and the initial
// condition must be known then (a constant, a shape, or a run-time value: a staged plan reads it
// first, see plan.ts). Iteration i is the body with its values renamed, reading i and the previous
// iteration's carried values, followed by a LoopNext node that reads the condition the body gave:
// when it is known while planning (PyTorch's `for` loops pass it through), the next iteration is
// planned at once; when the run computes it (a `while` loop), the plan stages there and goes on
// once the run has given it. Scan outputs are the iterations' values stacked on a new first axis.
// At the top level unrolled nodes join the node list, so a body node needing the run's values
// (Mask R-CNN resizes each mask to its box) stages per iteration too.

interface LoopAttrs {
  body: Subgraph;
  /** The node's input names (the unrolled body reads them). */
  inputs: readonly string[];
}

/** Where the unrolling stands after an iteration: what LoopNext (and the last iteration) needs. */
interface LoopState {
  readonly body: Subgraph;
  readonly where: string;
  readonly opset: number;
  /** Iterations done, and the most there may be (M; Infinity without one). */
  readonly done: number;
  readonly trips: number;
  /** The carried values' names after `done` iterations, and each scan output's values so far. */
  readonly carried: readonly string[];
  readonly scanned: readonly (readonly string[])[];
}

/** Iterations times body nodes beyond which a Loop is refused (the unrolled plan would be huge, or the loop never ends). */
const MAX_UNROLLED_NODES = 50_000;

/** The loop's outputs once it ends: the carried values, and the scan outputs stacked. */
function loopEnd(st: LoopState, b: SubgraphBuilder): Subgraph {
  const { body } = st;
  const carried = body.inputs!.length - 2;
  const stacked = st.scanned.map((values, j) => {
    const declared = body.outputs[1 + carried + j]!;
    return values.length === 0 ? b.constant(declared.dataType, [0], []) : b.stack(values, 0);
  });
  const outputs = [...st.carried, ...stacked].map((name, k) => ({ name, dataType: body.outputs[1 + k]!.dataType }));
  return { nodes: b.nodes, initializers: b.initializers, outputs, outerReads: [...st.carried, ...st.scanned.flat()] };
}

/**
 * Appends iteration `i` of `body` to `b`: its nodes with their values renamed (unique per
 * iteration), its inputs bound to `inputs` (names), its initializers as constants. Returns the
 * renaming, for the iteration's outputs.
 */
function unrollBody(b: SubgraphBuilder, body: Subgraph, i: number, where: string, inputs: readonly string[]): (name: string) => string {
  const names = new Map<string, string>();
  for (const [name, t] of body.initializers) names.set(name, b.constant(t.dataType, [...t.dims], Array.from(t.data)));
  body.inputs!.forEach((io, k) => names.set(io.name, inputs[k]!));
  const rename = (name: string) => (name ? (names.get(name) ?? name) : name);
  for (const n of body.nodes) {
    const ins = n.inputs.map(rename);
    const outs = n.outputs.map((o) => {
      if (!o) return o;
      const fresh = `${where}: iteration ${i} ${o}`;
      names.set(o, fresh);
      return fresh;
    });
    b.nodes.push({ ...n, index: -1, inputs: ins, outputs: outs, where: `${n.where} (iteration ${i})` });
  }
  return rename;
}

/** Body values read by a nested subgraph (an If inside the body) would need renaming inside it: refused. */
function refuseNestedReads(body: Subgraph): void {
  const local = new Set<string>([...(body.inputs ?? []).map((i) => i.name), ...body.initializers.keys(), ...body.nodes.flatMap((n) => n.outputs)]);
  for (const n of body.nodes)
    if (n.implicitInputs.some((r) => local.has(r))) fail(n.where, "a subgraph inside a loop body that reads the body's values is not supported");
}

/** Iteration `st.done` of the body, then LoopNext (or the end, after the last allowed iteration). */
function loopIteration(st: LoopState): Subgraph {
  const { body, where } = st;
  const i = st.done;
  if ((i + 1) * Math.max(1, body.nodes.length) > MAX_UNROLLED_NODES)
    fail(where, `the loop reached ${i + 1} iterations of a ${body.nodes.length}-node body: more than ${MAX_UNROLLED_NODES} nodes unrolled`);
  const carried = body.inputs!.length - 2;
  const b = subgraphBuilder(where, st.opset, `loop ${i}`);
  const rename = unrollBody(b, body, i, where, [b.constant(DataType.INT64, [], [i]), b.constant(DataType.BOOL, [], [1]), ...st.carried]);
  const next: LoopState = {
    ...st,
    done: i + 1,
    carried: body.outputs.slice(1, 1 + carried).map((o) => rename(o.name)),
    scanned: st.scanned.map((values, j) => [...values, rename(body.outputs[1 + carried + j]!.name)]),
  };
  if (next.done >= st.trips) return loopEnd(next, b);
  const outputs = body.outputs.slice(1).map((_, k) => `${where}: after iteration ${i} output ${k}`);
  b.nodes.push({
    index: -1,
    name: `${where} next`,
    opType: "LoopNext",
    def: gradOpDef("LoopNext")!,
    attrs: next,
    inputs: [rename(body.outputs[0]!.name), ...next.carried],
    outputs,
    // what later iterations and the end read besides the inputs (the body's outer values, the scan
    // values so far): dependencies a staged plan must carry across a cut
    implicitInputs: [...body.outerReads, ...next.scanned.flat()],
    where: `${where} (after iteration ${i})`,
  });
  return {
    nodes: b.nodes,
    initializers: b.initializers,
    outputs: outputs.map((name, k) => ({ name, dataType: body.outputs[1 + k]!.dataType })),
    outerReads: [],
  };
}

registerOp<LoopAttrs>({
  type: "Loop",
  parse(at) {
    const body = at.graph<Subgraph>("body") ?? fail(at.where, "body is required");
    const ins = body.inputs ?? [];
    if (ins.length < 2) fail(at.where, `the body must have at least 2 inputs (iteration number, condition), got ${ins.length}`);
    const carried = ins.length - 2;
    if (body.outputs.length < 1 + carried)
      fail(at.where, `the body has ${carried} carried value${carried === 1 ? "" : "s"}, so at least ${1 + carried} outputs, got ${body.outputs.length}`);
    if (at.node.input.length !== 2 + carried)
      fail(at.where, `the node has ${at.node.input.length} inputs; its body carries ${carried} values, so it needs ${2 + carried}`);
    if (at.node.output.length > body.outputs.length - 1)
      fail(at.where, `the node lists ${at.node.output.length} outputs; its body gives ${body.outputs.length - 1}`);
    refuseNestedReads(body);
    return { body, inputs: at.node.input };
  },
  valueInputs: [0, 1],
  infer: (c) => c.fail("internal: Loop is unrolled, not inferred"),
  inline(c) {
    const { body, inputs } = c.attrs;
    const M = knownScalar(c, 0, "M (the trip count)"),
      cond = knownScalar(c, 1, "cond");
    const st: LoopState = {
      body,
      where: c.where,
      opset: c.opset,
      done: 0,
      trips: M === undefined ? Infinity : Math.max(0, M),
      carried: inputs.slice(2),
      scanned: body.outputs.slice(1 + inputs.length - 2).map(() => []),
    };
    if (cond === 0 || st.trips === 0) return loopEnd(st, subgraphBuilder(c.where, c.opset, "loop end"));
    return loopIteration(st);
  },
  algorithms: [],
});

// (internal: kept apart from ONNX's ops, never imported from a file) After a Loop iteration: input 0 is the condition the body gave, then the carried values. Its
// condition known (while planning, or read by a staged plan), it is replaced by the next iteration
// or, once false, by the loop's outputs.
registerOp<LoopState>({
  type: "LoopNext",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  valueInputs: [0],
  infer: (c) => c.fail("internal: LoopNext is inlined, not inferred"),
  inline(c) {
    const cond = c.value(0) ?? c.fail("the loop condition must be known when planning");
    if (cond.data.length !== 1) c.fail(`the body's condition must hold one value, got ${cond.data.length}`);
    if (cond.data[0] === 0) return loopEnd(c.attrs, subgraphBuilder(c.attrs.where, c.attrs.opset, `loop end ${c.attrs.done}`));
    return loopIteration(c.attrs);
  },
  algorithms: [],
});

// Scan (opset 9+): the body runs once per element along each scan input's axis (reversed where
// scan_input_directions says 1), carrying its state; each scan output stacks the iterations'
// values along its axis (last first where scan_output_directions says 1). The count is a shape,
// so the body is unrolled while planning: slices by Gather, stacking by Unsqueeze and Concat.

interface ScanAttrs {
  body: Subgraph;
  inputs: readonly string[];
  scanInputs: number;
  inputAxes: readonly number[];
  inputDirections: readonly number[];
  outputAxes: readonly number[];
  outputDirections: readonly number[];
}

registerOp<ScanAttrs>({
  type: "Scan",
  parse(at, opset) {
    if (opset < 9) fail(at.where, "Scan before opset 9 (with a batch axis and sequence_lens) is not supported");
    const body = at.graph<Subgraph>("body") ?? fail(at.where, "body is required");
    const M = at.int("num_scan_inputs", -1);
    const n = at.node.input.length;
    if (!(M >= 1 && M <= n)) fail(at.where, `num_scan_inputs must be in [1, ${n}], got ${M}`);
    if ((body.inputs ?? []).length !== n) fail(at.where, `the body has ${(body.inputs ?? []).length} inputs, the node ${n}`);
    const state = n - M,
      K = body.outputs.length - state;
    if (K < 0) fail(at.where, `the body gives ${body.outputs.length} outputs, fewer than its ${state} state values`);
    if (at.node.output.length > body.outputs.length) fail(at.where, `the node lists ${at.node.output.length} outputs; its body gives ${body.outputs.length}`);
    const list = (name: string, len: number) => {
      const v = at.ints(name) ?? new Array<number>(len).fill(0);
      if (v.length !== len) fail(at.where, `${name} must have ${len} values, got ${v.length}`);
      return v;
    };
    const inputDirections = list("scan_input_directions", M),
      outputDirections = list("scan_output_directions", K);
    for (const d of [...inputDirections, ...outputDirections]) if (d !== 0 && d !== 1) fail(at.where, `scan directions must be 0 or 1, got ${d}`);
    refuseNestedReads(body);
    return {
      body,
      inputs: at.node.input,
      scanInputs: M,
      inputAxes: list("scan_input_axes", M),
      inputDirections,
      outputAxes: list("scan_output_axes", K),
      outputDirections,
    };
  },
  infer: (c) => c.fail("internal: Scan is unrolled, not inferred"),
  inline(c) {
    const a = c.attrs;
    const state = a.inputs.length - a.scanInputs;
    const K = a.body.outputs.length - state;
    const axes = a.inputAxes.map((ax, j) => {
      const x = c.need(state + j, `scan input ${j}`);
      const r = x.shape.length;
      if (!(ax >= -r && ax < r)) c.fail(`scan_input_axes[${j}] = ${ax} is outside rank ${r}`);
      return ax < 0 ? ax + r : ax;
    });
    const lengths = axes.map((ax, j) => c.need(state + j, `scan input ${j}`).shape[ax]!);
    const T = lengths[0]!;
    if (lengths.some((l) => l !== T)) c.fail(`the scan inputs' lengths along their axes differ: ${lengths.join(", ")}`);
    if (T * Math.max(1, a.body.nodes.length) > MAX_UNROLLED_NODES)
      c.fail(`${T} iterations of a ${a.body.nodes.length}-node body would unroll more than ${MAX_UNROLLED_NODES} nodes`);
    if (T === 0 && K > 0) c.fail("the scan inputs are empty: the scan outputs' shapes are unknown");
    const b = subgraphBuilder(c.where, c.opset, "scan");
    let carried = a.inputs.slice(0, state);
    const scanned: string[][] = Array.from({ length: K }, () => []);
    for (let i = 0; i < T; i++) {
      const slices = axes.map((ax, j) => {
        const t = a.inputDirections[j] ? T - 1 - i : i;
        return b.node("Gather", [a.inputs[state + j]!, b.constant(DataType.INT64, [], [t])], [intAttr("axis", ax)]);
      });
      const rename = unrollBody(b, a.body, i, c.where, [...carried, ...slices]);
      carried = a.body.outputs.slice(0, state).map((o) => rename(o.name));
      a.body.outputs.slice(state).forEach((o, k) => scanned[k]!.push(rename(o.name)));
    }
    const stacked = scanned.map((values, k) => {
      const ordered = a.outputDirections[k] ? [...values].reverse() : values;
      const rank = (a.body.outputs[state + k]!.shape?.length ?? -1) + 1;
      let ax = a.outputAxes[k]!;
      if (ax < 0) {
        if (rank < 1) c.fail(`scan_output_axes[${k}] is negative, but the body does not declare output ${state + k}'s rank`);
        ax += rank;
      }
      return b.stack(ordered, ax);
    });
    const outputs = [...carried, ...stacked].map((name, k) => ({ name, dataType: a.body.outputs[k]!.dataType }));
    return { nodes: b.nodes, initializers: b.initializers, outputs, outerReads: [...a.inputs.filter(Boolean), ...a.body.outerReads] };
  },
  algorithms: [],
});
