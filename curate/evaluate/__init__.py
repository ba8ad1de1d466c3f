"""Is the fine-tune better than the prompted base model? Generation, task metrics, pairwise
LLM judge, blind human rating with a sign test, a regression check, and the report.

Public API (also what ``curate eval`` calls)::

    from curate.evaluate import EvalConfig, SideSpec, run_eval
    result = run_eval(EvalConfig("split/", "eval_out", SideSpec("base_model"),
                                 SideSpec(adapter="train_out")))
    print(result.verdict)
"""

from curate.evaluate.client import ChatClient, EndpointError, RateLimiter
from curate.evaluate.examples import Example, ExampleSet, Skipped, load_examples
from curate.evaluate.generate import (
    DecodeSettings,
    EndpointGenerator,
    LocalGenerator,
    ModelCache,
    make_generator,
)
from curate.evaluate.human import HumanResult, export_sheet, import_ratings
from curate.evaluate.judge import DEFAULT_RUBRIC, Judge, Judgement, load_rubric, parse_verdict
from curate.evaluate.metrics import FormatSpec, normalize, rouge_l, score, token_f1
from curate.evaluate.pairs import Generation, generate_pairs, read_generations
from curate.evaluate.regression import regression_findings
from curate.evaluate.run import EvalConfig, EvalResult, JudgeSpec, SideSpec, run_eval
from curate.evaluate.stats import Tally, exact_sign_test, sign_test, wilson_interval

__all__ = [
    "DEFAULT_RUBRIC",
    "ChatClient",
    "DecodeSettings",
    "EndpointError",
    "EndpointGenerator",
    "EvalConfig",
    "EvalResult",
    "Example",
    "ExampleSet",
    "FormatSpec",
    "Generation",
    "HumanResult",
    "Judge",
    "JudgeSpec",
    "Judgement",
    "LocalGenerator",
    "ModelCache",
    "RateLimiter",
    "SideSpec",
    "Skipped",
    "Tally",
    "exact_sign_test",
    "export_sheet",
    "generate_pairs",
    "import_ratings",
    "load_examples",
    "load_rubric",
    "make_generator",
    "normalize",
    "parse_verdict",
    "read_generations",
    "regression_findings",
    "rouge_l",
    "run_eval",
    "score",
    "sign_test",
    "token_f1",
    "wilson_interval",
]
