"""`accelerate launch` entry point for the PPO stage (same flags as `rldistill ppo`).

    accelerate launch --config_file configs/accelerate/cpu_zero2.yaml scripts/ppo.py --config configs/recipes/tiny/ppo.yaml
    accelerate launch --config_file configs/accelerate/zero3.yaml scripts/ppo.py --config configs/recipes/Qwen2.5-1.5B-Instruct/ppo.yaml
"""

import sys

from rldistill.ppo import cli

if __name__ == "__main__":
    sys.exit(cli())
