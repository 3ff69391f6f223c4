// GridSample (2-D: X [N, C, H, W], grid [N, Ho, Wo, 2]) on assembly/gridsample.ts's kernels:
// bilinear ("linear" from opset 20) and nearest modes, zeros / border / reflection padding,
// align_corners; X and Y channels-last, the grid in ONNX order. Its gradient (GridSampleGrad)
// gives dX and, for bilinear, dGrid. Bicubic and N-d grids are refused, naming the node.
import { fail } from "../../errors.js";
import { registerOp } from "../registry.js";
import { identityPerm } from "../types.js";
import { typedInput } from "./elementwise.js";
import { zeroOutput } from "./grad.js";
import { channelsLast } from "./util.js";

interface GridSampleAttrs {
  /** 0 bilinear, 1 nearest (the kernels' codes) */
  mode: number;
  /** 0 zeros, 1 border, 2 reflection */
  padding: number;
  align: boolean;
}

const MODES: Record<string, number> = { bilinear: 0, linear: 0, nearest: 1 };
const PADDINGS: Record<string, number> = { zeros: 0, border: 1, reflection: 2 };

/** [N, H, W, C, Ho, Wo] of the node's X and grid. */
function dimsOf(x: readonly number[], grid: readonly number[]): [number, number, number, number, number, number] {
  return [x[0]!, x[2]!, x[3]!, x[1]!, grid[1]!, grid[2]!];
}

registerOp<GridSampleAttrs>({
  type: "GridSample",
  parse(at) {
    const m = at.string("mode", "bilinear");
    const mode = MODES[m] ?? fail(at.where, `mode "${m}" is not supported (bilinear / linear and nearest are; cubic is not)`);
    const p = at.string("padding_mode", "zeros");
    const padding = PADDINGS[p] ?? fail(at.where, `padding_mode must be zeros, border or reflection, got "${p}"`);
    return { mode, padding, align: at.int("align_corners", 0) !== 0 };
  },
  infer(c) {
    const x = typedInput(c, 0, "X", "float"),
      grid = typedInput(c, 1, "grid", "float");
    if (x.shape.length !== 4) c.fail(`only 2-D sampling is supported: X must be [N, C, H, W], got [${x.shape.join(",")}]`);
    if (grid.shape.length !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== x.shape[0])
      c.fail(`grid must be [N, Ho, Wo, 2] with X's N = ${x.shape[0]}, got [${grid.shape.join(",")}]`);
    return [{ dataType: x.dataType, shape: [x.shape[0]!, x.shape[1]!, grid.shape[1]!, grid.shape[2]!] }];
  },
  layout: () => ({ inputs: [channelsLast(4), identityPerm(4)], outputs: [channelsLast(4)] }),
  gradient(g) {
    if (!g.wants(0) && !g.wants(1)) return;
    const [dx, dgrid] = g.op("GridSampleGrad", [g.dy(0)!, g.x(0)!, g.x(1)!], g.attrs, 2);
    if (g.wants(0)) g.add(0, dx!);
    if (g.wants(1)) g.add(1, dgrid!);
  },
  algorithms: [
    {
      name: "gridSample.kernel",
      setup(n) {
        const [N, H, W, C, Ho, Wo] = dimsOf(n.inputs[0]!.shape, n.inputs[1]!.shape);
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          gp = n.input(1),
          { mode, padding } = n.attrs,
          align = n.attrs.align ? 1 : 0;
        return () => k.gridsample_f32_forward(yp, xp, gp, N, H, W, C, Ho, Wo, mode, padding, align);
      },
    },
  ],
});

// inputs dy (channels-last), X (channels-last), grid; outputs dX (channels-last) and dGrid
registerOp<GridSampleAttrs>({
  type: "GridSampleGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(1, "X"), c.need(2, "grid")],
  layout: () => ({ inputs: [channelsLast(4), channelsLast(4), identityPerm(4)], outputs: [channelsLast(4), identityPerm(4)] }),
  algorithms: [
    {
      name: "gridSampleGrad.kernel",
      setup(n) {
        const [N, H, W, C, Ho, Wo] = dimsOf(n.inputs[1]!.shape, n.inputs[2]!.shape);
        const k = n.kernels,
          dx = n.output(0),
          dgrid = n.output(1),
          dy = n.input(0),
          xp = n.input(1),
          gp = n.input(2),
          { mode, padding } = n.attrs,
          align = n.attrs.align ? 1 : 0,
          zeroX = zeroOutput(n, 0),
          zeroGrid = zeroOutput(n, 1);
        return () => {
          zeroX();
          zeroGrid();
          k.gridsample_f32_backward(dx, dgrid, dy, xp, gp, N, H, W, C, Ho, Wo, mode, padding, align);
        };
      },
    },
  ],
});
