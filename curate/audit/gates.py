"""Gates: rules over the audit's metrics that fail a CI pipeline (exit code 1) when broken.

A rule names the condition that FAILS the gate:

    conflicting_answers>0        fails when any record is flagged conflicting_answers
    near_duplicate_share>0.05    fails when more than 5% of records repeat an earlier one
    language_mismatch_share>=2%  a trailing % divides by 100
    min_records=100              fails when there are fewer than 100 records
    max_style_outlier=10         fails when more than 10 records are style outliers

Names are the keys of ``AuditReport.metrics``: every finding code (records it flags), its
``<code>_share``, and the numeric metrics (``records``, ``cluster_entropy``, ...).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from curate.audit.model import FINDING_CODES
from curate.errors import ConfigError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_RULE = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<|=)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?P<pct>%?)\s*$"
)

# Metrics every report has (more appear with options: label_*, cluster_*).
KNOWN_METRICS: frozenset[str] = frozenset(
    {
        "records",
        "conversations",
        "near_duplicate_share",
        "language_mismatch_share",
        "cluster_entropy",
        "top_cluster_share",
        "cluster_coverage",
        "mean_pairwise_distance",
        "distinct_1",
        "distinct_2",
        "prompt_distinct_2",
        "label_entropy",
        "label_imbalance",
        "system_prompt_variants",
        "multi_turn_share",
        "conversation_tokens_p90",
        "conversation_tokens_max",
        "assistant_tokens_mean",
        "assistant_tokens_p90",
        "user_tokens_mean",
        "findings",
    }
    | set(FINDING_CODES)
    | {f"{c}_share" for c in FINDING_CODES}
)


@dataclass(frozen=True)
class Rule:
    """A parsed rule: fails when ``metric op threshold`` holds."""

    text: str
    metric: str
    op: str
    threshold: float

    def broken_by(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)


@dataclass(frozen=True)
class GateFailure:
    """A broken rule, with the value that broke it."""

    rule: str
    metric: str
    value: float
    threshold: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
        }


def parse_rule(text: str) -> Rule:
    """Parse one rule; raises ``ConfigError`` with the reason and the accepted forms."""
    m = _RULE.match(text)
    if not m:
        raise ConfigError(
            f"--fail-on {text!r}: not a rule; write METRIC>VALUE (also >=, <, <=, ==, !=) "
            "or min_METRIC=VALUE / max_METRIC=VALUE, e.g. conflicting_answers>0"
        )
    name, op = m["name"], m["op"]
    value = float(m["value"]) / (100 if m["pct"] else 1)
    if op == "=":
        bound = re.match(r"^(min|max)_(.+)$", name)
        if not bound:
            raise ConfigError(
                f"--fail-on {text!r}: '=' only goes with min_/max_ names "
                f"(min_{name}={m['value']}); use == to test equality"
            )
        name = bound[2]
        op = "<" if bound[1] == "min" else ">"
    if name not in KNOWN_METRICS:
        close = sorted(k for k in KNOWN_METRICS if name[:4] in k)[:5]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"--fail-on {text!r}: unknown metric {name!r}{hint} "
            f"(known: {', '.join(sorted(KNOWN_METRICS))})"
        )
    return Rule(text.strip(), name, op, value)


def parse_rules(rules: Iterable[str]) -> list[Rule]:
    """Parse every rule (comma-separated lists allowed), failing on the first bad one."""
    out = []
    for item in rules:
        for part in item.split(","):
            if part.strip():
                out.append(parse_rule(part))
    return out


def check_gates(report: Any, rules: Sequence[str]) -> list[GateFailure]:
    """The rules ``report.metrics`` breaks (empty list: every gate passed).

    Raises:
        ConfigError: a rule does not parse, or names a metric this audit did not compute
            (e.g. ``cluster_entropy`` with embeddings off).
    """
    failures = []
    for rule in parse_rules(rules):
        value = report.metrics.get(rule.metric)
        if value is None:
            raise ConfigError(
                f"--fail-on {rule.text!r}: {rule.metric} was not computed in this audit "
                "(it needs embeddings or --label)"
            )
        if rule.broken_by(float(value)):
            failures.append(
                GateFailure(
                    rule=rule.text,
                    metric=rule.metric,
                    value=value,
                    threshold=rule.threshold,
                    message=f"{rule.text}: {rule.metric} is {value:g}",
                )
            )
    return failures
