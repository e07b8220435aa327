"""`import statecarry` sets XLA's CPU backend up for the engine (`core.xla.use_cpu_cores`), so the
Python API trains with the CLI's settings; JAX started first is one warning, not a silent
slowdown. Each case runs in a fresh interpreter (XLA reads its flags once, when JAX starts)."""

import os
import subprocess
import sys
from importlib.metadata import version

FIT = """
import warnings
import numpy as np
import statecarry as sc
data = sc.from_series(np.sin(np.arange(400) / 7).astype(np.float32), batch_size=4, time_steps=10)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(2):
        sc.fit(data, sc.Model(units=3, head="linear"), sc.Train(epochs=1))
late = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
"""


def run(code: str, **env: str) -> list[str]:
    """The lines `code` prints in a fresh interpreter whose XLA_FLAGS are only `env`'s."""
    clean = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "STATECARRY_XLA")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**clean, **env})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split("\n")


def test_import_sets_xla_up_before_jax_starts():
    out = run("import os, statecarry; print(os.environ['XLA_FLAGS']); import jax; print(len(jax.devices()))")
    flags = out[0].split()
    assert f"--xla_force_host_platform_device_count={os.cpu_count()}" in flags
    assert any("xla_cpu_small_while_loop_byte_threshold" in f for f in flags)
    assert out[1] == str(os.cpu_count())


def test_a_later_call_before_jax_replaces_the_import_time_choice():
    code = "import statecarry\nfrom statecarry.core import runtime\nruntime.use_cpu_cores(1)\nimport jax\nprint(len(jax.devices()))"
    assert run(code)[0] == "1"


def test_a_flag_the_user_set_wins():
    code = "import os, statecarry, jax; print(len(jax.devices())); print(os.environ['XLA_FLAGS'].count('device_count'))"
    assert run(code, XLA_FLAGS="--xla_force_host_platform_device_count=3")[:2] == ["3", "1"]


def test_fit_trains_without_a_warning_when_statecarry_came_first():
    assert run(FIT + "print(len(late))")[0] == "0"


def test_jax_started_first_is_one_warning_naming_the_fix():
    out = run("import jax\n" + FIT + "print(len(late)); print(late[0] if late else '')")
    assert out[0] == "1"  # once a process, not once a fit
    assert "import statecarry before jax" in out[1] and "use_cpu_cores()" in out[1]


def test_statecarry_xla_defaults_leaves_xla_alone_and_quiet():
    code = "import os\n" + FIT + "print(os.environ.get('XLA_FLAGS')); print(len(late))"
    assert run(code, STATECARRY_XLA="defaults")[:2] == ["None", "0"]


def test_jaxlib_version_read_from_the_wheel_agrees_with_importlib_metadata():
    from statecarry.core import xla

    assert xla.jaxlib_version() == tuple(int(p) for p in version("jaxlib").split(".")[:2])
