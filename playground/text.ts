// The playground worker's text tab: a character-level LSTM (charLstm) trained on the embedded Tiny
// Shakespeare (fetched from /data/) by truncated BPTT in slices of a few steps, so requests are
// answered between them, and samples drawn from it. worker.ts routes the text* requests here.
import type { Engine } from "../src/engine.js";
import { CharVocabulary, loadText } from "../src/data/text.js";
import { createModel, type Model } from "../src/model/model.js";
import { charLstm } from "../src/model/rnn-zoo.js";
import { fitLanguageModel, generatorModel, sampleIds } from "../src/train/language.js";
import { Adam, type Optimizer } from "../src/train/optimizers.js";

export type TextRequest =
  | { type: "textInit"; units?: number; steps?: number; batchSize?: number }
  | { type: "textTrain"; steps: number; lr: number; chunk?: number }
  | { type: "textStop" }
  | { type: "textSample"; length: number; temperature: number; prime: string; seed: number; id: number };

export type TextReply =
  | { type: "textReady"; characters: number; vocab: number; parameters: number; streams: number; steps: number }
  | { type: "textStep"; step: number; loss: number; charsPerSecond: number }
  | { type: "textDone"; stopped: boolean; steps: number }
  | { type: "textSample"; id: number; text: string };

const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

export class TextTab {
  private model: Model | undefined;
  private optimizer: Optimizer | undefined;
  private vocab: CharVocabulary | undefined;
  private ids: Float32Array | undefined;
  private batch = 16;
  /** The next chunk of the epoch (the state carries across slices within an epoch). */
  private next = 0;
  private trained = 0;
  private stopRequested = false;
  private training = false;

  constructor(
    private readonly engine: Engine,
    private readonly post: (m: TextReply) => void,
  ) {}

  async handle(req: TextRequest): Promise<void> {
    switch (req.type) {
      case "textInit":
        return this.init(req);
      case "textTrain":
        return this.train(req);
      case "textStop":
        this.stopRequested = true;
        return;
      case "textSample":
        return this.sample(req);
    }
  }

  private async init(req: Extract<TextRequest, { type: "textInit" }>): Promise<void> {
    if (!this.ids) {
      const text = await loadText(new URL("/data/tinyshakespeare.txt.gz", self.location.origin));
      this.vocab = CharVocabulary.of(text);
      this.ids = this.vocab.encode(text);
    }
    this.model?.dispose();
    this.optimizer?.dispose();
    this.batch = req.batchSize ?? 16;
    this.model = createModel(this.engine, charLstm({ vocab: this.vocab!.size, steps: req.steps ?? 32, units: req.units ?? 128, embedding: 16 }), {
      seed: 1,
      batch: this.batch,
    });
    this.optimizer = undefined;
    this.next = 0;
    this.trained = 0;
    this.post({
      type: "textReady",
      characters: this.ids.length,
      vocab: this.vocab!.size,
      parameters: this.model.summary().totalParams,
      streams: this.batch,
      steps: req.steps ?? 32,
    });
  }

  private async train(req: Extract<TextRequest, { type: "textTrain" }>): Promise<void> {
    if (this.training || !this.model) return;
    this.training = true;
    this.stopRequested = false;
    this.optimizer ??= new Adam({ lr: req.lr, clipNorm: 5 });
    this.optimizer.lr = req.lr;
    const chunk = req.chunk ?? 4;
    try {
      for (let done = 0; done < req.steps && !this.stopRequested; ) {
        const run = Math.min(chunk, req.steps - done);
        fitLanguageModel(this.model, this.ids!, {
          epochs: 1,
          batchSize: this.batch,
          optimizer: this.optimizer,
          firstStep: this.next,
          maxSteps: run,
          onStep: (s) => {
            this.trained++;
            this.post({ type: "textStep", step: this.trained, loss: s.loss, charsPerSecond: s.charsPerSecond });
            this.next = s.step;
          },
        });
        done += run;
        // a new pass over the text once the epoch's chunks are used up
        const T = this.model.graph.inputs[0]!.shape[0]!,
          chunks = Math.floor((Math.floor(this.ids!.length / this.batch) - 1) / T);
        if (this.next >= chunks) this.next = 0;
        await yieldToMessages();
      }
      this.post({ type: "textDone", stopped: this.stopRequested, steps: this.trained });
    } finally {
      this.training = false;
    }
  }

  private sample(req: Extract<TextRequest, { type: "textSample" }>): void {
    if (!this.model || !this.vocab) return;
    const generator = generatorModel(this.model);
    try {
      const known = [...req.prime].filter((c) => this.vocab!.chars.includes(c)).join("");
      const ids = sampleIds(generator, {
        length: req.length,
        temperature: req.temperature,
        seed: req.seed,
        prime: known ? this.vocab.encode(known) : undefined,
        start: Math.max(0, this.vocab.chars.indexOf("\n")),
      });
      this.post({ type: "textSample", id: req.id, text: known + this.vocab.decode(ids) });
    } finally {
      generator.dispose();
    }
  }
}
