//! Helpers shared by the integration tests (`mod common;`).

pub mod lab;
pub mod phases;
pub mod record;
pub mod respelled;
