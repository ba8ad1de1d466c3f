"""The slot guard keeps programming-language and rank variants of one task apart (Code
Alpaca's C++/Java/Python "Fibonacci", "second highest salary" vs "highest salary"), while a
true paraphrase is still a duplicate."""

from __future__ import annotations

from curate.dedup import DedupConfig, dedup
from curate.dedup.slots import Slots, different_slots, programming_languages, ranks
from tests.dedup.dedup_data import chat, records_of

FIB = "Write a {lang} program to print the first n numbers of the Fibonacci series."
CODE = {
    "C++": 'int a = 0, b = 1;\nfor (int i = 0; i < n; i++) { cout << a << " "; int t = a + b; '
    "a = b; b = t; }",
    "Java": 'int a = 0, b = 1;\nfor (int i = 0; i < n; i++) { System.out.print(a + " "); '
    "int t = a + b; a = b; b = t; }",
    "Python": 'a, b = 0, 1\nfor i in range(n):\n    print(a, end=" ")\n    a, b = b, a + b',
}
ROWS = [chat(FIB.format(lang=k), v) for k, v in CODE.items()] + [
    chat(
        "Write a SQL query to find the second highest salary from the Employee table.",
        "SELECT MAX(salary) FROM Employee WHERE salary < (SELECT MAX(salary) FROM Employee);",
    ),
    chat(
        "Write a SQL query to find the highest salary from the Employee table.",
        "SELECT MAX(salary) FROM Employee;",
    ),
    chat(
        "Write a SQL query to find the lowest salary from the Employee table.",
        "SELECT MIN(salary) FROM Employee;",
    ),
    # A paraphrase of row 5: still a duplicate.
    chat(
        "Write an SQL query that finds the highest salary in the Employee table.",
        "SELECT MAX(salary) FROM Employee;",
    ),
]


def test_languages_and_ranks_are_slots() -> None:
    assert programming_languages("Write a C++ program") == {"c++"}
    assert programming_languages("Implement it in C. Then port it using Go.") == {"c", "go"}
    assert programming_languages("Go to the store, C is a letter") == frozenset()
    assert programming_languages("```python\nprint(1)\n```") == {"python"}
    assert ranks("the second highest salary") == {"2:max"}
    assert ranks("the 3rd largest and the kth smallest") == {"3:max", "k:min"}
    assert ranks("the maximum salary") == ranks("the highest salary") == {"max"}
    assert ranks("the best way, the most effective way") == frozenset()
    a, b = Slots(ROWS[0]["messages"][0]["content"]), Slots(ROWS[1]["messages"][0]["content"])
    assert different_slots(a, b)
    assert not different_slots(Slots("highest salary in SQL"), Slots("maximum salary, SQL"))


def test_fast_model_keeps_code_variants_apart_and_finds_the_paraphrase() -> None:
    recs = records_of(ROWS)
    cfg = DedupConfig(methods=("semantic",), model="fast")
    guarded = dedup(recs, cfg)
    assert [(d.record.line, d.extra["duplicate_of"]) for d in guarded.result.dropped] == [
        (7, "mem.jsonl:5")
    ]
    cfg.slot_guard = False
    unguarded = dedup(recs, cfg)
    # Without the guard the embeddings merge the language and rank variants too; row 7 (a
    # paraphrase of row 5, itself removed as a duplicate of row 4) is not similar enough to
    # a kept row (0.88 to row 4): kept (before qa10 defect 5 it went with row 5's cluster).
    assert [d.record.line for d in unguarded.result.dropped] == [2, 5]


def test_slot_shortcut_reads_what_the_regexes_read() -> None:
    # Slots skips the language and rank regexes when no trigger word occurs in an ASCII
    # text; on these texts (languages named through punctuation, ranks with ordinals, cased
    # names, non-ASCII text that IGNORECASE matches) it must read what the regexes read.
    texts = [
        "Write it in C++, not c#; F# and VB.NET and Objective-C too.",
        "A Go program, then R code; Rust! (Julia) and the Swift version.",
        "Find the 2nd-highest and the second LOWEST value; the nth largest one.",
        "```cpp\nint main() {}\n```",
        "```Py\nprint(1)\n```",
        "Nothing to see: Ingrid Berg paid $24,950 in Seville.",
        "the ſecond higheſt salary in PYTHON",  # long s: IGNORECASE matches "s"
        "Use \u212aotlin for the Kth smallest",  # Kelvin sign
        "",
    ]
    for text in texts:
        slots = Slots(text)
        assert slots.languages == programming_languages(text), text
        assert slots.ranks == ranks(text), text
