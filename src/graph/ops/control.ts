// Control flow: If and Loop. If: a condition known when planning (a constant, a shape comparison, or a small
// input the session plans per value) replaces the node by the branch it takes; a condition that
// depends on run-time data plans both branches, and the run takes one (see plan.ts).
import { fail } from "../../errors.js";
import { AttributeType, DataType } from "../../onnx/onnx-proto.js";
import type { Subgraph } from "../import.js";
import { registerOp } from "../registry.js";
import type { HostTensor } from "../types.js";
import { subgraphBuilder } from "./inline.js";

const intAttr = (name: string, i: number) => ({ name, type: AttributeType.INT, i });
const intsAttr = (name: string, ints: number[]) => ({ name, type: AttributeType.INTS, ints });

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

// Loop, as PyTorch exports `for` loops: unrolled while planning. The trip count M and the initial
// condition must be known then (a constant, a shape, or a run-time value: a staged plan reads it
// first, see plan.ts), and the body must pass its condition through (or make it a constant
// true), so the count is fixed; a body that computes its condition (a `while` loop) is refused.
// Iteration i is the body with its values renamed, reading i and the previous iteration's carried
// values; scan outputs are the iterations' values stacked on a new first axis. At the top level
// the unrolled nodes join the node list, so a body node needing the run's values (Mask R-CNN
// resizes each mask to its box) stages there.

interface LoopAttrs {
  body: Subgraph;
  /** The node's input names (the unrolled body reads them). */
  inputs: readonly string[];
}

/** Iterations times body nodes beyond which a Loop is refused (the unrolled plan would be huge). */
const MAX_UNROLLED_NODES = 200_000;

/**
 * Whether body output 0 (the condition) is the condition input passed through, the node's own
 * condition input read from the enclosing graph (loop-invariant), or a constant true.
 */
function passesConditionThrough(body: Subgraph, nodeCond: string): boolean {
  const cond = body.inputs![1]!.name;
  let name = body.outputs[0]!.name;
  for (let hops = 0; hops < body.nodes.length + 1; hops++) {
    if (name === cond || (nodeCond !== "" && name === nodeCond)) return true;
    const init = body.initializers.get(name);
    if (init) return init.data.length === 1 && init.data[0] !== 0;
    const p = body.nodes.find((n) => n.outputs.includes(name));
    if (!p) return false;
    if (p.opType === "Constant") {
      const t = p.attrs as HostTensor;
      return t.data.length === 1 && t.data[0] !== 0;
    }
    if (p.opType !== "Identity") return false;
    name = p.inputs[0]!;
  }
  return false;
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
    return { body, inputs: at.node.input };
  },
  valueInputs: [0, 1],
  infer: (c) => c.fail("internal: Loop is unrolled, not inferred"),
  inline(c) {
    const { body, inputs } = c.attrs;
    const bodyInputs = body.inputs!;
    const carried = bodyInputs.length - 2,
      scans = body.outputs.length - 1 - carried;
    const scalar = (i: number, name: string): number | undefined => {
      if (!inputs[i]) return undefined;
      const v = c.value(i) ?? c.fail(`${name} must be known when planning`);
      if (v.data.length !== 1) c.fail(`${name} must hold one value, got ${v.data.length}`);
      return v.data[0]!;
    };
    const M = scalar(0, "M (the trip count)"),
      cond = scalar(1, "cond");
    if (!passesConditionThrough(body, inputs[1] ?? ""))
      c.fail("the body computes its loop condition (a while loop): only loops whose count is known when planning are supported");
    if (M === undefined && cond !== 0) c.fail("the loop has no trip count and its condition stays true: it would never end");
    const trips = cond === 0 ? 0 : Math.max(0, M!);
    if (trips * Math.max(1, body.nodes.length) > MAX_UNROLLED_NODES)
      c.fail(`${trips} iterations of a ${body.nodes.length}-node body would plan ${trips * body.nodes.length} nodes (at most ${MAX_UNROLLED_NODES})`);
    // body values read by a nested subgraph (an If inside the body) would need renaming inside it
    const local = new Set<string>([...bodyInputs.map((i) => i.name), ...body.initializers.keys(), ...body.nodes.flatMap((n) => n.outputs)]);
    for (const n of body.nodes)
      if (n.implicitInputs.some((r) => local.has(r))) c.fail(`${n.where}: a subgraph inside a Loop body that reads the body's values is not supported`);

    const b = subgraphBuilder(c.where, c.opset, "loop");
    const constants = new Map([...body.initializers].map(([name, t]) => [name, b.constant(t.dataType, [...t.dims], Array.from(t.data))]));
    let state = inputs.slice(2);
    const scanned: string[][] = Array.from({ length: scans }, () => []);
    for (let i = 0; i < trips; i++) {
      const names = new Map(constants);
      names.set(bodyInputs[0]!.name, b.constant(DataType.INT64, [], [i]));
      names.set(bodyInputs[1]!.name, b.constant(DataType.BOOL, [], [1]));
      bodyInputs.slice(2).forEach((io, k) => names.set(io.name, state[k]!));
      const rename = (name: string) => (name ? (names.get(name) ?? name) : name);
      for (const n of body.nodes) {
        const ins = n.inputs.map(rename);
        const outs = n.outputs.map((o) => {
          if (!o) return o;
          const fresh = `${c.where}: iteration ${i} ${o}`;
          names.set(o, fresh);
          return fresh;
        });
        b.nodes.push({ ...n, index: -1, inputs: ins, outputs: outs, where: `${n.where} (iteration ${i})` });
      }
      state = body.outputs.slice(1, 1 + carried).map((o) => rename(o.name));
      body.outputs.slice(1 + carried).forEach((o, j) => scanned[j]!.push(rename(o.name)));
    }
    const stacked = scanned.map((values, j) => {
      const declared = body.outputs[1 + carried + j]!;
      if (values.length === 0) return b.constant(declared.dataType, [0], []);
      const rows = values.map((v) => (c.opset >= 13 ? b.node("Unsqueeze", [v, b.ints([0])], []) : b.node("Unsqueeze", [v], [intsAttr("axes", [0])])));
      return rows.length === 1 ? rows[0]! : b.node("Concat", rows, [intAttr("axis", 0)]);
    });
    const outputs = [...state, ...stacked].map((name, k) => ({ name, dataType: body.outputs[1 + k]!.dataType }));
    return { nodes: b.nodes, initializers: b.initializers, outputs, outerReads: [...inputs.filter(Boolean), ...body.outerReads] };
  },
  algorithms: [],
});
