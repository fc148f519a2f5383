//! Loading training and scoring data, and turning it into model inputs.
//!
//! # Files
//!
//! [`load`] reads a file, decompresses it when it starts with the gzip magic
//! bytes `1f 8b` (whatever its name), and then looks at its first bytes:
//!
//! - **IDX** (the MNIST / Fashion-MNIST format), recognised by two zero bytes:
//!   `00 00 08 03`, three big-endian `u32` sizes (count, rows, columns), then
//!   one unsigned byte per pixel. Each image becomes one row of `rows * columns`
//!   channels named `px0`, `px1`, ... (row-major), scaled to [0, 1]. Label files
//!   (one dimension) and element types other than unsigned bytes are refused.
//! - **CSV**, anything else: a header row, then one frame per line in time
//!   order. Column names are trimmed. A `timestamp` column (any case) is
//!   ignored; one `is_anomaly` or `label` column (any case) holds 0 or 1 per row;
//!   every other column is a sensor channel whose cells must be numbers. NaN
//!   and infinity are refused unless [`LoadOptions::allow_non_finite`] is set
//!   (scoring streams, where they are faults to report). Blank lines are
//!   skipped.
//!
//! Every error is one sentence that names the file and, where it applies, the
//! line (1-based, the header is line 1), the column (1-based, with its name)
//! and what was expected.
//!
//! # Model inputs
//!
//! A model sees `window` consecutive rows at a time: [`window_starts`] picks
//! the first row of each window every `hop` rows, [`gather`] copies the
//! windows time-major into one matrix, [`window_labels`] marks the windows
//! that contain an anomalous row, and [`Normalizer`] standardises each channel.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A UTF-8 byte order mark, skipped at the start of a CSV file.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
/// IDX element type of unsigned bytes, the only one supported.
const IDX_UBYTE: u8 = 0x08;
/// Header length of a three-dimensional IDX file: magic plus three sizes.
const IDX3_HEADER_LEN: usize = 4 + 3 * 4;
/// Cells longer than this many characters are shortened in error messages.
const SHOWN_CHARS: usize = 40;

/// Where the data came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// CSV with a header row.
    Csv,
    /// IDX image file: `count` images of `height` x `width` pixels, scaled to [0, 1].
    Idx {
        /// Pixels per image row (the IDX file's third size).
        width: usize,
        /// Image rows (the IDX file's second size).
        height: usize,
    },
}

/// A loaded table: `rows` frames of `channels` samples each.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file the table was loaded from (as given, for messages).
    pub path: PathBuf,
    /// The file format.
    pub source: Source,
    /// Channel names (CSV header names without timestamp/label columns; for IDX: "px0", "px1", ...).
    pub channels: Vec<String>,
    /// rows x channels values, row-major.
    pub values: Vec<f32>,
    /// One 0/1 label per row, if the CSV had an `is_anomaly` or `label` column.
    pub labels: Option<Vec<u8>>,
}

impl Table {
    /// Number of rows (frames, or images for IDX); 0 when there are no channels.
    pub fn rows(&self) -> usize {
        self.values
            .len()
            .checked_div(self.n_channels())
            .unwrap_or(0)
    }

    /// Number of channels (values per row).
    pub fn n_channels(&self) -> usize {
        self.channels.len()
    }

    /// The values of row `i`, or `None` past the last row.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        if i >= self.rows() {
            return None;
        }
        let n = self.n_channels();
        let start = i.checked_mul(n)?;
        self.values.get(start..start.checked_add(n)?)
    }
}

/// Options for loading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept NaN / inf cells (for scoring streams, where they are faults). When false,
    /// a non-finite cell is an error naming line and column.
    pub allow_non_finite: bool,
}

/// Loads CSV or IDX (optionally gzip-compressed, detected by the gzip magic bytes 1f 8b, not the
/// file name). IDX is recognised by its magic (two zero bytes, then type byte 0x08 = unsigned byte,
/// then the number of dimensions); anything else is parsed as CSV.
pub fn load(path: &Path, opts: LoadOptions) -> Result<Table> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow!("cannot read `{}`: {e}", path.display()))?;
    load_bytes(path, &bytes, opts)
}

/// Does what [`load`] does with bytes already read from `path` (which is
/// used only in messages): gunzips them if they start with `1f 8b`, then
/// parses them as IDX if they start with two zero bytes, else as CSV.
pub fn load_bytes(path: &Path, bytes: &[u8], opts: LoadOptions) -> Result<Table> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let plain = gunzip(path, bytes)?;
        load_plain(path, &plain, opts)
    } else {
        load_plain(path, bytes, opts)
    }
}

/// Picks the parser for uncompressed bytes.
fn load_plain(path: &Path, bytes: &[u8], opts: LoadOptions) -> Result<Table> {
    if bytes.starts_with(&[0, 0]) {
        load_idx_bytes(path, bytes)
    } else {
        load_csv_bytes(path, bytes, opts)
    }
}

/// Decompresses one or more concatenated gzip members.
fn gunzip(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    // The trailer's ISIZE (size mod 2^32) is a good capacity hint; cap it by
    // deflate's best ratio so a corrupt trailer cannot ask for gigabytes.
    let hint = bytes
        .last_chunk::<4>()
        .and_then(|b| usize::try_from(u32::from_le_bytes(*b)).ok())
        .unwrap_or(0)
        .min(bytes.len().saturating_mul(1032));
    let mut out = Vec::with_capacity(hint);
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| anyhow!("`{}` is not valid gzip data: {e}", path.display()))?;
    Ok(out)
}

