// Sequence layer kinds for Models: embedding, rnn, gru, lstm and timeDense (a dense layer applied
// at every step). Per-sample shapes: a sequence is [T, F] (steps, features), so a batch is
// batch-first [B, T, F] as every Model tensor; token ids are [T] (f32 holding integers).
// The recurrent kinds run src/ops/rnn.ts's kernels on the model's planned memory: their saved
// activations are a "state" buffer and their workspace the model's scratch.
import { checkFinite, fail, fmtShape } from "../errors.js";
import { dense } from "../ops/dense.js";
import { checkIds, type RecurrentCell, type RecurrentGeometry, GATE_COUNT, recurrentBackwardRun, recurrentForwardRun, recurrentLayout } from "../ops/rnn.js";
import { type Shape, Tensor } from "../tensor.js";
import { gemmThreaded } from "../threads/parallel.js";
import { type LayerContext, registerLayer } from "./layers.js";
import type { AnyNodeSpec, LayerCommon } from "./spec.js";

/** Token ids [T] (f32 holding integers in [0, vocab)) -> vectors [T, dim]; weight [vocab, dim]. */
export interface EmbeddingSpec extends LayerCommon {
  type: "embedding";
  /** Rows of the table: ids lie in [0, vocab). */
  vocab: number;
  /** Width of each vector. */
  dim: number;
}

/**
 * A recurrent layer (ONNX RNN / GRU / LSTM) over sequences [T, I]. Parameters (per direction d,
 * gate blocks in ONNX order): weight [nd, I, G*H] (Xavier), recurrence [nd, H, G*H] (orthogonal
 * per gate), bias [nd, 2*G*H] (Wb then Rb, zeros but the LSTM's forget gate: forgetBias), LSTM
 * peepholes [nd, 3H] (zeros).
 * A second input, per-sample [1], gives each sequence's length (steps past it output 0; the last
 * state is the last valid one).
 */
export interface RecurrentSpec extends LayerCommon {
  type: "rnn" | "gru" | "lstm";
  /** Hidden size H. */
  units: number;
  /** Default "forward"; "bidirectional" concatenates the forward and the reverse outputs (2H). */
  direction?: "forward" | "reverse" | "bidirectional";
  /** Output every step's h ([T, nd*H]) instead of the last state ([nd*H]). Default false. */
  returnSequences?: boolean;
  /** Keep the last state as the next forward's initial state (truncated backpropagation through
   *  time over consecutive chunks of a long sequence); Model.resetStates() clears it. Default false. */
  stateful?: boolean;
  /** rnn: "tanh" (default) or "relu". */
  nonlinearity?: "tanh" | "relu";
  /** gru: ONNX linear_before_reset (PyTorch's GRU). Default false. */
  linearBeforeReset?: boolean;
  /** lstm: peephole connections (ONNX P). Default false. */
  peepholes?: boolean;
  /** lstm: initial value of the forget gate's input bias (Wb_f), default 1 (Gers et al. 2000, Jozefowicz
   *  et al. 2015, Keras' unit_forget_bias): the cell starts out keeping most of its state. */
  forgetBias?: number;
}

/** A dense layer applied at every step: [..., F] -> [..., units]; weight [F, units], bias [units]. */
export interface TimeDenseSpec extends LayerCommon {
  type: "timeDense";
  /** Output features per step. */
  units: number;
  /** Learn a bias (default true). */
  bias?: boolean;
}

const who = (spec: AnyNodeSpec) => `layer '${spec.name}' (${spec.type})`;

function positiveInt(spec: AnyNodeSpec, field: string): number {
  const v = spec[field];
  if (!Number.isInteger(v) || (v as number) < 1) fail(who(spec), `${field} must be an integer >= 1, got ${JSON.stringify(v)}`);
  return v as number;
}

