"""``run_eval``: the whole evaluation in one call (the CLI is a thin layer over it).

Order: load examples -> generate (or reuse) both sides -> task metrics -> judge -> human sheet
export / ratings import -> regression set -> ``eval.json`` + ``eval.html`` in the output folder.
The verdict comes from the most trusted comparison available: human ratings, else the judge,
else the per-example primary metric (fine-tune scores higher / equal / lower than base).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate import __version__
from curate.errors import ConfigError
from curate.evaluate.client import ChatClient
from curate.evaluate.examples import ExampleSet, load_examples
from curate.evaluate.generate import (
    DecodeSettings,
    Generator,
    ModelCache,
    Progress,
    make_generator,
)
from curate.evaluate.human import export_sheet, import_ratings
from curate.evaluate.judge import DEFAULT_RUBRIC, Judge, Judgement, tally
from curate.evaluate.metrics import HIGHER_IS_BETTER, FormatSpec, compare_means, mean_scores, score
from curate.evaluate.pairs import Generation, generate_pairs
from curate.evaluate.regression import regression_findings
from curate.evaluate.report import render_html
from curate.evaluate.stats import Tally
from curate.records import RecordReader, atomic_writer, write_jsonl

GENERATIONS = "generations.jsonl"
REGRESSION_GENERATIONS = "regression_generations.jsonl"
JUDGEMENTS = "judgements.jsonl"


@dataclass
class SideSpec:
    """One side of the comparison: a local model (+ adapter) or an endpoint.

    For an endpoint (``url``), ``model_name`` (else ``path``) is the model name sent.
    """

    path: str | None = None
    adapter: str | None = None
    url: str | None = None
    model_name: str | None = None
    api_key: str | None = None

    def describe(self) -> str:
        if self.url:
            return f"{self.model_name or self.path} @ {self.url}"
        return f"{self.path} + adapter {self.adapter}" if self.adapter else str(self.path)


@dataclass
class JudgeSpec:
    """The judge endpoint and how to ask it."""

    url: str
    model: str
    api_key: str | None = None
    rubric: str = DEFAULT_RUBRIC
    with_reference: bool = True
    rps: float = 0.0


@dataclass
class EvalConfig:
    """Everything ``run_eval`` needs; defaults are the CLI's defaults."""

    data: str
    out_dir: str
    base: SideSpec
    tuned: SideSpec
    base_system_prompt: str | None = None
    decode: DecodeSettings = field(default_factory=DecodeSettings)
    max_examples: int | None = None
    label_field: str | None = None
    response_format: FormatSpec = field(default_factory=FormatSpec)
    judge: JudgeSpec | None = None
    human_sheet: bool = False
    human_ratings: str | None = None
    human_key: str | None = None
    regression: str | None = None
    regression_threshold: float = 0.05
    primary_metric: str = "rouge_l"
    alpha: float = 0.05
    reuse: bool = True
    seed: int = 0
    device: str | None = None
    timeout: float = 120.0
    retries: int = 4
    backoff: float = 1.0
    html_examples: int = 50
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.primary_metric not in HIGHER_IS_BETTER:
            raise ConfigError(f"--primary-metric must be one of {', '.join(HIGHER_IS_BETTER)}")
        if not 0 < self.alpha < 1:
            raise ConfigError("--alpha must be between 0 and 1")
        if self.regression_threshold < 0:
            raise ConfigError("--regression-threshold must be >= 0")
        if self.concurrency < 1:
            raise ConfigError("--concurrency must be >= 1")
        if self.max_examples is not None and self.max_examples < 1:
            raise ConfigError("--max-examples must be >= 1")
        if self.tuned.adapter is None and self.tuned.path is None and self.tuned.url is None:
            raise ConfigError("give the fine-tune: --adapter DIR, --tuned DIR or --tuned-url URL")


@dataclass
class EvalResult:
    """What ``run_eval`` found; ``report`` is exactly what ``eval.json`` holds."""

    report: dict[str, Any]
    verdict: str
    decision: Tally
    win: bool
    regressed: bool
    notes: list[str]


def _generators(cfg: EvalConfig, cache: ModelCache) -> tuple[Generator, Generator]:
    opts = {"timeout": cfg.timeout, "max_retries": cfg.retries, "backoff": cfg.backoff}
    b, t = cfg.base, cfg.tuned
    tuned_path = t.path if (t.path or t.url) else b.path
    shared = t.adapter is not None and not t.url and not b.url and tuned_path == b.path
    base = make_generator(
        "base",
        path=b.path,
        adapter=t.adapter if shared else None,
        url=b.url,
        model_name=b.model_name,
        api_key=b.api_key,
        settings=cfg.decode,
        cache=cache,
        adapter_off=shared,
        client_options=opts,
        concurrency=cfg.concurrency,
    )
    tuned = make_generator(
        "tuned",
        path=tuned_path,
        adapter=t.adapter,
        url=t.url,
        model_name=t.model_name,
        api_key=t.api_key,
        settings=cfg.decode,
        cache=cache,
        client_options=opts,
        concurrency=cfg.concurrency,
    )
    return base, tuned