/// What a CSV column is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A timestamp: read past.
    Ignored,
    /// A sensor channel: a number per row.
    Channel,
    /// The anomaly label: 0 or 1 per row.
    Label,
}

/// Parses CSV text (see the module docs for the rules); `path` is used only
/// in messages. The bytes must not be compressed.
pub fn load_csv_bytes(path: &Path, bytes: &[u8], opts: LoadOptions) -> Result<Table> {
    let file = path.display();
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        bail!("`{file}` is empty: expected a header row and data rows");
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(path, &e, 1))?
        .clone();
    let mut lines = LineCounter::new(bytes);
    let header_line = lines.line_of(header.position());
    let (names, roles) = parse_header(path, &header, header_line)?;
    let channels: Vec<String> = names
        .iter()
        .zip(&roles)
        .filter(|(_, role)| **role == Role::Channel)
        .map(|(name, _)| name.clone())
        .collect();
    let has_label = roles.contains(&Role::Label);

    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut rows = 0usize;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, &e, lines.line_of(e.position()))),
        }
        // A line of only whitespace is one empty field after trimming; skip
        // it like the blank lines the csv crate already skips.
        if record.len() == 1 && record.as_slice().is_empty() {
            continue;
        }
        let line = lines.line_of(record.position());
        if record.len() != roles.len() {
            bail!(
                "`{file}`: line {line} has {}, expected {} like the header",
                counted(record.len(), "field"),
                roles.len()
            );
        }
        for (i, (field, role)) in record.iter().zip(&roles).enumerate() {
            let parsed = match role {
                Role::Ignored => continue,
                Role::Channel => parse_value(field, opts.allow_non_finite).map(|v| values.push(v)),
                Role::Label => parse_label(field).map(|l| labels.push(l)),
            };
            if let Err(why) = parsed {
                let name = names.get(i).map_or("", String::as_str);
                bail!("`{file}`: line {line}, column {} (`{name}`): {why}", i + 1);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        bail!("`{file}` has a header but no data rows");
    }
    Ok(Table {
        path: path.to_path_buf(),
        source: Source::Csv,
        channels,
        values,
        labels: has_label.then_some(labels),
    })
}

/// Checks the header row and says what each column is for.
fn parse_header(
    path: &Path,
    header: &csv::ByteRecord,
    line: u64,
) -> Result<(Vec<String>, Vec<Role>)> {
    let file = path.display();
    let mut names = Vec::with_capacity(header.len());
    let mut roles = Vec::with_capacity(header.len());
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(header.len());
    let mut label: Option<(usize, &str)> = None;
    for (i, raw) in header.iter().enumerate() {
        let col = i + 1;
        let Ok(name) = std::str::from_utf8(raw) else {
            bail!("`{file}`: line {line}, column {col}: the column name is not valid UTF-8 text");
        };
        if name.is_empty() {
            bail!(
                "`{file}`: line {line}, column {col} has no name, expected a name for every column in the header"
            );
        }
        if let Some(first) = seen.insert(name, col) {
            bail!(
                "`{file}`: columns {first} and {col} of the header are both named `{name}`, expected unique column names"
            );
        }
        let role = if name.eq_ignore_ascii_case("timestamp") {
            Role::Ignored
        } else if name.eq_ignore_ascii_case("is_anomaly") || name.eq_ignore_ascii_case("label") {
            if let Some((first_col, first_name)) = label {
                bail!(
                    "`{file}` has two label columns, column {first_col} (`{first_name}`) and column {col} (`{name}`), expected at most one"
                );
            }
            label = Some((col, name));
            Role::Label
        } else {
            Role::Channel
        };
        names.push(name.to_owned());
        roles.push(role);
    }
    if !roles.contains(&Role::Channel) {
        bail!(
            "`{file}` has no sensor channel columns, only timestamp or label columns, expected at least one channel"
        );
    }
    Ok((names, roles))
}

/// Parses a sensor cell; the error is the end of a sentence.
fn parse_value(field: &[u8], allow_non_finite: bool) -> Result<f32, String> {
    let Ok(text) = std::str::from_utf8(field) else {
        return Err("the cell is not valid UTF-8 text, expected a number".to_owned());
    };
    if text.is_empty() {
        return Err("an empty cell is not a number".to_owned());
    }
    let Ok(value) = text.parse::<f32>() else {
        return Err(format!("`{}` is not a number", shown(text)));
    };
    if !allow_non_finite && !value.is_finite() {
        return Err(format!(
            "`{}` is not a finite number, expected a finite value",
            shown(text)
        ));
    }
    Ok(value)
}

/// Parses a label cell: any number exactly equal to 0 or 1.
fn parse_label(field: &[u8]) -> Result<u8, String> {
    match field {
        b"0" => return Ok(0),
        b"1" => return Ok(1),
        _ => {}
    }
    let Ok(text) = std::str::from_utf8(field) else {
        return Err("the label is not valid UTF-8 text, expected 0 or 1".to_owned());
    };
    if text.is_empty() {
        return Err("the label is empty, expected 0 or 1".to_owned());
    }
    match text.parse::<f64>() {
        Ok(0.0) => Ok(0),
        Ok(1.0) => Ok(1),
        _ => Err(format!("label `{}` must be 0 or 1", shown(text))),
    }
}

