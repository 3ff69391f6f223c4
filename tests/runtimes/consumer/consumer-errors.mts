// Misuse a strict TypeScript user must be told about at compile time. Each marked line below is an
// error only if the package's declarations are really loaded (with `any` types, or none, each
// expect-error directive here is itself an error: "Unused '@ts-expect-error' directive").
import * as nn from "simdnet";

export async function misuse(): Promise<void> {
  const e = await nn.init();
  // @ts-expect-error a shape is an array of numbers
  e.zeros("2x2");
  // @ts-expect-error conv2d takes tensors, not arrays
  nn.conv2d([1, 2, 3], e.zeros([3, 3, 1, 1]));
  // @ts-expect-error no such build
  await nn.init({ build: "gpu" });
  // @ts-expect-error fit needs its options
  nn.fit(nn.createModel(e, nn.lenet5()), { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0, height: 28, width: 28 });
  // @ts-expect-error internals are not part of the package
  nn.groupSlicesPolicy;
}
