//! The signature block: 104 bytes right after a signed module table.
//!
//! ```text
//! offset  size  field
//!      0     8  magic b"HALYSIG1"
//!      8    32  Ed25519 public key of the signer
//!     40    64  Ed25519 signature over the table bytes
//!               [table_offset, table_offset + table_size), SIGNED flag set
//! ```
//!
//! Reading it is zero-copy and allocation-free. Whether the key is one to
//! trust is the verifier's decision: [`verify_signature`] (feature `verify`)
//! checks both the key and the signature.

use crate::table::{FormatError, Header};

/// `b"HALYSIG1"`: identifies a signature block.
pub const SIGNATURE_MAGIC: [u8; 8] = *b"HALYSIG1";
pub const PUBLIC_KEY_SIZE: usize = 32;
pub const SIGNATURE_SIZE: usize = 64;
/// Magic, public key, signature.
pub const SIGNATURE_BLOCK_SIZE: usize = 8 + PUBLIC_KEY_SIZE + SIGNATURE_SIZE;

/// A signature block, borrowed from the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureBlock<'a> {
    pub public_key: &'a [u8; PUBLIC_KEY_SIZE],
    pub signature: &'a [u8; SIGNATURE_SIZE],
}

impl<'a> SignatureBlock<'a> {
    /// Parse the block at the start of `bytes` (more bytes are fine).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let b = bytes
            .get(..SIGNATURE_BLOCK_SIZE)
            .ok_or(FormatError::SignatureTruncated)?;
        if b[..8] != SIGNATURE_MAGIC {
            return Err(FormatError::BadSignatureMagic);
        }
        let public_key = b[8..8 + PUBLIC_KEY_SIZE]
            .try_into()
            .map_err(|_| FormatError::SignatureTruncated)?;
        let signature = b[8 + PUBLIC_KEY_SIZE..]
            .try_into()
            .map_err(|_| FormatError::SignatureTruncated)?;
        Ok(SignatureBlock {
            public_key,
            signature,
        })
    }
}

/// The block's bytes, as the writer appends them after the table.
pub fn encode_signature_block(
    public_key: &[u8; PUBLIC_KEY_SIZE],
    signature: &[u8; SIGNATURE_SIZE],
) -> [u8; SIGNATURE_BLOCK_SIZE] {
    let mut b = [0u8; SIGNATURE_BLOCK_SIZE];
    b[..8].copy_from_slice(&SIGNATURE_MAGIC);
    b[8..8 + PUBLIC_KEY_SIZE].copy_from_slice(public_key);
    b[8 + PUBLIC_KEY_SIZE..].copy_from_slice(signature);
    b
}

/// The signature block of the image `image` (which starts at image offset
/// 0) whose table has `header`; `Ok(None)` if the table is not signed.
pub fn signature_block<'a>(
    image: &'a [u8],
    header: &Header,
) -> Result<Option<SignatureBlock<'a>>, FormatError> {
    let Some(off) = header.signature_offset() else {
        return Ok(None);
    };
    let start = usize::try_from(off).map_err(|_| FormatError::SignatureTruncated)?;
    let rest = image.get(start..).ok_or(FormatError::SignatureTruncated)?;
    SignatureBlock::parse(rest).map(Some)
}

/// Why a signature was not accepted.
#[cfg(feature = "verify")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigError {
    /// The block names a signer other than the trusted key.
    UntrustedKey,
    /// The trusted key is not a valid Ed25519 point.
    BadKey,
    /// The table is not marked signed.
    NotSigned,
    /// The signature does not match the table bytes.
    BadSignature,
}

#[cfg(feature = "verify")]
impl core::fmt::Display for SigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UntrustedKey => "signed by a key other than the trusted one",
            Self::BadKey => "the trusted key is not a valid Ed25519 public key",
            Self::NotSigned => "the table is not marked signed",
            Self::BadSignature => "the Ed25519 signature does not match the table",
        })
    }
}

/// Check that `block` is a valid Ed25519 signature by `trusted_key` over
/// `table_bytes` (the table exactly: [`crate::ModuleTable::as_bytes`]).
/// Strict verification: malleable signatures and weak keys are rejected.
/// No allocation; usable from `no_std`.
#[cfg(feature = "verify")]
pub fn verify_signature(
    table_bytes: &[u8],
    block: &SignatureBlock<'_>,
    trusted_key: &[u8; PUBLIC_KEY_SIZE],
) -> Result<(), SigError> {
    use ed25519_dalek::{Signature, VerifyingKey};
    let flags = table_bytes
        .get(crate::table_flags::OFFSET..crate::table_flags::OFFSET + 8)
        .map(|b| b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)));
    if flags.is_none_or(|f| f & crate::table_flags::SIGNED == 0) {
        return Err(SigError::NotSigned);
    }
    if block.public_key != trusted_key {
        return Err(SigError::UntrustedKey);
    }
    let key = VerifyingKey::from_bytes(trusted_key).map_err(|_| SigError::BadKey)?;
    let sig = Signature::from_bytes(block.signature);
    key.verify_strict(table_bytes, &sig)
        .map_err(|_| SigError::BadSignature)
}
