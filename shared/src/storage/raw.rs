//! The `raw` attribute: the exact body of a message's first delivery. Schema 3 keeps it as a
//! binary (B) holding the body gzip-compressed (RFC 1952, best compression), which is what most
//! of an item's write units paid for; schema-2 items hold it as a string (S), and quarantine
//! items as the plain bytes (B). Every reader takes all three through [`body_of`].
//!
//! gzip rather than a bare deflate stream: any tool reads it (`base64 -d | gunzip`). Its
//! 18 bytes of header and trailer carry no name and no time, so one body always compresses
//! to the same bytes. JSON never starts with gzip's magic bytes, which is how a binary `raw`
//! says which of the two it holds.

use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use flate2::Compression;

/// The largest body a function accepts (`request::MAX_BODY_BYTES`, the contract's 128 KiB; a
/// test keeps the two equal): no stored `raw` unpacks to more.
const MAX_BODY_BYTES: usize = 128 * 1024;

/// The first two bytes of every gzip stream (RFC 1952, ID1 and ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a `raw` attribute gives no body.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RawError {
    #[error("raw is neither a string nor a binary")]
    NotABody,
    #[error("raw is not a readable gzip stream: {0}")]
    Corrupt(String),
    #[error("raw unpacks to more than {MAX_BODY_BYTES} bytes, more than any body accepted")]
    TooLarge,
}

/// `body`, gzip-compressed at the best compression: the schema-3 `raw` value.
pub fn compress(body: &[u8]) -> Vec<u8> {
    // A small body's deflate stream is rarely more than its size, plus the frame.
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 2 + 32), Compression::best());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .expect("writing into a Vec cannot fail")
}

/// The schema-3 `raw` attribute of `body`.
pub fn attribute(body: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(compress(body)))
}

/// The body a `raw` attribute holds, whichever form it has: a string (schema 2), a gzip
/// binary (schema 3), or plain bytes (quarantine items).
pub fn body_of(raw: &AttributeValue) -> Result<Vec<u8>, RawError> {
    match raw {
        AttributeValue::S(text) => Ok(text.as_bytes().to_vec()),
        AttributeValue::B(blob) => unpack(blob.as_ref()),
        _ => Err(RawError::NotABody),
    }
}

/// Binary `raw` bytes as the body: unzipped when they are gzip, else as they are.
pub fn unpack(bytes: &[u8]) -> Result<Vec<u8>, RawError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes.to_vec());
    }
    // Bounded: a stored body is at most MAX_BODY_BYTES, so anything longer is not one of ours.
    let mut body = Vec::with_capacity(bytes.len() * 3);
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| RawError::Corrupt(e.to_string()))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(RawError::TooLarge);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        br#"{"type":14,"data":{"content":"{\"content\":\"ol\u00e1\"}","index":"7"}}"#;

    #[test]
    fn a_body_round_trips_through_gzip_and_compresses_the_same_every_time() {
        let packed = compress(BODY);
        assert!(packed.starts_with(&GZIP_MAGIC));
        assert_eq!(packed, compress(BODY), "no time or name in the header");
        assert_eq!(unpack(&packed).unwrap(), BODY);
        assert_eq!(body_of(&attribute(BODY)).unwrap(), BODY);
        assert_eq!(compress(b"").len(), 20, "an empty body is the bare frame");
        assert_eq!(unpack(&compress(b"")).unwrap(), b"");
    }

    #[test]
    fn every_form_of_raw_reads_as_the_body() {
        let text = std::str::from_utf8(BODY).unwrap().to_string();
        assert_eq!(body_of(&AttributeValue::S(text)).unwrap(), BODY);
        let plain = AttributeValue::B(Blob::new(BODY.to_vec()));
        assert_eq!(body_of(&plain).unwrap(), BODY, "a quarantine item's bytes");
        assert_eq!(
            body_of(&AttributeValue::N("1".into())),
            Err(RawError::NotABody)
        );
    }

    #[test]
    fn gzip_made_elsewhere_reads_and_damaged_gzip_is_an_error() {
        // `printf 'hello\n' | gzip -9n`, as the gzip command line writes it.
        let by_gzip = [
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9,
            0xc9, 0xe7, 0x02, 0x00, 0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00,
        ];
        assert_eq!(unpack(&by_gzip).unwrap(), b"hello\n");
        let mut damaged = compress(BODY);
        let last = damaged.len() - 5;
        damaged[last] ^= 0xff; // the CRC-32 of the body
        assert!(matches!(unpack(&damaged), Err(RawError::Corrupt(_))));
        assert!(matches!(
            unpack(&damaged[..damaged.len() / 2]),
            Err(RawError::Corrupt(_))
        ));
    }

    #[test]
    fn the_bound_is_the_largest_body_accepted() {
        assert_eq!(MAX_BODY_BYTES, crate::request::MAX_BODY_BYTES);
    }

    #[test]
    fn a_stream_unpacking_past_any_body_is_refused() {
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(unpack(&compress(&huge)), Err(RawError::TooLarge));
        let largest = vec![b' '; MAX_BODY_BYTES];
        assert_eq!(unpack(&compress(&largest)).unwrap().len(), MAX_BODY_BYTES);
    }

    #[test]
    fn a_sample_body_shrinks_to_under_half() {
        let body = include_bytes!("../../../events/bodies/partoo/whatsapp-consumer-text.json");
        let packed = compress(body);
        assert!(
            packed.len() * 2 < body.len(),
            "{} -> {} bytes",
            body.len(),
            packed.len()
        );
    }
}
