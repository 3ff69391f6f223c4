// Seeing recurrent networks as the lecture draws them: how the gradient of a loss at the last step
// reaches earlier steps (vanishing gradients, plain RNN against LSTM at initialisation), and what
// one LSTM cell tracks over a text (Karpathy, Johnson and Fei-Fei, "Visualizing and Understanding
// Recurrent Networks", 2015): a line plot as SVG, coloured text as HTML or terminal escapes.
import type { Engine } from "../engine.js";
import { fail } from "../errors.js";
import { normalGenerator } from "../model/init.js";
import { createModel, type Model } from "../model/model.js";
import { lstm, type RecurrentCell, recurrentBackwardRun, recurrentLayout, type RecurrentResult, recurrentStates, gru, rnn } from "../ops/rnn.js";
import { mulberry32 } from "../random.js";

/** Options of gradientFlow. */
export interface GradientFlowOptions {
  /** Sequence length T (default 100). */
  steps?: number;
  /** Hidden size (default 64), input features (default 16), sequences averaged over (default 16). */
  hidden?: number;
  input?: number;
  batch?: number;
  /** Cells to compare (default plain RNN and LSTM). */
  cells?: RecurrentCell[];
  /** Seed of the weights (the layers' own initialisation), the inputs and the loss direction (default 1). */
  seed?: number;
}

/** One cell's curve: norms[t] is the mean over the batch of ||dL/dh_{t+1}||_2, t = 0..T-1. */
export interface GradientFlowSeries {
  cell: RecurrentCell;
  norms: Float64Array;
}

/**
 * The norm of dL/dh_t over the steps t = 1..T of freshly initialised recurrent layers (as a Model's
 * `rnn` / `gru` / `lstm` layer initialises them: Xavier input weights, orthogonal recurrence, zero
 * biases but the LSTM's forget-gate bias of 1) on N(0, 1) inputs, for a loss L = v . h_T at the last step only (v a random unit vector
 * per sequence): how far back the gradient reaches before it vanishes.
 */
export function gradientFlow(engine: Engine, options: GradientFlowOptions = {}): GradientFlowSeries[] {
  const T = options.steps ?? 100,
    H = options.hidden ?? 64,
    I = options.input ?? 16,
    B = options.batch ?? 16,
    seed = options.seed ?? 1;
  const cells = options.cells ?? ["rnn", "lstm"];
  for (const [name, v] of [
    ["steps", T],
    ["hidden", H],
    ["input", I],
    ["batch", B],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) fail("gradientFlow", `${name} must be an integer >= 1, got ${v}`);
  }
  const normal = normalGenerator(mulberry32(seed));
  const xs = Float32Array.from({ length: T * B * I }, normal);
  const v = new Float32Array(B * H);
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let j = 0; j < H; j++) n += (v[b * H + j] = normal()) ** 2;
    for (let j = 0; j < H; j++) v[b * H + j]! /= Math.sqrt(n);
  }
  return cells.map((cell) => {
    const model = createModel(engine, [{ type: cell, units: H, returnSequences: true }], { inputShape: [T, I], seed });
    try {
      const p = new Map(model.parameters().map((q) => [q.name.split(".")[1]!, q.value]));
      return engine.tidy(() => {
        const x = engine.tensor([T, B, I], xs);
        const f = cell === "lstm" ? lstm : cell === "gru" ? gru : rnn;
        const out: RecurrentResult = f(x, p.get("weight")!, p.get("recurrence")!, p.get("bias")!);
        const g = out.saved.geometry;
        const dy = engine.zeros([T, 1, B, H]);
        dy.data.set(v, (T - 1) * B * H);
        const steps = engine.zeros([T, B, H]),
          scratch = engine.empty([recurrentLayout(g).backwardScratchFloats]);
        recurrentBackwardRun(
          engine,
          g,
          {
            x: x.ptr,
            w: p.get("weight")!.ptr,
            r: p.get("recurrence")!.ptr,
            b: p.get("bias")!.ptr,
            peepholes: 0,
            h0: 0,
            c0: 0,
            lens: 0,
            saved: out.saved.state.ptr,
            scratch: scratch.ptr,
          },
          { dy: dy.ptr },
          { dx: 0, dw: 0, dr: 0, db: 0, dPeepholes: 0, dh0: 0, dc0: 0, dhSteps: steps.ptr },
        );
        // steps[t] = dL/dh entering step t = dL/dh_t (h_t = hs[t]); dL/dh_T = v
        const d = steps.data,
          norms = new Float64Array(T);
        for (let t = 0; t < T; t++) {
          let sum = 0;
          for (let b = 0; b < B; b++) {
            let n = 0;
            for (let j = 0; j < H; j++) {
              const val = t === T - 1 ? v[b * H + j]! : d[((t + 1) * B + b) * H + j]!;
              n += val * val;
            }
            sum += Math.sqrt(n);
          }
          norms[t] = sum / B;
        }
        return { cell, norms };
      });
    } finally {
      model.dispose();
    }
  });
}

