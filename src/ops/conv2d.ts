// 2D convolution and transposed convolution (ONNX Conv / ConvTranspose semantics), NHWC: the public
// functional API. Each pass runs the algorithm src/ops/conv2d_algorithms.ts chooses by shape (or
// the one options.algorithm names) on its workspace (options.workspace, else allocated for the
// call); bias: bias_f32_forward / bias_f32_backward (assembly/elementwise.ts).
// Transposed convolution reuses the conv's three passes with roles swapped:
//   convTranspose2d forward      = conv backward_input  (the transposed conv's output is the conv's input)
//   convTranspose2d dx           = conv forward
//   convTranspose2d dw           = conv backward_filter with x and dy swapped
import type { Engine } from "../engine.js";
import { fail, fmtShape } from "../errors.js";
import type { Shape, Tensor } from "../tensor.js";
import { checkOptions, checkShape, checkShapeArg, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";
import { biasThreaded } from "../threads/parallel.js";
import {
  chooseConvAlgorithm,
  type ConvAlgorithm,
  type ConvGeometry,
  convGeometry,
  type ConvPass,
  type ConvTarget,
  convTarget,
  convTransposeGeometry,
  forcedConvAlgorithm,
  supportingConvAlgorithms,
} from "./conv2d_algorithms.js";
import { type Conv2dAttributes, type ConvTranspose2dAttributes, floatBytes } from "./conv2d_geometry.js";

export type { AutoPad, Conv2dAttributes, ConvPass, ConvTarget, ConvTranspose2dAttributes } from "./conv2d_geometry.js";

/**
 * How a call runs, besides the ONNX attributes (src/ops/conv2d_algorithms.ts):
 * - `workspace`: scratch for the chosen algorithm, at least conv2dWorkspaceBytes (or
 *   convTranspose2dWorkspaceBytes) bytes of this engine; with it the call allocates nothing but
 *   outputs you did not pass. Without it the call allocates the algorithm's workspace and frees it
 *   after (an OutOfMemoryError when it cannot: it never falls back to another algorithm).
 * - `algorithm`: the name of a CONV_ALGORITHMS entry to run instead of the one chosen by shape
 *   (tests, benchmarks), for every pass the call runs or by pass ({ backward_filter: name }: the
 *   conv's passes, so convTranspose2d's forward is backward_input, its dx forward); an error when
 *   it does not support the pass and shapes.
 */
export interface ConvRunOptions {
  /** Scratch for the call's algorithms (see above): at least conv2dWorkspaceBytes bytes of this engine. */
  workspace?: Tensor;
  /** An algorithm name for every pass of the call, or names by conv pass (see above). */
  algorithm?: string | Partial<Record<ConvPass, string>>;
}

/** Hyper-parameters of conv2d (ONNX Conv attributes; defaults strides 1, pads 0, NOTSET, dilations 1, groups 1) and run options. */
export interface Conv2dOptions extends Conv2dAttributes, ConvRunOptions {}

/** Hyper-parameters of convTranspose2d (ONNX ConvTranspose attributes) and run options. */
export interface ConvTranspose2dOptions extends ConvTranspose2dAttributes, ConvRunOptions {}

/** conv2d's output shape [N, OH, OW, OC] for x [N,H,W,C] and w [KH,KW,C/groups,OC]; throws on bad arguments. */
export function conv2dOutputShape(xShape: Shape, wShape: Shape, options: Conv2dOptions = {}): [number, number, number, number] {
  checkShapeArg("conv2dOutputShape", "xShape", xShape, { rank: 4 });
  checkShapeArg("conv2dOutputShape", "wShape", wShape, { rank: 4 });
  const g = convGeometry("conv2d", xShape, wShape, options);
  return [g.n, g.oh, g.ow, g.oc];
}

/** convTranspose2d's output shape [N, OH, OW, Cout] for x [N,H,W,Cin] and w [KH,KW,Cout/groups,Cin]. */
export function convTranspose2dOutputShape(xShape: Shape, wShape: Shape, options: ConvTranspose2dOptions = {}): [number, number, number, number] {
  checkShapeArg("convTranspose2dOutputShape", "xShape", xShape, { rank: 4 });
  checkShapeArg("convTranspose2dOutputShape", "wShape", wShape, { rank: 4 });
  const g = convTransposeGeometry("convTranspose2d", xShape, wShape, options);
  return [g.n, g.h, g.w, g.c];
}

// ---------------------------------------------------------------------------------------------
// running one pass (g is always the conv's geometry)

const targetOf = (t: Engine | ConvTarget): ConvTarget => ("kernels" in t ? convTarget(t) : t);

/** The algorithm of `pass`: forced by options.algorithm, else chosen by shape. */
function algorithmFor(op: string, pass: ConvPass, g: ConvGeometry, target: ConvTarget, options: ConvRunOptions): ConvAlgorithm {
  const forced = options.algorithm;
  if (forced !== undefined && typeof forced !== "string" && (forced === null || typeof forced !== "object")) {
    fail(op, `options.algorithm must be an algorithm name or { pass: name }, got ${JSON.stringify(forced)}`);
  }
  const name = typeof forced === "string" ? forced : forced?.[pass];
  return name === undefined ? chooseConvAlgorithm(pass, g, target) : forcedConvAlgorithm(op, name, pass, g, target);
}

/**
 * Runs `body` with a workspace for the call: `reserved` bytes for the caller (convTranspose2dBackward's
 * temporary) at `base`, then room for the largest workspace of `passes`' algorithms (forced by
 * options.algorithm, else chosen by shape). It is options.workspace when given (checked to be large
 * enough), else allocated once before any pass runs (so an OutOfMemoryError leaves every output as
 * it was) and freed after. `run(pass, out, a, b)` runs one pass (see ConvPass for out, a, b).
 */
function withConvWorkspace(
  op: string,
  e: Engine,
  g: ConvGeometry,
  passes: readonly ConvPass[],
  options: ConvRunOptions,
  reserved: number,
  body: (run: (pass: ConvPass, out: number, a: number, b: number) => void, base: number) => void,
): void {
  const target = convTarget(e);
  const algs = new Map(passes.map((p) => [p, algorithmFor(op, p, g, target, options)] as const));
  let need = 0,
    largest = "";
  for (const [p, alg] of algs) {
    const bytes = alg.workspaceBytes(p, g, target);
    if (bytes >= need) [need, largest] = [bytes, `${alg.name} needs ${reserved + bytes} for ${p}`];
  }
  const call = (base: number) => body((pass, out, a, b) => algs.get(pass)!.run(e, pass, g, out, a, b, base + reserved), base);
  if (options.workspace) {
    const ws = options.workspace;
    if (4 * ws.size < reserved + need) {
      fail(
        op,
        `options.workspace ${fmtShape(ws.shape)} has ${4 * ws.size} bytes but ${largest} ` +
          `(x ${fmtShape([g.n, g.h, g.w, g.c])}, w ${fmtShape([g.kh, g.kw, g.c / g.groups, g.oc])}; see ${op.startsWith("convTranspose") ? "convTranspose2d" : "conv2d"}WorkspaceBytes)`,
      );
    }
    return call(ws.ptr);
  }
  if (reserved + need === 0) return call(0);
  const ws = e.empty([(reserved + need) / 4], "f32", `the workspace of ${op} (${largest.replace(/ needs \d+/, "")})`);
  try {
    call(ws.ptr);
  } finally {
    ws.dispose();
  }
}

/** Runs fn; when it throws, frees the tensors of `made` (outputs the call allocated) first. */
function freeOnError<T>(made: (Tensor | undefined)[], fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    for (const t of made) t?.dispose();
    throw err;
  }
}

