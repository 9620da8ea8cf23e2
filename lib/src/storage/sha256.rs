//! SHA-256 for the upload stamps, the digest that says an uploaded volume holds the same
//! bytes as a local file (see `upload.rs`): RustCrypto's `sha2`, which dom-media's records
//! use too and which takes the CPU's SHA instructions where it has them (the upload reads
//! and sends no faster than this digest runs).

use sha2::Digest;

/// An incremental SHA-256.
#[derive(Debug, Clone, Default)]
pub struct Sha256(sha2::Sha256);

impl Sha256 {
    /// Adds `data` to the message.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest as 64 lower-case hex digits.
    pub fn hex(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(parts: &[&[u8]]) -> String {
        let mut h = Sha256::default();
        for p in parts {
            h.update(p);
        }
        h.hex()
    }

    #[test]
    fn known_answers() {
        // FIPS 180-4 examples and the empty message.
        assert_eq!(
            digest(&[b""]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            digest(&[b"abc"]),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let expected = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
        assert_eq!(digest(&[long]), expected);
        // Split anywhere, the same digest.
        for cut in 0..long.len() {
            assert_eq!(digest(&[&long[..cut], &long[cut..]]), expected);
        }
        assert_eq!(
            digest(&[&vec![b'a'; 1_000_000]]),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }
}
