//! [`Model`]: the validated, zero-copy view of a model file, and the only way
//! to get one ([`Model::load`]).
//!
//! If `load` returned `Ok`, every shape, length and reference in the model is
//! consistent: the [`Op`]s it hands out have exactly the weights their widths
//! need, each op's input width is the previous op's output width, and the
//! last op reconstructs the input width (for a classifier: outputs 2 to
//! [`crate::MAX_CLASSES`] logits). Code downstream relies on this
//! instead of checking again, which is what lets the runtime be panic-free
//! without a check per inference.

use heapless::Vec;
use serde::Deserialize;

use crate::error::{Field, FormatError, Section};
use crate::header::{HEADER_LEN, Header, crc32, len_u32};
use crate::tensor::{ALIGNED_I8X4_VERSION, ALIGNED_VERSION};
use crate::validate::validate;
use crate::{
    I8s, InputSpec, Layer, Layers, MAX_LAYERS, ModelKind, ModelSpec, Op, Provenance, ScoringSpec,
};

/// A validated model, borrowing its weights from the bytes it was loaded from.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    header: Header,
    spec: ModelSpec<'a>,
    ops: Vec<Op<'a>, MAX_LAYERS>,
}

impl<'a> Model<'a> {
    /// Validates `bytes` as exactly one model file (no trailing bytes).
    pub fn load(bytes: &'a [u8]) -> Result<Model<'a>, FormatError> {
        let stated = Header::parse(bytes)?.file_len();
        if stated < bytes.len() as u64 {
            return Err(FormatError::TrailingBytes {
                expected: u32::try_from(stated).unwrap_or(u32::MAX),
                found: len_u32(bytes.len()),
            });
        }
        Model::load_prefix(bytes).map(|(model, _)| model)
    }

    /// Validates the model at the start of `region` (for example a flash
    /// partition larger than the model) and returns it with its length in
    /// bytes; what follows the model is ignored.
    pub fn load_prefix(region: &'a [u8]) -> Result<(Model<'a>, usize), FormatError> {
        let header = Header::parse(region)?;
        let file_len = header.file_len();
        let body = usize::try_from(file_len)
            .ok()
            .and_then(|end| region.get(HEADER_LEN..end))
            .ok_or(FormatError::Truncated {
                needed: u32::try_from(file_len).unwrap_or(u32::MAX),
                available: len_u32(region.len()),
            })?;
        let computed = crc32(body);
        if computed != header.body_crc {
            return Err(FormatError::ChecksumMismatch {
                stored: header.body_crc,
                computed,
            });
        }
        let mut spec = decode_body(body)?;
        if header.version >= ALIGNED_I8X4_VERSION {
            unpad_x4_weights(&mut spec, region)?;
        }
        let ops = validate(&spec)?;
        check_versions(&spec, header.version)?;
        check_tensors(&spec, header.version, region)?;
        Ok((Model { header, spec, ops }, HEADER_LEN + body.len()))
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The decoded body, as stored (from format version 9, a tag-14
    /// layer's weights without the padding before them).
    pub fn spec(&self) -> &ModelSpec<'a> {
        &self.spec
    }

    /// Autoencoder kind.
    pub fn kind(&self) -> ModelKind {
        self.spec.kind
    }

    /// Input spec.
    pub fn input(&self) -> &InputSpec<'a> {
        &self.spec.input
    }

    /// Layers as stored.
    pub fn layers(&self) -> &[Layer<'a>] {
        &self.spec.layers
    }

    /// Layers resolved into ops, in execution order; one per layer.
    pub fn ops(&self) -> &[Op<'a>] {
        &self.ops
    }

    /// Index of the last encoder op; its output is the codings.
    pub fn codings_layer(&self) -> usize {
        usize::from(self.spec.codings_layer)
    }

    /// Scoring spec.
    pub fn scoring(&self) -> &ScoringSpec<'a> {
        &self.spec.scoring
    }

