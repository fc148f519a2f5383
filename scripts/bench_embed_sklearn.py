"""scikit-learn peer for `scripts/bench-embed`: t-SNE of the codings that
`edgeae encode` wrote (CSV `start,end,c0,...`), with the settings edgeae
uses: Barnes-Hut (angle 0.5), perplexity 30, 1000 iterations, PCA
initialisation, learning rate `auto`. Prints `fit_s X`: the seconds of
`fit_transform` alone (reading the CSV is not counted)."""

import argparse
import time

import numpy as np
from sklearn.manifold import TSNE


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--codings", required=True)
    ap.add_argument("--threads", type=int, default=-1)
    args = ap.parse_args()
    x = np.loadtxt(args.codings, delimiter=",", skiprows=1, dtype=np.float32)[:, 2:]
    tsne = TSNE(
        n_components=2,
        perplexity=30.0,
        init="pca",
        learning_rate="auto",
        method="barnes_hut",
        angle=0.5,
        random_state=0,
        n_jobs=args.threads,
    )
    start = time.perf_counter()
    y = tsne.fit_transform(x)
    took = time.perf_counter() - start
    assert y.shape == (x.shape[0], 2)
    print(f"fit_s {took:.2f} points {x.shape[0]} codings {x.shape[1]}")


if __name__ == "__main__":
    main()
