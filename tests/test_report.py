"""The HTML report: what its figures draw, that the page stands alone, and that a real browser
renders it (Debian's chromium, headless; skipped with a message where it is not installed)."""

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from statecarry import report, store
from statecarry.cli import cli
from statecarry.data.layout import from_samples
from statecarry.experiments.blog import History
from statecarry.experiments.config import Config

CHROMIUM = "/usr/bin/chromium"
METRICS = ("train_loss", "train_acc", "train_known_acc", "test_loss", "test_acc", "test_known_acc")


def fake_history(seed=0, epochs=4, seeds=5, **config):
    """A History with known numbers (no training: the report only reads them)."""
    rng = np.random.default_rng(seed)
    metrics = {m: rng.random((epochs, seeds)).astype(np.float32) for m in METRICS}
    return History(Config(**config), list(range(seeds)), metrics)


def fake_run(run_id, seed=0, **config):
    return report.history_run(fake_history(seed, **config), run_id=run_id)


CLAIMS = {
    "claims": [
        {
            "id": 1,
            "claim": "Stateless learns first-step in 1–2 epochs.",
            "source": "blog",
            "setup": "first-step, stateless",
            "measured": 0.998,
            "ci": [0.99, 1.0],
            "verdict": "confirmed",
        },
        {
            "id": 2,
            "claim": "Stateful hinders learning <b>first-step</b>.",
            "source": "blog",
            "setup": "first-step",
            "measured": {"stateful": 0.66, "stateless": 1.0},
            "ci": {"low": -0.4, "high": -0.3},
            "verdict": "confirmed",
        },
        {
            "id": 8,
            "claim": "Batch size must be 1.",
            "source": "Q&A",
            "setup": "batch 1 vs 4",
            "measured": "no difference",
            "verdict": "refuted",
        },
    ]
}


def reproduce_runs():
    parent = {
        "id": 10,
        "kind": "reproduce",
        "config": {},
        "seeds": [],
        "epochs": [],
        "status": "done",
        "result": CLAIMS,
    }
    return [
        parent,
        fake_run(11, 1, task="first-step", mode="stateless"),
        fake_run(12, 2, task="first-step", mode="stateful"),
        fake_run(13, 3, task="prev-batch", mode="stateful", horizon=2, marker=True),
    ]


class Page(HTMLParser):
    """The parts of the page the tests look at."""

    def __init__(self, text):
        super().__init__()
        self.imgs, self.urls, self.table, self.claim_rows = [], [], None, 0
        self.tbody = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs["src"])
        for key in ("src", "href"):
            if attrs.get(key):
                self.urls.append(attrs[key])
        if tag == "table":
            self.table = attrs.get("class")
        if tag == "tbody":
            self.tbody = True
        if tag == "tr" and self.tbody and self.table == "claims":
            self.claim_rows += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.tbody = False


# -- the layout picture's content ---------------------------------------------------------------
@pytest.mark.parametrize("batch_size, n_train", [(4, 1024), (1, 16), (32, 1024), (3, 9)])
def test_layout_cells_hold_the_samples_that_from_samples_puts_there(batch_size, n_train):
    # Oracle: the real layout code, fed sample n's own index as its input.
    n = np.arange(n_train, dtype=np.float32)
    batches = from_samples(np.broadcast_to(n[:, None, None], (n_train, 2, 1)), n, batch_size)
    plan = report.layout_plan({"batch_size": batch_size, "n_train": n_train, "mode": "stateful"})
    assert plan["cells"], "the picture shows no samples"
    for (k, row), sample in plan["cells"].items():
        assert batches.x[k, row, 0, 0] == sample
    shown_rows = [r for r in plan["rows"] if r is not None]
    assert len(plan["rows"]) <= report.MAX_ROWS_SHOWN and shown_rows[-1] == batch_size - 1


