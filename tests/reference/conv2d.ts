// Plain float64 references for conv2d and convTranspose2d, written straight from the ONNX
// definitions (NHWC, conv weights [KH,KW,C/groups,OC], transposed weights [KH,KW,Cout/groups,Cin]).
// No tiling, no tricks: every output is the sum its definition names.

export type Shape4 = [number, number, number, number];

/** Fully resolved hyper-parameters: strides, pads [top, left, bottom, right], dilations, groups. */
export interface RefParams {
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
  groups: number;
}

/** ONNX Conv auto_pad SAME_UPPER / SAME_LOWER pads for one axis: [begin, end]. */
export function samePads(len: number, stride: number, k: number, dil: number, upper: boolean): [number, number] {
  const out = Math.ceil(len / stride);
  const total = Math.max(0, (out - 1) * stride + (k - 1) * dil + 1 - len);
  const half = Math.floor(total / 2);
  return upper ? [half, total - half] : [total - half, half];
}

export function convOutputShape(xs: Shape4, ws: Shape4, p: RefParams): Shape4 {
  const oh = Math.floor((xs[1] + p.pads[0] + p.pads[2] - p.dilations[0] * (ws[0] - 1) - 1) / p.strides[0]) + 1;
  const ow = Math.floor((xs[2] + p.pads[1] + p.pads[3] - p.dilations[1] * (ws[1] - 1) - 1) / p.strides[1]) + 1;
  return [xs[0], oh, ow, ws[3]];
}

/**
 * Visits every (output element, weight element, input element) triple of a convolution whose
 * input tap is inside x: f(yIndex, wIndex, xIndex). x [N,H,W,C], w [KH,KW,C/G,OC], y [N,OH,OW,OC].
 */
function forEachTap(xs: Shape4, ws: Shape4, ys: Shape4, p: RefParams, f: (yi: number, wi: number, xi: number) => void): void {
  const [N, H, W, C] = xs;
  const [KH, KW, Cg, OC] = ws;
  const [, OH, OW] = ys;
  const OCg = OC / p.groups;
  for (let n = 0; n < N; n++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++)
        for (let o = 0; o < OC; o++) {
          const g = Math.floor(o / OCg);
          for (let ky = 0; ky < KH; ky++) {
            const iy = oy * p.strides[0] - p.pads[0] + ky * p.dilations[0];
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < KW; kx++) {
              const ix = ox * p.strides[1] - p.pads[1] + kx * p.dilations[1];
              if (ix < 0 || ix >= W) continue;
              for (let ci = 0; ci < Cg; ci++) {
                f(((n * OH + oy) * OW + ox) * OC + o, ((ky * KW + kx) * Cg + ci) * OC + o, ((n * H + iy) * W + ix) * C + g * Cg + ci);
              }
            }
          }
        }
}

/** y = conv(x, w) + b. */
export function conv2dRef(
  x: ArrayLike<number>,
  xs: Shape4,
  w: ArrayLike<number>,
  ws: Shape4,
  b: ArrayLike<number> | null,
  p: RefParams,
): { y: Float64Array; shape: Shape4 } {
  const shape = convOutputShape(xs, ws, p);
  const y = new Float64Array(shape.reduce((a, d) => a * d, 1));
  forEachTap(xs, ws, shape, p, (yi, wi, xi) => (y[yi]! += x[xi]! * w[wi]!));
  if (b) for (let i = 0; i < y.length; i++) y[i]! += b[i % shape[3]]!;
  return { y, shape };
}

/** dx, dw, db of conv2d for the output gradient dy. */
export function conv2dBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, xs: Shape4, w: ArrayLike<number>, ws: Shape4, p: RefParams) {
  const ys = convOutputShape(xs, ws, p);
  const dx = new Float64Array(x.length),
    dw = new Float64Array(w.length),
    db = new Float64Array(ws[3]);
  forEachTap(xs, ws, ys, p, (yi, wi, xi) => {
    dx[xi]! += dy[yi]! * w[wi]!;
    dw[wi]! += dy[yi]! * x[xi]!;
  });
  for (let i = 0; i < dy.length; i++) db[i % ws[3]]! += dy[i]!;
  return { dx, dw, db };
}

/**
 * ConvTranspose (ONNX): every input pixel (n, iy, ix, ci) of group g scatters x * w[ky,kx,co,ci] into
 * y[n, iy*sh - pt + ky*dh, ix*sw - pl + kx*dw, g*Cout/G + co]. x [N,H,W,Cin], w [KH,KW,Cout/G,Cin],
 * y [N,OH,OW,Cout] with the output size given.
 */
export function convTranspose2dRef(
  x: ArrayLike<number>,
  xs: Shape4,
  w: ArrayLike<number>,
  ws: Shape4,
  b: ArrayLike<number> | null,
  p: RefParams,
  outHW: [number, number],
): { y: Float64Array; shape: Shape4 } {
  const [N, H, W, Cin] = xs;
  const [KH, KW, Coutg] = ws;
  const Cout = Coutg * p.groups,
    Cing = Cin / p.groups;
  const [OH, OW] = outHW;
  const shape: Shape4 = [N, OH, OW, Cout];
  const y = new Float64Array(N * OH * OW * Cout);
  for (let n = 0; n < N; n++)
    for (let iy = 0; iy < H; iy++)
      for (let ix = 0; ix < W; ix++)
        for (let ci = 0; ci < Cin; ci++) {
          const g = Math.floor(ci / Cing);
          const xv = x[((n * H + iy) * W + ix) * Cin + ci]!;
          for (let ky = 0; ky < KH; ky++) {
            const oy = iy * p.strides[0] - p.pads[0] + ky * p.dilations[0];
            if (oy < 0 || oy >= OH) continue;
            for (let kx = 0; kx < KW; kx++) {
              const ox = ix * p.strides[1] - p.pads[1] + kx * p.dilations[1];
              if (ox < 0 || ox >= OW) continue;
              for (let co = 0; co < Coutg; co++) {
                y[((n * OH + oy) * OW + ox) * Cout + g * Coutg + co]! += xv * w[((ky * KW + kx) * Coutg + co) * Cin + ci]!;
              }
            }
          }
        }
  if (b) for (let i = 0; i < y.length; i++) y[i]! += b[i % Cout]!;
  return { y, shape };
}

/** ONNX ConvTranspose output size for one axis without output_shape. */
export function convTransposeOutputSize(len: number, stride: number, k: number, dil: number, outPad: number, padBegin: number, padEnd: number): number {
  return stride * (len - 1) + outPad + (k - 1) * dil + 1 - padBegin - padEnd;
}
