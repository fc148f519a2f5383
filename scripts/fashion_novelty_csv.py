"""Writes the one-class novelty task of `scripts/bench-fashion-novelty` as
CSV files from Debian's Fashion-MNIST IDX files (standard library only):
DIR/train.csv holds the training images of one class (784 pixel columns
scaled to [0, 1]); DIR/test.csv holds all 10,000 test images with a
`label` column, 1 for every image of another class (the anomalies)."""

import argparse
import gzip
import os
import struct

ROOT = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with open(os.path.join(ROOT, name), "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim :]


def images(name):
    (count, rows, cols), data = idx(name)
    n = rows * cols
    return [data[i * n : (i + 1) * n] for i in range(count)]


def write(path, rows, labels=None):
    header = [f"px{i}" for i in range(784)] + (["label"] if labels is not None else [])
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for k, img in enumerate(rows):
            cells = ["%.6g" % (b / 255.0) for b in img]
            if labels is not None:
                cells.append(str(labels[k]))
            f.write(",".join(cells) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--class", dest="cls", type=int, required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    train = images("train-images-idx3-ubyte.gz")
    (_,), train_labels = idx("train-labels-idx1-ubyte.gz")
    test = images("t10k-images-idx3-ubyte.gz")
    (_,), test_labels = idx("t10k-labels-idx1-ubyte.gz")
    write(os.path.join(a.out, "train.csv"), [img for img, y in zip(train, train_labels) if y == a.cls])
    write(os.path.join(a.out, "test.csv"), test, [int(y != a.cls) for y in test_labels])


if __name__ == "__main__":
    main()
