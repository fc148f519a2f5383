#!/usr/bin/env python3
"""Write real, labelled sensor recordings for judging anomaly-detection quality.

Usage:  python3 scripts/quality_data.py [OUT_DIR]      (default: target/quality-data
        under the repository root)

Every recording comes from data that a PyPI package ships inside its wheel
(aeon, sktime); nothing is downloaded and nothing is synthetic. Install the
pinned packages first:

    pip install -r scripts/quality-requirements.txt

For each data set NAME this writes
    OUT_DIR/NAME/train.csv   normal rows only, one column per channel
    OUT_DIR/NAME/test.csv    the same channels plus `label` (0 normal, 1 anomalous);
                             its normal rows are never rows of train.csv
    OUT_DIR/NAME/info.json   source, construction, channels, row counts, anomaly fraction

Data sets:
    kdd135_internal_bleeding  KDD-TSAD / UCR anomaly archive series 135 (aeon), 1 channel
    mitdb_ecg                 MIT-BIH ECG excerpt with one labelled abnormal stretch (sktime), 1 channel
    basicmotions_walking      smartwatch accelerometer+gyroscope (aeon BasicMotions), 6 channels;
                              normal = walking, anomalous = running / badminton / standing
    basicmotions_standing     the same recordings; normal = standing, anomalous = the other three
    gunpoint_gun              hand X position (aeon GunPoint), 1 channel; normal = gun-draw,
                              anomalous = point

The output is deterministic: no random numbers are used anywhere.
"""

import importlib.metadata
import importlib.util
import json
import os
import sys
import warnings

REQUIRED = ["numpy", "aeon", "sktime"]


def _check_packages():
    missing = [p for p in REQUIRED if importlib.util.find_spec(p) is None]
    if missing:
        sys.stderr.write(
            "quality_data.py: missing Python package(s): %s; install them with "
            "`pip install -r scripts/quality-requirements.txt`\n" % ", ".join(missing)
        )
        sys.exit(2)


_check_packages()

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

from aeon.datasets import (  # noqa: E402
    load_basic_motions,
    load_gunpoint,
    load_kdd_tsad_135,
)

VALUE_FMT = "%.7g"
MAX_ROWS = 30000


def _version(pkg):
    return importlib.metadata.version(pkg)


def _package_file(pkg, *parts):
    """Path of a data file inside an installed package, without importing it."""
    spec = importlib.util.find_spec(pkg)
    base = list(spec.submodule_search_locations)[0]
    path = os.path.join(base, *parts)
    if not os.path.isfile(path):
        sys.stderr.write(
            "quality_data.py: %s %s does not ship %s; install the pinned versions "
            "from scripts/quality-requirements.txt\n"
            % (pkg, _version(pkg), "/".join(parts))
        )
        sys.exit(2)
    return path


def _write_csv(path, values, columns, labels=None):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if not np.all(np.isfinite(values)):
        raise SystemExit("quality_data.py: non-finite value in %s" % path)
    header = ",".join(columns)
    fmt = [VALUE_FMT] * values.shape[1]
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64)
        assert set(np.unique(labels)) <= {0, 1}
        values = np.column_stack([values, labels])
        header += ",label"
        fmt.append("%d")
    np.savetxt(path, values, fmt=fmt, delimiter=",", header=header, comments="")


def _interleave(normal_cases, anomalous_cases):
    """Concatenate cases into one stream, the anomalous ones spread evenly.

    Anomalous case j (0-based, of m) goes right before normal case
    round((j + 1) * n / (m + 1)), so no two anomalies touch and the stream
    starts and ends with normal cases. Returns (rows, per-row labels).
    """
    n, m = len(normal_cases), len(anomalous_cases)
    slots = [int(round((j + 1) * n / (m + 1))) for j in range(m)]
    assert m <= n and len(set(slots)) == m and 0 not in slots and n not in slots
    parts, labels, j = [], [], 0
    for i in range(n + 1):
        while j < m and slots[j] == i:
            parts.append(anomalous_cases[j])
            labels.append(np.ones(len(anomalous_cases[j]), dtype=np.int64))
            j += 1
        if i < n:
            parts.append(normal_cases[i])
            labels.append(np.zeros(len(normal_cases[i]), dtype=np.int64))
    return np.concatenate(parts), np.concatenate(labels)


