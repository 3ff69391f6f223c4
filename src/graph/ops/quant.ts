// Quantised operators on assembly/quant.ts. QuantizeLinear, DequantizeLinear (per tensor and per
// axis) and DynamicQuantizeLinear are element-wise kernels; constant weights behind a
// DequantizeLinear are dequantised once, when planning (constant folding runs the kernel).
// ConvInteger, MatMulInteger, QLinearConv and QLinearMatMul run in float32 on the zero-point-
// shifted integers (exact while partial sums stay below 2^24), through the registered Conv and
// MatMul algorithms (a delegate node: whatever algorithm the planner would pick for the float
// op), then round back to int32 or requantise with onnxruntime's multipliers
// (x_scale * w_scale) / y_scale. Constant weights are shifted once, when planning.
import { fail, fmtShape } from "../../errors.js";
import type { Attributes } from "../../onnx/attributes.js";
import { DataType, dataTypeName } from "../../onnx/onnx-proto.js";
import { ConstValue } from "../constants.js";
import {
  type Algorithm,
  type BoundNode,
  chooseAlgorithm,
  type InferContext,
  type LayoutChoice,
  opDef,
  type PlanNode,
  type PlanValue,
  registerOp,
  type TensorType,
} from "../registry.js";
import { type HostTensor, identityPerm, isFloat, type Perm, physicalDims, sizeOfDims } from "../types.js";
import { axisView } from "./reduce.js";
import { normAxis } from "./util.js";

const MULTIPLY = 1,
  SCALAR_ZP = 2,
  SCALAR_SCALE = 4;

/** The integer range of a quantised element type. */
function qrange(c: { fail(m: string): never }, dataType: number): [number, number] {
  switch (dataType) {
    case DataType.UINT8:
      return [0, 255];
    case DataType.INT8:
      return [-128, 127];
    case DataType.UINT16:
      return [0, 65535];
    case DataType.INT16:
      return [-32768, 32767];
    case DataType.INT32:
      return [-2147483648, 2147483647];
    default:
      return c.fail(`quantised element type ${dataTypeName(dataType)} is not supported`);
  }
}

const isInteger = (t: number) => !isFloat(t) && t !== DataType.BOOL;

/** [O, R, V] of a per-axis (scale of size > 1) or per-tensor quantisation of x. */
function quantView(c: { fail(m: string): never }, x: { shape: readonly number[]; perm: Perm }, scale: TensorType, axis: number): [number, number, number] {
  const n = sizeOfDims(scale.shape);
  if (scale.shape.length > 1) c.fail(`blocked quantisation (a scale of shape ${fmtShape(scale.shape)}) is not supported`);
  if (n === 1 && scale.shape.length <= 1) return [1, 1, sizeOfDims(x.shape)];
  const ax = normAxis(c, axis, x.shape.length);
  if (x.shape[ax] !== n) c.fail(`a per-axis scale of ${n} values needs axis ${ax} of ${fmtShape(x.shape)} to have ${n} entries`);
  return axisView(x, ax);
}

/** Checks a zero point against its scale's shape and the element type it must have. */
function checkZeroPoint(c: InferContext<unknown>, i: number, scale: TensorType, dataType?: number): TensorType | undefined {
  const zp = c.input(i);
  if (!zp) return undefined;
  if (sizeOfDims(zp.shape) !== sizeOfDims(scale.shape)) c.fail(`the zero point ${fmtShape(zp.shape)} must match the scale ${fmtShape(scale.shape)}`);
  if (dataType !== undefined && zp.dataType !== dataType) c.fail(`the zero point is ${dataTypeName(zp.dataType)}, the data ${dataTypeName(dataType)}`);
  return zp;
}

interface QAttrs {
  axis: number;
  outputType: number;
  blockSize: number;
}

function qAttrs(at: Attributes, opset: number): QAttrs {
  const blockSize = at.int("block_size", 0);
  if (blockSize !== 0) fail(at.where, "blocked quantisation (block_size) is not supported");
  return { axis: opset >= 13 ? at.int("axis", 1) : 1, outputType: at.int("output_dtype", 0), blockSize };
}

/** Both keep x's axis order; scales and zero points are vectors. */
const elementLayout = (c: { inputs: readonly (PlanValue | undefined)[]; outputs: readonly TensorType[] }): LayoutChoice => ({
  inputs: c.inputs.map(() => "any"),
  outputs: c.outputs.map((t, i) => (i === 0 ? c.inputs[0]!.perm : identityPerm(t.shape.length))),
});

