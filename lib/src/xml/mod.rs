//! The XML layer: a byte-faithful document (elements with byte spans, patches by range),
//! what domkit knows about libvirt's `<domain>`, and the edits made on it.

pub mod document;
pub mod domain;
pub mod edit;

pub use document::*;