/** Checks options.workspace (a live f32 tensor of e) before anything runs. */
function checkWorkspace(op: string, e: Engine, options: ConvRunOptions): void {
  if (options.workspace === undefined) return;
  checkTensor(op, "options.workspace", options.workspace);
  if (options.workspace.engine !== e) fail(op, "options.workspace belongs to a different engine");
}

const CONV_PASS_NAMES: readonly ConvPass[] = ["forward", "backward_input", "backward_filter"];

function checkPasses(op: string, passes: readonly ConvPass[]): readonly ConvPass[] {
  if (!Array.isArray(passes) || passes.some((p) => !CONV_PASS_NAMES.includes(p))) {
    fail(op, `passes must be an array of "forward", "backward_input", "backward_filter", got ${JSON.stringify(passes)}`);
  }
  return passes;
}

/**
 * Bytes of workspace the largest of conv2d's `passes` (default all three: conv2d, conv2dBackward*)
 * needs on engine e (or a target { build, threads }) for these shapes and options: pass a tensor of
 * at least that many bytes as options.workspace and those calls allocate no scratch.
 */
export function conv2dWorkspaceBytes(
  e: Engine | ConvTarget,
  xShape: Shape,
  wShape: Shape,
  options: Conv2dOptions = {},
  passes: readonly ConvPass[] = CONV_PASS_NAMES,
): number {
  const op = "conv2dWorkspaceBytes";
  const g = convGeometry(op, xShape, wShape, options);
  const target = targetOf(e);
  return Math.max(0, ...checkPasses(op, passes).map((p) => algorithmFor(op, p, g, target, options).workspaceBytes(p, g, target)));
}

