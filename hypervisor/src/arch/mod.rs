//! Architecture layer. Only the target's own arch module is compiled, plus
//! its pure decoding helpers on the host for unit tests.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod aarch64;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use aarch64::boot::primary_main;

#[cfg(test)]
#[path = "aarch64/esr.rs"]
mod aarch64_esr;
