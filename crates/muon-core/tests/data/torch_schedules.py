#!/usr/bin/env python3
"""Records torch_schedules.json: torch.optim.lr_scheduler's learning rates, step by step.

tests/schedule_reference.rs replays the file against muon_core::schedule. Run it from this
folder:

  # Record, and print the largest relative difference from the committed file:
  python3 torch_schedules.py --compare torch_schedules.json --out torch_schedules.json

Needs torch >= 2.0, CPU only, under a second. Nothing is random: every case is fixed below.

Each case drives a real scheduler (LinearLR, CosineAnnealingLR, PolynomialLR, ConstantLR,
SequentialLR) on a dummy SGD optimizer, the way a training loop does (optimizer.step(), then
scheduler.step()), and records param_groups[0]["lr"] before each optimizer step: lrs[t] is the
learning rate of the optimizer step taken after t calls of scheduler.step(), i.e. with
scheduler.last_epoch == t. Torch computes these with its recursive ("chainable") forms in
Python floats (float64); muon-core computes the closed forms, so the two differ by float64
rounding only.

Every hyper-parameter is chosen as a float32 value (written here through f32()), so muon-core's
f32 arguments are exactly the ones torch used.

CosineAnnealingLR does not stop at T_max: its lr climbs back up (a cosine of period 2*T_max).
muon-core's Cosine holds eta_min from T_max on. Each case's "torch_agrees_until" is the last step
at which the two definitions coincide (the step where the last cosine reaches T_max); later
steps are recorded all the same, and the replay checks there that muon-core holds its final
value instead.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import warnings

import torch
from torch.optim import lr_scheduler as sched

# Steps recorded per case: t = 0 ..= STEPS.
STEPS = 200


def f32(x: float) -> float:
    """x rounded to the nearest float32, as a Python float (exact)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def constant(lr):
    return {"kind": "constant", "lr": lr}


def linear(base_lr, start_factor, end_factor, total_iters):
    return {"kind": "linear", "base_lr": base_lr, "start_factor": start_factor,
            "end_factor": end_factor, "total_iters": total_iters}


def cosine(base_lr, t_max, eta_min):
    return {"kind": "cosine", "base_lr": base_lr, "t_max": t_max, "eta_min": eta_min}


def sequential(first, milestone, then):
    return {"kind": "sequential", "first": first, "milestone": milestone, "then": then}


