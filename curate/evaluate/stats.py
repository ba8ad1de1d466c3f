"""Significance and interval arithmetic for paired comparisons (no state, no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MIN_RATED = 50
"""Below this many rated comparisons a result is reported as too small to trust."""


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test (binomial, p=0.5) on the non-tied comparisons.

    Ties are left out, as the sign test prescribes. Uses scipy when installed; otherwise the
    exact sum, which for p=0.5 is the same number: 2 * P(X <= min(wins, losses)), capped at 1.

    Example:
        sign_test(41, 9)  # 5.7e-06: 41 wins out of 50 non-tied comparisons
    """
    if wins < 0 or losses < 0:
        raise ValueError("wins and losses must be >= 0")
    n = wins + losses
    if n == 0:
        return 1.0
    try:
        from scipy.stats import binomtest
    except ImportError:  # scipy is optional; the exact sum below is the same test
        return exact_sign_test(wins, losses)
    return float(binomtest(wins, n, 0.5, alternative="two-sided").pvalue)


def exact_sign_test(wins: int, losses: int) -> float:
    """The exact two-sided sign test with integer arithmetic (used when scipy is absent)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    # Integer numerator, one division: no float underflow for large n.
    return min(1.0, 2 * tail / 2**n)


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Tally:
    """Win/tie/loss counts of the fine-tune against the base, from one source of comparisons.

    ``unrated`` counts comparisons without a usable verdict (an unparsable judge answer, an
    empty cell in a human sheet); they are excluded from every rate and from the test.
    """

    source: str
    wins: int
    ties: int
    losses: int
    unrated: int = 0

    @property
    def rated(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def decisive(self) -> int:
        return self.wins + self.losses

    @property
    def p_value(self) -> float:
        return sign_test(self.wins, self.losses)

    def as_dict(self) -> dict[str, Any]:
        rated = self.rated
        win_ci = wilson_interval(self.wins, rated)
        loss_ci = wilson_interval(self.losses, rated)
        dec_ci = wilson_interval(self.wins, self.decisive)
        return {
            "source": self.source,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "unrated": self.unrated,
            "rated": rated,
            "win_rate": self.wins / rated if rated else None,
            "win_rate_ci95": list(win_ci),
            "loss_rate": self.losses / rated if rated else None,
            "loss_rate_ci95": list(loss_ci),
            "win_share_of_decisive": self.wins / self.decisive if self.decisive else None,
            "win_share_of_decisive_ci95": list(dec_ci),
            "p_value": self.p_value,
            "enough": rated >= MIN_RATED,
        }

    def verdict(self) -> str:
        """One line such as ``fine-tune better on 41/50, p=0.00001 (judge; 3 ties)``."""
        n = self.decisive
        if self.wins > self.losses:
            head = f"fine-tune better on {self.wins}/{n}"
        elif self.losses > self.wins:
            head = f"base better on {self.losses}/{n}"
        else:
            head = f"no difference: {self.wins}/{n} each way"
        extra = [self.source, f"{self.ties} ties"]
        if self.unrated:
            extra.append(f"{self.unrated} unrated")
        p = format_p(self.p_value)
        line = f"{head}, p{p if p.startswith('<') else '=' + p} ({'; '.join(extra)})"
        if self.rated < MIN_RATED:
            what = "compared examples" if self.source.startswith("metric:") else "rated comparisons"
            line += f"; only {self.rated} {what} (fewer than {MIN_RATED}): too few to trust"
        return line


def format_p(p: float) -> str:
    """p-values as people read them: 0.0414, 0.00012, 0.00001 (41/50), <0.00001."""
    if p >= 0.001:
        return f"{p:.3g}"
    if p >= 0.000005:  # rounds to at least 0.00001 at five decimals
        return f"{p:.5f}"
    return "<0.00001"
