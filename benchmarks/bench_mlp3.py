"""MLP3 per-epoch cost: layer analysis and truncation test relative to one training epoch.

Baseline measured in the same run: one SGD epoch of the CI-size MLP3 (4,000 MNIST images of
the packaged subset, BS 32, 784-300-100-10). For ``--epochs`` epochs of real training it
times, per epoch, the training pass and then on the same weights

(a) the layer analysis of FC1 and FC2 (ESD, power-law fit, detX, ERG, MP fit, Q^2) with the
    correlation-trap test, as a run does it (layers and trap tests on ``--threads`` threads),
    in one thread, and in one thread without the trap test;
(b) the ECS truncation test (4 truncated models evaluated on train + test);
(c) the evaluation of the model itself on train + test;

and prints medians and the ratios to the training epoch. ``--run`` also times one whole CI-size
run (``setol mlp3 run`` defaults: early stopping, at most 200 epochs) end to end.

    python benchmarks/bench_mlp3.py [--epochs 15] [--threads 2] [--run]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

# spinning OpenMP threads of torch compete with everything else on a shared 2-core machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from simulations import mlp3 as M  # noqa: E402
from simulations.mlp3._analysis import _measure  # noqa: E402
from simulations.mlp3._model import _make_optimizer, _set_trainable  # noqa: E402
from simulations.mlp3._train import _NumpyBlasThreads, _tensors, _train_epoch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--run", action="store_true", help="also time one whole CI-size run")
    args = ap.parse_args()

    cfg = M.MLP3Config(threads=args.threads)
    data = M.prepare_data(cfg)
    torch.set_num_threads(cfg.threads)
    with _NumpyBlasThreads(1):
        sets = _tensors(data, torch.device("cpu"))
        model = M.init_model(cfg, data.in_dim)
        opt = _make_optimizer(cfg, _set_trainable(model, cfg.layers))
        layers = M.analysed_layers(cfg, data.in_dim)
        no_traps = M.MLP3Config(threads=args.threads, traps=False)
        pool = ThreadPoolExecutor(args.threads) if args.threads > 1 else None
        _measure(model, 0, cfg, layers, sets, None, 0.0)  # warm-up (numba cache, allocator)
        t_train, t_an, t_an_seq, t_an_nt, t_tr, t_ev = [], [], [], [], [], []
        for epoch in range(1, args.epochs + 1):
            t0 = time.perf_counter()
            stats = _train_epoch(model, opt, *sets["train"], cfg, epoch)
            t_train.append(time.perf_counter() - t0)
            row = _measure(model, epoch, cfg, layers, sets, stats, t_train[-1], pool)
            t_an.append(row["time_analysis"])
            row_seq = _measure(model, epoch, cfg, layers, sets, stats, t_train[-1])
            t_an_seq.append(row_seq["time_analysis"])
            t_tr.append(row["time_truncation"])
            t_ev.append(row["time_eval"])
            row_nt = _measure(model, epoch, no_traps, layers, sets, stats, t_train[-1])
            t_an_nt.append(row_nt["time_analysis"])

    med = statistics.median
    base = med(t_train)
    print(f"MLP3 {cfg.widths}, {data.n_train} train / {data.y_test.size} test images, BS "
          f"{cfg.batch_size}, {args.threads} torch thread(s), numpy BLAS 1 thread; "
          f"medians over {args.epochs} epochs; load average {os.getloadavg()[0]:.2f}")
    print(f"(0) training epoch (baseline)        {1e3 * base:8.1f} ms")
    for label, ts in ((f"(a) layer analysis ({args.threads} thr.)", t_an),
                      ("(a') layer analysis (1 thread)", t_an_seq),
                      ("(a'') same without the trap test", t_an_nt),
                      ("(b) ECS truncation test", t_tr),
                      ("(c) evaluation train + test", t_ev)):
        print(f"{label:36s} {1e3 * med(ts):8.1f} ms   ratio to (0) = {med(ts) / base:5.3f}")

    if args.run:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = M.train_run(cfg, tmp, log=None)
            wall = time.perf_counter() - t0
        print(f"whole CI-size run: {wall:.1f} s wall, {res.status} after epoch {res.epochs}; "
              + M.timing_line(res.timing()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
