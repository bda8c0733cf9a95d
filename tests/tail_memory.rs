//! The paper's qualitative claims, checked on small instances of `examples/tail_memory`
//! (the example's modules are compiled into this test), plus its argument validation and a
//! GPU-vs-CPU agreement run.

// The example's modules are compiled here in whole; the tests use only part of each.
#![allow(dead_code)]

#[path = "../examples/tail_memory/cli.rs"]
mod cli;
#[path = "../examples/tail_memory/device.rs"]
mod device;
#[path = "../examples/tail_memory/device_batch.rs"]
mod device_batch;
#[path = "../examples/tail_memory/device_ffn.rs"]
mod device_ffn;
#[path = "../examples/tail_memory/error.rs"]
mod error;
#[path = "../examples/tail_memory/ffn.rs"]
mod ffn;
#[path = "../examples/tail_memory/memory.rs"]
mod memory;
#[path = "../examples/tail_memory/multi_step.rs"]
mod multi_step;
#[path = "../examples/tail_memory/one_step.rs"]
mod one_step;
#[path = "../examples/tail_memory/optim.rs"]
mod optim;
#[path = "../examples/tail_memory/paper.rs"]
mod paper;
#[path = "../examples/tail_memory/progress.rs"]
mod progress;
#[path = "../examples/tail_memory/report.rs"]
mod report;
#[path = "../examples/tail_memory/rng.rs"]
mod rng;
#[path = "../examples/tail_memory/sgd_kernel.rs"]
mod sgd_kernel;
#[path = "../examples/tail_memory/spectrum.rs"]
mod spectrum;
#[path = "../examples/tail_memory/zipf.rs"]
mod zipf;

use error::ExampleError;
use memory::EmbeddingKind;
use muon::cpu::linalg::CpuKernel;
use optim::Backend;
use progress::Progress;

fn one_step_rho(kind: EmbeddingKind) -> (f64, f64, f64) {
    // K = 66, β = 0.2: 13 head classes, so one 3×3 rotation block holds one head and two tail
    // classes, as with the paper's K = 999 (199 head classes). Where no block straddles the
    // head/tail boundary (e.g. K = 60, 12 head classes) coupled SignGD only drops to ϱ ≈ 0.3.
    let p = one_step::OneStepParams {
        classes: 66,
        alpha: 0.8,
        beta: 0.2,
        eps: 0.1,
        ns_steps: 12,
    };
    let r = one_step::run(&p, kind, &Backend::Cpu, &Progress::hidden()).expect("one-step run");
    let rho = |m: &str| {
        r.iter()
            .find(|x| x.method == m)
            .and_then(|x| x.rho)
            .unwrap_or_else(|| panic!("{m}: no crossing"))
    };
    (rho("gd"), rho("signgd"), rho("muon"))
}

/// Theorem 5.3 at K = d = 66: Muon's ϱ^ε is high for both embeddings, SignGD's collapses only
/// for coupled ones, GD's is low for both.
#[test]
fn one_step_balance_matches_the_theorem() {
    let (gd_d, sign_d, muon_d) = one_step_rho(EmbeddingKind::Decoupled);
    let (gd_c, sign_c, muon_c) = one_step_rho(EmbeddingKind::Coupled);
    eprintln!(
        "decoupled gd {gd_d} sign {sign_d} muon {muon_d}; coupled gd {gd_c} sign {sign_c} muon {muon_c}"
    );
    assert!(muon_d > 0.8 && muon_c > 0.8, "Muon: {muon_d}, {muon_c}");
    assert!(sign_d > 0.8, "SignGD decoupled: {sign_d}");
    assert!(
        sign_c < 0.1 * sign_d,
        "SignGD coupled should collapse: {sign_c} vs {sign_d}"
    );
    assert!(gd_d < 0.1 && gd_c < 0.1, "GD: {gd_d}, {gd_c}");
}

