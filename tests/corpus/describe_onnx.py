#!/usr/bin/env python3
"""Describes .onnx files for tests/corpus/models.json: size, SHA-256, IR version, opsets, producer,
graph inputs and outputs (declared dims and element types), initializer element types and the
operator histogram (nodes inside If/Loop/Scan bodies included). One JSON object per file, keyed by
path. Needs the `onnx` package (Debian: `apt-get install python3-onnx`; then /usr/bin/python3).

    /usr/bin/python3 tests/corpus/describe_onnx.py model.onnx [...]
"""
import collections
import hashlib
import json
import sys

import onnx
from onnx import TensorProto

TYPE_NAMES = {v: k.lower() for k, v in TensorProto.DataType.items()}


def value_info(v):
    t = v.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
    return {"name": v.name, "type": TYPE_NAMES.get(t.elem_type, str(t.elem_type)), "dims": dims}


def count_ops(graph, hist, subgraph_ops):
    for n in graph.node:
        hist[n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"] += 1
        for a in n.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                inner = collections.Counter()
                count_ops(g, inner, subgraph_ops)
                subgraph_ops.update(inner)
                hist.update(inner)


def attr(n, name, default=None):
    for a in n.attribute:
        if a.name == name:
            v = onnx.helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def features(m):
    """Import-time facts beyond op names: node order, Resize and Clip forms, what each If's condition depends on."""
    g = m.graph
    known = {i.name for i in g.initializer} | {i.name for i in g.input} | {""}
    sorted_ = True
    for n in g.node:
        if any(i not in known for i in n.input):
            sorted_ = False
        known.update(n.output)
    producer = {o: n for n in g.node for o in n.output}
    graph_inputs = {i.name for i in g.input} - {i.name for i in g.initializer}

    def roots(name, seen=None):
        """The graph inputs a value depends on (empty: computable from constants alone)."""
        seen = set() if seen is None else seen
        if name in seen or name == "":
            return set()
        seen.add(name)
        if name in graph_inputs:
            return {name}
        n = producer.get(name)
        if n is None:
            return set()
        if n.op_type == "Shape":
            return {r if r.startswith("shape of ") else f"shape of {r}" for r in roots(n.input[0], seen)}
        out = set()
        for i in n.input:
            out |= roots(i, seen)
        return out

    resize = collections.Counter()
    clip = collections.Counter()
    ifs = []
    for n in g.node:
        if n.op_type == "Resize":
            resize[f"{attr(n, 'mode', 'nearest')}/{attr(n, 'coordinate_transformation_mode', 'half_pixel')}"
                   + (f"/{attr(n, 'nearest_mode', 'round_prefer_floor')}" if attr(n, "mode", "nearest") == "nearest" else "")] += 1
        if n.op_type == "Clip":
            clip["attributes" if attr(n, "min") is not None or attr(n, "max") is not None else "inputs"] += 1
        if n.op_type == "If":
            r = roots(n.input[0])
            ifs.append("constant" if not r else "depends on " + ", ".join(sorted(r)))
    out = {"topologicallySorted": sorted_}
    if resize:
        out["resize"] = dict(resize)
    if clip:
        out["clip"] = dict(clip)
    if ifs:
        out["ifCondition"] = dict(collections.Counter(ifs))
    return out


def describe(path):
    data = open(path, "rb").read()
    m = onnx.load_from_string(data)
    hist, sub = collections.Counter(), collections.Counter()
    count_ops(m.graph, hist, sub)
    inits = {i.name for i in m.graph.initializer}
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "irVersion": m.ir_version,
        "opset": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "inputs": [value_info(i) for i in m.graph.input if i.name not in inits],
        "outputs": [value_info(o) for o in m.graph.output],
        "initializers": dict(collections.Counter(TYPE_NAMES.get(i.data_type, str(i.data_type)) for i in m.graph.initializer)),
        "nodes": sum(hist.values()),
        "ops": dict(hist.most_common()),
        "subgraphOps": dict(sub.most_common()),
        "features": features(m),
    }


if __name__ == "__main__":
    json.dump({p: describe(p) for p in sys.argv[1:]}, sys.stdout, indent=1)
    print()
