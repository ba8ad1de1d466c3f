"""Shape of the set: counts, turns per conversation, token lengths per role, system prompts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.audit.convs import Conv, excerpt
from curate.tokens import PER_MESSAGE_OVERHEAD, TokenCounter, estimate_many

TOP_SYSTEM_PROMPTS = 10
MAIN_ROLES = ("system", "user", "assistant")


def summarize(values: Sequence[float]) -> dict[str, float]:
    """count / mean / percentiles / max of a numeric series (empty -> zeros)."""
    if not len(values):
        return {"count": 0, "mean": 0.0, "min": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    arr = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "count": int(arr.size),
        "mean": round(float(arr.mean()), 2),
        "min": round(float(arr.min()), 2),
        "p50": round(float(p50), 2),
        "p90": round(float(p90), 2),
        "p99": round(float(p99), 2),
        "max": round(float(arr.max()), 2),
    }


def compute_shape(convs: Sequence[Conv], counter: TokenCounter) -> tuple[dict[str, Any], dict]:
    """The shape section plus raw per-conversation series the HTML plots use.

    Returns:
        (shape dict for the JSON, series dict with ``turns`` and ``tokens`` per role).
    """
    parts = ShapeParts(counter)
    parts.add(convs)
    return parts.result()


def shape_chunk(convs: Sequence[Conv], counter: TokenCounter) -> tuple:
    """One chunk's part of ``compute_shape`` (``ShapeParts.merge`` appends it): per
    conversation its messages, user turns and tokens, and the system prompts' counts."""
    if counter.tokenizer is None:
        parts = _estimated(convs)
    else:
        parts = _counted(convs, counter)
    systems: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    for c in convs:
        system = c.role_text.get("system")
        if system is not None:
            systems[system] += 1
            first_line.setdefault(system, c.line)
    return (*parts, systems, first_line)


class ShapeParts:
    """``compute_shape`` over conversations given a chunk at a time (``add`` in input order):
    each chunk's counts are appended, so the views of one chunk can be freed before the next
    is built; ``result`` gives what ``compute_shape`` of all of them would."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        self.n = 0
        self.role_messages: Counter[str] = Counter()
        self.messages_per_conv: list[int] = []
        self.user_turns: list[int] = []
        self.role_tokens: dict[str, list[int]] = {r: [] for r in MAIN_ROLES}
        self.conv_tokens: list[int] = []
        self.systems: Counter[str] = Counter()
        self.first_line: dict[str, int] = {}

    def add(self, convs: Sequence[Conv]) -> None:
        if convs:
            self.merge(shape_chunk(convs, self.counter))

    def merge(self, part: tuple) -> None:
        """Append one ``shape_chunk`` (the chunks in input order)."""
        roles, per_conv, turns, role_tokens, conv_tokens, systems, first_line = part
        self.n += len(per_conv)
        self.role_messages.update(roles)
        self.messages_per_conv += per_conv
        self.user_turns += turns
        for role, values in role_tokens.items():
            self.role_tokens[role] += values
        self.conv_tokens += conv_tokens
        self.systems.update(systems)  # (in the chunk's order: first seen first, as one pass)
        for text, line in first_line.items():
            self.first_line.setdefault(text, line)

    def result(self) -> tuple[dict[str, Any], dict]:
        n, counter, systems, first_line = self.n, self.counter, self.systems, self.first_line
        messages_per_conv, user_turns = self.messages_per_conv, self.user_turns
        role_tokens = self.role_tokens
        with_system = sum(systems.values())
        top = sorted(systems.items(), key=lambda kv: (-kv[1], first_line[kv[0]]))
        top = top[:TOP_SYSTEM_PROMPTS]
        shape = {
            "conversations": n,
            "messages": sum(messages_per_conv),
            "messages_by_role": dict(sorted(self.role_messages.items())),
            "messages_per_conversation": summarize(messages_per_conv),
            "user_turns_per_conversation": summarize(user_turns),
            "multi_turn_share": round(sum(1 for t in user_turns if t > 1) / n, 4) if n else 0.0,
            "tokens": {
                "method": counter.method,
                "exact": counter.exact,
                "conversation": summarize(self.conv_tokens),
                "by_role": {r: summarize(v) for r, v in role_tokens.items() if v},
            },
            "system_prompts": system_prompts_section(
                n, with_system, len(systems), [(t, c, first_line[t]) for t, c in top]
            ),
        }
        series = {"turns": user_turns, "messages": messages_per_conv, "tokens": role_tokens}
        return shape, series


def _counted(convs: Sequence[Conv], counter: TokenCounter) -> tuple:
    """Per conversation: messages, user turns, tokens per main role and in all (a tokenizer)."""
    role_messages: Counter[str] = Counter()
    messages_per_conv: list[int] = []
    user_turns: list[int] = []
    role_tokens: dict[str, list[int]] = {r: [] for r in MAIN_ROLES}
    conv_tokens: list[int] = []
    for c in convs:
        roles = c.roles
        role_messages.update(roles)
        messages_per_conv.append(len(roles))
        user_turns.append(roles.count("user"))
        by_role, total = counter.count_conversation(c.messages, roles, c.texts)
        for role in MAIN_ROLES:
            if role in by_role:
                role_tokens[role].append(by_role[role])
        conv_tokens.append(total)
    return role_messages, messages_per_conv, user_turns, role_tokens, conv_tokens


def _estimated(convs: Sequence[Conv]) -> tuple:
    """``_counted`` with estimated tokens, over every message at once: each message's
    estimate, summed per conversation (and role) with ``bincount``."""
    n = len(convs)
    roles = [r for c in convs for r in c.roles]
    messages_per_conv = [len(c.roles) for c in convs]
    owner = np.repeat(np.arange(n), messages_per_conv)  # each message's conversation
    tokens = estimate_many([t for c in convs for t in c.texts])
    conv_tokens = np.bincount(owner, tokens + PER_MESSAGE_OVERHEAD, minlength=n)
    role_of = np.array(roles, dtype=object)
    role_tokens: dict[str, list[int]] = {}
    user_turns: list[int] = [0] * n
    for role in MAIN_ROLES:
        mask = role_of == role
        has = np.bincount(owner[mask], minlength=n)
        if role == "user":
            user_turns = has.tolist()
        sums = np.bincount(owner[mask], tokens[mask], minlength=n)
        role_tokens[role] = sums[has > 0].astype(np.int64).tolist()
    return (
        Counter(roles),
        messages_per_conv,
        user_turns,
        role_tokens,
        conv_tokens.astype(np.int64).tolist(),
    )


def system_prompts_section(
    n: int, with_system: int, variants: int, top: list[tuple[str, int, int]]
) -> dict[str, Any]:
    """The report's ``system_prompts`` section; ``top`` holds (text, count, first line)."""
    return {
        "with_system": with_system,
        "without_system": n - with_system,
        "variants": variants,
        "top": [
            {
                "text": excerpt(text, 200),
                "count": count,
                "share": round(count / n, 4),
                "first_line": line,
            }
            for text, count, line in top
        ],
    }