/// The step that reaches `1 − ε` for the best class is found to bisection precision.
#[test]
fn sweep_finds_the_crossing() {
    // Two facts, logits η·[[2, 0], [0, 1]]: the best class is fact 0.
    let logits = memory::Dense {
        rows: 2,
        cols: 2,
        data: vec![2.0, 0.0, 0.0, 1.0],
    };
    let (eta, worst) = one_step::sweep(&logits, 0.1).expect("crossing");
    // Fact 0's correct probability is σ(2η) = 0.9 at η = ln(9)/2.
    assert!((eta - 9f64.ln() / 2.0).abs() < 1e-6, "eta {eta}");
    let expected_worst = 1.0 / (1.0 + (-eta).exp());
    assert!((worst - expected_worst).abs() < 1e-9);
}

/// A small Zipf task (63 classes in 6 groups, d = 64), at the example's default learning
/// rates scaled by `scale`.
fn small_zipf(scale: f32) -> zipf::ZipfParams {
    zipf::ZipfParams {
        groups: 6,
        exponent: 1.0,
        dim: 64,
        batch: 16,
        steps: 120,
        seed: 1,
        lr_adam: 0.3 * scale,
        lr_muon: 1.0 * scale,
        lr_sgd: 30.0 * scale,
    }
}

/// Runs Adam, Muon and SGD on [`small_zipf`] and returns the runs in that order.
fn zipf_runs(scale: f32) -> Vec<zipf::ZipfRun> {
    let p = small_zipf(scale);
    let task = zipf::Task::new(&p);
    zipf::run(&p, &task, &Backend::Cpu, &Progress::hidden()).expect("zipf run")
}

/// §4.3 on a small linear memory: every optimizer learns the head group; and with each
/// optimizer's learning rate a tenth of its tuned value (a learning rate not tuned for the
/// tail), Muon learns the rarest group faster than Adam and SGD (mean accuracy over the run).
#[test]
fn zipf_muon_learns_the_tail_faster_than_adam() {
    let runs = zipf_runs(0.1);
    for r in &runs {
        let last = r.last().expect("evaluated");
        assert_eq!(
            last.accuracy[0], 1.0,
            "{} must learn the head class",
            r.method
        );
        assert!(
            r.series[0].accuracy.iter().all(|a| *a <= 0.5),
            "{} starts untrained",
            r.method
        );
    }
    let tail = |m: &str| {
        runs.iter()
            .find(|r| r.method == m)
            .map(zipf::ZipfRun::tail_accuracy_mean)
    };
    let (adam, muon, sgd) = (tail("adam"), tail("muon"), tail("sgd"));
    eprintln!("rarest group, mean accuracy over the run: adam {adam:?} muon {muon:?} sgd {sgd:?}");
    assert!(muon > adam, "Muon {muon:?} vs Adam {adam:?}");
    assert!(muon > sgd, "Muon {muon:?} vs SGD {sgd:?}");
}

/// At the tuned defaults, the linear memory is learned by all three (as
/// `examples/tail_memory/README.md` says, the advantage here is robustness to the learning rate,
/// not a higher ceiling): Muon stays within a few points of Adam on the rarest group.
#[test]
fn zipf_tuned_rates_learn_every_group() {
    let runs = zipf_runs(1.0);
    let tail = |m: &str| {
        runs.iter()
            .find(|r| r.method == m)
            .map(zipf::ZipfRun::tail_accuracy_mean)
    };
    let (adam, muon) = (tail("adam").expect("adam"), tail("muon").expect("muon"));
    eprintln!("tuned: rarest group mean accuracy adam {adam} muon {muon}");
    assert!(muon > adam - 0.1, "Muon {muon} vs Adam {adam}");
    for r in &runs {
        let last = r.last().expect("evaluated");
        assert!(
            last.accuracy[..4].iter().all(|a| *a == 1.0),
            "{}: {:?}",
            r.method,
            last.accuracy
        );
    }
}

