"""Records llama.cpp's outputs on the three real models as small golden fixtures for the tests.

Run in an environment with llama-cpp-python (it builds llama.cpp from source) and thermoconsensus:

    pip install llama-cpp-python && python scripts/record_llama_cpp.py

Writes tests/fixtures/llama_cpp_<model>.json with, for each prompt: llama.cpp's token ids (BOS as the
model's metadata says), the top-50 last-position logits, and the greedy 32-token continuation; and the
token ids of tricky strings (for the tokenizer). Single thread, so the run is reproducible.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from llama_cpp import Llama, __version__ as llama_cpp_version

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
TOP = 50
GREEDY = 32


def record(name: str) -> dict:
    path = models.path(name)
    llm = Llama(model_path=str(path), n_ctx=512, n_threads=1, n_batch=512, logits_all=True, verbose=False)
    out: dict = {"model": name, "llama_cpp_python": llama_cpp_version, "prompts": [], "tricky": []}
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
    for text in TRICKY:
        out["tricky"].append(
            {
                "text": text,
                "ids": llm.tokenize(text.encode(), add_bos=False, special=False),
                "ids_special": llm.tokenize(text.encode(), add_bos=False, special=True),
            }
        )
    return out


def main() -> None:
    names = sys.argv[1:] or list(models.MODELS)
    target = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    for name in names:
        data = record(name)
        f = target / f"llama_cpp_{name}.json"
        f.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {f}: {[p['greedy_text'][:40] for p in data['prompts']]}")


if __name__ == "__main__":
    main()
