"""`rldistill <command> ...`: dispatch only.

Each command is a module with a ``cli(argv) -> int | None`` function; the
module is imported only when its command runs, so `rldistill verify` never
imports torch.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "synth": ("rldistill.tasks.synth", "write the embedded default task splits with teacher traces"),
    "student": ("rldistill.student", "build the from-scratch default student and its tokenizer"),
    "verify": ("verifiers.cli", "score rows of the row schema with a verifier"),
    "compress": ("rldistill.compress", "compress verified teacher traces for SFT"),
    "sft": ("rldistill.sft", "supervised fine-tuning on (compressed) traces (TRL SFTTrainer)"),
    "grpo": ("rldistill.grpo", "GRPO with verifier rewards (TRL GRPOTrainer)"),
    "ppo": ("rldistill.ppo", "PPO with a critic and GAE, with verifier rewards"),
    "eval": ("rldistill.evaluate", "transfer evaluation: accuracy, tokens, robustness, report"),
    "demo": ("rldistill.demo", "the embedded end-to-end demo: synth → compress → SFT → GRPO → eval"),
}


def _usage() -> str:
    lines = ["usage: rldistill <command> [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`rldistill <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from rldistill import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"rldistill: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    rc = module.cli(rest)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