/// Cell text for a message, shortened if long.
fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}...", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// `1 row`, `2 rows`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// An error from the csv crate, with the file and line.
fn csv_error(path: &Path, e: &csv::Error, line: u64) -> anyhow::Error {
    anyhow!("`{}`: line {line}: {e}", path.display())
}

/// Physical line numbers of CSV records, counted from the bytes.
///
/// The csv crate's own `Position::line` miscounts after blank lines and with
/// CRLF endings, but its `Position::byte` is reliable: it is where the
/// previous record's terminator ended, so the record itself starts after any
/// line breaks (blank lines) that follow. Lines end at `\n`, `\r\n` or a lone
/// `\r`, as in the csv crate.
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Bytes before this offset have been counted...
    counted: usize,
    /// ...and the line that starts or continues at `counted`.
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            counted: 0,
            line: 1,
        }
    }

    /// The line where the record at `pos` starts. Records must be asked
    /// for in file order (the count only moves forward).
    fn line_of(&mut self, pos: Option<&csv::Position>) -> u64 {
        let Some(pos) = pos else {
            return self.line;
        };
        let mut start = usize::try_from(pos.byte())
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let from = self.counted;
        let skipped = self.bytes.get(from..start).unwrap_or_default();
        let breaks = skipped
            .iter()
            .enumerate()
            .filter(|&(i, &b)| {
                b == b'\n' || (b == b'\r' && self.bytes.get(from + i + 1) != Some(&b'\n'))
            })
            .count();
        self.line += breaks as u64;
        self.counted = self.counted.max(start);
        self.line
    }
}

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
fn be_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(b)).ok()
}

/// The IDX element types, for messages.
fn idx_type_name(ty: u8) -> &'static str {
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

/// Start rows of the windows of `window` rows taken every `hop` rows over `rows` rows:
/// 0, hop, 2*hop, ... while start + window <= rows.
/// Errors (one sentence): window or hop is 0; window longer than the data
/// ("window of 64 rows is longer than the data in `x.csv` (50 rows)"); `path`
/// is used only in messages.
pub fn window_starts(path: &Path, rows: usize, window: usize, hop: usize) -> Result<Vec<usize>> {
    let file = path.display();
    if window == 0 {
        bail!("cannot cut windows from `{file}`: the window is 0 rows, expected at least 1");
    }
    if hop == 0 {
        bail!("cannot cut windows from `{file}`: the hop is 0 rows, expected at least 1");
    }
    if window > rows {
        bail!(
            "window of {} is longer than the data in `{file}` ({})",
            counted(window, "row"),
            counted(rows, "row")
        );
    }
    Ok((0..=rows - window).step_by(hop).collect())
}

/// The rows of the window starting at `start`, if it fits in `rows` rows.
fn window_rows(start: usize, window: usize, rows: usize) -> Option<Range<usize>> {
    let end = start.checked_add(window)?;
    (end <= rows).then_some(start..end)
}

/// Gathers windows into one row-major matrix: for each start, `window` consecutive rows,
/// time-major (row t's channels, then row t+1's ...), i.e. each output row has window*channels values.
///
/// `starts` should come from [`window_starts`]; a start whose window would run
/// past the last row is skipped (as it is by [`window_labels`]).
pub fn gather(table: &Table, starts: &[usize], window: usize) -> Vec<f32> {
    let rows = table.rows();
    let channels = table.n_channels();
    let valid = starts
        .iter()
        .filter(|&&s| window_rows(s, window, rows).is_some())
        .count();
    let mut out = Vec::with_capacity(valid * window * channels);
    for &start in starts {
        let values = window_rows(start, window, rows)
            .and_then(|r| table.values.get(r.start * channels..r.end * channels));
        if let Some(values) = values {
            out.extend_from_slice(values);
        }
    }
    out
}

/// For each window, 1 if any row in it is labelled anomalous (None if the table has no labels).
///
/// Starts whose window would run past the last row are skipped, as by [`gather`].
pub fn window_labels(table: &Table, starts: &[usize], window: usize) -> Option<Vec<u8>> {
    let labels = table.labels.as_ref()?;
    let rows = table.rows();
    Some(
        starts
            .iter()
            .filter_map(|&s| window_rows(s, window, rows))
            .map(|r| u8::from(labels.get(r).is_some_and(|l| l.iter().any(|&x| x != 0))))
            .collect(),
    )
}

/// Per-channel normalisation: `normalised = (x - mean[c]) * scale[c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Mean of each channel.
    pub mean: Vec<f32>,
    /// Multiplier of each channel after subtracting the mean (1/std).
    pub scale: Vec<f32>,
}

impl Normalizer {
    /// mean 0, scale 1.
    pub fn identity(channels: usize) -> Self {
        Self {
            mean: vec![0.0; channels],
            scale: vec![1.0; channels],
        }
    }

