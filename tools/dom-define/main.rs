//! The `dom-define` binary: all of its logic is in `domkit::tools::define`.

fn main() {
    domkit::libvirt::cli::main("dom-define", domkit::tools::define::run);
}
