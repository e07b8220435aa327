#!/usr/bin/env bash
# Throughput and char-LM benchmarks on whatever JAX and PyTorch find: one GPU (cuDNN PyTorch as
# the peer) when there is one, else the CPU. Under 5 minutes on one GPU with the defaults.
#
#   benchmarks/gpu.sh                 # the defaults
#   TINY=1 benchmarks/gpu.sh          # a smoke test on a CPU (a minute or two)
#   PYTHON=.venv/bin/python benchmarks/gpu.sh
#
# Needs jax[cuda] and a CUDA build of torch for the GPU case; prints the devices it found, then
# benchmarks/peers.py (the blog experiment, runs/s against PyTorch's loop) and
# benchmarks/charlm.py (LSTM/GRU(256) char-LM, tokens/s and bits per char against nn.LSTM/GRU).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
export PYTHONPATH=${PYTHONPATH:-src}

"$PYTHON" - <<'EOF'
import jax, torch
print("jax devices:", jax.devices())
print("torch:", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu",
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF

if [[ "${TINY:-0}" == 1 ]]; then
  "$PYTHON" benchmarks/peers.py --seeds 64 --quick --no-keras --results ''
  "$PYTHON" benchmarks/charlm.py --models lstm --batches 4 --test-batches 1 --epochs 1 --json
else
  "$PYTHON" benchmarks/peers.py --seeds 4096 --quick --no-keras --results ''
  "$PYTHON" benchmarks/charlm.py --batches 96 --epochs 2 --json
fi
