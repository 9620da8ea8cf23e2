//! The `domxml-rewrite` binary: all of its logic is in `domkit::tools::rewrite`.

fn main() {
    domkit::cli::main("domxml-rewrite", domkit::tools::rewrite::run);
}