const scalarFlags = (scale: { size: number } | undefined, zp: { size: number } | undefined) =>
  (scale && scale.size === 1 ? SCALAR_SCALE : 0) | (zp && zp.size === 1 ? SCALAR_ZP : 0);

registerOp<QAttrs>({
  type: "DequantizeLinear",
  parse: qAttrs,
  infer(c) {
    const x = c.need(0, "x"),
      s = c.need(1, "x_scale");
    if (!isInteger(x.dataType)) c.fail(`x must be an integer tensor, got ${dataTypeName(x.dataType)}`);
    if (!isFloat(s.dataType)) c.fail("x_scale must be a float tensor");
    checkZeroPoint(c, 2, s, x.dataType);
    quantView(c, { shape: x.shape, perm: identityPerm(x.shape.length) }, s, c.attrs.axis);
    return [{ dataType: s.dataType === DataType.FLOAT16 ? DataType.FLOAT : s.dataType, shape: x.shape }];
  },
  layout: elementLayout,
  algorithms: [
    {
      name: "dequantizeLinear.axis",
      setup(n) {
        const x = n.inputs[0]!,
          s = n.inputs[1]!,
          zp = n.inputs[2];
        const [O, R, V] = quantView(failer(n.where), x, s, n.attrs.axis);
        const flags = scalarFlags(s, zp);
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          sp = n.input(1),
          zpp = zp ? n.input(2) : 0;
        return () => k.dequantize_linear_f32(yp, xp, sp, zpp, O, R, V, flags);
      },
    },
  ],
});

registerOp<QAttrs>({
  type: "QuantizeLinear",
  parse: qAttrs,
  infer(c) {
    const x = c.need(0, "x"),
      s = c.need(1, "y_scale");
    if (!isFloat(x.dataType) || !isFloat(s.dataType)) c.fail("x and y_scale must be float tensors");
    const zp = checkZeroPoint(c, 2, s);
    const dataType = zp?.dataType ?? (c.attrs.outputType || DataType.UINT8);
    if (zp && c.attrs.outputType && c.attrs.outputType !== zp.dataType)
      c.fail(`output_dtype ${dataTypeName(c.attrs.outputType)} differs from the zero point's ${dataTypeName(zp.dataType)}`);
    qrange(c, dataType);
    quantView(c, { shape: x.shape, perm: identityPerm(x.shape.length) }, s, c.attrs.axis);
    return [{ dataType, shape: x.shape }];
  },
  layout: elementLayout,
  algorithms: [
    {
      name: "quantizeLinear.axis",
      setup(n) {
        const x = n.inputs[0]!,
          s = n.inputs[1]!,
          zp = n.inputs[2];
        const [O, R, V] = quantView(failer(n.where), x, s, n.attrs.axis);
        const [qmin, qmax] = qrange(failer(n.where), n.outputs[0]!.dataType);
        const flags = scalarFlags(s, zp);
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          sp = n.input(1),
          zpp = zp ? n.input(2) : 0;
        return () => k.quantize_linear_f32(yp, xp, sp, zpp, O, R, V, qmin, qmax, flags);
      },
    },
  ],
});

