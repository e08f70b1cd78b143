#!/usr/bin/env bash
# The GPU checks of issue 25, for one CUDA machine (about 5 minutes on one GPU):
#   1. the gpu-marked tests: bf16 on CUDA against the CPU, generate sampling on CUDA, bf16 + torch.compile training of the
#      tiny config and sampling from it on CUDA, DDP over NCCL under torchrun (one process), a batch whose Ray worker samples
#      on a GPU (--gpus-per-worker 0.5); every failure's reason is printed (-ra, short tracebacks) and kept in gpu_tests.log;
#   2. training tokens/s per device of the small and cmt configs, torch.compile off and on (bf16 autocast, fused AdamW).
# Needs the package installed with a CUDA build of torch 2.13 (pip install torch==2.13.0 --index-url
# https://download.pytorch.org/whl/cu126, then pip install -e '.[dev,batch]') and libfluidsynth (make system-deps).
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
echo "== gpu-marked tests"
"$PY" -m pytest -q -ra --tb=short -m gpu -p no:cacheprovider tests/test_model.py tests/training/test_distributed.py tests/test_batch.py \
    2>&1 | tee "${OUT:-.}/gpu_tests.log"
echo "== training speed (tokens/s per device; us per token)"
"$PY" benchmarks/train_speed.py --device cuda --configs small,cmt --compile both
