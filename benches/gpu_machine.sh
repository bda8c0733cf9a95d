#!/usr/bin/env bash
# The GPU-machine runs behind the README's GPU figures: large-size parity with muon-core
# (crates/muon-gpu/tests/large.rs) and the figures tool against PyTorch on the same card.
#
# The GPU machine (this workplace's `device` tool: an NVIDIA H100, no Rust, no network) runs
# prebuilt x86-64 binaries. Here, on an x86-64 machine with Rust, once per change:
#
#     benches/gpu_machine.sh pack      # release builds into .devrun/ (git-ignored)
#
# and the Vulkan loader once per checkout, since the GPU machine has no network:
#     mkdir -p .gl && (cd .gl && apt-get download libvulkan1)   # .gl/ holds libvulkan1's .deb
# Then, on the GPU machine, with `.gl` and `.devrun` carried, from the repository root:
#
#     benches/gpu_machine.sh large     # NS, Muon, AdamW parity at 4096² and 8192×4096
#     benches/gpu_machine.sh bench     # torch_reference.py, then bench_report --torch
#
# Neither has run on the H100 yet; a guess from the CPU reference's share (minutes of
# single-threaded muon-core at these sizes) is 5 minutes each, inside one call's 10.
# Each writes its logs and JSON to $OUT (the device tool's return folder; ./out elsewhere).
# `MUON_LARGE_SIZES` and `BENCH_SIZES` (default 256,1024,4096) change the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-out}
bench_sizes=${BENCH_SIZES:-256,1024,4096}

# Unpacks the carried Vulkan loader and points it at the NVIDIA driver.
vulkan_setup() {
    if compgen -G '.gl/*.deb' >/dev/null; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [[ -z ${VK_DRIVER_FILES:-} && -f $icd ]]; then export VK_DRIVER_FILES=$icd; fi
}

need() {
    [[ -x $1 ]] || { echo "$1 missing: run \`benches/gpu_machine.sh pack\` on a Rust machine and carry .devrun" >&2; exit 2; }
}

case "${1:-}" in
pack)
    mkdir -p .devrun
    cargo build --release --example bench_report
    cp target/release/examples/bench_report .devrun/bench_report
    # The test binary's name carries a hash: ask cargo for it.
    exe=$(cargo test --release -p muon-gpu --test large --no-run --message-format=json |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "large":
        print(m["executable"])')
    cp "$exe" .devrun/large
    git rev-parse HEAD >.devrun/commit
    git status --porcelain --untracked-files=no | sed 's/^/dirty: /' >>.devrun/commit
    ls -l .devrun
    ;;
large)
    need .devrun/large
    vulkan_setup
    mkdir -p "$out"
    cat .devrun/commit
    MUON_REQUIRE_ADAPTER=1 .devrun/large --ignored --nocapture --test-threads 1 2>&1 | tee "$out/large.log"
    ;;
bench)
    need .devrun/bench_report
    vulkan_setup
    mkdir -p "$out"
    cat .devrun/commit
    PYTHONUNBUFFERED=1 python3 benches/torch_reference.py --sizes "$bench_sizes" \
        --json "$out/torch.json" 2>&1 | tee "$out/torch.log"
    .devrun/bench_report --sizes "$bench_sizes" --json "$out/muon.json" \
        --torch "$out/torch.json" 2>&1 | tee "$out/bench.log"
    ;;
*)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
