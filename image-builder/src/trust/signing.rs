//! Signing keys: generating a key pair, loading the key a build signs
//! with, and signing a module table.
//!
//! Files (text, one value per file):
//! - `halyard-signing.key`: the header line [`KEY_HEADER`], then the 32-byte
//!   Ed25519 seed as 64 hex digits. Secret: written with mode 0600.
//! - `halyard-signing.pub`: the 32-byte Ed25519 public key as 64 hex digits.
//!
//! Which key a build signs with: `--key FILE`, else the path in the
//! environment variable [`SIGNING_KEY_ENV`], else the development key pair
//! committed at `keys/dev/` (compiled into this binary so fixture trees
//! without `keys/` build too). Signing with the development key prints
//! [`DEV_KEY_WARNING`] on stderr every time.
//!
//! The board build is told which key its hypervisor must trust: every cargo
//! build of a bare-metal crate gets [`TRUSTED_KEY_ENV`]`=<64 hex digits>`
//! (the signing key's public key). A crate reading it with `option_env!`
//! makes cargo track it, so a different key rebuilds the hypervisor.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::exit::OrBadInput;
use anyhow::{bail, Context, Result};
use ed25519_dalek::{Signer, SigningKey};
use image_format::{encode_signature_block, PUBLIC_KEY_SIZE, SIGNATURE_BLOCK_SIZE};

/// First line of a signing key file.
pub const KEY_HEADER: &str = "HALYARD ED25519 SIGNING KEY (32-byte seed, hex)";
/// Environment variable naming the signing key file (when no `--key`).
pub const SIGNING_KEY_ENV: &str = "HALYARD_SIGNING_KEY";
/// Environment variable passed to the BSP build: the public key (hex) the
/// hypervisor is to trust.
pub const TRUSTED_KEY_ENV: &str = "HALYARD_TRUSTED_KEY";
pub const KEY_FILE: &str = "halyard-signing.key";
pub const PUB_FILE: &str = "halyard-signing.pub";
pub const DEV_KEY_WARNING: &str =
    "WARNING: signing with the DEVELOPMENT key (keys/dev): not for release";
pub const DEV_PUB_WARNING: &str =
    "WARNING: verifying against the DEVELOPMENT key (keys/dev): not for release";

/// The development key pair (public, for development only: keys/dev/README.txt).
const DEV_KEY_TEXT: &str = include_str!("../../../keys/dev/halyard-signing.key");
const DEV_PUB_TEXT: &str = include_str!("../../../keys/dev/halyard-signing.pub");

/// A key to sign with.
pub struct LoadedKey {
    pub key: SigningKey,
    /// Whether it is the development key (wherever it was read from).
    pub development: bool,
}

impl LoadedKey {
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_SIZE] {
        self.key.verifying_key().to_bytes()
    }

    pub fn public_hex(&self) -> String {
        crate::digest::hex(&self.public_key())
    }

    /// The signature block for `table` (whose SIGNED flag is already set).
    pub fn sign(&self, table: &[u8]) -> [u8; SIGNATURE_BLOCK_SIZE] {
        let sig = self.key.sign(table).to_bytes();
        encode_signature_block(&self.public_key(), &sig)
    }
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The seed in a key file's text.
pub fn parse_key_text(text: &str) -> Result<[u8; 32]> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some(KEY_HEADER) {
        bail!("not a Halyard signing key (the first line must be '{KEY_HEADER}')");
    }
    let seed = lines.next().and_then(parse_hex32);
    match (seed, lines.next()) {
        (Some(s), None) => Ok(s),
        _ => bail!("a Halyard signing key has one line of 64 hex digits after the header"),
    }
}

/// A public key file's text.
pub fn parse_pub_text(text: &str) -> Result<[u8; 32]> {
    parse_hex32(text).context("a public key file holds one line of 64 hex digits")
}

pub fn key_text(seed: &[u8; 32]) -> String {
    format!("{KEY_HEADER}\n{}\n", crate::digest::hex(seed))
}

pub fn pub_text(key: &[u8; 32]) -> String {
    format!("{}\n", crate::digest::hex(key))
}

/// The development public key.
pub fn dev_public_key() -> [u8; 32] {
    parse_pub_text(DEV_PUB_TEXT).expect("keys/dev/halyard-signing.pub is valid")
}

fn dev_seed() -> [u8; 32] {
    parse_key_text(DEV_KEY_TEXT).expect("keys/dev/halyard-signing.key is valid")
}

/// The key a build signs with: `explicit`, else `$HALYARD_SIGNING_KEY`, else
/// the development key. Read before anything is compiled.
pub fn load_signing_key(explicit: Option<&Path>) -> Result<LoadedKey> {
    let from_env = std::env::var_os(SIGNING_KEY_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let (path, how) = match (explicit, from_env) {
        (Some(p), _) => (Some(p.to_path_buf()), "--key"),
        (None, Some(p)) => (Some(p), SIGNING_KEY_ENV),
        (None, None) => (None, ""),
    };
    let seed = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the signing key {} ({how})", p.display()))
                .or_bad_input()?;
            parse_key_text(&text)
                .with_context(|| format!("signing key {}", p.display()))
                .or_bad_input()?
        }
        None => dev_seed(),
    };
    Ok(LoadedKey {
        key: SigningKey::from_bytes(&seed),
        development: seed == dev_seed(),
    })
}

/// Write a new key pair into `dir` (created if needed); never overwrites.
/// Returns the paths of the key and the public key.
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (key_path, pub_path) = (dir.join(KEY_FILE), dir.join(PUB_FILE));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            crate::bail_input!("{} exists; not overwriting a key", p.display());
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    write_new(&key_path, key_text(&seed).as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pub_path, pub_text(&public).as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    Ok((key_path, pub_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_key_pair_matches() {
        let k = SigningKey::from_bytes(&dev_seed());
        assert_eq!(k.verifying_key().to_bytes(), dev_public_key());
    }

    #[test]
    fn key_text_round_trips_and_rejects_junk() {
        let seed = [0xa5; 32];
        assert_eq!(parse_key_text(&key_text(&seed)).unwrap(), seed);
        assert_eq!(parse_pub_text(&pub_text(&seed)).unwrap(), seed);
        assert!(parse_key_text(&crate::digest::hex(&seed)).is_err());
        assert!(parse_key_text(&format!("{KEY_HEADER}\nzz\n")).is_err());
        assert!(parse_key_text(&format!("{}\nab\n", key_text(&seed))).is_err());
        assert!(parse_pub_text("abcd").is_err());
    }

    #[test]
    fn keygen_writes_a_private_key_and_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let (k, p) = keygen(d.path()).unwrap();
        let seed = parse_key_text(&std::fs::read_to_string(&k).unwrap()).unwrap();
        let public = parse_pub_text(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(
            SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            public
        );
        assert_ne!(seed, dev_seed());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&k).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = keygen(d.path()).unwrap_err();
        assert!(e.to_string().contains("not overwriting"), "{e}");
    }
}