/** A line of linePlotSvg. */
export interface PlotSeries {
  label: string;
  values: ArrayLike<number>;
  /** CSS colour (default from a palette). */
  color?: string;
}

/** Options of linePlotSvg. */
export interface LinePlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Logarithmic y axis (values <= 0 are left out). Default false. */
  logY?: boolean;
  /** x of values[i] (default i + 1). */
  xStart?: number;
  width?: number;
  height?: number;
}

const COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A line plot of one or more series as an SVG document (axes, ticks, labels, legend). */
export function linePlotSvg(series: PlotSeries[], options: LinePlotOptions = {}): string {
  const W = options.width ?? 720,
    Hh = options.height ?? 420,
    m = { l: 78, r: 20, t: 40, b: 56 };
  const logY = options.logY ?? false,
    x0 = options.xStart ?? 1;
  const n = Math.max(...series.map((s) => s.values.length));
  const tf = (v: number) => (logY ? Math.log10(v) : v);
  const ys = series.flatMap((s) =>
    Array.from(s.values)
      .filter((v) => Number.isFinite(v) && (!logY || v > 0))
      .map(tf),
  );
  if (ys.length === 0) fail("linePlotSvg", "no value to plot");
  let lo = Math.min(...ys),
    hi = Math.max(...ys);
  if (logY) [lo, hi] = [Math.floor(lo), Math.ceil(hi)];
  if (hi === lo) hi = lo + 1;
  const px = (i: number) => m.l + ((W - m.l - m.r) * i) / Math.max(1, n - 1);
  const py = (v: number) => Hh - m.b - ((Hh - m.t - m.b) * (tf(v) - lo)) / (hi - lo);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Hh}" viewBox="0 0 ${W} ${Hh}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${Hh}" fill="white"/>`);
  if (options.title) parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(options.title)}</text>`);
  // y ticks: decades (log) or 5 even steps
  const ticks = logY ? Array.from({ length: hi - lo + 1 }, (_, k) => lo + k) : Array.from({ length: 6 }, (_, k) => lo + ((hi - lo) * k) / 5);
  for (const t of ticks) {
    const y = Hh - m.b - ((Hh - m.t - m.b) * (t - lo)) / (hi - lo);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${m.l - 6}" y="${y + 4}" text-anchor="end">${logY ? `1e${t}` : Number(t.toPrecision(3))}</text>`);
  }
  const xStep = Math.max(1, Math.round(n / 10 / 5) * 5 || 1);
  for (let i = 0; i < n; i += xStep) parts.push(`<text x="${px(i)}" y="${Hh - m.b + 16}" text-anchor="middle">${i + x0}</text>`);
  parts.push(
    `<line x1="${m.l}" x2="${W - m.r}" y1="${Hh - m.b}" y2="${Hh - m.b}" stroke="black"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${Hh - m.b}" stroke="black"/>`,
  );
  if (options.xLabel) parts.push(`<text x="${(W + m.l) / 2}" y="${Hh - 14}" text-anchor="middle">${esc(options.xLabel)}</text>`);
  if (options.yLabel) parts.push(`<text transform="translate(18 ${(Hh - m.b + m.t) / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`);
  series.forEach((s, k) => {
    const color = s.color ?? COLORS[k % COLORS.length]!;
    const pts: string[] = [];
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i]!;
      if (Number.isFinite(v) && (!logY || v > 0)) pts.push(`${px(i).toFixed(1)},${py(v).toFixed(1)}`);
    }
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(" ")}"/>`);
    parts.push(`<line x1="${m.l + 14}" x2="${m.l + 38}" y1="${m.t + 14 + 18 * k}" y2="${m.t + 14 + 18 * k}" stroke="${color}" stroke-width="3"/>`);
    parts.push(`<text x="${m.l + 44}" y="${m.t + 18 + 18 * k}">${esc(s.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * tanh(c_t) of every unit of an LSTM layer of a character model (embedding -> lstm...) over a text
 * of ids, from zero states: [ids.length, H] row-major. `layer` names an lstm layer (default the
 * first); the layers before it run too (embedding, further lstm layers), each forward direction.
 */
export function cellActivations(
  model: Model,
  ids: ArrayLike<number>,
  options: { layer?: string } = {},
): { values: Float32Array; hidden: number; layer: string } {
  const op = "cellActivations";
  const nodes = model.graph.nodes;
  const target = options.layer ?? nodes.find((n) => n.type === "lstm")?.name;
  const stop = nodes.findIndex((n) => n.name === target);
  if (!target || stop < 0 || nodes[stop]!.type !== "lstm")
    fail(
      op,
      `${options.layer ? `'${options.layer}' is not an lstm layer` : "the model has no lstm layer"} (layers: ${nodes.map((n) => `${n.name} (${n.type})`).join(", ")})`,
    );
  if (ids.length < 1) fail(op, "needs at least one character");
  const e = model.engine,
    state = model.stateDict();
  return e.tidy(() => {
    let seq = e.tensor([ids.length, 1], ids); // [T, B = 1, features]
    let result: Float32Array | undefined,
      hidden = 0;
    for (let i = 0; i <= stop; i++) {
      const n = nodes[i]!,
        param = (p: string) => state.get(`${n.name}.${p}`)!;
      if (n.type === "embedding") {
        const table = param("weight"),
          dim = table.shape[1]!,
          vocab = table.shape[0]!,
          t = table.data;
        const out = new Float32Array(ids.length * dim);
        for (let k = 0; k < ids.length; k++) {
          const id = ids[k]!;
          if (!(Number.isInteger(id) && id >= 0 && id < vocab)) fail(op, `id ${id} at ${k} is outside the vocabulary of ${vocab}`);
          out.set(t.subarray(id * dim, (id + 1) * dim), k * dim);
        }
        seq = e.tensor([ids.length, 1, dim], out);
      } else if (n.type === "lstm") {
        if ((n.spec.direction ?? "forward") !== "forward") fail(op, `layer '${n.name}' is not a forward lstm`);
        const o = lstm(seq, param("weight"), param("recurrence"), param("bias"), { peepholes: n.spec.peepholes ? param("peepholes") : null });
        hidden = n.shape[n.shape.length - 1]!;
        if (i === stop) {
          const c = recurrentStates(o.saved).c[0]!;
          result = Float32Array.from(c.subarray(hidden), Math.tanh);
        } else seq = e.tensor([ids.length, 1, hidden], o.y.data);
      } else fail(op, `cannot run layer '${n.name}' (${n.type}) before '${target}': only embedding and lstm layers`);
    }
    return { values: result!, hidden, layer: target };
  });
}

/** Pearson correlation of every unit's activation (values [T, H]) with a per-step signal. */
export function unitCorrelations(values: Float32Array, hidden: number, signal: ArrayLike<number>): Float64Array {
  const T = signal.length,
    out = new Float64Array(hidden);
  let ms = 0;
  for (let t = 0; t < T; t++) ms += signal[t]!;
  ms /= T;
  for (let j = 0; j < hidden; j++) {
    let mv = 0;
    for (let t = 0; t < T; t++) mv += values[t * hidden + j]!;
    mv /= T;
    let sxy = 0,
      sxx = 0,
      syy = 0;
    for (let t = 0; t < T; t++) {
      const a = values[t * hidden + j]! - mv,
        b = signal[t]! - ms;
      sxy += a * b;
      sxx += a * a;
      syy += b * b;
    }
    out[j] = sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
  }
  return out;
}

/** Blue (-1) - white (0) - red (+1), Karpathy's colouring of a cell in [-1, 1]. */
export function cellColor(v: number): [number, number, number] {
  const a = Math.min(1, Math.abs(v));
  const fade = Math.round(255 * (1 - 0.75 * a));
  return v >= 0 ? [255, fade, fade] : [fade, fade, 255];
}

/** The text as HTML, each character's background coloured by its activation in [-1, 1]. */
export function cellTextHtml(text: string, activations: ArrayLike<number>, title = ""): string {
  const chars = [...text];
  const spans = chars.map((ch, i) => {
    const [r, g, b] = cellColor(activations[i] ?? 0);
    const shown = ch === "\n" ? "\u21b5<br>" : esc(ch);
    return `<span style="background:rgb(${r},${g},${b})" title="${(activations[i] ?? 0).toFixed(3)}">${shown}</span>`;
  });
  return (
    `<!doctype html>\n<meta charset="utf-8"><title>${esc(title || "LSTM cell")}</title>\n` +
    `<h3 style="font-family:sans-serif">${esc(title)}</h3>\n<pre style="font:14px/1.5 monospace;white-space:pre-wrap">${spans.join("")}</pre>\n`
  );
}

/** The text with 24-bit ANSI background colours by activation (for a terminal). */
export function cellTextAnsi(text: string, activations: ArrayLike<number>): string {
  let s = "",
    i = 0;
  for (const ch of text) {
    const [r, g, b] = cellColor(activations[i++] ?? 0);
    s += ch === "\n" ? "\x1b[0m\n" : `\x1b[48;2;${r};${g};${b}m\x1b[38;2;0;0;0m${ch}`;
  }
  return `${s}\x1b[0m`;
}
