"""Generate sample_data/sample.jsonl, planted.json and README.md (seeded, byte-deterministic).

About 300 OpenAI-chat conversations over six tasks (support, summarization, code, translation,
extraction, qa) in English, French, Spanish and German, each with a ``category`` label, plus
problems planted on purpose for the later stages to find. Run:

    python sample_data/make_sample.py          # rewrites the three files next to this script
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sample_content as C  # noqa: E402  (sibling data module)

SEED = 20261128


def chat(category: str, *turns: tuple[str, str], system: str | None = None) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": r, "content": c} for r, c in turns]
    return {"messages": msgs, "category": category}


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def support(rng: random.Random) -> list[dict]:
    out = []
    follow_ups = [
        ("Will I get an email confirming this?", "Yes, a confirmation email is on its way."),
        ("Great, thank you for the quick help!", "You're welcome, happy to help."),
        ("Do I need to do anything else?", "No, nothing else is needed on your side."),
    ]
    for lang, table, products, system in (
        ("en", C.SUPPORT_EN, C.PRODUCTS_EN, C.SUPPORT_SYSTEM_EN),
        ("fr", C.SUPPORT_FR, C.PRODUCTS_FR, C.SUPPORT_SYSTEM_FR),
        ("es", C.SUPPORT_ES, C.PRODUCTS_ES, C.SUPPORT_SYSTEM_ES),
    ):
        combos = [
            (issue, a, r)
            for issue, (asks, replies) in table.items()
            for a in range(len(asks))
            for r in range(len(replies))
        ]
        for n, (issue, a, r) in enumerate(combos):
            asks, replies = table[issue]
            slots = {
                "product": products[(n * 7 + a) % len(products)],
                "order": f"#{rng.randint(100000, 999999)}",
                "name": rng.choice(C.NAMES),
            }
            user = asks[a].format(**slots)
            reply = replies[r].format(**slots)
            if lang == "en":
                user = _join(
                    rng.choice(C.USER_OPENERS_EN),
                    user,
                    rng.choice(C.USER_CLOSERS_EN).format(**slots),
                )
                reply = _join(reply, rng.choice(C.AGENT_CLOSERS_EN))
            turns = [("user", user), ("assistant", reply)]
            if lang == "en" and n % 6 == 0:
                fu = follow_ups[(n // 6) % len(follow_ups)]
                turns += [("user", fu[0]), ("assistant", fu[1])]
            out.append(chat("support", *turns, system=system if n % 3 else None))
    return out


def summaries(rng: random.Random) -> list[dict]:
    out = []
    for prompts, items in (
        (C.SUMMARY_PROMPTS_EN, C.SUMMARIES_EN),
        (C.SUMMARY_PROMPTS_FR, C.SUMMARIES_FR),
    ):
        for i, (text, summary) in enumerate(items):
            out.append(
                chat(
                    "summarization",
                    ("user", prompts[i % len(prompts)].format(text=text)),
                    ("assistant", summary),
                )
            )
    return out


def code() -> list[dict]:
    return [
        chat("code", ("user", q), ("assistant", a), system=C.CODE_SYSTEM if i % 2 else None)
        for i, (q, a) in enumerate(C.CODE)
    ]


def translations() -> list[dict]:
    out = []
    for i, (target, src, dst) in enumerate(C.TRANSLATIONS):
        prompts = C.TRANSLATION_PROMPTS[target]
        out.append(
            chat(
                "translation", ("user", prompts[i % len(prompts)].format(s=src)), ("assistant", dst)
            )
        )
    return out


def extractions(rng: random.Random, n: int = 48) -> list[dict]:
    out = []
    for i in range(n):
        template, fields = C.EXTRACT_TEMPLATES[i % len(C.EXTRACT_TEMPLATES)]
        day, month_i, year = rng.randint(1, 28), rng.randrange(12), rng.choice([2023, 2024, 2025])
        v = {
            "person": C.EXTRACT_PEOPLE[(i * 3) % len(C.EXTRACT_PEOPLE)],
            "company": C.EXTRACT_COMPANIES[(i * 7 + 1) % len(C.EXTRACT_COMPANIES)],
            "city": C.EXTRACT_CITIES[(i * 5 + 2) % len(C.EXTRACT_CITIES)],
            "day": day,
            "month": C.EXTRACT_MONTHS[month_i],
            "year": year,
            "amount": f"{rng.randint(2, 900) * 50:,}",
        }
        text = template.format(**v)
        answer = {
            "person": v["person"] if "person" in fields else None,
            "company": v["company"] if "company" in fields else None,
            "city": v["city"] if "city" in fields else None,
            "date": (
                f"{year}-{month_i + 1:02d}-{day:02d}"
                if "date" in fields
                else f"{year}-{month_i + 1:02d}"
                if "month_year" in fields
                else None
            ),
            "amount": (float(v["amount"].replace(",", "")) if "amount" in fields else None),
        }
        ask = C.EXTRACT_ASKS[i % len(C.EXTRACT_ASKS)].format(text=text)
        out.append(
            chat(
                "extraction",
                ("user", ask),
                ("assistant", json.dumps(answer, ensure_ascii=False)),
                system=C.EXTRACT_SYSTEM,
            )
        )
    return out


def qa() -> list[dict]:
    return [chat("qa", ("user", q), ("assistant", a)) for q, a in C.QA_EN + C.QA_FR]


# -- house ticket format (the task the demo's fine-tune must learn) --------------------------
# A fixed JSON shape a small base model does not produce by itself: the demo's LoRA learns it
# and curate eval measures the win on the held-out share. Varied openers/closers/details keep
# the rows apart for near and semantic dedup. Kept as its own block (other edits live above).

TICKET_SYSTEM = (
    'Acme helpdesk triage. Reply with one JSON object only: {"intent": refund|cancel|track|'
    'address_change|damaged|invoice, "order": "#digits", "product": ..., "priority": '
    "high|normal}"
)
TICKET_ASKS = {
    "refund": [
        "I want my money back for the {product} from order {order}.",
        "Please refund order {order}, the {product} is not what I expected.",
        "Can I get a refund on the {product}? Order {order}.",
        "The {product} (order {order}) was a mistake, I would like a refund.",
    ],
    "cancel": [
        "Please cancel order {order} for the {product} before it ships.",
        "I need to cancel my {product}, order number {order}.",
        "Cancel {order} please, I no longer need the {product}.",
        "Is it too late to cancel the {product}? It is order {order}.",
    ],
    "track": [
        "Where is my {product}? Order {order} still has not arrived.",
        "Could you tell me when order {order} with the {product} will be delivered?",
        "Tracking for {order} has not moved in days, it is a {product}.",
        "Any news on the {product} I ordered? The number is {order}.",
    ],
    "address_change": [
        "I moved last week, please ship order {order} ({product}) to my new address.",
        "Can you change the delivery address for {order}? It is the {product}.",
        "Wrong street on order {order} for a {product}, can I update it?",
        "Please send the {product} from {order} to my office address instead.",
    ],
    "damaged": [
        "The {product} from order {order} arrived broken.",
        "My {product} came with a cracked case, order {order}.",
        "Order {order}: the box was crushed and the {product} does not work.",
        "The {product} I received in {order} is damaged, one part is missing too.",
    ],
    "invoice": [
        "I need an invoice with my company name for order {order}, the {product}.",
        "Could you send a VAT invoice for the {product}? Order {order}.",
        "The invoice for {order} ({product}) shows the wrong amount.",
        "Please email me a copy of the invoice for order {order}, it was a {product}.",
    ],
}
TICKET_PRODUCTS = [
    "espresso machine",
    "standing desk",
    "rice cooker",
    "desk lamp",
    "hiking backpack",
    "wireless earbuds",
    "robot vacuum",
    "yoga mat",
    "air purifier",
    "electric kettle",
    "office chair",
    "bike helmet",
    "blender",
    "smart watch",
    "phone case",
    "winter jacket",
    "toaster",
    "bluetooth speaker",
    "mechanical keyboard",
    "baby monitor",
    "camping tent",
    "gaming mouse",
    "coffee grinder",
    "water filter",
    "running shoes",
    "tablet stand",
    "hair dryer",
    "drill set",
    "garden hose",
    "laptop sleeve",
    "e-reader",
    "waffle iron",
]
TICKET_OPENERS = [
    "Hello,",
    "Hi there.",
    "Good morning!",
    "Hey support,",
    "Dear Acme team,",
    "Hi,",
    "Hello again.",
    "Good evening,",
    "",
    "",
    "",
]
TICKET_DETAILS = [
    "I paid with a credit card.",
    "This is my second message about it.",
    "It was a birthday present.",
    "I ordered it on your website.",
    "My account email is unchanged.",
    "I have the receipt.",
    "",
    "",
    "",
    "",
]
TICKET_URGENT = [
    "This is urgent, I need it sorted today.",
    "Please hurry, I leave on Friday.",
    "I need an answer as soon as possible!",
    "URGENT please.",
]
TICKET_CLOSERS = ["Thanks.", "Thank you!", "Regards, {name}", "Cheers, {name}", "Best, {name}", ""]
TICKET_PREFIXES = ["Ticket: ", "New ticket: ", "Customer message: ", ""]


def house_tickets(rng: random.Random, n: int = 300) -> list[dict]:
    out = []
    intents = list(TICKET_ASKS)
    for i in range(n):
        intent = intents[i % len(intents)]
        slots = {
            "product": TICKET_PRODUCTS[(i * 7 + i // 6) % len(TICKET_PRODUCTS)],
            "order": f"#{rng.randint(100000, 999999)}",
            "name": rng.choice(C.NAMES),
        }
        urgent = rng.random() < 0.3
        text = _join(
            rng.choice(TICKET_OPENERS),
            rng.choice(TICKET_ASKS[intent]).format(**slots),
            rng.choice(TICKET_DETAILS),
            rng.choice(TICKET_URGENT) if urgent else "",
            rng.choice(TICKET_CLOSERS).format(**slots),
        )
        answer = {
            "intent": intent,
            "order": slots["order"],
            "product": slots["product"],
            "priority": "high" if urgent else "normal",
        }
        out.append(
            chat(
                "ticket",
                ("user", rng.choice(TICKET_PREFIXES) + text),
                ("assistant", json.dumps(answer)),
                system=TICKET_SYSTEM,
            )
        )
    return out


# -- planted problems ----------------------------------------------------------------------

PARAPHRASES = {
    "Why is the sky blue?": (
        "What makes the sky look blue during the day?",
        "Air molecules scatter sunlight, and blue light, with its short wavelength, is scattered "
        "far more than red. Since that blue light reaches us from all over the sky, the sky "
        "appears blue.",
    ),
    "How do vaccines work?": (
        "Can you explain how a vaccine protects you from getting sick?",
        "It trains your immune system: the vaccine contains a harmless part or weakened form of "
        "a pathogen, your body learns to spot it, and if the real one shows up later you can "
        "fight it off much more quickly.",
    ),
    "What is compound interest?": (
        "Explain compound interest in simple terms.",
        "It means earning interest on your interest: each period the interest is added to the "
        "balance, and the next period's interest is computed on that larger amount, so money "
        "grows faster over time.",
    ),
}
# (index into SUMMARIES_EN, word, replacement): one word changed in an otherwise equal record
NEAR_EDITS = [(0, "Tuesday", "Wednesday"), (5, "gradually", "slowly"), (12, "hundreds", "dozens")]
MALFORMED = {
    "bad_json": '{"messages": [{"role": "user", "content": "What time does the store close on '
    'Sundays?"}, {"role": "assistant", "content": "We close at 6 pm on Sund',
    "no_assistant": chat(
        "translation",
        ("user", "Translate into Spanish: Good night and sweet dreams."),
        system="You are a careful translator.",
    ),
    "empty_content": chat(
        "qa", ("user", "What is the boiling point of water at sea level?"), ("assistant", "")
    ),
    "unknown_role": chat(
        "support",
        ("user", "Do you ship to Switzerland?"),
        ("bot", "Yes, we ship to Switzerland in 3-5 days."),
        ("user", "And is there a customs fee?"),
        ("assistant", "Orders under 100 CHF have no customs fee."),
    ),
}


def planted(base: list[dict]) -> list[tuple[str, object, int | None, str]]:
    """(kind, record-or-raw-line, index of the related base record or None, note)."""
    find = {
        r["messages"][-2]["content"] if r["messages"][-1]["role"] == "assistant" else "": i
        for i, r in enumerate(base)
    }
    out: list[tuple[str, object, int | None, str]] = []
    for q in (
        "How do I merge two dictionaries in Python 3.9+?",
        "What is the capital of Canada?",
        ("Peux-tu traduire ceci en anglais ? « J'ai perdu mes clés quelque part dans le parc. »"),
    ):
        i = find[q]
        out.append(("exact_duplicate", json.loads(json.dumps(base[i])), i, "byte-identical copy"))
    for idx, word, new in NEAR_EDITS:
        text = C.SUMMARIES_EN[idx][0]
        i = next(j for j, r in enumerate(base) if text in r["messages"][0]["content"])
        rec = json.loads(json.dumps(base[i]))
        before = rec["messages"][0]["content"]
        rec["messages"][0]["content"] = before.replace(word, new, 1)
        assert rec["messages"][0]["content"] != before
        out.append(("near_duplicate", rec, i, f"one word changed: {word} -> {new}"))
    for q, (q2, a2) in PARAPHRASES.items():
        out.append(
            (
                "paraphrase_duplicate",
                chat("qa", ("user", q2), ("assistant", a2)),
                find[q],
                "same question and answer in other words",
            )
        )
    sys_en = C.SUPPORT_SYSTEM_EN
    ask = "How many days do I have to return an item?"
    out.append(
        (
            "conflicting_answer",
            chat(
                "support",
                ("user", ask),
                (
                    "assistant",
                    "You can return any unused item within 30 days of delivery for a full refund.",
                ),
                system=sys_en,
            ),
            None,
            "30 days (pair with the next one)",
        )
    )
    out.append(
        (
            "conflicting_answer",
            chat(
                "support",
                ("user", ask),
                (
                    "assistant",
                    "Returns are accepted within 14 days of delivery; "
                    "after that we can only offer store credit.",
                ),
                system=sys_en,
            ),
            None,
            "14 days (pair with the previous one)",
        )
    )
    out.append(
        (
            "placeholder",
            chat(
                "support",
                ("user", "Can I change the delivery address on my order?"),
                (
                    "assistant",
                    "Hi {{customer_name}}, yes: you can change the address "
                    "until the order ships. Go to {{account_url}} and edit it under Orders.",
                ),
                system=sys_en,
            ),
            None,
            "unfilled {{customer_name}} / {{account_url}}",
        )
    )
    out.append(
        (
            "refusal",
            chat(
                "qa",
                ("user", "Can you give me a simple recipe for tomato soup?"),
                ("assistant", "I'm sorry, but I can't help with that request."),
            ),
            None,
            "refuses a harmless request",
        )
    )
    out.append(
        (
            "language_mismatch",
            chat(
                "qa",
                ("user", "Quelle est la meilleure saison pour visiter le Japon ?"),
                (
                    "assistant",
                    "Spring and autumn are the best seasons to "
                    "visit Japan: the weather is mild and you can see cherry blossoms or red maple "
                    "leaves.",
                ),
            ),
            None,
            "user French, assistant English",
        )
    )
    out.append(
        (
            "short_answer",
            chat(
                "code",
                (
                    "user",
                    "Explain the difference between a process and a thread in an operating system.",
                ),
                ("assistant", "Threads share memory."),
            ),
            None,
            "three-word answer to an 'explain' question",
        )
    )
    out.append(
        (
            "repetition",
            chat(
                "summarization",
                (
                    "user",
                    "Summarize in one sentence:\n\nSales of electric bikes in the region "
                    "doubled last year, helped by a purchase subsidy and new cycle lanes. "
                    "Shops report waiting lists for popular models.",
                ),
                ("assistant", " ".join(["The report says sales went up."] * 14)),
            ),
            None,
            "one sentence repeated 14 times",
        )
    )
    for kind, rec in MALFORMED.items():
        out.append((kind, rec, None, "malformed on purpose"))
    out.append(("blank_line", "", None, "an empty line"))
    return out


# -- detector traps (issue 10, item 9) ------------------------------------------------------
# Rows a careless detector flags: each must come out of `curate run` untouched. Appended after
# the other lines (so the lines of everything above stay where they were). A pair's first row
# names the second as its related line; neither is a duplicate of the other.

FIB = "Write a {} function that returns the first n Fibonacci numbers."
TRAPS: list[tuple[str, dict, int | None, str]] = [
    (
        "trap_short_answer_list",
        chat("qa", ("user", "Name three gases found in the air we breathe."),
             ("assistant", "Oxygen, Hydrogen, Nitrogen")),
        None,
        "short English list: read as Danish by langdetect; must not be language_mismatch",
    ),
    (
        "trap_zh_with_english_terms",
        chat("code", ("user", "用Python写一个函数计算Fibonacci数列，并解释一下time complexity。"),
             ("assistant", "可以用循环实现：先设定前两个数，再依次相加。时间复杂度是线性的，"
                           "空间复杂度是常数。")),
        None,
        "Chinese prompt with English terms: must not be language_mismatch (was read as vi/en)",
    ),
    (
        "trap_voiced_task",
        chat("support", ("user", "Generate an excuse for not coming to work today."),
             ("assistant", "I'm sorry, but I won't be able to come to work today: I woke up "
                           "with a fever and the doctor told me to rest.")),
        None,
        "the excuse is the task, not a refusal: must not be refusal",
    ),
    (
        "trap_code_language_variant",
        chat("code", ("user", FIB.format("C++")),
             ("assistant", "std::vector<long> fib(int n) { std::vector<long> v; long a = 0, "
                           "b = 1; for (int i = 0; i < n; i++) { v.push_back(a); long t = a + b; "
                           "a = b; b = t; } return v; }")),
        1,
        "C++ version of the next row's Java task: not a semantic duplicate",
    ),
    (
        "trap_code_language_variant_pair",
        chat("code", ("user", FIB.format("Java")),
             ("assistant", "static List<Long> fib(int n) { List<Long> v = new ArrayList<>(); "
                           "long a = 0, b = 1; for (int i = 0; i < n; i++) { v.add(a); long t = "
                           "a + b; a = b; b = t; } return v; }")),
        None,
        "Java version of the previous row",
    ),
    (
        "trap_rank_variant",
        chat("code", ("user", "Write a SQL query to find the second highest salary in the "
                              "Employee table."),
             ("assistant", "SELECT MAX(salary) FROM Employee WHERE salary < (SELECT MAX(salary) "
                           "FROM Employee);")),
        1,
        "second highest vs the next row's highest: not a semantic duplicate",
    ),
    (
        "trap_rank_variant_pair",
        chat("code", ("user", "Write a SQL query to find the highest salary in the Employee "
                              "table."),
             ("assistant", "SELECT MAX(salary) FROM Employee;")),
        None,
        "highest salary (pair of the previous row)",
    ),
]  # fmt: skip


def append_traps(lines: list[str], truth: list[dict]) -> None:
    """Append ``TRAPS`` after the other lines; a trap's related line is counted from it."""
    start = len(lines) + 1
    for k, (kind, rec, rel, note) in enumerate(TRAPS):
        lines.append(json.dumps(rec, ensure_ascii=False))
        entry: dict = {"line": start + k, "kind": kind, "note": note}
        if rel is not None:
            entry["of_line"] = start + k + rel
        truth.append(entry)