    /// Provenance.
    pub fn provenance(&self) -> &Provenance<'a> {
        &self.spec.provenance
    }

    /// Values in one input window (`channels * window`); also the output width.
    pub fn input_len(&self) -> usize {
        self.ops.first().map_or(0, Op::inputs)
    }

    /// Classes of a [`ModelKind::Classifier`] (its last op's width);
    /// `None` for an autoencoder.
    pub fn classes(&self) -> Option<usize> {
        (self.spec.kind == ModelKind::Classifier).then(|| self.ops.last().map_or(0, Op::outputs))
    }

    /// Width of the codings.
    pub fn codings_len(&self) -> usize {
        self.ops.get(self.codings_layer()).map_or(0, Op::outputs)
    }

    /// Length of the model file in bytes (what it occupies in flash).
    pub fn file_len(&self) -> usize {
        HEADER_LEN + self.header.body_len as usize
    }

    /// Parameters stored in the file (a tied layer adds only its bias;
    /// pooling and upsampling add none).
    pub fn param_count(&self) -> usize {
        self.spec.layers.iter().map(Layer::param_count).sum()
    }

    /// True when any op is int8.
    pub fn has_int8(&self) -> bool {
        self.ops.iter().any(Op::is_int8)
    }

    /// Multiply-accumulates of one full reconstruction.
    pub fn macs(&self) -> usize {
        self.ops.iter().map(Op::macs).sum()
    }
}

/// The oldest format version that has every tag of `spec`: its kind, its
/// layers and its metric.
#[cfg(feature = "alloc")]
fn tags_version(spec: &ModelSpec<'_>) -> u16 {
    spec.layers
        .iter()
        .map(Layer::min_version)
        .chain([spec.kind.min_version(), spec.scoring.metric.min_version()])
        .max()
        .unwrap_or(1)
}

/// The version a file is written with: [`ALIGNED_I8X4_VERSION`] when a
/// layer is a `DenseI8x4`, at least [`ALIGNED_VERSION`] when a layer has
/// f32 weights (so that a board reads them as words), otherwise the oldest
/// version that has every tag of `spec`, so that such a model stays
/// readable by older readers.
#[cfg(feature = "alloc")]
pub(crate) fn needed_version(spec: &ModelSpec<'_>) -> u16 {
    let tags = tags_version(spec);
    if spec.layers.iter().any(|l| matches!(l, Layer::DenseI8x4(_))) {
        tags.max(ALIGNED_I8X4_VERSION)
    } else if spec.has_f32_layers() {
        tags.max(ALIGNED_VERSION)
    } else {
        tags
    }
}

/// From [`ALIGNED_I8X4_VERSION`] on, the weights' byte string of a tag-14
/// layer starts with `L mod 4` bytes of padding (`L` its length): checks
/// that they are zero and that the values start at a multiple of 4 bytes
/// from the start of `file`, and leaves the values alone in the layer.
fn unpad_x4_weights<'a>(spec: &mut ModelSpec<'a>, file: &[u8]) -> Result<(), FormatError> {
    let offset = |bytes: &[u8]| len_u32(bytes.as_ptr().addr().saturating_sub(file.as_ptr().addr()));
    for layer in spec.layers.iter_mut() {
        if let Layer::DenseI8x4(d) = layer {
            let raw = d.weights.as_bytes();
            let (pad, values) = raw.split_at(raw.len() % 4);
            if let Some(i) = pad.iter().position(|&b| b != 0) {
                return Err(FormatError::NonzeroPadding {
                    offset: offset(pad).saturating_add(len_u32(i)),
                });
            }
            let at = offset(values);
            if at % 4 != 0 {
                return Err(FormatError::UnalignedTensor { offset: at });
            }
            d.weights = I8s::new(values);
        }
    }
    Ok(())
}

/// Checks the f32 tensors' byte strings: whole values in a file older
/// than [`ALIGNED_VERSION`]; from it on, zero padding and values that
/// start at a multiple of 4 bytes from the start of `file` (which holds
/// them all).
fn check_tensors(spec: &ModelSpec<'_>, version: u16, file: &[u8]) -> Result<(), FormatError> {
    let offset = |bytes: &[u8]| len_u32(bytes.as_ptr().addr().saturating_sub(file.as_ptr().addr()));
    for t in spec.f32_tensors() {
        let pad = t.padding();
        if version < ALIGNED_VERSION {
            if !pad.is_empty() {
                return Err(FormatError::RaggedTensor {
                    offset: offset(t.0),
                    len: len_u32(t.0.len()),
                });
            }
            continue;
        }
        if let Some(i) = pad.iter().position(|&b| b != 0) {
            return Err(FormatError::NonzeroPadding {
                offset: offset(pad).saturating_add(len_u32(i)),
            });
        }
        let at = offset(t.as_bytes());
        if at % 4 != 0 {
            return Err(FormatError::UnalignedTensor { offset: at });
        }
    }
    Ok(())
}

