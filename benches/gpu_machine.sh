#!/usr/bin/env bash
# One prepared run on a GPU machine that has PyTorch but no Rust: everything the hardware must
# show (kernel parity with muon-core in f32 and f16, the timings against PyTorch on the same
# card, tail_memory on the GPU backend) from prebuilt x86-64 binaries, in one invocation.
#
# On a machine with Rust, once per change (release builds into .devrun/, git-ignored):
#
#     benches/gpu_machine.sh pack
#
# Then, on the GPU machine, from the repository root (with .devrun/ copied there, and a
# Vulkan loader: either installed, or Debian's libvulkan1 .deb files in .gl/, which this
# script unpacks):
#
#     benches/gpu_machine.sh run OUT_DIR
#
# It writes OUT_DIR/gpu_run.log (everything printed) and OUT_DIR/gpu_run.json (each step's
# exit status and time, and the JSON reports of bench_report, torch_reference.py,
# ns_accuracy.py and tail_memory), and stops each step at a time limit so the whole run stays
# under about 8 minutes on an H100/H200-class card. `benches/gpu_machine.sh kernels OUT_DIR`
# is the short form (about 2 minutes) after a kernel change: the GPU tests, then PyTorch and
# bench_report at 4096 and 8192 only. Every mode also times the f32 products in each block
# geometry (MUON_PRODUCT_TILES=64 and 128, at 1024/2048/4096) for ProductTiles::Auto's rule,
# and f32 Newton-Schulz at 512/768/1024/1536 with and without split-k's fill rule
# (MUON_SPLIT_K=auto and long), and the products at 4096 with and without wgpu's loop
# counters (MUON_LOOP_BOUNDING=off and on). `benches/gpu_machine.sh dry-run OUT_DIR`
# runs the same steps at small sizes on whatever adapter exists (lavapipe on a CPU machine) to
# check the script end to end before spending GPU time; it needs python3 with torch for the
# PyTorch steps (they are recorded as failed without it).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# Unpacks a carried Vulkan loader (.gl/*.deb) and points it at the NVIDIA driver if present.
vulkan_setup() {
    if compgen -G '.gl/*.deb' >/dev/null; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [[ -z ${VK_DRIVER_FILES:-} && -f $icd ]]; then export VK_DRIVER_FILES=$icd; fi
}

# The path of the test binary `name` of package muon-gpu, built in release mode.
test_binary() {
    cargo test --release -p muon-gpu --test "$1" --no-run --message-format=json |
        python3 -c 'import json, sys
name = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == name:
        print(m["executable"])' "$1"
}

