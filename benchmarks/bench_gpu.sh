#!/usr/bin/env bash
# The GPU benchmarks, side by side on one GPU machine (benchmarks/bench_gpu.py says what each is).
# Run from the repository root on the GPU machine:  OUT=/some/dir bash benchmarks/bench_gpu.sh [SECONDS]
# Wheels of packages the machine lacks (mrcfile, starfile, plotly, fastcore) are taken from .whl/ when present.
# EXTRA (arguments appended to every experiment) makes a dry run possible here: see below.
# Everything is killed SECONDS (default 530) after the start; what finished is packed into $OUT as it lands.
set -u
PY=${PY:-python3}
LIMIT=${1:-530}
OUT=${OUT:?set OUT to the folder that collects the results}
W=/tmp/bench_gpu
T0=$(date +%s)
mkdir -p "$W" "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import torch, cryo_disent; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 10 >"$W/gpu_util.csv" 2>/dev/null &
G=benchmarks/bench_gpu.py

pack() {  # small results only: no data, weights or checkpoints
  (cd "$W" && find . -name results.jsonl -o -name metrics.json -o -name metrics.jsonl -o -name config.json \
     -o -name embedding.npz -o -name '*.log' -o -name gpu_util.csv | grep -v /probe/ | tar czf "$OUT/results.tgz.tmp" -T - \
     && mv "$OUT/results.tgz.tmp" "$OUT/results.tgz")
  (cd "$W" && find . -path '*mwa30/harmony3d_mcl/classes.npz' | tar czf "$OUT/classes.tgz.tmp" -T - && mv "$OUT/classes.tgz.tmp" "$OUT/classes.tgz")
}

# 1. correctness on CUDA, then the spatial step benchmark alone on the GPU (clean timings)
$PY $G smoke "$W/smoke" --threads 2 >"$W/smoke.log" 2>&1 &
SMOKE=$!
$PY $G spatial_bench "$W/bench" --threads 2 >"$W/bench.log" 2>&1
wait $SMOKE
echo "smoke + bench done at +$(( $(date +%s) - T0 )) s"; cat "$W/smoke/results.jsonl" "$W/bench/results.jsonl" 2>/dev/null | cut -c1-300

# 2. the experiments, side by side (2 threads each); budgets are training seconds per method
X=${EXTRA:-}  # e.g. EXTRA="--n 8 --box 16 --max-epochs 2" for a dry run on a CPU
run() { local name=$1; shift; $PY $G "$@" --threads 2 $X >"$W/$name.log" 2>&1 & }
run h001_mcl   harmony "$W/h001" 0.01 30 --methods harmony3d_mcl --budget 230
run h001_h3d   harmony "$W/h001b" 0.01 30 --methods harmony3d,beta_vae --budget 170,40
run h01_mcl    harmony "$W/h01" 0.1 30 --methods harmony3d_mcl --budget 230
run h01_h3d    harmony "$W/h01b" 0.1 30 --methods harmony3d,beta_vae --budget 170,40
run h001_w0    harmony "$W/h001w0" 0.01 0 --methods harmony3d_mcl,harmony3d --budget 110,90
run h01_w0     harmony "$W/h01w0" 0.1 0 --methods harmony3d_mcl,harmony3d --budget 110,90
run spatial    spatial "$W/spatial" 0.1 --batch-size 64 --budget 120,100,40 \
  --config '{"latent_dim": 8, "hidden": 256, "decoder_hidden": 64, "channels": [16, 8], "lowpass": 5.0, "lr": 0.001, "beta": {"kind": "linear", "start": 0.0, "end": 1.0, "epochs": 6}}'
run spatial_paper spatial "$W/spatial_paper" 0.1 --batch-size 128 --precision bf16 --methods spatial_vae3d --budget 200 \
  --config '{"chunk_elements": 4294967296}'  # the paper's config, its generator in one piece
($PY $G dualcontrast "$W/dc" --n 150 --seeds 0,1 --epochs 60 --threads 2 $X && \
 $PY $G dualcontrast "$W/dc" --n 1000 --seeds 0 --epochs 25 --threads 2 $X) >"$W/dc.log" 2>&1 &

while [ $(( $(date +%s) - T0 )) -lt "$LIMIT" ] && [ -n "$(jobs -pr | head -c1)" ]; do
  sleep 15; pack
  [ "$(jobs -pr | wc -l)" -le 1 ] && break  # only the utilisation logger is left
done
echo "stopping at +$(( $(date +%s) - T0 )) s"
kill $(jobs -p) 2>/dev/null
sleep 1
pack
cat "$W"/*/results.jsonl | cut -c1-400
tail -n 3 "$W"/*.log
ls -la "$OUT"
