//! Shell completions for bash, zsh and fish: generated from each tool's clap definition
//! (clap_complete) plus, for dom-create and dom-wait-shutdown, domain names from the
//! connection; committed under completions/. This test fails when they drift (rebuild them
//! with `make completions`, DOMKIT_BLESS=1), and runs them in real shells: bash drives the
//! completion function as readline would, fish asks `complete -C`, zsh loads the file.
//!
//! Domain names come from the tool itself (its hidden `--complete-domains`), on the URI of
//! `-c`/`--connect` typed so far, else LIBVIRT_DEFAULT_URI, as virsh's bash completion asks
//! `virsh complete`. Chosen over clap_complete's dynamic completion, which is still behind
//! its `unstable-dynamic` feature and would run the tool for every completion, not only
//! domain names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::CommandFactory;
use clap_complete::Shell;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a tool's positional arguments complete to, beyond clap's options and files.
#[derive(Clone, Copy, PartialEq)]
enum Positional {
    /// FILE: files only (clap's default).
    Files,
    /// FILE|NAME|UUID: files and domain names.
    FilesAndDomains,
    /// NAME|UUID: domain names.
    Domains,
}

struct Tool {
    name: &'static str,
    command: clap::Command,
    positional: Positional,
}

fn tools() -> Vec<Tool> {
    fn tool<A: CommandFactory>(name: &'static str, positional: Positional) -> Tool {
        Tool {
            name,
            command: domkit::cli::command::<A>(name),
            positional,
        }
    }
    use Positional::*;
    use domkit::tools::{create, define, generate, media, rewrite, sendkeys, vol, wait};
    vec![
        tool::<generate::Args>("domxml-gen", Files),
        tool::<rewrite::Args>("domxml-rewrite", Files),
        tool::<define::Args>("dom-define", Files),
        tool::<create::Args>("dom-create", FilesAndDomains),
        tool::<wait::Args>("dom-wait-shutdown", Domains),
        tool::<media::Args>("dom-media", Files),
        // DOMAIN SEQUENCE: two positionals, which the domain completion does not take yet.
        tool::<sendkeys::Args>("dom-send-keys", Files),
        tool::<vol::Args>("dom-vol", Files),
    ]
}

/// Where each shell's file goes, as installed: bash-completion's completions/<tool>, zsh's
/// vendor-completions/_<tool>, fish's vendor_completions.d/<tool>.fish.
fn path(shell: Shell, tool: &str) -> PathBuf {
    let file = match shell {
        Shell::Bash => format!("bash/{tool}"),
        Shell::Zsh => format!("zsh/_{tool}"),
        Shell::Fish => format!("fish/{tool}.fish"),
        other => unreachable!("{other}"),
    };
    repo().join("completions").join(file)
}

const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The comment every domain-name helper starts with.
const WHY: &str = "\
# domkit: domain names from the connection, as virsh's completer does. The tool itself
# answers (its hidden --complete-domains flag) for the URI of -c/--connect typed so far,
# else LIBVIRT_DEFAULT_URI. LIBVIRT_AUTOSTART=0 keeps libvirt from starting a session
# daemon; when no daemon answers there are no names and no messages.
";

