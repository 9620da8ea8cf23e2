//! domkit: small Unix tools for libvirt guests whose install boot differs from every later boot.
//!
//! Each tool is a module with its clap `Args` and a `run(args, stdin, stdout)`; the
//! binaries under `tools/` only hand the process's streams to it.

pub mod cli;
pub mod derive;
pub mod domain;
pub mod edit;
pub mod error;
pub mod generate;
pub mod install;
pub mod profile;
pub mod rewrite;
pub mod xml;

pub use error::{Error, Result};
pub mod create;
pub mod define;
pub mod libvirt;
pub mod wait;