@pytest.mark.parametrize(
    "mode, horizon, reset, first_reached, carried, across_epoch",
    [
        ("stateless", 1, "epoch", "target", False, False),  # each batch alone
        (
            "stateful",
            1,
            "epoch",
            "target",
            True,
            False,
        ),  # Keras: the gradient stops at the boundary
        ("stateful", 2, "never", "target-1", True, True),
        ("stateful", 8, "epoch", "target-7", True, False),
        ("rtrl", 1, "epoch", 0, True, False),  # all since the reset at the epoch start
        ("rtrl", 1, "never", None, True, True),  # all since training began
    ],
)
def test_layout_gradient_reach_and_carry_follow_the_mode(
    mode, horizon, reset, first_reached, carried, across_epoch
):
    plan = report.layout_plan(
        {"batch_size": 4, "n_train": 1024, "mode": mode, "horizon": horizon, "reset": reset}
    )
    t = plan["target"]
    expected = {"target": t, "target-1": t - 1, "target-7": t - 7}.get(first_reached, first_reached)
    assert plan["window"] == expected
    assert plan["carry"] is carried and plan["carry_across_epoch"] is across_epoch
    shown = [c[2] for c in plan["columns"] if c[0] == "batch" and c[1] == 0]
    assert t in shown


def test_layout_figure_draws_one_arrow_per_row_and_boundary_only_when_state_is_carried():
    from matplotlib.patches import FancyArrowPatch

    def arrows(**config):
        fig = report.layout_figure({"batch_size": 3, "n_train": 9, "time_steps": 5} | config)
        return sum(isinstance(p, FancyArrowPatch) for p in fig.axes[0].patches)

    # 3 batches per epoch: 2 boundaries inside the epoch, 1 across it; 3 rows each.
    assert arrows(mode="stateless") == 0
    assert arrows(mode="stateful", reset="epoch") == 2 * 3
    assert arrows(mode="stateful", reset="never") == 3 * 3


# -- the learning curves ------------------------------------------------------------------------
def test_curves_draw_the_median_and_quartiles_over_seeds():
    run = fake_run(1, seed=4)
    fig = report.curves_figure([run])
    for ax, (name, _) in zip(fig.axes, report.CURVES):
        values = np.array([e[name] for e in run["epochs"]])  # (epochs, seeds)
        np.testing.assert_allclose(ax.lines[0].get_ydata(), np.median(values, axis=1), rtol=1e-6)
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert np.isclose(band.min(), np.percentile(values, 25, axis=1).min(), rtol=1e-6)
        assert np.isclose(band.max(), np.percentile(values, 75, axis=1).max(), rtol=1e-6)


# -- the page -----------------------------------------------------------------------------------
def test_page_is_self_contained_and_has_one_row_per_claim(tmp_path):
    path = report.write_report(reproduce_runs(), tmp_path / "r.html")
    text = path.read_text()
    page = Page(text)
    assert page.claim_rows == len(CLAIMS["claims"])
    # 2 task groups of curves + 2 distinct layouts (the first-step stateful and prev-batch
    # horizon-2 runs differ in horizon; stateless differs in mode) = 2 + 3 figures.
    assert len(page.imgs) == 5
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(u.startswith("data:") for u in page.urls)
    assert not re.search(r"https?://", text)
    assert "hinders learning &lt;b&gt;first-step&lt;/b&gt;" in text  # a claim is text, not markup
    assert "[-0.4, -0.3]" in text and "confirmed" in text and "refuted" in text


def test_a_forecast_run_gets_its_models_table_best_one_step_mase_first():
    from scipy import stats as scipy_stats

    def model(name, mase, rmse):
        return {"model": name, "series": "differenced", "mase_per_seed": {"1": mase, "2": [9.0]},
                "one_step_rmse": {"mean": rmse, "low": None, "high": None, "n": 1},
                "recursive_rmse": None}  # fmt: skip

    run = {"id": 4, "kind": "forecast", "task": "forecast s.csv", "config": {}, "epochs": [],
           "result": {"series": "s.csv <b>", "held_out": 30, "recursive_steps": 24,
                      "models": [model("LSTM", [0.5, 0.7, 0.9], 1.5), model("naive", [0.6], 2.0)]}}  # fmt: skip
    text = report.render([run])
    section = text[text.index("<h2>Forecast: s.csv &lt;b&gt;</h2>"):]
    section = section[: section.index("</section>")]
    rows = re.findall(r"<tr><td>(.*?)</td>", section)
    assert rows == ["naive", "LSTM"]  # 0.6 < 0.7: one-step MASE decides the order
    half = scipy_stats.t.ppf(0.975, 2) * np.std([0.5, 0.7, 0.9], ddof=1) / np.sqrt(3)
    assert f"0.700 <span class=ci>[{0.7 - half:.3f}, {0.7 + half:.3f}]</span>" in section
    assert "2.000 <span class=ci>" in section and "recursive RMSE (24 steps)" in section
    assert "30 held-out origins" in section


