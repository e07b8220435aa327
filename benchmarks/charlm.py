"""A character-level language model: statecarry against PyTorch on the same text, one script.

The text ships with Python (`pydoc_data.topics`, about 465,000 characters of the language
reference); characters seen fewer than 20 times share one token. One-hot characters ->
LSTM(256) or GRU(256) (1 or 2 layers) -> softmax over the characters, batch 32, 64 steps per
batch, the state carried from batch to batch (`from_series`' streams), one Adam update per
batch, horizon 1 (Keras/PyTorch's `.detach()`) or 4 (each update back-propagates through the
current batch and the 3 before it; the PyTorch peer re-runs those batches from the state it
kept, which is what statecarry does). Both start from the same weights (statecarry's Keras
initialisation, copied into `nn.LSTM`/`nn.GRU`) and see the same batches. statecarry reads the
characters as ids (`Model(inputs="tokens")`: its first layer takes its kernel's row, the same
function as the one-hot product, bits per character equal to float32 round-off; `--inputs
one-hot` gives it the vectors instead); `nn.LSTM` takes vectors only, so PyTorch reads one-hot.

Each contender runs in a fresh process (its own peak RSS, no shared threads), PyTorch with as
many threads as cores. Reported per contender: training tokens/s (train + the test pass after
each epoch, compile excluded and reported apart), bits per character on the held-out tail of
the text after the fixed number of updates, and peak resident memory.

    PYTHONPATH=src python benchmarks/charlm.py --quick --json   # LSTM(256), horizon 1, < 3 min
    PYTHONPATH=src python benchmarks/charlm.py                  # every model, a table
    PYTHONPATH=src python benchmarks/charlm.py --rounds 3       # each side its fastest of 3, alternated
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCH, STEPS, UNITS, RARE = 32, 64, 256, 20
MODELS = {  # name -> (cell, layers, horizon)
    "lstm": ("lstm", 1, 1),
    "lstm-h4": ("lstm", 1, 4),
    "gru": ("gru", 1, 1),
    "lstm-2layer": ("lstm", 2, 1),
    "gru-2layer-h4": ("gru", 2, 4),
}


def text_ids():
    """The text as token ids, and the vocabulary size (rare characters share the last id)."""
    from collections import Counter
    from pydoc_data.topics import topics

    import numpy as np

    text = "".join(topics[k] for k in sorted(topics))
    counts = Counter(text)
    common = sorted(c for c, n in counts.items() if n >= RARE)
    index = {c: i for i, c in enumerate(common)}
    rare = len(common)
    return np.array([index.get(c, rare) for c in text], np.int32), rare + 1


def data(batches: int, test_batches: int, tokens: bool = False):
    """(train, test) `Batches` of one-hot characters (or, with `tokens`, their ids: what a
    `Model(inputs="tokens")` reads) with next-character targets."""
    import numpy as np

    from statecarry.data.layout import Batches, from_series

    ids, vocab = text_ids()
    n_train = batches * BATCH * STEPS + BATCH  # each stream has one value more (the target)
    n_test = test_batches * BATCH * STEPS + BATCH
    if n_train + n_test > len(ids):
        raise SystemExit(f"the text has {len(ids)} characters; ask for fewer batches.")
    eye = np.eye(vocab, dtype=np.float32)

    def batches_of(part):
        b = from_series(part[:, None].astype(np.float32), BATCH, STEPS, tail="drop")
        if tokens:
            return b
        return Batches(eye[b.x[..., 0].astype(np.int64)], b.y, b.reset, b.weight, b.known)

    return batches_of(ids[:n_train]), batches_of(ids[-n_test:]), vocab


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def statecarry_child(name: str, batches: int, test_batches: int, epochs: int, init: str, inputs: str = "tokens") -> dict:
    """Train with statecarry.fit; writes the initial weights to `init` for the peer. `inputs`:
    "tokens" gives statecarry the characters' ids (`Model(inputs="tokens")`: the first layer
    reads its kernel's row, the same function as the one-hot product), "one-hot" the vectors."""
    import statecarry as sc
    from statecarry.core import runtime

    cell, layers, horizon = MODELS[name]
    tokens = inputs == "tokens"
    train, test, vocab = data(batches, test_batches, tokens)
    model = sc.Model(cell=cell, units=UNITS, layers=layers, head="softmax", outputs=vocab,
                     features=vocab, inputs="tokens" if tokens else "values")
    spec = sc.Train(mode="stateful", horizon=horizon, epochs=epochs, learning_rate=2e-3)
    runtime.use_cpu_cores(big_steps=runtime.big_steps(model, spec))  # as `statecarry train` sets XLA up
    import jax
    import numpy as np

    from statecarry.core import cells
    params = cells.init(jax.random.key(0), model)  # what fit starts from
    np.savez(init, **{f"{layer}/{k}": np.asarray(v) for layer, t in params.items() for k, v in t.items()})
    result = sc.fit(train, model, spec, seeds=[0], test=test)
    tokens = epochs * (train.x.shape[0] + test.x.shape[0]) * BATCH * STEPS
    return {
        "tokens_per_s": tokens / result.run_seconds,
        "bpc": float(result.metrics["test_loss"][-1, 0]) / math.log(2),
        "peak_rss_mb": peak_rss_mb(),
        "compile_s": result.compile_seconds,
        "train_s": result.run_seconds,
    }


