#!/bin/bash
# Multi-node launch of an rldistill stage with accelerate + DeepSpeed under Slurm (one task per node; accelerate
# starts one process per GPU on each node). The same recipes as on one machine; the accelerate config picks ZeRO.
#
#   sbatch --nodes=2 scripts/launch_slurm.sh grpo configs/recipes/Qwen2.5-1.5B-Instruct/grpo.yaml
#   sbatch --nodes=4 scripts/launch_slurm.sh sft  configs/recipes/Qwen2.5-1.5B-Instruct/sft.yaml configs/accelerate/zero3.yaml --max_steps 1000
#
# Arguments: STAGE (sft|grpo|ppo) RECIPE [ACCELERATE_CONFIG (default zero3.yaml)] [extra recipe overrides...]
# Environment: GPUS_PER_NODE (default: the GPUs nvidia-smi sees), MASTER_PORT (29500), DRY_RUN=1 prints the
# per-node command instead of running it (MASTER_ADDR / SLURM_* may then be set by hand).
#SBATCH --job-name=rldistill
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gres=gpu:8
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out
set -euo pipefail

STAGE=${1:?usage: launch_slurm.sh STAGE RECIPE [ACCELERATE_CONFIG] [overrides...]}
RECIPE=${2:?usage: launch_slurm.sh STAGE RECIPE [ACCELERATE_CONFIG] [overrides...]}
ACCEL=configs/accelerate/zero3.yaml
shift 2
if [[ $# -gt 0 && $1 == *.yaml ]]; then ACCEL=$1; shift; fi
case $STAGE in sft|grpo|ppo) ;; *) echo "unknown stage '$STAGE' (sft, grpo, ppo)" >&2; exit 2;; esac
[[ -f $RECIPE ]] || { echo "no recipe $RECIPE" >&2; exit 2; }
[[ -f $ACCEL ]] || { echo "no accelerate config $ACCEL" >&2; exit 2; }

NUM_NODES=${SLURM_NNODES:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(nvidia-smi -L 2>/dev/null | wc -l)}
WORLD_SIZE=$((NUM_NODES * GPUS_PER_NODE))
# The first node of the allocation hosts the rendezvous; every node passes its own rank (SLURM_PROCID).
MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
MASTER_PORT=${MASTER_PORT:-29500}
EXTRA=$(printf ' %q' "$@")

CMD="accelerate launch --config_file $ACCEL --num_machines $NUM_NODES --num_processes $WORLD_SIZE \
--machine_rank \$SLURM_PROCID --main_process_ip $MASTER_ADDR --main_process_port $MASTER_PORT \
--rdzv_backend c10d --same_network --deepspeed_multinode_launcher standard \
scripts/$STAGE.py --config $RECIPE$EXTRA"

if [[ ${DRY_RUN:-0} == 1 ]]; then
    echo "$CMD"
    exit 0
fi
mkdir -p logs
# \$SLURM_PROCID in CMD stays literal here and is expanded by the bash that srun starts on each node.
srun --nodes="$NUM_NODES" --ntasks="$NUM_NODES" --ntasks-per-node=1 bash -c "$CMD"
