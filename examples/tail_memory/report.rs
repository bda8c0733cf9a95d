//! Output: terminal tables, the `--json` document and the `--out` CSV/SVG files.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde_json::{Value, json};

use crate::error::ExampleError;
use crate::memory::head_count;
use crate::multi_step::{LOSS_LEVELS, MultiStepParams, MultiStepRun};
use crate::one_step::{OneStepParams, OneStepResult};
use crate::paper::{
    GRID, MAX_EXTENSIONS, MethodResult, ModelResult, PAPER_TAIL, PaperResult, mean_std,
};
use crate::zipf::{ZipfParams, ZipfRun};

/// Results of the one-step experiment per embedding kind.
pub type OneStepResults = Vec<(&'static str, Vec<OneStepResult>)>;
/// Results of the multi-step experiment per embedding kind.
pub type MultiStepResults = Vec<(&'static str, Vec<MultiStepRun>)>;

/// A learning rate without `f32` noise (`0.03`, not `0.030000001`).
fn short(x: f32) -> f64 {
    let x = f64::from(x);
    let scale = 10f64.powi(6 - x.abs().log10().ceil() as i32);
    (x * scale).round() / scale
}

/// `x` with four decimals, or `n/a`.
fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
}

/// Paper.md's expected `ϱ^0.1` at `K = d = 999`, `α = 0.8`, `β = 0.2`: (GD, SignGD, Muon) for
/// decoupled and coupled embeddings.
const PAPER_RHO: [(&str, [&str; 3]); 2] = [
    ("decoupled", ["≈0.002", "≈0.90", "≈0.90"]),
    ("coupled", ["≈0.002", "≈0.0005", "≈0.90"]),
];

/// The one-step table and its JSON.
pub fn one_step(p: &OneStepParams, results: &OneStepResults) -> (String, Value) {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "one-step (paper §5, Thm 5.3): rho^eps = worst class's correct probability at the first \
         step size where the best class's reaches 1 - eps\n\
         K = d = {}, alpha = {}, beta = {} (head L = {} classes), eps = {}; one step from W0 = 0\n\
         Muon (exact) = U V^T by Polar Express, {} steps; Muon (NS5) = torch's quintic, 5 steps",
        p.classes,
        p.alpha,
        p.beta,
        head_count(p.classes, p.beta),
        p.eps,
        p.ns_steps
    );
    let _ = writeln!(
        t,
        "{:<12} {:>9} {:>9} {:>12} {:>10}",
        "embeddings", "GD", "SignGD", "Muon(exact)", "Muon(NS5)"
    );
    let paper = p.classes == 999 && p.alpha == 0.8 && p.beta == 0.2 && p.eps == 0.1;
    let mut doc = serde_json::Map::new();
    doc.insert(
        "params".into(),
        json!({"classes": p.classes, "alpha": p.alpha, "beta": p.beta, "eps": p.eps,
               "head_classes": head_count(p.classes, p.beta), "ns_steps": p.ns_steps}),
    );
    for (kind, rows) in results {
        let get = |m: &str| rows.iter().find(|r| r.method == m).and_then(|r| r.rho);
        let _ = writeln!(
            t,
            "{:<12} {:>9} {:>9} {:>12} {:>10}",
            kind,
            opt(get("gd")),
            opt(get("signgd")),
            opt(get("muon")),
            opt(get("muon_ns5"))
        );
        if let Some((_, [gd, sign, muon])) =
            PAPER_RHO.iter().find(|(k, _)| k == kind).filter(|_| paper)
        {
            let _ = writeln!(
                t,
                "{:<12} {gd:>9} {sign:>9} {muon:>12} {:>10}",
                "  (paper)", ""
            );
        }
        let mut per = serde_json::Map::new();
        for r in rows {
            per.insert(
                r.method.into(),
                json!({"rho": r.rho, "eta": r.eta, "polar_residual": r.polar_residual}),
            );
        }
        doc.insert((*kind).into(), Value::Object(per));
    }
    let residual = |m: &str| {
        results
            .iter()
            .flat_map(|(_, rows)| rows.iter())
            .filter(|r| r.method == m)
            .filter_map(|r| r.polar_residual)
            .reduce(f64::max)
    };
    if let (Some(exact), Some(ns5)) = (residual("muon"), residual("muon_ns5")) {
        let _ = writeln!(
            t,
            "distance of Muon's update O from an exact polar factor, ‖O Oᵀ O − O‖_F / ‖O‖_F: \
             exact {exact:.1e}, NS5 {ns5:.2}"
        );
    }
    (t, Value::Object(doc))
}