def _emit(out_dir, name, train, test, test_labels, columns, info):
    train = np.asarray(train, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if train.ndim == 1:
        train = train[:, None]
    if test.ndim == 1:
        test = test[:, None]
    assert train.shape[1] == test.shape[1] == len(columns)
    assert len(test) == len(test_labels)
    assert len(train) <= MAX_ROWS and len(test) <= MAX_ROWS, name
    assert len(train) >= 1000, name
    n_anom = int(np.sum(test_labels))
    assert 0 < n_anom < len(test_labels), name
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    _write_csv(os.path.join(d, "train.csv"), train, columns)
    _write_csv(os.path.join(d, "test.csv"), test, columns, test_labels)
    meta = {"name": name}
    meta.update(info)
    meta.update(
        {
            "channels": columns,
            "n_channels": len(columns),
            "train_rows": int(len(train)),
            "test_rows": int(len(test)),
            "test_anomalous_rows": n_anom,
            "test_anomalous_fraction": round(n_anom / len(test), 6),
            "value_format": VALUE_FMT,
        }
    )
    with open(os.path.join(d, "info.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(
        "%-26s %d ch  train %6d rows  test %6d rows  anomalous %.3f"
        % (name, len(columns), len(train), len(test), n_anom / len(test))
    )


def kdd135(out_dir):
    x_train, y_train = load_kdd_tsad_135("train")
    x_full, y_full = load_kdd_tsad_135("test")
    n_train = len(x_train)
    # The TEST file is the whole series; its first rows are the TRAIN file.
    assert np.array_equal(x_full[:n_train], x_train) and not y_train.any()
    _emit(
        out_dir,
        "kdd135_internal_bleeding",
        x_train,
        x_full[n_train:],
        y_full[n_train:],
        ["value"],
        {
            "source_package": "aeon",
            "source_package_version": _version("aeon"),
            "source": "aeon.datasets.load_kdd_tsad_135('train') and ('test') "
            "(aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_{TRAIN,TEST}.csv)",
            "origin": "KDD-TSAD 2021 competition / UCR time series anomaly archive, "
            "series 135 'InternalBleeding16' (Keogh et al. 2021)",
            "description": "Univariate physiological recording of a patient with internal "
            "bleeding (aeon: heart rate) with one labelled anomaly.",
            "sampling_rate_hz": None,
            "sampling_rate_note": "not stated by the package",
            "construction": "train.csv = the 1200-row TRAIN file (the anomaly-free prefix "
            "of the series). test.csv = rows 1200..7500 of the TEST file (the rest of the "
            "same series, after the training prefix), labels as shipped "
            "(is_anomaly; one anomaly, rows 4187..4198 of the full series). No "
            "subsampling.",
        },
    )


def mitdb(out_dir):
    path = _package_file("sktime", "datasets", "data", "mitdb", "mitdb.csv")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    x, y = data[:, 0], data[:, 1].astype(np.int64)
    cut = 4500
    assert not y[:cut].any()
    _emit(
        out_dir,
        "mitdb_ecg",
        x[:cut],
        x[cut:],
        y[cut:],
        ["ecg"],
        {
            "source_package": "sktime",
            "source_package_version": _version("sktime"),
            "source": "file sktime/datasets/data/mitdb/mitdb.csv (columns data,label), "
            "read directly: sktime has no loader function for it; its detection "
            "tutorial reads it with pandas",
            "origin": "MIT-BIH Arrhythmia Database ECG excerpt (the package does not name "
            "the record)",
            "description": "Single-lead ECG, 7500 samples, one labelled abnormal stretch "
            "(rows 6936..7287, around a premature beat and the pause after it).",
            "sampling_rate_hz": None,
            "sampling_rate_note": "not stated by the package; MIT-BIH records are sampled "
            "at 360 Hz and the beat spacing here (~300 samples) fits that",
            "construction": "Cut in time: train.csv = rows 0..4499 (all labelled 0), "
            "test.csv = rows 4500..7499 with the shipped labels. No subsampling.",
        },
    )


def _class_stream(loader, normal, per_class):
    """Normal = one class; train on its TRAIN-split cases; test stream = its
    TEST-split cases with the first `per_class` TEST-split cases of each other
    class (in file order) spread evenly between them."""
    xa, ya = loader("train")
    xb, yb = loader("test")
    classes = sorted(set(np.unique(ya)) | set(np.unique(yb)))
    assert normal in classes
    train = np.concatenate([case.T for case in xa[ya == normal]])
    normal_cases = [case.T for case in xb[yb == normal]]
    others = [c for c in classes if c != normal]
    anomalous = []
    for k in range(per_class):
        for c in others:
            anomalous.append(xb[yb == c][k].T)
    test, labels = _interleave(normal_cases, anomalous)
    return train, test, labels, xa, ya, yb, others


def basic_motions(out_dir, normal):
    per_class = 2
    train, test, labels, xa, ya, yb, others = _class_stream(
        load_basic_motions, normal, per_class
    )
    n_ch = xa.shape[1]
    columns = ["ch%d" % i for i in range(n_ch)]
    _emit(
        out_dir,
        "basicmotions_" + normal,
        train,
        test,
        labels,
        columns,
        {
            "source_package": "aeon",
            "source_package_version": _version("aeon"),
            "source": "aeon.datasets.load_basic_motions('train') and ('test') "
            "(aeon/datasets/data/BasicMotions/BasicMotions_{TRAIN,TEST}.ts)",
            "origin": "UEA multivariate archive 'BasicMotions': four students wearing a "
            "smart watch, 3-axis accelerometer and 3-axis gyroscope",
            "description": "6-channel smartwatch IMU; normal activity = %s, anomalies = "
            "10-second recordings of the other activities." % normal,
            "sampling_rate_hz": 10.0,
            "channel_note": "ch0..ch5 are the six dimensions in file order; the archive "
            "says accelerometer and gyroscope but does not name each dimension",
            "construction": "Each case is 100 rows (10 s at 10 Hz). train.csv = the %d "
            "'%s' cases of the TRAIN split, concatenated in file order. test.csv = the "
            "%d '%s' cases of the TEST split in file order, with the first %d TEST-split "
            "cases of each other class (%s), taken round-robin over the classes, inserted between them, evenly spaced "
            "(never two anomalous cases in a row); every row of an inserted case is "
            "labelled 1. Case boundaries are plain concatenations (also in train.csv). "
            "No subsampling."
            % (
                int(np.sum(ya == normal)),
                normal,
                int(np.sum(yb == normal)),
                normal,
                per_class,
                ", ".join(others),
            ),
        },
    )


def gunpoint(out_dir):
    normal = "1"
    per_class = 15
    train, test, labels, xa, ya, yb, _ = _class_stream(load_gunpoint, normal, per_class)
    _emit(
        out_dir,
        "gunpoint_gun",
        train,
        test,
        labels,
        ["hand_x"],
        {
            "source_package": "aeon",
            "source_package_version": _version("aeon"),
            "source": "aeon.datasets.load_gunpoint('train') and ('test') "
            "(aeon/datasets/data/GunPoint/GunPoint_{TRAIN,TEST}.ts)",
            "origin": "UCR archive 'GunPoint' (Ratanamahatana & Keogh): X coordinate of "
            "an actor's right-hand centroid tracked on video",
            "description": "Univariate hand motion; normal = gun-draw gesture (class 1), "
            "anomalies = point gesture (class 2). Each case is z-normalised by the archive.",
            "sampling_rate_hz": None,
            "sampling_rate_note": "video frame rate, not stated by the package",
            "construction": "Each case is 150 rows. train.csv = the %d class-1 (gun) cases "
            "of the TRAIN split, concatenated in file order. test.csv = the %d class-1 "
            "cases of the TEST split in file order, with the first %d class-2 (point) "
            "TEST-split cases in file order inserted between them, evenly spaced; every "
            "row of an inserted case is labelled 1. No subsampling."
            % (int(np.sum(ya == normal)), int(np.sum(yb == normal)), per_class),
        },
    )


def main(argv):
    if len(argv) > 2:
        sys.stderr.write("usage: quality_data.py [OUT_DIR]\n")
        return 2
    if len(argv) == 2:
        out_dir = argv[1]
    else:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out_dir = os.path.join(repo, "target", "quality-data")
    os.makedirs(out_dir, exist_ok=True)
    kdd135(out_dir)
    mitdb(out_dir)
    basic_motions(out_dir, "walking")
    basic_motions(out_dir, "standing")
    gunpoint(out_dir)
    print("wrote", out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
