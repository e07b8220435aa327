"""The runs the claims use: the sources' names and every blog config a claim trains, by name."""

from __future__ import annotations

from .config import Config

BLOG = "blog"  # shared/sources/000: the stateful-LSTM experiments
QA = "Q&A"  # shared/sources/003: "Why does a Keras stateful LSTM model have low accuracy …"
PUBLIC = "public experiment"  # Philippe Remy's stateful LSTM example, cited by the blog

LONG = 50  # epochs for "train longer" runs (the prototype table goes to 50)


# -- the configs the claims use -----------------------------------------------------------------

FS = Config(task="first-step")
PB = Config(task="prev-batch")
RUNS: dict[str, Config] = {
    "first-step stateless": FS.replace(mode="stateless"),
    "first-step stateful": FS.replace(mode="stateful", epochs=LONG),
    "first-step stateful, marker": FS.replace(mode="stateful", marker=True, epochs=LONG),
    "first-step stateful, reset never": FS.replace(mode="stateful", reset="never"),
    "first-step stateless, shuffled": FS.replace(mode="stateless", shuffle=True),
    "first-step stateful, shuffled": FS.replace(mode="stateful", shuffle=True),
    "prev-batch stateless": PB.replace(mode="stateless"),
    "prev-batch stateful": PB.replace(mode="stateful", epochs=LONG),
    "prev-batch horizon 2": PB.replace(horizon=2, epochs=LONG),
    "prev-batch horizon 4": PB.replace(horizon=4, epochs=LONG),
    "prev-batch rtrl": PB.replace(mode="rtrl", epochs=LONG),
    "prev-batch marker, horizon 1": PB.replace(marker=True, epochs=LONG),
    "prev-batch marker, horizon 2": PB.replace(marker=True, horizon=2, epochs=LONG),
    "prev-batch marker, rtrl": PB.replace(marker=True, mode="rtrl", epochs=LONG),
    "prev-batch marker, snap1": PB.replace(marker=True, mode="snap1", epochs=LONG),
    "prev-batch marker, uoro": PB.replace(marker=True, mode="uoro", epochs=LONG),
    "prev-batch marker, horizon 2, c only": PB.replace(marker=True, horizon=2, carry="c", epochs=LONG),
    "prev-batch marker, horizon 2, reset never": PB.replace(marker=True, horizon=2, reset="never", epochs=LONG),
    "prev-batch marker, horizon 2, shuffled": PB.replace(marker=True, horizon=2, shuffle=True, epochs=LONG),
    "prev-sample stateful": Config(task="prev-sample", batch_size=1),
    "prev-sample marker, horizon 2": Config(task="prev-sample", batch_size=1, marker=True, horizon=2, epochs=LONG),
    # claim 8 at an equal number of updates: 100 epochs of 256 batches = 25 epochs of 1,024
    "prev-batch marker, horizon 2, 25,600 updates": PB.replace(marker=True, horizon=2, epochs=100),
    "prev-sample marker, horizon 2, 25,600 updates": Config(task="prev-sample", batch_size=1, marker=True, horizon=2, epochs=25),
    # The Q&A's examples as written: LSTM(64), BCE, 10 epochs, 1000 x 10 x 1 random inputs.
    # Its batch 32 does not divide 1000 (Keras refuses a partial batch when stateful): 992.
    "Q&A batch 32": Config(task="random-labels", units=64, loss="bce", epochs=10, time_steps=10, n_train=992, n_test=256, batch_size=32),
    "Q&A batch 1, reset per epoch": Config(task="random-labels", units=64, loss="bce", epochs=10, time_steps=10, n_train=1000, n_test=256, batch_size=1),
}
