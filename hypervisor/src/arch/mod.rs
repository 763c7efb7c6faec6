//! Architecture layer. Only the target's own arch module is compiled.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod aarch64;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use aarch64::boot::primary_main;
