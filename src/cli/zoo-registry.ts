// Model names the command line accepts, mapped to zoo constructors.
import { fail } from "../errors.js";
import type { ModelSpec } from "../model/spec.js";
import { alexnet, googlenet, lenet5, resnet18, resnet50, segnet, vgg16, type ZooOptions } from "../model/zoo.js";
import { lstmRows } from "../model/rnn-zoo.js";

export const ZOO: Record<string, (options: ZooOptions) => ModelSpec> = {
  lenet5,
  alexnet,
  vgg16,
  googlenet,
  resnet18,
  resnet50,
  segnet,
  lstmrows: lstmRows,
};

export function zooSpec(name: string, options: ZooOptions = {}): ModelSpec {
  const make = ZOO[name.toLowerCase().replace(/[-_]/g, "")];
  if (!make) fail("simdnet", `unknown model '${name}' (known: ${Object.keys(ZOO).join(", ")})`);
  return make(options);
}
