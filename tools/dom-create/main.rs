//! The `dom-create` binary: all of its logic is in `domkit::tools::create`.

fn main() {
    domkit::cli::main("dom-create", domkit::tools::create::run);
}
