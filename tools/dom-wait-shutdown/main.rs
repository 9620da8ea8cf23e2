//! The `dom-wait-shutdown` binary: all of its logic is in `domkit::tools::wait`.

fn main() {
    domkit::libvirt::cli::main("dom-wait-shutdown", domkit::tools::wait::run);
}
