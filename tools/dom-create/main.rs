//! The `dom-create` binary: all of its logic is in `domkit::create`.

fn main() {
    domkit::cli::main("dom-create", domkit::create::run);
}
