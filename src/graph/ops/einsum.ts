// Einsum, planned as the ops it stands for (inlined while planning, like a known If): each operand's
// letters that nothing else needs summed (ReduceSum), then operands contracted pairwise, left to
// right, as one batched MatMul each (Transpose to [batch, kept, contracted] / [batch, contracted,
// kept], Reshape to 3 groups, MatMul with batch broadcasting, Reshape back), and the result summed
// and transposed to the output's letters. Ellipses are expanded to letters (right-aligned, sizes
// broadcast); an explicit output or the implicit one (ellipsis, then letters seen once, sorted).
// Gradients are those of the ops. A letter repeated within one operand (a diagonal) is refused.
import { fail } from "../../errors.js";
import { AttributeType, type AttributeProto } from "../../onnx/onnx-proto.js";
import { type InferContext, registerOp } from "../registry.js";
import { sizeOfDims } from "../types.js";
import { typedInput } from "./elementwise.js";
import { subgraphBuilder } from "./inline.js";

interface EinsumAttrs {
  equation: string;
  inputs: readonly string[];
}

interface Operand {
  name: string;
  letters: string[];
  shape: number[];
}

/** Letters an ellipsis stands for (k-th from the left of the longest one). */
const ellipsisLetter = (k: number) => String.fromCharCode(0x3b1 + k);

/** The equation's operand and output letter lists, ellipses expanded for these input ranks. */
export function parseEquation(c: { fail(m: string): never }, equation: string, ranks: readonly number[]): { terms: string[][]; output: string[] } {
  const eq = equation.replace(/\s+/g, "");
  const [lhs, rhs, ...more] = eq.split("->");
  if (lhs === undefined || more.length) c.fail(`equation "${equation}" must be "terms" or "terms->output"`);
  const raw = lhs.split(",");
  if (raw.length !== ranks.length) c.fail(`equation "${equation}" has ${raw.length} operands, the node ${ranks.length} inputs`);
  const valid = /^[A-Za-z]*(\.\.\.)?[A-Za-z]*$/;
  let maxE = 0;
  const counts = raw.map((t, i) => {
    if (!valid.test(t)) c.fail(`equation "${equation}": operand ${i} "${t}" must be letters with at most one "..."`);
    const letters = t.replace("...", "").length;
    const e = t.includes("...") ? ranks[i]! - letters : 0;
    if (e < 0 || (!t.includes("...") && letters !== ranks[i])) c.fail(`equation "${equation}": operand ${i} "${t}" does not match its rank ${ranks[i]}`);
    maxE = Math.max(maxE, e);
    return e;
  });
  const expand = (t: string, e: number) => {
    const at = t.indexOf("...");
    const ell = Array.from({ length: e }, (_, k) => ellipsisLetter(maxE - e + k));
    return at < 0 ? [...t] : [...t.slice(0, at), ...ell, ...t.slice(at + 3)];
  };
  const terms = raw.map((t, i) => expand(t, counts[i]!));
  for (const [i, t] of terms.entries())
    if (new Set(t).size !== t.length) c.fail(`equation "${equation}": operand ${i} repeats a letter (a diagonal), which is not supported`);
  let output: string[];
  if (rhs !== undefined) {
    if (!valid.test(rhs)) c.fail(`equation "${equation}": output "${rhs}" must be letters with at most one "..."`);
    output = expand(rhs, maxE);
    if (new Set(output).size !== output.length) c.fail(`equation "${equation}": the output repeats a letter`);
    const seen = new Set(terms.flat());
    for (const l of output) if (!seen.has(l)) c.fail(`equation "${equation}": output letter "${l}" is in no operand`);
  } else {
    const n = new Map<string, number>();
    for (const l of terms.flat()) n.set(l, (n.get(l) ?? 0) + 1);
    const ell = Array.from({ length: maxE }, (_, k) => ellipsisLetter(k));
    output = [
      ...ell,
      ...[...n]
        .filter(([l, k]) => k === 1 && !ell.includes(l))
        .map(([l]) => l)
        .sort(),
    ];
  }
  return { terms, output };
}

