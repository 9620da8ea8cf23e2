//! One front-end per binary: each module has its clap `Args` and a
//! `run(args, stdin, stdout)`; `tools/<tool>/main.rs` only hands it the process's streams.

pub mod create;
pub mod define;
pub mod generate;
pub mod media;
pub mod rewrite;
pub mod sendkeys;
pub mod vol;
pub mod wait;
