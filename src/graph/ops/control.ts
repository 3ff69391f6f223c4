// Control flow: If whose condition is known when planning (a constant, a shape comparison, or an
// input the session plans per value) is replaced by the branch it takes. A condition that depends
// on run-time data is refused with a clear error.
import { fail } from "../../errors.js";
import type { Subgraph } from "../import.js";
import { registerOp } from "../registry.js";

registerOp<{ thenBranch: Subgraph; elseBranch: Subgraph }>({
  type: "If",
  parse: (at) => ({
    thenBranch: at.graph<Subgraph>("then_branch") ?? fail(at.where, "then_branch is required"),
    elseBranch: at.graph<Subgraph>("else_branch") ?? fail(at.where, "else_branch is required"),
  }),
  valueInputs: [0],
  infer: (c) => c.fail("internal: If is inlined, not inferred"),
  inline(c) {
    const cond = c.value(0) ?? c.fail("input 0 (cond) is required");
    if (cond.data.length !== 1) c.fail(`cond must hold one element, got ${cond.data.length}`);
    return cond.data[0] ? c.attrs.thenBranch : c.attrs.elseBranch;
  },
  algorithms: [],
});
