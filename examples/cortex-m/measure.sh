#!/usr/bin/env bash
# Flash, RAM and stack cost of one muon-core optimizer step on the Cortex-M4F, and a check
# that the step contains no reachable panic; then the flash and RAM of the whole firmware.
#
# Builds the one-step probes (examples/probe_{baseline,muon,adam,mixed}_{8,16,32}.rs; `mixed` is
# one MixedOptimizer step over an N×N embedding (AdamW), an N×N matrix (Muon) and a bias of N
# (AdamW), its state the three states plus the shared Muon scratch), runs each in
# qemu (which prints the statically-allocated state size and the painted stack peak), reads
# the ELF section sizes with llvm-size (rustup component llvm-tools), and prints a Markdown
# table. Flash of a step = .text+.rodata of the probe minus that of the baseline probe of the
# same size (same program with the step replaced by a no-op).
#
# The probes print without core::fmt, so any panic symbol left in a probe binary comes from the
# optimizer code: the script lists those call sites (file:line, via addr2line when present) and
# exits non-zero.
#
# Last, the firmware itself (src/main.rs: the single-matrix Muon and Adam runs and the
# three-layer MixedOptimizer run): its flash and static RAM (llvm-size), and the stack peak of
# its training, which it prints when run in qemu.
#
# Usage: examples/cortex-m/measure.sh        (needs qemu-system-arm and llvm-tools)
set -euo pipefail
cd "$(dirname "$0")"

target=thumbv7em-none-eabihf
# Honour CARGO_TARGET_DIR / build.target-dir.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
dir=${target_dir:-target}/$target/release/examples
host=$(rustc -vV | sed -n 's/^host: //p')
bin="$(rustc --print sysroot)/lib/rustlib/$host/bin"
for tool in llvm-size llvm-nm llvm-objdump; do
    if [[ ! -x "$bin/$tool" ]]; then
        echo "error: $tool not found; run: rustup component add llvm-tools" >&2
        exit 1
    fi
done
qemu=(qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none
    -semihosting-config enable=on,target=native -kernel)

cargo build --release --bins --examples --quiet

# Flash bytes of an ELF: everything llvm-size (Berkeley format) counts as text (.vector_table,
# .text, .rodata).
flash() { "$bin/llvm-size" "$1" | awk 'NR == 2 { print $1 }'; }
# Static RAM bytes (.data + .bss).
static_ram() { "$bin/llvm-size" "$1" | awk 'NR == 2 { print $2 + $3 }'; }
# Value of key=VALUE in a probe's output line.
field() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$2"; }

status=0
echo "| step | size | flash (step) | state (static/caller) | param+grad | stack peak | RAM total |"
echo "|------|------|-------------:|----------------------:|-----------:|-----------:|----------:|"
for kind in muon adam mixed; do
    for n in 8 16 32; do
        elf=$dir/probe_${kind}_$n
        base=$dir/probe_baseline_$n
        out=$(timeout 30 "${qemu[@]}" "$elf") || { echo "probe_${kind}_$n failed: $out" >&2; status=1; continue; }
        if [[ $(field ok "$out") != 1 ]]; then echo "probe_${kind}_$n: $out" >&2; status=1; fi
        state=$(field state_bytes "$out")
        pg=$(field param_grad_bytes "$out")
        stack=$(field stack_peak "$out")
        code=$(($(flash "$elf") - $(flash "$base")))
        ram=$((state + pg + stack + $(static_ram "$elf")))
        echo "| $kind | ${n}×$n | $code B | $state B | $pg B | $stack B | $ram B |"
    done
done
echo
base_out=$(timeout 30 "${qemu[@]}" "$dir/probe_baseline_16")
echo "(baseline probe: $(flash "$dir/probe_baseline_16") B flash, stack peak of its no-op call $(field stack_peak "$base_out") B)"
echo

# Reachable panics: a panic symbol in a probe binary.
panic_re='core::panicking::|slice_index_fail|slice_[a-z_]*index[a-z_]*_fail|unwrap_failed|expect_failed|rust_begin_unwind'
for elf in "$dir"/probe_{muon,adam,mixed}_{8,16,32}; do
    # (Not `llvm-nm | grep -q`: grep exiting early would fail the pipe under pipefail.)
    symbols=$("$bin/llvm-nm" -C "$elf")
    if grep -Eq "$panic_re" <<<"$symbols"; then
        status=1
        echo "PANIC SITES in $(basename "$elf"):"
        # Calls into core's panic machinery from outside core, with their source lines.
        "$bin/llvm-objdump" -d -C --no-show-raw-insn "$elf" |
            awk -v re="$panic_re" '
                /^[0-9a-f]+ <.*>:$/ { fn = $2 }
                $0 ~ /\tbl?(\.w)?\t/ && $0 ~ re && fn !~ /^<core::/ && fn !~ /rust_begin_unwind/ { sub(":", "", $1); print $1, fn }' |
            while read -r addr fn; do
                line=""
                if command -v addr2line >/dev/null; then
                    line=$(addr2line -i -e "$elf" "0x$addr" 2>/dev/null | grep -v '/library/core/' | head -n 1 || true)
                fi
                echo "  $fn ${line:-0x$addr}"
            done
    fi
done
if [[ $status == 0 ]]; then
    echo "no panic symbols in the Muon, Adam and MixedOptimizer probes: the core's steps have no reachable panic"
fi
echo

# The whole firmware: flash, static RAM, and the stack peak of its training (printed by the run).
fw=$dir/../muon-cortex-m
fw_out=$(timeout 120 "${qemu[@]}" "$fw") || { echo "firmware run failed: $fw_out" >&2; status=1; }
fw_stack=$(sed -n 's/^stack peak of training: \([0-9]*\) bytes$/\1/p' <<<"$fw_out")
grep -qx PASS <<<"$fw_out" || { echo "firmware did not print PASS" >&2; status=1; }
read -r fw_text fw_data fw_bss _ < <("$bin/llvm-size" "$fw" | awk 'NR == 2')
echo "| firmware | flash (.vector_table+.text+.rodata) | static RAM (.data+.bss) | stack peak of training | RAM total |"
echo "|----------|------:|------:|------:|------:|"
echo "| muon-cortex-m | $fw_text B | $((fw_data + fw_bss)) B | ${fw_stack:-?} B | $((fw_data + fw_bss + ${fw_stack:-0})) B |"
exit $status
