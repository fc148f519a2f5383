#!/usr/bin/env python3
"""ONNX Runtime peer for `scripts/bench-host-int8`: the same model as the
edgeae files, from the same weights, timed the way criterion times the
edgeae engine.

Reads MODEL.json (an `edgeae pack` description of a dense autoencoder:
weights row-major outputs x inputs per layer, so each layer is a Gemm with
transB=1) and builds
  * an f32 ONNX graph: Gemm + Relu per hidden layer, the last Gemm with the
    model's output activation (identity here);
  * an int8 graph from it with onnxruntime.quantization.quantize_static:
    per-channel int8 weights, per-tensor activations calibrated (MinMax) on
    the windows of CALIB.csv (WINDOW consecutive rows flattened time-major,
    hop as in the model, normalised with the model's mean and scale, like
    `edgeae export --calib`).

Each runs in ONNX Runtime on one thread (intra- and inter-op), batch 1,
sequential execution, all graph optimisations, on the fixed window
x[i] = sin(0.37 i) (the edgeae bench feeds the same). The input and output
are bound once (IOBinding), so a run is `run_with_iobinding` with no
allocation or conversion in Python; after a warm-up, SAMPLES samples each
time a batch of consecutive runs, and the median of the per-run means is
reported (criterion's method). The median of plain `InferenceSession.run`
calls, one timed call each, is reported too.

The graphs have a free batch dimension; each precision is also timed at
batch 64 (the first 64 calibration windows, repeated if there are fewer),
the peer of edgeae's `score_stream` bench (64 windows per iteration).

Prints one JSON line per precision and batch:
  {"runtime": "onnxruntime", "precision": "f32", "batch": 1, "ns_median": ..., ...}
(`ns_median` is per run: per window at batch 1, per 64 windows at batch 64).

usage: bench_host_int8_ort.py MODEL.json CALIB.csv [--out DIR] [--samples N]
       [--format qdq|qoperator] [--activations u8|s8]
"""
import argparse
import csv
import json
import logging
import math
import os
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

ACTIVATIONS = {"relu": "Relu", "identity": None, "sigmoid": "Sigmoid", "tanh": "Tanh"}


def load_description(path):
    with open(path) as f:
        desc = json.load(f)
    layers = []
    for entry in desc["layers"]:
        if "dense" not in entry:
            sys.exit(f"{path}: only dense layers are supported, found {list(entry)}")
        d = entry["dense"]
        act = d.get("activation", "identity")
        if act not in ACTIVATIONS:
            sys.exit(f"{path}: activation {act!r} is not supported here")
        w = np.asarray(d["weights"], dtype=np.float32).reshape(d["outputs"], d["inputs"])
        b = np.asarray(d["bias"], dtype=np.float32)
        layers.append((w, b, act))
    return desc, layers


