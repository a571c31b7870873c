#!/usr/bin/env bash
# benchmarks/gpu_check.sh -- one-shot GPU check of gan_jax: train-step throughput of every model
# family against plain PyTorch (eager and torch.compile, float32 and bfloat16), model FLOPs
# utilisation, and the time of the 2048-d Frechet distance (FID's matrix part).
#
# STATUS: NOT RUN ON A GPU YET. Written on a 2-core CPU machine without a GPU and tested only in
# its CPU smoke mode (--cpu-smoke); the budgets below are estimates for one H200, not
# measurements. Read the per-part logs under $OUT/logs if a part fails or times out.
#
# Usage, from the repository root (no pip install; PYTHONPATH=. is set here):
#     OUT=gpu_out bash benchmarks/gpu_check.sh            # the GPU run (< 8 min on one H200)
#     bash benchmarks/gpu_check.sh --cpu-smoke            # or GPU_CHECK_SMOKE=1: tiny CPU run of every part
#     OUT=gpu_out bash benchmarks/gpu_check.sh --translation   # + the optional image-translation part (< 12 min)
#     OUT=gpu_out bash benchmarks/gpu_check.sh --stylegan2-biggan   # + the optional StyleGAN2 / BigGAN part (+ <= 10 min)
#
# The machine's Python needs jax (CUDA), flax, optax, orbax and torch; NOT grain or
# tensorflow-datasets: everything here imports only the core (gan_jax.engine / steps / models /
# recipes / losses / regularizers / noise / parallel / optimizers / metrics.fid). Part "env"
# checks that with grain and TensorFlow (Datasets) blocked, and step_throughput.py runs with
# --forbid-imports (any import of them fails loudly).
#
# Output: JSON lines in $OUT/gpu_check.jsonl (OUT defaults to ./gpu_out): one "env" line, one
# line per (family, framework, variant) from benchmarks/step_throughput.py (batch 128; fields
# images_per_sec = real images/s = batch x n_critic / seconds_per_step, g_steps_per_sec,
# n_params_g / n_params_d / n_params_match, flops_per_step (XLA's count of the float32 JAX step,
# the same for every line of a family), flops_per_step_analytic, achieved_tflops, mfu,
# peak_tflops, peak_source), "frechet" lines from benchmarks/frechet_timing.py and one "part"
# line per part (rc, wall seconds, timeout); with --translation also one line per (translation
# model, framework, variant, batch) (images_per_sec = batch / seconds_per_step there; n_params_g /
# n_params_d = all generators / all discriminators); with --stylegan2-biggan one line per (model,
# framework, variant, batch) of stylegan2-32, stylegan2-64, biggan-32, biggan-128 (StyleGAN2:
# seconds_per_step = the Gmain + Dmain step, seconds_per_step_lazy = the step with Greg + Dreg
# too). Per-part stdout/stderr: $OUT/logs/. Compile-only
# prewarm lines: $OUT/prewarm.jsonl. The table printed at the end is also in $OUT/table.txt
# (markdown: $OUT/table.md).
#
# Parts and budget (hard limit GPU_CHECK_TOTAL_S, default 460 s, 700 s with --translation; every
# part runs under `timeout`, and its timeout shrinks so the later parts keep their share):
#   env      core import check + versions + nvidia-smi (in the background, during prewarm)
#   prewarm  all families at once, compile + 1 warm-up step of the jax variants and the
#            torch.compile ones (inductor), no timing: fills the persistent compilation caches
#            (JAX: JAX_COMPILATION_CACHE_DIR; inductor: TORCHINDUCTOR_CACHE_DIR with the FX graph
#            and AOTAutograd caches), so the compiles run in parallel on the host's cores instead
#            of one after another                                                        <= 170 s
#   measure  one process per family, in turn: build (compiles now mostly cache hits), 2 warm-up
#            steps, 5 round-robin rounds of ~0.2 s blocks of jax jit / jit_bf16 and torch
#            eager / eager_bf16 / compile / compile_bf16 (--time-budget: past it, variants not
#            yet built are reported "skipped" and rounds stop; SIGTERM writes what was measured)
#                                                                          6 x <= 40 s
#   frechet  gan_jax.metrics.frechet_distance at d = 2048 on the GPU, 2 warm-ups + median of 5;
#            scipy's sqrtm on the host CPU (3 calls) if scipy is installed               <= 45 s
#   translation  OPTIONAL, off by default (the 460 s above have no room for it): --translation
#            or GPU_CHECK_TRANSLATION=1. Image-translation train steps, one process per model,
#            pix2pix256 then cyclegan256 (GPU_CHECK_TRANSLATION_MODELS), at batch 1 and 16
#            (GPU_CHECK_TRANSLATION_BATCH), jax jit + torch eager (benchmarks/torch_translation.py),
#            full width, 2 warm-up steps and 5 round-robin rounds as above; no prewarm (XLA
#            compiles each (model, batch) step inside the part). Runs after frechet and adds its
#            budget to the default total (460 + 2 x 120 = 700 s; a GPU_CHECK_TOTAL_S you set
#            stays the hard limit, this part's reserve included)                   2 x <= 120 s
#            Estimates, not measured: the hand count of one step (analytic_step_flops in
#            torch_translation.py) is ~1.9 TFLOP per image for cyclegan256 (~30 TFLOP at batch
#            16) and ~0.09 TFLOP per pair for pix2pix256 (~1.4 TFLOP at batch 16).
#   stylegan2_biggan  OPTIONAL, off by default: --stylegan2-biggan or GPU_CHECK_STYLEGAN2_BIGGAN=1.
#            StyleGAN2 and BigGAN train steps (benchmarks/torch_stylegan2.py, torch_biggan.py on
#            the PyTorch side), one process per model (GPU_CHECK_SB_MODELS, default
#            stylegan2-32,stylegan2-64,biggan-32,biggan-128) at batch 32 (GPU_CHECK_SB_BATCH), jax
#            jit + torch eager (GPU_CHECK_SB_VARIANTS), full width, 2 warm-up steps, 5 rounds; the
#            StyleGAN2 processes compile two XLA steps (main, and the lazy one with path length
#            / R1, a double backward). Runs after translation, adds its budget to the default
#            total (+ 4 x 150 s; a GPU_CHECK_TOTAL_S you set stays the hard limit)     4 x <= 150 s
#            Not measured on a GPU. Hand counts of the reference steps (analytic_step_flops) at
#            full width, batch 32: stylegan2-32 3.1 TFLOP per step (lazy step 4.1), stylegan2-64 6.0
#            (9.0), biggan-32 3.4 (n_critic 5), biggan-128 12 (n_critic 1).
#   table    benchmarks/make_perf_table.py --text                                          ~2 s
#
# bf16: JAX = the models' computation dtype bfloat16 where the model has one (the DCGAN
# models; gan_jax's MLP and SNGAN models have no dtype field, so their jit_bf16 lines say
# "skipped"); PyTorch = torch.autocast("cuda", torch.bfloat16). float32 uses each framework's
# default matmul precision (recorded in "precision"; PyTorch's default allows TF32 in cuDNN
# convolutions but not in matmuls, XLA's default precision may use TF32 too; not verified
# here), so a float32 MFU against the 67 TFLOP/s non-tensor-core peak can exceed 1; rerun a
# family with --tf32 off (step_throughput.py) for strict float32 in both.
#
# MFU peaks (PEAK_TFLOPS, PEAK_SOURCE): H200 SXM datasheet, dense: bfloat16 989 TFLOP/s,
# float32 67 (non-tensor-core); the workplace measured ~790 TFLOP/s for a bf16 matmul. Override
# e.g. PEAK_TFLOPS=float32=67,bfloat16=790. In the CPU smoke run the peak is a nominal 0.1
# TFLOP/s, only to exercise the MFU fields.
#
# Smoke mode (--cpu-smoke or GPU_CHECK_SMOKE=1): CPU, batch 8, width 8 (every width / 8), 1
# warm-up, 1 round, FID at d = 256, every part and every family x framework x dtype as on the
# GPU; torch.compile uses the inductor backend for sngan_proj32 only (spectral norm, conditional
# BN, projection: the family where inductor once broke the step) and "aot_eager" (graph
# capture and AOTAutograd, no code generation) for the other families (inductor's C++ build
# takes minutes per family on 2 cores; GPU_CHECK_INDUCTOR=fam1,fam2 or =all to change that);
# --threads 1 (a busy 2-core machine slows PyTorch's OpenMP threads down by orders of
# magnitude); budget GPU_CHECK_TOTAL_S default 2400 s. Measured on the 2-core development
# machine (2026-12-02): about 5 min when it was otherwise idle (308 s with the inductor cache
# warm and the JAX cache cold; 305 s with the JAX cache warm and one inductor build left); with
# other jobs keeping its load average near 9: 428 s with warm caches, 1161 s from empty
# caches (there the sngan_proj32 prewarm hit its timeout, hence the clean-up step and the
# larger budget). With --translation the smoke run times pix2pix256 and cyclegan256 at width 8
# and batch 1 and 2 (budget + 2 x 300 s; not measured here as a whole). With --stylegan2-biggan
# the smoke run times the four StyleGAN2 / BigGAN rows at width 8, batch 4 (budget + 4 x 300 s;
# not measured here as a whole).