def _score_rows(gens: Sequence[Generation], fmt: FormatSpec) -> list[dict[str, Any]]:
    return [
        {"base": score(g.base, g.reference, fmt), "tuned": score(g.tuned, g.reference, fmt)}
        for g in gens
    ]


def _metric_block(
    gens: Sequence[Generation], rows: Sequence[Mapping[str, Any]], primary: str | None = None
) -> dict[str, Any]:
    overall = compare_means(
        mean_scores(r["base"] for r in rows), mean_scores(r["tuned"] for r in rows)
    )
    by_label: dict[str, Any] = {}
    labels = sorted({g.label for g in gens if g.label is not None})
    for label in labels:
        sel = [r for g, r in zip(gens, rows, strict=True) if g.label == label]
        by_label[label] = {
            "n": len(sel),
            "metrics": compare_means(
                mean_scores(r["base"] for r in sel), mean_scores(r["tuned"] for r in sel)
            ),
        }
        if primary is not None:
            # The sign test per category: a win on one task is not hidden by (or credited
            # to) the others.
            t = _metric_tally(sel, primary)
            by_label[label]["comparison"] = {**t.as_dict(), "verdict": t.verdict()}
    return {"n": len(rows), "metrics": overall, "by_label": by_label}


def _metric_tally(rows: Sequence[Mapping[str, Any]], metric: str) -> Tally:
    wins = ties = losses = 0
    for r in rows:
        d = r["tuned"][metric] - r["base"][metric]
        if abs(d) < 1e-12:
            ties += 1
        elif d > 0:
            wins += 1
        else:
            losses += 1
    return Tally(f"metric:{metric}", wins, ties, losses)


def _load(path: str, cfg: EvalConfig) -> ExampleSet:
    found = load_examples(path, cfg.label_field, cfg.max_examples)
    if not found.examples:
        c = found.counts()
        raise ConfigError(
            f"{found.path}: no evaluable examples ({c['skipped_by_reason'] or 'empty'})"
        )
    return found


