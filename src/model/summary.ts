// summary(): a per-layer table of output shapes, activation values and parameter counts, computed
// from the compiled graph alone (no engine, no allocation), so it works for models too big to run.
import type { Shape } from "../tensor.js";
import { sizeOf } from "../tensor.js";
import { compileGraph, type CompiledGraph, type CompiledNode } from "./graph.js";
import type { AnyLayerSpec, ModelSpec } from "./spec.js";

/** One layer's line in a ModelSummary. */
export interface SummaryRow {
  name: string;
  /** Layer type with its main hyper-parameters and fused activation, e.g. "conv 3x3/1 +relu". */
  type: string;
  /** Per-image output shape (HWC for images). */
  shape: Shape;
  /** New activation values per image this layer stores (0 for views and in-place layers). */
  activations: number;
  /** Trainable parameters. */
  params: number;
  /** Non-trainable state (batch norm running statistics). */
  buffers: number;
}

/** What summary returns: a row per layer, totals and a printable table. */
export interface ModelSummary {
  rows: SummaryRow[];
  /** Trainable parameters of the whole model. */
  totalParams: number;
  /** Non-trainable state values (running statistics). */
  totalBuffers: number;
  /** Activation values per image, the input included. */
  totalActivations: number;
  /** float32 bytes per image: forward activations, and forward + backward (activation gradients). */
  activationBytesForward: number;
  activationBytesWithBackward: number;
  /** float32 bytes of parameters (+ buffers), and with their gradients. */
  paramBytes: number;
  paramBytesWithGrads: number;
  /** The printable table. */
  table: string;
}

const fmtInt = (n: number) => n.toLocaleString("en-US");
const fmtMB = (bytes: number) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);

function describe(n: CompiledNode): string {
  const s = n.spec as Record<string, unknown>;
  const pair = (v: unknown) => (Array.isArray(v) ? v.join("x") : `${v}x${v}`);
  let t = n.type;
  if (n.type === "conv" || n.type === "convTranspose") {
    t += ` ${pair(s.size)}/${Array.isArray(s.stride) ? s.stride.join("x") : (s.stride ?? 1)}`;
    if (s.groups && s.groups !== 1) t += ` g${s.groups}`;
  } else if (n.type === "pool") {
    t = `${s.mode}pool ${pair(s.size)}/${Array.isArray(s.stride) ? s.stride.join("x") : (s.stride ?? s.size)}`;
  } else if (n.type === "globalPool") t = `global${s.mode}pool`;
  if (n.activation !== "none") t += ` +${n.activation}`;
  if (n.storage === "inPlace") t += " (in place)";
  if (n.storage === "alias") t += " (view)";
  return t;
}

/** The summary of a compiled graph. */
export function summarizeGraph(g: CompiledGraph): ModelSummary {
  const rows: SummaryRow[] = g.inputs.map((i) => ({ name: i.name, type: "input", shape: i.shape, activations: sizeOf(i.shape), params: 0, buffers: 0 }));
  for (const n of g.nodes) {
    let params = 0,
      buffers = 0;
    for (const p of n.params) p.trainable ? (params += sizeOf(p.shape)) : (buffers += sizeOf(p.shape));
    rows.push({ name: n.name, type: describe(n), shape: n.shape, activations: n.storage === "own" ? sizeOf(n.shape) : 0, params, buffers });
  }
  const totalParams = rows.reduce((a, r) => a + r.params, 0);
  const totalBuffers = rows.reduce((a, r) => a + r.buffers, 0);
  const totalActivations = rows.reduce((a, r) => a + r.activations, 0);
  const header = ["layer", "type", "output (HWC)", "activations", "params"];
  const cells = rows.map((r) => [r.name, r.type, r.shape.join("x"), fmtInt(r.activations), fmtInt(r.params)]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (row: string[]) =>
    row
      .map((v, c) => (c >= 3 ? v.padStart(widths[c]!) : v.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  const rule = "-".repeat(widths.reduce((a, w) => a + w + 2, -2));
  const s: ModelSummary = {
    rows,
    totalParams,
    totalBuffers,
    totalActivations,
    activationBytesForward: totalActivations * 4,
    activationBytesWithBackward: totalActivations * 8,
    paramBytes: (totalParams + totalBuffers) * 4,
    paramBytesWithGrads: (2 * totalParams + totalBuffers) * 4,
    table: "",
  };
  s.table = [
    line(header),
    rule,
    ...cells.map(line),
    rule,
    `parameters: ${fmtInt(totalParams)} trainable${totalBuffers ? ` + ${fmtInt(totalBuffers)} running statistics` : ""}` +
      ` = ${fmtMB(s.paramBytes)} float32 (${fmtMB(s.paramBytesWithGrads)} with gradients)`,
    `activations per image: ${fmtInt(totalActivations)} values = ${fmtMB(s.activationBytesForward)} forward, ` +
      `${fmtMB(s.activationBytesWithBackward)} with backward (their gradients; saved arg-max/masks and workspace not counted)`,
  ].join("\n");
  return s;
}

/** The summary of a spec without building a model (no memory is allocated). */
export function summary(spec: ModelSpec | AnyLayerSpec[], inputShape?: Shape): ModelSummary {
  return summarizeGraph(compileGraph(spec, inputShape));
}
