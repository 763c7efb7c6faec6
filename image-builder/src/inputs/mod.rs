//! What a build is made from: the board and image manifests, the domains'
//! plan and devices, where each module's bytes come from and what they must
//! be, and the board DTB's listed edits.
pub mod board_manifest;
pub mod devices;
pub mod dtb_edit;
pub mod kernel;
pub mod manifest;
pub(crate) mod modules;
pub mod plan;
pub(crate) mod sniff;
pub mod workspace;
