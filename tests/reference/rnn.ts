// Plain float64 reference of ONNX RNN, GRU and LSTM (src/ops/rnn.ts, assembly/rnn.ts): one
// sequence at a time, one step at a time, written from the ONNX operator definitions. Weights in
// simdnet's layout: w [nd, I, G*H], r [nd, H, G*H], b [nd, 2*G*H], peepholes [nd, 3H].

export type Cell = "rnn" | "gru" | "lstm";

export interface RefInput {
  cell: Cell;
  /** x [T, B, I], or [B, T, I] when batchFirst. */
  x: ArrayLike<number>;
  T: number;
  B: number;
  I: number;
  H: number;
  directions: ("forward" | "reverse")[];
  w: ArrayLike<number>;
  r: ArrayLike<number>;
  b?: ArrayLike<number> | null;
  peepholes?: ArrayLike<number> | null;
  /** [nd, B, H] ([B, nd, H] when batchFirst). */
  h0?: ArrayLike<number> | null;
  c0?: ArrayLike<number> | null;
  lens?: ArrayLike<number> | null;
  batchFirst?: boolean;
  relu?: boolean;
  linearBeforeReset?: boolean;
  clip?: number;
}

export interface RefOutput {
  /** [T, nd, B, H] ([B, T, nd, H] when batchFirst). */
  y: Float64Array;
  /** [nd, B, H] ([B, nd, H]). */
  yH: Float64Array;
  yC: Float64Array;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export function recurrentRef(p: RefInput): RefOutput {
  const { cell, T, B, I, H } = p;
  const nd = p.directions.length,
    G = cell === "rnn" ? 1 : cell === "gru" ? 3 : 4,
    GH = G * H;
  const bf = p.batchFirst ?? false,
    clip = p.clip ?? Infinity;
  const cl = (v: number) => Math.min(Math.max(v, -clip), clip);
  const y = new Float64Array(T * nd * B * H),
    yH = new Float64Array(nd * B * H),
    yC = new Float64Array(nd * B * H);
  const xAt = (t: number, b: number, i: number) => p.x[bf ? (b * T + t) * I + i : (t * B + b) * I + i]!;
  const stateAt = (d: number, b: number) => (bf ? b * nd + d : d * B + b) * H;
  const yAt = (t: number, d: number, b: number) => (bf ? (b * T + t) * nd + d : (t * nd + d) * B + b) * H;
  for (let d = 0; d < nd; d++) {
    const W = (i: number, col: number) => p.w[(d * I + i) * GH + col]!;
    const R = (j: number, col: number) => p.r[(d * H + j) * GH + col]!;
    const Wb = (col: number) => (p.b ? p.b[d * 2 * GH + col]! : 0);
    const Rb = (col: number) => (p.b ? p.b[d * 2 * GH + GH + col]! : 0);
    const P = (q: number, j: number) => (p.peepholes ? p.peepholes[d * 3 * H + q * H + j]! : 0);
    for (let b = 0; b < B; b++) {
      const len = p.lens ? p.lens[b]! : T;
      let h = Array.from({ length: H }, (_, j) => (p.h0 ? p.h0[stateAt(d, b) + j]! : 0));
      let c = Array.from({ length: H }, (_, j) => (p.c0 ? p.c0[stateAt(d, b) + j]! : 0));
      for (let s = 0; s < len; s++) {
        const t = p.directions[d] === "forward" ? s : len - 1 - s;
        // xw[col] = x_t W + Wb, hr[col] = h R + Rb
        const xw = new Float64Array(GH),
          hr = new Float64Array(GH);
        for (let col = 0; col < GH; col++) {
          let a = Wb(col),
            q = Rb(col);
          for (let i = 0; i < I; i++) a += xAt(t, b, i) * W(i, col);
          for (let j = 0; j < H; j++) q += h[j]! * R(j, col);
          xw[col] = a;
          hr[col] = q;
        }
        const hn = new Array<number>(H),
          cn = new Array<number>(H);
        if (cell === "rnn") {
          for (let j = 0; j < H; j++) {
            const a = cl(xw[j]! + hr[j]!);
            hn[j] = p.relu ? Math.max(a, 0) : Math.tanh(a);
          }
        } else if (cell === "lstm") {
          for (let j = 0; j < H; j++) {
            const i = sigmoid(cl(xw[j]! + hr[j]! + P(0, j) * c[j]!));
            const f = sigmoid(cl(xw[2 * H + j]! + hr[2 * H + j]! + P(2, j) * c[j]!));
            const g = Math.tanh(cl(xw[3 * H + j]! + hr[3 * H + j]!));
            cn[j] = f * c[j]! + i * g;
            const o = sigmoid(cl(xw[H + j]! + hr[H + j]! + P(1, j) * cn[j]!));
            hn[j] = o * Math.tanh(cn[j]!);
          }
        } else {
          const z = new Array<number>(H),
            rg = new Array<number>(H);
          for (let j = 0; j < H; j++) {
            z[j] = sigmoid(cl(xw[j]! + hr[j]!));
            rg[j] = sigmoid(cl(xw[H + j]! + hr[H + j]!));
          }
          for (let j = 0; j < H; j++) {
            let a: number;
            if (p.linearBeforeReset) a = xw[2 * H + j]! + rg[j]! * hr[2 * H + j]!;
            else {
              a = xw[2 * H + j]! + Rb(2 * H + j);
              for (let k = 0; k < H; k++) a += rg[k]! * h[k]! * R(k, 2 * H + j);
            }
            const n = Math.tanh(cl(a));
            hn[j] = (1 - z[j]!) * n + z[j]! * h[j]!;
          }
        }
        h = hn;
        if (cell === "lstm") c = cn;
        for (let j = 0; j < H; j++) y[yAt(t, d, b) + j] = h[j]!;
      }
      for (let j = 0; j < H; j++) {
        yH[stateAt(d, b) + j] = h[j]!;
        yC[stateAt(d, b) + j] = c[j]!;
      }
    }
  }
  return { y, yH, yC };
}

/** sum(y . wy) + sum(yH . wh) + sum(yC . wc) (wh, wc may be null: no term) in float64. */
export function recurrentRefLoss(ref: RefInput, wy: ArrayLike<number> | null, wh: ArrayLike<number> | null, wc: ArrayLike<number> | null): number {
  const o = recurrentRef(ref);
  let s = 0;
  if (wy) for (let i = 0; i < o.y.length; i++) s += o.y[i]! * wy[i]!;
  if (wh) for (let i = 0; i < o.yH.length; i++) s += o.yH[i]! * wh[i]!;
  if (wc && ref.cell === "lstm") for (let i = 0; i < o.yC.length; i++) s += o.yC[i]! * wc[i]!;
  return s;
}

export type RefKey = "x" | "w" | "r" | "b" | "peepholes" | "h0" | "c0";

/** Central differences (float64, eps 1e-5) of loss(ref) with respect to entries `picks` of ref[key]. */
export function refNumericGrad(ref: RefInput, key: RefKey, picks: number[], loss: (r: RefInput) => number): number[] {
  const base = Float64Array.from(ref[key] as ArrayLike<number>);
  const eps = 1e-5;
  return picks.map((i) => {
    const v = base[i]!;
    base[i] = v + eps;
    const up = loss({ ...ref, [key]: base });
    base[i] = v - eps;
    const down = loss({ ...ref, [key]: base });
    base[i] = v;
    return (up - down) / (2 * eps);
  });
}
