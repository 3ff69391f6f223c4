// as-pect: AssemblyScript unit tests of the kernels in assembly/, compiled by as-pect itself (not by
// scripts/build.mjs). The compiler flags live in the asconfig passed with --as-config:
//   assembly/__tests__/asconfig.simd.json    SIMD enabled   (ASC_FEATURE_SIMD = true)
//   assembly/__tests__/asconfig.scalar.json  SIMD disabled  (the scalar build's code paths)
// scripts/test.mjs runs both: `asp --no-logo --config as-pect.config.js --as-config <one of them>`.
export default {
  entries: ["assembly/__tests__/**/*.spec.ts"],
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
