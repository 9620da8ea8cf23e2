//! Man pages: generated from each tool's clap definition plus hand-written EXAMPLES, EXIT
//! STATUS and SEE ALSO; committed under man/. This test fails when they drift; rebuild
//! them with `make man` (DOMKIT_BLESS=1).

use std::fs;
use std::path::Path;

use clap::CommandFactory;
use domkit::error::exit;

struct Page {
    name: &'static str,
    command: clap::Command,
    examples: &'static str,
}

fn pages() -> Vec<Page> {
    fn page<A: CommandFactory>(name: &'static str, examples: &'static str) -> Page {
        Page {
            name,
            command: domkit::cli::command::<A>(name),
            examples,
        }
    }
    vec![
        page::<domkit::tools::generate::Args>("domxml-gen", domkit::tools::generate::EXAMPLES),
        page::<domkit::tools::rewrite::Args>("domxml-rewrite", domkit::tools::rewrite::EXAMPLES),
        page::<domkit::tools::define::Args>("dom-define", domkit::tools::define::EXAMPLES),
        page::<domkit::tools::create::Args>("dom-create", domkit::tools::create::EXAMPLES),
        page::<domkit::tools::wait::Args>("dom-wait-shutdown", domkit::tools::wait::EXAMPLES),
        page::<domkit::tools::media::Args>("dom-media", domkit::tools::media::EXAMPLES),
        page::<domkit::tools::sendkeys::Args>("dom-send-keys", domkit::tools::sendkeys::EXAMPLES),
        page::<domkit::tools::vol::Args>("dom-vol", domkit::tools::vol::EXAMPLES),
    ]
}

/// Escapes text for a roff line: backslashes, and a leading dot or quote.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// One section per subcommand (dom-media's inspect, extract, inject, image, seed; dom-vol's): its synopsis, what it
/// does, and its options.
fn render_subcommands(page: &Page) -> String {
    let mut text = String::new();
    for sub in page.command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let full = format!("{} {}", page.name, sub.get_name());
        let sub = sub.clone().bin_name(full.clone());
        let man = clap_mangen::Man::new(sub);
        let mut out = Vec::new();
        man.render_synopsis_section(&mut out).unwrap();
        man.render_description_section(&mut out).unwrap();
        man.render_options_section(&mut out).unwrap();
        let body = String::from_utf8(out).unwrap();
        let body = body
            .replace(
                ".SH SYNOPSIS\n",
                &format!(".SH \"{}\"\n", roff(&full.to_uppercase())),
            )
            .replace(".SH DESCRIPTION\n", ".PP\n")
            .replace(".SH OPTIONS\n", ".SS Options\n");
        text.push_str(&body);
    }
    text
}

fn render(page: &Page) -> String {
    // Without help/after_help: EXAMPLES and EXIT STATUS get sections of their own below.
    let command = page.command.clone().after_help("").after_long_help("");
    let man = clap_mangen::Man::new(command)
        .source(format!("domkit {}", env!("CARGO_PKG_VERSION")))
        .manual("domkit");
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    let mut text = String::from_utf8(out).unwrap();
    text.push_str(&render_subcommands(page));

    text.push_str(".SH EXAMPLES\n");
    for line in page.examples.lines().skip(1) {
        text.push_str(&format!(".PP\n.nf\n{}\n.fi\n", roff(line.trim())));
    }
    text.push_str(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in exit::TABLE {
        text.push_str(&format!(".TP\n.B {code}\n{}\n", roff(meaning)));
    }
    text.push_str(".SH \"SEE ALSO\"\n");
    let others: Vec<String> = pages()
        .iter()
        .filter(|p| p.name != page.name)
        .map(|p| format!(".BR {} (1),", p.name))
        .chain(
            // The domain records the libvirt tools print and read (dom-media prints none,
            // dom-vol volume records, described in its own page).
            (page.name.starts_with("dom-") && !["dom-media", "dom-vol"].contains(&page.name))
                .then(|| ".BR domkit\\-record (5),".to_string()),
        )
        .chain([
            ".BR domkit (7),".to_string(),
            ".BR virsh (1),".to_string(),
            ".BR virt\\-install (1)".to_string(),
        ])
        .collect();
    text.push_str(&others.join("\n"));
    text.push('\n');
    text
}

#[test]
fn man_pages_match_the_clap_definitions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let bless = std::env::var_os("DOMKIT_BLESS").is_some();
    let mut stale = Vec::new();
    for page in pages() {
        let path = dir.join(format!("{}.1", page.name));
        let want = render(&page);
        if bless {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&path, &want).unwrap();
        } else if fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date (run `make man`): {stale:?}"
    );
}

#[test]
fn every_tool_help_is_consistent() {
    for page in pages() {
        page.command.clone().debug_assert();
        let help = page.command.clone().render_long_help().to_string();
        assert!(
            help.contains("Exit status:"),
            "{}: no exit status table in --help",
            page.name
        );
        assert!(
            help.contains("Examples:"),
            "{}: no examples in --help",
            page.name
        );
    }
}
