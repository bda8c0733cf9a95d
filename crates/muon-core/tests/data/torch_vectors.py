#!/usr/bin/env python3
"""Records torch_vectors.json: PyTorch's Newton-Schulz, Adam, AdamW and Muon in float64.

tests/torch_reference.rs replays the file against muon-core (f32). Two ways to run this:

  # Keep the committed inputs, recompute every output with the installed torch, print the
  # largest relative difference from the stored outputs, and write the result:
  python3 torch_vectors.py --replay torch_vectors.json --out torch_vectors.json

  # Draw new inputs (seeded) for the same cases and record them:
  python3 torch_vectors.py --seed 0 --out torch_vectors.json

Needs torch >= 2.9 (torch.optim.Muon); runs on the CPU in a few seconds. The committed file was
recorded with torch 2.9.1 (its "torch" field). Newton-Schulz inside torch.optim.Muon runs in
bfloat16; here it is replaced by the same iteration in float64, so the recording holds the
algorithm's exact values rather than bfloat16 rounding. Its normalisation stays torch's,
X / max(||X||_F, eps); the stand-alone newton_schulz[] cases use X / (||X||_F + 1e-7), the
normalisation of Keller Jordan's original and muon-core's `NsNormalization::AddEps`.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.optim._muon as torch_muon

# torch.optim.Muon's quintic coefficients and step count (its defaults).
QUINTIC = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
# The stand-alone Newton-Schulz cases add this to the norm (AddEps).
NS_EPS = 1e-7
ADAM_STEPS = 12
MUON_STEPS = 8

NS_SHAPES = [(1, 1), (2, 2), (3, 5), (5, 3), (4, 4), (8, 8), (8, 16), (16, 8), (16, 16),
             (32, 32), (7, 13), (64, 32)]
ADAM_CASES = [
    ("torch.optim.Adam", [4, 6], {"lr": 0.001}),
    ("torch.optim.Adam", [4, 6], {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-06}),
    ("torch.optim.Adam", [4, 6], {"lr": 0.001, "weight_decay": 0.1}),
    ("torch.optim.AdamW", [5, 3], {"lr": 0.001, "weight_decay": 0.01}),
    ("torch.optim.AdamW", [5, 3], {"lr": 0.003, "betas": [0.9, 0.95], "weight_decay": 0.1}),
]
MUON_CASES = [
    ([8, 8], {"lr": 0.02}),
    ([6, 10], {"lr": 0.02, "momentum": 0.9, "nesterov": False}),
    ([12, 4], {"lr": 0.01, "weight_decay": 0.1}),
    ([16, 16], {"lr": 0.02, "adjust_lr_fn": "match_rms_adamw"}),
]
ABOUT = (
    "Row-major f64 references. muon: torch.optim.Muon with its Newton-Schulz run in float64 "
    "(torch runs it in bfloat16) and norm clamped at eps. newton_schulz: quintic coefficients "
    "(3.4445,-4.7750,2.0315), 5 steps, X/(||X||_F+1e-7), transpose when rows>cols, computed in "
    "float64. adam/adamw/muon trajectories from torch.optim in float64 unless noted."
)


def newton_schulz(g: torch.Tensor) -> torch.Tensor:
    """The stand-alone cases: quintic, 5 steps, X / (||X||_F + 1e-7), in g's dtype."""
    a, b, c = QUINTIC
    tall = g.size(0) > g.size(1)
    x = g.T if tall else g
    x = x / (x.norm() + NS_EPS)
    for _ in range(NS_STEPS):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def zeropower_f64(grad, ns_coefficients, ns_steps, eps):
    """torch.optim._muon._zeropower_via_newtonschulz without the cast to bfloat16."""
    a, b, c = ns_coefficients
    x = grad.clone()
    if grad.size(0) > grad.size(1):
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        update = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, update, x, beta=a)
    if grad.size(0) > grad.size(1):
        x = x.T
    return x


def flat(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.reshape(-1)]


def trajectory(make_opt, shape, init, grads) -> list[list[float]]:
    """Parameters after each optimizer step, from `init`, one gradient per step."""
    p = torch.nn.Parameter(torch.tensor(init, dtype=torch.float64).reshape(shape))
    opt = make_opt([p])
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64).reshape(shape)
        opt.step()
        out.append(flat(p.detach()))
    return out


