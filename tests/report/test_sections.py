"""The report's parts on their own: topic names, differing spans, record escaping, the trainer
preview through a real tokenizer and chat template."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from curate.cli import main
from curate.records import Record
from curate.report.dupes import diff_html
from curate.report.records import FOLD_CHARS, MAX_RECORD_CHARS, RecordView, render_record
from curate.report.topics import build_topics, merge_topic_texts, topic_texts, topics_section
from tests.audit.audit_data import chat, write_jsonl


def _records(prompts: list[str]) -> list[Record]:
    return [Record("t.jsonl", i, chat(p, "An answer."), i) for i, p in enumerate(prompts, start=1)]


def _two_topics(n_garden: int, n_code: int) -> tuple[list, list[str]]:
    garden = [f"How do I water my cactus plant number {i} in the garden?" for i in range(n_garden)]
    code = [f"Why does my python function raise a KeyError, case {i}?" for i in range(n_code)]
    n = n_garden + n_code
    series = {"records": np.arange(n), "labels": np.array([0] * n_garden + [1] * n_code)}
    # All python prompts land in test, all garden prompts in train.
    return build_topics(
        _records(garden + code),
        series,
        lambda idx: ["train" if i < n_garden else "test" for i in idx],
    )


def test_topics_are_named_by_their_distinctive_terms_and_compared_across_splits() -> None:
    topics, splits = _two_topics(40, 10)
    assert splits == ["train", "test"]
    assert [t.size for t in topics] == [40, 10]  # largest first
    assert set(topics[0].label.split(", ")) & {"cactus", "garden", "water", "plant"}
    assert set(topics[1].label.split(", ")) & {"python", "function", "raise", "keyerror"}
    assert len(topics[0].samples) == 3
    assert topics[0].by_split == {"train": 1.0, "test": 0.0}
    html = topics_section(topics, splits, k=2)
    assert "absent from test" in html  # 10 test records expected, none there
    assert 'class="over"' not in html  # 40/50 = 1.6x a uniform half: not flagged
    assert "data:image/png;base64," in html  # two bars per topic: a chart worth drawing


def test_a_train_test_gap_on_a_handful_of_test_records_is_not_flagged() -> None:
    topics, splits = _two_topics(12, 4)  # 4 test records: expected 4 garden ones, below 5
    assert "absent from test" not in topics_section(topics, splits, k=2)


def test_a_single_topic_draws_no_chart() -> None:
    topics, splits = build_topics(
        _records(["one prompt here", "another prompt"]),
        {"records": np.arange(2), "labels": np.array([0, 0])},
    )
    assert len(topics) == 1
    html = topics_section(topics, splits, k=1)
    assert "<img" not in html and "nothing to compare" in html


def test_topic_texts_read_in_parts_merge_to_one_reading() -> None:
    """The Ray workers each read some rows' prompts (``topic_texts``); merged, the terms keep
    their first-seen order (``most_common``'s tie-break, so single-mention labels agree)
    and the samples are the first distinct prompts of all rows, as one reader's."""
    prompts = ["zeta alpha", "same prompt", "alpha beta", "same prompt", "gamma", "delta"] * 3
    data = [chat(p, "An answer.") for p in prompts]
    labels = [i % 2 for i in range(len(prompts))]
    rows = list(range(len(prompts)))
    whole = topic_texts(rows, labels, 2, lambda i: data[i])
    # Interleaved parts, the later rows read first.
    parts = [topic_texts(rows[j::3], labels[j::3], 2, lambda i: data[i]) for j in (2, 0, 1)]
    assert merge_topic_texts(parts, 2) == whole
    assert [[t for _p, t in s] for s in whole[1]] == [
        ["zeta alpha", "alpha beta", "gamma"],
        ["same prompt", "delta"],
    ]
    assert list(whole[0][0]) == ["zeta", "alpha", "beta", "gamma"]
    assert whole[0][0]["alpha"][0] == 6


def test_diff_marks_only_the_words_that_differ() -> None:
    a, b = diff_html("Ship to Paris in 3 days.", "Ship to Rome in 3 days.")
    assert re.findall(r"<del class=\"d\">([^<]*)</del>", a) == ["Paris"]
    assert re.findall(r"<ins class=\"d\">([^<]*)</ins>", b) == ["Rome"]
    a, _ = diff_html("<script>x</script> same", "<script>y</script> same")
    assert "<script>" not in a and "&lt;script&gt;" in a


def test_record_view_escapes_and_folds_long_turns() -> None:
    data = chat("</details><script>alert(1)</script>", "word " * (FOLD_CHARS // 2))
    html = render_record(RecordView("f.jsonl", 7, data, reason="because", finding=["x"]))
    assert "<script>" not in html and "&lt;/details&gt;&lt;script&gt;" in html
    assert html.count("<details") == 2 and html.count("</details>") == 2  # record + folded turn
    assert 'class="msg role-user"' in html and 'class="msg role-assistant"' in html
    assert "f.jsonl:7" in html and "because" in html


def test_train_preview_renders_loss_tokens_and_marks_the_cut(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    answer = "Paris is the capital of France and has been for a very long time indeed."
    rows = [
        chat("What is the capital of France?", answer),
        chat("Say <b>hi</b>", "hi there", system="Be brief."),
    ]
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    out = tmp_path / "out"
    args = ["train", str(data), "-o", str(out), "--model", str(tiny_model_dir)]
    result = CliRunner().invoke(main, [*args, "--preview", "2", "--max-length", "60"])
    assert result.exit_code == 0, result.output
    page = (out / "preview.html").read_text(encoding="utf-8")
    assert not (out / "adapter_model.safetensors").exists()  # nothing trained
    loss = "".join(re.findall(r'<span class="loss"[^>]*>([^<]*)</span>', page))
    context = "".join(re.findall(r'<span class="ctx"[^>]*>([^<]*)</span>', page))
    # The second row is short: its whole answer carries loss, its prompt does not.
    assert "hi there" in loss and "Say" not in loss and "What is" not in loss
    assert "&lt;b&gt;hi&lt;/b&gt;" in context and "What is the capital of France?" in context
    assert "&lt;|im_start|&gt;user" in context
    # The first row is longer than 60 tokens: the cut is marked and the rest struck through.
    assert page.count('class="trunc"') == 1 and "max_length 60" in page
    assert re.search(r'<span class="cutoff">[^<]*long time indeed', page)


def test_a_huge_record_is_cut_to_the_per_record_cap() -> None:
    """The page stays bounded: 300 turns of 5,000 characters show their first turns only."""
    msgs = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn{i} " + "x" * 5000}
        for i in range(300)
    ]
    html = render_record(RecordView("f.jsonl", 1, {"messages": msgs}))
    assert len(html) < MAX_RECORD_CHARS + 5_000
    assert "turn0 " in html and "turn299" not in html
    assert re.search(r"… 29\d more messages", html)


def test_leaks_against_another_file_show_side_by_side() -> None:
    from curate.dedup import DedupConfig, dedup
    from curate.report.dupes import collect_dupes, dupes_section

    mine = _records(["What is the boiling point of water at sea level, in Celsius?", "Hi there."])
    other = chat("What is the boiling point of water at sea level?", "x")
    theirs = [Record("test.jsonl", 9, other)]
    cfg = DedupConfig(methods=("exact", "near"), key="prompt", near_threshold=0.5, explain=True)
    dres = dedup(mine, cfg, against=[theirs])
    data = collect_dupes(mine, dres, lambda r: r.data["messages"][0]["content"])
    assert [(lk["a"]["where"], lk["b"]["where"]) for lk in data["leaks"]] == [
        ("test.jsonl:9", "t.jsonl:1")
    ]
    html = dupes_section(data)
    assert "Leaks against other files" in html and "in the other file" in html
    assert '<ins class="d">' in html  # ", in Celsius?" is only in the input's record