/// `L = ⌊βK⌋` as in the recomputation of the paper's ϱ table (199 at K = 999, not 200).
#[test]
fn head_count_floors() {
    assert_eq!(memory::head_count(999, 0.2), 199);
    assert_eq!(memory::head_count(30, 0.2), 6);
    assert_eq!(memory::head_count(66, 0.2), 13);
}

/// Every class is in exactly one group; group g (0-based) holds 2^g classes.
#[test]
fn zipf_groups_double_in_size() {
    let sizes: Vec<usize> = (0..5)
        .map(|g| (0..31).filter(|&c| zipf::group_of(c) == g).count())
        .collect();
    assert_eq!(sizes, [1, 2, 4, 8, 16]);
}

/// The multi-step runs of both embedding kinds at K = d = 30.
fn small_multi_step() -> Vec<(EmbeddingKind, Vec<multi_step::MultiStepRun>)> {
    let p = multi_step::MultiStepParams {
        classes: 30,
        alpha: 0.8,
        beta: 0.2,
        steps: 60,
        lr_gd: 50.0,
        lr_adam: 0.05,
        lr_muon: 0.1,
    };
    EmbeddingKind::ALL
        .into_iter()
        .map(|kind| {
            (
                kind,
                multi_step::run(&p, kind, &Backend::Cpu, &Progress::hidden()).expect("train"),
            )
        })
        .collect()
}

