//! The XML layer: a byte-faithful document (elements with byte spans, patches by range),
//! the lexical rules of XML it enforces, what domkit knows about libvirt's `<domain>`, and
//! the edits made on it.

pub mod disk;
pub mod document;
pub mod domain;
pub mod edit;
pub mod fragment;
pub mod lexical;
pub mod patch;

pub use document::*;
pub use fragment::{Fragment, escape};
pub use patch::{Patch, apply};
