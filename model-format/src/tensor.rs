//! Borrowed little-endian f32 arrays: weights stay in the file's bytes
//! (in flash on a board) and are read one value at a time.

use serde::{Deserialize, Serialize};

/// A borrowed array of little-endian IEEE-754 f32 values.
///
/// On the wire it is a postcard byte string (varint length in bytes, then the
/// bytes), so decoding borrows it from the model bytes without copying. The
/// byte length is a multiple of 4 in any model that passed
/// [`crate::Model::load`]; the accessors ignore a ragged tail rather than panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct F32s<'a>(#[serde(borrow)] pub &'a [u8]);

impl<'a> F32s<'a> {
    /// Wraps little-endian bytes.
    pub const fn new(bytes: &'a [u8]) -> Self {
        F32s(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Number of whole f32 values.
    pub const fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// True when there are no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as 4-byte groups (what kernels read).
    pub fn chunks(&self) -> &'a [[u8; 4]] {
        self.0.as_chunks::<4>().0
    }

    /// The values in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = f32> + Clone + 'a {
        self.chunks().iter().map(|b| f32::from_le_bytes(*b))
    }

    /// The value at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<f32> {
        self.chunks().get(index).map(|b| f32::from_le_bytes(*b))
    }

    /// True when every value is finite (no NaN, no infinity).
    pub fn all_finite(&self) -> bool {
        self.iter().all(f32::is_finite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_values() {
        let bytes = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0xff];
        let v = F32s::new(&bytes);
        assert_eq!(v.len(), 2);
        assert_eq!(v.get(0), Some(1.0));
        assert_eq!(v.get(1), Some(-2.0));
        assert_eq!(v.get(2), None);
        assert!(v.iter().eq([1.0, -2.0]));
        assert!(v.all_finite());
        let nan = f32::NAN.to_le_bytes();
        assert!(!F32s::new(&nan).all_finite());
    }

    #[test]
    fn wire_form_is_a_byte_string() {
        let bytes = 1.5f32.to_le_bytes();
        let enc = postcard::to_allocvec(&F32s::new(&bytes)).unwrap();
        assert_eq!(enc, [4, 0x00, 0x00, 0xc0, 0x3f]);
        let dec: F32s<'_> = postcard::from_bytes(&enc).unwrap();
        assert_eq!(dec.get(0), Some(1.5));
        // Zero-copy: the decoded slice points into the encoded buffer.
        assert!(core::ptr::eq(dec.as_bytes().as_ptr(), enc[1..].as_ptr()));
    }
}
