"""`statecarry reproduce` with the store: --resume reuses stored runs instead of training."""

import json

from click.testing import CliRunner

from statecarry import store
from statecarry.cli import cli
from statecarry.experiments import blog

ARGS = ["reproduce", "--claims", "3", "--seeds", "2", "--no-report", "--json", "--quiet"]


def test_resume_reuses_the_stored_runs_and_gives_the_same_verdicts(monkeypatch):
    first = CliRunner().invoke(cli, ARGS)
    assert first.exit_code == 0, first.output
    with store.open_store() as db:
        children = db.children(json.loads(first.stdout)["run_id"])
    assert len(children) >= 4  # the four blog experiments and claim 3's runs, one child each

    calls = []
    real = blog.run
    monkeypatch.setattr(blog, "run", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    again = CliRunner().invoke(cli, ARGS + ["--resume"])
    assert again.exit_code == 0, again.output
    assert calls == []  # nothing trained again
    def claims(out):
        return [(c["id"], c["verdict"], c["measured"]) for c in json.loads(out)["claims"]]

    assert claims(again.stdout) == claims(first.stdout)
    # the resumed run holds a copy of every unit it answered from the store: its children are
    # the first run's, so deleting the first run (and its children) loses nothing of it
    first_id, again_id = json.loads(first.stdout)["run_id"], json.loads(again.stdout)["run_id"]
    with store.open_store() as db:
        before = {(c.kind, c.config_hash, tuple(c.seeds)): db.get_run(c.id) for c in db.children(first_id)}
        db.delete_run(first_id)
        after = db.children(again_id)
        copies = {(c.kind, c.config_hash, tuple(c.seeds)): db.get_run(c.id) for c in after}
    assert copies.keys() == before.keys() and len(after) == len(before)
    for key, copy in copies.items():
        assert copy.result["copied_from"] == before[key].id and copy.status == "done"
        assert copy.metrics == before[key].metrics and copy.epochs == before[key].epochs > 0


def test_reproduce_writes_a_report_by_default(tmp_path):
    path = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["reproduce", "--claims", "3", "--seeds", "2", "--quiet", "--no-store", "-o", str(path)])
    assert result.exit_code == 0, result.output
    html = path.read_text()
    assert "Neither stateless nor stateful learns prev-batch" in html


def test_resume_still_trains_what_a_stored_run_cannot_answer():
    """Claim 13 needs the trained parameters and claim 14 epoch timings: a stored run has
    neither, so --resume must train them again instead of failing."""
    args = ["reproduce", "--claims", "13,14", "--seeds", "2", "--no-report", "--json", "--quiet"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, args + ["--resume"])
    assert again.exit_code == 0, again.output
    def verdicts(out):
        return [c["verdict"] for c in json.loads(out)["claims"]]

    assert verdicts(again.stdout)[0] == verdicts(first.stdout)[0]