/**
 * Bytes of workspace the largest of convTranspose2d's `passes` needs: "forward" (convTranspose2d),
 * "backward_input" (its dx: the conv's forward, plus a temporary of x's size that the result is
 * added from) and "backward_filter" (its dw). As conv2dWorkspaceBytes.
 */
export function convTranspose2dWorkspaceBytes(
  e: Engine | ConvTarget,
  xShape: Shape,
  wShape: Shape,
  options: ConvTranspose2dOptions = {},
  passes: readonly ConvPass[] = CONV_PASS_NAMES,
): number {
  const op = "convTranspose2dWorkspaceBytes";
  const g = convTransposeGeometry(op, xShape, wShape, options);
  const target = targetOf(e);
  return Math.max(
    0,
    ...checkPasses(op, passes).map((p) => {
      const conv = transposedPass(p);
      const bytes = algorithmFor(op, conv, g, target, options).workspaceBytes(conv, g, target);
      return p === "backward_input" ? floatBytes(g.n * g.oh * g.ow * g.oc) + bytes : bytes;
    }),
  );
}

/** One convolution algorithm as conv2dAlgorithms lists it. */
export interface ConvAlgorithmInfo {
  /** The registry name (src/ops/conv2d_algorithms.ts), for options.algorithm. */
  name: string;
  /** True for the one the call runs by shape: the first eligible entry. */
  chosen: boolean;
  /** Bytes of workspace it needs for the pass. */
  workspaceBytes: number;
}

/**
 * The algorithms that can run `pass` of conv2d(x, w, options) on engine e (or a target), in the
 * registry's order of preference, each with whether it is the one chosen by shape and its
 * workspace bytes: what options.algorithm may name (benchmarks time each).
 */
export function conv2dAlgorithms(
  e: Engine | ConvTarget,
  xShape: Shape,
  wShape: Shape,
  options: Conv2dOptions = {},
  pass: ConvPass = "forward",
): ConvAlgorithmInfo[] {
  const op = "conv2dAlgorithms";
  checkPasses(op, [pass]);
  const g = convGeometry(op, xShape, wShape, options);
  const target = targetOf(e);
  const chosen = chooseConvAlgorithm(pass, g, target);
  return supportingConvAlgorithms(pass, g, target).map((a) => ({ name: a.name, chosen: a === chosen, workspaceBytes: a.workspaceBytes(pass, g, target) }));
}

/** The conv pass that computes a transposed conv's pass. */
const transposedPass = (p: ConvPass): ConvPass => (p === "forward" ? "backward_input" : p === "backward_input" ? "forward" : "backward_filter");

function checkBias(op: string, b: Tensor | null | undefined, channels: number, wShape: Shape): void {
  if (!b) return;
  checkTensor(op, "b", b);
  if (b.rank !== 1 || b.shape[0] !== channels) {
    fail(op, `b must have shape [${channels}] (the output channels of w ${fmtShape(wShape)}), got ${fmtShape(b.shape)}`);
  }
}

function checkNotAliased(op: string, out: Tensor | undefined, inputs: Record<string, Tensor>): void {
  if (!out) return;
  for (const [name, t] of Object.entries(inputs)) {
    if (out.ptr === t.ptr && out.engine === t.engine) fail(op, `out must not be ${name} (the kernel reads ${name} while writing out)`);
  }
}

// ---------------------------------------------------------------------------------------------
// conv2d

