// Typed access to a node's attributes, with errors naming the node, the op and the attribute.
import { fail } from "../errors.js";
import { AttributeType, type AttributeProto, type NodeProto, type TensorProto } from "./onnx-proto.js";

export class Attributes {
  private readonly byName = new Map<string, AttributeProto>();
  private readonly read = new Set<string>();

  constructor(
    readonly node: NodeProto,
    readonly where: string,
    /** The node's graph attributes as imported by the caller (the graph runtime's subgraphs), by name. */
    private readonly graphs?: ReadonlyMap<string, unknown>,
  ) {
    for (const a of node.attribute) this.byName.set(a.name, a);
  }

  /** A graph attribute as the importer made it (If's then_branch...); undefined if absent. */
  graph<T>(name: string): T | undefined {
    this.get(name, AttributeType.GRAPH);
    return this.graphs?.get(name) as T | undefined;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private get(name: string, type: number): AttributeProto | undefined {
    const a = this.byName.get(name);
    this.read.add(name);
    if (a && a.type !== type) fail(this.where, `attribute ${name} has the wrong type (${a.type}, expected ${type})`);
    return a;
  }

  int(name: string, fallback: number): number {
    return this.get(name, AttributeType.INT)?.i ?? fallback;
  }

  float(name: string, fallback: number): number {
    return this.get(name, AttributeType.FLOAT)?.f ?? fallback;
  }

  string(name: string, fallback: string): string {
    return this.get(name, AttributeType.STRING)?.s ?? fallback;
  }

  ints(name: string): number[] | undefined {
    return this.get(name, AttributeType.INTS)?.ints ?? (this.byName.get(name) ? [] : undefined);
  }

  floats(name: string): number[] | undefined {
    return this.get(name, AttributeType.FLOATS)?.floats ?? (this.byName.get(name) ? [] : undefined);
  }

  tensor(name: string): TensorProto | undefined {
    return this.get(name, AttributeType.TENSOR)?.t;
  }

  /** Fails if the node carries an attribute `names` does not list (e.g. a mode we cannot honour). */
  only(names: readonly string[]): void {
    for (const a of this.byName.keys()) {
      if (!names.includes(a)) fail(this.where, `attribute ${a} is not supported`);
    }
  }
}
