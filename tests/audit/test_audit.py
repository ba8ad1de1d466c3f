"""The audit library: shape, languages, diversity, reading files, determinism, card, gates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from curate.audit import AuditConfig, audit, audit_path, check_gates, parse_rules, write_card
from curate.audit.kmeans import choose_k, spherical_kmeans
from curate.errors import ConfigError
from tests.audit.audit_data import as_records, chat, clean_rows, write_jsonl

NO_EMBED = AuditConfig(embeddings=False)


def test_shape_counts_turns_tokens_and_system_prompts() -> None:
    rows = clean_rows(6)
    rows[0]["messages"][0]["content"] = "You are terse."
    rows.append(
        {
            "messages": [
                {"role": "user", "content": "Hi there, can you help me?"},
                {"role": "assistant", "content": "Of course, what do you need?"},
                {"role": "user", "content": "Name three colours."},
                {"role": "assistant", "content": "Red, green and blue."},
            ]
        }
    )
    report = audit(as_records(rows), NO_EMBED)
    sh = report.shape
    assert sh["conversations"] == 7
    assert sh["messages_by_role"] == {"assistant": 8, "system": 6, "user": 8}
    assert sh["user_turns_per_conversation"]["max"] == 2
    assert sh["multi_turn_share"] == round(1 / 7, 4)
    assert sh["tokens"]["method"] == "estimate" and not sh["tokens"]["exact"]
    assert sh["tokens"]["by_role"]["assistant"]["count"] == 7
    assert sh["tokens"]["by_role"]["system"]["count"] == 6
    sp = sh["system_prompts"]
    assert (sp["with_system"], sp["without_system"], sp["variants"]) == (6, 1, 2)
    assert sp["top"][0] == {
        "text": "You are a helpful assistant.",
        "count": 5,
        "share": round(5 / 7, 4),
        "first_line": 2,
    }
    assert report.series["turns"] == [1] * 6 + [2]


def test_exact_token_counts_with_a_tokenizer(tiny_model_dir: Path) -> None:
    report = audit(
        as_records(clean_rows(3)), AuditConfig(embeddings=False, tokenizer=str(tiny_model_dir))
    )
    tok = report.shape["tokens"]
    assert tok["exact"] and tok["method"].startswith("tokenizer:")
    assert tok["conversation"]["min"] > tok["by_role"]["assistant"]["min"] > 0


def test_identity_like_alpaca_file(identity_like_path: Path) -> None:
    """The shape of LLaMA-Factory's identity.json: both repeated prompts, the placeholders,
    and the English/Chinese mix."""
    report = audit_path(identity_like_path, NO_EMBED)
    assert report.shape["input_format"] == "alpaca"
    conflicts = [f.lines for f in report.findings if f.code == "conflicting_answers"]
    assert conflicts == [[4, 5], [6, 8]]
    placeholder = {
        f.detail["placeholder"]: f.lines
        for f in report.findings
        if f.code == "template_placeholder"
    }
    assert placeholder == {"{{name}}": [1, 2, 4, 5, 6, 8], "{{author}}": [1, 2, 4, 5, 6, 8]}
    conv = {x["language"]: x["count"] for x in report.languages["conversation"]}
    assert conv == {"zh": 6, "en": 3}
    assert "mixes languages" in report.languages["reading"]
    assert report.warnings[0].startswith("only 9 conversations")


def test_unreadable_and_not_chat_lines(tmp_path: Path) -> None:
    rows: list = clean_rows(3)
    rows.insert(1, '{"messages": [oops')
    rows.append({"text": "no messages here"})
    rows.append({"messages": []})
    report = audit_path(write_jsonl(tmp_path / "mixed.jsonl", rows), NO_EMBED)
    by_code = {f.code: f.lines for f in report.findings}
    assert by_code["unreadable"] == [2]
    assert by_code["not_chat"] == [5, 6]
    assert report.metrics["records"] == 6  # every line accounted for
    assert report.metrics["conversations"] == 3


def test_label_balance_with_dotted_path() -> None:
    rows = clean_rows(12)
    rows[0].pop("meta")
    report = audit(as_records(rows), AuditConfig(embeddings=False, label="meta.category"))
    lab = report.diversity["labels"]
    assert lab["missing"] == 1
    assert sum(x["count"] for x in lab["counts"]) == 11
    assert lab["counts"][0] == {"label": "cooking", "count": 2, "share": round(2 / 11, 4)}
    assert lab["labels"] == 10
    assert report.metrics["label_imbalance"] == 2.0
    assert "meta.category" in report.diversity["readings"]["labels"]


def test_near_duplicate_share_uses_dedup() -> None:
    rows = clean_rows(10)
    rows += [json.loads(json.dumps(rows[0])), json.loads(json.dumps(rows[1]))]
    rows[-1]["messages"][-1]["content"] = rows[-1]["messages"][-1]["content"].upper()
    nd = audit(as_records(rows), NO_EMBED).diversity["near_duplicates"]
    assert nd["duplicates"] == 2
    assert nd["share"] == round(2 / 12, 4)


def test_precomputed_embeddings_are_used_and_checked() -> None:
    rng = np.random.default_rng(0)
    rows = clean_rows(40)
    # 40 vectors: 30 around one direction, 4/3/3 around three others: a narrow set.
    sizes = [30, 4, 3, 3]
    vecs = np.vstack(
        [np.eye(8)[i] + 0.02 * rng.standard_normal((n, 8)) for i, n in enumerate(sizes)]
    )
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    report = audit(as_records(rows), AuditConfig(), embeddings=vecs)
    div = report.diversity
    assert div["embeddings"]["source"] == "precomputed"
    cl = div["clusters"]
    assert cl["k"] == choose_k(40) == 4
    assert sum(cl["sizes"]) == 40
    assert cl["sizes"] == sizes
    assert cl["top_share"] == 0.75 and "narrow" in div["readings"]["clusters"]
    # Only pairs across groups are far apart (distance ~1): 1 - 894/1560 of all pairs.
    assert report.metrics["mean_pairwise_distance"] == pytest.approx(1 - 894 / 1560, abs=0.02)
    with pytest.raises(ConfigError, match="expected one row per record"):
        audit(as_records(rows), AuditConfig(), embeddings=vecs[:10])
    # One row per record given, with a non-chat record among them: its row is skipped.
    mixed = audit(
        as_records([*rows, {"text": "x"}]), AuditConfig(), embeddings=np.vstack([vecs, vecs[:1]])
    )
    assert mixed.diversity["clusters"]["sizes"] == sizes


def test_kmeans_is_seeded_and_finds_separated_groups() -> None:
    rng = np.random.default_rng(1)
    blobs = [np.eye(16)[i] + 0.02 * rng.standard_normal((30, 16)) for i in range(3)]
    x = np.vstack(blobs).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a, b = spherical_kmeans(x, 3, seed=5), spherical_kmeans(x, 3, seed=5)
    assert np.array_equal(a, b)
    assert sorted(np.bincount(a).tolist()) == [30, 30, 30]
    assert choose_k(100_000) == 50 and choose_k(10) == 2


def test_diversity_with_the_packaged_minilm() -> None:
    rows = clean_rows(40)
    report = audit(as_records(rows), AuditConfig(seed=3))
    div = report.diversity
    assert div["embeddings"]["rows"] == 40 and not div["embeddings"]["sampled"]
    assert sum(div["clusters"]["sizes"]) == 40
    assert 0.0 < report.metrics["cluster_entropy"] <= 1.0
    assert 0.0 < report.metrics["mean_pairwise_distance"] < 1.0
    for key in ("clusters", "mean_pairwise_distance", "distinct", "near_duplicates"):
        assert div["readings"][key]


def test_same_input_and_seed_give_identical_json(clean_path: Path) -> None:
    a = audit_path(clean_path, NO_EMBED).to_dict()
    b = audit_path(clean_path, NO_EMBED).to_dict()
    assert json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)
    assert "timings" not in a


def test_language_sample_is_seeded_and_reported() -> None:
    rows = clean_rows(40)
    report = audit(as_records(rows), AuditConfig(embeddings=False, language_sample=10))
    lang = report.languages
    assert (lang["checked"], lang["of"], lang["sampled"]) == (10, 40, True)
    assert any("sample of 10" in w for w in report.warnings)


def test_gate_rules_parse_and_fail() -> None:
    rules = parse_rules(["conflicting_answers>0", "min_records=100, max_style_outlier=3"])
    assert [(r.metric, r.op, r.threshold) for r in rules] == [
        ("conflicting_answers", ">", 0.0),
        ("records", "<", 100.0),
        ("style_outlier", ">", 3.0),
    ]
    assert parse_rules(["near_duplicate_share>=5%"])[0].threshold == 0.05
    rows = clean_rows(5) + [
        chat("Q?", "Answer one is long enough."),
        chat("q", "A different reply here."),
    ]
    report = audit(as_records(rows), NO_EMBED)
    failures = check_gates(report, ["conflicting_answers>0", "min_records=100", "refusal>0"])
    assert [(f.metric, f.value) for f in failures] == [("conflicting_answers", 2), ("records", 7)]
    assert check_gates(report, ["refusal>0", "records>=7"]) != []
    assert check_gates(report, ["refusal>0"]) == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("conflicting_answers", "not a rule"),
        ("records=100", "only goes with min_/max_"),
        ("conflicts>0", "unknown metric 'conflicts'"),
        ("refusal>lots", "not a rule"),
    ],
)
def test_bad_gate_rules_raise_config_error(rule: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rules([rule])
    with pytest.raises(ConfigError, match=message):
        audit(as_records(clean_rows(2)), AuditConfig(embeddings=False, fail_on=(rule,)))


def test_gate_on_metric_not_computed_is_a_config_error() -> None:
    report = audit(as_records(clean_rows(3)), NO_EMBED)
    with pytest.raises(ConfigError, match="cluster_entropy was not computed"):
        check_gates(report, ["cluster_entropy<0.5"])


def test_gates_recorded_in_report() -> None:
    config = AuditConfig(embeddings=False, fail_on=("min_records=100", "refusal>0"))
    report = audit(as_records(clean_rows(3)), config)
    assert report.gates_failed
    assert report.gates["rules"] == ["min_records=100", "refusal>0"]
    assert [f["metric"] for f in report.gates["failures"]] == ["records"]


def test_dataset_card_has_yaml_header_and_findings(
    identity_like_path: Path, tmp_path: Path
) -> None:
    report = audit_path(identity_like_path, NO_EMBED)
    card = tmp_path / "README.md"
    write_card(report, card, license="apache-2.0")
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["language"] == ["zh", "en"]
    assert meta["license"] == "apache-2.0"
    assert meta["size_categories"] == ["n<1K"]
    assert "`conflicting_answers`, 4 records" in text
    assert "{{name}}" in text and "records 1, 2, 4, 5, 6, 8" in text


def test_card_escapes_data_for_commonmark(tmp_path: Path) -> None:
    """Issue 16 #9: a label value was copied raw into README.md and ran as HTML."""
    from markdown_it import MarkdownIt

    from curate.audit import AuditConfig, audit_path
    from curate.audit.card import card_text

    img, link = "<img src=x onerror=alert(1)>", "[click](javascript:alert(2))"
    evil = [img, img, link]  # the largest and the smallest label are both named in the card
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i} about the {['sun', 'moon'][i % 2]}?"},
                {"role": "assistant", "content": f"Answer {i}: it is far away, {i * 7} units."},
            ],
            "meta": {"category": evil[i % 3]},
        }
        for i in range(12)
    ]
    src = tmp_path / "**bold** <script>alert(3)<script>.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = audit_path(
        str(src), AuditConfig(embeddings=False, label="meta.category", language_sample=0)
    )
    html = MarkdownIt("commonmark").render(card_text(report))
    assert "<img" not in html and "<script" not in html and "<strong>" not in html
    assert 'href="javascript' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown as text, not dropped
