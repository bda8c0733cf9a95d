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

/// `text` without `//` comments.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers and keywords of `text`, in order.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// The text between the bracket that opens at byte `open` of `text` and its match.
fn bracketed(text: &str, open: usize, pair: (char, char)) -> &str {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        if c == pair.0 {
            depth += 1;
        } else if c == pair.1 {
            depth -= 1;
            if depth == 0 {
                return &text[open + 1..open + i];
            }
        }
    }
    panic!("unbalanced {pair:?} from byte {open}");
}

/// A compile-time constant: a literal (`256u`) or an upper-case `const` (`TK`).
fn is_constant(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit() || c == 'u')
        || (word.starts_with(|c: char| c.is_ascii_uppercase())
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
}

/// Why loop `header` (`init; condition; update`) with `body` might not end, or `None` when
/// one of the three forms that always end: `i < anything; i++` (i can only count up to
/// u32::MAX), `i > 0u; i >>= 1u`, and `i < CONSTANT; i += CONSTANT` (no wrapping before
/// a small constant). In each, the body must not assign the counter.
fn loop_risk(header: &str, body: &str) -> Option<String> {
    let parts: Vec<Vec<&str>> = header
        .split(';')
        .map(|p| p.split_whitespace().collect())
        .collect();
    let [init, condition, update] = parts.as_slice() else {
        return Some(format!("not `init; condition; update`: {header}"));
    };
    let ["var", counter, ..] = init.as_slice() else {
        return Some(format!("init is not `var i = ..`: {header}"));
    };
    let counter = counter.trim_end_matches(':');
    let ends = match (condition.as_slice(), update.as_slice()) {
        ([c, "<", ..], [u]) => *c == counter && *u == format!("{counter}++"),
        ([c, ">", "0u"], [u, ">>=", "1u"]) => *c == counter && *u == counter,
        ([c, "<", bound], [u, "+=", step]) => {
            *c == counter && *u == counter && is_constant(bound) && is_constant(step)
        }
        _ => false,
    };
    if !ends {
        return Some(format!("not a form that always ends: {header}"));
    }
    let assigned = body.match_indices(counter).any(|(at, _)| {
        let before = body[..at].chars().next_back();
        let after = body[at + counter.len()..].trim_start();
        let whole = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let writes = [
            "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=",
        ]
        .iter()
        .any(|op| after.starts_with(op))
            || (after.starts_with('=') && !after.starts_with("=="));
        whole && writes
    });
    assigned.then(|| format!("the body assigns the counter `{counter}`: {header}"))
}

/// The crate compiles its kernels without wgpu's loop-bounding counters
/// (`src/kernels/common.rs`), which is sound only if every loop ends whatever the parameters
/// and buffers: no `while` or `loop`, and every `for` in one of the forms `loop_risk` accepts
/// (strides over run-time bounds count their trips with `shaders/trips.wgsl`).
#[test]
fn every_loop_ends_for_any_parameters() {
    let mut risks = Vec::new();
    let mut loops = 0;
    for (name, source) in sources::PROGRAMS {
        let text = without_comments(source);
        for keyword in ["while", "loop"] {
            if words(&text).any(|w| w == keyword) {
                risks.push(format!("{name}: `{keyword}`"));
            }
        }
        for (at, _) in text.match_indices("for (") {
            if text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let open = at + "for ".len();
            let header = bracketed(&text, open, ('(', ')'));
            let brace = open
                + header.len()
                + 2
                + text[open + header.len() + 2..]
                    .find('{')
                    .expect("a loop body");
            let body = bracketed(&text, brace, ('{', '}'));
            loops += 1;
            if let Some(risk) = loop_risk(header, body) {
                risks.push(format!("{name}: {risk}"));
            }
        }
    }
    assert!(loops >= 20, "found only {loops} loops: is the scan broken?");
    assert!(
        risks.is_empty(),
        "loops that might not end:\n{}",
        risks.join("\n")
    );
}

#[test]
fn the_loop_check_rejects_loops_that_may_not_end() {
    let body = "{ acc += x[i]; }";
    assert_eq!(loop_risk("var i = 0u; i < params.n; i++", body), None);
    assert_eq!(loop_risk("var h = 128u; h > 0u; h >>= 1u", body), None);
    assert_eq!(loop_risk("var kk = 0u; kk < TK; kk += 4u", body), None);
    // A stride over a run-time bound can wrap past 2³² and never end.
    assert!(loop_risk("var i = lid; i < params.len; i += 256u", body).is_some());
    assert!(loop_risk("var i = lid; i < 256u; i += stride", body).is_some());
    assert!(loop_risk("var h = 128u; h >= 0u; h >>= 1u", body).is_some());
    assert!(loop_risk("var i = 0u; i < n; i--", body).is_some());
    assert!(loop_risk("var i = 0u; j < n; i++", body).is_some());
    assert!(loop_risk("i = 0u; i < n; i++", body).is_some());
    // The body must leave the counter alone.
    assert!(loop_risk("var i = 0u; i < n; i++", "{ i = 0u; }").is_some());
    assert!(loop_risk("var i = 0u; i < n; i++", "{ i -= 1u; }").is_some());
    assert_eq!(
        loop_risk("var i = 0u; i < n; i++", "{ if (i == 3u) { x[i] = 1.0; } }"),
        None
    );
    assert_eq!(
        loop_risk("var i = 0u; i < n; i++", "{ let ii = i; p.i = 2u; }"),
        None
    );
}