/// The multi-step table and its JSON.
pub fn multi_step(p: &MultiStepParams, results: &MultiStepResults) -> (String, Value) {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "multi-step: K = d = {}, alpha = {}, beta = {}, {} full-batch steps from W0 = 0; \
         lr GD {}, Adam {} (torch defaults otherwise), Muon {} (library defaults otherwise: NS5, \
         momentum 0.95, wd 0.1)\n\
         gap = max_k p_k(correct) - min_k p_k(correct); 'gap@L' = gap at the first step with loss <= L",
        p.classes, p.alpha, p.beta, p.steps, p.lr_gd, p.lr_adam, p.lr_muon
    );
    let _ = write!(
        t,
        "{:<10} {:<5} {:>7} {:>7}",
        "embedding", "opt", "loss", "gap"
    );
    for level in LOSS_LEVELS {
        let _ = write!(t, " {:>8}", format!("gap@{level}"));
    }
    let _ = writeln!(
        t,
        " {:>8} {:>7} {:>7} {:>7} {:>8} {:>6} {:>7}",
        "peak gap", "head p", "tail p", "entropy", "eff.rank", "top10", "Q75/Q25"
    );
    let mut doc = serde_json::Map::new();
    doc.insert(
        "params".into(),
        json!({"classes": p.classes, "alpha": p.alpha, "beta": p.beta, "steps": p.steps,
               "lr_gd": p.lr_gd, "lr_adam": p.lr_adam, "lr_muon": p.lr_muon}),
    );
    for (kind, runs) in results {
        let mut per = serde_json::Map::new();
        for r in runs {
            let last = r.last();
            let i = r.isotropy;
            let _ = write!(
                t,
                "{:<10} {:<5} {:>7.4} {:>7.4}",
                kind, r.method, last.loss, last.gap
            );
            let mut at = serde_json::Map::new();
            for level in LOSS_LEVELS {
                let g = r.gap_at_loss(level);
                let _ = write!(
                    t,
                    " {:>8}",
                    g.map_or_else(|| "-".to_string(), |g| format!("{g:.3}"))
                );
                at.insert(format!("{level}"), json!(g));
            }
            let _ = writeln!(
                t,
                " {:>8.3} {:>7.4} {:>7.4} {:>7.3} {:>8.1} {:>6.3} {:>7.2}",
                r.peak_gap(),
                r.head_prob,
                r.tail_prob,
                i.entropy,
                i.effective_rank,
                i.top10_energy,
                i.q75_q25
            );
            per.insert(
                r.method.into(),
                json!({
                    "final_loss": last.loss, "final_gap": last.gap, "peak_gap": r.peak_gap(),
                    "gap_at_loss": at,
                    "head_prob": r.head_prob, "tail_prob": r.tail_prob,
                    "entropy": i.entropy, "effective_rank": i.effective_rank,
                    "top10_energy": i.top10_energy, "q75_q25": i.q75_q25,
                    "series": r.series.iter().map(|s| json!({"step": s.step, "loss": s.loss, "gap": s.gap})).collect::<Vec<_>>(),
                    "spectrum": r.spectrum,
                }),
            );
        }
        doc.insert((*kind).into(), Value::Object(per));
    }
    (t, Value::Object(doc))
}

