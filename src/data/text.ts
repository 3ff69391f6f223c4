// Text for character-level language models: reading a text file (gzip or plain), its character
// vocabulary, and the embedded corpus (data/tinyshakespeare.txt.gz, see data/README.md).
import { fail, fmtValue } from "../errors.js";
import { gunzip, isGzip, readBytes } from "./idx.js";

/** The characters of a text, sorted by code point: ids are indices into `chars`. */
export class CharVocabulary {
  /** The distinct characters, sorted by code point: id i is chars[i]. */
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(chars: Iterable<string>) {
    this.chars = [...new Set(chars)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    if (this.chars.length === 0) fail("CharVocabulary", "needs at least one character");
    this.index = new Map(this.chars.map((c, i) => [c, i]));
  }

  /** The vocabulary of every character (code point) in `text`. */
  static of(text: string): CharVocabulary {
    return new CharVocabulary(text);
  }

  /** Number of distinct characters. */
  get size(): number {
    return this.chars.length;
  }

  /** Ids of the characters of `text` (float32, as model inputs take them); unknown ones are an error. */
  encode(text: string): Float32Array {
    const ids = new Float32Array([...text].length);
    let i = 0;
    for (const c of text) {
      const id = this.index.get(c);
      if (id === undefined) fail("CharVocabulary.encode", `character ${fmtValue(c)} at ${i} is not in the vocabulary of ${this.size}`);
      ids[i++] = id;
    }
    return ids;
  }

  /** The text of a sequence of ids. */
  decode(ids: ArrayLike<number>): string {
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const c = this.chars[ids[i]!];
      if (c === undefined) fail("CharVocabulary.decode", `id ${ids[i]} at ${i} is outside the vocabulary of ${this.size}`);
      s += c;
    }
    return s;
  }
}

/** Reads a UTF-8 text file (or URL), gunzipping it when it is gzip-compressed. */
export async function loadText(source: string | URL): Promise<string> {
  const raw = await readBytes(source);
  const bytes = isGzip(raw) ? await gunzip(raw, String(source)) : raw;
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
}

/** The text shipped in the package's data/ folder: Tiny Shakespeare (1,115,394 characters). */
export async function loadEmbeddedText(): Promise<string> {
  const candidates = [new URL("../data/tinyshakespeare.txt.gz", import.meta.url), new URL("../../data/tinyshakespeare.txt.gz", import.meta.url)];
  const errors: string[] = [];
  for (const c of candidates) {
    try {
      return await loadText(c);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  fail("loadEmbeddedText", `the embedded text was not found next to the package: ${errors.join(" | ")}`);
}
