"""Progress by elapsed time: a slow step shows a sign of life whatever its item count."""

from __future__ import annotations

import threading

import pytest

from curate import progress as progress_mod
from curate.embed import estimate_seconds, slow_model_notice
from curate.progress import Progress


def test_a_slow_step_with_few_items_prints_plain_lines_off_a_terminal(monkeypatch, capsys):
    # 999 items used to be "too few for a bar" (the run went silent for minutes).
    monkeypatch.setattr(progress_mod, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress_mod, "PLAIN_EVERY", 0.01)
    started = threading.Event()
    with Progress("embed (minilm)", 999) as bar:
        bar.advance(500)
        # Wait until the watcher has written at least one line (no timing assertion).
        for _ in range(6000):  # up to a minute on a loaded machine
            if "500/999" in capsys.readouterr().err:
                started.set()
                break
            threading.Event().wait(0.01)
        bar.advance(499)
    err = capsys.readouterr().err
    assert started.is_set()
    assert "curate: embed (minilm): 999/999 (100%)" in err and err.rstrip().endswith("finished")


def test_a_step_of_unknown_length_is_a_heartbeat(monkeypatch, capsys):
    monkeypatch.setattr(progress_mod, "SHOW_AFTER", 0.0)
    with Progress("audit", None):
        pass
    assert "curate: audit: running" in capsys.readouterr().err


def test_quick_or_disabled_steps_print_nothing(monkeypatch, capsys):
    # "Quick" = ends before SHOW_AFTER; a long SHOW_AFTER keeps this independent of load.
    monkeypatch.setattr(progress_mod, "SHOW_AFTER", 3600.0)
    with Progress("near: minhash", 10_000_000) as bar:  # many items, but done at once
        bar.advance(10_000_000)
    with Progress("off", 5, enabled=False) as bar:
        bar.advance(5)
    assert capsys.readouterr().err == ""


def test_rich_bar_on_a_terminal(monkeypatch):
    monkeypatch.setattr(progress_mod, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress_mod, "_tty", lambda: True)
    with Progress("outer", 4) as outer:
        for _ in range(6000):  # until the watcher thread has put the bar up (<= 1 min)
            if outer._rich is not None:
                break
            threading.Event().wait(0.01)
        assert outer._rich is not None and outer._own
        with Progress("inner", 2) as inner:  # nested: a second row of the same display
            for _ in range(6000):  # up to a minute on a loaded machine
                if inner._rich is not None:
                    break
                threading.Event().wait(0.01)
            assert inner._rich is outer._rich and not inner._own
            inner.advance(2)
        outer.advance(4)
        assert outer._rich.tasks[0].completed == 4
    assert progress_mod._shown == []


def test_slow_model_runs_are_announced_with_an_estimate_and_the_switch():
    long_texts = ["word " * 400] * 20_000  # ~20k texts at MiniLM's 256-token cap
    assert estimate_seconds(long_texts) > 180
    notice = slow_model_notice(long_texts, "all-MiniLM-L6-v2")
    assert notice is not None
    assert "20,000 texts with all-MiniLM-L6-v2" in notice and "--model fast" in notice
    assert slow_model_notice(["a short text"] * 100, "all-MiniLM-L6-v2") is None


@pytest.mark.parametrize("model", [None, "fast", "default"])
def test_the_default_model_is_the_static_one(model):
    from curate.dedup import DedupConfig
    from curate.embed import StaticEmbedder, get_embedder, is_static_model

    assert is_static_model(model)
    assert isinstance(get_embedder(model, cache_dir=False), StaticEmbedder)
    assert DedupConfig(model=model).semantic_settings() == (0.90, True)
    assert not is_static_model("minilm")