    /// Mean and 1/std (population std, computed in f64) per channel over row-major `values`
    /// with `channels` columns. A channel with std below 1e-12 (constant) gets scale 1.0.
    /// Non-finite values are left out; a channel with no finite values gets mean 0, scale 1.
    pub fn fit(values: &[f32], channels: usize) -> Self {
        if channels == 0 {
            return Self::identity(0);
        }
        let mut count = vec![0u64; channels];
        let mut sum = vec![0f64; channels];
        for row in values.chunks(channels) {
            for ((&x, n), s) in row.iter().zip(&mut count).zip(&mut sum) {
                if x.is_finite() {
                    *n += 1;
                    *s += f64::from(x);
                }
            }
        }
        let mean: Vec<f64> = sum
            .iter()
            .zip(&count)
            .map(|(&s, &n)| if n == 0 { 0.0 } else { s / n as f64 })
            .collect();
        let mut squares = vec![0f64; channels];
        for row in values.chunks(channels) {
            for ((&x, &m), sq) in row.iter().zip(&mean).zip(&mut squares) {
                if x.is_finite() {
                    let d = f64::from(x) - m;
                    *sq += d * d;
                }
            }
        }
        let scale = squares
            .iter()
            .zip(&count)
            .map(|(&sq, &n)| {
                let std = if n == 0 { 0.0 } else { (sq / n as f64).sqrt() };
                if std >= 1e-12 {
                    (1.0 / std) as f32
                } else {
                    1.0
                }
            })
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            scale,
        }
    }

    /// Normalises row-major `values` (any number of rows of `channels`, or of window*channels values: channel of
    /// element i is i % channels) in place.
    pub fn apply(&self, values: &mut [f32]) {
        let channels = self.mean.len();
        if channels == 0 {
            return;
        }
        for row in values.chunks_mut(channels) {
            for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = (*x - m) * s;
            }
        }
    }

    /// Inverse of apply; a channel whose scale is 0 maps back to its mean.
    pub fn invert(&self, values: &mut [f32]) {
        let channels = self.mean.len();
        if channels == 0 {
            return;
        }
        for row in values.chunks_mut(channels) {
            for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = if s == 0.0 { m } else { *x / s + m };
            }
        }
    }
}

