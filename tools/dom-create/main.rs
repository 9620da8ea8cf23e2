//! The `dom-create` binary: all of its logic is in `domkit::tools::create`.

fn main() {
    domkit::libvirt::cli::main("dom-create", domkit::tools::create::run);
}
