//! The `dom-media` binary: all of its logic is in `domkit::tools::media`.

fn main() {
    domkit::cli::main("dom-media", domkit::tools::media::run);
}