def torch_child(name: str, batches: int, test_batches: int, epochs: int, init: str) -> dict:
    """The same model, data and starting weights in PyTorch (nn.LSTM / nn.GRU, oneDNN)."""
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count() or 1)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # cuDNN's LSTM/GRU on a GPU
    cell, layers, horizon = MODELS[name]
    train, test, vocab = data(batches, test_batches)
    rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(vocab, UNITS, layers, batch_first=True)
    dense = nn.Linear(UNITS, vocab)
    load_keras_weights(rnn, dense, cell, layers, dict(np.load(init)))
    rnn, dense = rnn.to(device), dense.to(device)
    params = list(rnn.parameters()) + list(dense.parameters())
    opt = torch.optim.Adam(params, lr=2e-3, eps=1e-7)
    as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    xs, ys = as_t(train.x), as_t(train.y[..., 0].astype(np.int64))
    txs, tys = as_t(test.x), as_t(test.y[..., 0].astype(np.int64))

    def loss_of(x, y, hidden):
        out, hidden = rnn(x, hidden)
        return nn.functional.cross_entropy(dense(out).reshape(-1, vocab), y.reshape(-1)), hidden

    t0 = time.perf_counter()
    for _ in range(epochs):
        hidden, kept = None, []  # kept: (state entering batch k) for the horizon's re-run
        for k in range(len(xs)):
            kept = (kept + [hidden])[-horizon:]
            start, first = kept[0], k - len(kept) + 1
            h = None if start is None else _detach(start)
            for j in range(first, k):  # re-run the horizon's earlier batches with gradient
                _, h = rnn(xs[j], h)
            loss, hidden = loss_of(xs[k], ys[k], h)
            opt.zero_grad()
            loss.backward()
            opt.step()
            hidden = _detach(hidden)
        with torch.no_grad():
            hidden, total = None, 0.0
            for k in range(len(txs)):
                loss, hidden = loss_of(txs[k], tys[k], hidden)
                total += float(loss)
    seconds = time.perf_counter() - t0
    tokens = epochs * (len(xs) + len(txs)) * BATCH * STEPS
    return {"tokens_per_s": tokens / seconds, "bpc": total / len(txs) / math.log(2),
            "peak_rss_mb": peak_rss_mb(), "train_s": seconds, "threads": torch.get_num_threads(),
            "version": torch.__version__}  # fmt: skip


def _detach(hidden):
    return tuple(h.detach() for h in hidden) if isinstance(hidden, tuple) else hidden.detach()