def f32_graph(layers):
    nodes, inits = [], []
    prev = "x"
    for i, (w, b, act) in enumerate(layers):
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        inits.append(numpy_helper.from_array(b, f"b{i}"))
        last = i == len(layers) - 1
        gemm_out = "y" if last and ACTIVATIONS[act] is None else f"g{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [gemm_out], transB=1, name=f"dense{i}"))
        prev = gemm_out
        if ACTIVATIONS[act] is not None:
            act_out = "y" if last else f"a{i}"
            nodes.append(helper.make_node(ACTIVATIONS[act], [prev], [act_out], name=f"{act}{i}"))
            prev = act_out
    n_in, n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
    graph = helper.make_graph(
        nodes,
        "edgeae_dense_autoencoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference(layers, x):
    """The f32 model in numpy (float64), to check the ONNX graph."""
    h = x.astype(np.float64)
    for w, b, act in layers:
        h = h @ w.T.astype(np.float64) + b
        if act == "relu":
            h = np.maximum(h, 0.0)
        elif act == "sigmoid":
            h = 1.0 / (1.0 + np.exp(-h))
        elif act == "tanh":
            h = np.tanh(h)
    return h


def calibration_windows(path, desc):
    inp = desc["input"]
    channels, window = inp["channels"], inp["window"]
    hop = inp.get("hop", window)
    mean = np.asarray(inp["mean"], dtype=np.float32)
    scale = np.asarray(inp["scale"], dtype=np.float32)
    with open(path) as f:
        rows = [r for r in csv.reader(f) if r]
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        rows = rows[1:]  # header
    data = np.asarray(rows, dtype=np.float32)
    if data.shape[1] != channels:
        sys.exit(f"{path}: {data.shape[1]} columns, the model has {channels} channels")
    data = (data - mean) * scale  # SPEC.md: (x - mean[c]) * scale[c]
    starts = range(0, len(data) - window + 1, hop)
    # Time-major: frame 0's channels, then frame 1's, ...
    return np.stack([data[s : s + window].reshape(-1) for s in starts]).astype(np.float32)


class Windows(CalibrationDataReader):
    def __init__(self, windows):
        self.it = iter([{"x": w[None, :]} for w in windows])

    def get_next(self):
        return next(self.it, None)


def session(path, optimized_path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.optimized_model_filepath = optimized_path
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_session(sess, x, samples, target_sample_s=0.01):
    """Median ns per run: IOBinding batches (criterion-style) and single `run` calls."""
    binding = sess.io_binding()
    x_value = ort.OrtValue.ortvalue_from_numpy(x)
    out_shape = [x.shape[0], sess.get_outputs()[0].shape[1]]
    y_value = ort.OrtValue.ortvalue_from_shape_and_type(out_shape, np.float32)
    binding.bind_ortvalue_input("x", x_value)
    binding.bind_ortvalue_output("y", y_value)
    run = sess.run_with_iobinding
    # Warm-up: at least 0.5 s, and find a batch that takes ~target_sample_s.
    t_end = time.perf_counter() + 0.5
    n = 0
    t0 = time.perf_counter_ns()
    while time.perf_counter() < t_end:
        run(binding)
        n += 1
    per_run = (time.perf_counter_ns() - t0) / n
    batch = max(1, int(target_sample_s * 1e9 / per_run))
    means = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            run(binding)
        means.append((time.perf_counter_ns() - t0) / batch)
    singles = []
    feeds = {"x": x}
    for _ in range(samples * 10):
        t0 = time.perf_counter_ns()
        sess.run(None, feeds)
        singles.append(time.perf_counter_ns() - t0)
    return {
        "ns_median": statistics.median(means),
        "ns_min_sample": min(means),
        "ns_max_sample": max(means),
        "runs_per_sample": batch,
        "samples": samples,
        "ns_median_run_call": statistics.median(singles),
    }


def op_types(path):
    m = onnx.load(path)
    counts = {}
    for node in m.graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("calib")
    p.add_argument("--out", default="target/bench-mlperf/onnx")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--format", choices=["qdq", "qoperator"], default="qdq")
    p.add_argument("--activations", choices=["u8", "s8"], default="u8")
    args = p.parse_args()
    # quantize_static's advice to pre-process (shape inference; the graph
    # has static shapes), and ORT's note that the optimised graph it saves
    # for the op listing is specific to this CPU.
    logging.getLogger().setLevel(logging.ERROR)
    ort.set_default_logger_severity(3)
    os.makedirs(args.out, exist_ok=True)

    desc, layers = load_description(args.model)
    n_in = layers[0][0].shape[1]
    x = np.asarray([math.sin(i * 0.37) for i in range(n_in)], dtype=np.float32)[None, :]
    windows = calibration_windows(args.calib, desc)

    f32_path = os.path.join(args.out, "mlperf_f32.onnx")
    int8_path = os.path.join(args.out, "mlperf_int8.onnx")
    onnx.save(f32_graph(layers), f32_path)
    quantize_static(
        f32_path,
        int8_path,
        Windows(windows),
        quant_format=QuantFormat.QDQ if args.format == "qdq" else QuantFormat.QOperator,
        per_channel=True,
        activation_type=QuantType.QUInt8 if args.activations == "u8" else QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )

    sessions = {}
    for precision, path in (("f32", f32_path), ("int8", int8_path)):
        opt = os.path.join(args.out, f"mlperf_{precision}.optimized.onnx")
        sessions[precision] = (session(path, opt), path, opt)

    # Check the graphs compute the model: f32 against numpy, int8 against f32.
    f32_sess = sessions["f32"][0]
    int8_sess = sessions["int8"][0]
    ref = reference(layers, windows)
    f32_out = np.concatenate([f32_sess.run(None, {"x": w[None, :]})[0] for w in windows])
    int8_out = np.concatenate([int8_sess.run(None, {"x": w[None, :]})[0] for w in windows])
    f32_err = float(np.max(np.abs(f32_out - ref)))
    if f32_err > 1e-3:
        sys.exit(f"the f32 ONNX graph is not the model: max |onnx - numpy| {f32_err}")
    int8_diff = float(np.mean(np.abs(int8_out - f32_out)))

    x64 = np.resize(windows, (64, n_in)).astype(np.float32)
    for (precision, (sess, path, opt)), batch in [(s, b) for b in (1, 64) for s in sessions.items()]:
        result = {
            "runtime": "onnxruntime",
            "version": ort.__version__,
            "precision": precision,
            "batch": batch,
            "threads": 1,
            "cpu_flags": [f for f in ("avx512_vnni", "avx512f", "avx2", "fma") if has_cpu_flag(f)],
        }
        result.update(time_session(sess, x if batch == 1 else x64, args.samples))
        result["model"] = path
        result["ops_after_optimization"] = op_types(opt)
        if precision == "f32":
            result["max_abs_vs_numpy"] = f32_err
        else:
            result["quantization"] = (
                f"{args.format}, per-channel s8 weights, per-tensor {args.activations} activations, "
                f"MinMax on {len(windows)} windows"
            )
            result["mean_abs_vs_f32"] = int8_diff
        print(json.dumps(result), flush=True)


def has_cpu_flag(flag):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return flag in line.split()
    except OSError:
        pass
    return False


if __name__ == "__main__":
    main()
