//! The `dom-wait-shutdown` binary: all of its logic is in `domkit::wait`.

fn main() {
    domkit::cli::main("dom-wait-shutdown", domkit::wait::run);
}
