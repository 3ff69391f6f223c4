// Attention and RotaryEmbedding (opset 23+), the transformer ops, planned as the registered ops
// they stand for.
//
// Attention (opset 23+), planned as the registered ops it stands for (as ONNX's function body):
//   Q, K, V [B, H, S, D] (or 3-D [B, S, H * D] with q_num_heads / kv_num_heads), past_key /
//   past_value concatenated before K / V (present_key / present_value outputs), K and V heads
//   repeated for grouped queries, QK^T of Q and K each scaled by sqrt(scale), softcap, a bias of
//   attn_mask (bool: 0 / -inf; float: added; padded with -inf to the keys' length) plus the causal
//   and sliding-window constants (aligned to the end of the past), Softmax over the keys (rows with
//   no key left give 0), times V; the qk_matmul_output modes 0-3 (0: raw QK^T, 1: after softcap,
//   2: plus the bias, 3: the softmax).
// nonpad_kv_seqlen (per-batch key lengths) must be known while planning (a constant, or a small
// graph input: the session plans per value). softmax_precision is ignored: the softmax runs in
// float32, what every float type computes in here.
import { fmtShape } from "../../errors.js";
import { DataType, dataTypeName } from "../../onnx/onnx-proto.js";
import type { Subgraph } from "../import.js";
import { registerOp } from "../registry.js";
import { guardElements } from "./composite.js";
import { typedInput } from "./elementwise.js";
import { intAttr, intsAttr, subgraphBuilder } from "./inline.js";

interface AttentionAttrs {
  scale?: number;
  isCausal: boolean;
  qHeads?: number;
  kvHeads?: number;
  softcap: number;
  qkMode: number;
  leftWindow: number;
  rightWindow: number;
  inputs: readonly string[];
}

