#!/usr/bin/env bash
# bench_gpt.sh BENCH_STEP - the GPT training step of bench_step (d_model 128,
# 4 layers, 4 heads, seq_len 64, batch 32, Adam) beside the same step in
# PyTorch on one thread (tests/bench_gpt_torch.py), measured in one run so
# that the ratio means something on a shared machine.  PyTorch comes from
# the Debian package python3-torch; without it only dtsim's figure prints.
set -u
bench=${1:-build/tests/bench_step}
here=$(dirname "$0")
OPENBLAS_NUM_THREADS=1 "$bench" | grep -E "sgemm peak|gpt"
py=/usr/bin/python3 # Debian's, whose python3-torch this is
if "$py" -c "import torch" 2>/dev/null; then
    "$py" "$here/bench_gpt_torch.py"
else
    echo "  pytorch: not installed (apt-get install python3-torch to compare)"
fi
