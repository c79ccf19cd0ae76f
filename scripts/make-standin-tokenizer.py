"""Write the stand-in tokenizers of model_conf/grok and model_conf/llama.

No model hub is reachable from the machines that run the shipped matrices,
and the real Grok-1 and Llama-3.1 tokenizers are megabytes. What a dummy-
weight benchmark needs from a tokenizer is only that the client and the
server count the same tokens, and that every id fits the model's vocabulary.
This writes a word-level tokenizer of VOCAB made-up words (no merges, split
on whitespace, decoded by joining with spaces):

- a random text prompt of N ids decodes to N words and re-tokenizes to the
  same N ids, on a real engine and on the simulator (which counts one token
  per word), so prompt lengths agree everywhere;
- VOCAB (4096) is far below both models' vocab_size (131072, 128256), so
  every id a client draws is a valid id of the model;
- it is small (about 50 KB) and reproducible: the same words in the same
  order every time, Python's standard library only.

It is NOT the models' real tokenizer: token counts of natural text differ
(words it does not know become <unk>). Swap in the real tokenizer.json and
tokenizer_config.json to benchmark real text.

Usage: python3 scripts/make-standin-tokenizer.py
"""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["grok", "llama"]
VOCAB = 4096
SPECIAL = ["<unk>", "<s>", "</s>"]
CONSONANTS = "bdfghklmnprstvwz"
VOWELS = "aeiou"


def words():
    """VOCAB - len(SPECIAL) distinct words of 2 and 3 syllables."""
    syllables = [c + v for c in CONSONANTS for v in VOWELS]
    out = [a + b for a in syllables for b in syllables]
    out += [a + b + c for a in syllables for b in syllables for c in syllables]
    return out[: VOCAB - len(SPECIAL)]


def tokenizer():
    vocab = {tok: i for i, tok in enumerate(SPECIAL + words())}
    assert len(vocab) == VOCAB
    added = [
        {
            "id": i,
            "content": tok,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, tok in enumerate(SPECIAL)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }


def main():
    tok = tokenizer()
    for model in MODELS:
        out = ROOT / "model_conf" / model
        configs = sorted(out.glob("config_*.json"))
        vocab_sizes = {json.loads(c.read_text())["vocab_size"] for c in configs}
        assert all(VOCAB <= v for v in vocab_sizes), (model, vocab_sizes)
        max_len = max(
            json.loads(c.read_text()).get("max_position_embeddings", 8192) for c in configs
        )
        (out / "tokenizer.json").write_text(
            json.dumps(tok, ensure_ascii=False, separators=(",", ":")) + "\n"
        )
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "pad_token": "</s>",
            "unk_token": "<unk>",
            "model_max_length": max_len,
            "clean_up_tokenization_spaces": False,
        }
        (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        print(f"{out}: vocab {VOCAB} (model vocab_size {sorted(vocab_sizes)})")


if __name__ == "__main__":
    main()
