// Models: layer specs as plain data, sequential and graph models compiled to one graph, a planned
// memory layout, forward/backward, summaries and a zoo of classic CNNs.
export * from "./spec.js";
export { mulberry32, normalGenerator, initStd } from "./init.js";
export {
  registerLayer,
  layerKind,
  layerTypes,
  type LayerKind,
  type LayerContext,
  type LayerBackwardContext,
  type LayerPlan,
  type PlanTarget,
  type ParamDef,
  type SavedDef,
} from "./layers.js";
export { compileGraph, type CompiledGraph, type CompiledNode, type CompiledParam, type Storage } from "./graph.js";
export { summary, summarizeGraph, type ModelSummary, type SummaryRow } from "./summary.js";
export {
  Model,
  createModel,
  type ModelOptions,
  type ForwardOptions,
  type BackwardOptions,
  type ParamEntry,
  type ParamSelector,
  type ParamValues,
  type ModelInput,
} from "./model.js";
export * from "./zoo.js";
export { saveWeights, loadWeights } from "./weights.js";