/// Refuses a tag that `version` does not have. The decoder reads every
/// tag this crate knows whatever the header says (postcard bodies carry no
/// version), so this runs after decoding, in wire order: kind, layers,
/// metric.
fn check_versions(spec: &ModelSpec<'_>, version: u16) -> Result<(), FormatError> {
    let kind = spec.kind;
    if kind.min_version() > version {
        return Err(FormatError::TagNeedsVersion {
            field: Field::Kind,
            name: kind.name(),
            needs: kind.min_version(),
            version,
        });
    }
    for (i, layer) in spec.layers.iter().enumerate() {
        if layer.min_version() > version {
            return Err(FormatError::LayerNeedsVersion {
                layer: u16::try_from(i).unwrap_or(u16::MAX),
                needs: layer.min_version(),
                version,
            });
        }
    }
    let metric = &spec.scoring.metric;
    if metric.min_version() > version {
        return Err(FormatError::TagNeedsVersion {
            field: Field::Metric,
            name: metric.name(),
            needs: metric.min_version(),
            version,
        });
    }
    Ok(())
}

/// Decodes the body one section at a time, so a failure names the section
/// and the byte where it starts.
fn decode_body(body: &[u8]) -> Result<ModelSpec<'_>, FormatError> {
    let mut cursor = Cursor { body, rest: body };
    let kind = cursor.take(Section::Kind)?;
    let input = cursor.take(Section::Input)?;
    // Peek at the layer count so an oversized list gets its own error.
    let (count, _) = postcard::take_from_bytes::<u32>(cursor.rest)
        .map_err(|_| cursor.malformed(Section::Layers))?;
    if count as usize > MAX_LAYERS {
        return Err(FormatError::TooManyLayers {
            found: count,
            max: MAX_LAYERS as u32,
        });
    }
    let layers: Layers<'_> = cursor.take(Section::Layers)?;
    let codings_layer = cursor.take(Section::Codings)?;
    let scoring = cursor.take(Section::Scoring)?;
    let provenance = cursor.take(Section::Provenance)?;
    if !cursor.rest.is_empty() {
        return Err(FormatError::UnusedBodyBytes {
            offset: cursor.offset(),
        });
    }
    Ok(ModelSpec {
        kind,
        input,
        layers,
        codings_layer,
        scoring,
        provenance,
    })
}

struct Cursor<'a> {
    body: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u32 {
        len_u32(HEADER_LEN + self.body.len().saturating_sub(self.rest.len()))
    }

    fn malformed(&self, section: Section) -> FormatError {
        FormatError::Malformed {
            section,
            offset: self.offset(),
        }
    }

    fn take<T: Deserialize<'a>>(&mut self, section: Section) -> Result<T, FormatError> {
        let (value, rest) =
            postcard::take_from_bytes(self.rest).map_err(|_| self.malformed(section))?;
        self.rest = rest;
        Ok(value)
    }
}

#[cfg(feature = "alloc")]
impl ModelSpec<'_> {
    /// Validates the spec and writes it as a model file.
    ///
    /// Nothing invalid is ever written: the bytes produced are loaded back
    /// with [`Model::load`] before they are returned.
    ///
    /// The file's version is [`ALIGNED_I8X4_VERSION`] when a layer is a
    /// `DenseI8x4`, at least [`ALIGNED_VERSION`] when a layer has f32
    /// weights, otherwise the oldest that has every tag of the model.
    pub fn encode(&self) -> Result<alloc::vec::Vec<u8>, FormatError> {
        self.encode_version(needed_version(self))
    }

    /// Writes the model as format `version`, for a reader that knows no
    /// newer one: [`ALIGNED_VERSION`] and later pad the f32 tensors,
    /// [`ALIGNED_I8X4_VERSION`] and later the tag-14 weights too, older
    /// versions do not. Refuses a version that lacks one of the model's
    /// tags (its kind, a layer, its metric) or that this crate does not
    /// write.
    pub fn encode_version(&self, version: u16) -> Result<alloc::vec::Vec<u8>, FormatError> {
        validate(self)?;
        if !(crate::MIN_FORMAT_VERSION..=crate::FORMAT_VERSION).contains(&version) {
            return Err(FormatError::UnsupportedVersion {
                found: version,
                supported: crate::FORMAT_VERSION,
            });
        }
        check_versions(self, version)?;
        let body = if version >= ALIGNED_VERSION {
            crate::write::aligned(self, version >= ALIGNED_I8X4_VERSION).ok()
        } else {
            postcard::to_allocvec(self).ok()
        }
        .ok_or(FormatError::Malformed {
            section: Section::Kind,
            offset: HEADER_LEN as u32,
        })?;
        let header = Header {
            version,
            body_len: u32::try_from(body.len()).map_err(|_| FormatError::TooLarge {
                field: Field::Weights,
                layer: None,
            })?,
            body_crc: crc32(&body),
        };
        let mut out = alloc::vec::Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(&body);
        Model::load(&out)?;
        Ok(out)
    }
}
