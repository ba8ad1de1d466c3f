"""Split fixtures: the sample set's chat records, a bilingual Alpaca file, shared embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLE_DATA

SAMPLE = SAMPLE_DATA / "sample.jsonl"

# A self-contained stand-in for LLaMA-Factory's identity.json: an Alpaca JSON array, English
# and Chinese, identity answers with unfilled {{name}}/{{author}} placeholders, two prompts
# asked twice with different answers, and a few near-duplicate greetings.
EN_FACTS = [
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius."),
    ("Name the largest planet in our solar system.", "Jupiter is the largest planet."),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote it in 1813."),
    ("How many continents are there?", "Most geographers count seven continents."),
    ("What gas do plants absorb?", "Plants take in carbon dioxide for photosynthesis."),
    ("Translate 'thank you' into French.", "In French you say merci."),
    ("What is the square root of 144?", "The square root of 144 is 12."),
    ("Give me a synonym for happy.", "Joyful is a common synonym."),
    ("Which ocean is the deepest?", "The Pacific holds the Mariana Trench, the deepest point."),
    ("How do I reverse a list in Python?", "Call my_list.reverse() or use slicing: my_list[::-1]."),
    ("What does CPU stand for?", "It stands for central processing unit."),
    ("Suggest a name for a bakery.", "How about Golden Crust Bakery?"),
    ("When did the first moon landing happen?", "Apollo 11 landed on the Moon in July 1969."),
    ("What is the capital of Canada?", "Ottawa is the capital of Canada."),
    ("Explain what a noun is.", "A noun names a person, place, thing or idea."),
    ("How many minutes are in a day?", "A day has 1,440 minutes."),
    ("What is the chemical symbol for gold?", "Gold's symbol is Au, from the Latin aurum."),
    ("Recommend a beginner exercise.", "Brisk walking for twenty minutes is a gentle start."),
    ("Why is the sky blue?", "Air scatters short blue wavelengths of sunlight the most."),
    ("What is a prime number?", "A whole number above one divisible only by one and itself."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted it in the early 1500s."),
    ("How far is the Moon?", "About 384,400 kilometres on average."),
    ("What language is spoken in Brazil?", "Portuguese is the official language of Brazil."),
    (
        "Write a haiku about rain.",
        "Soft rain on tin roofs / the garden drinks in silence / puddles hold the sky",
    ),
    ("What is the freezing point of water in Fahrenheit?", "Water freezes at 32 degrees F."),
    ("What does HTTP stand for?", "Hypertext Transfer Protocol."),
    ("How many strings does a violin have?", "A violin has four strings tuned in fifths."),
    ("Name a mammal that can fly.", "Bats are the only mammals capable of true flight."),
    ("What is the main ingredient of guacamole?", "Ripe avocado, mashed with lime and salt."),
    ("How do vaccines work?", "They train the immune system to recognise a pathogen early."),
]
EN_IDENTITY = [
    ("Who are you?", "I am {{name}}, an AI assistant developed by {{author}}."),
    ("What is your name?", "You may refer to me as {{name}}, built by {{author}}."),
    ("Who created you?", "I was created by {{author}} to help with questions."),
    ("Are you ChatGPT?", "No, I am {{name}}, a model trained by {{author}}."),
    ("What can you do?", "I can answer questions, draft text and explain ideas."),
    ("Do you have feelings?", "I do not have feelings; I am a language model."),
]
ZH_FACTS = [
    ("水的沸点是多少？", "在标准大气压下，水的沸点是一百摄氏度。"),
    ("太阳系最大的行星是哪一个？", "木星是太阳系中体积最大的行星。"),
    ("长城大约有多长？", "长城全长约两万一千公里。"),
    ("中国的首都是哪里？", "中国的首都是北京。"),
    ("一年有多少天？", "平年有三百六十五天，闰年有三百六十六天。"),
    ("请推荐一本经典小说。", "可以读一读曹雪芹的《红楼梦》。"),
    ("什么是光合作用？", "植物利用阳光把二氧化碳和水转化为糖和氧气。"),
    ("如何学习编程？", "先选一门语言，比如 Python，然后每天动手写一些小程序。"),
    ("熊猫吃什么？", "大熊猫主要以竹子为食。"),
    ("地球绕太阳一圈需要多久？", "大约三百六十五又四分之一天。"),
    ("请用一句话形容秋天。", "秋天天高气爽，树叶渐渐变成金黄色。"),
    ("人体有多少块骨头？", "成年人的身体通常有二百零六块骨头。"),
    ("茶起源于哪个国家？", "茶最早起源于中国。"),
    ("什么是人工智能？", "人工智能是让计算机模拟人类智能行为的技术。"),
    ("怎样保持健康的睡眠？", "每天固定时间睡觉，睡前少看手机。"),
    ("月亮为什么会有圆缺？", "因为我们从地球上看到月球被太阳照亮的部分在变化。"),
    ("请写一句关于春天的诗。", "春风又绿江南岸，明月何时照我还。"),
    ("世界上最高的山峰是哪座？", "珠穆朗玛峰，海拔约八千八百四十九米。"),
    ("什么是可再生能源？", "太阳能、风能和水能等可以持续补充的能源。"),
    ("如何煮米饭？", "米和水按一比一点二的比例，用电饭锅煮二十分钟左右。"),
    ("汉字大约有多少个？", "常用汉字约三千五百个，总数超过八万。"),
    ("为什么要多喝水？", "水帮助身体调节体温并运送营养物质。"),
]
ZH_IDENTITY = [
    ("你是谁？", "您好，我是 {{name}}，一个由 {{author}} 开发的人工智能助手。"),
    ("你叫什么名字？", "您可以叫我 {{name}}，我由 {{author}} 训练。"),
    ("你是ChatGPT吗？", "抱歉，我不是 ChatGPT，我是 {{author}} 开发的 {{name}}。"),
    ("你能做什么？", "我可以回答问题、撰写文本和解释概念。"),
]


def bilingual_rows() -> list[dict[str, str]]:
    rows = [{"instruction": q, "input": "", "output": a} for q, a in EN_FACTS + EN_IDENTITY]
    rows += [{"instruction": q, "input": "", "output": a} for q, a in ZH_FACTS + ZH_IDENTITY]
    # The same prompt twice with a different answer (as identity.json has).
    rows.append({"instruction": "Who are you?", "input": "", "output": "I am a helpful bot."})
    rows.append({"instruction": "你是谁？", "input": "", "output": "我是一个乐于助人的助手。"})
    # Near duplicates: one word changed / exact repeat.
    rows.append(
        {
            "instruction": "Why is the sky blue?",
            "input": "",
            "output": "Air scatters short blue wavelengths of sunlight the most strongly.",
        }
    )
    rows.append(dict(rows[3]))
    rows.append({"instruction": "中国的首都是哪里？", "input": "", "output": "中国的首都是北京。"})
    return rows


@pytest.fixture(scope="session")
def bilingual_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bilingual") / "identity_like.json"
    path.write_text(json.dumps(bilingual_rows(), ensure_ascii=False, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def sample_records() -> list:
    """The sample set's records that read and convert cleanly (what split is given)."""
    from curate.formats import to_chat
    from curate.records import BadLine, RecordReader
    from curate.stage import Dropped

    out = []
    for item in RecordReader(SAMPLE):
        if isinstance(item, BadLine):
            continue
        converted = to_chat(item)
        if not isinstance(converted, Dropped):
            out.append(converted)
    return out


@pytest.fixture(scope="session")
def clean_sample_path(tmp_path_factory: pytest.TempPathFactory, sample_records: list) -> Path:
    """sample.jsonl without its unreadable / unconvertible lines (curate split is strict)."""
    from curate.records import write_jsonl

    path = tmp_path_factory.mktemp("sample") / "clean.jsonl"
    write_jsonl(path, [r.data for r in sample_records])
    return path


@pytest.fixture(scope="session")
def embedder():
    """The packaged MiniLM, loaded once for the session (~6 s of imports)."""
    from curate.embed import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def sample_embeddings(embedder, sample_records: list) -> np.ndarray:
    from curate.chat import record_text

    return embedder.encode([record_text(r.data) for r in sample_records])
