//! The `dom-send-keys` binary: all of its logic is in `domkit::tools::sendkeys`.

fn main() {
    domkit::libvirt::cli::main("dom-send-keys", domkit::tools::sendkeys::run);
}
