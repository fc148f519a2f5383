//! The fixed 16-byte little-endian header and the CRC-32 that guards the body.
//!
//! ```text
//! offset size field
//!      0    4 magic "EAEM"
//!      4    2 format version (u16 LE)
//!      6    2 reserved, 0
//!      8    4 body length in bytes (u32 LE)
//!     12    4 CRC-32 (ISO-HDLC, as zlib) of the body (u32 LE)
//!     16    n body (postcard)
//! ```
//!
//! [`Header::parse`] never panics: it reads through `get` and fixed-size
//! arrays only.

use crate::FormatError;

/// The first four bytes of every model file.
pub const MAGIC: [u8; 4] = *b"EAEM";
/// The newest format version this crate reads and writes. Bumped on any
/// layout change. A file with tag-14 layers is written as version 9
/// ([`crate::ALIGNED_I8X4_VERSION`]: their weights 4-byte aligned), one
/// with f32 layers as version 8 at least ([`crate::ALIGNED_VERSION`]: its
/// f32 tensors 4-byte aligned); any other
/// with the oldest version that has all of its tags (its kind, layers and
/// metric: see [`crate::Layer::min_version`],
/// [`crate::ModelKind::min_version`] and [`crate::Metric::min_version`]).
/// `ModelSpec::encode_version` (feature `alloc`) writes an older version
/// on request.
pub const FORMAT_VERSION: u16 = 9;
/// The oldest format version this crate reads.
pub const MIN_FORMAT_VERSION: u16 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 16;

/// The decoded header of a model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Format version of the body.
    pub version: u16,
    /// Length of the body in bytes.
    pub body_len: u32,
    /// CRC-32 of the body.
    pub body_crc: u32,
}

fn le_u16(bytes: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    if let Some(s) = bytes.get(at..at + 2) {
        b.copy_from_slice(s);
    }
    u16::from_le_bytes(b)
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

/// Length of a byte string as the u32 used in errors (saturating on huge inputs).
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Header {
    /// Parses and checks the header (magic, version, reserved bytes). Does
    /// not look at the body.
    pub fn parse(bytes: &[u8]) -> Result<Header, FormatError> {
        let head = bytes.get(..HEADER_LEN).ok_or(FormatError::Truncated {
            needed: HEADER_LEN as u32,
            available: len_u32(bytes.len()),
        })?;
        let magic = le_u32(head, 0);
        if magic != u32::from_le_bytes(MAGIC) {
            return Err(FormatError::BadMagic { found: magic });
        }
        let version = le_u16(head, 4);
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FormatError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let reserved = le_u16(head, 6);
        if reserved != 0 {
            return Err(FormatError::ReservedNotZero { found: reserved });
        }
        Ok(Header {
            version,
            body_len: le_u32(head, 8),
            body_crc: le_u32(head, 12),
        })
    }

    /// Total length of the file this header describes (header plus body).
    pub fn file_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.body_len)
    }

    /// The header as bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields: [&[u8]; 5] = [
            &MAGIC,
            &self.version.to_le_bytes(),
            &[0, 0],
            &self.body_len.to_le_bytes(),
            &self.body_crc.to_le_bytes(),
        ];
        let mut dst = out.iter_mut();
        for byte in fields.iter().flat_map(|f| f.iter()) {
            if let Some(d) = dst.next() {
                *d = *byte;
            }
        }
        out
    }
}

const CRC_TABLE: [u32; 256] = crc_table();

#[allow(clippy::indexing_slicing)] // const fn; i < 256 by the loop bound
const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, init and final XOR
/// 0xFFFFFFFF), the checksum of zlib, PNG and Ethernet.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        let idx = ((crc ^ u32::from(b)) & 0xFF) as usize;
        crc = CRC_TABLE.get(idx).copied().unwrap_or(0) ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn header_round_trip_bytes() {
        let h = Header {
            version: FORMAT_VERSION,
            body_len: 0x0102_0304,
            body_crc: 0xA1B2_C3D4,
        };
        let b = h.to_bytes();
        assert_eq!(
            b,
            [
                b'E', b'A', b'E', b'M', 9, 0, 0, 0, 0x04, 0x03, 0x02, 0x01, 0xD4, 0xC3, 0xB2, 0xA1
            ]
        );
        assert_eq!(Header::parse(&b), Ok(h));
    }

    #[test]
    fn header_errors() {
        let good = Header {
            version: FORMAT_VERSION,
            body_len: 0,
            body_crc: 0,
        }
        .to_bytes();
        assert_eq!(
            Header::parse(&good[..15]),
            Err(FormatError::Truncated {
                needed: 16,
                available: 15
            })
        );
        let mut b = good;
        b[0] = b'X';
        assert!(matches!(
            Header::parse(&b),
            Err(FormatError::BadMagic { .. })
        ));
        for (version, ok) in [
            (0u8, false),
            (1, true),
            (2, true),
            (3, true),
            (4, true),
            (5, true),
            (6, true),
            (7, true),
            (8, true),
            (9, true),
            (10, false),
        ] {
            let mut b = good;
            b[4] = version;
            if ok {
                assert_eq!(Header::parse(&b).map(|h| h.version), Ok(u16::from(version)));
            } else {
                assert_eq!(
                    Header::parse(&b),
                    Err(FormatError::UnsupportedVersion {
                        found: u16::from(version),
                        supported: 9
                    })
                );
            }
        }
        let mut b = good;
        b[7] = 1;
        assert_eq!(
            Header::parse(&b),
            Err(FormatError::ReservedNotZero { found: 0x100 })
        );
    }
}
