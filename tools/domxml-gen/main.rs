//! The `domxml-gen` binary: all of its logic is in `domkit::generate`.

fn main() {
    domkit::cli::main("domxml-gen", domkit::generate::run);
}
