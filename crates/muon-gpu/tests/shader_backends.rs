//! Every program the crate compiles (`src/kernels/sources.rs`, exactly as compiled) translates
//! into the shading language of every backend it targets, as wgpu would translate it: naga
//! validates the WGSL with the capabilities that backend's writer supports, resolves the
//! pipeline-overridable constants entry point by entry point, and writes SPIR-V (Vulkan), MSL
//! (Metal), HLSL (DX12) or GLSL ES 3.10 compute (OpenGL ES). Any error fails the test, so a
//! shader that Metal's or DX12's translation would reject fails here, without those GPUs.
//!
//! What this does not prove: that the platform's own compiler (Metal's, DXC/FXC, the GL
//! driver's) accepts naga's output. naga's writers are tested upstream against those.

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use naga::{Module, ShaderStage};

/// The crate's own list of programs, exactly as it compiles them.
#[path = "../src/kernels/sources.rs"]
mod sources;

/// A wgpu backend and the language naga translates WGSL into for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// SPIR-V 1.0.
    Vulkan,
    /// MSL 2.0 (macOS 10.13 / iOS 11, the oldest Metal 2).
    Metal,
    /// HLSL shader model 5.1 (the lowest wgpu's DX12 backend compiles for).
    Dx12,
    /// GLSL ES 3.10, the first with compute shaders.
    Gl,
}

use Backend::{Dx12, Gl, Metal, Vulkan};

/// Every backend wgpu offers on desktop and mobile.
const ALL: &[Backend] = &[Vulkan, Metal, Dx12, Gl];

/// The backends each program targets. Every program of `sources::PROGRAMS` must be listed: a
/// program that needs a feature some backends lack (e.g. cooperative matrices: Vulkan and
/// Metal only) names the backends it runs on, and the crate must not compile it elsewhere.
const TARGETS: &[(&str, &[Backend])] = &[
    ("adam_update", ALL),
    ("adam_update_vec4", ALL),
    ("check_finite", ALL),
    ("check_finite_vec4", ALL),
    ("frobenius_norm", ALL),
    ("gather_rows", ALL),
    ("gram", ALL),
    ("gram_large", ALL),
    ("matmul", ALL),
    ("matmul_large", ALL),
    // Compiled only on Vulkan adapters that report 16×16×16 f16 cooperative matrices
    // (Metal's simdgroup matrices are 8×8).
    ("matmul_coop", &[Vulkan]),
    ("muon_update", ALL),
    ("muon_update_vec4", ALL),
    ("ns_normalize", ALL),
    ("ns_step", ALL),
    ("ns_step_large", ALL),
    ("scatter_add_rows", ALL),
    ("silu", ALL),
    ("softmax_xent", ALL),
];

/// Pipeline-overridable constants that the crate sets for a program, one set per pipeline
/// variant; each set is translated besides the defaults. (`(program, [(name, value)])`.)
const OVERRIDES: &[(&str, &[(&str, f64)])] = &[
    // The one-element builds' tail pipelines (kernels/elementwise.rs).
    ("adam_update", &[("TAIL_GROUP", 4.0)]),
    ("adam_update", &[("TAIL_GROUP", 8.0)]),
    ("check_finite", &[("TAIL_GROUP", 4.0)]),
    ("muon_update", &[("TAIL_GROUP", 4.0)]),
    ("matmul", &[("ROUND_F16", 1.0)]),
    ("matmul_large", &[("ROUND_F16", 1.0)]),
];

impl Backend {
    /// What naga's writer for this backend supports (validation with more would let a
    /// shader through that the writer rejects or mistranslates).
    fn capabilities(self) -> Capabilities {
        match self {
            Vulkan => spv::supported_capabilities(),
            Metal => msl::supported_capabilities(),
            Dx12 => hlsl::supported_capabilities(),
            Gl => glsl::supported_capabilities(),
        }
    }

