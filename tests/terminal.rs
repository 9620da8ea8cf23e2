//! Progress on a terminal, never on a pipe: dom-wait-shutdown's line drawn in place,
//! dom-send-keys' typed keys.
//! (`script` from util-linux gives the tool a pseudo-terminal.)

use std::process::Command;

const WAIT: &str = env!("CARGO_BIN_EXE_dom-wait-shutdown");

/// test:///default always has a running domain named `test`; waiting one second on it
/// times out, which is all the time the progress line needs to show.
const ARGS: &str = "-c test:///default --timeout 1 test";

#[test]
fn progress_is_drawn_in_place_on_a_terminal() {
    let out = Command::new("script")
        .args(["-qfec", &format!("{WAIT} {ARGS}"), "/dev/null"])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .output()
        .expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("\r\x1b[Kdom-wait-shutdown: test running (0s)"),
        "{screen:?}"
    );
    assert!(
        screen.contains("timed out after 1s: domain 'test' is still running"),
        "{screen:?}"
    );
    assert_eq!(out.status.code(), Some(8), "{screen:?}");
}

#[test]
fn no_progress_when_stderr_is_not_a_terminal() {
    let out = Command::new(WAIT)
        .args(ARGS.split(' '))
        .env_remove("LIBVIRT_DEFAULT_URI")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8));
    assert!(!stderr.contains("running ("), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
}

/// dom-send-keys shows each run of typed keys and each wait on a terminal, nothing on a
/// pipe (test:///default takes the keys).
#[test]
fn send_keys_shows_what_it_types_on_a_terminal_only() {
    const KEYS: &str = env!("CARGO_BIN_EXE_dom-send-keys");
    let out = Command::new("script")
        .args([
            "-qfec",
            &format!("{KEYS} -c test:///default test 'aB<wait10ms><enter>'"),
            "/dev/null",
        ])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .output()
        .expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(
        screen.contains(
            "dom-send-keys: test: typing aB\ndom-send-keys: test: waiting 10 ms\ndom-send-keys: test: typing <enter>\n"
        ),
        "{screen:?}"
    );
    let piped = Command::new(KEYS)
        .args(["-c", "test:///default", "test", "aB<wait10ms><enter>"])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(0));
    assert!(
        piped.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&piped.stderr)
    );
}
