//! The `dom-define` binary: all of its logic is in `domkit::define`.

fn main() {
    domkit::cli::main("dom-define", domkit::define::run);
}