/// The Zipf tables (final accuracy and loss per group, head to tail; the rarest group's
/// accuracy over training) and their JSON.
pub fn zipf(p: &ZipfParams, runs: &[ZipfRun]) -> (String, Value) {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} classes in {} groups (group g has 2^(g-1) classes; Zipf s = {}), d = {}, \
         batch {}, {} steps, seed {}\n\
         lr Adam {} (torch defaults otherwise), Muon {} (NS5, momentum 0.95, wd 0), \
         SGD {} (momentum 0.9); accuracy = arg-max recall of each class's key",
        p.classes(),
        p.groups,
        p.exponent,
        p.dim,
        p.batch,
        p.steps,
        p.seed,
        short(p.lr_adam),
        short(p.lr_muon),
        short(p.lr_sgd)
    );
    let early = p.steps / 10;
    let _ = write!(t, "{:<6}", "group");
    for r in runs {
        let _ = write!(
            t,
            " {:>14} {:>9} {:>6}",
            format!("{} acc@{early}", r.method),
            "acc@end",
            "loss"
        );
    }
    let _ = writeln!(t);
    for g in 0..p.groups {
        let _ = write!(t, "{:<6}", format!("{}", g + 1));
        for r in runs {
            let at = |step: usize| r.series.iter().min_by_key(|pt| pt.step.abs_diff(step));
            let a0 = at(early).map_or(f64::NAN, |pt| pt.accuracy[g]);
            let (a, l) = r
                .last()
                .map_or((f64::NAN, f64::NAN), |pt| (pt.accuracy[g], pt.loss[g]));
            let _ = write!(t, " {a0:>14.3} {a:>9.3} {l:>6.3}");
        }
        let _ = writeln!(t);
    }
    let checkpoints = [p.steps / 10, p.steps / 4, p.steps / 2, p.steps];
    let _ = write!(t, "rarest group's accuracy at step");
    for c in checkpoints {
        let _ = write!(t, " {c:>6}");
    }
    let _ = writeln!(t, "   mean over run");
    for r in runs {
        let _ = write!(t, "  {:<29}", r.method);
        for c in checkpoints {
            let _ = write!(t, " {:>6.3}", r.tail_accuracy_at(c));
        }
        let _ = writeln!(t, "   {:>6.3}", r.tail_accuracy_mean());
    }
    let mut doc = serde_json::Map::new();
    doc.insert(
        "params".into(),
        json!({"groups": p.groups, "classes": p.classes(), "zipf_exponent": p.exponent, "dim": p.dim,
               "batch": p.batch, "steps": p.steps, "seed": p.seed,
               "lr_adam": p.lr_adam, "lr_muon": p.lr_muon, "lr_sgd": p.lr_sgd}),
    );
    for r in runs {
        let last = r.last();
        doc.insert(
            r.method.into(),
            json!({
                "final_accuracy": last.map(|x| x.accuracy.clone()),
                "final_loss": last.map(|x| x.loss.clone()),
                "tail_accuracy_mean": r.tail_accuracy_mean(),
                "series": r.series.iter().map(|s| json!({"step": s.step, "accuracy": s.accuracy, "loss": s.loss})).collect::<Vec<_>>(),
            }),
        );
    }
    (t, Value::Object(doc))
}

/// Steps at which the paper-regime table reports accuracy: a tenth, a quarter, half, the end.
pub fn paper_checkpoints(steps: usize) -> [usize; 4] {
    [steps / 10, steps / 4, steps / 2, steps]
}

/// `mean±std` with three decimals.
fn pm((m, s): (f64, f64)) -> String {
    format!("{m:.3}±{s:.3}")
}

/// How two optimizers' rarest-group accuracies at the end compare: the difference of means
/// and whether it exceeds the combined standard deviation.
fn verdict(a: &MethodResult, b: &MethodResult, steps: usize) -> (f64, f64, &'static str) {
    let last = |m: &MethodResult| {
        m.accuracy_samples(steps)
            .last()
            .map_or((f64::NAN, f64::NAN), |s| mean_std(s))
    };
    let ((ma, sa), (mb, sb)) = (last(a), last(b));
    let diff = ma - mb;
    let spread = (sa * sa + sb * sb).sqrt();
    let word = if diff > spread {
        "ahead"
    } else if diff < -spread {
        "behind"
    } else {
        "no clear difference"
    };
    (diff, spread, word)
}

