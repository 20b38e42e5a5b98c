#!/usr/bin/env bash
# The real-student demo's stages as shell commands: what `rldistill demo --student smollm2-135m --out DIR`
# runs through the Python APIs (rldistill/demo_real.py), one stage after another.
#
#   bash scripts/demo_smollm2.sh [OUT]                 # OUT defaults to runs/demo-smollm2-sh
#   SFT_TOKENS=48000 GRPO_TOKENS=32000 bash scripts/demo_smollm2.sh runs/x
#   N_TRAIN=40 N_EVAL=3 N_RELATED=3 SFT_TOKENS=1500 GRPO_TOKENS=200 GRPO_LEN=16 CAP=24 bash scripts/demo_smollm2.sh runs/x  # smoke
#
# student -> synth -> related suite -> the training problems four ways (answer only / verbose as is / the
# default compressor / the compact reference chain) -> SFT x4 at the same number of training tokens, prompts
# through the chat template -> GRPO (math verifier) from the verbose and the compressed SFT models -> eval of
# every arm and the untrained student on eval, the three prompt styles and related (GSM8K test).
# GRPO stops at GRPO_TOKENS sampled tokens (--max_sampled_tokens). `rldistill demo` also restricts the arms to
# the problems every compressor kept (on the embedded teacher none is dropped) and runs the arms as parallel
# jobs on two processes.
set -euo pipefail

OUT=${1:-runs/demo-smollm2-sh}
SEED=${SEED:-0}
SFT_TOKENS=${SFT_TOKENS:-24000}
SFT_BATCH=${SFT_BATCH:-4}
GRPO_TOKENS=${GRPO_TOKENS:-16000}
RELATED=${RELATED:-../shared/data/gsm8k/test.jsonl}
N_TRAIN=${N_TRAIN:-1000}
N_EVAL=${N_EVAL:-80}
N_RELATED=${N_RELATED:-80}
GRPO_LEN=${GRPO_LEN:-384}
CAP=${CAP:-}

[ -f "$OUT/student/config.json" ] || rldistill student --pretrained smollm2-135m --out "$OUT/student"
rldistill synth --out "$OUT/data" --seed "$SEED" --train "$N_TRAIN" --eval "$N_EVAL" --ood 0
rm -f "$OUT/data/ood.jsonl"   # length generalisation is the embedded demo's question, not this one's
python -c "
from dataclasses import replace
from rldistill.data import write_jsonl
from rldistill.demo_real import PRESETS, related_rows, reference_rows
write_jsonl(related_rows(replace(PRESETS['default'], related='$RELATED', n_related=$N_RELATED)), '$OUT/data/related.jsonl')
write_jsonl(reference_rows('$OUT/data/train.jsonl'), '$OUT/sft_data/reference_sft.jsonl')"

declare -A METHOD=([answer_only_sft]=answer_only [verbose_sft]=none [compressed_sft]=verified)
for arm in answer_only_sft verbose_sft compressed_sft; do
  rldistill compress --input "$OUT/data/train.jsonl" --output "$OUT/sft_data/$arm.jsonl" \
    --method "${METHOD[$arm]}" --tokenizer "$OUT/student"
done

# Same training tokens per arm (chat template + prompt + completion): steps = budget / (batch x mean per row).
for arm in answer_only_sft verbose_sft compressed_sft reference_sft; do
  steps=$(python -c "from rldistill.demo_real import steps_for; print(steps_for('$OUT/sft_data/$arm.jsonl', '$OUT/student', $SFT_TOKENS, $SFT_BATCH))")
  echo "sft $arm: $steps steps of $SFT_BATCH rows = $SFT_TOKENS tokens"
  rldistill sft --model_name_or_path "$OUT/student" --dtype float32 --dataset_path "$OUT/sft_data/$arm.jsonl" \
    --output_dir "$OUT/models/$arm" --prompt_as_chat true --completion_only_loss true --max_length 640 \
    --per_device_train_batch_size "$SFT_BATCH" --learning_rate 1e-4 --lr_scheduler_type cosine \
    --warmup_steps $(( steps / 10 + 1 )) --max_steps "$steps" --use_cpu true --bf16 false \
    --logging_steps 5 --save_strategy no --report_to none --seed "$SEED"
done

for arm in verbose_sft compressed_sft; do
  rldistill grpo --model_name_or_path "$OUT/models/$arm" --dtype float32 --dataset_path "$OUT/data/train.jsonl" \
    --output_dir "$OUT/models/${arm}_grpo" --prompt_as_chat true --reward_funcs math --num_generations 4 \
    --per_device_train_batch_size 8 --max_completion_length "$GRPO_LEN" --temperature 0.8 --loss_type dapo --beta 0.0 \
    --learning_rate 1e-5 --lr_scheduler_type constant --max_steps 100 --max_sampled_tokens "$GRPO_TOKENS" \
    --generation_backend stream \
    --use_cpu true --bf16 false --logging_steps 1 --save_strategy no --report_to none --seed "$SEED"
done

M="$OUT/models"
# completion cap: 1.2x the verbose teacher's longest trace on eval (generation also ends at the first final answer)
[ -n "$CAP" ] || CAP=$(python -c "
from rldistill.data import read_jsonl; from rldistill.models import load_tokenizer
t = load_tokenizer('$OUT/student')
print(round(1.2 * max(len(t(r['completion'])['input_ids']) for r in read_jsonl('$OUT/data/eval.jsonl'))))")
rldistill eval --model verbose_sft="$M/verbose_sft" answer_only_sft="$M/answer_only_sft" \
  compressed_sft="$M/compressed_sft" reference_sft="$M/reference_sft" verbose_sft_grpo="$M/verbose_sft_grpo" \
  compressed_sft_grpo="$M/compressed_sft_grpo" zero_shot="$OUT/student" \
  --data "$OUT/data" related="$OUT/data/related.jsonl" --max-new-tokens "$CAP" --batch-size 32 --no-progress \
  --out "$OUT/eval"