/**
 * y = conv2d(x, w) + b. x [N,H,W,C] NHWC, w [KH,KW,C/groups,OC], b [OC] or none -> y [N,OH,OW,OC]
 * with OH = floor((H + pad_top + pad_bottom - dilation*(KH-1) - 1) / stride) + 1 (ONNX Conv).
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, options: Conv2dOptions = {}, out?: Tensor): Tensor {
  const op = "conv2d";
  const e = engineOf(op, x, w, b, out);
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = convGeometry(op, x.shape, w.shape, options);
  checkBias(op, b, g.oc, w.shape);
  checkNotAliased(op, out, { x, w });
  checkWorkspace(op, e, options);
  const y = outputTensor(op, e, [g.n, g.oh, g.ow, g.oc], out);
  freeOnError([out ? undefined : y], () => withConvWorkspace(op, e, g, ["forward"], options, 0, (run) => run("forward", y.ptr, x.ptr, w.ptr)));
  if (b) biasThreaded(e, y.ptr, b.ptr, g.n * g.oh * g.ow, g.oc);
  return y;
}

/**
 * Gradients of conv2d from dy [N,OH,OW,OC]: dx [N,H,W,C], dw [KH,KW,C/groups,OC] and, if `wantBias`
 * or grads.db is given, db [OC]. Each is ACCUMULATED into the given tensor, else into a new zeroed one.
 */
export function conv2dBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  options: Conv2dOptions = {},
  grads: { dx?: Tensor; dw?: Tensor; db?: Tensor } = {},
  wantBias = true,
): { dx: Tensor; dw: Tensor; db?: Tensor } {
  const op = "conv2dBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, x, w, grads.dx, grads.dw, grads.db);
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = backwardGeometry(op, dy, x.shape, w.shape, options);
  checkWorkspace(op, e, options);
  const dx = gradTensor(op, "dx", e, x.shape, grads.dx);
  const dw = freeOnError([grads.dx ? undefined : dx], () => gradTensor(op, "dw", e, w.shape, grads.dw));
  const db =
    wantBias || grads.db ? freeOnError([grads.dx ? undefined : dx, grads.dw ? undefined : dw], () => gradTensor(op, "db", e, [g.oc], grads.db)) : undefined;
  freeOnError([grads.dx ? undefined : dx, grads.dw ? undefined : dw, grads.db ? undefined : db], () =>
    withConvWorkspace(op, e, g, ["backward_input", "backward_filter"], options, 0, (run) => {
      run("backward_input", dx.ptr, dy.ptr, w.ptr);
      run("backward_filter", dw.ptr, dy.ptr, x.ptr);
    }),
  );
  if (db) e.kernels.bias_f32_backward(db.ptr, dy.ptr, g.n * g.oh * g.ow, g.oc);
  return db ? { dx, dw, db } : { dx, dw };
}

/**
 * Only the input gradient of conv2d: dx [N,H,W,C] += from dy [N,OH,OW,OC] and w. For when the
 * weights need no gradient (frozen layers). Accumulates into `dx`, else into a new zeroed tensor.
 */
export function conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: Shape, options: Conv2dOptions = {}, dx?: Tensor): Tensor {
  const op = "conv2dBackwardInput";
  const e = engineOf(op, dy, w, dx);
  checkTensor(op, "w", w, { rank: 4 });
  checkShapeArg(op, "xShape", xShape, { rank: 4 });
  const g = backwardGeometry(op, dy, xShape, w.shape, options);
  checkWorkspace(op, e, options);
  const out = gradTensor(op, "dx", e, xShape, dx);
  freeOnError([dx ? undefined : out], () =>
    withConvWorkspace(op, e, g, ["backward_input"], options, 0, (run) => run("backward_input", out.ptr, dy.ptr, w.ptr)),
  );
  return out;
}

/**
 * Only the filter gradient of conv2d: dw [KH,KW,C/groups,OC] += from dy [N,OH,OW,OC] and x. For
 * when the input needs no gradient (a first layer). Accumulates into `dw`, else a new zeroed tensor.
 */
export function conv2dBackwardFilter(dy: Tensor, x: Tensor, wShape: Shape, options: Conv2dOptions = {}, dw?: Tensor): Tensor {
  const op = "conv2dBackwardFilter";
  const e = engineOf(op, dy, x, dw);
  checkTensor(op, "x", x, { rank: 4 });
  checkShapeArg(op, "wShape", wShape, { rank: 4 });
  const g = backwardGeometry(op, dy, x.shape, wShape, options);
  checkWorkspace(op, e, options);
  const out = gradTensor(op, "dw", e, wShape, dw);
  freeOnError([dw ? undefined : out], () =>
    withConvWorkspace(op, e, g, ["backward_filter"], options, 0, (run) => run("backward_filter", out.ptr, dy.ptr, x.ptr)),
  );
  return out;
}

