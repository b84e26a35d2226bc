//! SHA-256 of bytes in memory — delivery bodies, normalized content, DynamoDB request bodies —
//! with *ring*'s assembly, which rustls already links for TLS. Where a CPU has SHA extensions
//! (Graviton, recent x86) both *ring* and `sha2` use them; where it has not (older x86 hosts, and
//! valgrind's CPU that the benchmarks count instructions on), *ring*'s vectorized code takes
//! about 35 % fewer instructions than `sha2`'s portable code (docs/PERFORMANCE.md). HMACs stay
//! on RustCrypto's `hmac` + `sha2` (verify.rs), as do the streamed hashes of media copies.

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The SHA-256 of `bytes`, lower-case hex (the form `body_sha256` and SigV4 take).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn known_answers() {
        // FIPS 180-2, appendix B.1 and B.2.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn agrees_with_sha2_across_block_boundaries() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 128, 1000, 4096] {
            assert_eq!(
                sha256(&bytes[..len]).as_slice(),
                sha2::Sha256::digest(&bytes[..len]).as_slice(),
                "{len} bytes"
            );
        }
    }
}
