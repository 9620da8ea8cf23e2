//! domkit: small Unix tools for libvirt guests whose install boot differs from every later boot.
//!
//! Each tool is a module with its clap `Args` and a `run(args, stdin, stdout)`; the
//! binaries under `tools/` only hand the process's streams to it.

pub mod cli;
pub mod error;
pub mod xml;
pub mod profile;
pub mod domain;
pub mod edit;
pub mod derive;
pub mod generate;
pub mod rewrite;

pub use error::{Error, Result};
pub mod define;
pub mod create;
pub mod wait;
