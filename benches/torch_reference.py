#!/usr/bin/env python3
"""PyTorch reference timings for the operations muon benchmarks, on the same machine.

Times, for square n x n inputs:
  matmul         A @ B
  newton_schulz  quintic Newton-Schulz, 5 steps, the algorithm of muon-core and
                 torch.optim.Muon (transpose when tall, X / max(||X||_F, eps),
                 A = X X^T, B = b A + c A A, X = a X + B X), run in the mode's dtype
  muon_step      torch.optim.Muon.step() on one n x n parameter (torch >= 2.9; its
                 Newton-Schulz always runs in bfloat16, whatever the mode)
  adamw_step     torch.optim.AdamW(fused=True).step() on one n x n parameter

in three modes:
  f32   float32, TF32 off (torch.backends.cuda.matmul.allow_tf32 = False)
  tf32  float32 tensors, TF32 tensor-core matmuls allowed
  bf16  bfloat16 tensors

Each figure is the median of --reps timed calls after --warmup untimed ones, timed with
CUDA events on a GPU, with time.perf_counter on the CPU (when CUDA is absent, so the script
can be checked anywhere). FLOP counts are those of the Rust report (bench_report):
matmul 2n^3, Newton-Schulz (and the Muon step) 5 * (4 m^2 n + 2 m^3) = 30 n^3 for n x n.

  python3 benches/torch_reference.py --sizes 256,1024,4096 --json torch.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

QUINTIC = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
NS_EPS = 1e-7
MODES = ("f32", "tf32", "bf16")
OPS = ("matmul", "newton_schulz", "muon_step", "adamw_step")
SCHEMA = "muon-torch-reference/1"


def newton_schulz(g: torch.Tensor, steps: int = NS_STEPS, eps: float = NS_EPS) -> torch.Tensor:
    """The quintic Newton-Schulz of muon-core / torch.optim.Muon, in g's dtype."""
    a, b, c = QUINTIC
    x = g
    tall = g.size(0) > g.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, poly, x, beta=a)
    if tall:
        x = x.T
    return x


def ns_flops(rows: int, cols: int, steps: int = NS_STEPS) -> int:
    m, n = min(rows, cols), max(rows, cols)
    return steps * (4 * m * m * n + 2 * m * m * m)


def set_mode(mode: str) -> torch.dtype:
    """Sets the TF32 switches for `mode` and returns its tensor dtype."""
    tf32 = mode == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    return torch.bfloat16 if mode == "bf16" else torch.float32


def time_op(fn, device: torch.device, reps: int, warmup: int) -> list[float]:
    """Milliseconds of each of `reps` calls of fn() after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    if device.type == "cuda":
        torch.cuda.synchronize()
        for _ in range(reps):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    else:
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return times


def make_op(op: str, n: int, dtype: torch.dtype, device: torch.device):
    """Returns (callable, flops or None, bytes or None), or None if unavailable."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = (torch.rand(n, n, generator=gen) * 2 - 1).to(device=device, dtype=dtype)
    b = (torch.rand(n, n, generator=gen) * 2 - 1).to(device=device, dtype=dtype)
    if op == "matmul":
        out = torch.empty(n, n, device=device, dtype=dtype)
        return (lambda: torch.matmul(a, b, out=out)), 2 * n**3, None
    if op == "newton_schulz":
        return (lambda: newton_schulz(a)), ns_flops(n, n), None
    if op == "muon_step":
        if not hasattr(torch.optim, "Muon"):
            return None
        p = torch.nn.Parameter(a.clone())
        p.grad = b.clone()
        opt = torch.optim.Muon([p])
        return opt.step, ns_flops(n, n), None
    if op == "adamw_step":
        p = torch.nn.Parameter(a.clone())
        p.grad = b.clone()
        try:
            opt = torch.optim.AdamW([p], fused=True)
            opt.step()
        except (RuntimeError, ValueError):
            opt = torch.optim.AdamW([p], foreach=True)
        elem = torch.finfo(dtype).bits // 8
        # Read param, grad, m, v; write param, m, v (7 tensors of the parameter's dtype).
        return opt.step, None, 7 * elem * n * n
    raise ValueError(op)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,1024,4096", help="comma-separated n (default 256,1024,4096)")
    parser.add_argument("--modes", default=",".join(MODES), help="f32,tf32,bf16 (default all)")
    parser.add_argument("--ops", default=",".join(OPS), help="matmul,newton_schulz,muon_step,adamw_step")
    parser.add_argument("--reps", type=int, default=20, help="timed calls per figure (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto (default)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    for m in modes:
        if m not in MODES:
            parser.error(f"unknown mode {m!r}")
    for o in ops:
        if o not in OPS:
            parser.error(f"unknown op {o!r}")
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"torch {torch.__version__} on {device} ({device_name}); {args.reps} reps after {args.warmup} warm-up, medians")
    print(f"{'op':<14} {'mode':<5} {'n':>6} {'median ms':>12} {'rate':>16}")

    results = []
    for mode in modes:
        dtype = set_mode(mode)
        for op in ops:
            for n in sizes:
                made = make_op(op, n, dtype, device)
                if made is None:
                    print(f"{op:<14} {mode:<5} {n:>6} {'unavailable':>12}")
                    continue
                fn, flops, nbytes = made
                with torch.no_grad():
                    times = time_op(fn, device, args.reps, args.warmup)
                med = statistics.median(times)
                if flops is not None:
                    per_s = flops / (med * 1e-3)
                    rate = f"{per_s / 1e12:.3f} TFLOP/s" if per_s >= 1e11 else f"{per_s / 1e9:.2f} GFLOP/s"
                else:
                    rate = f"{nbytes / (med * 1e-3) / 1e9:.1f} GB/s"
                print(f"{op:<14} {mode:<5} {n:>6} {med:>12.4f} {rate:>16}")
                results.append(
                    {
                        "op": op,
                        "mode": mode,
                        "n": n,
                        "median_ms": med,
                        "min_ms": min(times),
                        "max_ms": max(times),
                        "samples": len(times),
                        "flops": flops,
                        "bytes": nbytes,
                    }
                )
                if device.type == "cuda":
                    torch.cuda.empty_cache()

    if args.json:
        report = {
            "schema": SCHEMA,
            "command": sys.argv,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "device": str(device),
            "device_name": device_name,
            "python": platform.python_version(),
            "settings": {"reps": args.reps, "warmup": args.warmup, "sizes": sizes, "modes": modes, "ops": ops},
            "results": results,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