/** The conv geometry of a backward call, with dy checked against it (the callers check the shapes' ranks). */
function backwardGeometry(op: string, dy: Tensor, xShape: Shape, wShape: Shape, options: Conv2dOptions): ConvGeometry {
  checkTensor(op, "dy", dy, { rank: 4 });
  const g = convGeometry(op, xShape, wShape, options);
  checkShape(op, "dy", dy, [g.n, g.oh, g.ow, g.oc]);
  return g;
}

// ---------------------------------------------------------------------------------------------
// convTranspose2d

/**
 * y = convTranspose2d(x, w) + b (ONNX ConvTranspose). x [N,H,W,Cin], w [KH,KW,Cout/groups,Cin],
 * b [Cout] or none -> y [N,OH,OW,Cout], OH = stride*(H-1) + outputPadding + dilation*(KH-1) + 1 - pad_top - pad_bottom
 * (or outputShape, or H*stride for autoPad SAME_*).
 */
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor | null, options: ConvTranspose2dOptions = {}, out?: Tensor): Tensor {
  const op = "convTranspose2d";
  const e = engineOf(op, x, w, b, out);
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = convTransposeGeometry(op, x.shape, w.shape, options);
  checkBias(op, b, g.c, w.shape);
  checkNotAliased(op, out, { x, w });
  checkWorkspace(op, e, options);
  const y = outputTensor(op, e, [g.n, g.h, g.w, g.c], out);
  freeOnError([out ? undefined : y], () =>
    withConvWorkspace(op, e, g, ["backward_input"], options, 0, (run) => {
      e.kernels.fill_f32(y.ptr, 0, y.size);
      run("backward_input", y.ptr, x.ptr, w.ptr);
    }),
  );
  if (b) e.kernels.bias_f32_forward(y.ptr, b.ptr, g.n * g.h * g.w, g.c);
  return y;
}

/**
 * Gradients of convTranspose2d from dy [N,OH,OW,Cout]: dx [N,H,W,Cin], dw [KH,KW,Cout/groups,Cin]
 * and, if `wantBias` or grads.db is given, db [Cout]; ACCUMULATED into given tensors, else new zeroed ones.
 */
export function convTranspose2dBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  options: ConvTranspose2dOptions = {},
  grads: { dx?: Tensor; dw?: Tensor; db?: Tensor } = {},
  wantBias = true,
): { dx: Tensor; dw: Tensor; db?: Tensor } {
  const op = "convTranspose2dBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, x, w, grads.dx, grads.dw, grads.db);
  checkTensor(op, "dy", dy, { rank: 4 });
  checkTensor(op, "x", x, { rank: 4 });
  checkTensor(op, "w", w, { rank: 4 });
  const g = convTransposeGeometry(op, x.shape, w.shape, options);
  checkShape(op, "dy", dy, [g.n, g.h, g.w, g.c]);
  checkWorkspace(op, e, options);
  const dw = gradTensor(op, "dw", e, w.shape, grads.dw);
  const db = wantBias || grads.db ? freeOnError([grads.dw ? undefined : dw], () => gradTensor(op, "db", e, [g.c], grads.db)) : undefined;
  const dx = grads.dx
    ? gradTensor(op, "dx", e, x.shape, grads.dx)
    : freeOnError([grads.dw ? undefined : dw, grads.db ? undefined : db], () => e.empty(x.shape, "f32", `${op} dx`));
  // The conv's forward overwrites: a given dx is accumulated from a temporary at the workspace's start.
  const tmpBytes = grads.dx ? floatBytes(x.size) : 0;
  freeOnError([grads.dw ? undefined : dw, grads.db ? undefined : db, grads.dx ? undefined : dx], () =>
    withConvWorkspace(op, e, g, ["forward", "backward_filter"], options, tmpBytes, (run, base) => {
      if (grads.dx) {
        run("forward", base, dy.ptr, w.ptr);
        e.kernels.axpy_f32(dx.ptr, base, 1, x.size);
      } else run("forward", dx.ptr, dy.ptr, w.ptr);
      // The conv's filter gradient with the conv's input = dy and the conv's output gradient = x.
      run("backward_filter", dw.ptr, x.ptr, dy.ptr);
    }),
  );
  if (db) e.kernels.bias_f32_backward(db.ptr, dy.ptr, g.n * g.h * g.w, g.c);
  return db ? { dx, dw, db } : { dx, dw };
}
