// ONNX RNN, GRU and LSTM on the recurrent kernels (src/ops/rnn.ts, assembly/rnn.ts). W and R are
// taken transposed ([nd, I, G*H], [nd, H, G*H]: the planner converts the constants once), so the
// input projection is one [T*B, I] x [I, G*H] GEMM and each step's recurrent product streams R packed
// (once at setup when R is a constant, else into the workspace on every run). The activations the
// kernels write (gates, states) live in the workspace.
// Supported: every direction, layout 0 and 1, sequence_lens, initial_h / initial_c, peepholes, clip,
// GRU's linear_before_reset, the default activations (and Relu for RNN); not: other activations,
// activation_alpha / beta, LSTM input_forget.
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import {
  GATE_COUNT,
  packRecurrence,
  packedRecurrenceFloats,
  type RecurrentCell,
  type RecurrentGeometry,
  recurrentForwardRun,
  recurrentLayout,
} from "../../ops/rnn.js";
import { type InferContext, type LayoutChoice, type LayoutContext, type PlanNode, registerOp, type TensorType } from "../registry.js";
import { identityPerm, isFloat } from "../types.js";

interface RecurrentAttrs {
  cell: RecurrentCell;
  hidden: number;
  direction: "forward" | "reverse" | "bidirectional";
  /** ONNX layout: 0 time-first, 1 batch-first. */
  layout: number;
  clip: number;
  relu: boolean;
  linearBeforeReset: boolean;
}

/** The ONNX default activations of each cell (f, g, h per direction); RNN may use Relu instead of Tanh. */
const DEFAULT_ACTIVATIONS: Record<RecurrentCell, string[]> = { rnn: ["tanh"], gru: ["sigmoid", "tanh"], lstm: ["sigmoid", "tanh", "tanh"] };

function parseRecurrent(cell: RecurrentCell, at: Attributes, opset: number): RecurrentAttrs {
  at.only(["hidden_size", "direction", "layout", "clip", "activations", "activation_alpha", "activation_beta", "input_forget", "linear_before_reset"]);
  const hidden = at.int("hidden_size", 0);
  if (!Number.isInteger(hidden) || hidden < 1) fail(at.where, `hidden_size must be an integer >= 1, got ${hidden}`);
  const direction = at.string("direction", "forward");
  if (direction !== "forward" && direction !== "reverse" && direction !== "bidirectional")
    fail(at.where, `direction "${direction}" is not forward, reverse or bidirectional`);
  const layout = at.int("layout", 0);
  if (layout !== 0 && layout !== 1) fail(at.where, `layout must be 0 or 1, got ${layout}`);
  if (layout === 1 && opset < 14) fail(at.where, `layout is an attribute from opset 14 (the model has opset ${opset})`);
  const clip = at.has("clip") ? at.float("clip", 0) : Infinity;
  if (!(clip > 0)) fail(at.where, `clip must be > 0, got ${clip}`);
  if (at.has("activation_alpha") || at.has("activation_beta"))
    fail(at.where, "activation_alpha / activation_beta are not supported (only the default activations, and Relu for RNN)");
  if (cell === "lstm" && at.int("input_forget", 0) !== 0) fail(at.where, "input_forget = 1 is not supported");
  const nd = direction === "bidirectional" ? 2 : 1;
  const given = at.node.attribute.find((a) => a.name === "activations")?.strings?.map((s) => s.toLowerCase());
  let relu = false;
  if (given) {
    const per = DEFAULT_ACTIVATIONS[cell].length;
    if (given.length !== per * nd) fail(at.where, `activations must list ${per * nd} functions (${per} per direction), got [${given.join(", ")}]`);
    for (let d = 0; d < nd; d++) {
      const mine = given.slice(d * per, (d + 1) * per);
      const isRelu = cell === "rnn" && mine[0] === "relu";
      if (d === 0) relu = isRelu;
      else if (isRelu !== relu) fail(at.where, "both directions must use the same activation");
      if (!isRelu && mine.join() !== DEFAULT_ACTIVATIONS[cell].join()) {
        fail(
          at.where,
          `activations [${given.join(", ")}] are not supported (only the defaults [${DEFAULT_ACTIVATIONS[cell].join(", ")}]${cell === "rnn" ? " or Relu" : ""})`,
        );
      }
    }
  }
  return { cell, hidden, direction, layout, clip, relu, linearBeforeReset: cell === "gru" && at.int("linear_before_reset", 0) !== 0 };
}

/** [T, B, I] of X and the directions. */
function dims(a: RecurrentAttrs, x: readonly number[]): { T: number; B: number; I: number; nd: number } {
  const [T, B] = a.layout === 1 ? [x[1]!, x[0]!] : [x[0]!, x[1]!];
  return { T, B, I: x[2]!, nd: a.direction === "bidirectional" ? 2 : 1 };
}

