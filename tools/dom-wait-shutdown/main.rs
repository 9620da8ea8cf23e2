//! The `dom-wait-shutdown` binary: all of its logic is in `domkit::tools::wait`.

fn main() {
    domkit::libvirt::cli::main_with_owned_stdin("dom-wait-shutdown", domkit::tools::wait::run);
}
