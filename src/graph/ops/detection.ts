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

/** A box as [xmin, ymin, xmax, ymax] in float32, from its four numbers in the attribute's form. */
function corners(b: Float32Array, at: number, centerPointBox: number): [number, number, number, number] {
  if (centerPointBox === 0) {
    const y1 = b[at]!,
      x1 = b[at + 1]!,
      y2 = b[at + 2]!,
      x2 = b[at + 3]!;
    return [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)];
  }
  const xc = b[at]!,
    yc = b[at + 1]!,
    hw = f(b[at + 2]! / 2),
    hh = f(b[at + 3]! / 2);
  return [f(xc - hw), f(yc - hh), f(xc + hw), f(yc + hh)];
}

/** Whether two boxes overlap by more than `threshold` intersection over union (float32, as onnxruntime). */
function overlaps(a: readonly number[], b: readonly number[], threshold: number): boolean {
  const ix = f(Math.max(f(Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!)), 0));
  const iy = f(Math.max(f(Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!)), 0));
  const inter = f(ix * iy);
  if (inter <= 0) return false;
  const areaA = f(f(a[2]! - a[0]!) * f(a[3]! - a[1]!));
  const areaB = f(f(b[2]! - b[0]!) * f(b[3]! - b[1]!));
  const union = f(f(areaA + areaB) - inter);
  if (areaA <= 0 || areaB <= 0 || union <= 0) return false;
  return f(inter / union) > threshold;
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
      const box = boxes.data.subarray(b * N * 4, (b + 1) * N * 4);
      for (let k = 0; k < C; k++) {
        const s = scores.data.subarray((b * C + k) * N, (b * C + k + 1) * N);
        const candidates: number[] = [];
        for (let i = 0; i < N; i++) if (!hasScoreThreshold || s[i]! > scoreThreshold) candidates.push(i);
        // decreasing score, ties by lower index (onnxruntime's priority queue order); NaN scores last
        candidates.sort((i, j) => (s[j]! > s[i]! || (Number.isNaN(s[i]!) && !Number.isNaN(s[j]!)) ? 1 : s[j]! < s[i]! || Number.isNaN(s[j]!) ? -1 : i - j));
        const kept: (readonly number[])[] = [];
        for (const i of candidates) {
          if (kept.length >= maxPerClass) break;
          const cand = corners(box, i * 4, centerPointBox);
          if (kept.some((q) => overlaps(q, cand, iou))) continue;
          kept.push(cand);
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