/// bash: a wrapper around clap's function that adds the names where a positional
/// argument goes (not after an option that takes a value, not for an option word).
fn bash(tool: &Tool, generated: &str) -> String {
    if tool.positional == Positional::Files {
        return generated.to_string();
    }
    let clap_fn = format!("_{}", tool.name.replace('-', "__"));
    let ours = format!("{clap_fn}_domkit");
    let takes_value: Vec<String> = tool
        .command
        .get_arguments()
        .filter(|a| !a.is_positional() && a.get_action().takes_values())
        .flat_map(|a| {
            let short = a.get_short().map(|s| format!("-{s}"));
            let long = a.get_long().map(|l| format!("--{l}"));
            short.into_iter().chain(long)
        })
        .collect();
    let helper = format!(
        r#"{WHY}_domkit_domains() {{
    local uri= i line=${{COMP_LINE-}}
    local -a words
    if [[ -n $line ]]; then line=${{line:0:COMP_POINT}}; else line="${{COMP_WORDS[*]}}"; fi
    # Split on blanks only: bash splits "qemu:///system" at its colon in COMP_WORDS.
    IFS=$' \t' read -ra words <<<"$line"
    for ((i = 1; i < ${{#words[@]}}; i++)); do
        case ${{words[i]}} in
            -c | --connect) uri=${{words[i + 1]-}} ;;
            --connect=*) uri=${{words[i]#--connect=}} ;;
            -c?*) uri=${{words[i]#-c}} ;;
        esac
    done
    local -a connect=()
    [[ -n $uri ]] && connect=(--connect "$uri")
    LIBVIRT_AUTOSTART=0 "$1" --complete-domains "${{connect[@]}}" 2>/dev/null
}}

{ours}() {{
    {clap_fn} "$@"
    case $3 in
        {values}) return 0 ;;
    esac
    [[ $2 == -* ]] && return 0
    local IFS=$'\n'
    COMPREPLY+=($(compgen -W "$(_domkit_domains "$1")" -- "$2"))
}}

"#,
        values = takes_value.join(" | "),
    );
    let register = format!("complete -F {clap_fn} ");
    assert!(
        generated.contains(&register),
        "clap_complete's bash output changed: no `{register}`"
    );
    let at = generated
        .find("if [[ \"${BASH_VERSINFO[0]}\" -eq 4")
        .expect("clap_complete's bash output changed: no version check before `complete`");
    let (head, tail) = generated.split_at(at);
    format!(
        "{head}{helper}{}",
        tail.replace(&register, &format!("complete -F {ours} "))
    )
}

/// zsh: the positional argument's action becomes the domain names (with files for
/// dom-create).
fn zsh(tool: &Tool, generated: &str) -> String {
    let action = match tool.positional {
        Positional::Files => return generated.to_string(),
        Positional::FilesAndDomains => format!("_{}_targets", tool.name),
        Positional::Domains => "_domkit_domains".to_string(),
    };
    let helper = format!(
        r#"{WHY}_domkit_domains() {{
    local -a line names expl
    local tool=$service uri i
    line=( ${{(z)LBUFFER}} )
    [[ ${{${{(Q)line[1]}}:t}} == $service ]] && tool=${{(Q)line[1]}}
    for (( i = 2; i <= $#line; i++ )); do
        case ${{line[i]}} in
            (-c|--connect) uri=${{(Q)line[i+1]}} ;;
            (--connect=*) uri=${{(Q)line[i]#--connect=}} ;;
        esac
    done
    names=( ${{(f)"$(LIBVIRT_AUTOSTART=0 $tool --complete-domains ${{uri:+--connect}} ${{uri:+$uri}} 2>/dev/null)"}} )
    _wanted domains expl domain compadd -a names
}}
{both}
"#,
        both = if tool.positional == Positional::FilesAndDomains {
            format!(
                "\n_{}_targets() {{\n    _alternative 'files:file:_files' 'domains:domain:_domkit_domains'\n}}\n",
                tool.name
            )
        } else {
            String::new()
        }
    );
    let positional = generated
        .lines()
        .find(|l| l.starts_with("'*::targets -- ") && l.ends_with(":_default' \\"))
        .expect("clap_complete's zsh output changed: no `'*::targets -- ...:_default'` line");
    let ours = positional.replace(":_default' \\", &format!(":{action}' \\"));
    let at = generated
        .find("if [ \"$funcstack[1]\" = ")
        .expect("clap_complete's zsh output changed: no funcstack check");
    let (head, tail) = generated.split_at(at);
    format!("{}{helper}\n{tail}", head.replace(positional, &ours))
}

/// fish: one more completion for the positional arguments (dom-wait-shutdown: no files).
fn fish(tool: &Tool, generated: &str) -> String {
    if tool.positional == Positional::Files {
        return generated.to_string();
    }
    let no_files = if tool.positional == Positional::Domains {
        " -f"
    } else {
        ""
    };
    format!(
        r#"{generated}
{WHY}function __domkit_domains --argument-names tool
    set -l tokens (commandline -opc)
    set -l uri
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case -c --connect
                set uri $tokens[(math $i + 1)]
            case '--connect=*'
                set uri (string replace -- --connect= '' $tokens[$i])
        end
    end
    if test (string replace -r -- '.*/' '' $tokens[1]) = $tool
        set tool $tokens[1]
    end
    if test -n "$uri"
        LIBVIRT_AUTOSTART=0 $tool --complete-domains --connect $uri 2>/dev/null
    else
        LIBVIRT_AUTOSTART=0 $tool --complete-domains 2>/dev/null
    end
end
complete -c {name}{no_files} -a '(__domkit_domains {name})' -d domain
"#,
        name = tool.name,
    )
}

fn render(shell: Shell, tool: &Tool) -> String {
    let mut command = tool.command.clone();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, tool.name, &mut out);
    let generated = String::from_utf8(out).unwrap();
    match shell {
        Shell::Bash => bash(tool, &generated),
        Shell::Zsh => zsh(tool, &generated),
        Shell::Fish => fish(tool, &generated),
        other => unreachable!("{other}"),
    }
}

#[test]
fn every_tool_of_cargo_toml_has_completions() {
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let bins: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|bin| bin.lines().find_map(|l| l.strip_prefix("name = ")))
        .map(|name| name.trim_matches('"'))
        .collect();
    let ours: Vec<&str> = tools().iter().map(|t| t.name).collect();
    assert_eq!(
        ours, bins,
        "tests/completions.rs tools() must list every [[bin]]"
    );
}

#[test]
fn completions_match_the_clap_definitions() {
    let bless = std::env::var_os("DOMKIT_BLESS").is_some();
    let mut stale = Vec::new();
    for tool in tools() {
        for shell in SHELLS {
            let path = path(shell, tool.name);
            let want = render(shell, &tool);
            if bless {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, &want).unwrap();
            } else if fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "completions out of date (run `make completions`): {stale:?}"
    );
}

/// The folder of the built tools: the only thing on PATH while a completion runs, so a
/// completion that ran anything but the tool (and shell builtins) would find nothing.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_dom-create"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `script` in `shell` with only the tools on PATH; returns stdout, asserting that it
/// succeeded and printed nothing on stderr.
fn run_shell(shell: &str, args: &[&str], script: &str, default_uri: Option<&str>) -> String {
    let program = ["/bin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(shell))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{shell} is not installed: run `make deps`"));
    let mut command = Command::new(program);
    command
        .args(args)
        .arg(script)
        .env_clear()
        .env("PATH", bin_dir())
        .env("HOME", std::env::temp_dir())
        .current_dir(repo())
        .stdin(Stdio::null());
    if let Some(uri) = default_uri {
        command.env("LIBVIRT_DEFAULT_URI", uri);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.success() && stderr.is_empty(),
        "{shell} {args:?}: {:?}\nstdout: {stdout}\nstderr: {stderr}\nscript:\n{script}",
        out.status
    );
    stdout
}

/// Unreachable at once: a socket that does not exist.
const NOWHERE: &str = "qemu+unix:///session?socket=/nonexistent/libvirt-sock";

/// The bash completion of `line` (the cursor at its end) for `tool`: sources the file,
/// finds the function `complete -p` registered, and calls it as readline would, with
/// COMP_WORDS split as bash splits them (at `:` too).
fn bash_complete(tool: &str, line: &str, default_uri: Option<&str>) -> Vec<String> {
    let file = path(Shell::Bash, tool);
    // readline's split: blanks, and COMP_WORDBREAKS' `:` and `=` as words of their own.
    let mut words: Vec<String> = Vec::new();
    for blank in line.split(' ') {
        let mut word = String::new();
        for c in blank.chars() {
            if c == ':' || c == '=' {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                words.push(c.to_string());
            } else {
                word.push(c);
            }
        }
        words.push(word);
    }
    words.retain(|w| !w.is_empty());
    if line.ends_with(' ') || line.ends_with(':') || line.ends_with('=') {
        words.push(String::new());
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { &words[cword - 1] } else { "" };
    let script = format!(
        r#"source '{file}'
spec=$(complete -p {tool})
[[ $spec =~ -F\ ([^ ]+) ]] || {{ echo "no -F in: $spec" >&2; exit 1; }}
COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=({words}); COMP_CWORD={cword}
COMPREPLY=()
"${{BASH_REMATCH[1]}}" {tool} '{cur}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        file = file.display(),
        words = quoted.join(" "),
        cur = words[cword],
    );
    run_shell(
        "bash",
        &["--norc", "--noprofile", "-c"],
        &script,
        default_uri,
    )
    .lines()
    .filter(|l| !l.is_empty())
    .map(str::to_string)
    .collect()
}

#[test]
fn bash_completes_domain_names_from_the_connection_on_the_command_line() {
    let has_test = |got: &Vec<String>| got.iter().any(|w| w == "test");
    // A fresh process on test:///default has the stock domain "test".
    for tool in ["dom-create", "dom-wait-shutdown"] {
        for line in [
            format!("{tool} -c test:///default "),
            format!("{tool} -c test:///default te"),
            format!("{tool} --connect test:///default "),
            format!("{tool} --connect=test:///default "),
            format!("{tool} -c test:///default vm1 "),
        ] {
            let got = bash_complete(tool, line.as_str(), None);
            assert!(has_test(&got), "{line:?}: {got:?}");
        }
        // LIBVIRT_DEFAULT_URI without -c; -c wins over it.
        let got = bash_complete(tool, &format!("{tool} "), Some("test:///default"));
        assert!(has_test(&got), "LIBVIRT_DEFAULT_URI: {got:?}");
        let got = bash_complete(
            tool,
            &format!("{tool} -c {NOWHERE} "),
            Some("test:///default"),
        );
        assert!(!has_test(&got), "-c must win: {got:?}");
        // Not where a name cannot go: an option word, an option's value, no match.
        let got = bash_complete(tool, &format!("{tool} -c test:///default --"), None);
        assert!(
            !has_test(&got) && got.contains(&"--help".to_string()),
            "{got:?}"
        );
        let got = bash_complete(tool, &format!("{tool} -c "), Some("test:///default"));
        assert!(!has_test(&got), "value of -c: {got:?}");
        let got = bash_complete(tool, &format!("{tool} -c test:///default zz"), None);
        assert!(got.is_empty(), "{got:?}");
    }
    // Unreachable daemon: no names (only clap's options for an empty word), and
    // (run_shell checks) nothing on stderr.
    let only_options = |got: Vec<String>| got.iter().all(|w| w.starts_with('-'));
    let got = bash_complete("dom-create", &format!("dom-create -c {NOWHERE} "), None);
    assert!(only_options(got));
    let got = bash_complete("dom-wait-shutdown", "dom-wait-shutdown ", Some(NOWHERE));
    assert!(only_options(got));
    let got = bash_complete("dom-wait-shutdown", "dom-wait-shutdown t", Some(NOWHERE));
    assert!(got.is_empty(), "{got:?}");
    // dom-define takes a FILE: no domain names; the XML tools have their options.
    let got = bash_complete("dom-define", "dom-define -c test:///default ", None);
    assert!(!has_test(&got), "{got:?}");
    let got = bash_complete("domxml-rewrite", "domxml-rewrite --sw", None);
    assert_eq!(got, ["--swap"]);
}

#[test]
fn the_hidden_flag_lists_names_quietly_and_only_for_libvirt_tools() {
    let run = |tool: &str, args: &[&str]| {
        let out = Command::new(bin_dir().join(tool))
            .args(args)
            .env("LIBVIRT_AUTOSTART", "0")
            .env_remove("LIBVIRT_DEFAULT_URI")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let args = ["--complete-domains", "-c", "test:///default"];
    assert_eq!(
        run("dom-create", &args),
        (Some(0), "test\n".into(), "".into())
    );
    let quiet = run("dom-wait-shutdown", &["--complete-domains", "-c", NOWHERE]);
    assert_eq!(quiet, (Some(0), "".into(), "".into()));
    // Not a flag of the XML tools, and not in anyone's --help.
    assert_eq!(run("domxml-gen", &args).0, Some(2));
    assert!(
        !run("dom-create", &["--help"])
            .1
            .contains("complete-domains")
    );
}

#[test]
fn fish_completes_domain_names_and_loads_every_file() {
    let mut script = String::new();
    for tool in tools() {
        script.push_str(&format!(
            "source '{}'\n",
            path(Shell::Fish, tool.name).display()
        ));
    }
    script.push_str(
        "complete -C 'dom-wait-shutdown -c test:///default '\n\
         echo ==\n\
         complete -C 'dom-create --connect test:///default t'\n\
         echo ==\n\
         complete -C 'domxml-rewrite --sw'\n",
    );
    let out = run_shell("fish", &["--no-config", "-c"], &script, None);
    let parts: Vec<Vec<&str>> = out
        .split("==\n")
        .map(|p| p.lines().map(|l| l.split('\t').next().unwrap()).collect())
        .collect();
    assert_eq!(parts[0], ["test"], "{out}");
    assert!(parts[1].contains(&"test"), "{out}");
    assert_eq!(parts[2], ["--swap"], "{out}");
}

#[test]
fn zsh_loads_every_file_and_registers_each_tool() {
    for tool in tools() {
        let file = path(Shell::Zsh, tool.name);
        run_shell("zsh", &["-n"], &file.display().to_string(), None);
    }
    let mut script = String::from("autoload -U compinit && compinit -u -D\n");
    for tool in tools() {
        script.push_str(&format!(
            "source '{}'\n",
            path(Shell::Zsh, tool.name).display()
        ));
    }
    let names: Vec<&str> = tools().iter().map(|t| t.name).collect();
    script.push_str(&format!(
        "for t in {}; do print -r -- \"$t=$_comps[$t]\"; done\n",
        names.join(" ")
    ));
    let out = run_shell("zsh", &["-f", "-c"], &script, None);
    for tool in tools() {
        assert!(
            out.contains(&format!("{}=_{}\n", tool.name, tool.name)),
            "{out}"
        );
    }
}
