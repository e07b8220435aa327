"""`import statecarry` sets XLA's CPU backend up for the engine (`core.xla.use_cpu_cores`), so the
Python API trains with the CLI's settings; JAX started first is one warning, not a silent
slowdown. Each case runs in a fresh interpreter (XLA reads its flags once, when JAX starts)."""

import json
import os
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest

from statecarry.core import xla

FIT = """
import warnings
import numpy as np
import statecarry as sc
data = sc.from_series(np.sin(np.arange(400) / 7).astype(np.float32), batch_size=4, time_steps=10)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(2):
        sc.fit(data, sc.Model(units=3, head="linear"), sc.Train(epochs=1))
late = [str(w.message) for w in caught if "statecarry" in str(w.message) and issubclass(w.category, RuntimeWarning)]
"""


# what would change the device count or the set-up from outside
CLEARED = ("XLA_FLAGS", "STATECARRY_XLA", "STATECARRY_XLA_OWN", "JAX_NUM_CPU_DEVICES", "JAX_PLATFORMS")


def run(code: str, **env: str) -> list[str]:
    """The lines `code` prints in a fresh interpreter whose XLA_FLAGS are only `env`'s."""
    clean = {k: v for k, v in os.environ.items() if k not in CLEARED}
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


def test_jax_imported_but_not_started_is_still_set_up():
    """`import jax` (or keras, optax) starts no backend: XLA reads its flags later."""
    out = run("import jax, os\nimport statecarry\nprint(len(jax.devices()))\n" + FIT + "print(len(late))")
    assert out[:2] == [str(os.cpu_count()), "0"]


def test_jax_started_first_is_one_warning_naming_the_fix():
    out = run("import jax\njax.devices()\n" + FIT + "print(len(late)); print(late[0] if late else '')")
    assert out[0] == "1"  # once a process, not once a fit
    assert "import statecarry before anything that starts JAX" in out[1] and "use_cpu_cores()" in out[1]
    assert "on 1 device(s)" in out[1] and "STATECARRY_XLA=defaults" in out[1]


def test_jax_started_first_with_the_users_own_flags_is_quiet():
    out = run("import jax\nprint(len(jax.devices()))\n" + FIT + "print(len(late))",
              XLA_FLAGS="--xla_force_host_platform_device_count=3")  # fmt: skip
    assert out[:2] == ["3", "0"]


