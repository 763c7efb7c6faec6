//! Halyard image builder: build the hypervisor for a board and link it with
//! the domains' modules into one boot image (see `image-format`).
pub mod manifest;
pub mod workspace;