set -u -o pipefail

# Everything runs inside main(): bash reads a function whole before running it, so editing this
# file while it runs cannot change what the running copy does.
main() {

SMOKE=${GPU_CHECK_SMOKE:-0}
TRANSLATION=${GPU_CHECK_TRANSLATION:-0}
SB=${GPU_CHECK_STYLEGAN2_BIGGAN:-0}
for arg in "$@"; do
    case "$arg" in
        --cpu-smoke) SMOKE=1 ;;
        --translation) TRANSLATION=1 ;;
        --stylegan2-biggan) SB=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (use --cpu-smoke, --translation, --stylegan2-biggan)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-./gpu_out}
mkdir -p "$OUT/logs"
JSONL="$OUT/gpu_check.jsonl"
PREWARM_JSONL="$OUT/prewarm.jsonl"
: > "$JSONL"
: > "$PREWARM_JSONL"
PY=${PYTHON:-$(command -v python || command -v python3)}
FAMILIES=${GPU_CHECK_FAMILIES:-dcgan64,dcgan32,mlp_cgan_mnist,sngan32,wgan_gp32,sngan_proj32}
VARIANTS=jit,eager,jit_bf16,eager_bf16,compile,compile_bf16   # order = priority under the time budget

CACHE=${GPU_CHECK_CACHE:-${TMPDIR:-/tmp}/gan_jax_gpu_check_cache}
mkdir -p "$CACHE/jax" "$CACHE/inductor" "$CACHE/triton"
export JAX_COMPILATION_CACHE_DIR="$CACHE/jax"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export TORCHINDUCTOR_CACHE_DIR="$CACHE/inductor"
export TORCHINDUCTOR_FX_GRAPH_CACHE=1
export TORCHINDUCTOR_AUTOGRAD_CACHE=1
export TRITON_CACHE_DIR="$CACHE/triton"
# jax and torch share the GPU (and prewarm runs several processes at once): no preallocation
export XLA_PYTHON_CLIENT_PREALLOCATE=false

