"""Training throughput of confmap's UNet next to an equally sized reference network.

Measures images/s of full training steps (forward, loss, backward, Adam step) for
``confmap.learn.UNet`` (default widths (8, 16, 32, 64): the paper's 4 levels, widest 64) and, in
the same run and on the same batches, a reference UNet of the same widths:

- MONAI's ``monai.networks.nets.UNet`` (``spatial_dims=2, channels=(8, 16, 32, 64),
  strides=(2, 2, 2), num_res_units=2``) when MONAI is installed (a benchmark-only dependency:
  ``pip install -c constraints.txt monai``); its down-sampling is strided convolution and its
  blocks differ slightly, so parameter counts are printed next to the speeds;
- otherwise a plain reference: the same architecture written as bilinear up-sampling + conv
  (the other common UNet decoder), equally sized.

Run: ``python benchmarks/bench_learn.py [--size 64] [--batch 4] [--steps 20] [--threads 1]``.

In the suite (``python -m benchmarks --only learn``), :func:`benchmark` measures, interleaved on
the same batches with 1 thread, confmap's UNet, MONAI's ``BasicUNet`` (the classic architecture:
two 3x3 convolutions per level, max-pooling; ``features=(8, 16, 32, 64, 64, 8)``, i.e. one level
deeper, since BasicUNet always has five) and MONAI's ``UNet`` as above, at 64x64 and 256x256.
Figures: images/s, GFLOP per image and GFLOP/s; claims: confmap's images/s at least 0.5x
BasicUNet's, and confmap's GFLOP/s at least MONAI UNet's. The quick mode (and a run without
MONAI, whose import alone takes ~10 s of CPU) compares with the plain reference above at 64x64
only (claim: at least 0.25x its images/s).
Prints images/s, training FLOPs per image and achieved GFLOP/s for each, and the ratios
confmap / reference; nothing is asserted. MONAI's UNet down-samples with strided convolutions from
the first layer, so at the same widths it does about 3.8x fewer FLOPs per image than the classic
layout (double convolution at full resolution) that confmap follows.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from confmap.learn import BCELoss, UNet


class PlainUNet(nn.Module):
    """Reference without MONAI: same widths, bilinear up-sampling + 1x1 conv in the decoder."""

    def __init__(self, channels=(8, 16, 32, 64)):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
            )

        self.enc = nn.ModuleList()
        cin = 1
        for c in channels:
            self.enc.append(block(cin, c))
            cin = c
        self.up = nn.ModuleList(nn.Conv2d(channels[i], channels[i - 1], 1) for i in range(len(channels) - 1, 0, -1))
        self.dec = nn.ModuleList(block(2 * channels[i - 1], channels[i - 1]) for i in range(len(channels) - 1, 0, -1))
        self.head = nn.Conv2d(channels[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            x = e(x)
            if i < len(self.enc) - 1:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for up, dec in zip(self.up, self.dec, strict=True):
            x = up(nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
            x = dec(torch.cat([skips.pop(), x], 1))
        return torch.sigmoid(self.head(x))


def reference_network(channels):
    try:
        from monai.networks.nets import UNet as MonaiUNet
    except ImportError:
        return "plain bilinear-decoder UNet (MONAI not installed)", PlainUNet(channels)
    net = MonaiUNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=channels,
        strides=(2,) * (len(channels) - 1),
        num_res_units=2,
        norm="batch",
    )
    return "MONAI UNet (num_res_units=2) + sigmoid", nn.Sequential(net, nn.Sigmoid())


def throughput(net, x, y, steps, repeats):
    loss = BCELoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for _ in range(3):  # warm-up
        opt.zero_grad()
        loss(net(x), y).backward()
        opt.step()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            loss(net(x), y).backward()
            opt.step()
        rates.append(steps * x.shape[0] / (time.perf_counter() - t))
    return statistics.median(rates)


def train_flops(net, size):
    """Floating-point operations of one forward + backward pass on one image."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        net(torch.rand(1, 1, size, size)).sum().backward()
    net.zero_grad(set_to_none=True)
    return fc.get_total_flops()


def basic_unet(channels):
    """MONAI's BasicUNet of the given widths (one level deeper, see the module docstring) + sigmoid."""
    from monai.networks.nets import BasicUNet

    c = tuple(channels)
    return nn.Sequential(
        BasicUNet(spatial_dims=2, in_channels=1, out_channels=1, features=(*c, c[-1], c[0]), norm="batch"),
        nn.Sigmoid(),
    )


