// Seeing inside the network: filters, activation maps, saliency, guided backpropagation,
// class-model images, CNN codes with their nearest neighbours, and t-SNE embeddings; drawn as
// RGB images that encodePng turns into PNG files. Runs in every runtime (no file system here).
export * from "./image.js";
export { truncatedModel } from "./common.js";
export { filterGrid, activationGrid, firstConvLayer } from "./layers.js";
export {
  saliency,
  guidedBackprop,
  classModel,
  type SaliencyResult,
  type GuidedOptions,
  type GuidedResult,
  type ClassModelOptions,
  type ClassModelResult,
} from "./gradients.js";
export { computeCodes, nearestNeighbours, neighbourGrid, type Codes } from "./codes.js";
export { tsne, tsneAffinities, tsneKl, type TsneOptions } from "./tsne.js";