def cases():
    """(name, base lr, torch scheduler factory, muon-core schedule, torch_agrees_until)."""
    lr_a, lr_b, lr_c = f32(0.02), f32(3e-4), f32(1e-3)
    s01, s005, s09, e005, s001 = f32(0.1), f32(0.05), f32(0.9), f32(0.05), f32(0.01)
    third = f32(1.0 / 3.0)
    eta_a, eta_b = f32(1e-5), f32(1e-6)
    return [
        ("LinearLR warm-up 0.1 -> 1 over 50", lr_b,
         lambda o: sched.LinearLR(o, start_factor=s01, end_factor=1.0, total_iters=50),
         linear(lr_b, s01, 1.0, 50), STEPS),
        ("LinearLR defaults (1/3 -> 1 over 5)", lr_a,
         lambda o: sched.LinearLR(o, start_factor=third, total_iters=5),
         linear(lr_a, third, 1.0, 5), STEPS),
        ("LinearLR decay 1 -> 0 over 150", lr_a,
         lambda o: sched.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=150),
         linear(lr_a, 1.0, 0.0, 150), STEPS),
        ("LinearLR 0.9 -> 0.05 over 120", lr_c,
         lambda o: sched.LinearLR(o, start_factor=s09, end_factor=e005, total_iters=120),
         linear(lr_c, s09, e005, 120), STEPS),
        ("PolynomialLR power 1 over 100 (linear decay to 0)", lr_a,
         lambda o: sched.PolynomialLR(o, total_iters=100, power=1.0),
         linear(lr_a, 1.0, 0.0, 100), STEPS),
        ("CosineAnnealingLR T_max 200", lr_a,
         lambda o: sched.CosineAnnealingLR(o, T_max=200),
         cosine(lr_a, 200, 0.0), STEPS),
        ("CosineAnnealingLR T_max 60 eta_min 1e-5", lr_c,
         lambda o: sched.CosineAnnealingLR(o, T_max=60, eta_min=eta_a),
         cosine(lr_c, 60, eta_a), 60),
        ("ConstantLR factor 0.25 for 30 (constant, then constant)", lr_a,
         lambda o: sched.ConstantLR(o, factor=0.25, total_iters=30),
         sequential(constant(f32(lr_a * 0.25)), 30, constant(lr_a)), STEPS),
        ("SequentialLR: LinearLR 0.01 over 20, then cosine T_max 180 eta_min 1e-6", lr_a,
         lambda o: sched.SequentialLR(o, [
             sched.LinearLR(o, start_factor=s001, total_iters=20),
             sched.CosineAnnealingLR(o, T_max=180, eta_min=eta_b)], milestones=[20]),
         sequential(linear(lr_a, s001, 1.0, 20), 20, cosine(lr_a, 180, eta_b)), STEPS),
        ("SequentialLR: LinearLR 0.1 over 10, then cosine T_max 100", lr_c,
         lambda o: sched.SequentialLR(o, [
             sched.LinearLR(o, start_factor=s01, total_iters=10),
             sched.CosineAnnealingLR(o, T_max=100)], milestones=[10]),
         sequential(linear(lr_c, s01, 1.0, 10), 10, cosine(lr_c, 100, 0.0)), 110),
        ("SequentialLR: LinearLR 0.05 over 30, then LinearLR 1 -> 0.05 over 170", lr_b,
         lambda o: sched.SequentialLR(o, [
             sched.LinearLR(o, start_factor=s005, total_iters=30),
             sched.LinearLR(o, start_factor=1.0, end_factor=e005, total_iters=170)],
             milestones=[30]),
         sequential(linear(lr_b, s005, 1.0, 30), 30, linear(lr_b, 1.0, e005, 170)), STEPS),
        ("SequentialLR: warm-up 25, constant to 75, linear decay to 0 over 100", lr_a,
         lambda o: sched.SequentialLR(o, [
             sched.LinearLR(o, start_factor=0.25, total_iters=25),
             sched.ConstantLR(o, factor=1.0, total_iters=1),
             sched.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=100)],
             milestones=[25, 75]),
         sequential(sequential(linear(lr_a, 0.25, 1.0, 25), 25, constant(lr_a)), 75,
                    linear(lr_a, 1.0, 0.0, 100)), STEPS),
    ]


def record(base_lr, make_scheduler):
    """lrs[t] = the lr of the optimizer step taken after t scheduler steps, t = 0..=STEPS."""
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(STEPS + 1):
        lrs.append(float(opt.param_groups[0]["lr"]))
        opt.step()  # no gradient: changes nothing, but keeps torch's call-order check quiet
        scheduler.step()
    return lrs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", metavar="JSON", help="write the recording here")
    ap.add_argument("--compare", metavar="JSON", help="print the largest relative difference "
                    "from this earlier recording")
    args = ap.parse_args()
    warnings.simplefilter("error")  # any scheduler warning means the loop is not torch's idiom
    out = {
        "torch": torch.__version__,
        "about": "lrs[t]: param_groups[0]['lr'] of the optimizer step taken after t calls of "
                 "scheduler.step() (last_epoch == t), t = 0..=steps, float64.",
        "steps": STEPS,
        "cases": [
            {"name": name, "base_lr": base_lr, "schedule": spec,
             "torch_agrees_until": until, "lrs": record(base_lr, make)}
            for name, base_lr, make, spec, until in cases()
        ],
    }
    if args.compare:
        with open(args.compare) as f:
            old = json.load(f)
        worst = 0.0
        for a, b in zip(old["cases"], out["cases"], strict=True):
            for x, y in zip(a["lrs"], b["lrs"], strict=True):
                if x != y:
                    worst = max(worst, abs(x - y) / max(abs(x), abs(y)))
        print(f"largest relative difference from {args.compare}: {worst:.3e}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    else:
        json.dump(out, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
