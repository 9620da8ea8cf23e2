//! The two boot phases of a guest: the recorded boot profile and its byte-exact swap, the
//! install phase made from a final config, and the final config derived from an install
//! config the way virt-install writes it.

pub mod derive;
pub mod install;
pub mod profile;

pub use profile::Phase;