def run_eval(cfg: EvalConfig, progress: Progress | None = None) -> EvalResult:
    """Run the evaluation and write ``generations.jsonl``, ``eval.json`` and ``eval.html``."""
    out = Path(cfg.out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: output exists and is not a folder")
    examples = _load(cfg.data, cfg)
    if cfg.human_ratings and not (cfg.human_key or (out / "human_key.json").exists()):
        raise ConfigError(
            f"--human-ratings needs the sheet's key: --human-key or {out}/human_key.json"
        )
    regression_set = _load(cfg.regression, cfg) if cfg.regression else None
    judge = None
    if cfg.judge:
        j = cfg.judge
        client = ChatClient(
            j.url,
            j.model,
            api_key=j.api_key,
            timeout=cfg.timeout,
            max_retries=cfg.retries,
            backoff=cfg.backoff,
            rps=j.rps,
        )
        judge = Judge(client, j.rubric, j.with_reference, cfg.concurrency)

    notes: list[str] = []
    from curate.models.resolve import resolve_model

    for side in (cfg.base, cfg.tuned):
        if side.path and not side.url:
            # A .gguf file or model package name: its cached transformers folder.
            side.path = resolve_model(side.path, notes.append)
    cache = ModelCache(cfg.device)
    base_gen, tuned_gen = _generators(cfg, cache)
    if cfg.label_field and not any(e.label is not None for e in examples.examples):
        notes.append(f"--label {cfg.label_field}: no record has this field; no per-label table")
    gens, gen_stats = generate_pairs(
        examples.examples,
        base_gen,
        tuned_gen,
        out / GENERATIONS,
        cfg.base_system_prompt,
        cfg.reuse,
        progress,
    )
    for side, gen in (("base", base_gen), ("tuned", tuned_gen)):
        client = getattr(gen, "client", None)
        if isinstance(client, ChatClient):
            gen_stats[f"{side}_endpoint"] = dict(client.stats)
    rows = _score_rows(gens, cfg.response_format)
    tallies: dict[str, Tally] = {"metric": _metric_tally(rows, cfg.primary_metric)}

    judgements: list[Judgement] = []
    if judge is not None:
        saved = {}
        if cfg.reuse and (out / JUDGEMENTS).exists():
            saved = {r.data["id"]: r.data for r in RecordReader(out / JUDGEMENTS).records()}
        judgements = judge.judge_all(gens, progress, saved)
        write_jsonl(out / JUDGEMENTS, (j.as_dict() for j in judgements))
        tallies["judge"] = tally(judgements)
    human = None
    sheet_paths = None
    if cfg.human_sheet:
        sheet_paths = export_sheet(gens, out, cfg.seed)
    if cfg.human_ratings:
        human = import_ratings(cfg.human_ratings, cfg.human_key or out / "human_key.json")
        tallies["human"] = human.tally
        current = {g.id: (g.base_key, g.tuned_key) for g in gens}
        stale = sum(
            1
            for r in human.rows
            if r["outcome"] != "unrated" and current.get(r["id"]) != r.get("pair_keys")
        )
        if stale:
            notes.append(
                f"human: {stale} ratings were given to responses that have since been "
                "regenerated or are not in this run"
            )

    regression = None
    if regression_set is not None:
        rgens, rstats = generate_pairs(
            regression_set.examples,
            base_gen,
            tuned_gen,
            out / REGRESSION_GENERATIONS,
            cfg.base_system_prompt,
            cfg.reuse,
            progress,
        )
        # The task's format rules (JSON, schema, regex) do not apply to a general set.
        rrows = _score_rows(rgens, FormatSpec())
        block = _metric_block(rgens, rrows)
        regression = {
            "data": regression_set.counts(),
            "generation": rstats,
            **regression_findings(
                {k: v["base"] for k, v in block["metrics"].items()},
                {k: v["tuned"] for k, v in block["metrics"].items()},
                cfg.regression_threshold,
            ),
        }

    decision = tallies.get("human") or tallies.get("judge") or tallies["metric"]
    win = decision.wins > decision.losses and decision.p_value < cfg.alpha
    verdict = decision.verdict()
    if judge is not None and tallies["judge"].unrated:
        notes.append(f"judge: {tallies['judge'].unrated} comparisons unparsable (excluded)")
    regressed = bool(regression and regression["regressed"])

    judged = {j.id: j for j in judgements}
    rated = {r["id"]: r for r in human.rows} if human else {}
    per_example = []
    for g, r in zip(gens, rows, strict=True):
        item: dict[str, Any] = {
            "id": g.id,
            "source": g.source,
            "line": g.line,
            "label": g.label,
            "base": r["base"],
            "tuned": r["tuned"],
            "delta": r["tuned"][cfg.primary_metric] - r["base"][cfg.primary_metric],
        }
        if g.id in judged:
            item["judge"] = judged[g.id].as_dict()
        if g.id in rated:
            item["human"] = rated[g.id]["outcome"]
        per_example.append(item)

    report: dict[str, Any] = {
        "tool": "curate eval",
        "version": __version__,
        "verdict": verdict,
        "win": win,
        "decided_by": decision.source,
        "alpha": cfg.alpha,
        "notes": notes,
        "settings": _settings(cfg, base_gen, tuned_gen),
        "data": examples.counts(),
        "skipped": [s.as_dict() for s in examples.skipped],
        "generation": gen_stats,
        "metrics": _metric_block(gens, rows, cfg.primary_metric),
        "comparisons": {k: v.as_dict() for k, v in tallies.items()},
        "judge": (
            {
                "model": cfg.judge.model,
                "url": cfg.judge.url,
                **judge.stats,
                "requests": judge.client.stats["requests"],
                "retries": judge.client.stats["retries"],
            }
            if judge and cfg.judge
            else None
        ),
        "human": human.as_dict() if human else None,
        "human_sheet": sheet_paths,
        "regression": regression,
        "examples": per_example,
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "eval.json", "w") as fh:
        json.dump(report, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    with atomic_writer(out / "eval.html", "w") as fh:
        fh.write(render_html(report, gens, cfg.html_examples))
    return EvalResult(report, verdict, decision, win, regressed, notes)


def _settings(cfg: EvalConfig, base: Generator, tuned: Generator) -> dict[str, Any]:
    fmt = cfg.response_format
    return {
        "data": str(cfg.data),
        "base": cfg.base.describe(),
        "tuned": cfg.tuned.describe()
        if (cfg.tuned.path or cfg.tuned.url)
        else f"{cfg.base.path} + adapter {cfg.tuned.adapter}",
        "base_system_prompt": cfg.base_system_prompt,
        "decode": asdict(cfg.decode),
        "max_examples": cfg.max_examples,
        "label_field": cfg.label_field,
        "response_format": {
            "json": fmt.wants_json,
            "schema": fmt.schema is not None,
            "regex": fmt.regex,
        },
        "primary_metric": cfg.primary_metric,
        "regression_threshold": cfg.regression_threshold,
        "seed": cfg.seed,
        "out_dir": os.fspath(cfg.out_dir),
    }
