//! The `dom-vol` binary: all of its logic is in `domkit::tools::vol`.

fn main() {
    domkit::libvirt::cli::main("dom-vol", domkit::tools::vol::run);
}
