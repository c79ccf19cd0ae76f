"""Write matrices/data/cpu_smoke_sharegpt.json: 22 ShareGPT-format prompts of
exactly 64 tokens of model_conf/tiny's tokenizer, cut from README.md.

Why a file and why one length: SGLang's client sends `random-ids` prompts to
vLLM as decoded text, which re-tokenizes to other lengths, so both clients
read the same texts instead; and on a CPU the first prefill of each new
length pays for building its kernels, so one length (warmed up by the
warm-up requests) keeps the clients' TTFTs comparable whichever runs first.

Usage: <python with `tokenizers`> scripts/make-smoke-dataset.py
"""

import json
import pathlib

from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
N, COUNT = 64, 22
ANSWER = "An answer of about thirty-two tokens, long enough that the output filter keeps it, whatever the engine generates."


def prompts(tok, words):
    out, i = [], 0
    while len(out) < COUNT and i < len(words):
        cur = []
        while i < len(words) and len(tok.encode(" ".join(cur + [words[i]])).ids) <= N:
            cur.append(words[i])
            i += 1
        if not cur:  # one word longer than N tokens
            i += 1
            continue
        s = " ".join(cur)
        while len(tok.encode(s).ids) < N:
            s += "."
        if len(tok.encode(s).ids) == N and tok.decode(tok.encode(s).ids) == s:
            out.append(s)
    return out


def main():
    tok = Tokenizer.from_file(str(ROOT / "model_conf/tiny/tokenizer.json"))
    words = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split()).split(" ")
    rows = [
        {"id": f"smoke-{k}", "conversations": [{"from": "human", "value": p}, {"from": "gpt", "value": ANSWER}]}
        for k, p in enumerate(prompts(tok, words))
    ]
    assert len(rows) == COUNT, f"only {len(rows)} prompts"
    path = ROOT / "matrices/data/cpu_smoke_sharegpt.json"
    path.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print(f"{len(rows)} prompts of {N} tokens -> {path}")


if __name__ == "__main__":
    main()
