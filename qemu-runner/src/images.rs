//! The one place the runner asks `image-builder` for a boot image.
//!
//! Both `run` and `test` boot images built from manifests; keeping the call
//! to the builder behind one function keeps the rest of the runner
//! independent of the builder's API.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use image_builder::manifest::{load_image, BoardManifest};
use image_builder::workspace::Workspace;

/// Build the boot image for `board` from an image manifest (the board's
/// default image if `None`) into `out_dir` (the builder's default if `None`).
/// Returns the path of the boot image.
pub fn build_image(
    ws: &Workspace,
    board: &str,
    manifest: Option<&Path>,
    out_dir: Option<&Path>,
) -> Result<PathBuf> {
    let opts = image_builder::build::BuildOptions {
        workspace: ws.clone(),
        board: board.to_string(),
        image: manifest.map(Path::to_path_buf),
        out_dir: out_dir.map(Path::to_path_buf),
        target_dir: None,
        // The split layout too, for cases that boot it through a loader.
        layout: image_builder::build::Layout::Split,
    };
    let out = image_builder::build::build(&opts).with_context(|| {
        format!(
            "building the image {} for board {board}",
            manifest.map_or("(board default)".into(), |m| m.display().to_string())
        )
    })?;
    Ok(out.image)
}

/// The name of the image a manifest describes (its `image` field), checking
/// on the way that the manifest is valid for `board`.
pub fn image_name(manifest: &Path, board: &BoardManifest) -> Result<String> {
    Ok(load_image(manifest, board)?.image)
}
