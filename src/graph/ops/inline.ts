// Building the subgraph an op is inlined as while planning (Einsum, LpPool): nodes of registered
// ops with their attributes parsed as a file's would be, and int64 / float constants.
import { Attributes } from "../../onnx/attributes.js";
import { AttributeType, type AttributeProto, DataType, type NodeProto } from "../../onnx/onnx-proto.js";
import type { GraphNode } from "../import.js";
import { opDef } from "../registry.js";
import { type HostTensor, hostTensor } from "../types.js";

export interface SubgraphBuilder {
  readonly nodes: GraphNode[];
  readonly initializers: Map<string, HostTensor>;
  /** Adds a node of `opType` (parsed for `opset`); returns its output's name. */
  node(opType: string, inputs: string[], attrs: AttributeProto[]): string;
  /** Adds a constant; returns its name. */
  constant(dataType: number, dims: number[], values: number[]): string;
  /** A 1-D int64 constant. */
  ints(values: number[]): string;
  /** `values` (names of tensors of one shape) stacked on a new axis `axis` (Unsqueeze, then Concat). */
  stack(values: readonly string[], axis: number): string;
}

export const intAttr = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
export const intsAttr = (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints });

/** A builder whose value names start with `where` (unique per node) and are never a file's. */
export function subgraphBuilder(where: string, opset: number, label: string): SubgraphBuilder {
  const nodes: GraphNode[] = [];
  const initializers = new Map<string, HostTensor>();
  let serial = 0;
  const fresh = (what: string) => `${where}: ${label} ${what} ${serial++}`;
  const b: SubgraphBuilder = {
    nodes,
    initializers,
    node(opType, inputs, attrs) {
      const out = fresh(opType);
      const proto: NodeProto = { name: out, opType, domain: "", input: inputs, output: [out], attribute: attrs };
      const def = opDef(opType)!;
      const parsed = def.parse(new Attributes(proto, where), opset);
      nodes.push({ index: -1, name: out, opType, def, attrs: parsed, inputs, outputs: [out], implicitInputs: [], where: `${where} (its ${opType})` });
      return out;
    },
    constant(dataType, dims, values) {
      const name = fresh("constant");
      initializers.set(name, hostTensor(dataType, dims, values));
      return name;
    },
    ints: (values) => b.constant(DataType.INT64, [values.length], values),
    stack(values, axis) {
      // Unsqueeze takes its axes as an input from opset 13, as an attribute before
      const rows = values.map((v) => (opset >= 13 ? b.node("Unsqueeze", [v, b.ints([axis])], []) : b.node("Unsqueeze", [v], [intsAttr("axes", [axis])])));
      return rows.length === 1 ? rows[0]! : b.node("Concat", rows, [intAttr("axis", axis)]);
    },
  };
  return b;
}
