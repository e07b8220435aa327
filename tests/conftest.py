"""Test setup: two XLA host devices (so the sharded path is exercised), strict JAX ranks."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from statecarry.experiments.blog import use_cpu_cores

use_cpu_cores(2)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True)
def _store_home(tmp_path, monkeypatch):
    """Nothing a test does touches the user's home."""
    monkeypatch.setenv("STATECARRY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def keras_broadcasts():
    """Keras' own layers rely on rank promotion; our code is held to "raise" elsewhere."""
    with jax.numpy_rank_promotion("allow"):
        yield
