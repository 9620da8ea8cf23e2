//! Every tool's command-line cases as data: `tests/cmd/<tool>/<case>.toml` with its expected
//! stdout/stderr; re-bless with `TRYCMD=overwrite cargo test --test cmd`.

#[test]
fn cmd() {
    trycmd::TestCases::new().case("tests/cmd/*/*.toml");
}
