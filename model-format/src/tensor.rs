//! Borrowed little-endian f32 arrays: weights stay in the file's bytes
//! (in flash on a board) and are read one value at a time, or, when they
//! are 4-byte aligned in memory, as words (format version 8 aligns them in
//! the file, see [`ALIGNED_VERSION`]).

use serde::{Deserialize, Serialize, Serializer};

/// The first format version whose f32 tensors start at a multiple of 4
/// bytes from the file start (SPEC.md section 2): their byte string holds
/// `L mod 4` zero bytes of padding before the values, where `L` is its
/// length, so the values of a file loaded at a 4-byte aligned address can
/// be read as words.
pub const ALIGNED_VERSION: u16 = 8;

/// The first format version whose tag-14 weights
/// ([`crate::Layer::DenseI8x4`]) start at a multiple of 4 bytes from the
/// file start, as f32 tensors do from [`ALIGNED_VERSION`]: their byte
/// string (whose values are a multiple of 16 bytes) holds `L mod 4` zero
/// bytes of padding before the values, so that a board reads them as
/// words (SPEC.md sections 2 and 3.3).
pub const ALIGNED_I8X4_VERSION: u16 = 9;

/// The newtype name [`F32s`] serializes under, which the aligning writer
/// of [`crate::ModelSpec::encode`] recognises; every other serializer
/// (postcard, JSON) ignores it and writes the plain byte string.
pub(crate) const F32S_TOKEN: &str = "$edgeae::F32s";

/// A borrowed array of little-endian IEEE-754 f32 values.
///
/// On the wire it is a postcard byte string (varint length `L` in bytes,
/// then the bytes), so decoding borrows it from the model bytes without
/// copying. The first `L mod 4` bytes are padding (zero, and only in a
/// version-8 file, where they align the values to 4 bytes from the file
/// start); the values follow. The field holds the whole byte string,
/// padding included; [`F32s::as_bytes`], every accessor and `==` skip the
/// padding. [`crate::Model::load`] checks the padding.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(transparent)]
pub struct F32s<'a>(#[serde(borrow)] pub &'a [u8]);

impl<'a> F32s<'a> {
    /// Wraps little-endian bytes (no padding: their length is a multiple
    /// of 4).
    pub const fn new(bytes: &'a [u8]) -> Self {
        F32s(bytes)
    }

    /// The bytes of the values (the padding skipped).
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0.split_at(self.0.len() % 4).1
    }

    /// The padding before the values: the first `L mod 4` bytes of the
    /// byte string (empty in a file older than version 8).
    pub const fn padding(&self) -> &'a [u8] {
        self.0.split_at(self.0.len() % 4).0
    }

    /// Number of values.
    pub const fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// True when there are no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as 4-byte groups (what kernels read).
    pub fn chunks(&self) -> &'a [[u8; 4]] {
        self.as_bytes().as_chunks::<4>().0
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

/// Equal values: the padding is layout, not content.
impl PartialEq for F32s<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for F32s<'_> {}

/// The values' bytes under the name `F32S_TOKEN` (the padding is the
/// writer's business: it depends on where the tensor lands in the file).
impl Serialize for F32s<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(F32S_TOKEN, &Bytes(self.as_bytes()))
    }
}

struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_values() {
        let bytes = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0];
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

    #[test]
    fn the_first_length_mod_4_bytes_are_padding() {
        // 2 bytes of padding, then 1.0 and -2.0.
        let bytes = [0, 0, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0];
        let v = F32s(&bytes);
        assert_eq!(v.padding(), [0, 0]);
        assert_eq!(v.as_bytes(), &bytes[2..]);
        assert_eq!(v.len(), 2);
        assert!(v.iter().eq([1.0, -2.0]));
        assert_eq!(v.chunks().len(), 2);
        assert_eq!(v, F32s::new(&bytes[2..]));
        // Written without the padding by a plain postcard serializer.
        let enc = postcard::to_allocvec(&v).unwrap();
        assert_eq!(enc[0], 8);
        assert_eq!(&enc[1..], &bytes[2..]);
    }
}
