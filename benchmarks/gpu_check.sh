#!/usr/bin/env bash
# The whole GPU check of issue 18 in one command, sized for a short loan (under 8 minutes on one H100/H200):
#   1. the tests that need a GPU (they skip on a CPU-only machine);
#   2. `gankit bench` of dcgan-mnist and of its residual variant (G.arch = D.arch = resnet) at batch 256
#      and 1024, eager fp32 and bf16, then bf16 with torch.compile(mode="reduce-overhead") (CUDA graphs) at 1024;
#   3. a table of samples/s and the share of the matmul peak.
# Each bench has its own time limit, so a slow compile costs that row, not the check.
#
# Run from the repository root on the GPU machine, with a CUDA build of torch and gankit's other
# dependencies importable by $PYTHON (default python3); gankit itself comes from src/:
#     OUT=/tmp/gpu bash benchmarks/gpu_check.sh
# Writes $OUT/gpu_tests.log, $OUT/gpu_bench.jsonl (one `gankit bench --json` object per row, with its
# label) and prints the table.
set -u
OUT=${OUT:-/tmp/gankit-gpu-check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 GANKIT_CACHE="${GANKIT_CACHE:-$OUT/cache}"
start=$(date +%s)

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: $PYTHON cannot import torch, or its torch sees no CUDA GPU; run this on the GPU machine (PYTHON=... names another)" >&2
    exit 2
fi
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || true

echo "== GPU tests"
timeout 120 "$PYTHON" -m pytest -q -p no:cacheprovider -rs \
    tests/test_bench.py::test_matmul_peak_on_a_gpu_is_the_gpus tests/test_distributed.py -k "gpu or cuda" \
    2>&1 | tee "$OUT/gpu_tests.log" | tail -5

bench() {  # label, time limit (s), then gankit bench arguments
    local label=$1 limit=$2
    shift 2
    local line
    line=$(timeout "$limit" "$PYTHON" -m gankit bench --json --quiet --steps 100 --warmup 20 "$@" 2>"$OUT/last_err.txt")
    if [ -n "$line" ]; then
        "$PYTHON" -c "import json, sys; r = json.loads(sys.argv[1]); r['label'] = sys.argv[2]; print(json.dumps(r))" \
            "$line" "$label" >>"$OUT/gpu_bench.jsonl"
        echo "   $label: done"
    else
        echo "   $label: no result within ${limit} s ($(tail -c 300 "$OUT/last_err.txt" | tr '\n' ' '))"
    fi
}

echo "== gankit bench"
: >"$OUT/gpu_bench.jsonl"
RES="--set G.arch=resnet --set D.arch=resnet"
for batch in 256 1024; do
    for precision in fp32 bf16; do
        bench "dcgan-mnist b$batch $precision" 60 --preset dcgan-mnist --batch "$batch" --precision "$precision"
        # shellcheck disable=SC2086
        bench "residual b$batch $precision" 60 --preset dcgan-mnist $RES --batch "$batch" --precision "$precision"
    done
done
CG="--compile --set train.compile_mode=reduce-overhead"
# shellcheck disable=SC2086
bench "dcgan-mnist b1024 bf16 compile reduce-overhead" 150 --preset dcgan-mnist --batch 1024 --precision bf16 $CG
# shellcheck disable=SC2086
bench "residual b1024 bf16 compile reduce-overhead" 150 --preset dcgan-mnist $RES --batch 1024 --precision bf16 $CG

"$PYTHON" - "$OUT/gpu_bench.jsonl" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print(f"| run | samples/s | ms per step | TFLOP/s | share of its precision's peak |")
print("|---|---|---|---|---|")
for r in rows:
    print(f"| {r['label']} | {r['samples_per_s']:,.0f} | {1e3 * r['step_seconds']:.2f} | {r['flops_per_s'] / 1e12:.2f} "
          f"| {100 * r['peak_share']:.1f}% |")
if rows:
    print(f"device: {rows[0]['device']}; peaks {rows[0]['peak_flops_fp32'] / 1e12:.1f} TFLOP/s fp32, "
          f"{rows[0]['peak_flops_bf16'] / 1e12:.1f} bf16; the H100 reference: 31,805 samples/s (dcgan-mnist b256 fp32)")
EOF
echo "gpu_check: $(($(date +%s) - start)) s"
