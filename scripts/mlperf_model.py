#!/usr/bin/env python3
"""Writes the MLPerf Tiny anomaly-detection autoencoder shape as an edgeae
model description (for `edgeae pack`) and normal data to calibrate and
stream it: 5 frames x 128 log-mel bins = 640 inputs, dense
640-128-128-128-128-8-128-128-128-128-640, ReLU hidden layers, linear output
(the batch norms of the reference model folded away). Weights are
Glorot-uniform, biases small, from a fixed seed: the benchmark measures cost
and size, which do not depend on training.

usage: mlperf_model.py OUT_DIR [ROWS]
"""
import json
import math
import os
import random
import sys

out = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 400
os.makedirs(out, exist_ok=True)
rng = random.Random(2026)
widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
layers = []
for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
    limit = math.sqrt(6.0 / (n_in + n_out))
    last = i == len(widths) - 2
    layers.append({
        "dense": {
            "inputs": n_in,
            "outputs": n_out,
            "activation": "identity" if last else "relu",
            "weights": [round(rng.uniform(-limit, limit), 6) for _ in range(n_in * n_out)],
            "bias": [round(rng.uniform(-0.05, 0.05), 6) for _ in range(n_out)],
        }
    })
model = {
    "kind": "stacked",
    "input": {"channels": 128, "window": 5, "hop": 5,
              "mean": [0.0] * 128, "scale": [1.0] * 128},
    "layers": layers,
    "codings_layer": 4,
}
with open(os.path.join(out, "mlperf.json"), "w") as f:
    json.dump(model, f)
# Log-mel-like rows: a smooth spectrum per frame plus noise.
with open(os.path.join(out, "normal.csv"), "w") as f:
    f.write(",".join(f"mel{k}" for k in range(128)) + "\n")
    for r in range(rows):
        level = rng.gauss(0.0, 0.3)
        f.write(",".join(
            f"{math.sin(k / 9.0 + r / 40.0) * 0.8 + level + rng.gauss(0.0, 0.4):.4f}"
            for k in range(128)) + "\n")