/// Multi-step: every optimizer lowers the loss; at equal loss GD's gap Δ(W) is far above
/// Muon's; Adam's gap is small for decoupled embeddings but not for coupled ones; Muon's W has
/// the flattest spectrum (higher normalised SVD entropy than Adam's, lower top-10 energy).
#[test]
fn multi_step_gaps_and_isotropy() {
    for (kind, runs) in small_multi_step() {
        let run = |m: &str| runs.iter().find(|r| r.method == m).expect("method");
        for r in &runs {
            let first = r.series[0].loss;
            assert!(
                r.last().loss < 0.5 * first,
                "{kind:?} {}: {first} -> {}",
                r.method,
                r.last().loss
            );
        }
        let (gd, adam, muon) = (run("gd"), run("adam"), run("muon"));
        let at1 = |r: &multi_step::MultiStepRun| r.gap_at_loss(1.0).expect("loss reaches 1");
        eprintln!(
            "{kind:?}: gap@1 gd {} adam {} muon {}; entropy adam {} muon {}",
            at1(gd),
            at1(adam),
            at1(muon),
            adam.isotropy.entropy,
            muon.isotropy.entropy
        );
        assert!(
            at1(gd) > 3.0 * at1(muon),
            "{kind:?}: GD {} vs Muon {}",
            at1(gd),
            at1(muon)
        );
        match kind {
            EmbeddingKind::Decoupled => assert!(adam.peak_gap() < 0.01, "{}", adam.peak_gap()),
            EmbeddingKind::Coupled => assert!(adam.peak_gap() > muon.peak_gap()),
        }
        assert!(muon.isotropy.entropy > adam.isotropy.entropy);
        assert!(muon.isotropy.top10_energy < adam.isotropy.top10_energy);
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn bad_arguments_are_clear_errors() {
    for (bad, needle) in [
        (&["--classes", "100"][..], "multiple of 3"),
        (&["--multi-classes", "31"][..], "multiple of 3"),
        (&["--alpha", "0"][..], "--alpha"),
        (&["--beta", "1"][..], "--beta"),
        (&["--classes", "12.5"][..], "expects a number"),
        (&["--seed", "-3"][..], "expects a number"),
        (&["--dim", "0"][..], "--dim"),
        (&["--alpha", "1.5"][..], "--alpha"),
        (&["--beta", "0"][..], "--beta"),
        (&["--eps", "abc"][..], "expects a number"),
        (&["--frobnicate", "1"][..], "unknown option"),
        (&["--experiment", "two-step"][..], "unknown experiment"),
        (&["--backend", "tpu"][..], "unknown backend"),
        (&["--cpu-kernel", "sse4"][..], "unknown CPU kernel"),
        (&["--steps"][..], "needs a value"),
        (&["--groups", "40"][..], "--groups"),
        (&["--lr-muon", "-1"][..], "--lr-muon"),
        (&["--paper-groups", "1"][..], "--paper-groups"),
        (&["--paper-size", "huge"][..], "--paper-size"),
        (&["--paper-exposure", "0"][..], "--paper-exposure"),
        (&["--paper-seeds", "0"][..], "--paper-seeds"),
    ] {
        match cli::parse(&args(bad)) {
            Err(ExampleError::Args(msg)) => assert!(msg.contains(needle), "{bad:?}: {msg}"),
            other => panic!("{bad:?} should be rejected, got {other:?}"),
        }
    }
    let ok = cli::parse(&args(&["--experiment=zipf", "--dim", "16"])).expect("valid");
    assert!(ok.experiments.zipf && !ok.experiments.one_step);
    assert_eq!(ok.zipf.dim, 16);
    assert_eq!(ok.cpu_kernel, None);
    let portable = cli::parse(&args(&["--cpu-kernel", "portable"])).expect("valid");
    assert_eq!(portable.cpu_kernel, Some(CpuKernel::Portable));
    // A kernel this CPU cannot run is refused, not silently replaced by another.
    for kernel in CpuKernel::ALL {
        let parsed = cli::parse(&args(&["--cpu-kernel", kernel.name()]));
        match parsed {
            Ok(a) => assert!(kernel.is_supported() && a.cpu_kernel == Some(kernel)),
            Err(ExampleError::Args(msg)) => {
                assert!(
                    !kernel.is_supported() && msg.contains("cannot run"),
                    "{msg}"
                );
            }
            Err(e) => panic!("{e}"),
        }
    }
    let quick = cli::parse(&args(&[
        "--experiment",
        "zipf-paper",
        "--paper-seeds",
        "4",
        "--quick",
    ]))
    .expect("valid");
    assert!(quick.experiments.zipf_paper && !quick.experiments.zipf);
    assert_eq!(
        quick.paper,
        paper::PaperParams {
            seeds: 4,
            ..paper::PaperParams::QUICK
        }
    );
}

/// The GPU context, or `None` when there is no adapter and `MUON_REQUIRE_ADAPTER` is unset.
fn gpu() -> Option<muon::gpu::GpuContext> {
    match muon::gpu::GpuContext::new() {
        Ok(ctx) => Some(ctx),
        Err(e) if std::env::var_os("MUON_REQUIRE_ADAPTER").is_none() => {
            eprintln!("skipping: no GPU adapter ({e}); set MUON_REQUIRE_ADAPTER=1 to fail instead");
            None
        }
        Err(e) => panic!("MUON_REQUIRE_ADAPTER is set but no adapter: {e}"),
    }
}

/// The paper-regime experiment at its quick size: every group reported at every checkpoint,
/// the aggregates are the mean and std of the per-seed values, the chosen rate is the sweep's
/// minimum, and each rarest-group class is drawn between 1 and 4 times over the run.
#[test]
fn zipf_paper_structure() {
    let p = paper::PaperParams::QUICK;
    let (lo, mean, hi) = p.exposure_range();
    assert!(
        (1.0..=4.0).contains(&lo) && (1.0..=4.0).contains(&hi) && lo <= mean && mean <= hi,
        "rarest-group exposure {lo}..{hi} (mean {mean})"
    );
    let r = paper::run(&p, &Backend::Cpu, &Progress::hidden()).expect("paper run");
    let steps = p.steps();
    assert_eq!(r.models.len(), 2);
    let (table, json) = report::zipf_paper(&r);
    assert!(
        table.contains(&format!("drawn {lo:.2}–{hi:.2} times")),
        "{table}"
    );
    for mr in &r.models {
        let name = mr.model.name();
        assert!(table.contains(&format!("[{name} memory]")), "{table}");
        assert_eq!(mr.methods.len(), 3);
        let block = &json["models"][name];
        for (m, jm) in mr
            .methods
            .iter()
            .zip(block["methods"].as_array().expect("methods"))
        {
            assert!(
                m.sweep.len() >= paper::GRID.len(),
                "{name} {}: sweep",
                m.method
            );
            let best = m
                .sweep
                .iter()
                .min_by(|a, b| a.mean_population_loss.total_cmp(&b.mean_population_loss))
                .expect("sweep");
            assert_eq!(
                best.lr, m.lr,
                "{name} {}: chosen rate is not the sweep's minimum",
                m.method
            );
            assert_eq!(m.runs.len(), p.seeds);
            let seeds = jm["seeds"].as_array().expect("seeds");
            assert_eq!(seeds.len(), p.seeds);
            for (ci, &c) in report::paper_checkpoints(steps).iter().enumerate() {
                let agg = jm["accuracy"][ci]["groups"].as_array().expect("groups");
                assert_eq!(agg.len(), p.groups, "{name} {} @ {c}", m.method);
                for g in 0..p.groups {
                    // The per-seed value at checkpoint c, from each seed's JSON series.
                    let vals: Vec<f64> = seeds
                        .iter()
                        .map(|sd| {
                            let series = sd["series"].as_array().expect("series");
                            let pt = series
                                .iter()
                                .min_by_key(|pt| {
                                    pt["step"].as_u64().expect("step").abs_diff(c as u64)
                                })
                                .expect("point");
                            pt["accuracy"][g].as_f64().expect("accuracy")
                        })
                        .collect();
                    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                    let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                        / (vals.len() - 1) as f64)
                        .sqrt();
                    let (j_mean, j_std) = (
                        agg[g]["mean"].as_f64().expect("mean"),
                        agg[g]["std"].as_f64().expect("std"),
                    );
                    assert!(
                        (j_mean - mean).abs() < 1e-12 && (j_std - std).abs() < 1e-12,
                        "{name} {} group {g} step {c}: {j_mean}±{j_std} vs {mean}±{std}",
                        m.method
                    );
                    assert!((0.0..=1.0).contains(&mean));
                }
            }
            // The last evaluation is at the end of the run.
            assert_eq!(m.runs[0].1.series.last().map(|pt| pt.step), Some(steps));
        }
    }
    // Every group has a row in each model's table (two tables).
    for g in 1..=p.groups {
        let rows = table
            .lines()
            .filter(|l| l.starts_with(&format!("{g:<6}")))
            .count();
        assert_eq!(rows, 2, "group {g}:\n{table}");
    }
}

/// The FFN memory's gradients (keys, W₁, W₂) agree with central finite differences of its
/// loss, with a repeated class in the batch (its key gradient is the sum of both rows).
#[test]
fn ffn_gradients_match_finite_differences() {
    let (d, n, m) = (6, 9, 5);
    let mut rng = rng::Rng::new(7);
    let keys = memory::random_unit_columns(d, n, &mut rng);
    let values = memory::random_unit_columns(d, n, &mut rng);
    let mem = ffn::FfnMemory::new(values, m);
    let mut wts = mem.init(&keys, &mut rng);
    for x in &mut wts.w2.data {
        *x = (rng.normal() * 0.7) as f32;
    }
    let batch = [3usize, 0, 3, 7];
    let weights = [0.25f32, 0.5, 0.25, 0.3];
    let g = mem
        .loss_and_gradient(&wts, &batch, &weights)
        .expect("gradient");
    let loss = |w: &ffn::FfnWeights| {
        mem.loss_and_gradient(w, &batch, &weights)
            .expect("loss")
            .loss
    };
    let eps = 1e-2f32;
    type Pick = fn(&mut ffn::FfnWeights) -> &mut memory::Dense;
    let params: [(&str, Pick, &memory::Dense); 3] = [
        ("keys", |w| &mut w.keys, &g.keys),
        ("w1", |w| &mut w.w1, &g.w1),
        ("w2", |w| &mut w.w2, &g.w2),
    ];
    for (name, pick, grad) in params {
        let len = pick(&mut wts.clone()).data.len();
        assert_eq!(grad.data.len(), len, "{name}");
        for i in 0..len {
            let mut plus = wts.clone();
            pick(&mut plus).data[i] += eps;
            let mut minus = wts.clone();
            pick(&mut minus).data[i] -= eps;
            let fd = (loss(&plus) - loss(&minus)) / (2.0 * f64::from(eps));
            let an = f64::from(grad.data[i]);
            assert!(
                (fd - an).abs() <= 1e-3 + 2e-2 * an.abs(),
                "{name}[{i}]: finite difference {fd}, gradient {an}"
            );
        }
    }
    // Rows of classes outside the batch get no gradient.
    for c in [1usize, 2, 4, 5, 6, 8] {
        assert!(
            g.keys.data[c * d..(c + 1) * d].iter().all(|x| *x == 0.0),
            "row {c}"
        );
    }
    assert!(g.keys.data[3 * d..4 * d].iter().any(|x| *x != 0.0));
}

/// GPU-resident training reads nothing back inside a step: every readback is an evaluation
/// (one per evaluation point at these sizes) or one of the two at the end (`W`, the
/// optimizer's flags), whatever the number of steps; a Zipf step uploads only its class
/// indices, a full-batch step nothing; each step is one submission.
#[test]
fn gpu_resident_steps_do_not_read_back() {
    let Some(ctx) = gpu() else { return };
    let bar = Progress::hidden();
    for steps in [20, 60] {
        let p = zipf::ZipfParams {
            steps,
            ..small_zipf(1.0)
        };
        let task = zipf::Task::new(&p);
        for (name, spec) in zipf::methods(&p) {
            let (run, c) = zipf::train_device(&p, &task, name, spec, &ctx, &bar).expect("zipf");
            assert_eq!(c.steps, steps, "{name}");
            assert_eq!(c.step_submissions, steps, "{name}");
            assert_eq!(c.step_uploads, steps, "{name}");
            assert_eq!(c.eval_readbacks, run.series.len() + 2, "{name} {c:?}");
            let (run, c) = ffn::train_device(&p, &task, name, spec, &ctx, &bar).expect("ffn");
            assert_eq!(
                (c.steps, c.step_submissions, c.step_uploads),
                (steps, steps, steps),
                "ffn {name}"
            );
            assert_eq!(c.eval_readbacks, run.series.len() + 2, "ffn {name} {c:?}");
        }
    }
    let p = multi_step::MultiStepParams {
        classes: 30,
        alpha: 0.8,
        beta: 0.2,
        steps: 25,
        lr_gd: 50.0,
        lr_adam: 0.05,
        lr_muon: 0.1,
    };
    for (name, spec) in multi_step::methods(&p) {
        let (run, c) = multi_step::train_device(&p, EmbeddingKind::Coupled, name, spec, &ctx, &bar)
            .expect("multi-step");
        assert_eq!(run.series.len(), p.steps + 1);
        assert_eq!((c.steps, c.step_submissions, c.step_uploads), (25, 25, 0));
        // The statistics history, W and the optimizer's flags.
        assert_eq!(c.eval_readbacks, 3, "{name} {c:?}");
    }
}

/// The CPU core and the GPU-resident model print the same Zipf and multi-step tables.
#[test]
fn gpu_and_cpu_tables_agree() {
    let Some(ctx) = gpu() else { return };
    let gpu = Backend::Gpu(Box::new(ctx));
    let bar = Progress::hidden();
    let p = small_zipf(1.0);
    let task = zipf::Task::new(&p);
    let cpu_t = report::zipf(&p, &zipf::run(&p, &task, &Backend::Cpu, &bar).expect("cpu")).0;
    let gpu_t = report::zipf(&p, &zipf::run(&p, &task, &gpu, &bar).expect("gpu")).0;
    assert_eq!(
        cpu_t, gpu_t,
        "zipf tables differ:\ncpu\n{cpu_t}\ngpu\n{gpu_t}"
    );
    let mp = multi_step::MultiStepParams {
        classes: 30,
        alpha: 0.8,
        beta: 0.2,
        steps: 40,
        lr_gd: 50.0,
        lr_adam: 0.05,
        lr_muon: 0.1,
    };
    let table = |backend: &Backend| {
        let results: Vec<_> = EmbeddingKind::ALL
            .into_iter()
            .map(|kind| {
                let runs = multi_step::run(&mp, kind, backend, &bar).expect("multi-step");
                (kind.name(), runs)
            })
            .collect();
        report::multi_step(&mp, &results).0
    };
    let (cpu_m, gpu_m) = (table(&Backend::Cpu), table(&gpu));
    assert_eq!(
        cpu_m, gpu_m,
        "multi-step tables differ:\ncpu\n{cpu_m}\ngpu\n{gpu_m}"
    );
}

/// The paper-regime table at its quick size is the same on both backends, but for the sweep
/// losses of diverging rates (chaotic, hence backend-dependent digits; the chosen rates agree).
#[test]
fn gpu_and_cpu_paper_tables_agree() {
    let Some(ctx) = gpu() else { return };
    let bar = Progress::hidden();
    let p = paper::PaperParams::QUICK;
    let cpu = paper::run(&p, &Backend::Cpu, &bar).expect("cpu");
    let gpu = paper::run(&p, &Backend::Gpu(Box::new(ctx)), &bar).expect("gpu");
    for (cm, gm) in cpu.models.iter().zip(&gpu.models) {
        for (c, g) in cm.methods.iter().zip(&gm.methods) {
            assert_eq!(c.lr, g.lr, "{}: chosen rates differ", c.method);
        }
    }
    let without_sweeps = |r: &paper::PaperResult| {
        report::zipf_paper(r)
            .0
            .lines()
            .filter(|l| !l.contains(" sweep (lr"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (ct, gt) = (without_sweeps(&cpu), without_sweeps(&gpu));
    assert_eq!(ct, gt, "paper tables differ:\ncpu\n{ct}\ngpu\n{gt}");
}

/// A short multi-step run agrees between the GPU kernels and the CPU core.
#[test]
fn gpu_and_cpu_multi_step_agree() {
    let ctx = match muon::gpu::GpuContext::new() {
        Ok(ctx) => ctx,
        Err(e) if std::env::var_os("MUON_REQUIRE_ADAPTER").is_none() => {
            eprintln!("skipping: no GPU adapter ({e}); set MUON_REQUIRE_ADAPTER=1 to fail instead");
            return;
        }
        Err(e) => panic!("MUON_REQUIRE_ADAPTER is set but no adapter: {e}"),
    };
    let p = multi_step::MultiStepParams {
        classes: 30,
        alpha: 0.8,
        beta: 0.2,
        steps: 10,
        lr_gd: 50.0,
        lr_adam: 0.05,
        lr_muon: 0.1,
    };
    let bar = Progress::hidden();
    for (name, spec) in multi_step::methods(&p) {
        let cpu = multi_step::train(&p, EmbeddingKind::Coupled, name, spec, &Backend::Cpu, &bar)
            .expect("cpu");
        let gpu = multi_step::train(
            &p,
            EmbeddingKind::Coupled,
            name,
            spec,
            &Backend::Gpu(Box::new(ctx.clone())),
            &bar,
        )
        .expect("gpu");
        for (c, g) in cpu.series.iter().zip(&gpu.series) {
            assert!(
                (c.loss - g.loss).abs() <= 1e-4 * c.loss.abs().max(1.0),
                "{name} step {}: cpu {} gpu {}",
                c.step,
                c.loss,
                g.loss
            );
        }
    }
}