if [[ "$SMOKE" == 1 ]]; then
    DEVICE=cpu; BATCH=8; WIDTH=8; WARMUP=1; REPS=1; BLOCK_S=0; SCAN_K=1
    FID_DIM=256; FID_WARMUPS=1; FID_REPEATS=2; FID_SCIPY=1
    PEAK=${PEAK_TFLOPS:-0.1}; PEAK_SRC=${PEAK_SOURCE:-"nominal 0.1 TFLOP/s (CPU smoke run: exercises the MFU fields, not a real peak)"}
    TOTAL_DEFAULT=2400
    TR_BATCH=${GPU_CHECK_TRANSLATION_BATCH:-1,2}; TR_PART_S=300
    SB_BATCH=${GPU_CHECK_SB_BATCH:-4}; SB_PART_S=300
    PREWARM_S=1500; PREWARM_JOBS=${GPU_CHECK_JOBS:-2}; MEASURE_S=200; FID_S=120
    EXTRA=(--threads 1 --flops lowered)
    INDUCTOR_FAMILIES=${GPU_CHECK_INDUCTOR:-sngan_proj32}
    export JAX_PLATFORMS=cpu
else
    DEVICE=cuda; BATCH=${GPU_CHECK_BATCH:-128}; WIDTH=64; WARMUP=2; REPS=5; BLOCK_S=0.2; SCAN_K=4
    FID_DIM=2048; FID_WARMUPS=2; FID_REPEATS=5; FID_SCIPY=3
    PEAK=${PEAK_TFLOPS:-float32=67,bfloat16=989}
    PEAK_SRC=${PEAK_SOURCE:-"H200 SXM datasheet, dense: bf16 989, fp32 67 (non-tensor-core); workplace-measured bf16 matmul ~790"}
    TOTAL_DEFAULT=460
    TR_BATCH=${GPU_CHECK_TRANSLATION_BATCH:-1,16}; TR_PART_S=120
    SB_BATCH=${GPU_CHECK_SB_BATCH:-32}; SB_PART_S=150
    PREWARM_S=170; PREWARM_JOBS=${GPU_CHECK_JOBS:-6}; MEASURE_S=40; FID_S=45
    EXTRA=(--flops compiled)
    INDUCTOR_FAMILIES=all
