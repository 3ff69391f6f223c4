// Model weights as safetensors files: every parameter and buffer (e.g. batch-norm running
// statistics) by its name (`conv1.weight`), float32, with string metadata.
import { fail } from "../errors.js";
import { decodeSafetensors, encodeSafetensors, loadInto } from "../io/safetensors.js";
import type { Model } from "./model.js";

/** The model's parameters and buffers as safetensors bytes. */
export function saveWeights(model: Model, metadata: Record<string, string> = {}): Uint8Array {
  return encodeSafetensors(Object.fromEntries(model.stateDict()), { format: "simdnet", ...metadata });
}

/**
 * Loads safetensors bytes into the model. Everything is checked before anything is copied (every
 * name present, no unknown name, equal shapes, finite values), so on any error, including a
 * truncated or corrupt file, the model is left unchanged. Returns the file's metadata.
 */
export function loadWeights(model: Model, bytes: Uint8Array): Record<string, string> {
  const decoded = decodeSafetensors(bytes);
  for (const [name, t] of Object.entries(decoded.tensors)) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail("loadWeights", `nothing was loaded: "${name}" holds a non-finite value (${t.data[bad]}) at element ${bad}`);
  }
  loadInto(Object.fromEntries(model.stateDict()), decoded);
  return decoded.metadata;
}
