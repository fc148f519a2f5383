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
use crate::validate::validate;
use crate::{
    InputSpec, Layer, Layers, MAX_LAYERS, ModelKind, ModelSpec, Op, Provenance, ScoringSpec,
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
        let spec = decode_body(body)?;
        let ops = validate(&spec)?;
        check_versions(&spec, header.version)?;
        Ok((Model { header, spec, ops }, HEADER_LEN + body.len()))
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The decoded body, as stored.
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
/// layers and its metric. A file is written with this version, so a model
/// that uses nothing newer stays readable by older readers.
#[cfg(feature = "alloc")]
pub(crate) fn needed_version(spec: &ModelSpec<'_>) -> u16 {
    spec.layers
        .iter()
        .map(Layer::min_version)
        .chain([spec.kind.min_version(), spec.scoring.metric.min_version()])
        .max()
        .unwrap_or(1)
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
    pub fn encode(&self) -> Result<alloc::vec::Vec<u8>, FormatError> {
        validate(self)?;
        let body = postcard::to_allocvec(self).map_err(|_| FormatError::Malformed {
            section: Section::Kind,
            offset: HEADER_LEN as u32,
        })?;
        let header = Header {
            version: needed_version(self),
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
