#!/usr/bin/env bash
# The demo's stages as shell commands: what `rldistill demo --out DIR` runs through the Python APIs.
#
#   bash scripts/demo.sh [OUT]            # OUT defaults to runs/demo-sh
#   SFT_TOKENS=1000000 GRPO_TOKENS=200000 bash scripts/demo.sh runs/x
#
# It runs the stages one after another; `rldistill demo` runs the arms as parallel jobs (2 processes).
#
# synth (the slots kind: 2-4 steps to train on, 6-7 for ood, 5 for GRPO) -> student -> compress (answer
# only / verbose as is / verified with decision sentences / verified bare) -> SFT x4 at the same number of
# training tokens -> GRPO from the verbose and the compressed SFT models on 5-step problems -> eval of all
# six + report. The demo itself also restricts the arms to the problems all four compressions kept (on the
# embedded teacher none is dropped) and runs GRPO only behind its pass@8 gate (rldistill.gate; here it
# always runs). Both GRPO arms stop at the same number of sampled tokens (--max_sampled_tokens).
set -euo pipefail

OUT=${1:-runs/demo-sh}
SEED=${SEED:-0}
SFT_TOKENS=${SFT_TOKENS:-800000}
SFT_BATCH=${SFT_BATCH:-8}
GRPO_TOKENS=${GRPO_TOKENS:-300000}
ARMS="answer_only_sft verbose_sft decisions_sft compressed_sft"

rldistill synth --out "$OUT/data" --seed "$SEED" --train 2000 --eval 100 --ood 100 --kinds slots \
  --steps 2-4 --ood-steps 6-7 --train-styles 0.1
rldistill synth --out "$OUT/rl_data" --seed "$((SEED + 1000))" --train 400 --eval 1 --ood 1 --kinds slots \
  --steps 5-5 --ood-steps 6-6 --train-styles 0.1   # its train.jsonl: the GRPO problems
rldistill student --out "$OUT/student" --data "$OUT/data" --seed "$SEED"

declare -A METHOD=([answer_only_sft]=answer_only [verbose_sft]=none [decisions_sft]=verified [compressed_sft]=verified)
declare -A GRAIN=([answer_only_sft]=compact [verbose_sft]=sentences [decisions_sft]=equations [compressed_sft]=bare)
for arm in $ARMS; do
  rldistill compress --input "$OUT/data/train.jsonl" --output "$OUT/sft_data/$arm.jsonl" \
    --method "${METHOD[$arm]}" --granularity "${GRAIN[$arm]}" --tokenizer "$OUT/student"
done

# Same training tokens per arm: steps = budget / (batch x mean prompt+completion tokens of the arm's rows).
for arm in $ARMS; do
  steps=$(python -c "from rldistill.demo import steps_for; print(steps_for('$OUT/sft_data/$arm.jsonl', '$OUT/student', $SFT_TOKENS, $SFT_BATCH))")
  echo "sft $arm: $steps steps of $SFT_BATCH rows = $SFT_TOKENS tokens"
  rldistill sft --model_name_or_path "$OUT/student" --dtype float32 --dataset_path "$OUT/sft_data/$arm.jsonl" \
    --output_dir "$OUT/models/$arm" --completion_only_loss true --max_length 768 \
    --per_device_train_batch_size "$SFT_BATCH" --learning_rate 2e-3 --lr_scheduler_type cosine \
    --warmup_steps $(( steps / 20 + 1 )) --max_steps "$steps" --use_cpu true --bf16 false \
    --logging_steps 20 --save_strategy no --report_to none --seed "$SEED"
done

for arm in verbose_sft compressed_sft; do
  rldistill grpo --model_name_or_path "$OUT/models/$arm" --dtype float32 --dataset_path "$OUT/rl_data/train.jsonl" \
    --output_dir "$OUT/models/${arm}_grpo" --reward_funcs math format --reward_weights 1.0 0.1 \
    --dynamic_sampling drop --num_generations 8 --per_device_train_batch_size 64 \
    --max_completion_length 576 --temperature 1.0 --loss_type dapo --beta 0.0 --learning_rate 1e-4 \
    --lr_scheduler_type constant --max_steps 300 --max_sampled_tokens "$GRPO_TOKENS" --use_cpu true --bf16 false \
    --logging_steps 1 --save_strategy no --report_to none --seed "$SEED"
done

M="$OUT/models"
# completion cap: 1.2x the teacher's longest trace on eval/ood (generation also ends at the first final answer)
CAP=$(python -c "
from rldistill.data import read_jsonl; from rldistill.models import load_tokenizer
t = load_tokenizer('$OUT/student')
print(round(1.2 * max(len(t(r['completion'])['input_ids']) for s in ('eval', 'ood') for r in read_jsonl('$OUT/data/' + s + '.jsonl'))))")
rldistill eval --model verbose_sft="$M/verbose_sft" answer_only_sft="$M/answer_only_sft" \
  decisions_sft="$M/decisions_sft" compressed_sft="$M/compressed_sft" verbose_sft_grpo="$M/verbose_sft_grpo" \
  compressed_sft_grpo="$M/compressed_sft_grpo" \
  --data "$OUT/data" --max-new-tokens "$CAP" --batch-size 100 --budgets 16,64,256 --budget-suites eval,ood \
  --no-chat-template --out "$OUT/eval"   # the embedded recipes train on plain-text prompts
echo "report: $OUT/eval/report.md"