def optimizer(name: str, hyper: dict):
    cls = {"torch.optim.Adam": torch.optim.Adam, "torch.optim.AdamW": torch.optim.AdamW,
           "torch.optim.Muon": torch.optim.Muon}[name]
    kwargs = {k: tuple(v) if k == "betas" else v for k, v in hyper.items()}
    return lambda params: cls(params, **kwargs)


def fresh_inputs(seed: int) -> dict:
    """New inputs for every case, drawn from torch.randn with `seed`."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    ns = [{"rows": r, "cols": c, "input": flat(randn(r, c))} for r, c in NS_SHAPES]
    # A rank-2 8x8 input (six exactly-zero singular values) and the zero matrix.
    ns.append({"rows": 8, "cols": 8, "input": flat(randn(8, 2) @ randn(2, 8))})
    ns.append({"rows": 4, "cols": 4, "input": [0.0] * 16})

    def case(name, shape, hyper, steps):
        return {"shape": shape, "init": flat(randn(*shape)),
                "grads": [flat(randn(*shape)) for _ in range(steps)],
                "hyper": hyper, "optimizer": name}

    adam = [case(n, s, h, ADAM_STEPS) for n, s, h in ADAM_CASES]
    muon = [dict(case("torch.optim.Muon", s, h, MUON_STEPS), dtype="torch.float64")
            for s, h in MUON_CASES]
    return {"newton_schulz": ns, "adam": adam, "muon": muon}


def record(inputs: dict) -> dict:
    """Every output for `inputs`, in the file's layout."""
    ns = []
    for case in inputs["newton_schulz"]:
        x = torch.tensor(case["input"], dtype=torch.float64).reshape(case["rows"], case["cols"])
        ns.append({"rows": case["rows"], "cols": case["cols"], "input": case["input"],
                   "output": flat(newton_schulz(x))})
    adam = []
    for case in inputs["adam"]:
        after = trajectory(optimizer(case["optimizer"], case["hyper"]), case["shape"],
                           case["init"], case["grads"])
        adam.append({"shape": case["shape"], "init": case["init"], "grads": case["grads"],
                     "params_after_each_step": after, "hyper": case["hyper"],
                     "optimizer": case["optimizer"]})
    muon = []
    original = torch_muon._zeropower_via_newtonschulz
    torch_muon._zeropower_via_newtonschulz = zeropower_f64
    try:
        for case in inputs["muon"]:
            after = trajectory(optimizer("torch.optim.Muon", case["hyper"]), case["shape"],
                               case["init"], case["grads"])
            muon.append({"shape": case["shape"], "init": case["init"], "grads": case["grads"],
                         "params_after_each_step": after, "hyper": case["hyper"],
                         "optimizer": "torch.optim.Muon", "dtype": "torch.float64"})
    finally:
        torch_muon._zeropower_via_newtonschulz = original
    return {"about": ABOUT, "torch": torch.__version__, "newton_schulz": ns, "adam": adam,
            "muon": muon}


def largest_difference(old: dict, new: dict) -> float:
    """Largest relative difference, output by output, between two recordings."""
    def rel(a, b):
        num = sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5
        den = max(sum(y * y for y in b) ** 0.5, 1e-300)
        return num / den if num else 0.0

    worst = 0.0
    for o, n in zip(old["newton_schulz"], new["newton_schulz"]):
        worst = max(worst, rel(n["output"], o["output"]))
    for group in ("adam", "muon"):
        for o, n in zip(old[group], new[group]):
            for a, b in zip(n["params_after_each_step"], o["params_after_each_step"]):
                worst = max(worst, rel(a, b))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replay", metavar="JSON", help="take the inputs of this recording")
    ap.add_argument("--seed", type=int, default=0, help="seed for new inputs (without --replay)")
    ap.add_argument("--out", metavar="JSON", help="write the recording here")
    args = ap.parse_args()

    if args.replay:
        with open(args.replay) as f:
            old = json.load(f)
        new = record(old)
        print(f"largest relative difference from {args.replay}: {largest_difference(old, new):.3g}")
    else:
        new = record(fresh_inputs(args.seed))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(new, f)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
