"""Records llama.cpp's outputs on the registered models as small golden fixtures for the tests.

Run in an environment with llama-cpp-python (it builds llama.cpp from source) and thermoconsensus:

    pip install llama-cpp-python && python scripts/record_llama_cpp.py [MODEL ...]

(no MODEL: every model in thermoconsensus.models.MODELS). Each fixture names the llama-cpp-python
version and the CPU features its build used, because llama.cpp's own numbers move with the build: on
Qwen2.5-Coder-0.5B an AVX-512 build of 0.3.36 gives a short-text perplexity 1.1% below the fixture.

Writes tests/fixtures/llama_cpp_<model>.json with, for each prompt: llama.cpp's token ids (BOS as the
model's metadata says), the top-50 last-position logits, and the greedy 32-token continuation; and the
token ids of tricky strings (for the tokenizer). Single thread, so the run is reproducible.

Also records the perplexity of a ~1,000-token text (--perplexity-only adds just that to existing
fixtures), and writes tests/fixtures/llama_cpp_tokens_<model>.json: llama.cpp's token ids for random
strings built from pieces that stress tokenizers (whitespace runs, digits, quotes, emoji, CJK, the control and
user-defined tokens of all three vocabularies), with and without special-token parsing. Pass
--tokens-only to record just those.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
from llama_cpp import Llama, llama_print_system_info
from llama_cpp import __version__ as llama_cpp_version

from thermoconsensus import models

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a small village,",
    "Q: What is 17 + 25?\nA:",
]
TRICKY = [
    "Hello world",
    " leading space",
    "  two  spaces\tand tab\n\nnewlines",
    "digits 1234567890 and 3.14159",
    "def f(x):\n    return x**2  # code",
    "emoji 🙂🚀 and accents: naïve café",
    "<|im_start|>user\nhi<|im_end|>",
    "日本語のテキスト",
    "",
]
# Pieces for the random tokenizer strings: characters plus whole tokens of the three vocabularies.
PIECES = [
    *"abcXYZ  \t\n\n019.,!?'\"()[]{}<>|_-=*#@éüñß日本語🙂🚀",
    *["<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>", "<bos>", "  ", "\n\n"],
    *["<|endoftext|>", "<table>", "</td>", "<tool_call>", "```python\n", "    return", " don't", "I'm"],
    "1234567",
]
N_RANDOM = 200
TOP = 50
GREEDY = 32
PPL_CTX = 64
PPL_TEXT = (
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined "
    "movable metal type, oil-based ink and a wooden screw press into a system that could produce books "
    "quickly and cheaply. Within decades, presses had spread across Europe, and the number of books in "
    "circulation grew from thousands to millions. Scholars could now compare identical copies of a text, "
    "errors could be corrected in later editions, and ideas travelled faster than ever before. The "
    "consequences reached far beyond scholarship: pamphlets fuelled religious and political debates, "
    "newspapers created a public sphere, and literacy slowly became an expectation rather than a privilege."
)

# A longer text for a steadier perplexity: about 1,000 tokens in windows of 128, so ~440 tokens are
# scored (the short text above scores 31, where one token's rounding noise moves the result by 1%).
PPL_LONG_CTX = 128
PPL_LONG_TEXT = """Lighthouses are among the oldest instruments of public safety. Long before anyone could \
measure a ship's position from the sky, sailors learned coastlines by their landmarks, and where the \
land offered none, people built them. The Pharos of Alexandria, finished in the third century before \
the common era, stood more than a hundred metres tall and burned a fire whose light, reflected by \
polished metal, could be seen far out at sea. For centuries it was counted among the wonders of the \
world, and its name still means lighthouse in several languages.

For most of their history lighthouses were simple: a tower, a fire of wood or coal, and a keeper who \
fed it through the night. The light was weak and smoky, and in bad weather it vanished altogether. \
Candles and oil lamps improved matters only a little, because most of the light they gave went up \
into the sky or back towards the land, where nobody needed it. The problem was not making light but \
sending it where the ships were.

The solution came from optics. In the eighteenth century, engineers placed parabolic mirrors behind \
the lamps, gathering the light into a beam. Mirrors tarnished, however, and had to be polished every \
day. In 1822 the French physicist Augustin Fresnel proposed a lens made of concentric rings of glass, \
each ring bending light by just the right amount. A Fresnel lens was far thinner and lighter than a \
solid lens of the same power, and it could capture most of the light of a lamp and send it out in a \
narrow, intense beam. Within a few decades, Fresnel lenses stood in lighthouses all over the world.

Every lighthouse also needed an identity. A sailor who saw a light at night had to know which light \
it was, or it could lead him onto the rocks instead of away from them. Engineers therefore gave each \
station a characteristic: a fixed light, a flash every five seconds, two flashes and a pause, a red \
sector over a dangerous shoal. Printed lists described these patterns, and navigators learned to \
count the seconds between flashes with a watch in one hand and the chart in the other.

The keepers themselves lived lives of routine and isolation. They trimmed wicks, wound the clockwork \
that turned the lens, cleaned the glass, painted the tower and recorded the weather in a logbook. On \
remote rocks, supplies arrived by boat when the sea allowed it, and storms could cut a station off \
for weeks. Some keepers brought their families; others served in rotating crews of three, so that \
one could sleep while another kept watch and a third rested on the mainland.

