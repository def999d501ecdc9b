//! `unsafe` stays where the int8 GEMM's intrinsics need it: the workspace denies it
//! (`unsafe_code = "deny"` in the root Cargo.toml) and exactly one module allows it,
//! `inference/src/int8/gemm.rs`, whose every `unsafe` block carries a `// SAFETY:` comment.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() && !name.starts_with('.') && name != "target" {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_int8_gemm_allows_unsafe_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root Cargo.toml");
    assert!(manifest.contains("unsafe_code = \"deny\""), "the workspace denies unsafe code");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 50, "found the workspace's sources: {}", files.len());
    let this = Path::new(file!()).file_name().expect("name");
    let mut allowing = Vec::new();
    for f in &files {
        if f.file_name() == Some(this) {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read");
        if text.contains("allow(unsafe_code)") {
            allowing.push(f.strip_prefix(&root).unwrap_or(f).to_string_lossy().into_owned());
        }
    }
    assert_eq!(allowing, ["inference/src/int8/gemm.rs"], "modules allowing unsafe code");

    let gemm = std::fs::read_to_string(root.join("inference/src/int8/gemm.rs")).expect("gemm.rs");
    let lines: Vec<&str> = gemm.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains("unsafe {") {
            // The SAFETY comment sits in the lines just above the block (or the statement
            // that opens it).
            let above = &lines[i.saturating_sub(6)..i];
            assert!(
                above.iter().any(|l| l.trim_start().starts_with("// SAFETY:")) || line.contains("// SAFETY:"),
                "gemm.rs:{}: an unsafe block without a SAFETY comment above it",
                i + 1
            );
        }
    }
}