registerOp<AttentionAttrs>({
  type: "Attention",
  // nonpad_kv_seqlen: the per-batch key lengths make constant masks (a session plans per value)
  valueInputs: [6],
  parse: (at) => ({
    scale: at.has("scale") ? at.float("scale", 1) : undefined,
    isCausal: at.int("is_causal", 0) !== 0,
    qHeads: at.has("q_num_heads") ? at.int("q_num_heads", 0) : undefined,
    kvHeads: at.has("kv_num_heads") ? at.int("kv_num_heads", 0) : undefined,
    softcap: at.float("softcap", 0),
    qkMode: at.int("qk_matmul_output_mode", 0),
    leftWindow: at.int("left_window_size", -1),
    rightWindow: at.int("right_window_size", -1),
    inputs: at.node.input,
  }),
  infer: (c) => c.fail("internal: Attention is inlined, not inferred"),
  inline(c): Subgraph {
    const a = c.attrs;
    const q = typedInput(c, 0, "Q", "float"),
      k = c.need(1, "K"),
      v = c.need(2, "V");
    const dt = q.dataType;
    for (const [t, name] of [
      [k, "K"],
      [v, "V"],
    ] as const)
      if (t.dataType !== dt || t.shape.length !== q.shape.length)
        c.fail(`${name} ${fmtShape(t.shape)} ${dataTypeName(t.dataType)} must have Q's rank and element type (${fmtShape(q.shape)} ${dataTypeName(dt)})`);
    if (![0, 1, 2, 3].includes(a.qkMode)) c.fail(`qk_matmul_output_mode ${a.qkMode} is not one of 0, 1, 2, 3`);
    const rank = q.shape.length;
    if (rank !== 3 && rank !== 4) c.fail(`Q must be 3-D or 4-D, got ${fmtShape(q.shape)}`);
    const b = subgraphBuilder(c.where, c.opset, "attention");
    const [qName, kName, vName, maskName, pastKName, pastVName] = [0, 1, 2, 3, 4, 5].map((i) => a.inputs[i] ?? "");
    const B = q.shape[0]!;
    // to [B, H, S, D]
    let Hq: number, Hkv: number, S: number, D: number, Dv: number;
    let q4 = qName!,
      k4 = kName!,
      v4 = vName!;
    if (rank === 3) {
      Hq = a.qHeads ?? 0;
      Hkv = a.kvHeads ?? 0;
      if (!(Hq >= 1 && Hkv >= 1)) c.fail("3-D inputs need q_num_heads and kv_num_heads (>= 1)");
      if (q.shape[2]! % Hq || k.shape[2]! % Hkv || v.shape[2]! % Hkv)
        c.fail(`hidden sizes Q ${q.shape[2]}, K ${k.shape[2]}, V ${v.shape[2]} must divide by the head counts ${Hq}, ${Hkv}`);
      S = q.shape[1]!;
      D = q.shape[2]! / Hq;
      Dv = v.shape[2]! / Hkv;
      const heads = (x: string, T: number, H: number, d: number) =>
        b.node("Transpose", [b.node("Reshape", [x, b.ints([B, T, H, d])], [])], [intsAttr("perm", [0, 2, 1, 3])]);
      q4 = heads(qName!, S, Hq, D);
      k4 = heads(kName!, k.shape[1]!, Hkv, D);
      v4 = heads(vName!, v.shape[1]!, Hkv, Dv);
    } else {
      Hq = q.shape[1]!;
      S = q.shape[2]!;
      D = q.shape[3]!;
      Hkv = k.shape[1]!;
      Dv = v.shape[3]!;
    }
    const kT = rank === 3 ? k.shape[1]! : k.shape[2]!;
    if ((rank === 3 ? k.shape[2]! / Hkv : k.shape[3]!) !== D) c.fail(`K's head size must be Q's (${D}), K is ${fmtShape(k.shape)}`);
    if (Hq % Hkv !== 0) c.fail(`${Hq} query heads are not a multiple of ${Hkv} key / value heads`);
    // the cache
    let P = 0;
    if (c.input(4) || c.input(5)) {
      const pk = c.input(4) ?? c.fail("past_key and past_value go together"),
        pv = c.input(5) ?? c.fail("past_key and past_value go together");
      P = pk.shape[2] ?? 0;
      if (pk.shape.join() !== [B, Hkv, P, D].join() || pv.shape.join() !== [B, Hkv, P, Dv].join())
        c.fail(`past_key ${fmtShape(pk.shape)} and past_value ${fmtShape(pv.shape)} must be [${B}, ${Hkv}, P, ${D}] and [${B}, ${Hkv}, P, ${Dv}]`);
      k4 = b.node("Concat", [pastKName!, k4], [intAttr("axis", 2)]);
      v4 = b.node("Concat", [pastVName!, v4], [intAttr("axis", 2)]);
    }
    const T = P + kT;
    const presentK = k4,
      presentV = v4;
    // grouped queries: each key / value head serves Hq / Hkv query heads in a row
    if (Hq !== Hkv) {
      const g = Hq / Hkv;
      const repeat = (x: string, d: number) =>
        b.node(
          "Reshape",
          [b.node("Expand", [b.node("Reshape", [x, b.ints([B, Hkv, 1, T, d])], []), b.ints([B, Hkv, g, T, d])], []), b.ints([B, Hq, T, d])],
          [],
        );
      k4 = repeat(k4, D);
      v4 = repeat(v4, Dv);
    }
    const scale = a.scale ?? 1 / Math.sqrt(D);
    const root = b.constant(dt, [], [Math.sqrt(scale)]);
    const kTr = b.node("Transpose", [k4], [intsAttr("perm", [0, 1, 3, 2])]);
    const qkRaw = b.node("MatMul", [b.node("Mul", [q4, root], []), b.node("Mul", [kTr, root], [])], []);
    let qk = qkRaw;
    if (a.softcap > 0) {
      const cap = b.constant(dt, [], [a.softcap]);
      qk = b.node("Mul", [b.node("Tanh", [b.node("Div", [qk, cap], [])], []), cap], []);
    }
    // the bias: the mask (as 0 / -inf or added floats, padded to T) plus the causal / window constant
    const negInf = () => b.constant(dt, [], [-Infinity]);
    let bias: string | undefined;
    const mask = c.input(3);
    if (mask) {
      const isBool = mask.dataType === DataType.BOOL;
      if (!isBool && mask.dataType !== dt) c.fail(`attn_mask must be bool or Q's element type, got ${dataTypeName(mask.dataType)}`);
      const m = mask.shape[mask.shape.length - 1] ?? 0;
      if (mask.shape.length < 2 || m > T) c.fail(`attn_mask ${fmtShape(mask.shape)} must be [..., ${S}, up to ${T}]`);
      bias = isBool ? b.node("Where", [maskName!, b.constant(dt, [], [0]), negInf()], []) : maskName!;
      if (m < T) {
        const pads = new Array<number>(2 * mask.shape.length).fill(0);
        pads[2 * mask.shape.length - 1] = T - m;
        bias = b.node("Pad", [bias, b.ints(pads), negInf()], []);
      }
    }
    const windowed = a.leftWindow >= 0 || a.rightWindow >= 0;
    // per-batch key lengths (opset 24): keys from nonpad_kv_seqlen[b] on are padding, and the causal
    // frontier sits at nonpad_kv_seqlen[b] - S; without them, at the end of the past (P)
    let lengths: number[] | undefined;
    if (c.input(6)) {
      if (P > 0) c.fail("nonpad_kv_seqlen cannot be combined with past_key / past_value");
      const l = c.value(6)!;
      if (l.data.length !== B) c.fail(`nonpad_kv_seqlen has ${l.data.length} values for a batch of ${B}`);
      lengths = Array.from(l.data, (x) => Math.trunc(x));
    }
    if (a.isCausal || windowed || lengths) {
      const batches = lengths ? B : 1;
      guardElements(c, batches * S * T, "the causal / window mask");
      const allowed = new Float64Array(batches * S * T);
      for (let n = 0; n < batches; n++) {
        const offset = lengths ? lengths[n]! - S : P;
        for (let i = 0; i < S; i++)
          for (let j = 0; j < T; j++) {
            const diff = i + offset - j;
            const ok =
              (!a.isCausal || diff >= 0) &&
              (a.leftWindow < 0 || diff <= a.leftWindow) &&
              (a.rightWindow < 0 || -diff <= a.rightWindow) &&
              (!lengths || j < lengths[n]!);
            allowed[(n * S + i) * T + j] = ok ? 0 : -Infinity;
          }
      }
      const constant = b.constant(dt, lengths ? [B, 1, S, T] : [S, T], Array.from(allowed));
      bias = bias ? b.node("Add", [bias, constant], []) : constant;
    }
    const withBias = bias ? b.node("Add", [qk, bias], []) : qk;
    let p = b.node("Softmax", [withBias], [intAttr("axis", -1)]);
    if (bias) {
      // a row whose every key is masked gives 0 (its softmax would be 0 / 0)
      const rowMax = b.node("ReduceMax", [bias, b.ints([-1])], [intAttr("keepdims", 1)]);
      p = b.node("Where", [b.node("Equal", [rowMax, negInf()], []), b.constant(dt, [], [0]), p], []);
    }
    let y = b.node("MatMul", [p, v4], []);
    if (rank === 3) y = b.node("Reshape", [b.node("Transpose", [y], [intsAttr("perm", [0, 2, 1, 3])]), b.ints([B, S, Hq * Dv])], []);
    // the 4th output (the spec's modes, as onnxruntime and the function body: 0 is the raw product)
    const qkOut = [qkRaw, qk, withBias, p][a.qkMode]!;
    const outs = [y, presentK, presentV, qkOut].map((name) => ({ name: b.node("Identity", [name], []), dataType: dt }));
    return { nodes: b.nodes, initializers: b.initializers, outputs: outs, outerReads: a.inputs.filter((n) => n !== "") };
  },
  algorithms: [],
});

