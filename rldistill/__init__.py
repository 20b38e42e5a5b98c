"""rldistill: distil reasoning into small language models.

Two stages: supervised warm start on verified, compressed teacher traces,
then RL (GRPO or PPO) with verifier rewards. Judged by transfer (prompt-style
robustness, held-out harder tasks, accuracy per token), never by similarity
to the teacher's text. See README.md for the pipeline.
"""

__version__ = "0.1.0"