function flag(spec: AnyNodeSpec, field: string): boolean {
  const v = spec[field] ?? false;
  if (typeof v !== "boolean") fail(who(spec), `${field} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// embedding

registerLayer({
  type: "embedding",
  outputShape(spec, [ids]) {
    positiveInt(spec, "vocab");
    return [...ids!, positiveInt(spec, "dim")];
  },
  params(spec) {
    const dim = positiveInt(spec, "dim");
    return [{ name: "weight", shape: [positiveInt(spec, "vocab"), dim], init: "xavier", fanIn: dim, fanOut: dim }];
  },
  forward(c) {
    const ids = c.x[0]!,
      table = c.params.weight!;
    checkIds(who(c.spec), ids, table.shape[0]!);
    c.engine.kernels.embedding_f32_forward(c.y.ptr, table.ptr, ids.ptr, ids.size, table.shape[1]!);
  },
  backward(c) {
    // ids carry no gradient: dx stays zero
    if (c.frozen("weight")) return;
    const ids = c.x[0]!,
      table = c.params.weight!;
    c.engine.kernels.embedding_f32_backward(c.grads.weight!.ptr, c.dy.ptr, ids.ptr, ids.size, table.shape[1]!);
  },
});

// ---------------------------------------------------------------------------------------------
// rnn, gru, lstm

function directionsOf(spec: AnyNodeSpec): ("forward" | "reverse")[] {
  const d = spec.direction ?? "forward";
  if (d === "forward" || d === "reverse") return [d];
  if (d === "bidirectional") return ["forward", "reverse"];
  fail(who(spec), `direction must be "forward", "reverse" or "bidirectional", got ${JSON.stringify(d)}`);
}

/** The kernels' geometry of a node for batched input shapes ([B, T, I] and optionally [B, 1]). */
function geometry(spec: AnyNodeSpec, inputs: Shape[]): RecurrentGeometry {
  const [B, T, I] = inputs[0]! as [number, number, number];
  const cell = spec.type as RecurrentCell;
  const nonlinearity = spec.nonlinearity ?? "tanh";
  if (cell === "rnn" && nonlinearity !== "tanh" && nonlinearity !== "relu")
    fail(who(spec), `nonlinearity must be "tanh" or "relu", got ${JSON.stringify(nonlinearity)}`);
  for (const [field, only] of [
    ["nonlinearity", "rnn"],
    ["linearBeforeReset", "gru"],
    ["peepholes", "lstm"],
    ["forgetBias", "lstm"],
  ] as const) {
    if (spec[field] !== undefined && cell !== only) fail(who(spec), `${field} is an option of ${only} layers`);
  }
  return {
    cell,
    steps: T,
    batch: B,
    input: I,
    hidden: positiveInt(spec, "units"),
    directions: directionsOf(spec),
    batchFirst: true,
    relu: nonlinearity === "relu",
    linearBeforeReset: flag(spec, "linearBeforeReset"),
    clip: Infinity,
    peepholes: flag(spec, "peepholes"),
    lengths: inputs.length > 1,
  };
}

/** The state a stateful layer carries: h then c, each [B, nd, H]. */
const carryFloats = (g: RecurrentGeometry) => 2 * g.batch * g.directions.length * g.hidden;

function recurrentPointers(c: LayerContext, g: RecurrentGeometry, scratch: Tensor) {
  const stateful = flag(c.spec, "stateful"),
    carry = c.saved.carry;
  const half = 4 * g.batch * g.directions.length * g.hidden;
  return {
    x: c.x[0]!.ptr,
    w: c.params.weight!.ptr,
    r: c.params.recurrence!.ptr,
    b: c.params.bias!.ptr,
    peepholes: g.peepholes ? c.params.peepholes!.ptr : 0,
    h0: stateful ? carry!.ptr : 0,
    c0: stateful && g.cell === "lstm" ? carry!.ptr + half : 0,
    lens: g.lengths ? c.saved.lengths!.ptr : 0,
    saved: c.saved.state!.ptr,
    scratch: scratch.ptr,
  };
}

/** Sequence lengths from the second input (floats) into the saved i32 buffer, checked. */
function copyLengths(c: LayerContext, g: RecurrentGeometry): void {
  const src = c.x[1]!.data,
    dst = c.saved.lengths!.ints;
  for (let b = 0; b < g.batch; b++) {
    const v = src[b]!;
    if (!Number.isInteger(v) || v < 0 || v > g.steps) fail(who(c.spec), `sequence length ${v} of batch row ${b} is not an integer in [0, ${g.steps}]`);
    dst[b] = v;
  }
}

for (const type of ["rnn", "gru", "lstm"] as const) {
  registerLayer({
    type,
    arity: "many",
    outputShape(spec, inputs) {
      const [x, lens] = inputs;
      if (inputs.length > 2) fail(who(spec), `takes a sequence [T, features] and optionally its length [1], got ${inputs.length} inputs`);
      if (x!.length !== 2) fail(who(spec), `needs sequences [T, features] per sample, got ${fmtShape(x!)}`);
      if (lens && (lens.length !== 1 || lens[0] !== 1)) fail(who(spec), `the second input (sequence lengths) must be [1] per sample, got ${fmtShape(lens)}`);
      const g = geometry(
        spec,
        inputs.map((s) => [1, ...s]),
      );
      const width = g.directions.length * g.hidden;
      return flag(spec, "returnSequences") ? [x![0]!, width] : [width];
    },
    params(spec, inputs) {
      const g = geometry(
        spec,
        inputs.map((s) => [1, ...s]),
      );
      const { input: I, hidden: H } = g,
        nd = g.directions.length,
        GH = GATE_COUNT[type] * H;
      const forgetBias = type === "lstm" ? checkFinite(who(spec), "forgetBias", (spec.forgetBias ?? 1) as number) : 0;
      // Wb of the forget gate (block 2 of i, o, f, c) of each direction
      const adjust = (v: Float32Array) => {
        for (let d = 0; d < nd; d++) v.fill(forgetBias, d * 2 * GH + 2 * H, d * 2 * GH + 3 * H);
      };
      return [
        { name: "weight", shape: [nd, I, GH], init: "xavier", fanIn: I, fanOut: H },
        { name: "recurrence", shape: [nd, H, GH], init: "orthogonal", fanIn: H, fanOut: H },
        { name: "bias", shape: [nd, 2 * GH], init: "zeros", ...(forgetBias !== 0 ? { adjust } : {}) },
        ...(g.peepholes ? [{ name: "peepholes", shape: [nd, 3 * H], init: "zeros" as const }] : []),
      ];
    },
    saved(spec, inputs) {
      const g = geometry(spec, inputs);
      return [
        { name: "state", shape: [recurrentLayout(g).savedFloats] },
        ...(g.lengths ? [{ name: "lengths", shape: [g.batch], dtype: "i32" as const }] : []),
        ...(flag(spec, "stateful") ? [{ name: "carry", shape: [carryFloats(g)] }] : []),
      ];
    },
    scratchFloats(spec, inputs) {
      const l = recurrentLayout(geometry(spec, inputs));
      return Math.max(l.forwardScratchFloats, l.backwardScratchFloats) + 16;
    },
    forward(c) {
      const g = geometry(
        c.spec,
        c.x.map((t) => t.shape),
      );
      if (g.lengths) copyLengths(c, g);
      const l = recurrentLayout(g),
        e = c.engine;
      const p = recurrentPointers(c, g, c.scratch([Math.max(l.forwardScratchFloats, l.backwardScratchFloats)]));
      const sequences = flag(c.spec, "returnSequences");
      if (!flag(c.spec, "stateful")) {
        recurrentForwardRun(e, g, p, sequences ? { y: c.y.ptr } : { yH: c.y.ptr });
        return;
      }
      // the final states become the next call's initial states (read before they are written)
      recurrentForwardRun(e, g, p, { y: sequences ? c.y.ptr : 0, yH: p.h0, yC: p.c0 });
      if (!sequences) e.heap.f32.copyWithin(c.y.ptr >> 2, p.h0 >> 2, (p.h0 >> 2) + c.y.size);
    },
    backward(c) {
      const g = geometry(
        c.spec,
        c.x.map((t) => t.shape),
      );
      const l = recurrentLayout(g),
        e = c.engine;
      const p = recurrentPointers(c, g, c.scratch([Math.max(l.forwardScratchFloats, l.backwardScratchFloats)]));
      const grad = (name: string) => (c.params[name] && !c.frozen(name) ? c.grads[name]!.ptr : 0);
      // a stateful layer's initial state came from the previous chunk: the gradient stops there
      recurrentBackwardRun(e, g, p, flag(c.spec, "returnSequences") ? { dy: c.dy.ptr } : { dyH: c.dy.ptr }, {
        dx: c.inputGradWanted?.[0] === false ? 0 : c.dx[0]!.ptr,
        dw: grad("weight"),
        dr: grad("recurrence"),
        db: grad("bias"),
        dPeepholes: grad("peepholes"),
        dh0: 0,
        dc0: 0,
      });
    },
    resetState(c) {
      const carry = c.saved.carry;
      if (carry) c.engine.kernels.fill_f32(carry.ptr, 0, carry.size);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// timeDense

/** A [rows, cols] view of a planned tensor's memory (no copy; never disposed). */
const view = (t: Tensor, rows: number, cols: number) => new Tensor(t.engine, t.ptr, [rows, cols]);

registerLayer({
  type: "timeDense",
  outputShape(spec, [x]) {
    if (x!.length < 1) fail(who(spec), `needs a non-scalar input, got ${fmtShape(x!)}`);
    return [...x!.slice(0, -1), positiveInt(spec, "units")];
  },
  params(spec, [x], y) {
    const inF = x![x!.length - 1]!,
      units = y[y.length - 1]!;
    const weight = { name: "weight", shape: [inF, units], init: "auto" as const, fanIn: inF, fanOut: units };
    return flag({ ...spec, bias: spec.bias ?? true }, "bias") ? [weight, { name: "bias", shape: [units], init: "zeros" as const }] : [weight];
  },
  forward(c) {
    const w = c.params.weight!,
      [inF, units] = w.shape as [number, number],
      rows = c.x[0]!.size / inF;
    dense(view(c.x[0]!, rows, inF), w, c.params.bias ?? null, view(c.y, rows, units));
  },
  backward(c) {
    const x = c.x[0]!,
      w = c.params.weight!,
      e = c.engine,
      [inF, units] = w.shape as [number, number],
      rows = x.size / inF;
    if (c.inputGradWanted?.[0] !== false) gemmThreaded(e, c.dx[0]!.ptr, c.dy.ptr, w.ptr, rows, inF, units, false, true, true);
    if (!c.frozen("weight")) gemmThreaded(e, c.grads.weight!.ptr, x.ptr, c.dy.ptr, inF, units, rows, true, false, true);
    if (c.params.bias && !c.frozen("bias")) e.kernels.bias_f32_backward(c.grads.bias!.ptr, c.dy.ptr, rows, units);
  },
});
