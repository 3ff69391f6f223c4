// Sequence models as plain-data specs: an image classifier that reads rows as time steps, and a
// character-level language model.
import type { SequentialSpec } from "./spec.js";
import type { ZooOptions } from "./zoo.js";

/**
 * An image read row by row by an LSTM (Fashion-MNIST: 28 steps of 28 pixels), its last state
 * classified by a dense layer. ZooOptions.inputSize sets rows = columns; `units` the hidden size
 * (default 128).
 */
export function lstmRows(options: ZooOptions & { units?: number } = {}): SequentialSpec {
  const s = options.inputSize ?? 28,
    channels = options.channels ?? 1;
  return {
    inputShape: [s, s * channels],
    layers: [
      { type: "lstm", units: options.units ?? 128 },
      { type: "dense", units: options.classes ?? 10 },
    ],
  };
}

/** Sizes of charLstm. */
export interface CharLstmOptions {
  /** Distinct characters (the vocabulary). */
  vocab: number;
  /** Steps per training chunk (truncated backpropagation through time). Default 64. */
  steps?: number;
  /** Embedding width (default 32). */
  embedding?: number;
  /** LSTM hidden size (default 256). */
  units?: number;
  /** Stacked LSTM layers (default 1). */
  layers?: number;
}

/**
 * A character-level language model (char-rnn): embedding -> stateful LSTM layer(s) over chunks of
 * `steps` characters -> per-step logits over the vocabulary. The LSTM state carries from one chunk
 * to the next (Model.resetStates() starts a new text); gradients stop at a chunk's start.
 */
export function charLstm(options: CharLstmOptions): SequentialSpec {
  const layers = options.layers ?? 1;
  return {
    inputShape: [options.steps ?? 64],
    layers: [
      { type: "embedding", vocab: options.vocab, dim: options.embedding ?? 32 },
      ...Array.from({ length: layers }, () => ({ type: "lstm", units: options.units ?? 256, returnSequences: true, stateful: true })),
      { type: "timeDense", units: options.vocab },
    ],
  };
}