    /// Translates one entry point of a module whose overrides are resolved.
    fn write(
        self,
        module: &Module,
        info: &ModuleInfo,
        stage: ShaderStage,
        ep: &str,
    ) -> Result<(), String> {
        let entry = Some((stage, ep.to_string()));
        match self {
            Vulkan => {
                let pipeline = spv::PipelineOptions {
                    shader_stage: stage,
                    entry_point: ep.to_string(),
                };
                let words = spv::write_vec(module, info, &spv::Options::default(), Some(&pipeline))
                    .map_err(|e| format!("{e}"))?;
                if words.is_empty() {
                    return Err("empty SPIR-V".into());
                }
            }
            Metal => {
                let options = msl::Options {
                    lang_version: (2, 0),
                    ..msl::Options::default()
                };
                let pipeline = msl::PipelineOptions {
                    entry_point: entry,
                    ..msl::PipelineOptions::default()
                };
                let (_, translated) = msl::write_string(module, info, &options, &pipeline)
                    .map_err(|e| format!("{e}"))?;
                // An entry point the writer cannot translate is reported here, not as an Err.
                for name in translated.entry_point_names {
                    name.map_err(|e| format!("{e}"))?;
                }
            }
            Dx12 => {
                let options = hlsl::Options {
                    shader_model: hlsl::ShaderModel::V5_1,
                    ..hlsl::Options::default()
                };
                let pipeline = hlsl::PipelineOptions { entry_point: entry };
                let mut out = String::new();
                hlsl::Writer::new(&mut out, &options, &pipeline)
                    .write(module, info, None)
                    .map_err(|e| format!("{e}"))?;
            }
            Gl => {
                let options = glsl::Options {
                    version: glsl::Version::Embedded {
                        version: 310,
                        is_webgl: false,
                    },
                    ..glsl::Options::default()
                };
                let pipeline = glsl::PipelineOptions {
                    shader_stage: stage,
                    entry_point: ep.to_string(),
                    multiview: None,
                };
                let mut out = String::new();
                glsl::Writer::new(
                    &mut out,
                    module,
                    info,
                    &options,
                    &pipeline,
                    naga::proc::BoundsCheckPolicies::default(),
                )
                .and_then(|mut w| w.write())
                .map_err(|e| format!("{e}"))?;
            }
        }
        Ok(())
    }
}

/// Validates `source` for `backend` and translates each entry point with `constants`.
fn translate(
    source: &str,
    backend: Backend,
    constants: &naga::back::PipelineConstants,
) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let info = Validator::new(ValidationFlags::all(), backend.capabilities())
        .validate(&module)
        .map_err(|e| e.emit_to_string(source))?;
    for ep in &module.entry_points {
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((ep.stage, &ep.name)),
            constants,
        )
        .map_err(|e| format!("{}: constants {constants:?}: {e}", ep.name))?;
        backend
            .write(&module, &info, ep.stage, &ep.name)
            .map_err(|e| format!("{}: {e}", ep.name))?;
    }
    Ok(())
}

#[test]
fn every_program_translates_for_every_backend_it_targets() {
    let mut failures = Vec::new();
    let mut translated = 0;
    for (name, source) in sources::PROGRAMS {
        let Some((_, backends)) = TARGETS.iter().find(|(n, _)| *n == name) else {
            failures.push(format!(
                "{name}: not in TARGETS (tests/shader_backends.rs): which backends does it target?"
            ));
            continue;
        };
        let mut sets = vec![naga::back::PipelineConstants::default()];
        for (_, set) in OVERRIDES.iter().filter(|(n, _)| *n == name) {
            let mut constants = naga::back::PipelineConstants::default();
            for (key, value) in *set {
                constants.insert((*key).to_string(), *value);
            }
            sets.push(constants);
        }
        for backend in *backends {
            for constants in &sets {
                match translate(source, *backend, constants) {
                    Ok(()) => translated += 1,
                    Err(e) => failures.push(format!("{name} for {backend:?}: {e}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(translated >= 4 * 8, "only {translated} translations ran");
}

#[test]
fn every_listed_program_exists() {
    let names = TARGETS
        .iter()
        .map(|(n, _)| n)
        .chain(OVERRIDES.iter().map(|(n, _)| n));
    for name in names {
        assert!(
            sources::PROGRAMS.iter().any(|(p, _)| p == name),
            "{name} is listed in tests/shader_backends.rs but is not a program of src/kernels/sources.rs"
        );
    }
    for (name, backends) in TARGETS {
        assert!(!backends.is_empty(), "{name} targets no backend");
    }
}
