//! Every program the crate compiles (`shaders/*.wgsl`, the product kernels with
//! `tile_product.wgsl` in front, as listed in `src/kernels/sources.rs`) parses and validates
//! with naga, and naga's SPIR-V writer accepts it (writer panics such as "Expression [N] is not
//! cached" show up here without a GPU).

use std::path::PathBuf;

fn shader_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

/// The crate's own list of programs, exactly as it compiles them.
#[path = "../src/kernels/sources.rs"]
mod sources;

fn shader_files() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(shader_dir())
        .expect("shaders/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wgsl"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_shader_validates_and_writes_spirv() {
    assert!(
        sources::PROGRAMS.len() >= 8,
        "expected the crate's kernels, found {:?}",
        sources::PROGRAMS.map(|(name, _)| name)
    );
    for (name, source) in sources::PROGRAMS {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        // Pipeline constants at their defaults (tests/shader_backends.rs tries the others).
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            None,
            &naga::back::PipelineConstants::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: pipeline constants: {e}"));
        let spv =
            naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None)
                .unwrap_or_else(|e| panic!("{name}: SPIR-V writer: {e}"));
        assert!(!spv.is_empty(), "{name}: empty SPIR-V");
    }
}

#[test]
fn every_shader_file_is_compiled() {
    let paths = shader_files();
    assert!(
        paths.len() >= 8,
        "expected the crate's kernels, found {paths:?}"
    );
    for path in &paths {
        let source = std::fs::read_to_string(path).expect("readable shader");
        assert!(
            sources::PROGRAMS.iter().any(|(_, p)| p.contains(&source)),
            "{} is not part of any compiled program (kernels/sources.rs)",
            path.display()
        );
    }
}

#[test]
fn every_binding_and_uniform_field_is_commented() {
    for path in shader_files() {
        let source = std::fs::read_to_string(&path).expect("readable shader");
        let mut in_struct = false;
        for (n, line) in source.lines().enumerate() {
            let t = line.trim();
            if t.starts_with("struct ") {
                in_struct = true;
                continue;
            }
            if in_struct && t.starts_with('}') {
                in_struct = false;
                continue;
            }
            let needs_comment = t.starts_with("@group") || (in_struct && t.contains(':'));
            if needs_comment {
                assert!(
                    t.contains("//"),
                    "{}:{}: binding or uniform field without a comment: {t}",
                    path.display(),
                    n + 1
                );
            }
        }
    }
}