def load_keras_weights(rnn, dense, cell: str, layers: int, w: dict) -> None:
    """statecarry's (Keras') weights into nn.LSTM/nn.GRU. LSTM gates are i, f, c, o in both;
    Keras' GRU orders z, r, h and PyTorch r, z, n (both reset after the recurrent product)."""
    import numpy as np
    import torch

    def gru_order(a):  # (..., 3U) z, r, h -> r, z, n
        z, r, h = np.split(a, 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1)

    with torch.no_grad():
        for i in range(layers):
            name = cell if i == 0 else f"{cell}_{i}"
            kernel, recurrent = w[f"{name}/kernel"], w[f"{name}/recurrent_kernel"]
            bias = w[f"{name}/bias"]
            if cell == "gru":
                kernel, recurrent, bias = gru_order(kernel), gru_order(recurrent), gru_order(bias)
                b_ih, b_hh = bias[0], bias[1]
            else:
                b_ih, b_hh = bias, np.zeros_like(bias)
            getattr(rnn, f"weight_ih_l{i}").copy_(torch.from_numpy(kernel.T.copy()))
            getattr(rnn, f"weight_hh_l{i}").copy_(torch.from_numpy(recurrent.T.copy()))
            getattr(rnn, f"bias_ih_l{i}").copy_(torch.from_numpy(b_ih.copy()))
            getattr(rnn, f"bias_hh_l{i}").copy_(torch.from_numpy(b_hh.copy()))
        dense.weight.copy_(torch.from_numpy(w["dense/kernel"].T.copy()))
        dense.bias.copy_(torch.from_numpy(w["dense/bias"].copy()))


def child(task: str, *args, module: str = "charlm") -> dict:
    """`module.task(*args)` in a fresh process (its own peak RSS, no shared threads)."""
    code = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import {module}; "
            f"print('RESULT ' + json.dumps({module}.{task}(*{args!r})))")  # fmt: skip
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{task} failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="LSTM(256), horizon 1 only")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--batches", type=int, default=None, help="updates per epoch")
    parser.add_argument("--test-batches", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the two sides this many times a model and keep each one's fastest "
                        "(this VM's speed wanders by 10-40%% within minutes)")
    parser.add_argument("--json", action="store_true", help="one JSON line per model")
    parser.add_argument("--inputs", choices=("tokens", "one-hot"), default="tokens",
                        help="what statecarry reads: character ids (the default) or one-hot vectors "
                        "(PyTorch's nn.LSTM reads one-hot vectors either way)")
    args = parser.parse_args()
    names = ["lstm"] if args.quick else args.models.split(",")
    batches = args.batches or (12 if args.quick else 48)
    load_before = os.getloadavg()[0]
    rows = []
    for name in names:
        runs = {"statecarry": [], "pytorch": []}
        with tempfile.TemporaryDirectory() as tmp:
            init = f"{tmp}/init.npz"
            for _ in range(max(1, args.rounds)):  # alternated, so both sides meet the same noise
                runs["statecarry"].append(child("statecarry_child", name, batches, args.test_batches,
                                                args.epochs, init, args.inputs))  # fmt: skip
                runs["pytorch"].append(child("torch_child", name, batches, args.test_batches, args.epochs, init))
        ours, theirs = (max(runs[side], key=lambda r: r["tokens_per_s"]) for side in ("statecarry", "pytorch"))
        cell, layers, horizon = MODELS[name]
        config = {"model": name, "cell": cell, "units": UNITS, "layers": layers,
                  "horizon": horizon, "batch": BATCH, "steps": STEPS, "statecarry_inputs": args.inputs,
                  "updates": batches * args.epochs, "test_batches": args.test_batches,
                  "torch_threads": theirs.pop("threads"), "torch": theirs.pop("version"),
                  "cores": os.cpu_count(), "load": f"{load_before:.1f} → {os.getloadavg()[0]:.1f}",
                  "rounds": len(runs["pytorch"])}  # fmt: skip
        rows.append({"statecarry": ours, "pytorch": theirs, "config": config})
        if args.json:
            print(json.dumps(rows[-1]), flush=True)
    if not args.json:
        print("| model | horizon | tokens/s statecarry | tokens/s PyTorch | × PyTorch | bpc "
              "statecarry | bpc PyTorch | peak RSS MB statecarry / PyTorch | compile s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            s, p, c = r["statecarry"], r["pytorch"], r["config"]
            print(f"| {c['cell'].upper()}({UNITS}) × {c['layers']} | {c['horizon']} | "
                  f"{s['tokens_per_s']:,.0f} | {p['tokens_per_s']:,.0f} | "
                  f"{s['tokens_per_s'] / p['tokens_per_s']:.2f}× | {s['bpc']:.3f} | {p['bpc']:.3f} | "
                  f"{s['peak_rss_mb']:.0f} / {p['peak_rss_mb']:.0f} | {s['compile_s']:.1f} |")
        print(f"\n{rows[0]['config']['updates']} updates; each side's fastest of {rows[0]['config']['rounds']} "
              f"alternated round(s); load {rows[0]['config']['load']} (1-min average, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
