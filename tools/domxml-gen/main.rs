//! The `domxml-gen` binary: all of its logic is in `domkit::tools::generate`.

fn main() {
    domkit::libvirt::cli::main("domxml-gen", domkit::tools::generate::run);
}