/// True if every value lies in [0, 1] (data for a sigmoid output with binary cross-entropy).
/// NaN is not in range; an empty slice is.
pub fn is_unit_range(values: &[f32]) -> bool {
    values.iter().all(|v| (0.0..=1.0).contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn csv(text: &str) -> Result<Table> {
        load_csv_bytes(Path::new("x.csv"), text.as_bytes(), LoadOptions::default())
    }

    fn csv_err(text: &str) -> String {
        let msg = csv(text).unwrap_err().to_string();
        assert!(msg.contains("`x.csv`"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        msg
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("edgeae-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// An IDX header for `count` images of `h` x `w`, then `data`.
    fn idx(count: u32, h: u32, w: u32, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0x08, 3];
        for n in [count, h, w] {
            b.extend_from_slice(&n.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    fn idx_err(bytes: &[u8]) -> String {
        let msg = load_idx_bytes(Path::new("img.idx"), bytes)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`img.idx`"), "{msg}");
        msg
    }

    fn table(rows: usize, channels: usize, labels: Option<Vec<u8>>) -> Table {
        Table {
            path: PathBuf::from("t.csv"),
            source: Source::Csv,
            channels: (0..channels).map(|c| format!("c{c}")).collect(),
            values: (0..rows * channels).map(|v| v as f32).collect(),
            labels,
        }
    }

    #[test]
    fn csv_with_timestamp_channels_and_label() {
        let t = csv("timestamp,accel_x,accel_y,is_anomaly\n0,1.5,-2,0\n1,3,4e1,1\n2,0.25,5,0.0\n")
            .unwrap();
        assert_eq!(t.path, PathBuf::from("x.csv"));
        assert_eq!(t.source, Source::Csv);
        assert_eq!(t.channels, ["accel_x", "accel_y"]);
        assert_eq!(t.values, [1.5, -2.0, 3.0, 40.0, 0.25, 5.0]);
        assert_eq!(t.labels, Some(vec![0, 1, 0]));
        assert_eq!(t.rows(), 3);
        assert_eq!(t.n_channels(), 2);
        assert_eq!(t.row(1), Some(&[3.0, 40.0][..]));
        assert_eq!(t.row(3), None);
        assert_eq!(t.row(usize::MAX), None);
    }

    #[test]
    fn csv_names_are_trimmed_and_special_names_ignore_case() {
        let t = csv(" TimeStamp , a ,  Label \n1, 2 ,1.0\n2,3, 1e0 \n3,4,-0\n").unwrap();
        assert_eq!(t.channels, ["a"]);
        assert_eq!(t.values, [2.0, 3.0, 4.0]);
        assert_eq!(t.labels, Some(vec![1, 1, 0]));
    }

    #[test]
    fn csv_without_label_column_has_no_labels() {
        let t = csv("a,b\n1,2\n").unwrap();
        assert_eq!(t.labels, None);
        assert_eq!(t.channels, ["a", "b"]);
    }

    #[test]
    fn csv_quotes_crlf_bom_and_blank_lines() {
        let t = load_csv_bytes(
            Path::new("x.csv"),
            b"\xef\xbb\xbf\"a\",b\r\n\"1\",2\r\n\r\n   \r\n3,\" 4 \"\r\n\n",
            LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(t.channels, ["a", "b"]);
        assert_eq!(t.values, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn csv_line_numbers_count_blank_lines() {
        let msg = csv_err("a,b\n1,2\n\n3,x\n");
        assert_eq!(msg, "`x.csv`: line 4, column 2 (`b`): `x` is not a number");
    }

    #[test]
    fn csv_line_numbers_with_crlf_cr_quotes_and_leading_blank_lines() {
        let cases = [
            ("a,b\r\n1,2\r\n\r\n\r\n3,x\r\n", 5),
            ("a,b\r\n1,x\r\n", 2),
            ("a,b\r1,2\r\r3,x\r", 4),
            ("\n\na,b\n1,2\n   \n3,x\n", 6),
            ("a,b\n\"1\n\n\",2\n3,x\n", 5),
            ("a,b\n1,2\n  \n\n\t\n3,4\n5,x", 7),
        ];
        for (text, line) in cases {
            let msg = csv_err(text);
            assert_eq!(
                msg,
                format!("`x.csv`: line {line}, column 2 (`b`): `x` is not a number"),
                "{text:?}"
            );
        }
        let msg = csv_err("\r\n\r\na,a\n1,2\n");
        assert!(msg.contains("columns 1 and 2"), "{msg}");
        let msg = csv_err("\n\n,a\n1,2\n");
        assert!(msg.contains("line 3, column 1 has no name"), "{msg}");
        let msg = csv_err("a,b\r\n1,2\r\n\r\n3\r\n");
        assert!(msg.contains("line 4 has 1 field"), "{msg}");
    }

    #[test]
    fn csv_empty_file() {
        for text in ["", "  \n\n\t\r\n"] {
            assert_eq!(
                csv_err(text),
                "`x.csv` is empty: expected a header row and data rows"
            );
        }
    }

    #[test]
    fn csv_header_without_rows() {
        for text in ["a,b", "a,b\n", "a,b\n\n  \n"] {
            assert_eq!(csv_err(text), "`x.csv` has a header but no data rows");
        }
    }

    #[test]
    fn csv_without_channel_columns() {
        let msg = csv_err("timestamp,is_anomaly\n1,0\n");
        assert!(msg.contains("no sensor channel columns"), "{msg}");
    }

    #[test]
    fn csv_field_count_mismatch() {
        let msg = csv_err("a,b,c\n1,2,3\n4,5\n");
        assert_eq!(
            msg,
            "`x.csv`: line 3 has 2 fields, expected 3 like the header"
        );
        let msg = csv_err("a,b\n1,2\n1,2,3\n");
        assert!(msg.contains("line 3 has 3 fields, expected 2"), "{msg}");
        let msg = csv_err("a,b,c\n1\n");
        assert!(msg.contains("line 2 has 1 field, expected 3"), "{msg}");
    }

    #[test]
    fn csv_non_numeric_cell() {
        let mut text = String::from("timestamp,accel_x,accel_z\n");
        for i in 0..10 {
            text.push_str(&format!("{i},1,2\n"));
        }
        text.push_str("10,1,abc\n");
        assert_eq!(
            csv_err(&text),
            "`x.csv`: line 12, column 3 (`accel_z`): `abc` is not a number"
        );
    }

    #[test]
    fn csv_long_cell_is_shortened_in_message() {
        let long = "z".repeat(100);
        let msg = csv_err(&format!("a\n{long}\n"));
        assert!(
            msg.contains(&format!("`{}...` is not a number", "z".repeat(40))),
            "{msg}"
        );
    }

    #[test]
    fn csv_empty_cell_is_not_a_number() {
        let msg = csv_err("a,b\n1,2\n3,\n");
        assert_eq!(
            msg,
            "`x.csv`: line 3, column 2 (`b`): an empty cell is not a number"
        );
    }

    #[test]
    fn csv_bad_labels() {
        let mut text = String::from("t,a,b,is_anomaly\n");
        for _ in 0..5 {
            text.push_str("0,1,2,0\n");
        }
        text.push_str("0,1,2,2\n");
        assert_eq!(
            csv_err(&text),
            "`x.csv`: line 7, column 4 (`is_anomaly`): label `2` must be 0 or 1"
        );
        let msg = csv_err("a,label\n1,0.5\n");
        assert!(
            msg.contains("line 2, column 2 (`label`): label `0.5` must be 0 or 1"),
            "{msg}"
        );
        let msg = csv_err("a,label\n1,yes\n");
        assert!(
            msg.contains("line 2, column 2 (`label`): label `yes`"),
            "{msg}"
        );
        let msg = csv_err("a,label\n1,nan\n");
        assert!(msg.contains("label `nan` must be 0 or 1"), "{msg}");
        let msg = csv_err("a,label\n1,0\n2,\n");
        assert!(
            msg.contains("line 3, column 2 (`label`): the label is empty"),
            "{msg}"
        );
    }

    #[test]
    fn csv_duplicate_columns() {
        let msg = csv_err("a,b,a\n1,2,3\n");
        assert_eq!(
            msg,
            "`x.csv`: columns 1 and 3 of the header are both named `a`, expected unique column names"
        );
        // Duplicates are found after trimming.
        let msg = csv_err("a, b ,b\n1,2,3\n");
        assert!(msg.contains("columns 2 and 3"), "{msg}");
    }

    #[test]
    fn csv_two_label_columns() {
        let msg = csv_err("is_anomaly,a,Label\n0,1,0\n");
        assert!(msg.contains("two label columns"), "{msg}");
        assert!(msg.contains("column 1 (`is_anomaly`)"), "{msg}");
        assert!(msg.contains("column 3 (`Label`)"), "{msg}");
    }

    #[test]
    fn csv_unnamed_column() {
        let msg = csv_err(",a\n0,1\n");
        assert!(msg.contains("line 1, column 1 has no name"), "{msg}");
    }

    #[test]
    fn csv_non_utf8() {
        let opts = LoadOptions::default();
        let msg = load_csv_bytes(Path::new("x.csv"), b"a,b\n1,2\n3,\xff\n", opts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "`x.csv`: line 3, column 2 (`b`): the cell is not valid UTF-8 text, expected a number"
        );
        let msg = load_csv_bytes(Path::new("x.csv"), b"a,\xc3\n1,2\n", opts)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("`x.csv`: line 1, column 2"), "{msg}");
        assert!(msg.contains("UTF-8"), "{msg}");
        // A timestamp column is never decoded, so odd bytes there are fine.
        let t = load_csv_bytes(Path::new("x.csv"), b"timestamp,a\n\xff,1\n", opts).unwrap();
        assert_eq!(t.values, [1.0]);
    }

    #[test]
    fn csv_non_finite_cells() {
        for cell in ["nan", "NaN", "inf", "-inf", "infinity", "1e40"] {
            let text = format!("a,b\n1,2\n3,{cell}\n");
            let msg = csv_err(&text);
            assert_eq!(
                msg,
                format!(
                    "`x.csv`: line 3, column 2 (`b`): `{cell}` is not a finite number, expected a finite value"
                )
            );
            let opts = LoadOptions {
                allow_non_finite: true,
            };
            let t = load_csv_bytes(Path::new("x.csv"), text.as_bytes(), opts).unwrap();
            assert_eq!(t.values.len(), 4);
            assert!(!t.values[3].is_finite());
        }
    }

    #[test]
    fn load_reads_plain_and_gzipped_csv_from_files() {
        let text = b"timestamp,a,label\n0,1,0\n1,2,1\n";
        let plain = temp_path("plain.csv");
        std::fs::write(&plain, text).unwrap();
        let t = load(&plain, LoadOptions::default()).unwrap();
        assert_eq!(t.values, [1.0, 2.0]);
        assert_eq!(t.labels, Some(vec![0, 1]));
        assert_eq!(t.path, plain);
        // Gzip is detected by content: this name says nothing about it.
        let gz = temp_path("gz.csv");
        std::fs::write(&gz, gzip(text)).unwrap();
        let g = load(&gz, LoadOptions::default()).unwrap();
        assert_eq!(g.values, t.values);
        assert_eq!(g.labels, t.labels);
    }

    #[test]
    fn load_errors_name_the_file() {
        let missing = temp_path("missing.csv");
        let msg = load(&missing, LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(&format!("cannot read `{}`", missing.display())),
            "{msg}"
        );

        let mut corrupt = gzip(b"a\n1\n");
        let n = corrupt.len();
        corrupt[n / 2] ^= 0xff;
        corrupt.truncate(n - 3);
        let msg = load_bytes(Path::new("bad.gz"), &corrupt, LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("`bad.gz` is not valid gzip data"), "{msg}");

        let msg = load_bytes(Path::new("e.gz"), &gzip(b""), LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "`e.gz` is empty: expected a header row and data rows");
    }

    #[test]
    fn idx_images() {
        let bytes = idx(2, 2, 3, &[0, 255, 51, 102, 153, 204, 1, 2, 3, 4, 5, 6]);
        let t = load_idx_bytes(Path::new("img.idx"), &bytes).unwrap();
        assert_eq!(
            t.source,
            Source::Idx {
                width: 3,
                height: 2
            }
        );
        assert_eq!(t.channels, ["px0", "px1", "px2", "px3", "px4", "px5"]);
        assert_eq!(t.rows(), 2);
        assert_eq!(t.labels, None);
        assert_eq!(t.row(0).unwrap(), [0.0, 1.0, 0.2, 0.4, 0.6, 0.8]);
        assert_eq!(t.values[6], 1.0 / 255.0);
        assert!(is_unit_range(&t.values));
        // Detected by content, plain and gzipped, whatever the name.
        for b in [bytes.clone(), gzip(&bytes)] {
            let u = load_bytes(Path::new("data.csv"), &b, LoadOptions::default()).unwrap();
            assert_eq!(u.values, t.values);
            assert_eq!(u.source, t.source);
        }
    }

    #[test]
    fn idx_errors() {
        let mut labels = vec![0, 0, 0x08, 1];
        labels.extend_from_slice(&3u32.to_be_bytes());
        labels.extend_from_slice(&[1, 2, 3]);
        let msg = idx_err(&labels);
        assert!(msg.contains("label file"), "{msg}");
        // Through `load_bytes`, too.
        let msg = load_bytes(Path::new("l.idx"), &gzip(&labels), LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("`l.idx` is an IDX label file"), "{msg}");

        let mut floats = idx(1, 1, 1, &[0, 0, 0, 0]);
        floats[2] = 0x0d;
        let msg = idx_err(&floats);
        assert!(msg.contains("type 0x0d (32-bit float)"), "{msg}");
        floats[2] = 0x42;
        assert!(idx_err(&floats).contains("0x42"));

        let msg = idx_err(&idx(2, 2, 2, &[0; 7]));
        assert!(msg.contains("(8 bytes), but 7 bytes follow"), "{msg}");
        let msg = idx_err(&idx(2, 2, 2, &[0; 10]));
        assert!(msg.contains("has 2 extra bytes after"), "{msg}");

        let msg = idx_err(&idx(2, 2, 2, &[])[..9]);
        assert!(
            msg.contains("header is truncated: expected 16 bytes, found 9"),
            "{msg}"
        );
        assert!(idx_err(&[0, 0]).contains("too short"));
        assert!(idx_err(&idx(0, 2, 2, &[])).contains("no images"));
        assert!(idx_err(&idx(1, 0, 2, &[])).contains("0 x 2"));

        let mut two_d = vec![0, 0, 0x08, 2];
        two_d.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 7]);
        assert!(idx_err(&two_d).contains("2 dimensions"));
        assert!(idx_err(&[1, 0, 8, 3]).contains("not an IDX file"));

        let huge = idx(u32::MAX, u32::MAX, u32::MAX, &[1, 2, 3]);
        let msg = idx_err(&huge);
        assert!(msg.contains("follow") || msg.contains("too large"), "{msg}");
    }

    #[test]
    fn fashion_mnist_t10k() {
        let path = Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
        if !path.exists() {
            // scripts/test installs Debian's dataset-fashion-mnist: in CI a
            // missing file is a failure, not a skip.
            assert!(
                std::env::var_os("CI").is_none(),
                "{} is missing: scripts/test installs dataset-fashion-mnist",
                path.display()
            );
            eprintln!("skipping: {} is not installed", path.display());
            return;
        }
        let t = load(path, LoadOptions::default()).unwrap();
        assert_eq!(t.rows(), 10_000);
        assert_eq!(t.n_channels(), 784);
        assert_eq!(
            t.source,
            Source::Idx {
                width: 28,
                height: 28
            }
        );
        assert_eq!(t.channels.last().map(String::as_str), Some("px783"));
        assert!(is_unit_range(&t.values));
        assert!(t.values.iter().any(|&v| v > 0.0));
        assert!(t.values.contains(&1.0));
    }

    #[test]
    fn window_starts_examples() {
        let p = Path::new("x.csv");
        assert_eq!(window_starts(p, 5, 2, 2).unwrap(), [0, 2]);
        assert_eq!(window_starts(p, 5, 2, 1).unwrap(), [0, 1, 2, 3]);
        assert_eq!(window_starts(p, 6, 2, 2).unwrap(), [0, 2, 4]);
        assert_eq!(window_starts(p, 4, 4, 3).unwrap(), [0]);
        assert_eq!(window_starts(p, 10, 3, 4).unwrap(), [0, 4]);
        assert_eq!(window_starts(p, 1, 1, 1).unwrap(), [0]);
    }

    #[test]
    fn window_starts_errors() {
        let p = Path::new("x.csv");
        assert_eq!(
            window_starts(p, 50, 64, 1).unwrap_err().to_string(),
            "window of 64 rows is longer than the data in `x.csv` (50 rows)"
        );
        assert_eq!(
            window_starts(p, 1, 2, 1).unwrap_err().to_string(),
            "window of 2 rows is longer than the data in `x.csv` (1 row)"
        );
        let msg = window_starts(p, 5, 0, 1).unwrap_err().to_string();
        assert!(
            msg.contains("`x.csv`") && msg.contains("window is 0 rows"),
            "{msg}"
        );
        let msg = window_starts(p, 5, 2, 0).unwrap_err().to_string();
        assert!(
            msg.contains("`x.csv`") && msg.contains("hop is 0 rows"),
            "{msg}"
        );
        assert!(window_starts(p, 0, 1, 1).is_err());
    }

    #[test]
    fn gather_is_time_major() {
        // 5 rows x 3 channels: row r, channel c holds 3r + c.
        let t = table(5, 3, None);
        let starts = window_starts(&t.path, t.rows(), 2, 2).unwrap();
        assert_eq!(starts, [0, 2]);
        let g = gather(&t, &starts, 2);
        let expected = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];
        assert_eq!(g.len(), expected.len());
        for (i, (got, want)) in g.iter().zip(expected).enumerate() {
            assert_eq!(*got, want, "element {i}");
        }
        // Overlapping windows repeat rows.
        assert_eq!(
            gather(&t, &[3, 1], 2),
            [
                9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0
            ]
        );
        // Windows that run past the end are skipped, never a panic.
        assert_eq!(
            gather(&t, &[4, 3, usize::MAX], 2),
            [9.0, 10.0, 11.0, 12.0, 13.0, 14.0]
        );
        assert!(gather(&t, &[], 2).is_empty());
    }

    #[test]
    fn window_labels_mark_any_anomalous_row() {
        let t = table(6, 1, Some(vec![0, 0, 0, 1, 0, 0]));
        assert_eq!(window_labels(&t, &[0, 2, 4], 2), Some(vec![0, 1, 0]));
        assert_eq!(
            window_labels(&t, &[0, 1, 2, 3, 4], 2),
            Some(vec![0, 0, 1, 1, 0])
        );
        assert_eq!(window_labels(&t, &[0], 6), Some(vec![1]));
        assert_eq!(window_labels(&t, &[5, 0], 2), Some(vec![0]));
        assert_eq!(window_labels(&table(6, 1, None), &[0], 2), None);
    }

    #[test]
    fn normalizer_identity() {
        let n = Normalizer::identity(2);
        assert_eq!(n.mean, [0.0, 0.0]);
        assert_eq!(n.scale, [1.0, 1.0]);
        let mut v = [1.5, -2.0, 3.0];
        n.apply(&mut v);
        assert_eq!(v, [1.5, -2.0, 3.0]);
    }

    #[test]
    fn normalizer_fit_known_values() {
        // Channel 0: 2 4 4 4 5 5 7 9 (mean 5, std 2); channel 1 constant.
        let col = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let values: Vec<f32> = col.iter().flat_map(|&x| [x, 3.25]).collect();
        let n = Normalizer::fit(&values, 2);
        assert_eq!(n.mean, [5.0, 3.25]);
        assert_eq!(n.scale, [0.5, 1.0]);

        // 1 2 3 4: mean 2.5, population variance 1.25.
        let n = Normalizer::fit(&[1.0, 2.0, 3.0, 4.0], 1);
        assert_eq!(n.mean, [2.5]);
        assert_eq!(n.scale, [(1.0 / 1.25f64.sqrt()) as f32]);

        let mut v = values.clone();
        Normalizer::fit(&values, 2).apply(&mut v);
        let want: Vec<f32> = col.iter().flat_map(|&x| [(x - 5.0) * 0.5, 0.0]).collect();
        assert_eq!(v, want);
    }

    #[test]
    fn normalizer_edge_cases() {
        assert_eq!(Normalizer::fit(&[], 0), Normalizer::identity(0));
        assert_eq!(Normalizer::fit(&[], 2), Normalizer::identity(2));
        // Non-finite values are left out of the statistics.
        let n = Normalizer::fit(&[1.0, f32::NAN, 3.0, f32::INFINITY], 2);
        assert_eq!(n.mean, [2.0, 0.0]);
        assert_eq!(n.scale, [1.0, 1.0]);
        // Mismatched lengths never panic.
        let odd = Normalizer {
            mean: vec![1.0, 2.0],
            scale: vec![2.0],
        };
        let mut v = [1.0, 1.0, 1.0];
        odd.apply(&mut v);
        odd.invert(&mut v);
        Normalizer::identity(0).apply(&mut v);
    }

    #[test]
    fn normalizer_apply_invert_round_trip_over_windows() {
        let values: Vec<f32> = (0..60)
            .map(|i| ((i * 37) % 23) as f32 * 0.7 - 5.0)
            .collect();
        let n = Normalizer::fit(&values, 3);
        // Windows of 4 rows: element i belongs to channel i % 3.
        let mut v = values.clone();
        n.apply(&mut v);
        for (i, (&x, &orig)) in v.iter().zip(&values).enumerate() {
            let c = i % 3;
            assert_eq!(x, (orig - n.mean[c]) * n.scale[c]);
        }
        n.invert(&mut v);
        for (a, b) in v.iter().zip(&values) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let zero = Normalizer {
            mean: vec![7.0],
            scale: vec![0.0],
        };
        let mut v = [0.0, 3.0];
        zero.invert(&mut v);
        assert_eq!(v, [7.0, 7.0]);
    }

    #[test]
    fn unit_range() {
        assert!(is_unit_range(&[0.0, 0.5, 1.0]));
        assert!(is_unit_range(&[]));
        assert!(!is_unit_range(&[0.0, 1.0001]));
        assert!(!is_unit_range(&[-0.1]));
        assert!(!is_unit_range(&[f32::NAN]));
    }

    /// Mangled inputs give errors, never panics, and every error names the file.
    #[test]
    fn mangled_inputs_never_panic() {
        let seeds: [&[u8]; 4] = [
            b"timestamp,a,b,is_anomaly\n0,1,2,0\n1,3,4,1\n",
            b"a,\"b\"\r\n1,\"2\"\r\n\r\n",
            &idx(2, 2, 2, &[1, 2, 3, 4, 5, 6, 7, 8]),
            &gzip(&idx(1, 2, 2, &[9, 8, 7, 6])),
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..4000 {
            let mut bytes = seeds[round % seeds.len()].to_vec();
            for _ in 0..=next() % 4 {
                let r = next();
                let at = (r >> 8) as usize % (bytes.len() + 1);
                match r % 3 {
                    0 if at < bytes.len() => bytes[at] = (r >> 32) as u8,
                    1 => {
                        let pool = b"\0\r\n,\"\xff0.1e ";
                        bytes.insert(at, pool[(r >> 40) as usize % pool.len()]);
                    }
                    _ => bytes.truncate(at),
                }
            }
            let opts = LoadOptions {
                allow_non_finite: round % 2 == 0,
            };
            for result in [
                load_bytes(Path::new("fz.dat"), &bytes, opts),
                load_csv_bytes(Path::new("fz.dat"), &bytes, opts),
                load_idx_bytes(Path::new("fz.dat"), &bytes),
            ] {
                match result {
                    Ok(t) => {
                        assert_eq!(t.values.len(), t.rows() * t.n_channels());
                        if let Some(l) = &t.labels {
                            assert_eq!(l.len(), t.rows());
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        assert!(msg.contains("`fz.dat`"), "{msg}");
                        assert!(!msg.contains('\n'), "{msg}");
                    }
                }
            }
        }
    }
}
