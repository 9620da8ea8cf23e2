//! domkit: small Unix tools for libvirt guests whose install boot differs from every later boot.
//!
//! Layers, bottom up: [`xml`] (byte-faithful documents, the domain model, edits),
//! [`phase`] (boot profile, install and final phases), [`libvirt`] (connections, events,
//! records), [`storage`] (pools, volumes, sparse uploads), [`media`] (install ISOs and cloud-init seeds), [`osinfo`] (the read-only OS
//! database), and [`tools`] (one front-end per binary). [`cli`], [`error`] and
//! [`complete`] (the hidden shell-completion mode) are shared.

pub mod cli;
pub mod complete;
pub mod error;
pub mod libvirt;
pub mod media;
pub mod osinfo;
pub mod phase;
pub mod storage;
pub mod tools;
pub mod xml;

pub use error::{Error, Result};