def test_report_of_an_empty_list_says_what_to_do():
    from statecarry import StatecarryError

    with pytest.raises(StatecarryError, match="no runs"):
        report.render([])


def test_equivalent_command_repeats_the_config():
    run = fake_run(
        3, task="prev-batch", mode="stateful", horizon=2, marker=True, learning_rate=0.01
    )
    command = report.equivalent_command(run)
    assert command == "statecarry run prev-batch --marker --horizon 2 --lr 0.01 --seeds 5"
    sweep = fake_run(4, task="prev-batch", horizon=2) | {"kind": "sweep"}
    sweep["config"] = sweep["config"] | {"grid": "horizon=1,2 marker=0,1"}
    # a flag beside its own grid key is refused by sweep: the grid's keys are left out
    assert report.equivalent_command(sweep) == 'statecarry sweep prev-batch --grid "horizon=1,2 marker=0,1" --seeds 5'
    one = fake_run(5, task="prev-sample", batch_size=1)  # the task's own batch size: no flag
    assert report.equivalent_command(one) == "statecarry run prev-sample --seeds 5"


# -- from the store and the CLI ---------------------------------------------------------------
def stored_reproduce():
    with store.open_store() as db:
        with store.recording("reproduce", {}, [0, 1], store=db) as parent:
            for mode in ("stateless", "stateful"):
                config = Config(task="first-step", mode=mode, epochs=2)
                with parent.child("run", config.to_dict(), [0, 1]) as child:
                    for e in range(2):
                        child.epoch(e, {m: [0.5 + 0.1 * e, 0.6] for m in METRICS})
            parent.finish(result=CLAIMS)
        return parent.run_id


def test_load_runs_brings_the_children_and_defaults_to_the_latest_run():
    run_id = stored_reproduce()
    runs = report.load_runs([run_id])
    assert [r["kind"] for r in runs] == ["reproduce", "run", "run"]
    assert runs[0]["result"] == CLAIMS
    assert [r["config"]["mode"] for r in runs[1:]] == ["stateless", "stateful"]
    assert runs[1]["epochs"][1]["train_acc"] == [pytest.approx(0.6), pytest.approx(0.6)]
    assert [r["id"] for r in report.load_runs()] == [r["id"] for r in runs]


def test_report_command_writes_the_page_and_refuses_unknown_ids(tmp_path):
    run_id = stored_reproduce()
    out = tmp_path / "page.html"
    result = CliRunner().invoke(cli, ["report", str(run_id), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert Page(out.read_text()).claim_rows == 3
    assert result.stdout.startswith(f"wrote {out} (") and result.stdout.endswith(" KiB)\n")
    quiet = CliRunner().invoke(cli, ["report", str(run_id), "-o", str(tmp_path / "q.html"), "-q"])
    assert quiet.exit_code == 0 and quiet.output == "" and (tmp_path / "q.html").stat().st_size > 0
    missing = CliRunner().invoke(cli, ["report", "999", "-o", str(out)])
    assert missing.exit_code == 2 and "no run 999" in missing.output


def test_report_command_on_an_empty_store_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["report", "-o", str(tmp_path / "x.html")])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and "Traceback" not in result.output


def test_write_reproduce_report_takes_histories_in_memory(tmp_path):
    histories = [("stateless", fake_history(1, mode="stateless")), fake_history(2, mode="stateful")]
    path = report.write_reproduce_report(
        tmp_path / "sub" / "r.html",
        CLAIMS,
        histories,
        run_id=7,
        command="statecarry reproduce --quick",
    )
    text = path.read_text()
    assert Page(text).claim_rows == 3
    words = re.sub(r"<[^>]+>", "", text)
    assert "statecarry reproduce --quick" in words and "run 7" in words
    assert len(Page(text).imgs) == 1 + 2  # one curves figure, two layouts


# -- in a real browser --------------------------------------------------------------------------
def browser_check(path, tmp_path):
    """Load the page in headless chromium; return the marks its inline script sets on load."""
    if not shutil.which(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) "
            "to test the report in a real browser"
        )
    profile = tmp_path / "chromium-profile"
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    mark = re.search(r'<span id="render-check"([^>]*)>', dom)
    assert mark, "the page's script did not run"
    marks = dict(re.findall(r'data-(\w+)="(\d+)"', mark.group(1)))
    return {k: int(v) for k, v in marks.items()}, Page(dom)