def benchmark(*, quick: bool) -> list[dict]:
    """The suite's figures (see the module docstring)."""
    import importlib.util

    from benchmarks.report import claim, figure

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        channels = (8, 16, 32, 64)
        have_monai = not quick and importlib.util.find_spec("monai") is not None
        figs = []
        for size, batch, steps, repeats in ((64, 4, 2, 2),) if quick else ((64, 4, 10, 3), (256, 4, 3, 2)):
            torch.manual_seed(0)
            x = torch.rand(batch, 1, size, size)
            y = (torch.rand_like(x) > 0.8).float()
            nets = {"confmap": ("confmap.learn.UNet", UNet(channels=channels))}
            if have_monai:
                nets["monai_basicunet"] = ("MONAI BasicUNet", basic_unet(channels))
                nets["monai_unet"] = reference_network(channels)
            else:
                nets["plain"] = ("plain bilinear-decoder UNet", PlainUNet(channels))
            rates = {k: [] for k in nets}
            for _ in range(2):  # interleave to share the machine's noise
                for k, (_, net) in nets.items():
                    rates[k].append(throughput(net, x, y, steps, repeats))
            rate = {k: max(v) for k, v in rates.items()}
            flops = {k: train_flops(net, size) for k, (_, net) in nets.items()}
            for k, (name, net) in nets.items():
                kw = {}
                if k in ("monai_basicunet", "plain"):
                    kw = {
                        "baseline": rate[k],
                        "ratio": rate["confmap"] / rate[k],
                        "claim": claim(">=", 0.5, quick=0.25, text=f"confmap UNet >= 0.5x {name}'s images/s"),
                    }
                figs.append(
                    figure(
                        f"learn.{size}.{k}.images_per_s",
                        rate[k],
                        "images/s",
                        label=f"{name}, training steps of batch {batch} x 1 x {size} x {size}, 1 thread",
                        params=sum(p.numel() for p in net.parameters()),
                        gflop_per_image=flops[k] / 1e9,
                        gflop_per_s=rate[k] * flops[k] / 1e9,
                        **kw,
                    )
                )
            if have_monai:
                ours, ref = rate["confmap"] * flops["confmap"], rate["monai_unet"] * flops["monai_unet"]
                figs.append(
                    figure(
                        f"learn.{size}.gflops_ratio_vs_monai_unet",
                        ours / 1e9,
                        "GFLOP/s",
                        label=f"achieved GFLOP/s, confmap UNet vs MONAI UNet at {size}x{size}",
                        baseline=ref / 1e9,
                        ratio=ours / ref,
                        claim=claim(">=", 1.0, quick=0.5, text="per FLOP confmap's UNet is as fast as MONAI's UNet"),
                    )
                )
        return figs
    finally:
        torch.set_num_threads(before)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    channels = (8, 16, 32, 64)
    x = torch.rand(args.batch, 1, args.size, args.size)
    y = (torch.rand_like(x) > 0.8).float()
    ours = UNet(channels=channels)
    ref_name, ref = reference_network(channels)
    n_ours = sum(p.numel() for p in ours.parameters())
    n_ref = sum(p.numel() for p in ref.parameters())
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch} x 1 x "
        f"{args.size} x {args.size}, {args.steps} steps x {args.repeats} repeats (median)"
    )
    # interleave to share the machine's noise
    r_ours, r_ref = [], []
    for _ in range(2):
        r_ours.append(throughput(ours, x, y, args.steps, args.repeats))
        r_ref.append(throughput(ref, x, y, args.steps, args.repeats))
    a, b = max(r_ours), max(r_ref)
    f_ours, f_ref = train_flops(ours, args.size), train_flops(ref, args.size)
    for name, n, rate, fl in (
        ("confmap.learn.UNet", n_ours, a, f_ours),
        (ref_name, n_ref, b, f_ref),
    ):
        print(
            f"{name:<40s} {n:>9,d} params  {fl / 1e9:6.2f} GFLOP/image  {rate:8.1f} images/s  "
            f"{rate * fl / 1e9:6.1f} GFLOP/s"
        )
    print(f"ratio confmap / reference: {a / b:.2f}x images/s, {(a * f_ours) / (b * f_ref):.2f}x GFLOP/s")


if __name__ == "__main__":
    main()