pack() {
    mkdir -p .devrun
    cargo build --release --example bench_report --example tail_memory
    cp target/release/examples/bench_report target/release/examples/tail_memory .devrun/
    for t in kernels optimizers precision product_tiles elementwise loop_bounding large; do
        cp "$(test_binary "$t")" ".devrun/$t"
    done
    strip .devrun/* 2>/dev/null || true
    git rev-parse HEAD >.devrun/commit
    git status --porcelain --untracked-files=no | sed 's/^/dirty: /' >>.devrun/commit
    ls -l .devrun
}

# run_step NAME LIMIT_S COMMAND...: runs COMMAND with a time limit, records its exit status
# and seconds in $work/steps.tsv, and never stops the script.
run_step() {
    local name=$1 limit=$2
    shift 2
    printf '\n===== %s (limit %s s) =====\n' "$name" "$limit"
    local t0=$SECONDS rc=0
    timeout --kill-after=5 "$limit" "$@" || rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >>"$work/steps.tsv"
    printf '===== %s: exit %s after %s s =====\n' "$name" "$rc" "$((SECONDS - t0))"
}

run() {
    local mode=$1 out=$2
    for b in bench_report tail_memory kernels optimizers precision product_tiles elementwise \
        loop_bounding large commit; do
        [[ -e .devrun/$b ]] || {
            echo ".devrun/$b missing: run \`benches/gpu_machine.sh pack\` on a Rust machine" >&2
            exit 2
        }
    done
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    work=$(mktemp -d)
    exec > >(tee "$out/gpu_run.log") 2>&1
    vulkan_setup
    local large_sizes muon_sizes bench_sizes bench_ops big_size torch_sizes budget tiles_sizes
    local loops_size
    if [[ $mode != dry-run ]]; then
        large_sizes=256x256,1024x1024,4096x4096,8192x4096
        muon_sizes=1024x1024,4096x4096
        bench_sizes=1024,4096
        big_size=8192
        torch_sizes=1024,4096,8192
        budget=2
        tiles_sizes=1024,2048,4096
        split_sizes=512,768,1024,1536
        loops_size=4096
        bench_ops=matmul,newton_schulz,muon_step,adam_step,matmul_f16,newton_schulz_f16,muon_step_f16
        if [[ $mode == kernels ]]; then
            bench_sizes=4096
            bench_ops=matmul,adam_step,matmul_f16,newton_schulz_f16,muon_step_f16
            torch_sizes=4096,8192
        fi
    else
        large_sizes=64x64,200x136
        muon_sizes=64x64
        bench_sizes=64
        big_size=128
        torch_sizes=64,128
        budget=0.3
        tiles_sizes=64,128
        split_sizes=512
        loops_size=64
        bench_ops=matmul,newton_schulz,muon_step,adam_step,matmul_f16,newton_schulz_f16,muon_step_f16
    fi
    echo "muon GPU run ($mode), commit $(head -n 1 .devrun/commit), $(date -u +%FT%TZ)"
    cat .devrun/commit
    nvidia-smi -L 2>/dev/null || echo "(no nvidia-smi)"
    grep -m 1 'model name' /proc/cpuinfo || true
    if grep -qw avx512f /proc/cpuinfo; then echo "CPU SIMD: AVX-512"; else echo "CPU SIMD: no AVX-512"; fi
    export MUON_REQUIRE_ADAPTER=1
    run_step "GPU tests: kernels" 180 .devrun/kernels --test-threads 2
    run_step "GPU tests: optimizers" 120 .devrun/optimizers --test-threads 2
    run_step "GPU tests: precision" 60 .devrun/precision --nocapture --test-threads 1
    run_step "GPU tests: product tiles" 60 .devrun/product_tiles --nocapture
    run_step "GPU tests: element-wise" 60 .devrun/elementwise
    run_step "GPU tests: loop bounding" 60 .devrun/loop_bounding
    if [[ $mode != kernels ]]; then
    run_step "parity with muon-core at $large_sizes" 240 env MUON_LARGE_SIZES=$large_sizes \
        MUON_LARGE_MUON_SIZES=$muon_sizes MUON_LARGE_MUON_STEPS=1 MUON_DUMP_DIR="$work" \
        .devrun/large --ignored --nocapture --test-threads 3
    run_step "singular values (ns_accuracy.py)" 60 env PYTHONUNBUFFERED=1 \
        python3 benches/ns_accuracy.py "$work" --json "$work/accuracy.json"
    rm -f "$work"/*.f32
    fi
    run_step "PyTorch reference" 150 env PYTHONUNBUFFERED=1 python3 benches/torch_reference.py \
        --sizes "$torch_sizes" --reps 10 --warmup 3 --json "$work/torch.json"
    local torch_arg=()
    [[ -s $work/torch.json ]] && torch_arg=(--torch "$work/torch.json")
    run_step "bench_report at $bench_sizes" 150 .devrun/bench_report --sizes "$bench_sizes" \
        --ops "$bench_ops" --cpu-max 0 --crossover-max 0 --reps 10 --budget-s "$budget" \
        --json "$work/bench.json" "${torch_arg[@]}"
    run_step "bench_report at $big_size" 90 .devrun/bench_report --sizes "$big_size" \
        --ops matmul,adam_step,matmul_f16,newton_schulz_f16,muon_step_f16 \
        --cpu-max 0 --crossover-max 0 --reps 10 --budget-s "$budget" \
        --json "$work/bench_big.json" "${torch_arg[@]}"
    # The f32 products in each block geometry (ProductTiles), to set the Auto rule from data.
    for t in 64 128; do
        run_step "f32 products in ${t}x$t blocks at $tiles_sizes" 90 env MUON_PRODUCT_TILES=$t \
            .devrun/bench_report --sizes "$tiles_sizes" --ops matmul,newton_schulz \
            --cpu-max 0 --crossover-max 0 --reps 10 --budget-s "$budget" \
            --json "$work/tiles$t.json"
    done
    # Newton–Schulz with and without the split-k fill rule (kernels/split_k.rs), to check it.
    for s in auto long; do
        run_step "f32 Newton-Schulz, MUON_SPLIT_K=$s, at $split_sizes" 90 env MUON_SPLIT_K=$s \
            .devrun/bench_report --sizes "$split_sizes" --ops newton_schulz \
            --cpu-max 0 --crossover-max 0 --reps 10 --budget-s "$budget" \
            --json "$work/split_$s.json"
    done
    # The products with and without wgpu's loop counters (kernels/common.rs, LoopBounding).
    for b in off on; do
        run_step "products, MUON_LOOP_BOUNDING=$b, at $loops_size" 90 env MUON_LOOP_BOUNDING=$b \
            .devrun/bench_report --sizes "$loops_size" \
            --ops matmul,newton_schulz,matmul_f16,newton_schulz_f16 \
            --cpu-max 0 --crossover-max 0 --reps 10 --budget-s "$budget" \
            --json "$work/loops_$b.json"
    done
    # The dry run checks the GPU-resident path end to end at the paper regime's quick size (the
    # default sizes take minutes on lavapipe); the real run takes every experiment.
    tail_args=(--backend gpu --json "$work/tail_memory.json")
    [[ $mode != dry-run ]] || tail_args+=(--experiment zipf-paper --quick)
    [[ $mode == kernels ]] || run_step "tail_memory --backend gpu" 150 .devrun/tail_memory \
        "${tail_args[@]}"
    python3 - "$work" "$out/gpu_run.json" "$mode" <<'EOF'
import json, pathlib, sys
work, dest, mode = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
steps = []
for line in (work / "steps.tsv").read_text().splitlines():
    name, rc, secs = line.split("\t")
    steps.append({"step": name, "exit": int(rc), "seconds": int(secs)})
doc = {"schema": "muon-gpu-run/1", "mode": mode,
       "commit": pathlib.Path(".devrun/commit").read_text().splitlines(), "steps": steps}
for key in ("accuracy", "torch", "bench", "bench_big", "tiles64", "tiles128", "split_auto",
            "split_long", "loops_off", "loops_on", "tail_memory"):
    p = work / f"{key}.json"
    doc[key] = json.loads(p.read_text()) if p.exists() else None
dest.write_text(json.dumps(doc, indent=1))
failed = [s["step"] for s in steps if s["exit"] != 0]
print(f"\nwrote {dest}; {len(steps) - len(failed)} of {len(steps)} steps passed"
      + (f"; failed: {failed}" if failed else ""))
EOF
}

case "${1:-}" in
pack) pack ;;
run | kernels | dry-run)
    [[ $# -eq 2 ]] || usage
    run "$1" "$2"
    ;;
*) usage ;;
esac
