// Detection post-processing whose output shape is the run's data:
//   NonMaxSuppression(boxes [B, N, 4], scores [B, C, N], max_output_boxes_per_class?, iou_threshold?,
//                     score_threshold?) -> selected_indices [K, 3] int64 (batch, class, box)
// computed on the host once its inputs are known: while planning when they are constants, else
// after the nodes before it ran (a staged plan, plan.ts StagedPlan), reading boxes and scores back.
// The selection is onnxruntime's CPU kernel's, in float32: per batch and class, boxes scoring
// above score_threshold in decreasing score (ties: lower box index first), each kept unless its
// IoU with a box already kept exceeds iou_threshold, up to max_output_boxes_per_class.
import { fail, fmtShape } from "../../errors.js";
import { DataType } from "../../onnx/onnx-proto.js";
import { type InferContext, registerOp } from "../registry.js";
import { type HostTensor, hostTensor } from "../types.js";

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

function scalarOf(c: InferContext<NmsAttrs>, i: number, name: string, fallback: number): number {
  if (!c.input(i)) return fallback;
  const v = c.value(i) ?? c.fail(`${name} must be known when planning`);
  if (v.data.length !== 1) c.fail(`${name} must hold one value, got shape ${fmtShape(v.dims)}`);
  return v.data[0]!;
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
  const maxPerClass = scalarOf(c, 2, "max_output_boxes_per_class", 0);
  const iou = f(scalarOf(c, 3, "iou_threshold", 0));
  const hasScoreThreshold = !!c.input(4);
  const scoreThreshold = f(scalarOf(c, 4, "score_threshold", 0));
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
