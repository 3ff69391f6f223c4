// Detection ops. Post-processing whose output shape is the run's data:
//   NonMaxSuppression(boxes [B, N, 4], scores [B, C, N], max_output_boxes_per_class?, iou_threshold?,
//                     score_threshold?) -> selected_indices [K, 3] int64 (batch, class, box)
// computed on the host once its inputs are known: while planning when they are constants, else
// after the nodes before it ran (a staged plan, plan.ts StagedPlan), reading boxes and scores back.
// The selection is onnxruntime's CPU kernel's, in float32: per batch and class, boxes scoring
// above score_threshold in decreasing score (ties: lower box index first), each kept unless its
// IoU with a box already kept exceeds iou_threshold, up to max_output_boxes_per_class.
import { fail, fmtShape } from "../../errors.js";
import { DataType } from "../../onnx/onnx-proto.js";
import { type Algorithm, type BoundNode, type InferContext, registerOp } from "../registry.js";
import { elemOf, type HostTensor, hostTensor, identityPerm } from "../types.js";
import { typedInput } from "./elementwise.js";
import { zeroOutput } from "./grad.js";
import { channelsLast, knownScalar } from "./util.js";

interface NmsAttrs {
  /** 0: [y1, x1, y2, x2] (any two opposite corners); 1: [x_center, y_center, width, height]. */
  centerPointBox: number;
}

const f = Math.fround;

/** Boxes as float32 corners (xmin, ymin, xmax, ymax: 4 per box) from their four numbers in the attribute's form. */
function corners(b: Float32Array, N: number, centerPointBox: number): Float32Array {
  const out = new Float32Array(N * 4);
  for (let i = 0; i < N * 4; i += 4) {
    if (centerPointBox === 0) {
      const y1 = b[i]!,
        x1 = b[i + 1]!,
        y2 = b[i + 2]!,
        x2 = b[i + 3]!;
      out[i] = Math.min(x1, x2);
      out[i + 1] = Math.min(y1, y2);
      out[i + 2] = Math.max(x1, x2);
      out[i + 3] = Math.max(y1, y2);
    } else {
      const hw = f(b[i + 2]! / 2),
        hh = f(b[i + 3]! / 2);
      out[i] = b[i]! - hw;
      out[i + 1] = b[i + 1]! - hh;
      out[i + 2] = b[i]! + hw;
      out[i + 3] = b[i + 1]! + hh;
    }
  }
  return out;
}

/** Whether boxes a and b (indices into corners `c`) overlap by more than `threshold` IoU (float32, as onnxruntime). */
function overlaps(c: Float32Array, a: number, b: number, threshold: number): boolean {
  const ix = f(Math.max(f(Math.min(c[a + 2]!, c[b + 2]!) - Math.max(c[a]!, c[b]!)), 0));
  const iy = f(Math.max(f(Math.min(c[a + 3]!, c[b + 3]!) - Math.max(c[a + 1]!, c[b + 1]!)), 0));
  const inter = f(ix * iy);
  if (inter <= 0) return false;
  const areaA = f(f(c[a + 2]! - c[a]!) * f(c[a + 3]! - c[a + 1]!));
  const areaB = f(f(c[b + 2]! - c[b]!) * f(c[b + 3]! - c[b + 1]!));
  const union = f(f(areaA + areaB) - inter);
  if (areaA <= 0 || areaB <= 0 || union <= 0) return false;
  return f(inter / union) > threshold;
}

/**
 * The boxes kept so far, sorted by xmin, so that a candidate is compared only with those whose x
 * extent can intersect its own (a box with no intersection never suppresses): exactly the greedy
 * selection, without comparing every pair (torchvision's batched NMS offsets each class's boxes
 * apart, so most kept boxes are far away).
 */
