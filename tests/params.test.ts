// The kernel-parameter blocks are written once (src/kernels/params.ts): the AssemblyScript readers
// and the host writers are generated from that field list, and the checked-in generated files must
// be what the list gives (scripts/build.mjs regenerates them; this catches an edit by hand).
import { describe, expect, it } from "vitest";
import { assemblySource, generateParams, hostSource, loadStructs } from "../scripts/gen-params.mjs";
import { CONV_PARAM_FIELDS, POOL_PARAM_FIELDS, writeConvParams, writePoolParams } from "../src/kernels/params.generated.js";
import { PARAM_STRUCTS } from "../src/kernels/params.js";

describe("kernel-parameter blocks", () => {
  it("the generated readers and writers are up to date with src/kernels/params.ts", async () => {
    expect(await generateParams({ check: true })).toEqual([]);
  });

  it("every field has one reader at byte offset 4 * index and one writer slot at index", async () => {
    const structs = await loadStructs();
    const as = assemblySource(structs),
      host = hostSource(structs);
    for (const [family, st] of Object.entries(PARAM_STRUCTS)) {
      st.fields.forEach(([name], i) => {
        const reader = `${family}${name[0]!.toUpperCase()}${name.slice(1)}`;
        expect(as).toContain(`@inline export function ${reader}(p: usize): i32 {\n  return load<i32>(p, ${4 * i});`);
        expect(host).toContain(`  i32[b + ${i}] = p.${name};`);
      });
    }
    expect([...CONV_PARAM_FIELDS]).toEqual(PARAM_STRUCTS.conv.fields.map(([n]) => n));
    expect([...POOL_PARAM_FIELDS]).toEqual(PARAM_STRUCTS.pool.fields.map(([n]) => n));
  });

  it("a writer puts field i at i32 index i of the block", () => {
    const i32 = new Int32Array(64);
    const conv = Object.fromEntries(CONV_PARAM_FIELDS.map((n, i) => [n, 100 + i])) as unknown as Parameters<typeof writeConvParams>[2];
    writeConvParams(i32, 16, conv);
    CONV_PARAM_FIELDS.forEach((_, i) => expect(i32[4 + i]).toBe(100 + i));
    const pool = Object.fromEntries(POOL_PARAM_FIELDS.map((n, i) => [n, 200 + i])) as unknown as Parameters<typeof writePoolParams>[2];
    writePoolParams(i32, 128, pool);
    POOL_PARAM_FIELDS.forEach((_, i) => expect(i32[32 + i]).toBe(200 + i));
  });
});
