"""`accelerate launch` entry point for the GRPO stage (same flags as `rldistill grpo`).

    accelerate launch --config_file configs/accelerate/cpu_zero2.yaml scripts/grpo.py --config configs/recipes/tiny/grpo.yaml
"""

import sys

from rldistill.grpo import cli

if __name__ == "__main__":
    sys.exit(cli())