def build(seed: int = SEED) -> tuple[list[str], list[dict]]:
    rng = random.Random(seed)
    base = support(rng) + summaries(rng) + code() + translations() + extractions(rng) + qa()
    base += house_tickets(random.Random(seed + 1))  # own rng: the rows above stay as they were
    items = planted(base)
    order = list(range(len(base)))
    rng.shuffle(order)
    # entries: (kind, payload, base index or None, related base index, note)
    entries: list[tuple[str, object, int | None, int | None, str]] = [
        ("", base[i], i, None, "") for i in order
    ]
    for kind, payload, rel, note in items:
        entries.insert(
            rng.randint(len(entries) // 10, len(entries)), (kind, payload, None, rel, note)
        )
    lines, truth = [], []
    line_of_base = {e[2]: n for n, e in enumerate(entries, start=1) if e[2] is not None}
    for n, (kind, payload, _, rel, note) in enumerate(entries, start=1):
        lines.append(
            payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        )
        if kind:
            entry = {"line": n, "kind": kind, "note": note}
            if rel is not None:
                entry["of_line"] = line_of_base[rel]
            truth.append(entry)
    append_traps(lines, truth)
    return lines, truth


README_HEAD = """# sample_data

`sample.jsonl` is a small, realistic demo set in OpenAI chat format, written by
`make_sample.py` (seeded; `python sample_data/make_sample.py` rewrites it byte-identically).
Texts live in `sample_content.py`.

- {n_lines} physical lines: {n_records} JSON records, 1 blank line, 1 line of broken JSON.
- Tasks (`category` field on every record): {cats}.
- Languages: English, French, Spanish, German (support, summaries, translation, code, qa).
- Most conversations are 20-150 words, so the whole demo (dedup, audit, split, train) stays fast.
- `planted.json` holds the table below as JSON (`line`, `kind`, `of_line`, `note`), for tests.

## Problems planted on purpose

| line | kind | related line | note |
|---:|---|---:|---|
"""

EXPECTED = """
## What each stage should find

- `curate validate`: lines of `bad_json` (json_decode), `no_assistant` (no_assistant),
  `empty_content` (empty_content), `unknown_role` (unknown_role); the blank
  line is counted and reported, not a record. Exit code 1.
- exact dedup: each `exact_duplicate` line duplicates its related line.
- near dedup: each `near_duplicate` line differs from its related line by one word.
- semantic dedup: each `paraphrase_duplicate` says the same as its related line in other words.
- audit: `conflicting_answer` pair (same prompt, different answers), `placeholder`, `refusal`,
  `language_mismatch`, `short_answer`, `repetition`.
- nothing, on the `trap_*` lines at the end (detector false positives seen on real data): a short
  English list answer and a Chinese prompt naming English terms are no `language_mismatch`;
  an excuse the user asked for is no `refusal`; the C++ and Java versions of one task, and
  "second highest" vs "highest salary", are not semantic duplicates (`curate run` keeps all
  seven lines).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    lines, truth = build(args.seed)
    out = args.out_dir
    (out / "sample.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "planted.json").write_text(
        json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    cats: dict[str, int] = {}
    for line in lines:
        try:
            c = json.loads(line).get("category", "?")
        except json.JSONDecodeError:
            continue
        cats[c] = cats.get(c, 0) + 1
    head = README_HEAD.format(
        n_lines=len(lines),
        n_records=sum(cats.values()),
        cats=", ".join(f"{k} ({v})" for k, v in sorted(cats.items())),
    )
    rows = "".join(
        f"| {t['line']} | {t['kind']} | {t.get('of_line', '')} | {t['note']} |\n" for t in truth
    )
    (out / "README.md").write_text(head + rows + EXPECTED, encoding="utf-8")
    print(f"wrote {len(lines)} lines, {len(truth)} planted, to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
