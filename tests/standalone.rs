//! The checkout stands alone: no file refers to anything beside it, and every vendored
//! data source carries its provenance and licence.

use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the checkout but build output and git's own.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | ".git") {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_file_refers_to_a_folder_beside_the_checkout() {
    // Spelled in two halves so that this file does not match itself.
    let needle = format!("{}/{}", "..", "shared");
    let mut all = Vec::new();
    files(&repo(), &mut all);
    assert!(all.len() > 100, "only {} files found", all.len());
    let offenders: Vec<String> = all
        .iter()
        .filter(|p| {
            fs::read(p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|p| p.strip_prefix(repo()).unwrap().display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "these files refer to {needle}, which a user's clone does not have: {offenders:?}"
    );
}

#[test]
fn every_vendored_source_names_its_origin_and_licence() {
    let data = repo().join("tests/data");
    let mut sources = 0;
    for entry in fs::read_dir(&data).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        sources += 1;
        let readme = fs::read_to_string(dir.join("README.md"))
            .unwrap_or_else(|e| panic!("{}/README.md: {e}", dir.display()));
        assert!(
            readme.contains("https://") && readme.contains("icen"),
            "{}/README.md must name where the files came from and their licence",
            dir.display()
        );
        let licence = fs::read_dir(&dir).unwrap().any(|e| {
            let name = e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .to_ascii_uppercase();
            name.starts_with("COPYING") || name.starts_with("LICENSE")
        });
        assert!(
            licence,
            "{}: no licence text (COPYING*/LICENSE*)",
            dir.display()
        );
    }
    assert!(sources >= 1, "no vendored data under {}", data.display());
}

#[test]
fn the_project_licences_match_cargo_toml() {
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"MIT OR Apache-2.0\""));
    let mit = fs::read_to_string(repo().join("LICENSE-MIT")).unwrap();
    assert!(mit.starts_with("MIT License"));
    let apache = fs::read_to_string(repo().join("LICENSE-APACHE")).unwrap();
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0"));
}
