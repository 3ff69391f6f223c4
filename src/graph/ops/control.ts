// Control flow: If. A condition known when planning (a constant, a shape comparison, or a small
// input the session plans per value) replaces the node by the branch it takes; a condition that
// depends on run-time data plans both branches, and the run takes one (see plan.ts).
import { fail } from "../../errors.js";
import type { Subgraph } from "../import.js";
import { registerOp } from "../registry.js";

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
