#!/usr/bin/env python3
"""Accuracy of the GPU's f32 and f16 Newton-Schulz against the CPU core, by singular values.

Reads the raw little-endian f32 matrices that crates/muon-gpu/tests/large.rs writes with
MUON_DUMP_DIR set (ns_{rows}x{cols}_{input,core,f32,f16}.f32), and for each shape reports:
  - the band [min, max] of the singular values of each output (core, GPU f32, GPU f16), and of
    torch's own quintic Newton-Schulz of the same input in bfloat16 (what torch.optim.Muon
    runs) and float32, for comparison;
  - the relative Frobenius distance of each output from the core's.
Singular values in float64 (torch.linalg.svdvals), on CUDA when present.

  python3 benches/ns_accuracy.py DUMP_DIR --json accuracy.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_reference import newton_schulz  # noqa: E402  (the same algorithm as the core)


def load(path: pathlib.Path, rows: int, cols: int, device: torch.device) -> torch.Tensor:
    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.float32)
    return data.reshape(rows, cols).to(device)


def band(x: torch.Tensor) -> list[float]:
    s = torch.linalg.svdvals(x.double())
    return [float(s.min()), float(s.max())]


def rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x.double() - ref.double()).norm() / ref.double().norm())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump_dir", type=pathlib.Path)
    ap.add_argument("--json", type=pathlib.Path)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shapes = sorted(
        {(int(m[1]), int(m[2])) for p in args.dump_dir.glob("ns_*_input.f32")
         if (m := re.fullmatch(r"ns_(\d+)x(\d+)_input\.f32", p.name))}
    )
    results = []
    for rows, cols in shapes:
        def get(tag: str) -> torch.Tensor:
            return load(args.dump_dir / f"ns_{rows}x{cols}_{tag}.f32", rows, cols, device)

        x, core = get("input"), get("core")
        outputs = {"gpu_f32": get("f32"), "gpu_f16": get("f16")}
        outputs["torch_bf16"] = newton_schulz(x.bfloat16()).float()
        outputs["torch_f32"] = newton_schulz(x)
        row = {"rows": rows, "cols": cols, "core_band": band(core)}
        for name, out in outputs.items():
            row[name] = {"band": band(out), "rel_dist_from_core": rel(out, core)}
        results.append(row)
        print(f"{rows}x{cols}: singular values of core {row['core_band'][0]:.4f}..{row['core_band'][1]:.4f}")
        for name in outputs:
            r = row[name]
            print(f"  {name:<11} band {r['band'][0]:.4f}..{r['band'][1]:.4f}, "
                  f"distance from core {r['rel_dist_from_core']:.2e}")
    if args.json:
        args.json.write_text(json.dumps({"schema": "muon-ns-accuracy/1", "device": str(device),
                                         "results": results}, indent=1))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
