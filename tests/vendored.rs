//! Every vendored data source under tests/data is what its README says: a number of
//! `<domain>` documents, of which a stated number are not (namespace-)well-formed XML.
//! An independent parser (roxmltree) counts them, so a README cannot drift from its files.

use std::fs;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "xml") {
            out.push(path);
        }
    }
}

/// What one folder holds: documents with a `<domain>` root, and files the parser rejects.
#[derive(Debug, PartialEq)]
struct Count {
    documents: usize,
    rejected: usize,
}

fn count(dir: &Path) -> Count {
    let mut files = Vec::new();
    xml_files(dir, &mut files);
    let mut rejected = 0;
    for path in &files {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        match roxmltree::Document::parse_with_options(&text, options) {
            Ok(doc) => assert_eq!(
                doc.root_element().tag_name().name(),
                "domain",
                "{}: not a <domain> document",
                path.display()
            ),
            Err(_) => rejected += 1,
        }
    }
    Count {
        documents: files.len(),
        rejected,
    }
}

/// The README's `Count: N documents, M of them rejected ...` line.
fn stated(readme: &str) -> Option<Count> {
    let line = readme.lines().find(|l| l.starts_with("Count: "))?;
    let mut numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap());
    Some(Count {
        documents: numbers.next()?,
        rejected: numbers.next()?,
    })
}

#[test]
fn each_vendored_source_holds_the_domain_documents_its_readme_counts() {
    let mut total = 0;
    let mut beyond_virt_manager = 0;
    let mut dirs: Vec<PathBuf> = fs::read_dir(data())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        let want = stated(&readme)
            .unwrap_or_else(|| panic!("{}/README.md has no `Count:` line", dir.display()));
        let got = count(&dir);
        assert_eq!(got, want, "{}: files differ from README.md", dir.display());
        assert!(got.documents > 0, "{}: no documents", dir.display());
        total += got.documents;
        if !dir.ends_with("virt-manager") {
            beyond_virt_manager += got.documents;
        }
    }
    assert!(
        beyond_virt_manager >= 500,
        "only {beyond_virt_manager} real-world documents beyond virt-manager's ({total} in all)"
    );
}
