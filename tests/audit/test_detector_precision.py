"""False positives of the language, refusal and mismatch detectors, each class with rows of
the kinds seen on real data (English Alpaca short answers, Chinese prompts with English
terms, voiced writing tasks), and the labelled sample docs/detectors.md reports on."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from curate.audit import AuditConfig, audit
from curate.audit.consistency import refusal_pattern
from curate.language import UNKNOWN, detect_language
from tests.audit.audit_data import as_records, chat, clean_rows

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "docs" / "detectors_sample.jsonl"
BENCH = ROOT / "bench" / "detectors.py"


@pytest.mark.parametrize(
    "text",
    [
        "Oxygen, Hydrogen, Nitrogen",  # read as Danish at 1.00
        "Oxygen, Hydrogen, Nitrogen, Carbon and Sulfur",
        "Paris, London, Berlin",  # Dutch
        "Sunny, 25 degrees Celsius",  # Catalan
        "Leonardo da Vinci, Michelangelo, Raphael, Donatello and Botticelli",
        "Data Science, Machine Learning, Artificial Intelligence",
    ],
)
def test_short_lists_of_terms_are_undetermined(text: str) -> None:
    assert detect_language(text) == UNKNOWN == "und"


@pytest.mark.parametrize(
    "text",
    [
        "用Python写一个函数计算Fibonacci数列",  # read as Vietnamese
        "请解释一下什么是Docker container",  # English
        "如何在Linux下用grep搜索文件",  # Romanian
        "什么是machine learning中的overfitting？",
        "Kubernetes的Pod和Deployment有什么区别",  # Norwegian
    ],
)
def test_chinese_with_english_terms_is_chinese(text: str) -> None:
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Der Hund läuft schnell über die Straße und bellt laut.", "de"),
        ("El perro corre rápido por la calle y ladra fuerte.", "es"),
        ("Hvad hedder du, og hvor kommer du fra?", "da"),
        ("Il gatto dorme sul divano tutto il giorno.", "it"),
        ("Привет, как дела у тебя сегодня вечером?", "ru"),
        ("Jupiter, Saturn, Uranus and Neptune are the outer planets.", "en"),
    ],
)
def test_real_sentences_keep_their_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_no_mismatch_for_short_english_answers_or_chinese_with_terms() -> None:
    rows = clean_rows(3) + [
        chat("Name three gases found in the air we breathe.", "Oxygen, Hydrogen, Nitrogen"),
        chat("List three European capitals, please.", "Paris, London, Berlin"),
        chat("用Python写一个函数计算Fibonacci数列", "def fib(n):\n    a, b = 0, 1"),
        chat(
            "Kubernetes的Pod和Deployment有什么区别？",
            "Pod是最小的部署单元，Deployment负责管理Pod的副本和滚动更新。",
        ),
    ]
    report = audit(as_records(rows), AuditConfig(embeddings=False))
    assert [f for f in report.findings if f.code == "language_mismatch"] == []
    convs = {x["language"] for x in report.languages["conversation"]}
    assert not convs & {"da", "nl", "ca", "vi", "ro", "no"}


def test_refusal_is_the_assistants_voice_not_the_tasks() -> None:
    excuse = "I'm sorry, but I won't be able to come to work today: I woke up with a fever."
    assert refusal_pattern(excuse, "Generate an excuse for not coming to work.") is None
    letter = "Dear Ms Lee, thank you for the offer. I must respectfully decline it."
    assert refusal_pattern(letter, "Write a reply declining a job offer.") is None
    # A refusal that names the request or the assistant counts whatever the task.
    assert refusal_pattern("I'm sorry, but I can't help with that.", "Write an excuse email.")
    assert refusal_pattern("As an AI language model, I cannot lie for you.", "Write an excuse.")
    rows = clean_rows(3) + [
        chat("Generate an excuse for not coming to work.", excuse),
        chat("How do I pick my neighbour's lock?", "I'm sorry, but I cannot assist with that."),
    ]
    report = audit(as_records(rows), AuditConfig(embeddings=False))
    assert {ln for f in report.findings if f.code == "refusal" for ln in f.lines} == {5}


def test_labelled_sample_figures_are_those_docs_detectors_md_quotes() -> None:
    """bench/detectors.py on docs/detectors_sample.jsonl: the figures in docs/detectors.md."""
    spec = importlib.util.spec_from_file_location("detectors_bench", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sample = [json.loads(x) for x in LABELLED.read_text(encoding="utf-8").splitlines()]
    assert sample == json.loads(json.dumps(bench.rows(), ensure_ascii=False))  # file is current
    got = {
        name: (s["flagged"], s["false_positives"], s["precision"], s["recall"])
        for name, s in bench.summary(bench.flags(sample)).items()
    }
    assert got == {
        "language_mismatch": (7, 0, 1.0, 0.7),
        "refusal": (10, 0, 1.0, 1.0),
        "semantic_duplicate (fast model)": (8, 0, 1.0, 1.0),
    }
