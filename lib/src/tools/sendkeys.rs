//! `dom-send-keys`: types a key sequence into running guests (virDomainSendKey), for
//! install media that only boot through their own menu (ISOLINUX's `boot:` prompt, GRUB's
//! menu, Windows' "press any key to boot from CD"). Named after virsh's `send-key`.

use std::io::{Read, Write};

use crate::cli;
use crate::error::{Error, Result};
use crate::libvirt::connect::{Conn, Conns, DomainArgs};
use crate::libvirt::keys::{self, Step};
use crate::libvirt::record::{self, Record, Target};

/// Examples shown by `--help` and in the man page.
pub const EXAMPLES: &str = "Examples:\n  dom-send-keys vm1 '<wait5><tab> auto=true priority=critical<enter>'\n  domxml-rewrite --to install vm1.xml | dom-create | dom-send-keys '<esc><wait>install auto=true<enter>' | dom-wait-shutdown";

/// libvirt's `VIR_KEYCODE_SET_LINUX`: the keycodes are Linux input event codes.
const KEYCODE_SET_LINUX: u32 = 0;

/// How long each key is held, in milliseconds (QEMU's own default is 100).
const HOLD_MS: u32 = 50;

/// Type a key sequence into running guests.
///
/// SEQUENCE uses packer's boot_command words: text is typed as it reads (US keyboard
/// layout), <enter> <return> <tab> <esc> <bs> <del> <spacebar> <insert> <home> <end>
/// <pageUp> <pageDown> <up> <down> <left> <right> <f1>..<f12> press one key, <lt> and <gt>
/// type < and >, and <wait> (a second), <waitN> (N seconds), <waitNms>, <waitNs>, <waitNm>
/// pause. Every < starts a name: an unknown one refuses the whole sequence (exit 3) before
/// anything is typed. Without DOMAIN it reads JSON records (dom-create's) from stdin and
/// prints each again once its keys are typed, so it sits between dom-create and
/// dom-wait-shutdown; a record whose action is "already-installed" passes untouched. On a
/// terminal, stderr shows what is typed and each wait.
#[derive(Debug, clap::Parser)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The domain (name or UUID) to type into; none reads records from stdin.
    #[arg(value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// The key sequence.
    #[arg(value_name = "SEQUENCE", allow_hyphen_values = true)]
    pub sequence: Option<String>,
    /// Connection options.
    #[command(flatten)]
    pub conn: DomainArgs,
}

/// Types the sequence and prints each domain's record.
///
/// # Errors
/// A sequence with an unknown name (3), bad records (3), no such domain (5), a domain that
/// is not running or any other libvirt error.
pub fn run(args: Args, stdin: &mut dyn Read, stdout: &mut dyn Write) -> Result<()> {
    // One argument is the sequence and records come from stdin; two are DOMAIN SEQUENCE.
    let (domain, sequence) = match (args.domain, args.sequence) {
        (Some(d), Some(s)) => (Some(d), s),
        (Some(s), None) => (None, s),
        _ => {
            return Err(Error::Usage(
                "give the key SEQUENCE (and a DOMAIN, or records on stdin)".into(),
            ));
        }
    };
    let steps = keys::parse(&sequence).map_err(|why| Error::input("SEQUENCE", why))?;
    let mut conns = Conns::new(args.conn.connect.clone(), false);
    let progress = cli::stderr_is_terminal();
    let mut send = |target: &Target| -> Result<()> {
        let conn = conns.get(target.uri.as_deref())?;
        let dom = conn.lookup(&target.key)?;
        let action = target.action.as_deref().unwrap_or("keys-sent");
        if action != "already-installed" {
            type_into(conn, &dom, target.label(), &steps, progress)?;
        }
        cli::write_out(stdout, &Record::of(conn, &dom, action)?.to_line())?;
        stdout.flush().map_err(|e| Error::io("<stdout>", e))
    };
    match domain {
        Some(d) => send(&Target::arg(&d)),
        // Records stream: each guest gets its keys as its line arrives (dom-create prints
        // a record once that guest has started), not once the producer has ended.
        None => {
            let mut records =
                record::Records::new(std::io::BufReader::new(stdin), args.conn.connect.is_some());
            while let Some(target) = records.next_target()? {
                send(&target)?;
            }
            Ok(())
        }
    }
}

/// Types `steps` into `dom`, one key (or chord) at a time; on a terminal each run of keys
/// is shown as one line before it is typed, and each wait.
fn type_into(
    conn: &Conn,
    dom: &virt::domain::Domain,
    label: &str,
    steps: &[Step],
    progress: bool,
) -> Result<()> {
    let is_keys = |s: &Step| matches!(s, Step::Keys { .. });
    for run in steps.chunk_by(|a, b| is_keys(a) && is_keys(b)) {
        if progress && is_keys(&run[0]) {
            let text: String = run
                .iter()
                .filter_map(|s| match s {
                    Step::Keys { shown, .. } => Some(shown.as_str()),
                    Step::Wait(_) => None,
                })
                .collect();
            cli::write_err(&format!("dom-send-keys: {label}: typing {text}\n"));
        }
        for step in run {
            match step {
                Step::Wait(wait) => {
                    if progress {
                        cli::write_err(&format!(
                            "dom-send-keys: {label}: waiting {} ms\n",
                            wait.as_millis()
                        ));
                    }
                    std::thread::sleep(*wait);
                }
                Step::Keys { codes, .. } => {
                    let mut codes = codes.clone();
                    dom.send_key(
                        KEYCODE_SET_LINUX,
                        HOLD_MS,
                        codes.as_mut_ptr(),
                        codes.len() as i32,
                        0,
                    )
                    .map_err(|e| conn.error(&e, Some(label)))?;
                }
            }
        }
    }
    Ok(())
}
