// Ready-made fit callbacks: early stopping and checkpoints (safetensors bytes handed to a writer,
// so they work in every runtime: in Node write them to a file, in a browser store them).
import { checkInt, fail } from "../errors.js";
import { saveWeights } from "../model/weights.js";
import type { Tensor } from "../tensor.js";
import type { EpochInfo, FitCallback } from "./fit.js";

/** Options of earlyStopping. */
export interface EarlyStoppingOptions {
  /**
   * What to watch: "loss", "accuracy" or another metric's name, prefixed "val." for the validation
   * value. Default "val.loss" when fit has validation data, else "loss".
   */
  monitor?: string;
  /** "min" or "max"; default "max" for accuracy, else "min". */
  mode?: "min" | "max";
  /** Epochs without improvement before stopping (default 3). */
  patience?: number;
  /** The smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** On stopping (and at the end), put back the parameters and buffers of the best epoch (default true). */
  restoreBest?: boolean;
}

/** The watched value of an epoch, or undefined if the epoch does not have it. */
function monitored(info: EpochInfo, monitor: string): number | undefined {
  const val = monitor.startsWith("val.");
  const summary = val ? info.validation : info;
  if (!summary) return undefined;
  const name = val ? monitor.slice(4) : monitor;
  return name === "loss" ? summary.loss : summary.metrics[name];
}

const modeFor = (monitor: string, mode: "min" | "max" | undefined) => mode ?? (/accuracy$/.test(monitor) ? "max" : "min");

/**
 * Stops fit when the monitored value has not improved for `patience` epochs and (by default)
 * restores the model to its best epoch's weights. The last EpochInfo's `stopped` says why.
 */
export function earlyStopping(options: EarlyStoppingOptions = {}): FitCallback {
  const op = "earlyStopping";
  const patience = checkInt(op, "patience", options.patience ?? 3, 0);
  const minDelta = options.minDelta ?? 0;
  if (!Number.isFinite(minDelta) || minDelta < 0) fail(op, `minDelta must be a finite number >= 0, got ${minDelta}`);
  if (options.mode !== undefined && options.mode !== "min" && options.mode !== "max") fail(op, `mode must be "min" or "max", got ${options.mode}`);
  const restoreBest = options.restoreBest ?? true;
  let best = NaN,
    bestEpoch = 0,
    wait = 0;
  let snapshot: [Tensor, Float32Array][] | undefined;
  return {
    onEpoch(info, control) {
      const monitor = options.monitor ?? (info.validation ? "val.loss" : "loss");
      const value = monitored(info, monitor);
      if (value === undefined) fail(op, `epoch ${info.epoch} has no "${monitor}" to monitor`);
      const sign = modeFor(monitor, options.mode) === "min" ? 1 : -1;
      if (Number.isNaN(best) || sign * (best - value) > minDelta) {
        best = value;
        bestEpoch = info.epoch;
        wait = 0;
        if (restoreBest) snapshot = [...control.model.stateDict().values()].map((t) => [t, t.data.slice()]);
        return;
      }
      if (++wait > patience) control.stop(`early stopping: ${monitor} did not improve for ${wait} epochs (best ${best} at epoch ${bestEpoch})`);
    },
    onEnd() {
      if (restoreBest && snapshot) for (const [t, v] of snapshot) t.data.set(v);
    },
  };
}

/** Options of checkpoint. */
export interface CheckpointOptions {
  /** Receives each checkpoint: safetensors bytes (loadWeights reads them) and the epoch's info. */
  save: (bytes: Uint8Array, info: EpochInfo) => void | Promise<void>;
  /** Save every this many epochs (default 1). */
  every?: number;
  /** Save only when the monitored value improves (see EarlyStoppingOptions.monitor; default false). */
  bestOnly?: boolean;
  /** As in EarlyStoppingOptions (bestOnly). */
  monitor?: string;
  /** As in EarlyStoppingOptions (bestOnly). */
  mode?: "min" | "max";
  /** Extra safetensors metadata; epoch, loss and the monitored value are added. */
  metadata?: Record<string, string>;
}

/** Saves the model's weights (safetensors) after epochs, through `save`. With fit, `save` must not return a promise (fitAsync awaits one). */
export function checkpoint(options: CheckpointOptions): FitCallback {
  const op = "checkpoint";
  if (!options || typeof options.save !== "function") fail(op, "options.save(bytes, info) is required");
  const every = checkInt(op, "every", options.every ?? 1, 1);
  let best = NaN;
  return {
    onEpoch(info, control) {
      if (info.epoch % every !== 0) return;
      const metadata: Record<string, string> = { ...options.metadata, epoch: String(info.epoch), loss: String(info.loss) };
      if (options.bestOnly) {
        const monitor = options.monitor ?? (info.validation ? "val.loss" : "loss");
        const value = monitored(info, monitor);
        if (value === undefined) fail(op, `epoch ${info.epoch} has no "${monitor}" to monitor`);
        const sign = modeFor(monitor, options.mode) === "min" ? 1 : -1;
        if (!Number.isNaN(best) && !(sign * (best - value) > 0)) return;
        best = value;
        metadata[monitor] = String(value);
      }
      return options.save(saveWeights(control.model, metadata), info);
    },
  };
}
