// The kernel-parameter blocks: one field list per kernel family, written once. Kernels of a
// family take a pointer to a block of i32 fields instead of long runs of positional numbers; the
// host writes the block into one of the engine's parameter blocks (Engine.paramBlockFor) right
// before the call (each part of a threaded call its own). scripts/gen-params.mjs (run by
// scripts/build.mjs) generates from this list both sides of the boundary:
//   assembly/params.generated.ts     readers: @inline <family><Field>(p: usize): i32, constants
//   src/kernels/params.generated.ts  writers: write<Family>Params(i32, byteAddress, fields)
// Field i sits at byte offset 4 * i. Add a field at the end of its list (or anywhere: both sides
// are regenerated together), never edit the generated files.

export interface ParamStruct {
  /** What the block describes, for the generated files' comments. */
  readonly doc: string;
  /** [name, meaning] in block order. */
  readonly fields: readonly (readonly [string, string])[];
  /** Named i32 values the family's fields take (both sides get them as constants). */
  readonly constants?: Readonly<Record<string, number>>;
}

export const PARAM_STRUCTS = {
  conv: {
    doc:
      "A convolution's geometry (src/ops/conv2d_geometry.ts): x (n,h,w,c) through w (kh,kw,c/groups,oc) to " +
      "y (n,oh,ow,oc); iy = oy*sh - pt + ky*dh, ix = ox*sw - pl + kx*dw. Then a work part of a threaded call, " +
      "read only when `partition` holds PARTITION_MAGIC (else the call computes everything).",
    fields: [
      ["n", "images"],
      ["h", "input height"],
      ["w", "input width"],
      ["c", "input channels"],
      ["oh", "output height"],
      ["ow", "output width"],
      ["oc", "output channels"],
      ["kh", "kernel height"],
      ["kw", "kernel width"],
      ["sh", "stride, rows"],
      ["sw", "stride, columns"],
      ["pt", "top pad (any sign)"],
      ["pl", "left pad (any sign)"],
      ["dh", "dilation, rows"],
      ["dw", "dilation, columns"],
      ["groups", "channel groups"],
      ["partition", "PARTITION_MAGIC when the fields below hold this call's part"],
      ["rowBegin", "first row of the part: a row n*oh+oy of y (forward), n*h+iy of dx (backward_input), or the algorithm's own unit"],
      ["rowEnd", "one past the part's last row"],
      ["ocBegin", "first output channel of the part (backward_filter), or the algorithm's own unit"],
      ["ocEnd", "one past the part's last output channel"],
      ["ready", "nonzero when a shared workspace the part reads (repacked or transformed weights) is already written"],
    ],
    constants: { PARTITION_MAGIC: 0x54485244 },
  },
  pool: {
    doc:
      "A pooling window geometry (src/ops/pool.ts): x (n,h,w,c) to y (n,oh,ow,c); window (oy, ox) has taps at " +
      "row oy*sh - padTop + ky*dh, column ox*sw - padLeft + kx*dw; taps outside x are skipped. Forward kernels " +
      "compute the output rows b*oh + oy in [rowBegin, rowEnd).",
    fields: [
      ["n", "images"],
      ["h", "input height"],
      ["w", "input width"],
      ["c", "channels"],
      ["oh", "output height"],
      ["ow", "output width"],
      ["kh", "window height"],
      ["kw", "window width"],
      ["sh", "stride, rows"],
      ["sw", "stride, columns"],
      ["dh", "dilation, rows"],
      ["dw", "dilation, columns"],
      ["padTop", "top pad"],
      ["padLeft", "left pad"],
      ["padBottom", "bottom pad"],
      ["padRight", "right pad"],
      ["countIncludePad", "average pooling: 1 divides by the window cells inside the padded input, 0 by those inside x"],
      ["rowBegin", "first output row (b*oh + oy) the call computes"],
      ["rowEnd", "one past the last output row the call computes"],
    ],
  },
} as const satisfies Record<string, ParamStruct>;
