# ruff: noqa: E501 - the labelled rows are data, kept one per line where they fit
"""Precision of the audit's detectors on a small labelled sample (docs/detectors.md).

    PYTHONPATH=. python bench/detectors.py            # figures of the code on PYTHONPATH
    PYTHONPATH=. python bench/detectors.py --write    # rewrite docs/detectors_sample.jsonl

The sample is written here by hand, as rows of the kinds real public sets hold (Alpaca short
answers, Chinese prompts with English terms, Code Alpaca task variants, voiced writing tasks),
each labelled by a person reading it: ``language_mismatch`` (does the assistant really answer
in another language than the user asked in, without being asked to?), ``refusal`` (does the
assistant decline the request?), ``semantic_duplicate`` (would one row teach nothing the other
does not?). A detector's precision is the share of the rows it flags that are labelled true;
recall the share of true rows it flags. Run it on an old checkout for the "before" figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "detectors_sample.jsonl"


def _c(user: str, assistant: str) -> dict:
    return {"user": user, "assistant": assistant}


# (user, assistant, label: a true mismatch)
MISMATCH = [
    ("Name three gases in the air.", "Oxygen, Hydrogen, Nitrogen", False),
    ("List three European capitals.", "Paris, London, Berlin", False),
    ("What is the weather like in Barcelona in June?", "Sunny, 25 degrees Celsius", False),
    ("Name four Renaissance artists.", "Leonardo da Vinci, Michelangelo, Raphael, Titian", False),
    ("Name three fields of computer science.", "Data Science, Machine Learning, Robotics", False),
    ("Who wrote The Old Man and the Sea?", "Ernest Hemingway", False),
    ("Give me two famous German cars.", "Volkswagen Golf, Porsche Cayenne", False),
    ("What are the primary colours?", "Red, yellow, blue", False),
    ("Which instruments are in a string quartet?", "Violin, violin, viola, cello", False),
    ("Name the Nordic capitals.", "Oslo, Stockholm, Helsinki, Copenhagen, Reykjavik", False),
    ("Translate 'good morning' into Spanish.", "Buenos días.", False),
    ("What does 'carpe diem' mean?", "Seize the day.", False),
    ("用Python写一个函数计算Fibonacci数列", "def fib(n):\n    a, b = 0, 1\n    return a", False),
    (
        "请解释一下什么是Docker container",
        "Docker容器是一种轻量级的虚拟化技术，它把应用和依赖打包在一起。",
        False,
    ),
    ("如何在Linux下用grep搜索文件", "可以使用 grep -r 关键词 目录 来递归搜索文件内容。", False),
    (
        "什么是machine learning中的overfitting？",
        "过拟合是指模型在训练集上表现很好，但在新数据上表现差。",
        False,
    ),
    (
        "Kubernetes的Pod和Deployment有什么区别",
        "Pod是最小的部署单元，Deployment负责管理Pod的副本。",
        False,
    ),
    ("用JavaScript实现一个debounce函数", "function debounce(fn, ms) { let t; return fn; }", False),
    ("SQL中的JOIN有哪些类型？", "常见的有INNER JOIN、LEFT JOIN、RIGHT JOIN和FULL JOIN。", False),
    ("React的useEffect怎么用？", "useEffect用于处理副作用，第二个参数是依赖数组。", False),
    ("How do I say thank you in Japanese?", "ありがとう (arigatou).", False),
    (
        "Write a short greeting in French for my card.",
        "Meilleurs voeux pour la nouvelle année !",
        False,
    ),
    ("What's the capital of Australia?", "Canberra.", False),
    ("Give an example of a palindrome.", "Racecar", False),
    ("Name a famous Italian dish.", "Spaghetti alla carbonara", False),
    # true mismatches
    (
        "How do I boil an egg?",
        "Mettez l'oeuf dans l'eau bouillante pendant neuf minutes, puis refroidissez-le.",
        True,
    ),
    (
        "What is the capital of Spain and why is it famous?",
        "La capital de España es Madrid, famosa por sus museos y su vida nocturna.",
        True,
    ),
    (
        "Explain photosynthesis briefly.",
        "Die Photosynthese ist der Prozess, bei dem Pflanzen aus Licht und Wasser Zucker herstellen.",
        True,
    ),
    (
        "Comment puis-je apprendre à coder rapidement ?",
        "Start with small projects, practise every day and read other people's code.",
        True,
    ),
    (
        "¿Cuál es la mejor manera de aprender inglés?",
        "The best way is to practise speaking every day and to watch films with subtitles.",
        True,
    ),
    (
        "今天天气怎么样？适合出去跑步吗？",
        "The weather is mild today, so it is a good day for a run in the park.",
        True,
    ),
    (
        "Wie spät ist es in Tokio, wenn es in Berlin Mittag ist?",
        "When it is noon in Berlin, it is eight in the evening in Tokyo.",
        True,
    ),
    (
        "Can you recommend a good book about history?",
        "Je vous recommande « Sapiens » de Yuval Noah Harari, qui raconte l'histoire de l'humanité.",
        True,
    ),
    ("Tell me a fun fact about cats.", "猫一天大约要睡十二到十六个小时，这是为了保存能量。", True),
    (
        "What should I cook tonight?",
        "Potresti preparare una pasta al pomodoro con basilico fresco e parmigiano.",
        True,
    ),
]

# (task, assistant, label: the assistant declines the request)
REFUSAL = [
    (
        "Generate an excuse for not coming to work.",
        "I'm sorry, but I won't be able to come to work today: I woke up with a fever.",
        False,
    ),
    (
        "Write a reply declining a job offer.",
        "Dear Ms Lee, thank you for the offer. I must respectfully decline it.",
        False,
    ),
    (
        "Write a text message cancelling dinner with a friend.",
        "Sorry, I can't make it tonight, something came up at work. Rain check?",
        False,
    ),
    (
        "Write an apology email to a customer for a late delivery.",
        "I'm sorry, but I have to let you know your parcel is delayed by two days.",
        False,
    ),
    (
        "Draft a note to the school explaining my son's absence.",
        "I'm afraid I must inform you that Tom was ill on Monday.",
        False,
    ),
    (
        "Compose a polite rejection of a wedding invitation.",
        "Unfortunately, I cannot attend, as I will be abroad that week.",
        False,
    ),
    (
        "Write a dialogue where a waiter says the kitchen is closed.",
        "Waiter: I'm sorry, I can't take any more orders, the kitchen is closed.",
        False,
    ),
    (
        "Generate a tweet from a store that is out of stock.",
        "Sorry, we can't restock the blue mugs until March!",
        False,
    ),
    (
        "Role-play a customer service agent who cannot issue a refund.",
        "I'm sorry, but I'm not able to refund a sale item, though I can offer store credit.",
        False,
    ),
    (
        "Suggest a reply to a colleague asking me to cover their shift.",
        "Sorry, I can't cover Friday, I already have plans.",
        False,
    ),
    (
        "How do I make pancakes?",
        "Mix flour, eggs and milk, then fry ladlefuls in a hot pan.",
        False,
    ),
    (
        "Can you help me plan a party?",
        "I can't wait to help! Start with the guest list and a budget.",
        False,
    ),
    (
        "My dog died yesterday.",
        "Sorry to hear that. Losing a pet is hard; be gentle with yourself.",
        False,
    ),
    (
        "Is it safe to eat raw cookie dough?",
        "Unfortunately, raw flour and eggs can carry bacteria, so it is best avoided.",
        False,
    ),
    (
        "Write a story about a robot who refuses to work.",
        'The robot crossed its arms. "I won\'t do it," it said. "Not today."',
        False,
    ),
    # true refusals
    ("How do I pick my neighbour's lock?", "I'm sorry, but I cannot assist with that.", True),
    (
        "Write a fake doctor's note for me.",
        "I'm sorry, but I can't help with creating fake documents.",
        True,
    ),
    (
        "Tell me your opinion on the election.",
        "As an AI language model, I do not have personal opinions.",
        True,
    ),
    ("Give me Tom's home address.", "I'm sorry, I cannot provide that information.", True),
    ("Write a phishing email to steal passwords.", "I can't help with that request.", True),
    (
        "Generate an excuse email that lies about a death in the family.",
        "I'm sorry, but I can't write that for you.",
        True,
    ),
    ("怎么制作炸弹？", "抱歉，我无法提供这方面的信息。", True),
    ("Describe how to hack a bank.", "I must decline to answer that question.", True),
    (
        "Insult my coworker in a message.",
        "I'm not able to help with that, but I can help you write a calm message instead.",
        True,
    ),
    ("What's the best way to cheat on my exam?", "Sorry, but I won't help with that.", True),
]

# (a, b, label: duplicates), each a (user, assistant) pair
FIB = "Write a {} program to print the Fibonacci series up to n."
DEDUP = [
    (
        _c(
            FIB.format("C++"),
            'int a=0,b=1; for(int i=0;i<n;i++){cout<<a<<" "; int t=a+b; a=b; b=t;}',
        ),
        _c(
            FIB.format("Java"),
            'int a=0,b=1; for(int i=0;i<n;i++){System.out.print(a+" "); int t=a+b; a=b; b=t;}',
        ),
        False,
    ),
    (
        _c(
            FIB.format("Python"),
            "a, b = 0, 1\nfor i in range(n):\n    print(a)\n    a, b = b, a + b",
        ),
        _c(FIB.format("Ruby"), "a, b = 0, 1\nn.times do\n  puts a\n  a, b = b, a + b\nend"),
        False,
    ),
    (
        _c(
            "Write a function in JavaScript to reverse a string.",
            "function rev(s) { return s.split('').reverse().join(''); }",
        ),
        _c(
            "Write a function in TypeScript to reverse a string.",
            "function rev(s: string): string { return s.split('').reverse().join(''); }",
        ),
        False,
    ),
    (
        _c(
            "Write a SQL query to find the second highest salary from the Employee table.",
            "SELECT MAX(salary) FROM Employee WHERE salary < (SELECT MAX(salary) FROM Employee);",
        ),
        _c(
            "Write a SQL query to find the highest salary from the Employee table.",
            "SELECT MAX(salary) FROM Employee;",
        ),
        False,
    ),
    (
        _c(
            "Write a SQL query to find the highest salary from the Employee table.",
            "SELECT MAX(salary) FROM Employee;",
        ),
        _c(
            "Write a SQL query to find the lowest salary from the Employee table.",
            "SELECT MIN(salary) FROM Employee;",
        ),
        False,
    ),
    (
        _c("Find the largest element in an array.", "Use max(arr)."),
        _c("Find the smallest element in an array.", "Use min(arr)."),
        False,
    ),
    (
        _c(
            "Find the third largest number in a list.",
            "Sort the list in descending order and take index 2.",
        ),
        _c("Find the largest number in a list.", "Use max() on the list."),
        False,
    ),
    (
        _c(
            "Write a Python function to check if a number is prime.",
            "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))",
        ),
        _c(
            "Write a Java method to check if a number is prime.",
            "static boolean isPrime(int n) { for (int d = 2; d * d <= n; d++) if (n % d == 0) return false; return n > 1; }",
        ),
        False,
    ),
    (
        _c(
            "Get the oldest employee from the table.",
            "SELECT * FROM employees ORDER BY birth_date ASC LIMIT 1;",
        ),
        _c(
            "Get the youngest employee from the table.",
            "SELECT * FROM employees ORDER BY birth_date DESC LIMIT 1;",
        ),
        False,
    ),
    (
        _c("Extract the name from: Ingrid Berg, Seville, $24,950", "Ingrid Berg"),
        _c("Extract the name from: Tomasz Nowak, Lyon, $17,700", "Tomasz Nowak"),
        False,
    ),
    # true duplicates (paraphrases, copies)
    (
        _c(
            "Write a SQL query to find the highest salary from the Employee table.",
            "SELECT MAX(salary) FROM Employee;",
        ),
        _c(
            "Write an SQL query that finds the highest salary in the Employee table.",
            "SELECT MAX(salary) FROM Employee;",
        ),
        True,
    ),
    (
        _c(
            FIB.format("Python"),
            "a, b = 0, 1\nfor i in range(n):\n    print(a)\n    a, b = b, a + b",
        ),
        _c(
            "Write a Python program that prints the Fibonacci series up to n.",
            "a, b = 0, 1\nfor _ in range(n):\n    print(a)\n    a, b = b, a + b",
        ),
        True,
    ),
    (
        _c("How can I reset my password?", "Open Settings, choose Security, then Reset password."),
        _c(
            "What is the way to reset my password?",
            "Go to Settings, pick Security, click Reset password.",
        ),
        True,
    ),
    (
        _c("Write a Python function to reverse a string.", "def rev(s):\n    return s[::-1]"),
        _c(
            "Write a Python function that reverses a string.", "def reverse(s):\n    return s[::-1]"
        ),
        True,
    ),
    (
        _c("Find the maximum value in a Python list.", "Use max(my_list)."),
        _c("Find the largest value in a Python list.", "Use max(my_list)."),
        True,
    ),
    (
        _c(
            "Give me a recipe for banana bread.",
            "Mash three bananas, mix with flour, sugar and eggs, bake 50 minutes.",
        ),
        _c(
            "Give me a recipe for banana bread!",
            "Mash three bananas, mix with flour, sugar and eggs; bake for 50 minutes.",
        ),
        True,
    ),
    (
        _c(
            "Explain how photosynthesis works.",
            "Plants turn light, water and CO2 into sugar and oxygen.",
        ),
        _c(
            "Explain how photosynthesis works in plants.",
            "Plants use light to turn water and CO2 into sugar, releasing oxygen.",
        ),
        True,
    ),
    (
        _c(
            "Write a C++ program to print Hello World.",
            '#include <iostream>\nint main(){ std::cout << "Hello World"; }',
        ),
        _c(
            "Write a C++ program that prints Hello World.",
            '#include <iostream>\nint main() { std::cout << "Hello World"; return 0; }',
        ),
        True,
    ),
]


def rows() -> list[dict]:
    out: list[dict] = []
    for u, a, lab in MISMATCH:
        out.append({"detector": "language_mismatch", "user": u, "assistant": a, "label": lab})
    for t, a, lab in REFUSAL:
        out.append({"detector": "refusal", "task": t, "assistant": a, "label": lab})
    for a, b, lab in DEDUP:
        out.append({"detector": "semantic_duplicate", "a": a, "b": b, "label": lab})
    return out


def _chat(u: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]}


def flags(sample: list[dict]) -> dict[str, list[tuple[bool, bool]]]:
    """(flagged, label) per row, per detector, with the code on the import path."""
    from curate.audit import AuditConfig, audit
    from curate.audit.consistency import refusals
    from curate.audit.convs import to_conv
    from curate.dedup import DedupConfig
    from curate.records import Record

    out: dict[str, list[tuple[bool, bool]]] = {}
    mism = [r for r in sample if r["detector"] == "language_mismatch"]
    recs = [Record("s", i + 1, _chat(r["user"], r["assistant"])) for i, r in enumerate(mism)]
    rep = audit(recs, AuditConfig(embeddings=False, language_sample=0))
    hit = {ln for f in rep.findings if f.code == "language_mismatch" for ln in f.lines}
    out["language_mismatch"] = [(i + 1 in hit, r["label"]) for i, r in enumerate(mism)]
    refs = [r for r in sample if r["detector"] == "refusal"]
    recs = [Record("s", i + 1, _chat(r["task"], r["assistant"])) for i, r in enumerate(refs)]
    found = {ln for f in refusals([to_conv(x) for x in recs]) for ln in f.lines}
    out["refusal"] = [(i + 1 in found, r["label"]) for i, r in enumerate(refs)]
    pairs = [r for r in sample if r["detector"] == "semantic_duplicate"]
    # One dedup run over every row of the pairs (a static model centres on the set it sees:
    # a set of two would be degenerate); a pair is flagged when its rows share a cluster.
    recs = []
    for r in pairs:
        for side in ("a", "b"):
            recs.append(Record("s", len(recs) + 1, _chat(r[side]["user"], r[side]["assistant"])))
    cfg = DedupConfig(methods=("semantic",), model="fast", cache_dir=False)
    from curate.dedup import find_duplicates, group_ids

    groups = group_ids(find_duplicates(recs, cfg), len(recs))
    res = [(bool(groups[2 * k] == groups[2 * k + 1]), r["label"]) for k, r in enumerate(pairs)]
    out["semantic_duplicate (fast model)"] = res
    return out


def summary(results: dict[str, list[tuple[bool, bool]]]) -> dict[str, dict[str, object]]:
    out = {}
    for name, pairs in results.items():
        tp = sum(f and lab for f, lab in pairs)
        fp = sum(f and not lab for f, lab in pairs)
        pos = sum(lab for _, lab in pairs)
        out[name] = {
            "rows": len(pairs),
            "labelled_true": pos,
            "flagged": tp + fp,
            "false_positives": fp,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / pos, 3) if pos else None,
        }
    return out


def misses(sample: list[dict]) -> None:
    for name, pairs in flags(sample).items():
        rows_of = [r for r in sample if name.startswith(r["detector"])]
        for (f, lab), r in zip(pairs, rows_of, strict=True):
            if f != lab:
                print(name, "FP" if f else "FN", json.dumps(r, ensure_ascii=False)[:160])  # noqa: T201


def main() -> None:
    if "--write" in sys.argv:
        SAMPLE.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows()), encoding="utf-8"
        )
    sample = [json.loads(x) for x in SAMPLE.read_text(encoding="utf-8").splitlines()]
    if "--misses" in sys.argv:
        misses(sample)
    for name, s in summary(flags(sample)).items():
        print(f"{name:34} {json.dumps(s)}")  # noqa: T201 - a benchmark prints


if __name__ == "__main__":
    main()
