//! stub
/// stub
pub fn run(_a: Args, _i: &mut dyn std::io::Read, _o: &mut dyn std::io::Write) -> crate::Result<()> {
    Ok(())
}
/// stub
#[derive(clap::Parser)]
pub struct Args {}
