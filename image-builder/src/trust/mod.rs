//! Release and trust: signing keys and the module table's signature, UEFI
//! Secure Boot, offline verification, the build record, the release (SBOM,
//! archive) and the reproducibility check.
pub mod crates;
pub(crate) mod diffoscope;
pub(crate) mod digest;
pub(crate) mod record;
pub mod release;
pub mod repro;
pub mod sbom;
pub mod secureboot;
pub(crate) mod shuffle;
pub mod signing;
pub mod verify;
