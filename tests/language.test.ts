// Character-level language models (src/train/language.ts, src/data/text.ts): vocabulary, the
// embedded text, truncated-BPTT training that learns a text, evaluation and seeded sampling.
import { describe, expect, it } from "vitest";
import {
  Adam,
  CharVocabulary,
  charLstm,
  createModel,
  evaluateLanguageModel,
  fitLanguageModel,
  generatorModel,
  loadEmbeddedText,
  sampleIds,
} from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor } from "./harness.js";

describe("text data", () => {
  it("CharVocabulary sorts the characters and round-trips a text; unknown characters are an error", () => {
    const v = CharVocabulary.of("hello, world\n");
    expect(v.chars.join("")).toBe("\n ,dehlorw");
    expect(v.decode(v.encode("world, hello"))).toBe("world, hello");
    expect(() => v.encode("help")).toThrow(/character "p" at 3 is not in the vocabulary of 10/);
    expect(() => v.decode([10])).toThrow(/outside the vocabulary/);
  });

  it("the embedded Tiny Shakespeare has 1,115,394 characters, 65 distinct", async () => {
    const text = await loadEmbeddedText();
    expect(text.length).toBe(1_115_394);
    expect(CharVocabulary.of(text).size).toBe(65);
    expect(text.startsWith("First Citizen:\nBefore we proceed any further, hear me speak.")).toBe(true);
  });
});

describe.each(BUILDS_UNDER_TEST)("char-lstm (%s build)", (build) => {
  it("learns a short periodic text by truncated BPTT, then samples it back (seeded)", async () => {
    const e = await engineFor(build);
    const text = "the cat sat on the mat. ".repeat(40);
    const vocab = CharVocabulary.of(text),
      ids = vocab.encode(text);
    const model = createModel(e, charLstm({ vocab: vocab.size, steps: 8, units: 24, embedding: 8 }), { seed: 1 });
    try {
      const before = evaluateLanguageModel(model, ids, { batchSize: 4 }).bitsPerChar;
      const history = fitLanguageModel(model, ids, { epochs: 12, batchSize: 4, optimizer: new Adam({ lr: 0.03, clipNorm: 5 }) });
      const after = evaluateLanguageModel(model, ids, { batchSize: 4 }).bitsPerChar;
      expect(history.length).toBe(12);
      expect(before).toBeGreaterThan(3);
      expect(after).toBeLessThan(0.5);
      const gen = generatorModel(model);
      const sample = vocab.decode(sampleIds(gen, { length: 48, temperature: 0.5, seed: 3, prime: vocab.encode("the ") }));
      const again = vocab.decode(sampleIds(gen, { length: 48, temperature: 0.5, seed: 3, prime: vocab.encode("the ") }));
      expect(again).toBe(sample);
      expect(text).toContain(sample.slice(0, 20));
      gen.dispose();
    } finally {
      model.dispose();
    }
  });

  it("rejects a text too short for its streams and a model that is not ids -> logits", async () => {
    const e = await engineFor(build);
    const model = createModel(e, charLstm({ vocab: 5, steps: 8, units: 4 }), { seed: 1 });
    const cnn = createModel(e, [{ type: "dense", units: 3 }], { inputShape: [4] });
    try {
      const opt = new Adam();
      expect(() => fitLanguageModel(model, new Float32Array(20), { epochs: 1, batchSize: 4, optimizer: opt })).toThrow(/too few for 4 streams/);
      expect(() => fitLanguageModel(cnn, new Float32Array(100), { epochs: 1, batchSize: 1, optimizer: opt })).toThrow(/ids \[T\] to logits \[T, vocab\]/);
      expect(() => sampleIds(model, { length: 3 })).toThrow(/one-step model/);
    } finally {
      model.dispose();
      cnn.dispose();
    }
  });
});
