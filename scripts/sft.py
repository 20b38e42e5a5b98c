"""`accelerate launch` entry point for the SFT stage (same flags as `rldistill sft`).

    accelerate launch --config_file configs/accelerate/cpu_zero2.yaml scripts/sft.py --config configs/recipes/tiny/sft.yaml
"""

import sys

from rldistill.sft import cli

if __name__ == "__main__":
    sys.exit(cli())