class KeptBoxes {
  private readonly xmin: Float64Array;
  private readonly at: Int32Array;
  private n = 0;
  /** The widest kept box's x extent. */
  private widest = 0;
  constructor(
    private readonly c: Float32Array,
    capacity: number,
  ) {
    this.xmin = new Float64Array(capacity);
    this.at = new Int32Array(capacity);
  }
  /** The first position whose xmin is >= x. */
  private lowerBound(x: number): number {
    let lo = 0,
      hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.xmin[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  suppresses(box: number, threshold: number): boolean {
    const c = this.c;
    const x0 = c[box]!,
      x1 = c[box + 2]!;
    // a kept box intersecting in x has xmin < x1 and xmin + width > x0: scan a margin wider
    const margin = this.widest * (1 + 1e-6) + 1e-30;
    for (let k = this.lowerBound(x0 - margin); k < this.n && this.xmin[k]! <= x1; k++) if (overlaps(c, this.at[k]!, box, threshold)) return true;
    return false;
  }
  add(box: number): void {
    const c = this.c;
    const x0 = c[box]!,
      width = c[box + 2]! - x0;
    const k = this.lowerBound(x0);
    this.xmin.copyWithin(k + 1, k, this.n);
    this.at.copyWithin(k + 1, k, this.n);
    this.xmin[k] = x0;
    this.at[k] = box;
    this.n++;
    this.widest = Math.max(this.widest, width);
  }
}

function nonMaxSuppression(c: InferContext<NmsAttrs>): HostTensor {
  const boxes = c.value(0) ?? c.fail("boxes must be known when planning"),
    scores = c.value(1) ?? c.fail("scores must be known when planning");
  if (boxes.dims.length !== 3 || boxes.dims[2] !== 4) c.fail(`boxes must be [batches, boxes, 4], got ${fmtShape(boxes.dims)}`);
  if (scores.dims.length !== 3) c.fail(`scores must be [batches, classes, boxes], got ${fmtShape(scores.dims)}`);
  const [B, N] = boxes.dims as [number, number, number];
  const C = scores.dims[1]!;
  if (scores.dims[0] !== B || scores.dims[2] !== N) c.fail(`scores ${fmtShape(scores.dims)} must be [${B}, classes, ${N}] for boxes ${fmtShape(boxes.dims)}`);
  if (!(boxes.data instanceof Float32Array) || !(scores.data instanceof Float32Array)) c.fail("boxes and scores must be float tensors");
  const maxPerClass = knownScalar(c, 2, "max_output_boxes_per_class") ?? 0;
  const iou = f(knownScalar(c, 3, "iou_threshold") ?? 0);
  const threshold = knownScalar(c, 4, "score_threshold");
  const hasScoreThreshold = threshold !== undefined;
  const scoreThreshold = f(threshold ?? 0);
  if (!(iou >= 0 && iou <= 1)) c.fail(`iou_threshold must be in [0, 1], got ${iou}`);
  const { centerPointBox } = c.attrs;
  const picked: number[] = [];
  if (maxPerClass > 0)
    for (let b = 0; b < B; b++) {
      const box = corners(boxes.data.subarray(b * N * 4, (b + 1) * N * 4), N, centerPointBox);
      for (let k = 0; k < C; k++) {
        const s = scores.data.subarray((b * C + k) * N, (b * C + k + 1) * N);
        const candidates: number[] = [];
        for (let i = 0; i < N; i++) if (!hasScoreThreshold || s[i]! > scoreThreshold) candidates.push(i);
        // decreasing score, ties by lower index (onnxruntime's priority queue order); NaN scores last
        const key = (i: number) => (Number.isNaN(s[i]!) ? -Infinity : s[i]!);
        candidates.sort((i, j) => (key(i) === key(j) ? i - j : key(j) > key(i) ? 1 : -1));
        const kept = new KeptBoxes(box, Math.min(candidates.length, maxPerClass));
        let count = 0;
        for (const i of candidates) {
          if (count >= maxPerClass) break;
          const at = i * 4;
          // a box with a NaN or infinite coordinate has an IoU of 0 or NaN with any other: it is
          // kept, and never suppresses another
          const finite = Number.isFinite(box[at]!) && Number.isFinite(box[at + 1]!) && Number.isFinite(box[at + 2]!) && Number.isFinite(box[at + 3]!);
          if (finite && kept.suppresses(at, iou)) continue;
          if (finite) kept.add(at);
          count++;
          picked.push(b, k, i);
        }
      }
    }
  return hostTensor(DataType.INT64, [picked.length / 3, 3], picked);
}

registerOp<NmsAttrs>({
  type: "NonMaxSuppression",
  valueInputs: [0, 1, 2, 3, 4],
  parse(at) {
    const centerPointBox = at.int("center_point_box", 0);
    if (centerPointBox !== 0 && centerPointBox !== 1) fail(at.where, `center_point_box must be 0 or 1, got ${centerPointBox}`);
    return { centerPointBox };
  },
  infer: (c) => [{ dataType: DataType.INT64, shape: nonMaxSuppression(c).dims }],
  fromTypes: (c) => [nonMaxSuppression(c)],
  algorithms: [],
});

// ---------------------------------------------------------------------------------------------
// RoiAlign(X [N, C, H, W], rois [R, 4], batch_indices [R]) -> [R, C, output_height, output_width]
// on assembly/roialign.ts's kernels, X and Y channels last. Before each run the host reads the
// rois and batch indices (R x 5 numbers): an index outside [0, N) is refused, and each roi's
// samples per bin (sampling_ratio, else ceil(extent / bins), as onnxruntime) are computed and
// bounded, so a hostile roi cannot make a run take forever. The gradient (avg mode) spreads dY
// back through the same samples.

interface RoiAlignAttrs {
  maxMode: boolean;
  /** half_pixel (opset 16 default): coordinates shifted by -0.5; else output_half_pixel. */
  halfPixel: boolean;
  outputHeight: number;
  outputWidth: number;
  samplingRatio: number;
  spatialScale: number;
}

/** Samples per bin beyond which a roi is refused (a legitimate roi on a 4096-wide map at 1 bin: 2^24). */
const MAX_SAMPLES_PER_BIN = 2 ** 24;

/** Reads rois and batch indices and writes each roi's (gh, gw) at `grid`; fails on a bad roi or index. */
function roiGrid(n: BoundNode<RoiAlignAttrs>, roisIdx: number, batchIdx: number, grid: number, N: number, R: number): void {
  const heap = n.engine.heap,
    a = n.attrs;
  const rois = heap.f32.subarray(n.input(roisIdx) >> 2, (n.input(roisIdx) >> 2) + 4 * R),
    batch = heap.i32.subarray(n.input(batchIdx) >> 2, (n.input(batchIdx) >> 2) + R);
  const out = heap.i32.subarray(grid >> 2, (grid >> 2) + 2 * R);
  const scale = f(a.spatialScale),
    offset = a.halfPixel ? 0.5 : 0;
  for (let r = 0; r < R; r++) {
    const b = batch[r]!;
    if (b < 0 || b >= N) fail(n.where, `batch_indices[${r}] is ${b}, outside [0, ${N})`);
    const x1 = f(f(rois[4 * r]! * scale) - offset),
      y1 = f(f(rois[4 * r + 1]! * scale) - offset);
    let width = f(f(f(rois[4 * r + 2]! * scale) - offset) - x1),
      height = f(f(f(rois[4 * r + 3]! * scale) - offset) - y1);
    if (!a.halfPixel) {
      width = Number.isNaN(width) ? width : Math.max(width, 1);
      height = Number.isNaN(height) ? height : Math.max(height, 1);
    }
    const samples = (extent: number, bins: number) => {
      if (a.samplingRatio > 0) return a.samplingRatio;
      const s = Math.ceil(f(extent / bins));
      return Number.isNaN(s) ? 0 : Math.max(s, 0); // NaN and empty rois: no samples (their bins are 0)
    };
    const gh = samples(height, a.outputHeight),
      gw = samples(width, a.outputWidth);
    if (!(gh * gw <= MAX_SAMPLES_PER_BIN))
      fail(
        n.where,
        `roi ${r} [${Array.from(rois.subarray(4 * r, 4 * r + 4)).join(", ")}] would take ${gh} x ${gw} samples per bin (at most ${MAX_SAMPLES_PER_BIN})`,
      );
    out[2 * r] = gh;
    out[2 * r + 1] = gw;
  }
}

/** assembly/roialign.ts's modes. */
const ROI_ALIGN = { avg: 0, max: 1, backward: 2 } as const;

/**
 * RoiAlign's kernel (forward: X, rois, batch_indices -> Y) or its backward (dY, X, rois,
 * batch_indices -> dX): X's shape is input `xi`'s, the rois and indices follow it.
 */
function roiAlignKernel(name: string, xi: number, backward: boolean): Algorithm<RoiAlignAttrs> {
  return {
    name,
    workspaceBytes: (n) => 8 * n.inputs[xi + 1]!.shape[0]!,
    setup(n) {
      const [N, C, H, W] = n.inputs[xi]!.shape as [number, number, number, number];
      const R = n.inputs[xi + 1]!.shape[0]!,
        a = n.attrs,
        k = n.kernels,
        bins = backward ? n.input(0) : n.output(0),
        image = backward ? n.output(0) : n.input(0),
        rois = n.input(xi + 1),
        batch = n.input(xi + 2),
        grid = n.workspace,
        mode = backward ? ROI_ALIGN.backward : a.maxMode ? ROI_ALIGN.max : ROI_ALIGN.avg,
        zero = backward ? zeroOutput(n, 0) : undefined;
      return () => {
        zero?.();
        if (R * C === 0) return;
        roiGrid(n, xi + 1, xi + 2, grid, N, R);
        k.roialign_f32(bins, image, rois, batch, grid, R, H, W, C, a.outputHeight, a.outputWidth, a.spatialScale, a.halfPixel ? 1 : 0, mode);
      };
    },
  };
}

const roiAlignLayout = () => ({ inputs: [channelsLast(4), identityPerm(2), identityPerm(1)], outputs: [channelsLast(4)] });

registerOp<RoiAlignAttrs>({
  type: "RoiAlign",
  parse(at, opset) {
    const mode = at.string("mode", "avg");
    if (mode !== "avg" && mode !== "max") fail(at.where, `mode must be avg or max, got "${mode}"`);
    const transform = at.string("coordinate_transformation_mode", opset >= 16 ? "half_pixel" : "output_half_pixel");
    if (transform !== "half_pixel" && transform !== "output_half_pixel")
      fail(at.where, `coordinate_transformation_mode must be half_pixel or output_half_pixel, got "${transform}"`);
    const outputHeight = at.int("output_height", 1),
      outputWidth = at.int("output_width", 1),
      samplingRatio = at.int("sampling_ratio", 0);
    if (!(outputHeight >= 1 && outputWidth >= 1 && outputHeight <= 2 ** 16 && outputWidth <= 2 ** 16))
      fail(at.where, `output_height and output_width must be in [1, 65536], got ${outputHeight} and ${outputWidth}`);
    if (!(samplingRatio >= 0 && samplingRatio <= 4096)) fail(at.where, `sampling_ratio must be in [0, 4096], got ${samplingRatio}`);
    const spatialScale = at.float("spatial_scale", 1);
    if (!Number.isFinite(spatialScale)) fail(at.where, `spatial_scale must be finite, got ${spatialScale}`);
    return { maxMode: mode === "max", halfPixel: transform === "half_pixel", outputHeight, outputWidth, samplingRatio, spatialScale };
  },
  infer(c) {
    const x = typedInput(c, 0, "X", "float"),
      rois = typedInput(c, 1, "rois", "float"),
      batch = c.need(2, "batch_indices");
    if (x.shape.length !== 4) c.fail(`X must be [N, C, H, W], got ${fmtShape(x.shape)}`);
    if (rois.shape.length !== 2 || rois.shape[1] !== 4) c.fail(`rois must be [num_rois, 4], got ${fmtShape(rois.shape)}`);
    const R = rois.shape[0]!;
    if (elemOf(batch.dataType) !== "i32" || batch.shape.length !== 1 || batch.shape[0] !== R)
      c.fail(`batch_indices must be an integer tensor [${R}] (one per roi), got ${fmtShape(batch.shape)}`);
    const [, C, H, W] = x.shape as [number, number, number, number];
    if (R > 0 && H * W === 0) c.fail(`X ${fmtShape(x.shape)} has no pixels to sample`);
    return [{ dataType: x.dataType, shape: [R, C, c.attrs.outputHeight, c.attrs.outputWidth] }];
  },
  layout: roiAlignLayout,
  zeroGradient: [1],
  gradient(g) {
    if (!g.wants(0)) return;
    if (g.attrs.maxMode) fail(g.where, "RoiAlign's max mode has no gradient (avg does): freeze what comes before it");
    g.add(0, g.op("RoiAlignGrad", [g.dy(0)!, g.x(0)!, g.x(1)!, g.x(2)!], g.attrs)[0]!);
  },
  algorithms: [roiAlignKernel("roiAlign.kernel", 0, false)],
});

// inputs dY (channels last), X (for its shape), rois, batch_indices; output dX (channels last)
registerOp<RoiAlignAttrs>({
  type: "RoiAlignGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(1, "X")],
  layout: () => ({ inputs: [channelsLast(4), channelsLast(4), identityPerm(2), identityPerm(1)], outputs: [channelsLast(4)] }),
  algorithms: [roiAlignKernel("roiAlignGrad.kernel", 1, true)],
});
