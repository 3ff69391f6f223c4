// Recurrent layers as ONNX defines them (RNN, GRU, LSTM): forward, and backpropagation through
// time. Kernels: assembly/rnn.ts (the fused per-step gate kernels, the forward recurrence of a
// direction in one call, seq_copy_f32), gemm_f32 (the input projection of all steps at once and the
// weight gradients over all steps at once) and gemm_f32_packed_b_strided (the backward's per-step
// products with R^T).
//
// Weights, per direction d (ONNX's W, R transposed to [in, out], as dense layers hold theirs):
//   w [nd, I, G*H]    r [nd, H, G*H]    b [nd, 2*G*H] (Wb then Rb, ONNX's B)    peepholes [nd, 3*H]
// with G gate blocks of H columns in ONNX order (LSTM i, o, f, c; GRU z, r, h; RNN one).
// Sequences: x [T, B, I] and y [T, nd, B, H], initial/final states [nd, B, H] (ONNX layout 0), or
// with batchFirst x [B, T, I], y [B, T, nd, H], states [B, nd, H] (ONNX layout 1). Internally every
// direction runs time-major on its own copy of x (reversed within each sequence's length for the
// reverse direction), so both layouts and both directions share one set of kernels.
import type { Engine } from "../engine.js";
import { checkFinite, fail, fmtShape, fmtValue } from "../errors.js";
import type { Shape, Tensor } from "../tensor.js";
import { gemmThreaded } from "../threads/parallel.js";
import { checkOptions, checkShape, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";

/** The recurrent cells: Elman RNN, GRU, LSTM (ONNX RNN, GRU, LSTM). */
export type RecurrentCell = "rnn" | "gru" | "lstm";
/** Which way a recurrent layer reads its sequences; bidirectional runs both and concatenates them. */
export type RecurrentDirection = "forward" | "reverse" | "bidirectional";

/** Gate blocks per cell. */
export const GATE_COUNT: Readonly<Record<RecurrentCell, number>> = { rnn: 1, gru: 3, lstm: 4 };

/** A recurrent call's sizes and variant, as the kernels see them. */
export interface RecurrentGeometry {
  cell: RecurrentCell;
  steps: number;
  batch: number;
  input: number;
  hidden: number;
  /** The direction each of the nd weight slices runs in. */
  directions: readonly ("forward" | "reverse")[];
  batchFirst: boolean;
  /** RNN: ReLU instead of tanh. */
  relu: boolean;
  /** GRU: ONNX linear_before_reset. */
  linearBeforeReset: boolean;
  /** Pre-activation clamp (Infinity: none). */
  clip: number;
  peepholes: boolean;
  /** Per-row sequence lengths are given. */
  lengths: boolean;
}

/** Field order of the block the step kernels read: must match assembly/rnn.ts. */
const RNN_BLOCK_FIELDS = [
  "batch",
  "hidden",
  "lens",
  "peep",
  "clip",
  "variant",
  "gates",
  "hs",
  "cs",
  "dgates",
  "dh",
  "dc",
  "dpeep",
  "dy",
  "rbh",
  "dextra",
  "drh",
] as const;
type BlockField = (typeof RNN_BLOCK_FIELDS)[number];

/** Floats of B (k x n) packed in strips of 8 columns (assembly/gemm_packed.ts, packed_b_floats). */
const packedFloats = (k: number, n: number) => Math.ceil(n / 8) * 8 * k;

/** Bump allocation of float offsets, each 16-byte aligned. */
class Floats {
  total = 0;
  take(count: number): number {
    const at = this.total;
    this.total += Math.max(4, Math.ceil(count / 4) * 4);
    return at;
  }
}

/** Whether direction d reads x in place: time-major, forward, no lengths (else it works on a copy). */
const readsXInPlace = (g: RecurrentGeometry, d: number) => !g.batchFirst && !g.lengths && g.directions[d] === "forward";

/** Float offsets of one direction's saved buffers (see assembly/rnn.ts for their layout). */
interface DirectionLayout {
  xs: number; // -1: x itself
  gates: number;
  hs: number;
  cs: number; // -1: none (RNN)
}

/** Where everything of a call lives: saved buffers (kept for backward) and scratch, in floats. */
export interface RecurrentLayout {
  saved: DirectionLayout[];
  savedFloats: number;
  /** Scratch of forward and of backward (the larger is what a caller must provide). */
  forwardScratchFloats: number;
  backwardScratchFloats: number;
}

function gateWidth(g: RecurrentGeometry): number {
  return GATE_COUNT[g.cell] * g.hidden;
}

/** Memory of a call with geometry g: saved floats and scratch floats (a plan reserves them once). */
export function recurrentLayout(g: RecurrentGeometry): RecurrentLayout {
  const { steps: T, batch: B, input: I, hidden: H } = g,
    GH = gateWidth(g);
  const saved = new Floats();
  const dirs = g.directions.map((_, d) => ({
    xs: readsXInPlace(g, d) ? -1 : saved.take(T * B * I),
    gates: saved.take(T * B * GH),
    hs: saved.take((T + 1) * B * H),
    cs: g.cell === "lstm" ? saved.take((T + 1) * B * H) : g.cell === "gru" ? saved.take(T * B * H) : -1,
  }));
  const f = forwardScratch(g),
    b = backwardScratch(g);
  return { saved: dirs, savedFloats: saved.total, forwardScratchFloats: f.total, backwardScratchFloats: b.total };
}

function forwardScratch(g: RecurrentGeometry) {
  const H = g.hidden,
    GH = gateWidth(g),
    s = new Floats();
  const gru = g.cell === "gru";
  return {
    biasSum: s.take(GH),
    zeros: s.take(H),
    packed: s.take(packedFloats(H, gru ? 2 * H : GH)),
    packedH: gru ? s.take(packedFloats(H, H)) : -1,
    get total() {
      return s.total;
    },
  };
}

function backwardScratch(g: RecurrentGeometry) {
  const { steps: T, batch: B, input: I, hidden: H } = g,
    GH = gateWidth(g),
    s = new Floats();
  const gru = g.cell === "gru";
  return {
    rt: s.take(GH * H),
    packed: s.take(gru ? packedFloats(2 * H, H) : packedFloats(GH, H)),
    packedH: gru ? s.take(packedFloats(H, H)) : -1,
    dgates: s.take(T * B * GH),
    dh: s.take(B * H),
    dc: s.take(B * H),
    dys: s.take(T * B * H),
    dxs: s.take(T * B * I),
    dextra: gru && g.linearBeforeReset ? s.take(T * B * H) : -1,
    drh: gru && !g.linearBeforeReset ? s.take(B * H) : -1,
    sums: s.take(GH),
    get total() {
      return s.total;
    },
  };
}

/** Byte addresses of a call's operands (0: absent). */
export interface RecurrentPointers {
  x: number;
  w: number;
  r: number;
  b: number;
  peepholes: number;
  /** Initial states in the layout of yH (0: zeros). */
  h0: number;
  c0: number;
  /** i32 [B] (0: every sequence has T steps). */
  lens: number;
  /** The saved block (RecurrentLayout.savedFloats floats) and the scratch. */
  saved: number;
  scratch: number;
  /** r already packed by packRecurrence (constant weights, packed once); 0 or absent: packed per call. */
  packed?: number;
}

/** Floats packRecurrence writes: every direction's packed recurrent weights. */
export function packedRecurrenceFloats(g: RecurrentGeometry): number {
  const H = g.hidden,
    per = g.cell === "gru" ? packedFloats(H, 2 * H) + packedFloats(H, H) : packedFloats(H, gateWidth(g));
  return per * g.directions.length;
}

/** Packs direction d's r [H, G*H] (at rd) for the forward's per-step products into packed (GRU: z, r columns) and packedH (GRU: h columns). */
function packDirection(e: Engine, g: RecurrentGeometry, rd: number, packed: number, packedH: number): void {
  const k = e.kernels,
    H = g.hidden,
    GH = gateWidth(g);
  if (g.cell === "gru") {
    k.pack_b_f32_strided(packed, rd, GH, H, 2 * H);
    k.pack_b_f32_strided(packedH, rd + 8 * H, GH, H, H);
  } else k.pack_b_f32(packed, rd, H, GH);
}

/** Packs r [nd, H, G*H] for the forward's per-step products into dst (packedRecurrenceFloats floats). */
export function packRecurrence(e: Engine, g: RecurrentGeometry, r: number, dst: number): void {
  const H = g.hidden,
    GH = gateWidth(g),
    per = packedRecurrenceFloats(g) / g.directions.length;
  for (let d = 0; d < g.directions.length; d++) {
    const out = dst + 4 * d * per;
    packDirection(e, g, r + 4 * d * H * GH, out, out + 4 * packedFloats(H, 2 * H));
  }
}

/** Strides (elements) of a [T, B, F] sequence's rows in the call's layout: [t, b] and the offset of direction d. */
function seqStrides(g: RecurrentGeometry, features: number, nd: number, d: number): [number, number, number] {
  const { steps: T, batch: B } = g;
  return g.batchFirst ? [nd * features, T * nd * features, d * features] : [nd * B * features, features, d * B * features];
}

/** Strides of a state [nd, B, H] (or batch-first [B, nd, H]): [b] and the offset of direction d. */
function stateStrides(g: RecurrentGeometry, nd: number, d: number): [number, number] {
  const H = g.hidden;
  return g.batchFirst ? [nd * H, d * H] : [H, d * g.batch * H];
}

function writeBlock(e: Engine, values: Partial<Record<BlockField, number>>): number {
  const i32 = e.heap.i32,
    base = e.paramBlock >> 2;
  RNN_BLOCK_FIELDS.forEach((f, i) => (i32[base + i] = values[f] ?? 0));
  return e.paramBlock;
}

const f32Bits = (() => {
  const f = new Float32Array(1),
    i = new Int32Array(f.buffer);
  return (x: number) => ((f[0] = x), i[0]!);
})();

/**
 * Runs the recurrence of every direction and writes the outputs (0 pointers are skipped):
 * y [T, nd, B, H] or batch-first [B, T, nd, H], zero past each sequence's length; yH, yC the
 * final states ([nd, B, H] or [B, nd, H]). The saved block keeps what recurrentBackwardRun needs.
 */
export function recurrentForwardRun(e: Engine, g: RecurrentGeometry, p: RecurrentPointers, out: { y?: number; yH?: number; yC?: number }): void {
  const k = e.kernels,
    layout = recurrentLayout(g),
    ws = forwardScratch(g);
  const { steps: T, batch: B, input: I, hidden: H } = g,
    GH = gateWidth(g),
    nd = g.directions.length;
  const at = (base: number, floats: number) => base + 4 * floats;
  const f32 = () => e.heap.f32;
  const gru = g.cell === "gru";
  for (let d = 0; d < nd; d++) {
    const dir = layout.saved[d]!,
      reverse = g.directions[d] === "reverse";
    const w = at(p.w, d * I * GH),
      r = at(p.r, d * H * GH);
    const xs = dir.xs < 0 ? p.x : at(p.saved, dir.xs),
      gates = at(p.saved, dir.gates),
      hs = at(p.saved, dir.hs);
    const cs = dir.cs < 0 ? 0 : at(p.saved, dir.cs);
    if (dir.xs >= 0) {
      const [st, sb, so] = seqStrides(g, I, 1, 0);
      k.seq_copy_f32(xs, B * I, I, p.x + 4 * so, st, sb, p.lens, T, B, I, reverse ? 1 : 0, 1, 0);
    }
    // the bias of every gate pre-activation: Wb + Rb (GRU with linear_before_reset: Rbh apart)
    const biasSum = at(p.scratch, ws.biasSum),
      zeros = at(p.scratch, ws.zeros);
    k.fill_f32(zeros, 0, H);
    if (p.b) {
      const v = f32(),
        wb = (p.b >> 2) + d * 2 * GH,
        s = biasSum >> 2;
      for (let j = 0; j < GH; j++) v[s + j] = v[wb + j]! + (gru && g.linearBeforeReset && j >= 2 * H ? 0 : v[wb + GH + j]!);
    } else k.fill_f32(biasSum, 0, GH);
    const rbh = p.b && gru && g.linearBeforeReset ? at(p.b, d * 2 * GH + GH + 2 * H) : zeros;
    // the input projection of all steps: gates = xs . W + bias
    gemmThreaded(e, gates, xs, w, T * B, GH, I, false, false, false);
    k.bias_f32_forward(gates, biasSum, T * B, GH);
    // initial states
    const [hb, ho] = stateStrides(g, nd, d);
    if (p.h0) k.seq_copy_f32(hs, 0, H, at(p.h0, ho), 0, hb, 0, 1, B, H, 0, 0, 0);
    else k.fill_f32(hs, 0, B * H);
    if (g.cell === "lstm") {
      if (p.c0) k.seq_copy_f32(cs, 0, H, at(p.c0, ho), 0, hb, 0, 1, B, H, 0, 0, 0);
      else k.fill_f32(cs, 0, B * H);
    }
    // recurrent weights packed once for the T steps (or once for all calls: p.packed)
    let packed = at(p.scratch, ws.packed),
      packedH = gru ? at(p.scratch, ws.packedH) : 0;
    if (p.packed) {
      packed = at(p.packed, (d * packedRecurrenceFloats(g)) / nd);
      packedH = gru ? packed + 4 * packedFloats(H, 2 * H) : 0;
    } else packDirection(e, g, r, packed, packedH);
    const blk = writeBlock(e, {
      batch: B,
      hidden: H,
      lens: p.lens,
      peep: p.peepholes ? at(p.peepholes, d * 3 * H) : 0,
      clip: f32Bits(g.clip),
      variant: g.cell === "rnn" ? (g.relu ? 1 : 0) : g.linearBeforeReset ? 1 : 0,
      gates,
      hs,
      cs,
      rbh,
    });
    k.recurrent_f32_forward_steps(blk, packed, packedH, T, GATE_COUNT[g.cell]);
    const rowBytes = B * H * 4;
    // outputs
    if (out.y) {
      const [st, sb, so] = seqStrides(g, H, nd, d);
      k.seq_copy_f32(at(out.y, so), st, sb, hs + rowBytes, B * H, H, p.lens, T, B, H, reverse ? 1 : 0, 1, 0);
    }
    if (out.yH) k.seq_copy_f32(at(out.yH, ho), 0, hb, hs + T * rowBytes, 0, H, 0, 1, B, H, 0, 0, 0);
    if (out.yC && g.cell === "lstm") k.seq_copy_f32(at(out.yC, ho), 0, hb, cs + T * rowBytes, 0, H, 0, 1, B, H, 0, 0, 0);
  }
}

/** Gradient destinations of recurrentBackwardRun (0: not wanted); all ACCUMULATE. */
export interface RecurrentGradPointers {
  dx: number;
  dw: number;
  dr: number;
  db: number;
  dPeepholes: number;
  dh0: number;
  dc0: number;
  /** Optional, [nd, T, B, H] (viz): dL/dh entering each step in the direction's own time order (0: not recorded). */
  dhSteps?: number;
}

/**
 * Backpropagation through time from the gradients of the outputs (0 pointers: zero): dy in y's
 * layout, dyH, dyC in the states' layout. Accumulates into every non-zero gradient pointer.
 */
export function recurrentBackwardRun(
  e: Engine,
  g: RecurrentGeometry,
  p: RecurrentPointers,
  dout: { dy?: number; dyH?: number; dyC?: number },
  grads: RecurrentGradPointers,
): void {
  const k = e.kernels,
    layout = recurrentLayout(g),
    ws = backwardScratch(g);
  const { steps: T, batch: B, input: I, hidden: H } = g,
    GH = gateWidth(g),
    nd = g.directions.length;
  const at = (base: number, floats: number) => base + 4 * floats;
  const gru = g.cell === "gru",
    lstm = g.cell === "lstm",
    lbr = g.linearBeforeReset;
  const rt = at(p.scratch, ws.rt),
    packed = at(p.scratch, ws.packed),
    packedH = gru ? at(p.scratch, ws.packedH) : 0;
  const dgates = at(p.scratch, ws.dgates),
    dh = at(p.scratch, ws.dh),
    dc = at(p.scratch, ws.dc);
  const dys = at(p.scratch, ws.dys),
    dxs = at(p.scratch, ws.dxs),
    sums = at(p.scratch, ws.sums);
  const dextra = ws.dextra >= 0 ? at(p.scratch, ws.dextra) : 0,
    drh = ws.drh >= 0 ? at(p.scratch, ws.drh) : 0;
  const rows = T * B,
    rowBytes = B * H * 4,
    gateBytes = B * GH * 4,
    strips = (n: number) => Math.ceil(n / 8);
  for (let d = 0; d < nd; d++) {
    const dir = layout.saved[d]!,
      reverse = g.directions[d] === "reverse";
    const w = at(p.w, d * I * GH),
      r = at(p.r, d * H * GH);
    const xs = dir.xs < 0 ? p.x : at(p.saved, dir.xs),
      gates = at(p.saved, dir.gates),
      hs = at(p.saved, dir.hs);
    const cs = dir.cs < 0 ? 0 : at(p.saved, dir.cs);
    const [hb, ho] = stateStrides(g, nd, d);
    // running gradients start from the final states' gradients
    if (dout.dyH) k.seq_copy_f32(dh, 0, H, at(dout.dyH, ho), 0, hb, 0, 1, B, H, 0, 0, 0);
    else k.fill_f32(dh, 0, B * H);
    if (lstm && dout.dyC) k.seq_copy_f32(dc, 0, H, at(dout.dyC, ho), 0, hb, 0, 1, B, H, 0, 0, 0);
    else k.fill_f32(dc, 0, B * H);
    if (dout.dy) {
      const [st, sb, so] = seqStrides(g, H, nd, d);
      k.seq_copy_f32(dys, B * H, H, at(dout.dy, so), st, sb, p.lens, T, B, H, reverse ? 1 : 0, 1, 0);
    }
    // R^T packed once: [G*H, H] (GRU: R_zr^T [2H, H] and Rh^T [H, H] apart)
    k.transpose_f32(rt, r, H, GH);
    if (gru) {
      k.pack_b_f32(packed, rt, 2 * H, H);
      k.pack_b_f32(packedH, rt + 8 * H * H, H, H);
    } else k.pack_b_f32(packed, rt, GH, H);
    const blk = writeBlock(e, {
      batch: B,
      hidden: H,
      lens: p.lens,
      peep: p.peepholes ? at(p.peepholes, d * 3 * H) : 0,
      variant: g.cell === "rnn" ? (g.relu ? 1 : 0) : lbr ? 1 : 0,
      gates,
      hs,
      cs,
      dgates,
      dh,
      dc,
      dy: dout.dy ? dys : 0,
      dpeep: grads.dPeepholes && p.peepholes ? at(grads.dPeepholes, d * 3 * H) : 0,
      dextra,
      drh,
    });
    for (let t = T - 1; t >= 0; t--) {
      const dgt = dgates + t * gateBytes;
      if (!gru) {
        if (lstm) k.lstm_f32_backward(blk, t);
        else k.rnn_f32_backward(blk, t);
        k.gemm_f32_packed_b_strided(dh, H, dgt, GH, packed, B, H, GH, 1, 0, strips(H));
        if (grads.dhSteps) k.seq_copy_f32(at(grads.dhSteps, (d * T + t) * B * H), 0, H, dh, 0, H, 0, 1, B, H, 0, 0, 0);
        continue;
      }
      k.gru_f32_backward(blk, t, 1);
      if (lbr) {
        k.gemm_f32_packed_b_strided(dh, H, dextra + t * rowBytes, H, packedH, B, H, H, 1, 0, strips(H));
      } else {
        k.gemm_f32_packed_b_strided(drh, H, dgt + 8 * H, GH, packedH, B, H, H, 0, 0, strips(H));
        k.gru_f32_backward(blk, t, 2);
      }
      k.gemm_f32_packed_b_strided(dh, H, dgt, GH, packed, B, H, 2 * H, 1, 0, strips(H));
      if (grads.dhSteps) k.seq_copy_f32(at(grads.dhSteps, (d * T + t) * B * H), 0, H, dh, 0, H, 0, 1, B, H, 0, 0, 0);
    }
    // gradients of the initial states
    if (grads.dh0) k.seq_copy_f32(at(grads.dh0, ho), 0, hb, dh, 0, H, 0, 1, B, H, 0, 0, 1);
    if (lstm && grads.dc0) k.seq_copy_f32(at(grads.dc0, ho), 0, hb, dc, 0, H, 0, 1, B, H, 0, 0, 1);
    // weight gradients over all steps at once
    if (grads.dw) gemmThreaded(e, at(grads.dw, d * I * GH), xs, dgates, I, GH, rows, true, false, true);
    if (grads.dr) {
      const dr = at(grads.dr, d * H * GH);
      if (!gru) gemmThreaded(e, dr, hs, dgates, H, GH, rows, true, false, true);
      else {
        k.gemm_f32_strided(dr, GH, hs, H, dgates, GH, H, 2 * H, rows, 1, 0, 1, 0, 2 * H);
        if (lbr) k.gemm_f32_strided(dr + 8 * H, GH, hs, H, dextra, H, H, H, rows, 1, 0, 1, 0, H);
        else k.gemm_f32_strided(dr + 8 * H, GH, cs, H, dgates + 8 * H, GH, H, H, rows, 1, 0, 1, 0, H);
      }
    }
    if (grads.db) {
      k.fill_f32(sums, 0, GH);
      k.bias_f32_backward(sums, dgates, rows, GH);
      const dwb = at(grads.db, d * 2 * GH),
        drb = dwb + 4 * GH;
      k.axpy_f32(dwb, sums, 1, GH);
      if (gru && lbr) {
        k.axpy_f32(drb, sums, 1, 2 * H);
        k.fill_f32(sums, 0, H);
        k.bias_f32_backward(sums, dextra, rows, H);
        k.axpy_f32(drb + 8 * H, sums, 1, H);
      } else k.axpy_f32(drb, sums, 1, GH);
    }
    if (grads.dx) {
      if (dir.xs < 0) gemmThreaded(e, grads.dx, dgates, w, rows, I, GH, false, true, true);
      else {
        gemmThreaded(e, dxs, dgates, w, rows, I, GH, false, true, false);
        const [st, sb, so] = seqStrides(g, I, 1, 0);
        k.seq_copy_f32(grads.dx + 4 * so, st, sb, dxs, B * I, I, p.lens, T, B, I, reverse ? 1 : 0, 0, 1);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The functional API

/** Options of rnn / gru / lstm (ONNX attributes and optional inputs). */
export interface RecurrentOptions {
  /** Default "forward"; "bidirectional" needs nd = 2 weight slices (forward, then reverse). */
  direction?: RecurrentDirection;
  /** x [B, T, I], y [B, T, nd, H], states [B, nd, H] (ONNX layout 1). Default false: [T, B, I], [T, nd, B, H], [nd, B, H]. */
  batchFirst?: boolean;
  /** Steps of each batch row (i32 tensor [B] or numbers, each in [0, T]); default T for all. */
  sequenceLengths?: Tensor | ArrayLike<number> | null;
  /** Initial hidden state ([nd, B, H], batch-first [B, nd, H]); default zeros. */
  initialH?: Tensor | null;
  /** LSTM: initial cell state, like initialH. */
  initialC?: Tensor | null;
  /** LSTM: peephole weights [nd, 3H] (i, o, f). */
  peepholes?: Tensor | null;
  /** RNN: "tanh" (default) or "relu". */
  activation?: "tanh" | "relu";
  /** GRU: apply the reset gate after the recurrent product (ONNX linear_before_reset; PyTorch's GRU). Default false. */
  linearBeforeReset?: boolean;
  /** Clamp every gate pre-activation to [-clip, clip] (ONNX clip; inference only: backward refuses it). */
  clip?: number;
}

/** What backward needs from a forward call; disposing it frees the saved activations. */
export interface RecurrentSaved {
  readonly geometry: RecurrentGeometry;
  readonly x: Tensor;
  readonly w: Tensor;
  readonly r: Tensor;
  readonly b: Tensor | null;
  readonly peepholes: Tensor | null;
  readonly initialH: Tensor | null;
  readonly initialC: Tensor | null;
  /** The saved activations (recurrentLayout(geometry).savedFloats floats). */
  readonly state: Tensor;
  /** i32 [B] copy of the sequence lengths, if given. */
  readonly lengths: Tensor | null;
  dispose(): void;
}

/** The outputs of rnn / gru / lstm and what their backward needs. */
export interface RecurrentResult {
  /** Every step's output: [T, nd, B, H] (batch-first [B, T, nd, H]), zero past a sequence's length. */
  y: Tensor;
  /** The last valid hidden state of each sequence: [nd, B, H] (batch-first [B, nd, H]). */
  yH: Tensor;
  /** LSTM: the last cell state, like yH. */
  yC?: Tensor;
  saved: RecurrentSaved;
}

function checkWeights(op: string, cell: RecurrentCell, nd: number, x: Tensor, w: Tensor, r: Tensor, b: Tensor | null | undefined, batchFirst: boolean) {
  checkTensor(op, "x", x, { rank: 3 });
  checkTensor(op, "w", w, { rank: 3 });
  checkTensor(op, "r", r, { rank: 3 });
  const [T, B, I] = batchFirst ? [x.shape[1]!, x.shape[0]!, x.shape[2]!] : (x.shape as [number, number, number]);
  const G = GATE_COUNT[cell],
    H = r.shape[1]!;
  if (r.shape[0] !== nd || r.shape[2] !== G * H) {
    fail(op, `r must be [directions ${nd}, hidden, ${G} x hidden] ([H, ${G}H] per direction, gates as ONNX orders them), got ${fmtShape(r.shape)}`);
  }
  if (w.shape[0] !== nd || w.shape[1] !== I || w.shape[2] !== G * H) {
    fail(
      op,
      `w must be [${nd}, ${I}, ${G * H}] (directions, x ${fmtShape(x.shape)}'s ${I} input features, ${G} gates x hidden ${H}), got ${fmtShape(w.shape)}`,
    );
  }
  if (b) {
    checkTensor(op, "b", b);
    checkShape(op, "b", b, [nd, 2 * G * H]);
  }
  if (T < 1 || B < 1) fail(op, `x ${fmtShape(x.shape)} needs at least one step and one sequence`);
  return { T, B, I, H };
}

function directionsOf(op: string, direction: unknown): ("forward" | "reverse")[] {
  if (direction === undefined || direction === "forward") return ["forward"];
  if (direction === "reverse") return ["reverse"];
  if (direction === "bidirectional") return ["forward", "reverse"];
  fail(op, `direction must be "forward", "reverse" or "bidirectional", got ${fmtValue(direction)}`);
}

/** The lengths as an i32 tensor [B] (a copy), checked to lie in [0, T]. */
function lengthsTensor(op: string, e: Engine, lengths: Tensor | ArrayLike<number>, T: number, B: number): Tensor {
  let values: ArrayLike<number>;
  if (typeof lengths === "object" && lengths !== null && "ptr" in lengths) {
    const t = lengths as Tensor;
    checkTensor(op, "sequenceLengths", t, { dtype: t.dtype });
    if (t.size !== B) fail(op, `sequenceLengths must have ${B} entries (one per sequence), got shape ${fmtShape(t.shape)}`);
    values = t.dtype === "i32" ? t.ints : t.data;
  } else {
    if (!lengths || typeof (lengths as ArrayLike<number>).length !== "number")
      fail(op, `sequenceLengths must be a tensor or an array of numbers, got ${fmtValue(lengths)}`);
    values = lengths as ArrayLike<number>;
    if (values.length !== B) fail(op, `sequenceLengths must have ${B} entries (one per sequence), got ${values.length}`);
  }
  for (let i = 0; i < B; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v > T) fail(op, `sequenceLengths[${i}] must be an integer in [0, ${T}] (the steps of x), got ${fmtValue(v)}`);
  }
  return e.ints([B], Array.from(values));
}

function recurrent(cell: RecurrentCell, op: string, x: Tensor, w: Tensor, r: Tensor, b: Tensor | null | undefined, options: RecurrentOptions): RecurrentResult {
  const o = checkOptions(op, "options", options);
  const batchFirst = o.batchFirst ?? false;
  if (typeof batchFirst !== "boolean") fail(op, `batchFirst must be a boolean, got ${fmtValue(batchFirst)}`);
  const directions = directionsOf(op, o.direction);
  const nd = directions.length;
  const e = engineOf(op, x, w, r, b, o.initialH, o.initialC, o.peepholes);
  const { T, B, I, H } = checkWeights(op, cell, nd, x, w, r, b, batchFirst);
  const stateShape: Shape = batchFirst ? [B, nd, H] : [nd, B, H];
  for (const [name, t] of [
    ["initialH", o.initialH],
    ["initialC", o.initialC],
  ] as const) {
    if (!t) continue;
    if (name === "initialC" && cell !== "lstm") fail(op, "initialC is an LSTM input");
    checkTensor(op, name, t);
    checkShape(op, name, t, stateShape);
  }
  if (o.peepholes) {
    if (cell !== "lstm") fail(op, "peepholes are an LSTM input");
    checkTensor(op, "peepholes", o.peepholes);
    checkShape(op, "peepholes", o.peepholes, [nd, 3 * H]);
  }
  if (o.activation !== undefined && (cell !== "rnn" || (o.activation !== "tanh" && o.activation !== "relu"))) {
    fail(
      op,
      cell === "rnn"
        ? `activation must be "tanh" or "relu", got ${fmtValue(o.activation)}`
        : "activation is an option of rnn (GRU and LSTM use sigmoid and tanh)",
    );
  }
  if (o.linearBeforeReset !== undefined && (cell !== "gru" || typeof o.linearBeforeReset !== "boolean")) {
    fail(op, cell === "gru" ? `linearBeforeReset must be a boolean, got ${fmtValue(o.linearBeforeReset)}` : "linearBeforeReset is an option of gru");
  }
  const clip = o.clip ?? Infinity;
  if (o.clip !== undefined && !(checkFinite(op, "clip", o.clip) > 0)) fail(op, `clip must be > 0, got ${o.clip}`);
  const g: RecurrentGeometry = {
    cell,
    steps: T,
    batch: B,
    input: I,
    hidden: H,
    directions,
    batchFirst,
    relu: o.activation === "relu",
    linearBeforeReset: o.linearBeforeReset ?? false,
    clip,
    peepholes: !!o.peepholes,
    lengths: o.sequenceLengths != null,
  };
  const layout = recurrentLayout(g);
  const made: Tensor[] = [];
  try {
    const lengths = o.sequenceLengths != null ? lengthsTensor(op, e, o.sequenceLengths, T, B) : null;
    if (lengths) made.push(lengths);
    const state = e.empty([layout.savedFloats], "f32", `${op} saved activations`);
    made.push(state);
    const y = outputTensor(op, e, batchFirst ? [B, T, nd, H] : [T, nd, B, H]);
    made.push(y);
    const yH = outputTensor(op, e, stateShape);
    made.push(yH);
    const yC = cell === "lstm" ? outputTensor(op, e, stateShape) : undefined;
    if (yC) made.push(yC);
    const scratch = e.empty([layout.forwardScratchFloats], "f32", `${op} workspace`);
    try {
      recurrentForwardRun(
        e,
        g,
        {
          x: x.ptr,
          w: w.ptr,
          r: r.ptr,
          b: b?.ptr ?? 0,
          peepholes: o.peepholes?.ptr ?? 0,
          h0: o.initialH?.ptr ?? 0,
          c0: o.initialC?.ptr ?? 0,
          lens: lengths?.ptr ?? 0,
          saved: state.ptr,
          scratch: scratch.ptr,
        },
        { y: y.ptr, yH: yH.ptr, yC: yC?.ptr ?? 0 },
      );
    } finally {
      scratch.dispose();
    }
    const saved: RecurrentSaved = {
      geometry: g,
      x,
      w,
      r,
      b: b ?? null,
      peepholes: o.peepholes ?? null,
      initialH: o.initialH ?? null,
      initialC: o.initialC ?? null,
      state,
      lengths,
      dispose() {
        state.dispose();
        lengths?.dispose();
      },
    };
    return yC ? { y, yH, yC, saved } : { y, yH, saved };
  } catch (err) {
    for (const t of made) t.dispose();
    throw err;
  }
}

/**
 * Elman RNN (ONNX RNN): h_t = act(x_t W + h_{t-1} R + Wb + Rb), act tanh or relu. w [nd, I, H],
 * r [nd, H, H], b [nd, 2H] (optional). See RecurrentOptions for layouts and the optional inputs.
 */
export function rnn(x: Tensor, w: Tensor, r: Tensor, b?: Tensor | null, options: RecurrentOptions = {}): RecurrentResult {
  return recurrent("rnn", "rnn", x, w, r, b, options);
}

/**
 * GRU (ONNX GRU, gates z, r, h): w [nd, I, 3H], r [nd, H, 3H], b [nd, 6H] (optional);
 * `linearBeforeReset` picks where the reset gate applies, as ONNX defines it.
 */
export function gru(x: Tensor, w: Tensor, r: Tensor, b?: Tensor | null, options: RecurrentOptions = {}): RecurrentResult {
  return recurrent("gru", "gru", x, w, r, b, options);
}

/**
 * LSTM (ONNX LSTM, gates i, o, f, c; optional peepholes p_i, p_o, p_f): w [nd, I, 4H],
 * r [nd, H, 4H], b [nd, 8H] (optional). Returns y, yH and yC.
 */
export function lstm(x: Tensor, w: Tensor, r: Tensor, b?: Tensor | null, options: RecurrentOptions = {}): RecurrentResult {
  return recurrent("lstm", "lstm", x, w, r, b, options);
}

/** Gradients of a recurrent call; given tensors are accumulated into. */
export interface RecurrentGrads {
  dx?: Tensor;
  dw?: Tensor;
  dr?: Tensor;
  db?: Tensor;
  dPeepholes?: Tensor;
  dInitialH?: Tensor;
  dInitialC?: Tensor;
}

/**
 * Backpropagation through time of rnn / gru / lstm from the gradients of its outputs (any may be
 * omitted: zero): dy like y, dyH like yH, dyC like yC. The weights' gradients are summed over all
 * steps. Returns every gradient (b, peepholes and the initial states only where the forward had
 * them), accumulated into the tensors given in `grads`. The forward's inputs must be unchanged.
 */
export function recurrentBackward(
  saved: RecurrentSaved,
  outputs: { dy?: Tensor | null; dyH?: Tensor | null; dyC?: Tensor | null },
  grads: RecurrentGrads = {},
): Required<Pick<RecurrentGrads, "dx" | "dw" | "dr">> & RecurrentGrads {
  const op = `${saved?.geometry?.cell ?? "recurrent"}Backward`;
  if (!saved || typeof saved !== "object" || !saved.geometry || !saved.state) fail(op, "saved must be the `saved` of an rnn / gru / lstm result");
  saved.state.assertLive(`${op}: saved`);
  const g = saved.geometry;
  if (g.clip !== Infinity) fail(op, "clip is for inference: its gradient is not implemented (call the forward without clip)");
  outputs = checkOptions(op, "outputs", outputs);
  grads = checkOptions(op, "grads", grads);
  const { steps: T, batch: B, hidden: H } = g,
    nd = g.directions.length;
  const e = engineOf(op, saved.x, outputs.dy, outputs.dyH, outputs.dyC);
  const stateShape: Shape = g.batchFirst ? [B, nd, H] : [nd, B, H];
  if (outputs.dy) {
    checkTensor(op, "dy", outputs.dy);
    checkShape(op, "dy", outputs.dy, g.batchFirst ? [B, T, nd, H] : [T, nd, B, H]);
  }
  for (const name of ["dyH", "dyC"] as const) {
    const t = outputs[name];
    if (!t) continue;
    if (name === "dyC" && g.cell !== "lstm") fail(op, "dyC is the gradient of an LSTM's yC");
    checkTensor(op, name, t);
    checkShape(op, name, t, stateShape);
  }
  for (const t of [saved.x, saved.w, saved.r, saved.b, saved.peepholes, saved.initialH, saved.initialC]) t?.assertLive(`${op}: a forward input`);
  const dx = gradTensor(op, "dx", e, saved.x.shape, grads.dx);
  const dw = gradTensor(op, "dw", e, saved.w.shape, grads.dw);
  const dr = gradTensor(op, "dr", e, saved.r.shape, grads.dr);
  const db = saved.b ? gradTensor(op, "db", e, saved.b.shape, grads.db) : undefined;
  const dPeepholes = saved.peepholes ? gradTensor(op, "dPeepholes", e, saved.peepholes.shape, grads.dPeepholes) : undefined;
  const dInitialH = saved.initialH ? gradTensor(op, "dInitialH", e, stateShape, grads.dInitialH) : undefined;
  const dInitialC = saved.initialC ? gradTensor(op, "dInitialC", e, stateShape, grads.dInitialC) : undefined;
  const scratch = e.empty([recurrentLayout(g).backwardScratchFloats], "f32", `${op} workspace`);
  try {
    recurrentBackwardRun(
      e,
      g,
      {
        x: saved.x.ptr,
        w: saved.w.ptr,
        r: saved.r.ptr,
        b: saved.b?.ptr ?? 0,
        peepholes: saved.peepholes?.ptr ?? 0,
        h0: saved.initialH?.ptr ?? 0,
        c0: saved.initialC?.ptr ?? 0,
        lens: saved.lengths?.ptr ?? 0,
        saved: saved.state.ptr,
        scratch: scratch.ptr,
      },
      { dy: outputs.dy?.ptr ?? 0, dyH: outputs.dyH?.ptr ?? 0, dyC: outputs.dyC?.ptr ?? 0 },
      {
        dx: dx.ptr,
        dw: dw.ptr,
        dr: dr.ptr,
        db: db?.ptr ?? 0,
        dPeepholes: dPeepholes?.ptr ?? 0,
        dh0: dInitialH?.ptr ?? 0,
        dc0: dInitialC?.ptr ?? 0,
      },
    );
  } finally {
    scratch.dispose();
  }
  const out: Required<Pick<RecurrentGrads, "dx" | "dw" | "dr">> & RecurrentGrads = { dx, dw, dr };
  if (db) out.db = db;
  if (dPeepholes) out.dPeepholes = dPeepholes;
  if (dInitialH) out.dInitialH = dInitialH;
  if (dInitialC) out.dInitialC = dInitialC;
  return out;
}

/** The backward of rnn: recurrentBackward. */
export const rnnBackward = recurrentBackward;
/** The backward of gru: recurrentBackward. */
export const gruBackward = recurrentBackward;
/** The backward of lstm: recurrentBackward. */
export const lstmBackward = recurrentBackward;

/**
 * The hidden and (LSTM) cell states a forward call saved, per direction, time-major in that
 * direction's own order: h[d] holds [T+1, B, H] (row 0 the initial state, row t+1 after step t;
 * for "reverse", step t reads x at lens[b] - 1 - t), c[d] likewise (LSTM; empty otherwise). Copies.
 */
export function recurrentStates(saved: RecurrentSaved): { h: Float32Array[]; c: Float32Array[] } {
  saved.state.assertLive("recurrentStates: saved");
  const g = saved.geometry,
    layout = recurrentLayout(g),
    n = (g.steps + 1) * g.batch * g.hidden,
    v = saved.state.data;
  return {
    h: layout.saved.map((d) => v.slice(d.hs, d.hs + n)),
    c: g.cell === "lstm" ? layout.saved.map((d) => v.slice(d.cs, d.cs + n)) : [],
  };
}

// ---------------------------------------------------------------------------------------------
// Embedding

/** Checks that every id of `ids` (f32 holding integers) lies in [0, vocab); names the first bad one. */
export function checkIds(op: string, ids: Tensor, vocab: number): void {
  const v = ids.data;
  for (let i = 0; i < v.length; i++) {
    const id = v[i]!;
    if (!(Number.isInteger(id) && id >= 0 && id < vocab)) fail(op, `ids[${i}] is ${fmtValue(id)}, not an integer in [0, ${vocab}) (the table's ${vocab} rows)`);
  }
}

/** Embedding lookup: y [...ids.shape, dim] = table [vocab, dim] rows at ids (f32 holding integers). */
export function embedding(ids: Tensor, table: Tensor, out?: Tensor): Tensor {
  const op = "embedding";
  const e = engineOf(op, ids, table, out);
  checkTensor(op, "ids", ids);
  checkTensor(op, "table", table, { rank: 2 });
  const [vocab, dim] = table.shape as [number, number];
  checkIds(op, ids, vocab);
  const y = outputTensor(op, e, [...ids.shape, dim], out);
  e.kernels.embedding_f32_forward(y.ptr, table.ptr, ids.ptr, ids.size, dim);
  return y;
}

/** Gradient of embedding: dtable [vocab, dim] += dy rows scattered to their ids (repeated ids sum). */
export function embeddingBackward(dy: Tensor, ids: Tensor, tableShape: Shape, dtable?: Tensor): Tensor {
  const op = "embeddingBackward";
  const e = engineOf(op, dy, ids, dtable);
  checkTensor(op, "dy", dy);
  checkTensor(op, "ids", ids);
  const [vocab, dim] = tableShape as [number, number];
  checkShape(op, "dy", dy, [...ids.shape, dim]);
  checkIds(op, ids, vocab);
  const d = gradTensor(op, "dtable", e, [vocab, dim], dtable);
  e.kernels.embedding_f32_backward(d.ptr, dy.ptr, ids.ptr, ids.size, dim);
  return d;
}