registerOp<EinsumAttrs>({
  type: "Einsum",
  parse: (at) => ({ equation: at.string("equation", "") || fail(at.where, "equation is required"), inputs: at.node.input }),
  infer: (c) => c.fail("internal: Einsum is inlined, not inferred"),
  inline(c: InferContext<EinsumAttrs>) {
    if (c.attrs.inputs.length === 0) c.fail("needs at least one input");
    const types = c.attrs.inputs.map((_, i) => typedInput(c, i, `input ${i}`, "numeric"));
    for (const t of types) if (t.dataType !== types[0]!.dataType) c.fail("inputs must have one element type");
    const dataType = types[0]!.dataType;
    const { terms, output } = parseEquation(
      c,
      c.attrs.equation,
      types.map((t) => t.shape.length),
    );
    const sub = subgraphBuilder(c.where, c.opset, "einsum");
    const node = sub.node,
      constant = sub.ints;
    const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
    const transpose = (o: Operand, letters: string[]): Operand => {
      const perm = letters.map((l) => o.letters.indexOf(l));
      if (perm.every((p, i) => p === i)) return o;
      return { name: node("Transpose", [o.name], [ints("perm", perm)]), letters, shape: perm.map((p) => o.shape[p]!) };
    };
    const reshape = (name: string, shape: number[]) => node("Reshape", [name, constant(shape)], []);
    const sum = (o: Operand, drop: string[]): Operand => {
      if (drop.length === 0) return o;
      const axes = drop.map((l) => o.letters.indexOf(l));
      const keep = o.letters.map((_, i) => i).filter((i) => !axes.includes(i));
      const attrs = [{ name: "keepdims", type: AttributeType.INT, i: 0 }];
      const name = c.opset >= 13 ? node("ReduceSum", [o.name, constant(axes)], attrs) : node("ReduceSum", [o.name], [...attrs, ints("axes", axes)]);
      return { name, letters: keep.map((i) => o.letters[i]!), shape: keep.map((i) => o.shape[i]!) };
    };

    // letter sizes (1 broadcasts against n)
    const size = new Map<string, number>();
    terms.forEach((t, i) =>
      t.forEach((l, k) => {
        const d = types[i]!.shape[k]!,
          s = size.get(l);
        if (s !== undefined && s !== d && s !== 1 && d !== 1) c.fail(`equation "${c.attrs.equation}": letter "${l}" has sizes ${s} and ${d}`);
        if (s === undefined || s === 1) size.set(l, d);
      }),
    );
    let ops: Operand[] = terms.map((t, i) => ({ name: c.attrs.inputs[i]!, letters: t, shape: [...types[i]!.shape] }));
    // letters only one operand has and the output lacks: summed first
    ops = ops.map((o, i) =>
      sum(
        o,
        o.letters.filter((l) => !output.includes(l) && !ops.some((p, j) => j !== i && p.letters.includes(l))),
      ),
    );
    while (ops.length > 1) {
      const [a, b, ...rest] = ops as [Operand, Operand, ...Operand[]];
      const needed = new Set([...output, ...rest.flatMap((o) => o.letters)]);
      const batch = a.letters.filter((l) => b.letters.includes(l) && needed.has(l)),
        contract = a.letters.filter((l) => b.letters.includes(l) && !needed.has(l)),
        aKeep = a.letters.filter((l) => !b.letters.includes(l)),
        bKeep = b.letters.filter((l) => !a.letters.includes(l));
      const at = transpose(a, [...batch, ...aKeep, ...contract]),
        bt = transpose(b, [...batch, ...contract, ...bKeep]);
      const prod = (o: Operand, ls: string[]) => sizeOfDims(ls.map((l) => o.shape[o.letters.indexOf(l)]!));
      const batchOf = (o: Operand) => batch.map((l) => o.shape[o.letters.indexOf(l)]!);
      const am = reshape(at.name, [...batchOf(at), prod(at, aKeep), prod(at, contract)]),
        bm = reshape(bt.name, [...batchOf(bt), prod(bt, contract), prod(bt, bKeep)]);
      const letters = [...batch, ...aKeep, ...bKeep];
      const shape = [
        ...batch.map((l) => Math.max(batchOf(at)[batch.indexOf(l)]!, batchOf(bt)[batch.indexOf(l)]!)),
        ...aKeep.map((l) => at.shape[at.letters.indexOf(l)]!),
        ...bKeep.map((l) => bt.shape[bt.letters.indexOf(l)]!),
      ];
      const product = node("MatMul", [am, bm], []);
      ops = [{ name: reshape(product, shape), letters, shape }, ...rest];
    }
    let r = ops[0]!;
    r = sum(
      r,
      r.letters.filter((l) => !output.includes(l)),
    );
    r = transpose(r, output);
    // the node's output: a value of its own (an Identity when nothing was planned)
    const y = node("Identity", [r.name], []);
    return { nodes: sub.nodes, initializers: sub.initializers, outputs: [{ name: y, dataType }], outerReads: [...c.attrs.inputs] };
  },
  algorithms: [],
});
