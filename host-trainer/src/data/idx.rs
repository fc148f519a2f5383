//! The IDX parser (MNIST / Fashion-MNIST images; see the [`super`] docs).

use std::path::Path;

use anyhow::{Result, bail};

use super::csv::counted;
use super::{Source, Table};

/// IDX element type of unsigned bytes, the only one supported.
const IDX_UBYTE: u8 = 0x08;
/// Header length of a three-dimensional IDX file: magic plus three sizes.
const IDX3_HEADER_LEN: usize = 4 + 3 * 4;

/// Parses an uncompressed IDX file of unsigned-byte images (see the module
/// docs); `path` is used only in messages. Pixels are scaled to [0, 1].
pub fn load_idx_bytes(path: &Path, bytes: &[u8]) -> Result<Table> {
    let file = path.display();
    let Some(&[z0, z1, ty, ndims]) = bytes.first_chunk::<4>() else {
        bail!(
            "`{file}` is too short for an IDX file: expected at least 4 header bytes, found {}",
            bytes.len()
        );
    };
    if z0 != 0 || z1 != 0 {
        bail!(
            "`{file}` is not an IDX file: expected it to start with 00 00 08 03, found {z0:02x} {z1:02x} {ty:02x} {ndims:02x}"
        );
    }
    if ty != IDX_UBYTE {
        bail!(
            "`{file}`: IDX element type 0x{ty:02x} ({}) is not supported, expected 0x08 (unsigned byte)",
            idx_type_name(ty)
        );
    }
    if ndims == 1 {
        bail!(
            "`{file}` is an IDX label file (1 dimension), not images: expected 3 dimensions (count, rows, columns)"
        );
    }
    if ndims != 3 {
        bail!(
            "`{file}`: IDX data with {ndims} dimensions is not supported, expected 3 dimensions (count, rows, columns)"
        );
    }
    let (Some(count), Some(height), Some(width)) =
        (be_u32(bytes, 4), be_u32(bytes, 8), be_u32(bytes, 12))
    else {
        bail!(
            "`{file}`: the IDX header is truncated: expected {IDX3_HEADER_LEN} bytes, found {}",
            bytes.len()
        );
    };
    if count == 0 {
        bail!("`{file}` holds no images: the IDX header says 0, expected at least 1");
    }
    if height == 0 || width == 0 {
        bail!("`{file}`: images of {height} x {width} pixels are empty, expected at least 1 x 1");
    }
    let Some(expected) = count.checked_mul(height).and_then(|n| n.checked_mul(width)) else {
        bail!("`{file}`: the IDX sizes {count} x {height} x {width} are too large");
    };
    let data = bytes.get(IDX3_HEADER_LEN..).unwrap_or_default();
    if data.len() < expected {
        bail!(
            "`{file}` is truncated: the IDX header says {count} images of {height} x {width} pixels ({expected} bytes), but {} bytes follow",
            data.len()
        );
    }
    if data.len() > expected {
        bail!(
            "`{file}` has {} after the {count} images of {height} x {width} pixels ({expected} bytes) that the IDX header describes, expected the file to end there",
            counted(data.len() - expected, "extra byte")
        );
    }
    let values = data.iter().map(|&p| f32::from(p) / 255.0).collect();
    Ok(Table {
        path: path.to_path_buf(),
        source: Source::Idx { width, height },
        channels: (0..height * width).map(|i| format!("px{i}")).collect(),
        values,
        labels: None,
    })
}

/// A big-endian `u32` at byte `at`, if there.
pub(super) fn be_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(b)).ok()
}

/// The IDX element types, for messages.
pub(super) fn idx_type_name(ty: u8) -> &'static str {
    match ty {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0b => "16-bit integer",
        0x0c => "32-bit integer",
        0x0d => "32-bit float",
        0x0e => "64-bit float",
        _ => "unknown type",
    }
}
