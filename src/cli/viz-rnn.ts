// `simdnet viz gradient-flow` and `simdnet viz cells`: the recurrent visualisations of src/viz/rnn.ts.
import { parseArgs } from "node:util";
import { init } from "../engine.js";
import { SimdnetError } from "../errors.js";
import { loadEmbeddedText, loadText } from "../data/text.js";
import type { BuildName } from "../runtime.js";
import { cellActivations, cellTextAnsi, cellTextHtml, gradientFlow, linePlotSvg, unitCorrelations } from "../viz/rnn.js";
import { loadCharModel } from "./text.js";
import { checkOutputPath, writeFileAtomic } from "./files.js";

export const VIZ_RNN_KINDS = ["gradient-flow", "cells"];

export const VIZ_RNN_USAGE = `  simdnet viz gradient-flow [--steps 100] [--hidden 64] [--seed 1] [--out gradient-flow.svg]
      The norm of dL/dh_t over the steps of a plain RNN and an LSTM at initialisation, for a loss
      at the last step (vanishing gradients), as an SVG line plot and a table.
  simdnet viz cells --weights char-lstm.safetensors [--text FILE] [--chars 1500] [--cell N] [--out cells.html]
      A text coloured by one LSTM cell's tanh(c) (Karpathy et al. 2015), in the terminal and as
      HTML; by default the cell that best tracks the position within a line.
`;

type Flags = Record<string, string | undefined>;

function intFlag(flags: Flags, name: string, fallback: number, min = 1): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new SimdnetError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

function buildFlag(flags: Flags): "auto" | BuildName {
  const b = flags.build ?? "auto";
  if (!["auto", "scalar", "simd", "relaxed"].includes(b)) throw new SimdnetError(`--build must be auto, scalar, simd or relaxed, got '${b}'`);
  return b as "auto" | BuildName;
}

export async function vizRnnCommand(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    allowPositionals: false,
    options: Object.fromEntries(["steps", "hidden", "seed", "out", "weights", "text", "chars", "cell", "build"].map((n) => [n, { type: "string" as const }])),
  });
  const flags = values as Flags;
  const out = flags.out ?? (kind === "cells" ? "cells.html" : "gradient-flow.svg");
  checkOutputPath(out, "--out"); // before the work
  if (kind === "gradient-flow") {
    const steps = intFlag(flags, "steps", 100),
      hidden = intFlag(flags, "hidden", 64),
      seed = intFlag(flags, "seed", 1, 0);
    const e = await init({ build: buildFlag(flags) });
    const series = gradientFlow(e, { steps, hidden, seed });
    const label = { rnn: "plain RNN (tanh)", gru: "GRU", lstm: "LSTM" };
    console.log(`||dL/dh_t|| for a loss at step ${steps} (mean over 16 sequences, hidden ${hidden}, at initialisation):`);
    console.log(`${"t".padStart(5)}  ${series.map((s) => label[s.cell].padStart(16)).join("  ")}`);
    for (let t = steps; t >= 1; t -= Math.max(1, Math.round(steps / 10))) {
      console.log(`${String(t).padStart(5)}  ${series.map((s) => s.norms[t - 1]!.toExponential(2).padStart(16)).join("  ")}`);
    }
    writeFileAtomic(
      out,
      new TextEncoder().encode(
        linePlotSvg(
          series.map((s) => ({ label: label[s.cell], values: s.norms })),
          {
            title: `Gradient flow through time at initialisation (hidden ${hidden})`,
            xLabel: "time step t",
            yLabel: "||dL/dh_t|| (loss at the last step)",
            logY: true,
          },
        ),
      ),
      "--out",
    );
    console.log(`plot written to ${out}`);
    return 0;
  }
  if (kind === "cells") {
    if (!flags.weights) throw new SimdnetError("viz cells needs --weights FILE (written by simdnet train --model char-lstm)");
    const { model, vocab } = await loadCharModel(flags.weights, buildFlag(flags));
    try {
      const all = flags.text ? await loadText(flags.text) : await loadEmbeddedText();
      const chars = intFlag(flags, "chars", 1500);
      // from the end of the text (the training command holds out the last 5%)
      const text = [...all.slice(Math.max(0, all.length - chars))].filter((c) => vocab.chars.includes(c)).join("");
      const ids = vocab.encode(text);
      const { values, hidden, layer } = cellActivations(model, ids);
      const column = new Float64Array(ids.length);
      for (let i = 0, col = 0; i < ids.length; i++) {
        column[i] = col;
        col = text[i] === "\n" ? 0 : col + 1;
      }
      const corr = unitCorrelations(values, hidden, column);
      let cell = flags.cell === undefined ? -1 : intFlag(flags, "cell", 0, 0);
      if (cell >= hidden) throw new SimdnetError(`--cell must be below the ${hidden} cells of ${layer}, got ${cell}`);
      if (cell < 0) cell = corr.reduce((best, c, j) => (Math.abs(c) > Math.abs(corr[best]!) ? j : best), 0);
      const act = Float32Array.from({ length: ids.length }, (_, t) => values[t * hidden + cell]!);
      console.log(cellTextAnsi(text, act));
      const title = `${layer}, cell ${cell}: tanh(c) from -1 (blue) to +1 (red); correlation with the position in the line ${corr[cell]!.toFixed(3)}`;
      console.log(`\n${title}`);
      writeFileAtomic(out, new TextEncoder().encode(cellTextHtml(text, act, title)), "--out");
      console.log(`HTML written to ${out}`);
    } finally {
      model.dispose();
    }
    return 0;
  }
  throw new SimdnetError(`viz: unknown recurrent visualisation '${kind}' (${VIZ_RNN_KINDS.join(", ")})`);
}
