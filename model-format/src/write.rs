//! The aligning body writer (feature `alloc`): postcard's encoding, with
//! every [`F32s`](crate::F32s) padded so that its values start at a
//! multiple of 4 bytes from the file start (format version 8, SPEC.md
//! section 2), and from format version 9 the weights of every tag-14
//! layer ([`Layer::DenseI8x4`](crate::Layer::DenseI8x4)) too.
//!
//! postcard's own serializer cannot do this: the padding depends on where
//! the tensor lands in the file, and a `Serialize` impl does not know that.
//! This serializer writes the same bytes as postcard 1.x for every serde
//! type (the rules of SPEC.md section 2) and tracks its position; `F32s`
//! serializes as a newtype struct named [`F32S_TOKEN`], which postcard
//! ignores and this writer takes as "pad the next byte string". The
//! tag-14 weights are found by name: the `weights` field of the newtype
//! variant `Layer::DenseI8x4`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Serialize, ser};

use crate::HEADER_LEN;
use crate::tensor::F32S_TOKEN;

/// Encodes `value` as postcard would, with every `F32s` aligned for a body
/// that starts [`HEADER_LEN`] bytes into the file, and the weights of
/// every `Layer::DenseI8x4` too when `x4` is set (format version 9).
pub(crate) fn aligned<T: Serialize + ?Sized>(value: &T, x4: bool) -> Result<Vec<u8>, Error> {
    let mut w = Writer {
        out: Vec::new(),
        pad_next: false,
        x4,
        in_x4: false,
    };
    value.serialize(&mut w)?;
    Ok(w.out)
}

/// The one way this writer fails: a sequence or map of unknown length
/// (which postcard cannot write either), or a custom serde error.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

struct Writer {
    out: Vec<u8>,
    /// Set by a newtype struct named [`F32S_TOKEN`]: its byte string gets
    /// the padding.
    pad_next: bool,
    /// Pad the weights of `Layer::DenseI8x4` layers (format version 9).
    x4: bool,
    /// Inside a `Layer::DenseI8x4` whose `weights` field is still to come.
    in_x4: bool,
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// The padding `p` (0 to 3) that puts the values of an `n`-byte f32 array
/// whose byte string starts at file offset `at` on a multiple of 4: the
/// length `n + p` is written as a varint, then `p` zero bytes, then the
/// values. With `n` a multiple of 4 the varint has the same size for every
/// `p` (a varint grows at powers of 128, which are multiples of 4), so
/// exactly one `p` fits.
pub(crate) fn padding(at: usize, n: usize) -> usize {
    let head = at + varint_len(n as u64);
    (4 - head % 4) % 4
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn varint128(&mut self, mut v: u128) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
}

/// Integers as varints (zigzag first for the signed ones), as postcard.
macro_rules! integers {
    ($($method:ident($ty:ty) => $how:ident($wide:ty)),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<(), Error> {
            self.$how(<$wide>::from(v));
            Ok(())
        }
    )*};
}

