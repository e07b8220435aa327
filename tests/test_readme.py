"""The README's Python example runs as printed, and prints what the README says it prints."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"


def api_example() -> tuple[str, str]:
    """The code block of the README's API section and the sentence that gives its output."""
    text = README.read_text()
    section = text.split("<!-- section: api -->")[1].split("<!-- section:")[0]
    code = section.split("```python\n")[1].split("```")[0]
    return code, section


def test_the_api_example_runs_and_prints_what_the_readme_says(tmp_path):
    code, section = api_example()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    model_line, rmse_line = done.stdout.strip().splitlines()[-2:]
    assert f"`{model_line}`" in section
    said = re.search(r"`test RMSE ([\d.]+) ppmv ± ([\d.]+) over 8 seeds`", section)
    got = re.fullmatch(r"test RMSE ([\d.]+) ppmv ± ([\d.]+) over 8 seeds", rmse_line)
    assert said and got, rmse_line
    # the same config and seeds give the same numbers on the same machine; elsewhere XLA may
    # fuse differently, so allow a little
    assert abs(float(got[1]) - float(said[1])) < 0.02
    assert (tmp_path / "co2-gru.safetensors").stat().st_size > 0


def blocks_starting(first_line: str) -> list[str]:
    text = README.read_text()
    return [b.split("```")[0] for b in text.split("```python\n")[1:] if b.startswith(first_line)]


def test_the_pack_and_any_batch_size_examples_run_as_printed(tmp_path):
    """Each block runs alone, imports included (the pack block once needed the API's imports,
    the inference block was a fragment of undefined names)."""
    (pack_block,) = [b for b in blocks_starting("import numpy as np\nfrom statecarry import check_layout, pack")]
    (serve_block,) = [b for b in blocks_starting("import numpy as np\nimport statecarry as sc\n\nseries =")]
    check = "\nassert pred.shape == (1, 1, 500, 1) and more.shape == (1, 1, 300, 1) and path.shape == (24, 1)\n"
    for code in (pack_block, serve_block + check):
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]


def test_the_keras_example_runs_after_the_inference_example(tmp_path):
    """The Keras block continues the inference block's model; its `km(x)` once took that
    block's x, one stream of 800 steps, which a Keras model built for batch 4 refuses."""
    pytest.importorskip("keras")
    (serve_block,) = blocks_starting("import numpy as np\nimport statecarry as sc\n\nseries =")
    (keras_block,) = blocks_starting("import numpy as np\nimport statecarry as sc\n\nkm = ")
    # km is stateful: this second call continues the block's first, as a stream of x then x does
    check = ("\ntwice = sc.predict(params, np.concatenate([x, x], axis=1), model)[0][0]\n"
             "assert abs(np.asarray(km(x)) - twice[:, -1]).max() < 1e-5\n")
    done = subprocess.run([sys.executable, "-c", serve_block + keras_block + check], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=os.environ | {"KERAS_BACKEND": "jax"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_tokens_example_reads_ids_and_learns_below_uniform(tmp_path):
    (block,) = blocks_starting("import numpy as np\nimport statecarry as sc\nfrom pydoc_data")
    check = ("\nassert fit.model.features == len(chars) and fit.model.inputs == 'tokens'\n"
             "bits = fit.metrics['train_loss'][-1] / np.log(2)\nassert (bits < np.log2(len(chars)) - 2).all(), bits\n")
    done = subprocess.run([sys.executable, "-c", block + check], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    said = re.search(r"This prints `92 \[([\d.]+) ([\d.]+)\]`", README.read_text())
    got = re.search(r"^(\d+) \[([\d.]+) ([\d.]+)\]$", done.stdout, re.M)
    assert said and got, done.stdout
    if got[1] != "92":
        pytest.skip(f"this Python's pydoc_data text has {got[1]} characters; the README's numbers are Python 3.11's")
    got = got.groups()[1:]
    assert abs(float(got[0]) - float(said[1])) < 0.05  # XLA may fuse differently elsewhere


def test_the_from_samples_example_prints_what_the_readme_says(tmp_path):
    """Sequence classification: `predict` (with the Train) scores what `fit` reported."""
    (block,) = blocks_starting("import numpy as np\nimport statecarry as sc\n\nrng = ")
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    accs, last = done.stdout.strip().splitlines()[-2:]
    said = re.search(r"This prints `(\[[\d. ]+\])` and `(\(4, 32, 20, 1\) [\d.]+)`", README.read_text())
    assert said, "the README's sentence about the example's output"
    got = [float(a) for a in accs.strip("[]").split()]
    assert min(got) > 0.85  # an easy task: every seed learns it
    assert float(last.split()[-1]) == got[0]  # the oracle: predict's own accuracy on the test set
    assert last.startswith("(4, 32, 20, 1) ")
    expected = [float(a) for a in said[1].strip("[]").split()]
    assert max(abs(a - b) for a, b in zip(got, expected)) <= 2 / 128  # other machines may fuse otherwise


def test_the_cli_tokens_example_reads_ids_and_beats_the_commonest_character(tmp_path):
    """The `--inputs tokens` block as a user pastes it (`statecarry` as `python -m statecarry`)."""
    text = README.read_text()
    start = text.index('python -c "from pydoc_data.topics import topics; t = ')
    lines = text[start : text.index("```", start)].replace("\\\n", " ").strip().splitlines()
    make, train = lines
    subprocess.run(["bash", "-c", make.replace("python", shlex.quote(sys.executable), 1)], cwd=tmp_path, check=True, timeout=120)
    argv = [sys.executable, "-m", "statecarry", *shlex.split(train)[1:], "--no-store"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    said = re.search(r"It says `(target ch, [^`]+)`", text)[1].replace("\n", " ")
    assert said in done.stdout.replace("\n", " "), done.stdout
    acc = float(re.search(r"saved seed 0 \(test acc ([\d.]+)\)", done.stdout)[1])
    assert acc > 0.3, acc  # the commonest character alone: 0.19
