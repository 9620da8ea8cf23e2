//! virt-manager's corpus (tests/data/virt-manager) through domxml-rewrite's library: byte-faithful no-ops, exact
//! install/final round trips, swap-swap identity, and virt-install's install -> final.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use domkit::tools::rewrite::{self, Args};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/virt-manager")
        .join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", root.display());
    files
}

fn rewrite(text: &str, name: &str, flags: &[&str]) -> Result<String, domkit::Error> {
    let mut argv = vec!["domxml-rewrite"];
    argv.extend_from_slice(flags);
    let args = Args::try_parse_from(argv).expect("flags parse");
    rewrite::rewrite(name, text, &args)
}

#[test]
fn a_no_op_rewrite_keeps_every_byte() {
    for path in corpus("roundtrip") {
        let text = fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        assert_eq!(rewrite(&text, &name, &[]).unwrap(), text, "{name}");
    }
}

#[test]
fn to_install_then_to_final_gives_back_the_input() {
    let mut recorded = 0;
    for path in corpus("roundtrip") {
        let text = fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        let install = match rewrite(
            &text,
            &name,
            &[
                "--to",
                "install",
                "--cdrom",
                "/iso/install.iso",
                "--install-disk",
                "/iso/seed.iso",
            ],
        ) {
            Ok(install) => install,
            // A guest that cannot boot the media is refused in one line, never guessed at.
            Err(e) => {
                let msg = e.to_string();
                assert_eq!(
                    e.exit_code(),
                    domkit::error::exit::BAD_INPUT,
                    "{name}: {msg}"
                );
                assert!(!msg.contains('\n'), "{name}: {msg}");
                continue;
            }
        };
        assert_ne!(install, text, "{name}: --to install changed nothing");
        assert!(install.contains("/iso/install.iso"), "{name}");
        assert!(install.contains("<on_reboot>destroy</on_reboot>"), "{name}");
        let back = rewrite(&install, &name, &["--to", "final"]).unwrap();
        assert_eq!(
            back, text,
            "{name}: --to install | --to final is not the identity"
        );
        // Idempotent: --to install on the install config changes nothing.
        assert_eq!(
            rewrite(&install, &name, &["--to", "install"]).unwrap(),
            install,
            "{name}"
        );
        // --swap is its own inverse on a document with a recorded profile.
        let swapped = rewrite(&install, &name, &["--swap"]).unwrap();
        assert_ne!(swapped, install, "{name}");
        assert_eq!(
            rewrite(&swapped, &name, &["--swap"]).unwrap(),
            install,
            "{name}: swap twice"
        );
        recorded += 1;
    }
    assert!(
        recorded >= 100,
        "only {recorded} corpus documents took install media"
    );
}

#[test]
fn swap_without_a_recorded_profile_is_an_error_not_a_guess() {
    let path = &corpus("roundtrip")[0];
    let text = fs::read_to_string(path).unwrap();
    let err = rewrite(&text, "x.xml", &["--swap"]).unwrap_err();
    assert_eq!(err.exit_code(), domkit::error::exit::BAD_INPUT);
    assert!(
        err.to_string().contains("no recorded boot profile"),
        "{err}"
    );
}

/// virt-install runs whose final config holds what only the original run knew.
const NOT_DERIVABLE: &[(&str, &str)] = &[
    (
        "virt-install-kvm-fedoralatest-url",
        "the final config has a user kernel cmdline ('foo bar baz') that the install config does not carry",
    ),
    (
        "virt-install-reinstall-pxe",
        "a reinstall restores the pre-existing domain's own boot config (<boot dev='hd'/>, on_reboot restart), which the install config does not carry",
    ),
];

#[test]
fn to_final_derives_what_virt_install_defines() {
    let mut matched = 0;
    for path in corpus("two-phase")
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".install.xml"))
    {
        let case = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".install.xml")
            .to_string();
        let install = fs::read_to_string(&path).unwrap();
        let expected =
            fs::read_to_string(path.with_file_name(format!("{case}.final.xml"))).unwrap();
        let derived = rewrite(&install, &case, &["--to", "final"]).unwrap();
        match NOT_DERIVABLE.iter().find(|(name, _)| *name == case) {
            Some((_, why)) => assert_ne!(
                derived, expected,
                "{case} now derives exactly; drop it from NOT_DERIVABLE ({why})"
            ),
            None => {
                assert_eq!(derived, expected, "{case}");
                matched += 1;
            }
        }
        // Deriving is idempotent.
        assert_eq!(
            rewrite(&derived, &case, &["--to", "final"]).unwrap(),
            derived,
            "{case}: not idempotent"
        );
    }
    assert_eq!(matched, 11);
}

/// The same promises on encodings the corpus lacks: CRLF line ends, a BOM, tab indents.
#[test]
fn crlf_bom_and_tabs_survive_the_round_trip() {
    for path in corpus("roundtrip").iter().step_by(10) {
        let text = fs::read_to_string(path).unwrap();
        let variants = [
            text.replace('\n', "\r\n"),
            format!("\u{feff}{text}"),
            text.replace("  ", "\t"),
        ];
        for (i, variant) in variants.iter().enumerate() {
            let name = format!("{}#{i}", path.display());
            assert_eq!(&rewrite(variant, &name, &[]).unwrap(), variant, "{name}");
            let Ok(install) = rewrite(
                variant,
                &name,
                &["--to", "install", "--cdrom", "/iso/x.iso"],
            ) else {
                continue;
            };
            if i == 0 {
                let bare_newlines = install.matches('\n').count() - install.matches("\r\n").count();
                assert_eq!(
                    bare_newlines, 0,
                    "{name}: inserted lines must end in CRLF too"
                );
            }
            assert_eq!(
                &rewrite(&install, &name, &["--to", "final"]).unwrap(),
                variant,
                "{name}"
            );
            let swapped = rewrite(&install, &name, &["--swap"]).unwrap();
            assert_eq!(
                rewrite(&swapped, &name, &["--swap"]).unwrap(),
                install,
                "{name}"
            );
        }
    }
}