fi
TR_MODELS=${GPU_CHECK_TRANSLATION_MODELS:-pix2pix256,cyclegan256}
IFS=, read -r -a TR_FAMS <<< "$TR_MODELS"
TR_S=0
[[ "$TRANSLATION" == 1 ]] && TR_S=$(( TR_PART_S * ${#TR_FAMS[@]} ))
SB_MODELS=${GPU_CHECK_SB_MODELS:-stylegan2-32,stylegan2-64,biggan-32,biggan-128}
SB_VARIANTS=${GPU_CHECK_SB_VARIANTS:-jit,eager}
IFS=, read -r -a SB_FAMS <<< "$SB_MODELS"
SB_S=0
[[ "$SB" == 1 ]] && SB_S=$(( SB_PART_S * ${#SB_FAMS[@]} ))
TOTAL_S=${GPU_CHECK_TOTAL_S:-$(( TOTAL_DEFAULT + TR_S + SB_S ))}
RESERVE_FID=$((FID_S + 5 + TR_S + SB_S))   # kept for frechet + table (+ the optional parts) while the families run

START=$(date +%s)
now() { date +%s; }
remaining() { echo $((START + TOTAL_S - $(now))); }
log() { echo "# gpu_check [$(( $(now) - START ))s] $*"; }

part_line() {  # name rc wall timeout [note]
    printf '{"bench": "part", "part": "%s", "rc": %s, "wall_s": %s, "timeout_s": %s, "smoke": %s, "note": "%s"}\n' \
        "$1" "$2" "$3" "$4" "$SMOKE" "${5:-}" >> "$JSONL"
}

run_part() {  # name timeout_s cmd...: runs under timeout, logs to $OUT/logs/name.{out,err}
    local name=$1 t=$2; shift 2
    local t0 rc
    if (( t < 5 )); then
        log "$name: skipped (no time left: ${t}s)"
        part_line "$name" null 0 "$t" "skipped: total budget used up"
        return 0
    fi
    t0=$(now)
    timeout -k 10 "$t" "$@" > "$OUT/logs/$name.out" 2> "$OUT/logs/$name.err"
    rc=$?
    part_line "$name" "$rc" "$(( $(now) - t0 ))" "$t" "$( ((rc == 124 || rc == 137)) && echo timed out)"
    log "$name: rc=$rc in $(( $(now) - t0 ))s (timeout ${t}s)$( ((rc != 0)) && echo "; see $OUT/logs/$name.err")"
    return 0
}

backend_for() {
    if [[ "$INDUCTOR_FAMILIES" == all || ",$INDUCTOR_FAMILIES," == *",$1,"* ]]; then echo inductor; else echo aot_eager; fi
}

bench_cmd() {  # family [variants] -> the step_throughput command line (shared by prewarm and measure)
    local fam=$1 variants=${2:-$VARIANTS}
    echo "$PY benchmarks/step_throughput.py --device $DEVICE --models $fam --batch $BATCH --width $WIDTH --variants $variants" \
         "--scan-k $SCAN_K --torch-compile-backend $(backend_for "$fam") --forbid-imports grain,tensorflow_datasets,tensorflow ${EXTRA[*]}"
}

clean_cache() {
    # A build killed by a timeout leaves an empty or truncated shared object that inductor would load
    # as is ("file too short"): drop those so the next process rebuilds them.
    find "$CACHE/inductor" -name '*.so' -size -2k -print -delete 2> /dev/null | sed 's/^/# gpu_check: removed broken cache entry /'
}
clean_cache

log "smoke=$SMOKE device=$DEVICE batch=$BATCH width=$WIDTH families=$FAMILIES out=$OUT cache=$CACHE budget=${TOTAL_S}s" \
    "translation=$TRANSLATION$( [[ "$TRANSLATION" == 1 ]] && echo " ($TR_MODELS, batch $TR_BATCH)")" \
    "stylegan2_biggan=$SB$( [[ "$SB" == 1 ]] && echo " ($SB_MODELS, batch $SB_BATCH, $SB_VARIANTS)")"

# --- env (background) -------------------------------------------------------------------------
(
    t0=$(now)
    { command -v nvidia-smi > /dev/null && timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv
      timeout 20 nvidia-smi 2> /dev/null; } > "$OUT/logs/nvidia-smi.txt" 2>&1
    timeout -k 5 60 $PY benchmarks/core_imports.py --out "$JSONL" > "$OUT/logs/env.out" 2> "$OUT/logs/env.err"
    rc=$?
    part_line env "$rc" "$(( $(now) - t0 ))" 60 "$( ((rc != 0)) && echo "core import check failed, see logs/env.out")"
) &
ENV_PID=$!

# --- prewarm: every family at once (compilation caches) ------------------------------------
IFS=, read -r -a FAMS <<< "$FAMILIES"
t_pre=$PREWARM_S
(( t_pre > $(remaining) - RESERVE_FID - 30 * ${#FAMS[@]} )) && t_pre=$(( $(remaining) - RESERVE_FID - 30 * ${#FAMS[@]} ))
log "prewarm: ${#FAMS[@]} families, $PREWARM_JOBS at a time, timeout ${t_pre}s each"
t0=$(now)
pids=()
running() { local c=0 p; for p in "${pids[@]}"; do kill -0 "$p" 2> /dev/null && c=$((c + 1)); done; echo "$c"; }
for fam in "${FAMS[@]}"; do
    while (( $(running) >= PREWARM_JOBS )); do sleep 1; done
    left=$(( t_pre - ($(now) - t0) ))
    (( left < 10 )) && { log "prewarm $fam: no time left"; part_line "prewarm_$fam" null 0 "$left" "skipped: prewarm time used up"; continue; }
    (
        t1=$(now)
        # shellcheck disable=SC2046
        # only what a cache can keep: XLA executables and inductor's generated code (not eager, not aot_eager)
        # --time-budget: stop starting compilations a while before the hard kill (a killed C++ /
        # Triton build can leave a broken cache entry; see the clean-up below)
        timeout -k 10 "$left" $(bench_cmd "$fam" "jit,jit_bf16$([[ $(backend_for "$fam") == inductor ]] && echo ,compile,compile_bf16)") \
            --reps 0 --warmup 1 --time-budget $(( left * 2 / 3 )) --out "$PREWARM_JSONL" \
            > "$OUT/logs/prewarm_$fam.out" 2> "$OUT/logs/prewarm_$fam.err"
        rc=$?
        part_line "prewarm_$fam" "$rc" "$(( $(now) - t1 ))" "$left" "$( ((rc == 124 || rc == 137)) && echo timed out)"
    ) &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
clean_cache
log "prewarm: done in $(( $(now) - t0 ))s"
wait "$ENV_PID"
log "env: $(grep -o '"core_ok": [a-z]*, "failures": {[^}]*}' "$OUT/logs/env.out" 2> /dev/null)"

# --- measure: one family at a time ----------------------------------------------------------
n_left=${#FAMS[@]}
for fam in "${FAMS[@]}"; do
    share=$(( ($(remaining) - RESERVE_FID) / n_left ))
    t=$MEASURE_S
    (( t > share )) && t=$share
    soft=$(( t - 12 > 5 ? t - 12 : 5 ))
    # shellcheck disable=SC2046
    run_part "measure_$fam" "$t" $(bench_cmd "$fam") --reps "$REPS" --warmup "$WARMUP" --block-target-s "$BLOCK_S" \
        --time-budget "$soft" --peak-tflops "$PEAK" --peak-source "$PEAK_SRC" --out "$JSONL"
    n_left=$((n_left - 1))
done

# --- Frechet distance timing ---------------------------------------------------------------------
t=$FID_S
(( t > $(remaining) - 5 )) && t=$(( $(remaining) - 5 ))
run_part frechet "$t" $PY benchmarks/frechet_timing.py --dim "$FID_DIM" --warmups "$FID_WARMUPS" --repeats "$FID_REPEATS" \
    --scipy-repeats "$FID_SCIPY" --cases full_rank --out "$JSONL"

# --- translation (optional): pix2pix / CycleGAN train steps, one process per model ---------------
if [[ "$TRANSLATION" == 1 ]]; then
    n_left=${#TR_FAMS[@]}
    n_batches=$(awk -F, '{ print NF }' <<< "$TR_BATCH")
    for m in "${TR_FAMS[@]}"; do
        share=$(( ($(remaining) - 5) / n_left ))
        t=$TR_PART_S
        (( t > share )) && t=$share
        # --time-budget is per (model, batch) group: split the part's soft limit between its batches
        soft=$(( (t - 15) / n_batches )); (( soft < 5 )) && soft=5
        # shellcheck disable=SC2086
        run_part "translation_$m" "$t" $PY benchmarks/step_throughput.py --device $DEVICE --models "$m" --batch "$TR_BATCH" \
            --width $WIDTH --variants jit,eager --scan-k $SCAN_K --forbid-imports grain,tensorflow_datasets,tensorflow ${EXTRA[*]} \
            --reps "$REPS" --warmup "$WARMUP" --block-target-s "$BLOCK_S" --time-budget "$soft" \
            --peak-tflops "$PEAK" --peak-source "$PEAK_SRC" --out "$JSONL"
        n_left=$((n_left - 1))
    done
fi

# --- StyleGAN2 / BigGAN (optional): one process per model ------------------------------------------
if [[ "$SB" == 1 ]]; then
    n_left=${#SB_FAMS[@]}
    n_batches=$(awk -F, '{ print NF }' <<< "$SB_BATCH")
    for m in "${SB_FAMS[@]}"; do
        share=$(( ($(remaining) - 5) / n_left ))
        t=$SB_PART_S
        (( t > share )) && t=$share
        soft=$(( (t - 15) / n_batches )); (( soft < 5 )) && soft=5
        # shellcheck disable=SC2086
        run_part "sb_$m" "$t" $PY benchmarks/step_throughput.py --device $DEVICE --models "$m" --batch "$SB_BATCH" \
            --width $WIDTH --variants "$SB_VARIANTS" --scan-k $SCAN_K --forbid-imports grain,tensorflow_datasets,tensorflow ${EXTRA[*]} \
            --reps "$REPS" --warmup "$WARMUP" --block-target-s "$BLOCK_S" --time-budget "$soft" \
            --peak-tflops "$PEAK" --peak-source "$PEAK_SRC" --out "$JSONL"
        n_left=$((n_left - 1))
    done
fi

# --- table ------------------------------------------------------------------------------------------
$PY benchmarks/make_perf_table.py "$JSONL" --md "$OUT/table.md" > /dev/null 2> "$OUT/logs/table.err"
log "done in $(( $(now) - START ))s (budget ${TOTAL_S}s); JSON lines: $JSONL; logs: $OUT/logs"
echo "=== gpu_check results (smoke=$SMOKE, $DEVICE, batch $BATCH, width $WIDTH; real img/s = batch x n_critic / s per G step) ==="
$PY benchmarks/make_perf_table.py "$JSONL" --text | tee "$OUT/table.txt"
rc=$?
# exit status: 1 if the env check, a measure part, the frechet part or a translation / StyleGAN2-BigGAN part failed or timed out
if grep -E '"part": "(env|measure_[a-z0-9_]+|frechet|translation_[a-z0-9_]+|sb_[a-z0-9_-]+)", "rc": [1-9]' "$JSONL" > /dev/null; then
    echo "gpu_check: some parts failed (rc != 0 above); see $OUT/logs"
    exit 1
fi
exit $rc
}

main "$@"; exit $?
