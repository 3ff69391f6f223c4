// Registers every op of the graph runtime (one module per op family). Importing this module is
// what fills the registry; src/graph/session.ts does.
import "./grad.js";
import "./shape.js";
import "./nn.js";
import "./elementwise.js";
import "./activation.js";
import "./control.js";
import "./rnn.js";
import "./movement.js";
import "./resize.js";
import "./movement-grad.js";
import "./reduce.js";
import "./matmul.js";
import "./norm.js";
import "./quant.js";
import "./scan.js";
import "./gridsample.js";
import "./einsum.js";
import "./lppool.js";
import "./composite.js";
import "./detection.js";
import "./attention.js";
