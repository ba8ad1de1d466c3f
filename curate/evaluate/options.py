"""The ``eval:`` section (``curate eval``'s options), flat as the command line names them.

``EvalOptions`` is what a user sets; ``to_config`` turns it into the nested ``EvalConfig``
that ``run_eval`` takes (sides, decoding, judge, format). Numeric defaults are read from
those classes, so each default is written once.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import ConfigError
from curate.evaluate.generate import DecodeSettings
from curate.evaluate.run import EvalConfig, JudgeSpec, SideSpec


def _default(cls: type, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


@dataclass(slots=True)
class EvalOptions:
    """The ``eval:`` section of a curate config (``curate eval``'s flags).

    Attributes:
        base: base model: local folder, HF id, .gguf file or model package name (or the
            model name at ``base_url``).
        adapter: the fine-tune as a PEFT adapter folder (from ``curate train``), on ``base``.
        tuned: the fine-tune as a merged model folder (from ``curate merge``).
        base_url: serve the base side from this OpenAI-compatible endpoint (.../v1).
        base_model_name: model name sent to ``base_url`` (default: ``base``).
        tuned_url: serve the fine-tune from this OpenAI-compatible endpoint.
        tuned_model_name: model name sent to ``tuned_url``.
        api_key_env: environment variable holding the endpoints' API key (unset: no key).
        base_system_prompt: system prompt for the base side (your best prompt).
        base_system_prompt_file: read the base system prompt from a file.
        max_examples: evaluate the first N examples only.
        max_new_tokens: tokens generated per answer.
        batch_size: local generation batch.
        temperature: 0 = greedy decoding (deterministic).
        device: torch device for local models (default: cuda if available).
        label: record field with a category: metrics per category.
        expect_json: score whether responses parse as JSON.
        response_schema: JSON Schema file responses must satisfy (implies ``expect_json``).
        response_regex: pattern the whole response must match.
        primary_metric: metric for per-example wins when there is no judge or human rating.
        judge_url: OpenAI-compatible endpoint of the pairwise judge.
        judge_model: judge model name.
        judge_api_key_env: env variable with the judge's key (default: ``api_key_env``).
        rubric: replace the judge's criteria with the text of this file.
        judge_rps: judge requests per second (0 = no limit).
        judge_no_reference: do not show the judge the reference.
        human_sheet: export a blind rating sheet (human_sheet.csv/.html + human_key.json).
        human_ratings: import a filled sheet (CSV with row, preference) and test it.
        human_key: key of the sheet (default: OUT/human_key.json).
        regression: general-ability set (chat JSONL) checked for drops base -> fine-tune.
        regression_threshold: flag a metric whose mean drops by more than this (absolute).
        fail_on_regression: exit 1 when a regression is flagged.
        require_win: exit 1 unless the fine-tune wins significantly (p < ``alpha``).
        alpha: significance level of the win test.
        reuse_generations: reuse responses in OUT/generations.jsonl whose model and prompt
            still match.
        timeout: seconds per request.
        retries: retries on 429/5xx.
        retry_backoff: first retry delay in seconds (doubles each retry).
        concurrency: requests in flight at once to each endpoint and the judge.
        html_examples: side-by-side examples shown in eval.html.
        seed: random seed (written to reports).
    """

    base: str | None = None
    adapter: str | None = None
    tuned: str | None = None
    base_url: str | None = None
    base_model_name: str | None = None
    tuned_url: str | None = None
    tuned_model_name: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    base_system_prompt: str | None = None
    base_system_prompt_file: str | None = None
    max_examples: int | None = None
    max_new_tokens: int = _default(DecodeSettings, "max_new_tokens")
    batch_size: int = _default(DecodeSettings, "batch_size")
    temperature: float = _default(DecodeSettings, "temperature")
    device: str | None = None
    label: str | None = None
    expect_json: bool = False
    response_schema: str | None = None
    response_regex: str | None = None
    primary_metric: str = _default(EvalConfig, "primary_metric")
    judge_url: str | None = None
    judge_model: str | None = None
    judge_api_key_env: str | None = None
    rubric: str | None = None
    judge_rps: float = _default(JudgeSpec, "rps")
    judge_no_reference: bool = False
    human_sheet: bool = False
    human_ratings: str | None = None
    human_key: str | None = None
    regression: str | None = None
    regression_threshold: float = _default(EvalConfig, "regression_threshold")
    fail_on_regression: bool = False
    require_win: bool = False
    alpha: float = _default(EvalConfig, "alpha")
    reuse_generations: bool = _default(EvalConfig, "reuse")
    timeout: float = _default(EvalConfig, "timeout")
    retries: int = _default(EvalConfig, "retries")
    retry_backoff: float = _default(EvalConfig, "backoff")
    concurrency: int = _default(EvalConfig, "concurrency")
    html_examples: int = _default(EvalConfig, "html_examples")
    seed: int = _default(EvalConfig, "seed")

    def __post_init__(self) -> None:
        if self.adapter and self.tuned:
            raise ConfigError("give either --adapter or --tuned, not both")
        if self.base_system_prompt and self.base_system_prompt_file:
            raise ConfigError("give either --base-system-prompt or --base-system-prompt-file")
        if bool(self.judge_url) != bool(self.judge_model):
            raise ConfigError("--judge-url and --judge-model go together")

    def to_config(self, data: str, out_dir: str) -> EvalConfig:
        """The ``EvalConfig`` of these options (reads the prompt, schema and rubric files)."""
        from curate.evaluate.client import api_key_from_env
        from curate.evaluate.judge import load_rubric
        from curate.evaluate.metrics import FormatSpec

        if not self.base and not self.base_url:
            raise ConfigError("give the base model: --base PATH_OR_ID (or --base-url)")
        system = self.base_system_prompt or _read_text(
            self.base_system_prompt_file, "system prompt"
        )
        key = api_key_from_env(self.api_key_env)
        schema = None
        if self.response_schema:
            try:
                schema = json.loads(Path(self.response_schema).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{self.response_schema}: not a JSON Schema file: {exc}") from exc
        judge = None
        if self.judge_url and self.judge_model:
            judge = JudgeSpec(
                self.judge_url,
                self.judge_model,
                api_key=api_key_from_env(self.judge_api_key_env or self.api_key_env),
                rubric=load_rubric(self.rubric),
                with_reference=not self.judge_no_reference,
                rps=self.judge_rps,
            )
        return EvalConfig(
            data=data,
            out_dir=out_dir,
            base=SideSpec(
                self.base, url=self.base_url, model_name=self.base_model_name, api_key=key
            ),
            tuned=SideSpec(
                self.tuned,
                adapter=self.adapter,
                url=self.tuned_url,
                model_name=self.tuned_model_name,
                api_key=key,
            ),
            base_system_prompt=system,
            decode=DecodeSettings(
                self.max_new_tokens, self.batch_size, self.temperature, self.seed
            ),
            max_examples=self.max_examples,
            label_field=self.label,
            response_format=FormatSpec(self.expect_json, schema, self.response_regex),
            judge=judge,
            human_sheet=self.human_sheet,
            human_ratings=self.human_ratings,
            human_key=self.human_key,
            regression=self.regression,
            regression_threshold=self.regression_threshold,
            primary_metric=self.primary_metric,
            alpha=self.alpha,
            reuse=self.reuse_generations,
            seed=self.seed,
            device=self.device,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.retry_backoff,
            html_examples=self.html_examples,
            concurrency=self.concurrency,
        )


def _read_text(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from exc
