"""Progress on stderr: a tqdm bar with rate and time left on a terminal, a few plain lines when
piped, nothing with -q."""

import io

from statecarry.cli import _progressbar


class Stderr(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def run(monkeypatch, tty: bool, quiet: bool = False) -> str:
    err = Stderr(tty)
    monkeypatch.setattr(_progressbar.sys, "stderr", err)
    monkeypatch.setattr(_progressbar.click, "echo", lambda m="", nl=True, **_: err.write(m + "\n" * nl))
    monkeypatch.setattr(_progressbar, "PROGRESS_AFTER_SECONDS", 0.0)
    report = _progressbar.progress(quiet)
    if report is None:
        return ""
    report("compile", 0, 1)
    for done in range(1, 101):
        report("train", done, 100)
    return err.getvalue()


def test_piped_progress_is_a_few_plain_lines(monkeypatch):
    lines = run(monkeypatch, tty=False).splitlines()
    assert [line.split(" (")[0] for line in lines] == ["train 25/100", "train 50/100", "train 75/100", "train 100/100"]


def test_a_terminal_gets_a_bar_with_rate_and_time_left(monkeypatch):
    out = run(monkeypatch, tty=True)
    assert "train: 100%" in out and "100/100" in out and "step/s" in out and "<" in out


def test_quiet_prints_nothing(monkeypatch):
    assert run(monkeypatch, tty=True, quiet=True) == ""


def test_piped_progress_says_something_at_least_once_a_minute(monkeypatch):
    """A 100,000-epoch train piped to a file printed nothing for 10 minutes (its first quarter)."""
    clock = iter(range(0, 100_000, 7))  # each call to the clock: 7 s later
    monkeypatch.setattr(_progressbar.time, "perf_counter", lambda: float(next(clock)))
    lines = run(monkeypatch, tty=False).splitlines()
    seconds = [int(line.split("(")[1].split(" s")[0]) for line in lines]
    assert all(b - a <= _progressbar.PIPED_EVERY_SECONDS + 14 for a, b in zip(seconds, seconds[1:])), seconds
    assert "train 25/100" in [line.split(" (")[0] for line in lines] and len(lines) < 100 // 4


def test_short_piped_work_says_nothing_even_when_it_ends(monkeypatch):
    err = Stderr(False)
    monkeypatch.setattr(_progressbar.sys, "stderr", err)
    monkeypatch.setattr(_progressbar.click, "echo", lambda m="", nl=True, **_: err.write(m + "\n" * nl))
    report = _progressbar.progress(False)  # PROGRESS_AFTER_SECONDS as shipped: 2 s
    for done in range(1, 9):
        report("train", done, 8)
    assert err.getvalue() == ""