def test_a_misspelled_opt_out_is_one_warning_and_changes_nothing():
    code = ("import os, warnings\nwarnings.simplefilter('always')\nimport statecarry\n"
            "print(os.environ['XLA_FLAGS'].count('device_count'))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if k not in CLEARED}, "STATECARRY_XLA": "off"})  # fmt: skip
    assert proc.stdout.strip() == "1"
    assert proc.stderr.count("STATECARRY_XLA='off' is not a setting") == 1


def test_statecarry_xla_defaults_leaves_xla_alone_and_quiet():
    code = "import os\n" + FIT + "print(os.environ.get('XLA_FLAGS')); print(len(late))"
    assert run(code, STATECARRY_XLA="defaults")[:2] == ["None", "0"]


def test_jaxlib_version_read_from_the_wheel_agrees_with_importlib_metadata():
    from statecarry.core import xla

    assert xla.jaxlib_version() == tuple(int(p) for p in version("jaxlib").split(".")[:2])


BLOG = """
import json
from statecarry.core import runtime
runtime.use_cpu_cores(2, small_steps={small})
import os
from statecarry.experiments import blog
from statecarry.experiments.config import Config
history = blog.run(Config(task="prev-batch", mode="{mode}", horizon={horizon}, shuffle={shuffle}, epochs=2, n_train=64, n_test=32),
                   list(range(20)))
print(json.dumps({{k: v.tolist() for k, v in history.metrics.items()}}))
print(os.environ["XLA_FLAGS"])
"""


@pytest.mark.parametrize(("mode", "horizon", "shuffle"), [("stateful", 1, False), ("stateless", 1, True), ("stateful", 3, False)])
def test_whole_epochs_as_one_kernel_give_the_same_bits(mode, horizon, shuffle):
    """`small_steps` changes how XLA schedules the loops (one kernel for a whole epoch), never
    what they compute: every seed's history is the same to the bit. (Not so for RTRL, whose
    sums come out in another order: `small_steps` leaves it out.)"""
    code = BLOG.format(small="{small}", mode=mode, horizon=horizon, shuffle=shuffle)
    alone, whole = (run(code.replace("{small}", str(small))) for small in (False, True))
    assert f"byte_threshold={xla.SMALL_LOOP_BYTES}" in alone[1]
    assert f"byte_threshold={xla.EPOCH_LOOP_BYTES}" in whole[1]
    assert json.loads(alone[0]) == json.loads(whole[0])


@pytest.mark.parametrize(("cell", "units", "batch", "seeds", "small"), [
    ("lstm", 3, 4, 1024, True),  # the blog's: 64 lanes x 4 rows x 12 gates = 3,072 a step
    ("lstm", 3, 1, 1, True),  # one seed still fills 16 lanes
    ("gru", 1, 64, 1, True),  # 16 lanes x 64 rows x 3 gates = 3,072
    ("lstm", 8, 256, 1, False),  # 8,192: 1.44x slower
    ("lstm", 3, 64, 64, False),  # the lanes at batch 64: 1.40x slower
    ("lstm", 4, 4, 64, False),  # seeds first (no lanes): not known to keep its bits
    ("gru", 16, 256, 64, True),  # dots: XLA never compiles its loops whole
])
def test_small_steps_follows_the_measured_boundary(cell, units, batch, seeds, small):
    from statecarry.core import runtime
    from statecarry.core.spec import Model, Train

    model = Model(cell=cell, units=units, head="linear", features=1, outputs=1)
    assert runtime.small_steps(model, Train(mode="stateful"), batch, seeds) is small
    assert not runtime.small_steps(model, Train(mode="rtrl"), batch, seeds) or runtime.has_dots(model)


def run_flags(tmp_path, *flags: str) -> str:
    """XLA_FLAGS after `statecarry run first-step` (1 seed, 1 epoch, `flags`) in a fresh
    interpreter, which must have run to the end."""
    code = ("import sys, os\nfrom statecarry.cli import cli\n"
            "try:\n    cli.main(sys.argv[1:], prog_name='statecarry')\nexcept SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\n"
            "print(os.environ['XLA_FLAGS'])")  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if k not in CLEARED}
    proc = subprocess.run([sys.executable, "-c", code, "run", "first-step", "--seeds", "1", "--epochs", "1",
                           "--no-store", "-q", *flags], capture_output=True, text=True, timeout=300,
                          env={**clean, "STATECARRY_HOME": str(tmp_path)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split("\n")[-2]


def test_the_cli_compiles_whole_epochs_only_for_small_steps(tmp_path):
    """`statecarry run` sets the limit from its config before JAX starts."""
    big = ["--units", "8", "--batch-size", "256", "--n-train", "512", "--n-test", "256"]  # 8,192 a step
    for flags, limit in ((["--units", "3"], xla.EPOCH_LOOP_BYTES), (big, xla.SMALL_LOOP_BYTES)):
        assert f"byte_threshold={limit}" in run_flags(tmp_path, *flags)


def test_a_child_process_can_change_what_its_parents_import_set():
    """XLA_FLAGS is inherited; the parent's statecarry flags stay statecarry's in the child."""
    child = "from statecarry.core import runtime; runtime.use_cpu_cores(1); import jax; print(len(jax.devices()))"
    code = f"import statecarry, subprocess, sys\nprint(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True).stdout.strip())"
    assert run(code)[0] == "1"


def test_a_model_with_dots_takes_small_steps_only_where_its_dots_are_fusions(monkeypatch):
    from statecarry.core import runtime
    from statecarry.core.spec import Model, Train

    model = Model(units=256, head="linear", features=1, outputs=1)
    assert runtime.small_steps(model, Train(), 32, 1) is bool(runtime.dot_options(model))
    monkeypatch.setattr(runtime, "dot_options", lambda m: {})  # jaxlib < 0.10: plain dots
    assert runtime.small_steps(model, Train(), 32, 1) is False


NEW_JAXLIB = pytest.mark.skipif(xla.jaxlib_version() < (0, 10), reason="big steps need jaxlib 0.10+")


@NEW_JAXLIB
@pytest.mark.parametrize(("cell", "units", "mode", "big"), [
    ("lstm", 256, "stateful", True),  # the char model's
    ("gru", 32, "stateless", True),
    ("lstm", 3, "stateful", False),  # the blog's: no matrix products (30x slower with it)
    ("lstm", 8, "stateful", False),  # 8 x 32 = 256 multiply-adds: still written out
    ("lstm", 64, "uoro", False),  # forward-mode products: 1.45x slower with it
    ("lstm", 32, "rtrl", False),
])
def test_big_steps_are_models_with_dots_in_the_modes_of_kernel_grads(cell, units, mode, big):
    from statecarry.core import runtime
    from statecarry.core.spec import Model, Train

    model = Model(cell=cell, units=units, head="linear", features=1, outputs=1)
    assert runtime.big_steps(model, Train(mode=mode)) is big


@NEW_JAXLIB
def test_the_cli_fuses_sibling_outputs_only_for_big_steps(tmp_path):
    """`statecarry run` turns XLA's multi-output fusion on for a model with matrix products
    alone (`runtime.big_steps`; `statecarry train` below)."""
    for units, fused in (("3", False), ("32", True)):
        flags = run_flags(tmp_path, "--units", units, "--n-train", "64", "--n-test", "32")
        assert (xla.MULTI_OUTPUT_FUSION in flags) is fused


BIG = """
import json, warnings
import numpy as np
from statecarry.core import runtime
runtime.use_cpu_cores(2, big_steps={big})
import statecarry as sc
x = np.sin(np.arange(3000) / 9).astype(np.float32)[:, None] * np.array([1.0, 0.5], np.float32)
data = sc.from_series(x, batch_size=8, time_steps=16, target=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fit = sc.fit(data, sc.Model(cell="{cell}", units={units}, head="linear"),
                 sc.Train(mode="stateful", horizon=2, epochs=2, learning_rate=3e-3), seeds=2, test=data)
print(json.dumps(fit.metrics["test_loss"].tolist()))
print(json.dumps([f"{{w.filename}}: {{w.message}}" for w in caught if issubclass(w.category, RuntimeWarning)]))
from statecarry.core import xla
print(xla.set_up_for_big_steps())
"""


@NEW_JAXLIB
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_big_steps_change_the_schedule_not_the_numbers(cell):
    """Multi-output fusion computes sibling fusions as one task: the same arithmetic, so each
    seed's losses agree to float32 rounding (summed in another order: not always to the bit)."""
    plain, fused = (run(BIG.format(big=big, cell=cell, units=32)) for big in (False, True))
    assert (plain[2], fused[2]) == ("False", "True")
    assert json.loads(plain[1]) == json.loads(fused[1]) == []
    a, b = (np.array(json.loads(out[0])) for out in (plain, fused))
    np.testing.assert_allclose(b, a, rtol=2e-5)


@NEW_JAXLIB
def test_a_small_model_in_a_process_set_up_for_big_steps_is_one_warning_at_the_users_line():
    out = run(BIG.format(big=True, cell="lstm", units=3))
    (message,) = json.loads(out[1])
    assert message.startswith("<string>: ")  # the script's own line, not statecarry's
    assert "set XLA up for big models" in message and "LSTM(3) does not" in message and "without big_steps" in message


@NEW_JAXLIB
def test_an_online_mode_in_a_process_set_up_for_big_steps_is_one_warning():
    code = BIG.format(big=True, cell="lstm", units=32).replace('mode="stateful", horizon=2', 'mode="uoro"')
    (message,) = json.loads(run(code)[1])
    assert "LSTM(32) in mode 'uoro' does not take big steps" in message


@pytest.mark.parametrize(("flags", "big"), [
    (["--units", "4"], False),
    (["--units", "64"], True),
    (["--units", "64", "--mode", "rtrl"], False),
    (["--units", "64", "--layout", "windows"], True),  # stateless
])
def test_train_sets_xla_up_from_the_model_it_was_given(monkeypatch, tmp_path, flags, big):
    """`statecarry train` decides `big_steps` from its flags before JAX starts (in-process
    here: `_engine` is stopped before it sets anything)."""
    from click.testing import CliRunner

    from statecarry.cli import cli, owndata

    seen = []

    def engine(small_steps=False, big_steps=False):
        seen.append(big_steps)
        raise SystemExit(0)

    monkeypatch.setattr(owndata, "_engine", engine)
    table = tmp_path / "t.csv"
    table.write_text("y\n" + "\n".join(str(np.sin(i / 5)) for i in range(200)) + "\n")
    result = CliRunner().invoke(cli, ["train", str(table), "--target", "y", "--seeds", "1", *flags,
                                      "-o", str(tmp_path / "m.safetensors")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen == [big]
