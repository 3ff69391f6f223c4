# ONNX's own backend cases of one op, from the generators in Debian's python3-onnx
# (onnx.backend.test.case.node), written in the backend-test layout
# <out>/<case>/model.onnx, test_data_set_0/{input,output}_K.pb:
#   /usr/bin/python3 scripts/onnx_backend_cases.py tests/onnx-backend NonMaxSuppression
# (numpy aliases removed since the generators were written are restored first)
import os, sys
import numpy as np
np.float = float; np.int = int; np.bool = bool; np.object = object
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases
out, op = sys.argv[1], sys.argv[2]
for c in collect_testcases(op):
    d = os.path.join(out, c.name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    open(os.path.join(d, "model.onnx"), "wb").write(c.model.SerializeToString())
    for (inputs, outputs) in c.data_sets:
        for k, (v, info) in enumerate(zip(inputs, c.model.graph.input)):
            open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb").write(numpy_helper.from_array(v, info.name).SerializeToString())
        for k, (v, info) in enumerate(zip(outputs, c.model.graph.output)):
            open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb").write(numpy_helper.from_array(v, info.name).SerializeToString())
        break
    print(c.name)
