//! The CSV parser (see the [`super`] docs for the rules).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow, bail};

use super::{LoadOptions, Source, Table};

/// A UTF-8 byte order mark, skipped at the start of a CSV file.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
/// Cells longer than this many characters are shortened in error messages.
const SHOWN_CHARS: usize = 40;

/// What a CSV column is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A timestamp: read past.
    Ignored,
    /// A sensor channel: a number per row.
    Channel,
    /// The anomaly label: 0 or 1 per row.
    Label,
    /// The class column asked for (`edgeae embed --labels`): a whole
    /// number per row.
    Class,
}

/// Parses CSV text (see the module docs for the rules); `path` is used only
/// in messages. The bytes must not be compressed.
pub fn load_csv_bytes(path: &Path, bytes: &[u8], opts: LoadOptions) -> Result<Table> {
    load_csv_with_class(path, bytes, opts, None).map(|(table, _)| table)
}

/// Does what [`load_csv_bytes`] does, and with `class` reads the column of
/// that exact name as class labels instead of a channel:
/// one whole number from 0 to 65535 per row. The column must exist.
pub(crate) fn load_csv_with_class(
    path: &Path,
    bytes: &[u8],
    opts: LoadOptions,
    class: Option<&str>,
) -> Result<(Table, Vec<u16>)> {
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
    let (names, roles) = parse_header(path, &header, header_line, class)?;
    let channels: Vec<String> = names
        .iter()
        .zip(&roles)
        .filter(|(_, role)| **role == Role::Channel)
        .map(|(name, _)| name.clone())
        .collect();
    let has_label = roles.contains(&Role::Label);

    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut classes = Vec::new();
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
                Role::Class => parse_class(field).map(|k| classes.push(k)),
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
    let table = Table {
        path: path.to_path_buf(),
        source: Source::Csv,
        channels,
        values,
        labels: has_label.then_some(labels),
    };
    Ok((table, classes))
}

/// Checks the header row and says what each column is for.
fn parse_header(
    path: &Path,
    header: &csv::ByteRecord,
    line: u64,
    class: Option<&str>,
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
        let role = if class.is_some_and(|c| c == name) {
            Role::Class
        } else if name.eq_ignore_ascii_case("timestamp") {
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
    if let Some(class) = class
        && !roles.contains(&Role::Class)
    {
        bail!(
            "`{file}` has no column `{class}` for the class labels, expected one of its columns: {}",
            crate::text::preview(&names)
        );
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

/// Parses a class cell: a whole number from 0 to 65535 (`3` or `3.0`).
fn parse_class(field: &[u8]) -> Result<u16, String> {
    let Ok(text) = std::str::from_utf8(field) else {
        return Err("the class label is not valid UTF-8 text, expected a whole number".to_owned());
    };
    if text.is_empty() {
        return Err("the class label is missing, expected a whole number".to_owned());
    }
    match text.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&v) => Ok(v as u16),
        _ => Err(format!(
            "class label `{}` is not a whole number from 0 to 65535",
            shown(text)
        )),
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
pub(crate) fn counted(n: usize, what: &str) -> String {
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
