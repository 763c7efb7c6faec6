//! Which images the hypervisor runs: the Ed25519 public key it trusts is
//! compiled in (image-builder passes it to the board build as
//! `HALYARD_TRUSTED_KEY`, 64 hex digits), and the module table's signature
//! must verify with it before any module is looked at.

use image_format::{verify_signature, ModuleTable, SigError, PUBLIC_KEY_SIZE};

/// The key this build trusts, if it was built with one.
pub const TRUSTED_KEY_HEX: Option<&str> = option_env!("HALYARD_TRUSTED_KEY");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustError {
    /// Built without `HALYARD_TRUSTED_KEY` (not through image-builder).
    NoTrustedKey,
    /// `HALYARD_TRUSTED_KEY` is not 64 hex digits.
    BadTrustedKey,
    /// The table carries no signature.
    Unsigned,
    /// The signature block is missing or cut short.
    Truncated,
    Signature(SigError),
}

/// Parse 64 hex digits into a public key.
pub fn parse_key(hex: &str) -> Option<[u8; PUBLIC_KEY_SIZE]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 2 * PUBLIC_KEY_SIZE {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut key = [0u8; PUBLIC_KEY_SIZE];
    for (i, k) in key.iter_mut().enumerate() {
        *k = (nibble(hex[2 * i])? << 4) | nibble(hex[2 * i + 1])?;
    }
    Some(key)
}

/// Check the signature of `table` (parsed from `from_table`, the image from
/// the table on) against `trusted` (hex, as compiled in).
pub fn verify_table(
    table: &ModuleTable<'_>,
    from_table: &[u8],
    trusted: Option<&str>,
) -> Result<[u8; PUBLIC_KEY_SIZE], TrustError> {
    let key =
        parse_key(trusted.ok_or(TrustError::NoTrustedKey)?).ok_or(TrustError::BadTrustedKey)?;
    let block = table
        .signature(from_table)
        .map_err(|_| TrustError::Truncated)?
        .ok_or(TrustError::Unsigned)?;
    verify_signature(table.as_bytes(), &block, &key).map_err(TrustError::Signature)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use image_format::{encode_signature_block, layout_with, DomainSpec, LayoutOptions};

    fn signed_table(seed: u8) -> (Vec<u8>, String) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let pk = sk.verifying_key().to_bytes();
        let l = layout_with(
            0x1000,
            &[DomainSpec {
                id: 1,
                flags: 0,
                vcpus: 1,
                memory_bytes: 1 << 26,
                pcpus: 0,
                name: "d".into(),
            }],
            &[],
            LayoutOptions {
                signed: true,
                ..Default::default()
            },
        );
        let sig = sk.sign(&l.table).to_bytes();
        let mut bytes = l.table.clone();
        bytes.extend_from_slice(&encode_signature_block(&pk, &sig));
        let hex: String = pk.iter().map(|b| format!("{b:02x}")).collect();
        (bytes, hex)
    }

    #[test]
    fn accepts_only_the_trusted_signer() {
        let (bytes, hex) = signed_table(7);
        let t = ModuleTable::parse(&bytes).unwrap();
        assert!(verify_table(&t, &bytes, Some(&hex)).is_ok());
        let (_, other) = signed_table(8);
        assert_eq!(
            verify_table(&t, &bytes, Some(&other)),
            Err(TrustError::Signature(SigError::UntrustedKey))
        );
        assert_eq!(
            verify_table(&t, &bytes, None),
            Err(TrustError::NoTrustedKey)
        );
        assert_eq!(
            verify_table(&t, &bytes, Some("zz")),
            Err(TrustError::BadTrustedKey)
        );
        // A flipped bit in the signature (its last byte) is caught.
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        let t = ModuleTable::parse(&bad).unwrap();
        assert_eq!(
            verify_table(&t, &bad, Some(&hex)),
            Err(TrustError::Signature(SigError::BadSignature))
        );
        // Cut short.
        let short = &bytes[..bytes.len() - 10];
        let t = ModuleTable::parse(short).unwrap();
        assert_eq!(
            verify_table(&t, short, Some(&hex)),
            Err(TrustError::Truncated)
        );
    }

    #[test]
    fn key_parsing() {
        assert_eq!(parse_key(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_key(&"AB".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_key(&"ab".repeat(31)), None);
        assert_eq!(parse_key(&"g0".repeat(32)), None);
    }
}
