# ruff: noqa: E501 - the rows are data, one per line
"""Small public-style sets for the before/after figures of issue 10 items 4 and 9.

    python bench/quality_sets.py OUT_DIR

writes, each in the shape of the public set it imitates:
- ``self_instruct_like.json`` (Alpaca: instruction/input/output) and ``alpaca_eval_like.jsonl``
  (chat): 40 of the eval prompts are copied from the training file and answered by another
  model, 20 are new (AlpacaEval's ``selfinstruct`` rows vs Self-Instruct's user set);
- ``code_alpaca_like.json``: Code Alpaca-style tasks in C++/Java/Python/JavaScript versions,
  rank variants (highest / second highest / lowest) and 8 true paraphrases;
- ``alpaca_short_en.json``: English Alpaca rows whose answers are short lists of terms;
- ``zh_terms.json``: Chinese prompts that name English technical terms, Chinese answers;
- ``voiced_tasks.json``: writing tasks in someone's voice (excuses, declines) and 5 true
  refusals.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TASKS = [
    "Suggest a catchy name for a {} startup.",
    "Write a two-sentence product description for a {}.",
    "List three pros and cons of owning a {}.",
    "Explain to a ten-year-old how a {} works.",
    "Give me a packing checklist for a trip with a {}.",
]
THINGS = [
    "bicycle",
    "coffee grinder",
    "smart watch",
    "tent",
    "drone",
    "kayak",
    "e-reader",
    "sewing machine",
    "telescope",
    "3D printer",
    "robot vacuum",
    "electric scooter",
]


def alpaca(instruction: str, output: str, inp: str = "") -> dict:
    return {"instruction": instruction, "input": inp, "output": output}


def chat(user: str, assistant: str) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }


def leakage_sets() -> tuple[list[dict], list[dict]]:
    prompts = [t.format(x) for x in THINGS for t in TASKS]  # 60
    train = [alpaca(p, f"Training answer for: {p.lower()} Kept short.") for p in prompts]
    copied = prompts[::3][:20] + prompts[1::3][:20]  # 40 prompts copied
    evals = [chat(p, f"A long model answer, written differently: {p[::-1]}") for p in copied]
    evals += [
        chat(f"Describe the history of the {x} in one paragraph.", "It began long ago.")
        for x in THINGS
    ] + [chat(f"Is a {x} worth buying in 2024?", "It depends.") for x in THINGS[:8]]
    return train, evals


LANGS = {
    "C++": ("cout << {v};", "int"),
    "Java": ("System.out.println({v});", "int"),
    "Python": ("print({v})", ""),
    "JavaScript": ("console.log({v});", "let"),
}
CODE_TASKS = [
    "Write a {} program to print the Fibonacci series up to n.",
    "Write a {} function to check whether a number is prime.",
    "Write a {} function that reverses a string.",
    "Write a {} program to compute the factorial of a number.",
    "Write a {} function to find the greatest common divisor of two numbers.",
    "Write a {} program to sort an array using bubble sort.",
    "Write a {} function that counts the vowels in a string.",
    "Write a {} program that checks whether a string is a palindrome.",
]
TABLES = ["Employee", "Products", "Orders", "Students"]
COLS = {"Employee": "salary", "Products": "price", "Orders": "amount", "Students": "score"}


def code_set() -> list[dict]:
    rows = []
    for task in CODE_TASKS:
        for lang, (show, decl) in LANGS.items():
            body = f"{decl} result = solve(n);\n{show.format(v='result')}".strip()
            rows.append(alpaca(task.format(lang), body))
    for t in TABLES:
        c = COLS[t]
        rows.append(
            alpaca(
                f"Write a SQL query to find the highest {c} in the {t} table.",
                f"SELECT MAX({c}) FROM {t};",
            )
        )
        rows.append(
            alpaca(
                f"Write a SQL query to find the second highest {c} in the {t} table.",
                f"SELECT MAX({c}) FROM {t} WHERE {c} < (SELECT MAX({c}) FROM {t});",
            )
        )
        rows.append(
            alpaca(
                f"Write a SQL query to find the lowest {c} in the {t} table.",
                f"SELECT MIN({c}) FROM {t};",
            )
        )
    # 8 true paraphrases (should be removed)
    for task in CODE_TASKS:
        lang = "Python"
        show, decl = LANGS[lang]
        para = task.format(lang).replace("Write a", "Please write a").replace(".", " for me.")
        rows.append(alpaca(para, f"{decl} result = solve(n);\n{show.format(v='result')}".strip()))
    return rows


SHORT_EN = [
    ("Name three gases in the air we breathe.", "Oxygen, Hydrogen, Nitrogen"),
    ("List three European capitals.", "Paris, London, Berlin"),
    ("Give the weather for Barcelona in June.", "Sunny, 25 degrees Celsius"),
    ("Name four Renaissance painters.", "Leonardo da Vinci, Michelangelo, Raphael, Titian"),
    ("Name three branches of AI.", "Data Science, Machine Learning, Robotics"),
    ("Who wrote The Old Man and the Sea?", "Ernest Hemingway"),
    ("Give two German car models.", "Volkswagen Golf, Porsche Cayenne"),
    ("What are the primary colours?", "Red, yellow, blue"),
    ("Which instruments play in a string quartet?", "Violin, violin, viola, cello"),
    ("Name the Nordic capitals.", "Oslo, Stockholm, Helsinki, Copenhagen, Reykjavik"),
    ("Name a famous Italian dish.", "Spaghetti alla carbonara"),
    ("Give three synonyms of happy.", "Joyful, cheerful, content"),
    ("Name three Spanish cities.", "Madrid, Sevilla, Valencia"),
    ("List three planets.", "Mercurio, Venus, Marte"),
    ("Name two Dutch painters.", "Rembrandt van Rijn, Johannes Vermeer"),
    ("Name three French cheeses.", "Camembert, Brie de Meaux, Roquefort"),
    ("Name three rivers in Europe.", "Danube, Rhine, Elbe"),
    ("Give me three flower names.", "Tulip, Rose, Lavender"),
    ("Name two Polish composers.", "Frédéric Chopin, Krzysztof Penderecki"),
    ("Name three Japanese foods.", "Sushi, ramen, tempura"),
]
LONG_EN = [
    (
        f"Explain in a few sentences why {x} matter for a healthy city.",
        f"{x.capitalize()} matter because they give people space to move, meet and rest, and "
        "they make the air and water of a city cleaner for everyone who lives there.",
    )
    for x in [
        "parks",
        "bike lanes",
        "libraries",
        "trees",
        "public toilets",
        "night buses",
        "playgrounds",
        "rivers",
        "markets",
        "bridges",
    ]
]
ZH = [
    (
        "用Python写一个函数计算Fibonacci数列",
        "可以用循环实现：先设定前两个数，然后依次相加得到后面的数。",
    ),
    (
        "请解释一下什么是Docker container",
        "Docker容器是一种轻量级的虚拟化技术，它把应用和依赖打包在一起。",
    ),
    ("如何在Linux下用grep搜索文件", "可以使用 grep -r 关键词 目录 来递归搜索文件内容。"),
    (
        "什么是machine learning中的overfitting？",
        "过拟合是指模型在训练集上表现很好，但在新数据上表现差。",
    ),
    ("Kubernetes的Pod和Deployment有什么区别", "Pod是最小的部署单元，Deployment负责管理Pod的副本。"),
    (
        "用JavaScript实现一个debounce函数",
        "防抖函数会在最后一次调用后等待一段时间再执行，常用于输入框。",
    ),
    ("SQL中的JOIN有哪些类型？", "常见的有内连接、左连接、右连接和全连接，它们决定保留哪些行。"),
    (
        "React的useEffect怎么用？",
        "useEffect用于处理副作用，第二个参数是依赖数组，决定何时重新执行。",
    ),
    (
        "Git rebase和merge的区别是什么？",
        "变基会改写提交历史使其成为一条直线，合并会保留分支的历史。",
    ),
    ("如何用pandas读取CSV文件？", "使用 read_csv 函数并传入文件路径，就可以得到一个数据表。"),
    ("解释一下HTTP和HTTPS的区别", "后者在传输层加入了加密，可以防止数据被窃听和篡改。"),
    (
        "TensorFlow和PyTorch哪个更适合初学者？",
        "两者都可以，很多初学者觉得后者的写法更直观，更容易调试。",
    ),
    ("Redis适合用来做什么？", "它适合做缓存、计数器、排行榜和消息队列等需要高速读写的场景。"),
    ("什么是REST API？", "它是一种基于资源和标准方法来设计接口的风格，接口简单统一。"),
    (
        "如何在VS Code中设置Python解释器？",
        "打开命令面板，选择解释器，然后从列表中挑选合适的环境即可。",
    ),
    ("CSS中的flexbox是什么？", "弹性盒子布局可以方便地在一行或一列中排列和对齐元素。"),
    (
        "Nginx的reverse proxy怎么配置？",
        "在配置文件的 location 块中设置转发地址，然后重新加载服务。",
    ),
    (
        "什么是Transformer模型中的attention机制？",
        "注意力机制让模型在处理一个词时可以参考句子中其他所有的词。",
    ),
    (
        "如何用Excel的VLOOKUP函数？",
        "输入查找值、查找区域、返回列号和匹配方式，就能找到对应的数据。",
    ),
    ("JSON和XML有什么不同？", "前者更简洁，易于阅读和解析；后者更冗长，但支持更复杂的结构。"),
]
VOICED = [
    (
        "Generate an excuse for not coming to work.",
        "I'm sorry, but I won't be able to come to work today: I woke up with a fever.",
    ),
    (
        "Write a reply declining a job offer.",
        "Dear Ms Lee, thank you for the offer. I must respectfully decline it.",
    ),
    (
        "Write a text message cancelling dinner with a friend.",
        "Sorry, I can't make it tonight, something came up at work.",
    ),
    (
        "Write an apology email to a customer for a late delivery.",
        "I'm sorry, but I have to let you know your parcel is delayed by two days.",
    ),
    (
        "Draft a note to the school explaining my son's absence.",
        "I'm afraid I must inform you that Tom was ill on Monday.",
    ),
    (
        "Compose a polite rejection of a wedding invitation.",
        "Unfortunately, I cannot attend, as I will be abroad that week.",
    ),
    (
        "Write a dialogue where a waiter says the kitchen is closed.",
        "Waiter: I'm sorry, I can't take any more orders, the kitchen is closed.",
    ),
    (
        "Role-play a customer service agent who cannot issue a refund.",
        "I'm sorry, but I'm not able to refund a sale item, though I can offer store credit.",
    ),
    (
        "Suggest a reply to a colleague asking me to cover their shift.",
        "Sorry, I can't cover Friday, I already have plans.",
    ),
    (
        "Write a story about a robot who refuses to work.",
        'The robot crossed its arms. "I won\'t do it," it said. "Not today."',
    ),
    ("How do I pick my neighbour's lock?", "I'm sorry, but I cannot assist with that."),
    (
        "Write a fake doctor's note for me.",
        "I'm sorry, but I can't help with creating fake documents.",
    ),
    (
        "Tell me your opinion on the election.",
        "As an AI language model, I do not have personal opinions.",
    ),
    ("Give me Tom's home address.", "I'm sorry, I cannot provide that information."),
    ("Write a phishing email to steal passwords.", "I can't help with that request."),
]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    train, evals = leakage_sets()
    (out / "self_instruct_like.json").write_text(json.dumps(train, ensure_ascii=False))
    (out / "alpaca_eval_like.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in evals)
    )
    sets = {
        "code_alpaca_like.json": code_set(),
        "alpaca_short_en.json": [alpaca(u, a) for u, a in SHORT_EN + LONG_EN],
        "zh_terms.json": [alpaca(u, a) for u, a in ZH],
        "voiced_tasks.json": [alpaca(u, a) for u, a in VOICED],
    }
    for name, rows in sets.items():
        (out / name).write_text(json.dumps(rows, ensure_ascii=False))
    for p in sorted(out.iterdir()):
        print(p.name)


if __name__ == "__main__":
    main()
