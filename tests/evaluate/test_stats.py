"""Sign test, Wilson interval and verdict arithmetic against known values."""

from __future__ import annotations

import math

import pytest

from curate.evaluate.stats import Tally, exact_sign_test, format_p, sign_test, wilson_interval


@pytest.mark.parametrize(
    ("wins", "losses", "p"),
    [
        (41, 9, 5.614100093254137e-06),  # 2 * sum_{i<=9} C(50, i) / 2^50
        (15, 5, 0.04138946533203125),  # 2 * 1 / 2^20 * sum_{i<=5} C(20, i)
        (7, 1, 0.0703125),  # 2 * (1 + 8) / 256
        (5, 0, 0.0625),  # 2 / 32
        (6, 0, 0.03125),
        (10, 10, 1.0),
        (0, 0, 1.0),
    ],
)
def test_sign_test_known_values(wins, losses, p):
    assert exact_sign_test(wins, losses) == pytest.approx(p, rel=1e-12)
    assert sign_test(wins, losses) == pytest.approx(p, rel=1e-9)  # scipy, when installed
    assert exact_sign_test(losses, wins) == exact_sign_test(wins, losses)


def test_exact_sign_test_matches_the_binomial_formula_by_hand():
    n, k = 50, 9
    by_hand = 2 * sum(math.comb(n, i) * 0.5**n for i in range(k + 1))
    assert exact_sign_test(41, 9) == pytest.approx(by_hand, rel=1e-12)
    assert exact_sign_test(600, 400) > 0  # big n: integer arithmetic, no underflow to 0


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(41, 50)
    assert (lo, hi) == (pytest.approx(0.6920, abs=1e-4), pytest.approx(0.9023, abs=1e-4))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_verdict_line_and_small_sample_warning():
    assert (
        Tally("judge", 41, 0, 9).verdict() == "fine-tune better on 41/50, p=0.00001 (judge; 0 ties)"
    )
    small = Tally("human", 7, 1, 1, unrated=1).verdict()
    assert small.startswith("fine-tune better on 7/8, p=0.0703 (human; 1 ties; 1 unrated)")
    assert "only 9 rated comparisons (fewer than 50)" in small
    assert Tally("judge", 2, 0, 9).verdict().startswith("base better on 9/11")
    d = Tally("judge", 41, 3, 9).as_dict()
    assert d["rated"] == 53 and d["enough"] is True
    assert d["win_rate"] == pytest.approx(41 / 53)
    assert d["win_rate_ci95"][0] < 41 / 53 < d["win_rate_ci95"][1]


@pytest.mark.parametrize(
    ("p", "text"), [(0.5, "0.5"), (0.0414, "0.0414"), (0.00012, "0.00012"), (1e-9, "<0.00001")]
)
def test_format_p(p, text):
    assert format_p(p) == text