function inferRecurrent(c: InferContext<RecurrentAttrs>): TensorType[] {
  const a = c.attrs,
    x = c.need(0, "X");
  if (!isFloat(x.dataType)) c.fail("X must be a float tensor");
  if (x.shape.length !== 3) c.fail(`X must have rank 3, got ${fmtShape(x.shape)}`);
  const { T, B, I, nd } = dims(a, x.shape),
    H = a.hidden,
    GH = GATE_COUNT[a.cell] * H;
  const expect = (i: number, name: string, shape: number[]) => {
    const t = c.input(i);
    if (!t) return;
    if (t.shape.join() !== shape.join()) c.fail(`${name} must have shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  };
  expect(1, "W", [nd, GH, I]);
  expect(2, "R", [nd, GH, H]);
  if (!c.input(1) || !c.input(2)) c.fail("W and R are required");
  expect(3, "B", [nd, 2 * GH]);
  const lens = c.input(4);
  if (lens && (lens.shape.length !== 1 || lens.shape[0] !== B || isFloat(lens.dataType)))
    c.fail(`sequence_lens must be an integer tensor [${B}], got ${fmtShape(lens.shape)}`);
  const state = a.layout === 1 ? [B, nd, H] : [nd, B, H];
  expect(5, "initial_h", state);
  if (a.cell === "lstm") {
    expect(6, "initial_c", state);
    expect(7, "P", [nd, 3 * H]);
  } else if (c.inputCount > 6) c.fail(`${a.cell.toUpperCase()} takes at most 6 inputs`);
  if (T < 1 || B < 1) c.fail(`X ${fmtShape(x.shape)} needs at least one step and one sequence`);
  const y = a.layout === 1 ? [B, T, nd, H] : [T, nd, B, H];
  const outs = [
    { dataType: x.dataType, shape: y },
    { dataType: x.dataType, shape: state },
  ];
  if (a.cell === "lstm") outs.push({ dataType: x.dataType, shape: state });
  return outs.slice(0, Math.max(1, c.outputCount));
}

/** W, R transposed to [nd, in, G*H] (the kernels' weight layout); everything else in ONNX order. */
function layoutRecurrent(c: LayoutContext<RecurrentAttrs>): LayoutChoice {
  return {
    inputs: c.inputs.map((v, i) => (!v ? "any" : i === 1 || i === 2 ? [0, 2, 1] : identityPerm(v.shape.length))),
    outputs: c.outputs.map((t) => identityPerm(t.shape.length)),
  };
}

function geometry(n: PlanNode<RecurrentAttrs>): RecurrentGeometry {
  const a = n.attrs,
    { T, B, I } = dims(a, n.inputs[0]!.shape);
  return {
    cell: a.cell,
    steps: T,
    batch: B,
    input: I,
    hidden: a.hidden,
    directions: a.direction === "bidirectional" ? ["forward", "reverse"] : [a.direction],
    batchFirst: a.layout === 1,
    relu: a.relu,
    linearBeforeReset: a.linearBeforeReset,
    clip: a.clip,
    peepholes: a.cell === "lstm" && !!n.inputs[7],
    lengths: !!n.inputs[4],
  };
}

for (const cell of ["rnn", "gru", "lstm"] as const) {
  registerOp<RecurrentAttrs>({
    type: cell.toUpperCase(),
    parse: (at, opset) => parseRecurrent(cell, at, opset),
    infer: inferRecurrent,
    layout: layoutRecurrent,
    algorithms: [
      {
        name: `${cell}.fused_steps`,
        workspaceBytes(n) {
          const l = recurrentLayout(geometry(n));
          return 4 * (l.savedFloats + l.forwardScratchFloats) + 64;
        },
        setup(n) {
          const g = geometry(n),
            l = recurrentLayout(g);
          const ws = n.workspace,
            saved = ws,
            scratch = ws + 4 * Math.ceil(l.savedFloats / 4) * 4;
          const opt = (i: number) => (n.inputs[i] ? n.input(i) : 0);
          const p = {
            x: n.input(0),
            w: n.input(1),
            r: n.input(2),
            b: opt(3),
            lens: opt(4),
            h0: opt(5),
            c0: cell === "lstm" ? opt(6) : 0,
            peepholes: cell === "lstm" ? opt(7) : 0,
            saved,
            scratch,
          };
          const wanted = (i: number) => (n.outputs[i] && n.outputs[i].name !== "" ? n.output(i) : 0);
          const out = { y: wanted(0), yH: wanted(1), yC: cell === "lstm" ? wanted(2) : 0 };
          if (n.inputs[2]!.isConstant) {
            // constant recurrent weights (the usual case): packed once here, not on every run
            const packed = n.own(n.engine.empty([packedRecurrenceFloats(g)], "f32", `${n.where} packed R`));
            packRecurrence(n.engine, g, p.r, packed.ptr);
            return () => recurrentForwardRun(n.engine, g, { ...p, packed: packed.ptr }, out);
          }
          return () => recurrentForwardRun(n.engine, g, p, out);
        },
      },
    ],
  });
}
