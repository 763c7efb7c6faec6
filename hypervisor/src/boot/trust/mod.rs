//! Whether the image may run: the trusted key, the module table's signature
//! and every module's digests (BLAKE3 pieces, SHA-256), and Xen's rules for
//! which modules a domain may have.
pub mod blake3;
mod key;
pub mod module_rules;
pub mod modules;

pub use key::*;