def test_every_figure_renders_in_a_real_browser_without_errors(tmp_path):
    path = report.write_report(reproduce_runs(), tmp_path / "r.html")
    marks, dom = browser_check(path, tmp_path)
    assert marks["done"] == 1 and marks["errors"] == 0
    assert marks["images"] == len(Page(path.read_text()).imgs) == 5
    assert marks["rendered"] == marks["images"]
    assert dom.claim_rows == len(CLAIMS["claims"])


def test_the_browser_check_notices_a_broken_figure_and_a_network_fetch(tmp_path):
    text = report.render(reproduce_runs())
    broken = text.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1)
    fetch = text.replace("</main>", '<img src="https://example.com/x.png"></main>')
    (tmp_path / "broken.html").write_text(broken)
    (tmp_path / "fetch.html").write_text(fetch)
    marks, _ = browser_check(tmp_path / "broken.html", tmp_path)
    assert marks["rendered"] == marks["images"] - 1
    marks, _ = browser_check(tmp_path / "fetch.html", tmp_path)
    assert marks["errors"] >= 1  # blocked by the page's Content-Security-Policy, and counted


def test_report_module_does_not_import_jax_or_pyplot():
    code = (
        "import statecarry.report, sys; "
        "print(json.dumps(['jax' in sys.modules, 'matplotlib.pyplot' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [False, False]


# -- the claims table's intervals -----------------------------------------------------------------
def claim_cells(text):
    """The claims table's rows, as lists of cell HTML."""
    body = re.search(r'<table class="claims">.*?<tbody>(.*?)</tbody>', text, re.DOTALL).group(1)
    return [re.findall(r"<td>(.*?)</td>", row, re.DOTALL) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_claims_table_shows_the_interval_each_verdict_was_decided_on():
    from statecarry.experiments import verdicts

    rng = np.random.default_rng(0)

    def arm(low, high, seeds=8):
        return {m: rng.uniform(low, high, (2, seeds)) for m in ("test_acc", "test_known_acc")}

    evidence = {
        "stateless": arm(0.995, 1.0),
        "stateful": arm(0.5, 0.7),
        "one seed a": arm(0.5, 0.7, seeds=1),
        "one seed b": arm(0.5, 0.7, seeds=1),
    }
    rules = [
        verdicts.Differs("stateful", "stateless", expect="less"),  # a paired t interval
        verdicts.OnlyWith("stateless", "stateful"),  # two Wilson intervals, nested
        verdicts.Differs("one seed a", "one seed b", expect="less"),  # no interval from 1 seed
        verdicts.NotYetTested("later"),
    ]
    claims = []
    for i, rule in enumerate(rules, 1):
        v = rule.judge(evidence)
        claims.append({"id": i, "claim": f"claim {i}", "verdict": v.verdict,
                       "measured": v.measured, "numbers": v.numbers})  # fmt: skip
    # What `reproduce` stores: ClaimResult.to_json() through the store's JSON (NaN -> null).
    result = json.loads(store.canonical_json({"claims": claims}))
    parent = {"id": 1, "kind": "reproduce", "config": {}, "seeds": [], "epochs": [],
              "status": "done", "result": result}  # fmt: skip
    cells = [row[5] for row in claim_cells(report.render([parent]))]
    d = result["claims"][0]["numbers"]["difference"]
    assert d["high"] < 0 and cells[0] == f"Δ [{d['low']:+.3f}, {d['high']:+.3f}]"
    with_, without = (result["claims"][1]["numbers"][k]["numbers"]["solved"] for k in ("with", "without"))
    assert cells[1] == (
        f"stateless solved [{with_['low']:.0%}, {with_['high']:.0%}]<br>"
        f"stateful solved [{without['low']:.0%}, {without['high']:.0%}]"
    )
    assert cells[2:] == ["—", "—"]


# -- forecast, train and compare runs (no batch-layout picture: their metrics are RMSE/MAE) ---
def test_report_renders_stored_forecast_train_and_compare_runs(tmp_path):
    """Real runs of each kind, stored by their commands: the page has their recorded metrics at
    the last epoch (checked against the store) and no batch-layout figure, never a crash."""
    path = tmp_path / "wave.csv"
    path.write_text("y\n" + "".join(f"{np.sin(t / 3):.4f}\n" for t in range(60)))
    small = ["--seeds", "2", "--epochs", "1", "--units", "2"]
    commands = {
        "forecast": ["forecast", str(path), *small, "--window", "3", "--horizon", "2",
                     "--batch-size", "4", "--ahead", "5", "--cells", "lstm", "--no-figure"],
        "train": ["train", str(path), *small, "--time-steps", "4", "--batch-size", "2",
                  "-o", str(tmp_path / "m.safetensors")],
        "compare": ["compare", str(path), *small, "--time-steps", "4", "--batch-size", "2",
                    "--no-report"],
    }  # fmt: skip
    for kind, args in commands.items():
        result = CliRunner().invoke(cli, [*args, "-q"])
        assert result.exit_code == 0, (kind, result.output)
        runs = report.load_runs()  # the latest run and its children, as `report` reads them
        assert runs[0]["kind"] == kind
        out = tmp_path / f"{kind}.html"
        result = CliRunner().invoke(cli, ["report", "-o", str(out)])
        assert result.exit_code == 0, (kind, result.output)
        page = out.read_text()
        assert "Batch layout" not in page and "statecarry run " not in page
        trained = [r for r in runs if r["epochs"]]
        assert trained, kind
        metric = "test_rmse" if kind != "forecast" else "train_rmse"
        header = re.findall(r"<th>([^<]*)</th>", page.split('class="runs"')[1].split("</thead>")[0])
        column = header.index(metric.replace("_", " "))
        body = page.split('class="runs"')[1].split("</tbody>")[0]
        for run, row in zip(trained, re.findall(r"<tr>(.*?)</tr>", body)[1:]):
            cells = re.findall(r"<td>(.*?)</td>", row)
            assert cells[0] == str(run["id"])
            mean = np.mean(run["epochs"][-1][metric])
            assert cells[column].startswith(f"{mean:.3f}"), (kind, cells[column], mean)


def test_the_runs_table_names_the_settings_runs_differ_in_that_no_column_shows():
    """A sweep over units: its runs all read "stateful" in the setup column."""
    from statecarry.report.tables import summary_section

    runs = [fake_run(i, task="prev-batch", units=u, horizon=h) for i, (u, h) in enumerate([(3, 1), (4, 1), (3, 2)])]
    cells = [re.findall(r"<td>(.*?)</td>", row)[2] for row in re.findall(r"<tr>(.*?)</tr>", summary_section(runs))[1:]]
    assert cells == ["stateful, units=3", "stateful, units=4", "stateful, horizon 2, units=3"]
    same = [fake_run(i, task="prev-batch", units=3) for i in range(2)]
    assert [re.findall(r"<td>(.*?)</td>", row)[2] for row in re.findall(r"<tr>(.*?)</tr>", summary_section(same))[1:]] \
        == ["stateful", "stateful"]  # fmt: skip
    older = [fake_run(0, task="prev-batch", units=3), fake_run(1, task="prev-batch", units=4)]
    del older[0]["config"]["units"]  # a key a run from before it was added lacks: no "units=None"
    assert [re.findall(r"<td>(.*?)</td>", row)[2] for row in re.findall(r"<tr>(.*?)</tr>", summary_section(older))[1:]] \
        == ["stateful", "stateful, units=4"]  # fmt: skip
