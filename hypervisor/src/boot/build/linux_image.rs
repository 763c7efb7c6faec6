//! The Linux arm64 `Image` header, as the one shared definition in
//! `image-format` describes it (image-builder writes and checks the same).
pub use image_format::arm64_image::*;
