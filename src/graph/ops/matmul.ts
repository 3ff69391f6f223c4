// MatMul with NumPy semantics: 1-D operands promoted ([K] as [1, K] on the left, [K, 1] on the
// right, the added axis dropped from the result) and batch axes broadcast. Operands in ONNX order.
// Algorithms:
//   matMul.packed   constant 2-D B and at most 8 rows in all: B packed once into strips (as Gemm's
//                   gemm.packed), each run streams them;
//   matMul.gemm     one GEMM when B has no batch (A's batch and rows are one [batch * M, K] matrix),
//                   else one GEMM per batch index with broadcast offsets; with several threads and
//                   at least as many batches, whole products run side by side (one per part).
import type { Engine } from "../../engine.js";
import { fail, fmtShape } from "../../errors.js";
import { dense, packDenseWeights } from "../../ops/dense.js";
import { gemmScratchFloats, gemmThreaded, partsFor } from "../../threads/parallel.js";
import { MAX_PARTS } from "../../threads/protocol.js";
import { onnxOrder, type PlanNode, registerOp } from "../registry.js";
import { isFloat, sizeOfDims } from "../types.js";
import { broadcastShapes } from "./elementwise.js";
import { inputView, outputView } from "./util.js";

/** A MatMul's geometry: per-batch m, n, k, the output batch shape and each operand's batch strides. */
export interface MatMulGeometry {
  m: number;
  n: number;
  k: number;
  batch: number[];
  /** Element offsets of A's and B's matrix per output batch axis (0 where broadcast). */
  aBatchStrides: number[];
  bBatchStrides: number[];
  out: number[];
}

export function matMulGeometry(c: { fail(m: string): never }, a: readonly number[], b: readonly number[]): MatMulGeometry {
  if (a.length === 0 || b.length === 0) c.fail(`operands must have rank >= 1, got ${fmtShape(a)} and ${fmtShape(b)}`);
  const A = a.length === 1 ? [1, a[0]!] : [...a],
    B = b.length === 1 ? [b[0]!, 1] : [...b];
  const m = A[A.length - 2]!,
    k = A[A.length - 1]!,
    k2 = B[B.length - 2]!,
    n = B[B.length - 1]!;
  if (k !== k2) c.fail(`inner dimensions differ: ${fmtShape(a)} x ${fmtShape(b)}`);
  const ab = A.slice(0, -2),
    bb = B.slice(0, -2);
  const batch = broadcastShapes(c, [ab, bb]);
  const strides = (own: number[], matrix: number) => {
    const s = new Array<number>(batch.length).fill(0);
    let acc = matrix;
    for (let i = own.length - 1; i >= 0; i--) {
      const j = batch.length - own.length + i;
      s[j] = own[i] === 1 ? 0 : acc;
      acc *= own[i]!;
    }
    return s;
  };
  const out = [...batch, ...(a.length === 1 ? [] : [m]), ...(b.length === 1 ? [] : [n])];
  return { m, n, k, batch, aBatchStrides: strides(ab, m * k), bBatchStrides: strides(bb, k * n), out };
}

const geometryOf = (n: PlanNode<void>) => matMulGeometry({ fail: (m) => fail(n.where, m) }, n.inputs[0]!.shape, n.inputs[1]!.shape);

/** Whether B contributes the same matrix to every batch index (no batch, or all 1). */
const bUnbatched = (g: MatMulGeometry) => g.bBatchStrides.every((s) => s === 0);

/** Whether A's batch and rows form one contiguous [batches * m, k] matrix against an unbatched B. */
const oneProduct = (g: MatMulGeometry) => bUnbatched(g) && g.aBatchStrides.every((s, i) => s !== 0 || g.batch[i] === 1);

/** Per output batch index t: byte addresses of A's, B's and Y's matrices at 3t, 3t + 1, 3t + 2. */
export function batchOffsets(g: MatMulGeometry, A: number, B: number, Y: number): Int32Array {
  const batches = sizeOfDims(g.batch);
  const offs = new Int32Array(3 * batches);
  const idx = new Array<number>(g.batch.length).fill(0);
  for (let t = 0; t < batches; t++) {
    let ao = 0,
      bo = 0;
    idx.forEach((v, i) => ((ao += v * g.aBatchStrides[i]!), (bo += v * g.bBatchStrides[i]!)));
    offs[3 * t] = A + 4 * ao;
    offs[3 * t + 1] = B + 4 * bo;
    offs[3 * t + 2] = Y + 4 * t * g.m * g.n;
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i]! < g.batch[i]!) break;
      idx[i] = 0;
    }
  }
  return offs;
}

/**
 * The backward of MatMul (geometry g: shapes, broadcasting, 1-D promotion), accumulating into
 * ONNX-order buffers (byte addresses; dA or dB 0 when not wanted):
 *   dA_t += dY_t . B_t^T,   dB_t += A_t^T . dY_t   for every output batch index t,
 * so a broadcast operand's gradient sums over the batch indices it was repeated along. With an
 * unbatched B this is one product each (A's batch and rows as one matrix). offs:
 * batchOffsets(g, 0, 0, 0), precomputed by callers that run often. scratch: a byte address of
 * matMulBackwardScratchFloats(g) floats for gemmThreaded's transposed operand (else it takes
 * one from the heap when a shape wants it).
 */
