//! The `domxml-rewrite` binary: all of its logic is in `domkit::rewrite`.

fn main() {
    domkit::cli::main("domxml-rewrite", domkit::rewrite::run);
}
