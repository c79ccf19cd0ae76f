"""Train the byte-level BPE tokenizer of model_conf/tiny (512 tokens).

The tiny model lets a real engine (vLLM's CPU build) serve on a machine
without a GPU or a model hub. Engines and clients need a tokenizer beside
config.json; this trains one on the project's own docs, so nothing is
downloaded and the result is reproducible (same corpus, same tokenizer).

Usage: <python with `tokenizers`> scripts/train-tiny-tokenizer.py
       (scripts/setup-real-engines.sh's venv has it). Writes
       model_conf/tiny/tokenizer.json and tokenizer_config.json.
"""

import json
import pathlib

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "model_conf" / "tiny"
VOCAB = 512
EOS = "<|endoftext|>"


def corpus():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for f in files:
        yield from f.read_text(encoding="utf-8").splitlines()


def main():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    OUT.mkdir(parents=True, exist_ok=True)
    tok.save(str(OUT / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": EOS,
        "pad_token": EOS,
        "unk_token": None,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
    }
    (OUT / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"vocab {tok.get_vocab_size()}, eos id {tok.token_to_id(EOS)}")


if __name__ == "__main__":
    main()