// RotaryEmbedding (opset 23): input [B, H, S, D] or [B, S, H * D] (num_heads); the first
// rotary_embedding_dim (R, default D) features of each head rotated by the cos / sin caches
// ([max_position, R / 2] gathered by position_ids [B, S], or [B, S, R / 2] without them), as
// halves (x1 = first half, x2 = second) or interleaved pairs (x1 = even, x2 = odd):
// (x1 cos - x2 sin, x1 sin + x2 cos); the other features pass through
registerOp<{ interleaved: boolean; rotaryDim: number; heads: number; inputs: readonly string[] }>({
  type: "RotaryEmbedding",
  parse: (at) => ({
    interleaved: at.int("interleaved", 0) !== 0,
    rotaryDim: at.int("rotary_embedding_dim", 0),
    heads: at.int("num_heads", 0),
    inputs: at.node.input,
  }),
  infer: (c) => c.fail("internal: RotaryEmbedding is inlined, not inferred"),
  inline(c): Subgraph {
    const a = c.attrs;
    const x = typedInput(c, 0, "X", "float"),
      cos = c.need(1, "cos_cache"),
      sin = c.need(2, "sin_cache");
    const dt = x.dataType;
    if (cos.dataType !== dt || sin.dataType !== dt) c.fail("cos_cache and sin_cache must have X's element type");
    const rank = x.shape.length;
    if (rank !== 3 && rank !== 4) c.fail(`X must be [B, H, S, D] or [B, S, hidden], got ${fmtShape(x.shape)}`);
    const B = x.shape[0]!;
    let H: number, S: number, D: number;
    if (rank === 4) [H, S, D] = [x.shape[1]!, x.shape[2]!, x.shape[3]!];
    else {
      H = a.heads;
      S = x.shape[1]!;
      if (!(H >= 1) || x.shape[2]! % H) c.fail(`3-D X needs num_heads dividing its hidden size ${x.shape[2]}, got ${H}`);
      D = x.shape[2]! / H;
    }
    const R = a.rotaryDim || D;
    if (R % 2 || R > D) c.fail(`rotary_embedding_dim ${R} must be even and at most the head size ${D}`);
    const half = R / 2;
    const [xName, cosName, sinName] = a.inputs as [string, string, string];
    const positions = c.input(3) ? a.inputs[3]! : "";
    const b = subgraphBuilder(c.where, c.opset, "rotaryEmbedding");
    // caches as [B, S, 1, R / 2]
    const cacheOf = (name: string, t: { shape: readonly number[] }, what: string) => {
      if (positions) {
        const p = c.need(3, "position_ids");
        if (p.shape.join() !== [B, S].join()) c.fail(`position_ids must be [${B}, ${S}], got ${fmtShape(p.shape)}`);
        if (t.shape.length !== 2 || t.shape[1] !== half) c.fail(`${what} must be [max_position, ${half}], got ${fmtShape(t.shape)}`);
      } else if (t.shape.join() !== [B, S, half].join()) c.fail(`${what} must be [${B}, ${S}, ${half}] without position_ids, got ${fmtShape(t.shape)}`);
      const g = positions ? b.node("Gather", [name, positions], [intAttr("axis", 0)]) : name;
      return b.node("Reshape", [g, b.ints([B, S, 1, half])], []);
    };
    const cosB = cacheOf(cosName, cos, "cos_cache"),
      sinB = cacheOf(sinName, sin, "sin_cache");
    // X as [B, S, H, D]
    const x4 = rank === 4 ? b.node("Transpose", [xName], [intsAttr("perm", [0, 2, 1, 3])]) : b.node("Reshape", [xName, b.ints([B, S, H, D])], []);
    const slice = (from: string, start: number, end: number, step = 1) =>
      b.node("Slice", [from, b.ints([start]), b.ints([end]), b.ints([3]), b.ints([step])], []);
    const rot = R < D ? slice(x4, 0, R) : x4;
    const x1 = a.interleaved ? slice(rot, 0, R, 2) : slice(rot, 0, half),
      x2 = a.interleaved ? slice(rot, 1, R, 2) : slice(rot, half, R);
    const real = b.node("Sub", [b.node("Mul", [cosB, x1], []), b.node("Mul", [sinB, x2], [])], []);
    const imag = b.node("Add", [b.node("Mul", [sinB, x1], []), b.node("Mul", [cosB, x2], [])], []);
    let rotated: string;
    if (a.interleaved) {
      const pair = (v: string) => b.node("Reshape", [v, b.ints([B, S, H, half, 1])], []);
      rotated = b.node("Reshape", [b.node("Concat", [pair(real), pair(imag)], [intAttr("axis", 4)]), b.ints([B, S, H, R])], []);
    } else rotated = b.node("Concat", [real, imag], [intAttr("axis", 3)]);
    const y4 = R < D ? b.node("Concat", [rotated, slice(x4, R, D)], [intAttr("axis", 3)]) : rotated;
    const y = rank === 4 ? b.node("Transpose", [y4], [intsAttr("perm", [0, 2, 1, 3])]) : b.node("Reshape", [y4, b.ints([...x.shape])], []);
    return {
      nodes: b.nodes,
      initializers: b.initializers,
      outputs: [{ name: b.node("Identity", [y], []), dataType: dt }],
      outerReads: a.inputs.filter((n) => n !== ""),
    };
  },
  algorithms: [],
});