export function matMulBackward(
  e: Engine,
  g: MatMulGeometry,
  dA: number,
  dB: number,
  dY: number,
  A: number,
  B: number,
  offs: Int32Array = batchOffsets(g, 0, 0, 0),
  scratch?: number,
): void {
  const { m, n, k } = g;
  const batches = sizeOfDims(g.batch);
  if (batches === 0 || m === 0 || n === 0 || k === 0) return;
  if (oneProduct(g)) {
    const rows = batches * m;
    if (dA) gemmThreaded(e, dA, dY, B, rows, k, n, false, true, true, scratch);
    if (dB) gemmThreaded(e, dB, A, dY, k, n, rows, true, false, true, scratch);
    return;
  }
  for (let t = 0; t < batches; t++) {
    const ao = offs[3 * t]!,
      bo = offs[3 * t + 1]!,
      yo = offs[3 * t + 2]!;
    if (dA) gemmThreaded(e, dA + ao, dY + yo, B + bo, m, k, n, false, true, true, scratch);
    if (dB) gemmThreaded(e, dB + bo, A + ao, dY + yo, k, n, m, true, false, true, scratch);
  }
}

/** Floats of scratch matMulBackward's products need (the larger of dA's and dB's). */
export function matMulBackwardScratchFloats(g: MatMulGeometry): number {
  const rows = oneProduct(g) ? sizeOfDims(g.batch) * g.m : g.m;
  return Math.max(gemmScratchFloats(rows, g.k, g.n, false, true), gemmScratchFloats(g.k, g.n, rows, true, false));
}

registerOp<void>({
  type: "MatMul",
  parse: () => undefined,
  infer(c) {
    const A = c.need(0, "A"),
      B = c.need(1, "B");
    if (!isFloat(A.dataType) || !isFloat(B.dataType)) c.fail("only float operands are supported");
    return [{ dataType: A.dataType, shape: matMulGeometry(c, A.shape, B.shape).out }];
  },
  layout: onnxOrder,
  gradient(g) {
    const dy = g.dy(0);
    if (!dy) return;
    for (const wrt of [0, 1]) if (g.wants(wrt)) g.add(wrt, g.op("MatMulBroadcastGrad", [dy, g.x(0), g.x(1)], { wrt })[0]!);
  },
  algorithms: [
    {
      name: "matMul.packed",
      eligible: (n) => {
        if (n.target.build === "scalar" || !n.inputs[1]!.isConstant) return false;
        const g = geometryOf(n);
        return bUnbatched(g) && sizeOfDims(g.batch) * g.m <= 8 && g.k > 0 && g.n > 0;
      },
      setup(n) {
        const g = geometryOf(n);
        const rows = sizeOfDims(g.batch) * g.m;
        const a = inputView(n, 0, [rows, g.k]),
          y = outputView(n, 0, [rows, g.n]);
        const packed = n.own(packDenseWeights(inputView(n, 1, [g.k, g.n])));
        return () => void dense(a, packed, null, y);
      },
    },
    {
      name: "matMul.gemm",
      setup(n) {
        const e = n.engine,
          g = geometryOf(n);
        const A = n.input(0),
          B = n.input(1),
          Y = n.output(0);
        const { m, k } = g,
          nn = g.n;
        const batches = sizeOfDims(g.batch);
        if (batches === 0 || m === 0 || nn === 0) return () => {};
        if (oneProduct(g)) {
          // A's batch and rows are one contiguous [batches * m, k] matrix
          const rows = batches * m;
          return () => gemmThreaded(e, Y, A, B, rows, nn, k, false, false, false);
        }
        const offs = batchOffsets(g, A, B, Y);
        if (e.threads > 1 && batches >= e.threads && m * nn * k < e.minParallelWork) {
          // small products, many of them: whole products side by side, MAX_PARTS at a time
          const parts: number[][] = [];
          for (let t = 0; t < batches; t++) parts.push([offs[3 * t + 2]!, offs[3 * t]!, offs[3 * t + 1]!, m, nn, k, 0, 0, 0, 0, m, 0, nn]);
          const chunks: number[][][] = [];
          const per = Math.min(MAX_PARTS, Math.max(partsFor(e.threads), e.threads));
          for (let i = 0; i < parts.length; i += per) chunks.push(parts.slice(i, i + per));
          return () => {
            for (const c of chunks) e.parallel("gemm_f32_block", c);
          };
        }
        return () => {
          for (let t = 0; t < batches; t++) gemmThreaded(e, offs[3 * t + 2]!, offs[3 * t]!, offs[3 * t + 1]!, m, nn, k, false, false, false);
        };
      },
    },
  ],
});

// MatMul's gradient with respect to operand attrs.wrt (0: A, 1: B): inputs [dy, A, B], all in ONNX
// order; summed over the batch indices a broadcast operand was repeated along.
registerOp<{ wrt: number }>({
  type: "MatMulBroadcastGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(1 + c.attrs.wrt, c.attrs.wrt ? "B" : "A")],
  layout: onnxOrder,
  algorithms: [
    {
      name: "matMulBroadcastGrad.gemm",
      workspaceBytes: (n) => 4 * matMulBackwardScratchFloats(matMulGeometry({ fail: (m) => fail(n.where, m) }, n.inputs[1]!.shape, n.inputs[2]!.shape)),
      setup(n) {
        const e = n.engine,
          g = matMulGeometry({ fail: (m) => fail(n.where, m) }, n.inputs[1]!.shape, n.inputs[2]!.shape);
        const d = n.output(0),
          size = n.outputs[0]!.size,
          dy = n.input(0),
          A = n.input(1),
          B = n.input(2),
          wrt = n.attrs.wrt,
          offs = batchOffsets(g, 0, 0, 0),
          scratch = n.workspace;
        return () => {
          e.kernels.fill_f32(d, 0, size);
          matMulBackward(e, g, wrt === 0 ? d : 0, wrt === 1 ? d : 0, dy, A, B, offs, scratch);
        };
      },
    },
  ],
});