Electricity changed everything again. Electric lamps were brighter and needed no wick, and by the \
middle of the twentieth century many lights could be switched on and off by a timer or a light \
sensor. Radio beacons and later satellite navigation gave ships their positions without any light \
at all. One by one, the keepers were withdrawn, and the towers were left to run themselves, watched \
over from a control room far away.

Today a modern ship carries several independent ways of knowing where it is, and the lighthouse is \
rarely the first of them. Yet the lights still burn. Electronic systems fail, batteries run flat and \
antennas break in heavy seas, and a light on a headland needs nothing but a pair of eyes to be \
understood. Many old towers have become museums, hotels or nature reserves, but most of them still \
flash their old characteristic every night, exactly as printed in the list, for anyone who happens \
to be looking.
"""


def perplexity(llm: Llama, ids: list[int], n_ctx: int, bos: int | None) -> float:
    """llama.cpp's perplexity tool: windows of n_ctx (BOS first if the model adds one), second half scored."""
    nll, count = 0.0, 0
    for start in range(0, len(ids) - n_ctx + 1, n_ctx):
        window = list(ids[start : start + n_ctx])
        if bos is not None:
            window[0] = bos
        llm.reset()
        llm.eval(window)
        for j in range(n_ctx // 2, n_ctx - 1):
            row = np.array(llm.scores[j], dtype=np.float64)
            m = row.max()
            nll += m + np.log(np.exp(row - m).sum()) - row[ids[start + j + 1]]
            count += 1
    return float(np.exp(nll / count))


def record(name: str) -> dict:
    path = models.path(name)
    llm = Llama(model_path=str(path), n_ctx=512, n_threads=1, n_batch=512, logits_all=True, verbose=False)
    out: dict = {
        "model": name,
        "llama_cpp_python": llama_cpp_version,
        "system_info": llama_print_system_info().decode().strip(),
        "prompts": [],
        "tricky": [],
    }
    for text in PROMPTS:
        ids = llm.tokenize(text.encode(), add_bos=True, special=False)
        llm.reset()
        llm.eval(ids)
        last = np.array(llm.scores[len(ids) - 1], dtype=np.float64)
        top = np.argsort(-last)[:TOP]
        cont: list[int] = []
        for _ in range(GREEDY):
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            cont.append(nxt)
            if nxt == llm.token_eos():
                break
            llm.eval([nxt])
        out["prompts"].append(
            {
                "text": text,
                "ids": ids,
                "top_ids": top.tolist(),
                "top_logits": [float(last[i]) for i in top],
                "greedy": cont,
                "greedy_text": llm.detokenize(cont).decode("utf-8", "replace"),
            }
        )
    ppl_ids = llm.tokenize(PPL_TEXT.encode(), add_bos=False, special=False)
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    out["perplexity"] = {
        "text": PPL_TEXT,
        "n_ctx": PPL_CTX,
        "ids": ppl_ids,
        "value": perplexity(llm, ppl_ids, PPL_CTX, llm.token_bos() if add_bos else None),
    }
    for text in TRICKY:
        out["tricky"].append(
            {
                "text": text,
                "ids": llm.tokenize(text.encode(), add_bos=False, special=False),
                "ids_special": llm.tokenize(text.encode(), add_bos=False, special=True),
            }
        )
    return out


def record_tokens(name: str) -> dict:
    llm = Llama(model_path=str(models.path(name)), vocab_only=True, verbose=False)
    rng = random.Random(20261130)
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 25))) for _ in range(N_RANDOM)]
    return {
        "model": name,
        "llama_cpp_python": llama_cpp_version,
        "strings": [
            {
                "text": t,
                "ids": llm.tokenize(t.encode(), add_bos=False, special=False),
                "ids_special_bos": llm.tokenize(t.encode(), add_bos=True, special=True),
            }
            for t in texts
        ],
    }


def record_long_perplexity(name: str) -> dict:
    llm = Llama(model_path=str(models.path(name)), n_ctx=512, n_threads=1, logits_all=True, verbose=False)
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    ids = llm.tokenize(PPL_LONG_TEXT.encode(), add_bos=False, special=False)
    return {
        "text": PPL_LONG_TEXT,
        "n_ctx": PPL_LONG_CTX,
        "ids": ids,
        "value": perplexity(llm, ids, PPL_LONG_CTX, llm.token_bos() if add_bos else None),
    }


def main() -> None:
    args = sys.argv[1:]
    tokens_only = "--tokens-only" in args
    names = [a for a in args if not a.startswith("--")] or list(models.MODELS)
    target = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    if "--perplexity-only" in args:
        # Adds the long-text perplexity to the existing fixtures without re-recording the rest.
        for name in names:
            f = target / f"llama_cpp_{name}.json"
            data = json.loads(f.read_text(encoding="utf-8"))
            data["perplexity_long"] = record_long_perplexity(name)
            f.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"wrote {f}: long-text perplexity {data['perplexity_long']['value']:.4f}")
        return
    for name in names:
        f = target / f"llama_cpp_tokens_{name}.json"
        f.write_text(json.dumps(record_tokens(name), ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {f}")
        if tokens_only:
            continue
        data = record(name)
        data["perplexity_long"] = record_long_perplexity(name)
        f = target / f"llama_cpp_{name}.json"
        f.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {f}: {[p['greedy_text'][:40] for p in data['prompts']]}")


if __name__ == "__main__":
    main()