registerOp<void>({
  type: "DynamicQuantizeLinear",
  parse: () => undefined,
  infer(c) {
    const x = c.need(0, "x");
    if (x.dataType !== DataType.FLOAT) c.fail(`x must be float32, got ${dataTypeName(x.dataType)}`);
    return [
      { dataType: DataType.UINT8, shape: x.shape },
      { dataType: DataType.FLOAT, shape: [] },
      { dataType: DataType.UINT8, shape: [] },
    ];
  },
  layout: elementLayout,
  algorithms: [
    {
      name: "dynamicQuantizeLinear.kernel",
      setup(n) {
        const k = n.kernels,
          y = n.output(0),
          s = n.output(1),
          z = n.output(2),
          x = n.input(0),
          size = n.inputs[0]!.size;
        return () => k.dynamic_quantize_linear_f32(y, s, z, x, size);
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// integer Conv and MatMul through the float ops

const failer = (where: string) => ({ fail: (m: string): never => fail(where, m) });
const align16 = (b: number) => Math.ceil(b / 16) * 16;

/** A float32 PlanValue of `shape` in `perm` (a delegate node's operand). */
function floatValue(name: string, shape: readonly number[], perm: Perm, constant?: () => HostTensor): PlanValue {
  let host: HostTensor | undefined;
  return {
    name,
    dataType: DataType.FLOAT,
    elem: "f32",
    shape,
    perm,
    dims: physicalDims(shape, perm),
    size: sizeOfDims(shape),
    isConstant: !!constant,
    get known() {
      return constant ? (host ??= constant()) : undefined;
    },
  };
}

/**
 * How an integer op maps onto its float op. Input roles: `x` (run-time data, shifted by its zero
 * point into the workspace each run), `w` (weights: shifted once when constant), `bias` (int32,
 * converted each run).
 */
interface IntegerSpec {
  /** The float op's type and the node's input index for each of its operands (undefined: absent). */
  float: "Conv" | "MatMul";
  x: number;
  xZp?: number;
  w: number;
  wZp?: number;
  bias?: number;
  /** Requantisation (QLinear*): a_scale, b_scale, y_scale and y_zero_point indices; else int32 output. */
  requant?: { xScale: number; wScale: number; yScale: number; yZp: number };
  /** Axis of w along which its zero point (and scale) may vary: Conv's output channels, MatMul's columns. */
  wAxis: number;
}

interface IntegerAttrs {
  floatAttrs: unknown;
}

/** The float op's node: operand types, layout and the delegate plan node. */
function delegate(spec: IntegerSpec, n: PlanNode<IntegerAttrs>, wConst?: () => HostTensor): PlanNode<unknown> {
  const x = n.inputs[spec.x]!,
    w = n.inputs[spec.w]!,
    y = n.outputs[0]!;
  const inputs: (PlanValue | undefined)[] = [floatValue("x (shifted)", x.shape, x.perm), floatValue("w (shifted)", w.shape, w.perm, wConst)];
  if (spec.bias !== undefined && n.inputs[spec.bias]) inputs.push(floatValue("bias (float)", n.inputs[spec.bias]!.shape, identityPerm(1)));
  return { attrs: n.attrs.floatAttrs, opset: n.opset, where: n.where, target: n.target, inputs, outputs: [floatValue("y (float)", y.shape, y.perm)] };
}

/** Shifted-weight values on the host: w - wZp (per wAxis entry or scalar), ONNX order. */
function shiftedHost(w: HostTensor, zp: HostTensor | undefined, axis: number): HostTensor {
  const out = new Float32Array(w.data.length);
  const [, R, V] = axisView({ shape: w.dims, perm: identityPerm(w.dims.length) }, axis < 0 ? axis + w.dims.length : axis);
  for (let i = 0; i < out.length; i++) {
    const z = !zp ? 0 : zp.data.length === 1 ? zp.data[0]! : zp.data[Math.floor(i / V) % R]!;
    out[i] = w.data[i]! - z;
  }
  return { dataType: DataType.FLOAT, dims: w.dims, data: out };
}

function integerOp(type: string, spec: IntegerSpec, outType: (c: InferContext<IntegerAttrs>) => number): void {
  const floatDef = () => opDef(spec.float)!;
  const wKnown = (n: PlanNode<IntegerAttrs>) => {
    const w = n.inputs[spec.w]!,
      zp = spec.wZp !== undefined ? n.inputs[spec.wZp] : undefined;
    return w.isConstant && (!zp || zp.isConstant) ? () => shiftedHost(w.known!, zp?.known, spec.wAxis) : undefined;
  };
  /** Workspace: x shifted, y float, w shifted (run-time weights), bias float, multipliers, then the float op's. */
  const layoutOf = (n: PlanNode<IntegerAttrs>) => {
    const x = n.inputs[spec.x]!,
      w = n.inputs[spec.w]!,
      y = n.outputs[0]!;
    const inner = delegate(spec, n, wKnown(n));
    const algo = chooseAlgorithm(floatDef(), inner);
    const C = spec.float === "Conv" ? w.shape[0]! : y.shape[y.shape.length - 1]!;
    const parts = [x.size, y.size, wKnown(n) ? 0 : w.size, spec.bias !== undefined && n.inputs[spec.bias] ? C : 0, spec.requant ? C : 0].map((f) =>
      align16(4 * f),
    );
    const offsets = parts.map((_, i) => parts.slice(0, i).reduce((a, b) => a + b, 0));
    const own = parts.reduce((a, b) => a + b, 0);
    return { inner, algo, offsets, own, C, innerWs: algo.workspaceBytes?.(inner) ?? 0, innerParams: algo.paramBytes?.(inner) ?? 0 };
  };
  const algorithm: Algorithm<IntegerAttrs> = {
    name: `${type.charAt(0).toLowerCase()}${type.slice(1)}.viaFloat`,
    workspaceBytes: (n) => {
      const l = layoutOf(n);
      return l.own + align16(l.innerWs);
    },
    paramBytes: (n) => layoutOf(n).innerParams,
    setup(n: BoundNode<IntegerAttrs>) {
      const l = layoutOf(n),
        k = n.kernels,
        ws = n.workspace;
      const x = n.inputs[spec.x]!,
        w = n.inputs[spec.w]!,
        y = n.outputs[0]!;
      const [xs, ys, wsh, bf, mult] = l.offsets.map((o) => ws + o) as [number, number, number, number, number];
      const steps: (() => void)[] = [];
      // x - x_zero_point (scalar, or per row of A for MatMulInteger)
      const xzV = spec.xZp !== undefined ? n.inputs[spec.xZp] : undefined;
      const xz = xzV ? n.input(spec.xZp!) : 0,
        xp = n.input(spec.x);
      if (xzV && xzV.size > 1) {
        const rows = xzV.size,
          V = x.size / rows;
        steps.push(() => k.dequantize_linear_f32(xs, xp, 0, xz, 1, rows, V, 0));
      } else steps.push(() => k.dequantize_linear_f32(xs, xp, 0, xz, 1, 1, x.size, SCALAR_ZP));
      // w - w_zero_point: once (constant) or each run
      let wAddr: number;
      const known = wKnown(n);
      if (known) {
        const c = n.own(new ConstValue(n.engine, DataType.FLOAT, w.shape, known()));
        wAddr = c.device(w.perm).ptr;
      } else {
        wAddr = wsh;
        const wzV = spec.wZp !== undefined ? n.inputs[spec.wZp] : undefined;
        const wz = wzV ? n.input(spec.wZp!) : 0,
          wp = n.input(spec.w);
        const [O, R, V] = wzV && wzV.size > 1 ? axisView(w, spec.wAxis < 0 ? spec.wAxis + w.shape.length : spec.wAxis) : [1, 1, w.size];
        steps.push(() => k.dequantize_linear_f32(wAddr, wp, 0, wz, O, R, V, wzV && wzV.size === 1 ? SCALAR_ZP : 0));
      }
      const hasBias = spec.bias !== undefined && !!n.inputs[spec.bias];
      if (hasBias) {
        const bp = n.input(spec.bias!),
          C = l.C;
        steps.push(() => k.dequantize_linear_f32(bf, bp, 0, 0, 1, 1, C, 0));
      }
      // the float op on the shifted operands
      const inner = l.inner;
      const addrs = [xs, wAddr, ...(hasBias ? [bf] : [])];
      const bound: BoundNode<unknown> = {
        ...inner,
        engine: n.engine,
        kernels: k,
        workspace: ws + l.own,
        params: n.params,
        input: (i) => addrs[i]!,
        output: () => ys,
        own: (r) => n.own(r),
      };
      steps.push(l.algo.setup(bound));
      // back to int32, or requantised
      const yp = n.output(0),
        size = y.size;
      if (!spec.requant) steps.push(() => k.round_f32_to_i32(yp, ys, size));
      else {
        const r = spec.requant;
        const as = n.input(r.xScale),
          bs = n.input(r.wScale),
          yS = n.input(r.yScale),
          yz = n.input(r.yZp);
        const nb = n.inputs[r.wScale]!.size,
          C = l.C;
        const [qmin, qmax] = qrange(failer(n.where), y.dataType);
        // output channels (Conv, channels-last) or columns (MatMul) are the innermost axis of y
        const R = C,
          O = size / Math.max(1, C);
        steps.push(() => {
          k.requantize_multipliers_f32(mult, as, bs, yS, nb, C);
          k.quantize_linear_f32(yp, ys, mult, yz, O, R, 1, qmin, qmax, MULTIPLY | SCALAR_ZP);
        });
      }
      if (x.size === 0 || y.size === 0) return () => {};
      return () => {
        for (const s of steps) s();
      };
    },
  };

  registerOp<IntegerAttrs>({
    type,
    parse: (at, opset) => ({ floatAttrs: opDef(spec.float)!.parse(at, opset) }),
    infer(c) {
      const x = c.need(spec.x, "x"),
        w = c.need(spec.w, "w");
      if (!isInteger(x.dataType) || !isInteger(w.dataType))
        c.fail(`x and w must be integer tensors, got ${dataTypeName(x.dataType)} and ${dataTypeName(w.dataType)}`);
      for (const i of [spec.xZp, spec.wZp]) if (i !== undefined) checkZp(c, i);
      if (spec.requant) {
        for (const i of [spec.requant.xScale, spec.requant.yScale]) if (sizeOfDims(c.need(i, "scale").shape) !== 1) c.fail(`input ${i} must be a scalar scale`);
        c.need(spec.requant.wScale, "w_scale");
        if (sizeOfDims(c.need(spec.requant.yZp, "y_zero_point").shape) !== 1) c.fail("y_zero_point must be a scalar");
      }
      const types = [c.need(spec.x, "x"), c.need(spec.w, "w"), ...(spec.bias !== undefined && c.input(spec.bias) ? [c.input(spec.bias)!] : [])].map((t) => ({
        dataType: DataType.FLOAT,
        shape: t.shape,
      }));
      const fctx: InferContext<unknown> = {
        ...c,
        attrs: c.attrs.floatAttrs,
        inputCount: types.length,
        outputCount: 1,
        wants: (i) => i === 0,
        input: (i) => types[i],
        need: (i, name) => types[i] ?? c.fail(`input ${i} (${name}) is required`),
        value: () => undefined,
      };
      const [t] = opDef(spec.float)!.infer(fctx);
      const dataType = outType(c);
      qrange(c, dataType);
      return [{ dataType, shape: t!.shape }];
    },
    layout(c) {
      const fdef = opDef(spec.float)!;
      const x = c.inputs[spec.x]!,
        w = c.inputs[spec.w]!;
      const ins = [x, w, ...(spec.bias !== undefined && c.inputs[spec.bias] ? [c.inputs[spec.bias]] : [])];
      const inner = (
        fdef.layout ?? (() => ({ inputs: ins.map((v) => identityPerm(v!.shape.length)), outputs: c.outputs.map((t) => identityPerm(t.shape.length)) }))
      )({
        attrs: c.attrs.floatAttrs,
        inputs: ins,
        outputs: c.outputs,
      });
      const want = (j: number, v: PlanValue | undefined): Perm | "any" => (!v ? "any" : inner.inputs[j] === "any" ? "any" : inner.inputs[j]!);
      return {
        inputs: c.inputs.map((v, i) => (i === spec.x ? want(0, v) : i === spec.w ? want(1, v) : "any")),
        outputs: [inner.outputs[0]!],
      };
    },
    algorithms: [algorithm],
  });
}

/** Zero points: a scalar, or a vector (per row of A, per output channel or column of B). */
function checkZp(c: InferContext<IntegerAttrs>, i: number): void {
  const t = c.input(i);
  if (t && !isInteger(t.dataType)) c.fail(`input ${i} (a zero point) must be an integer tensor`);
}

const int32Out = () => DataType.INT32;

integerOp("ConvInteger", { float: "Conv", x: 0, w: 1, xZp: 2, wZp: 3, wAxis: 0 }, int32Out);
integerOp("MatMulInteger", { float: "MatMul", x: 0, w: 1, xZp: 2, wZp: 3, wAxis: -1 }, int32Out);
integerOp(
  "QLinearConv",
  {
    float: "Conv",
    x: 0,
    xZp: 2,
    w: 3,
    wZp: 5,
    bias: 8,
    wAxis: 0,
    requant: { xScale: 1, wScale: 4, yScale: 6, yZp: 7 },
  },
  (c) => c.need(7, "y_zero_point").dataType,
);
integerOp(
  "QLinearMatMul",
  {
    float: "MatMul",
    x: 0,
    xZp: 2,
    w: 3,
    wZp: 5,
    wAxis: -1,
    requant: { xScale: 1, wScale: 4, yScale: 6, yZp: 7 },
  },
  (c) => c.need(7, "y_zero_point").dataType,
);
