"""Run `python -m MODULE ARGS...` and stop the process (SIGSTOP) right after its first checkpoint is written.

Used by the SIGKILL-and-resume tests: a tiny run can finish all its steps between two polls of the test, so the
test cannot rely on catching it mid-run. Stopping the process inside the save makes the kill land after a complete
checkpoint and before any further step, every time. Patches the two places checkpoints are written:
`transformers.Trainer._save_checkpoint` (SFT, GRPO) and `rldistill.ppo.save_checkpoint` (PPO).

    python tests/stop_after_checkpoint.py rldistill.sft --config ... --save_steps 4
"""
import importlib
import os
import signal
import sys


def stop_after(fn):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGSTOP)  # the test SIGKILLs the stopped process group
        return out
    return wrapped


def main() -> None:
    import transformers

    sys.path.insert(0, os.getcwd())  # as `python -m` does: the stage imports from the working directory
    stage = importlib.import_module(sys.argv[1])
    transformers.Trainer._save_checkpoint = stop_after(transformers.Trainer._save_checkpoint)
    if hasattr(stage, "save_checkpoint"):
        stage.save_checkpoint = stop_after(stage.save_checkpoint)
    sys.exit(stage.cli(sys.argv[2:]))


if __name__ == "__main__":
    main()
