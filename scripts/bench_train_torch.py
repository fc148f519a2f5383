"""PyTorch peer for `scripts/bench-train`: the same autoencoder as edgeae
trains, Adam lr 1e-3, the same batch size and the same data, on the CPU
(or `--device cuda`, for `scripts/gpu-check`). `--model stacked`: 784-100-30-100-784, SELU hidden layers,
LeCun-normal init; `--model conv`: the textbook convolutional autoencoder
(conv 16/32/64 k3 same + 2x2 max pooling, transposed conv 32 k3 s2 valid,
16 k3 s2 same, 1 k3 s2 same; SELU), edgeae's default for 28x28 images. Both
end in a sigmoid trained with binary cross-entropy on logits, on
Fashion-MNIST images. `--model lstm`: `edgeae train --kind recurrent` on
the windows of a CSV time series (`--csv`, every column but timestamp and
labels a channel, z-scored, windows of `--window` rows at hop 1, the first
90 % trained on): nn.LSTM layers of `--hidden` widths over the whole
sequence, an nn.LSTM to `--codings` whose last hidden state is the codings,
the codings repeated at every step, the `--hidden` LSTMs mirrored and a
Linear back to the channels at every step, linear output, MSE. Prints one
line per epoch: `epoch N samples_per_s X loss Y`."""

import argparse
import csv
import gzip
import struct
import time

import torch


def load_idx(path, limit):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    _, _, _, ndim = raw[0], raw[1], raw[2], raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    count, pixels = dims[0], dims[1] * dims[2]
    count = min(count, limit)
    start = 4 + 4 * ndim
    data = torch.frombuffer(bytearray(raw[start : start + count * pixels]), dtype=torch.uint8)
    return data.reshape(count, pixels).float() / 255.0


def load_csv_windows(path, window, limit):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    skip = {"timestamp", "is_anomaly", "label"}
    cols = [i for i, name in enumerate(rows[0]) if name.strip().lower() not in skip]
    series = torch.tensor([[float(r[i]) for i in cols] for r in rows[1:]])
    series = (series - series.mean(0)) / series.std(0).clamp_min(1e-12)
    windows = series.unfold(0, window, 1).transpose(1, 2)  # (n, window, channels)
    windows = windows[:limit]
    return windows.reshape(len(windows), -1).contiguous(), len(cols)


class RecurrentAE(torch.nn.Module):
    """edgeae's recurrent autoencoder (`train/arch.rs`, `recurrent_spec`)."""

    def __init__(self, channels, window, hidden, codings):
        super().__init__()
        self.channels, self.window = channels, window
        widths = [channels] + hidden
        lstm = lambda i, o: torch.nn.LSTM(i, o, batch_first=True)
        self.encoder = torch.nn.ModuleList(lstm(a, b) for a, b in zip(widths, widths[1:]))
        self.to_codings = lstm(widths[-1], codings)
        back = [codings] + hidden[::-1]
        if not hidden:
            back = [codings, codings]
        self.decoder = torch.nn.ModuleList(lstm(a, b) for a, b in zip(back, back[1:]))
        self.out = torch.nn.Linear(back[-1], channels)

    def forward(self, x):
        h = x.view(len(x), self.window, self.channels)
        for layer in self.encoder:
            h, _ = layer(h)
        _, (last, _) = self.to_codings(h)
        h = last[-1].unsqueeze(1).expand(-1, self.window, -1)
        for layer in self.decoder:
            h, _ = layer(h)
        return self.out(h).reshape(len(x), -1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--model", choices=["stacked", "conv", "lstm"], default="stacked")
    p.add_argument("--window", type=int, default=64, help="lstm: time steps")
    p.add_argument("--hidden", type=int, nargs="*", default=[32], help="lstm: sequence layer widths")
    p.add_argument("--codings", type=int, default=16, help="lstm: codings width")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    if args.model == "lstm":
        x, channels = load_csv_windows(args.data, args.window, args.limit)
    else:
        x = load_idx(args.data, args.limit)
    n_train = int(round(len(x) * 0.9))
    x = x[:n_train].to(args.device)

    def dense(i, o, selu):
        layer = torch.nn.Linear(i, o)
        if selu:
            torch.nn.init.normal_(layer.weight, 0.0, (1.0 / i) ** 0.5)
        torch.nn.init.zeros_(layer.bias)
        return layer

    if args.model == "lstm":
        model = RecurrentAE(channels, args.window, args.hidden, args.codings)
    elif args.model == "stacked":
        model = torch.nn.Sequential(
            dense(784, 100, True), torch.nn.SELU(),
            dense(100, 30, True), torch.nn.SELU(),
            dense(30, 100, True), torch.nn.SELU(),
            dense(100, 784, False),
        )
    else:
        # PyTorch's "same" transposed convolution: padding 1, output_padding 1
        # (the size doubles), as Keras and edgeae compute it.
        model = torch.nn.Sequential(
            torch.nn.Unflatten(1, (1, 28, 28)),
            torch.nn.Conv2d(1, 16, 3, padding="same"), torch.nn.SELU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding="same"), torch.nn.SELU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding="same"), torch.nn.SELU(), torch.nn.MaxPool2d(2),
            torch.nn.ConvTranspose2d(64, 32, 3, stride=2), torch.nn.SELU(),
            torch.nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), torch.nn.SELU(),
            torch.nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),
            torch.nn.Flatten(),
        )
    model = model.to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss() if args.model == "lstm" else torch.nn.BCEWithLogitsLoss()
    print(f"torch {torch.__version__}, {args.model}, {torch.get_num_threads()} threads, {n_train} samples", flush=True)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n_train, device=args.device)
        t0 = time.perf_counter()
        total = 0.0
        for b in range(0, n_train, args.batch):
            xb = x[order[b : b + args.batch]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), xb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        secs = time.perf_counter() - t0
        print(f"epoch {epoch} samples_per_s {n_train / secs:.1f} loss {total / n_train:.6f}", flush=True)


if __name__ == "__main__":
    main()