impl ser::Serializer for &mut Writer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.out.push(v as u8);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.out.push(v);
        Ok(())
    }

    integers!(
        serialize_i16(i16) => zigzag(i64),
        serialize_i32(i32) => zigzag(i64),
        serialize_i64(i64) => zigzag(i64),
        serialize_u16(u16) => varint(u64),
        serialize_u32(u32) => varint(u64),
        serialize_u64(u64) => varint(u64),
        serialize_u128(u128) => varint128(u128),
    );

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.varint128(((v << 1) ^ (v >> 127)) as u128);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.varint(v.len() as u64);
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let pad = if core::mem::take(&mut self.pad_next) {
            padding(HEADER_LEN + self.out.len(), v.len())
        } else {
            0
        };
        self.varint((v.len() + pad) as u64);
        self.out.resize(self.out.len() + pad, 0);
        self.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.out.push(0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.out.push(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), Error> {
        self.varint(u64::from(index));
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.pad_next = name == F32S_TOKEN;
        value.serialize(&mut *self)?;
        self.pad_next = false;
        Ok(())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.varint(u64::from(index));
        self.in_x4 = self.x4 && name == "Layer" && variant == "DenseI8x4";
        value.serialize(&mut *self)?;
        self.in_x4 = false;
        Ok(())
    }

    /// A sequence; an [`I8s`](crate::I8s) is a sequence of `u8`, and the
    /// tag-14 weights get their padding here, as an `F32s` in
    /// `serialize_bytes`.
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Error> {
        let len = len.ok_or_else(|| Error("a sequence of unknown length".to_string()))?;
        let pad = if core::mem::take(&mut self.pad_next) {
            padding(HEADER_LEN + self.out.len(), len)
        } else {
            0
        };
        self.varint((len + pad) as u64);
        self.out.resize(self.out.len() + pad, 0);
        Ok(self)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.varint(u64::from(index));
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self, Error> {
        let len = len.ok_or_else(|| Error("a map of unknown length".to_string()))?;
        self.varint(len as u64);
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Error> {
        // The same bytes: the variant index, then the fields.
        ser::Serializer::serialize_tuple_variant(self, name, index, variant, len)
    }
}

/// The compound types: their elements in order, nothing around them.
macro_rules! elements {
    ($($trait:ident :: $method:ident $(($key:ident))?),* $(,)?) => {$(
        impl ser::$trait for &mut Writer {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($key: &'static str,)?
                value: &T,
            ) -> Result<(), Error> {
                $(let _ = $key;)?
                value.serialize(&mut **self)
            }

            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
    SerializeStructVariant::serialize_field(key),
);

impl ser::SerializeStruct for &mut Writer {
    type Ok = ();
    type Error = Error;

    /// A field; the `weights` of a `Layer::DenseI8x4` are padded.
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if key == "weights" && core::mem::take(&mut self.in_x4) {
            self.pad_next = true;
        }
        value.serialize(&mut **self)?;
        self.pad_next = false;
        Ok(())
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeMap for &mut Writer {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        key.serialize(&mut **self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::F32s;

    #[test]
    fn writes_what_postcard_writes_for_other_types() {
        #[derive(Serialize)]
        enum E {
            A,
            B(u16),
            C { x: i32, y: Option<f32> },
            D(i8, u64),
        }
        #[derive(Serialize)]
        struct S<'a> {
            a: bool,
            b: i64,
            c: u128,
            d: &'a str,
            e: Vec<E>,
            f: [u32; 2],
            g: char,
            h: (),
            i: f64,
            j: i128,
            k: Option<u8>,
        }
        let s = S {
            a: true,
            b: -70_000,
            c: 1 << 100,
            d: "tool",
            e: vec![
                E::A,
                E::B(300),
                E::C {
                    x: -1,
                    y: Some(0.5),
                },
                E::D(-3, u64::MAX),
            ],
            f: [1, 1000],
            g: 'é',
            h: (),
            i: -2.25,
            j: -(1 << 90),
            k: None,
        };
        assert_eq!(
            aligned(&s, true).unwrap(),
            postcard::to_allocvec(&s).unwrap()
        );
    }

    #[test]
    fn pads_f32s_to_a_multiple_of_4_from_the_file_start() {
        let v = [1.0f32, -2.0].map(f32::to_le_bytes).concat();
        for lead in 0..8 {
            // `lead` bytes of a string before the tensor.
            let s = "x".repeat(lead);
            let out = aligned(&(s.as_str(), F32s::new(&v), 7u8), false).unwrap();
            let at = 1 + lead; // the string's length byte and its bytes
            let pad = usize::from(out[at]) - 8;
            assert!(pad < 4);
            assert_eq!((HEADER_LEN + at + 1 + pad) % 4, 0, "lead {lead}");
            assert!(out[at + 1..at + 1 + pad].iter().all(|&b| b == 0));
            assert_eq!(&out[at + 1 + pad..at + 9 + pad], &v[..]);
            assert_eq!(out[at + 9 + pad..], [7]);
            // A plain byte string is not padded.
            let plain = aligned(&(s.as_str(), &v[..]), true).unwrap();
            assert_eq!(plain, postcard::to_allocvec(&(s.as_str(), &v[..])).unwrap());
        }
    }

    #[test]
    fn the_length_varint_has_one_size_for_every_padding() {
        // 124 + 3 = 127 still fits one varint byte; 128 needs two.
        for n in [0usize, 4, 124, 128, 16_380, 16_384] {
            for at in 0..4 {
                let p = padding(at, n);
                assert!(p < 4);
                assert_eq!(varint_len((n + p) as u64), varint_len(n as u64));
                assert_eq!((at + varint_len(n as u64) + p) % 4, 0);
            }
        }
    }
}
