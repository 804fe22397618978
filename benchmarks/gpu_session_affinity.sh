#!/usr/bin/env bash
# Tutorial 04c's protein comparison (issue 10) on a lent GPU, the three methods side by side, 5 CPU threads each:
#   OUT=/some/dir bash benchmarks/gpu_session_affinity.sh AFFINITY_CSV [SECONDS] [BUDGET]
# AFFINITY_CSV: the SOAP matrix of the seen proteins, computed beforehand where dscribe is installed
# (`affinity.soap_affinity` + `save_affinity_csv`, as the tutorial does). Killed SECONDS (default 190) after the start.
set -u
PY=${PY:-python3}
CSV=$1; LIMIT=${2:-190}; BUDGET=${3:-110}
OUT=${OUT:?set OUT}
W=/tmp/gpu_session_aff
T0=$(date +%s)
mkdir -p "$W" "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else export PYTHONPATH=$PWD; fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=5 MKL_NUM_THREADS=5 HF_HUB_OFFLINE=1
for m in affinity_vae affinity_vae_gmd beta_vae; do
  $PY benchmarks/gpu_session.py affinity_proteins "$W" 0.1 --methods $m --config "$CSV" --budget "$BUDGET" --threads 5 ${EXTRA:-} >"$W/$m.log" 2>&1 &
done
while [ $(( $(date +%s) - T0 )) -lt "$LIMIT" ] && [ -n "$(jobs -pr)" ]; do sleep 5; done
kill $(jobs -p) 2>/dev/null
cp "$W/results.jsonl" "$OUT/" 2>/dev/null
(cd "$W" && tar czf "$OUT/logs.tgz" *.log runs/*/metrics.jsonl 2>/dev/null)
echo "done at +$(( $(date +%s) - T0 )) s"; cat "$W/results.jsonl" | cut -c1-700; tail -n 3 "$W"/*.log