/// The paper-regime tables (one per model, then both side by side) and their JSON (every
/// seed's series, the sweeps and the aggregates).
pub fn zipf_paper(r: &PaperResult) -> (String, Value) {
    let p = &r.params;
    let steps = p.steps();
    let (lo, mean, hi) = p.exposure_range();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "zipf-paper (paper §4.3's regime): {} classes in {} groups (group g has 2^(g-1) classes, \
         Zipf s = 1), d = {}, batch {}, {} steps\n\
         models: linear (W, d×d, fixed random unit key/value embeddings) and ffn (learned keys \
         with AdamW lr {} in every arm, W2 SiLU(W1 x) with {} hidden units, fixed values)\n\
         each rarest-group class is drawn {lo:.2}–{hi:.2} times over the run (mean {mean:.2})\n\
         lr grid = base × {{{}}}, extended by half-decades (up to {}) while the best rate is at an \
         end, swept on seed 0, chosen by the lowest mean population loss over the run (same rule \
         for all); then seeds 1..={} at the chosen rate, mean ± std",
        p.classes(),
        p.groups,
        p.dim,
        p.batch,
        steps,
        crate::ffn::EMBEDDING_LR,
        crate::ffn::hidden_width(p.dim),
        GRID.iter()
            .map(|g| format!("{g}"))
            .collect::<Vec<_>>()
            .join(", "),
        MAX_EXTENSIONS,
        p.seeds
    );
    let mut models = serde_json::Map::new();
    for mr in &r.models {
        let (block, json) = paper_model(p, mr);
        let _ = write!(t, "\n[{} memory]\n{}", mr.model.name(), block);
        models.insert(mr.model.name().into(), json);
    }
    let cps = paper_checkpoints(steps);
    let _ = writeln!(
        t,
        "\nrarest group's accuracy at the end, both models (mean±std), and the paper's:"
    );
    let _ = write!(t, "{:<8}", "");
    for mr in &r.models {
        let _ = write!(t, " {:>13}", mr.model.name());
    }
    let _ = writeln!(t, " {:>13}", "paper");
    for (i, (name, pm_, ps)) in PAPER_TAIL.iter().enumerate() {
        let _ = write!(t, "{name:<8}");
        for mr in &r.models {
            let v = mr
                .methods
                .iter()
                .find(|m| m.method == *name)
                .or_else(|| mr.methods.get(i))
                .and_then(|m| m.accuracy_at(steps).last().copied())
                .unwrap_or((f64::NAN, f64::NAN));
            let _ = write!(t, " {:>13}", pm(v));
        }
        let _ = writeln!(t, " {:>13}", format!("{pm_:.3}±{ps:.3}"));
    }
    let (lo, mean, hi) = p.exposure_range();
    let doc = json!({
        "params": {"groups": p.groups, "classes": p.classes(), "dim": p.dim, "batch": p.batch,
                   "steps": steps, "target_exposure": p.exposure, "seeds": p.seeds,
                   "hidden": crate::ffn::hidden_width(p.dim), "embedding_lr": crate::ffn::EMBEDDING_LR,
                   "base_lr": {"adam": short(p.base[0]), "muon": short(p.base[1]), "sgd": short(p.base[2])},
                   "grid": GRID, "max_extensions": MAX_EXTENSIONS},
        "rarest_group_exposure": {"least": lo, "mean": mean, "most": hi},
        "checkpoints": cps,
        "models": models,
        "paper_rarest_group": PAPER_TAIL.iter().map(|(n, m, s)| json!({"method": n, "mean": m, "std": s})).collect::<Vec<_>>(),
    });
    (t, doc)
}

