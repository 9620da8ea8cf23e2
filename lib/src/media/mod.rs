//! Install media: reading install ISOs (volume identity, kernel and initrd for
//! direct-kernel installs) and writing cloud-init NoCloud seeds. Pure Rust, no mounts, no
//! external programs; an ISO is treated as hostile input throughout.

pub mod iso9660;
pub mod isowrite;
pub mod layout;
pub mod seed;
