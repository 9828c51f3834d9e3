"""Benchmark of the network: training throughput, inference latency, 100-step rollout.

    python tests/bench/bench_model.py [--threads 2] [--repeat 5]

Side by side with a baseline measured in the same run: the reference architecture of the seed
project (Linear(180, 256) + 4 x TransformerEncoderLayer(256, 8, 512), no per-track decoder,
ml-notes 4b) at the same lengths. Goals (issue 4): a 1,024-step forward under 200 ms and a
100-step rollout under 300 ms on two cores. Timings are medians; the machine is shared, so
expect +-30 % between runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from model.features.grid import featurize
from model.features.history import history_arrays
from model.inference.load import load_predictor
from model.inference.model_files import DEFAULT_WEIGHTS
from model.inference.network import (
    MultiTrackTransformer,
    NetConfig,
    NetworkPredictor,
    Norm,
    compute_loss,
)
from model.training.synth import synthesize
from model.training.train import SplitData, make_batch


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def reference_model() -> nn.Module:
    layer = nn.TransformerEncoderLayer(256, 8, 512, batch_first=True)
    return nn.Sequential(nn.Linear(180, 256), nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)).eval()


def long_features(steps: int):
    """A synthetic podcast long enough for every length measured."""
    f = featurize(synthesize("podcast", 11, 0, (steps / 600 + 0.5, steps / 600 + 0.6)).sequences[0])
    assert f.steps >= steps, f.steps
    return f


def cut(f, steps: int):
    from model.training.evaluate import features_from_rows

    return features_from_rows("bench", f.grid[:steps], f.source_index[:steps], f.source_kind[:steps], f.step_seconds)


def predictor() -> tuple[NetworkPredictor, str]:
    if DEFAULT_WEIGHTS.is_file():
        return load_predictor(None), "bundled default weights"
    model = MultiTrackTransformer(NetConfig())
    return NetworkPredictor(model, Norm(), Fraction(1, 10), "random", ""), "random weights (no default model yet)"


def bench_inference(pred: NetworkPredictor, ref: nn.Module, f, repeat: int) -> None:
    print("\ninference, one timeline (ms, median)")
    print(f"{'steps':>6} {'mtt predict':>12} {'mtt forward':>12} {'reference fwd':>14}")
    for steps in (128, 256, 512, 1024):
        g = cut(f, steps)
        full = median_ms(lambda: pred.predict(g), repeat)
        net = median_ms(lambda: pred.outputs(g), repeat)
        x = torch.from_numpy(g.grid.reshape(1, steps, 180))
        with torch.inference_mode():
            base = median_ms(lambda: ref(x), repeat)
        print(f"{steps:>6} {full:>12.1f} {net:>12.1f} {base:>14.1f}")


def bench_rollout(pred: NetworkPredictor, f, repeat: int) -> None:
    from model.training import baselines

    g = cut(f, 1024)
    markov = baselines.Markov(None)
    r = median_ms(lambda: pred.rollout(g, 256, 100), repeat)
    m = median_ms(lambda: markov.rollout(g, 256, 100), repeat)
    print(f"\n100-step rollout after 256 steps: mtt {r:.1f} ms (goal < 300), Markov baseline {m:.1f} ms")


def bench_training(f, repeat: int, batch: int, window: int) -> None:
    hist = history_arrays(f.grid, f.source_index)
    data = SplitData(grid=f.grid, source_index=f.source_index, source_kind=f.source_kind, hist=hist,
                     offsets=np.array([0, f.steps]), ends=np.full(f.steps, f.steps), windows=np.array([[0, window]] * batch),
                     timeline_ids=np.zeros(1, np.int64))
    model = MultiTrackTransformer(NetConfig(context=window)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = make_batch(data, data.windows, window, Norm())
    xt, yt = ({k: torch.from_numpy(v) for k, v in d.items()} for d in (x, y))

    def step():
        out, _ = model(xt)
        loss, _ = compute_loss(out, yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    ms = median_ms(step, repeat)
    ref = reference_model().train()
    ropt = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    xr = torch.randn(batch, window, 180)

    def ref_step():
        loss = ref(xr).pow(2).mean()
        ropt.zero_grad()
        loss.backward()
        ropt.step()

    rms = median_ms(ref_step, repeat)
    print(f"\ntraining, batch {batch} x {window} steps: mtt {ms:.0f} ms/step = {1000 / ms:.2f} steps/s = "
          f"{batch * 1000 / ms:.1f} windows/s ({batch * window * 1000 / ms:.0f} timeline steps/s); "
          f"reference {rms:.0f} ms/step")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pred, which = predictor()
    print(f"mtt {pred.model.n_params():,} parameters ({which}); reference {sum(p.numel() for p in reference_model().parameters()):,}; "
          f"{args.threads} threads")
    f = long_features(1024)
    bench_inference(pred, reference_model(), f, args.repeat)
    bench_rollout(pred, f, args.repeat)
    bench_training(f, max(2, args.repeat // 2), args.batch, 256)


if __name__ == "__main__":
    main()