/// One model's block of the paper-regime table and its JSON.
fn paper_model(p: &crate::paper::PaperParams, r: &ModelResult) -> (String, Value) {
    let steps = p.steps();
    let mut t = String::new();
    for m in &r.methods {
        let _ = write!(t, "  {:<5} sweep (lr: mean pop. loss)", m.method);
        for s in &m.sweep {
            let loss = s.mean_population_loss;
            let loss = if loss.abs() < 1e4 {
                format!("{loss:.3}")
            } else {
                format!("{loss:.2e}")
            };
            let _ = write!(t, "  {}: {loss}", short(s.lr));
        }
        let _ = writeln!(
            t,
            "  -> lr {}{}",
            short(m.lr),
            if m.at_edge { " (grid edge)" } else { "" }
        );
    }
    let cps = paper_checkpoints(steps);
    let _ = write!(t, "{:<6}", "group");
    for m in &r.methods {
        let _ = write!(
            t,
            " {:>13} {:>13}",
            format!("{}@{}", m.method, cps[0]),
            format!("{}@end", m.method)
        );
    }
    let _ = writeln!(t);
    let early: Vec<_> = r.methods.iter().map(|m| m.accuracy_at(cps[0])).collect();
    let end: Vec<_> = r.methods.iter().map(|m| m.accuracy_at(steps)).collect();
    for g in 0..p.groups {
        let _ = write!(t, "{:<6}", g + 1);
        for (e, f) in early.iter().zip(&end) {
            let _ = write!(t, " {:>13} {:>13}", pm(e[g]), pm(f[g]));
        }
        let _ = writeln!(t);
    }
    let _ = write!(t, "rarest group's accuracy at step");
    for c in cps {
        let _ = write!(t, " {c:>13}");
    }
    let _ = writeln!(t, "  paper (10k steps, 16 groups)");
    for m in &r.methods {
        let _ = write!(t, "  {:<29}", m.method);
        for c in cps {
            let last = m
                .accuracy_at(c)
                .last()
                .copied()
                .unwrap_or((f64::NAN, f64::NAN));
            let _ = write!(t, " {:>13}", pm(last));
        }
        let paper = PAPER_TAIL.iter().find(|(n, _, _)| *n == m.method);
        let _ = writeln!(
            t,
            "  {}",
            paper.map_or("n/a".into(), |(_, pm_, ps)| format!("{pm_:.3}±{ps:.3}"))
        );
    }
    let _ = writeln!(
        t,
        "isotropy of final {:<6} (mean±std):  {:>13} {:>13} {:>13} {:>13}",
        if r.model == crate::paper::Model::Ffn {
            "W2"
        } else {
            "W"
        },
        "entropy",
        "eff. rank",
        "top-10 energy",
        "Q75/Q25"
    );
    for m in &r.methods {
        let iso = m.isotropy();
        let _ = writeln!(
            t,
            "  {:<34} {:>13} {:>13} {:>13} {:>13}",
            m.method,
            pm(iso[0]),
            format!("{:.1}±{:.1}", iso[1].0, iso[1].1),
            pm(iso[2]),
            format!("{:.2}±{:.2}", iso[3].0, iso[3].1)
        );
    }
    let find = |n: &str| r.methods.iter().find(|m| m.method == n);
    let mut verdicts = serde_json::Map::new();
    if let Some(muon) = find("muon") {
        for other in ["adam", "sgd"] {
            if let Some(o) = find(other) {
                let (d, spread, word) = verdict(muon, o, steps);
                let paper = |n: &str| {
                    PAPER_TAIL
                        .iter()
                        .find(|x| x.0 == n)
                        .map_or(f64::NAN, |x| x.1)
                };
                let _ = writeln!(
                    t,
                    "rarest group at the end, muon - {other}: {d:+.3} (combined std {spread:.3}): \
                     muon {word}; paper: {:+.3} (muon ahead)",
                    paper("muon") - paper(other)
                );
                verdicts.insert(
                    format!("muon_minus_{other}"),
                    json!({"difference": d, "combined_std": spread, "verdict": word}),
                );
            }
        }
    }
    let methods: Vec<Value> = r
        .methods
        .iter()
        .map(|m| {
            let agg = |step: usize| {
                m.accuracy_at(step)
                    .iter()
                    .map(|(a, b)| json!({"mean": a, "std": b}))
                    .collect::<Vec<_>>()
            };
            let iso = m.isotropy();
            json!({
                "method": m.method,
                "sweep": m.sweep.iter().map(|s| json!({"lr": short(s.lr), "mean_population_loss": s.mean_population_loss})).collect::<Vec<_>>(),
                "lr": short(m.lr),
                "lr_at_grid_edge": m.at_edge,
                "accuracy": cps.iter().map(|&c| json!({"step": c, "groups": agg(c)})).collect::<Vec<_>>(),
                "isotropy": {
                    "entropy": {"mean": iso[0].0, "std": iso[0].1},
                    "effective_rank": {"mean": iso[1].0, "std": iso[1].1},
                    "top10_energy": {"mean": iso[2].0, "std": iso[2].1},
                    "q75_q25": {"mean": iso[3].0, "std": iso[3].1},
                },
                "seeds": m.runs.iter().map(|(seed, run)| json!({
                    "seed": seed,
                    "isotropy": {"entropy": run.isotropy.entropy, "effective_rank": run.isotropy.effective_rank,
                                 "top10_energy": run.isotropy.top10_energy, "q75_q25": run.isotropy.q75_q25},
                    "series": run.series.iter().map(|s| json!({"step": s.step, "accuracy": s.accuracy, "loss": s.loss, "population_loss": s.population_loss})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({"methods": methods, "muon_vs": verdicts});
    (t, doc)
}

/// Named curves of `(x, mean, std)` points.
type BandSeries = [(String, Vec<(f64, f64, f64)>)];

/// Draws per-group mean accuracy curves with ± std bands (one SVG per optimizer).
fn band_plot(path: &Path, title: &str, series: &BandSeries) -> Result<(), ExampleError> {
    let x1 = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x1, -0.02..1.02)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("accuracy (mean ± std over seeds)")
        .draw()
        .map_err(plot_err)?;
    for (i, (name, s)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let band: Vec<(f64, f64)> = s
            .iter()
            .map(|&(x, m, sd)| (x, (m + sd).min(1.0)))
            .chain(s.iter().rev().map(|&(x, m, sd)| (x, (m - sd).max(0.0))))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                color.mix(0.18).filled(),
            )))
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                s.iter().map(|&(x, m, _)| (x, m)),
                color.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

/// Writes the paper-regime curves: one SVG per model and optimizer (per-group accuracy,
/// mean ± std bands) and a CSV of every seed's series.
pub fn write_paper_files(dir: &Path, r: &PaperResult) -> Result<Vec<String>, ExampleError> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut csv = String::from("model,optimizer,lr,seed,step,group,accuracy,loss\n");
    for (model, m) in r
        .models
        .iter()
        .flat_map(|mr| mr.methods.iter().map(move |m| (mr.model.name(), m)))
    {
        for (seed, run) in &m.runs {
            for pt in &run.series {
                for g in 0..r.params.groups {
                    let _ = writeln!(
                        csv,
                        "{model},{},{},{seed},{},{},{},{}",
                        m.method,
                        short(m.lr),
                        pt.step,
                        g + 1,
                        pt.accuracy[g],
                        pt.loss[g]
                    );
                }
            }
        }
        let steps: Vec<usize> = m
            .runs
            .first()
            .map(|(_, run)| run.series.iter().map(|pt| pt.step).collect())
            .unwrap_or_default();
        let curves: Vec<_> = (0..r.params.groups)
            .map(|g| {
                let pts = steps
                    .iter()
                    .map(|&s| {
                        let (mean, sd) = m.accuracy_at(s)[g];
                        (s as f64, mean, sd)
                    })
                    .collect();
                (format!("group {}", g + 1), pts)
            })
            .collect();
        let name = format!("zipf_paper_accuracy_{model}_{}.svg", m.method);
        band_plot(
            &dir.join(&name),
            &format!(
                "per-group accuracy, {model} memory, {} (lr {}, {} seeds)",
                m.method,
                short(m.lr),
                m.runs.len()
            ),
            &curves,
        )?;
        written.push(name);
    }
    std::fs::write(dir.join("zipf_paper.csv"), csv)?;
    written.push("zipf_paper.csv".into());
    Ok(written)
}

/// Maps a plotting error to [`ExampleError::Output`].
fn plot_err<E: std::fmt::Display>(e: E) -> ExampleError {
    ExampleError::Output(format!("plot: {e}"))
}

/// Line colours (matplotlib's tab10).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draws named `(x, y)` series as lines in one SVG.
fn line_plot(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), ExampleError> {
    let pts = series
        .iter()
        .flat_map(|(_, s)| s.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return Ok(());
    }
    let pad = |a: f64, b: f64| if b > a { (b - a) * 0.02 } else { 0.5 };
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(plot_err)?;
    for (i, (name, s)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(s.iter().copied(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

/// Writes the CSV series and SVG plots of whatever ran into `dir`.
pub fn write_files(
    dir: &Path,
    multi: Option<&MultiStepResults>,
    zipf_runs: Option<(&ZipfParams, &[ZipfRun])>,
) -> Result<Vec<String>, ExampleError> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    if let Some(results) = multi {
        let mut csv = String::from("embedding,optimizer,step,loss,gap\n");
        let mut spectra_csv = String::from("embedding,optimizer,index,sigma\n");
        let mut spectra = Vec::new();
        for (kind, runs) in results {
            let mut curves = Vec::new();
            for r in runs {
                for p in &r.series {
                    let _ = writeln!(csv, "{kind},{},{},{},{}", r.method, p.step, p.loss, p.gap);
                }
                for (i, s) in r.spectrum.iter().enumerate() {
                    let _ = writeln!(spectra_csv, "{kind},{},{i},{s}", r.method);
                }
                curves.push((
                    r.method.to_string(),
                    r.series.iter().map(|p| (p.loss, p.gap)).collect(),
                ));
                let max = r.spectrum.first().copied().unwrap_or(1.0).max(1e-30);
                spectra.push((
                    format!("{kind} {}", r.method),
                    r.spectrum
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (i as f64 + 1.0, s / max))
                        .collect(),
                ));
            }
            let name = format!("multi_step_gap_vs_loss_{kind}.svg");
            line_plot(
                &dir.join(&name),
                &format!("Δ(W) vs loss ({kind} embeddings)"),
                ("loss", "Δ(W)"),
                &curves,
            )?;
            written.push(name);
        }
        std::fs::write(dir.join("multi_step.csv"), csv)?;
        std::fs::write(dir.join("multi_step_spectra.csv"), spectra_csv)?;
        line_plot(
            &dir.join("multi_step_spectra.svg"),
            "singular values of W (σ_i / σ_1)",
            ("index i", "σ_i / σ_1"),
            &spectra,
        )?;
        written.extend([
            "multi_step.csv".into(),
            "multi_step_spectra.csv".into(),
            "multi_step_spectra.svg".into(),
        ]);
    }
    if let Some((p, runs)) = zipf_runs {
        let mut csv = String::from("optimizer,step,group,accuracy,loss\n");
        for r in runs {
            for pt in &r.series {
                for g in 0..p.groups {
                    let _ = writeln!(
                        csv,
                        "{},{},{},{},{}",
                        r.method,
                        pt.step,
                        g + 1,
                        pt.accuracy[g],
                        pt.loss[g]
                    );
                }
            }
            let curves: Vec<(String, Vec<(f64, f64)>)> = (0..p.groups)
                .map(|g| {
                    (
                        format!("group {}", g + 1),
                        r.series
                            .iter()
                            .map(|pt| (pt.step as f64, pt.accuracy[g]))
                            .collect(),
                    )
                })
                .collect();
            let name = format!("zipf_accuracy_{}.svg", r.method);
            line_plot(
                &dir.join(&name),
                &format!("per-group accuracy, {}", r.method),
                ("step", "accuracy"),
                &curves,
            )?;
            written.push(name);
        }
        std::fs::write(dir.join("zipf.csv"), csv)?;
        written.push("zipf.csv".into());
    }
    Ok(written)
}
