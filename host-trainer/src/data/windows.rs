//! Model windows over a table: where they start, their values, their labels.

use std::ops::Range;
use std::path::Path;

use anyhow::{Result, bail};

use super::Table;
use super::csv::counted;

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
/// past the last row is skipped (as it is by `window_labels`).
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
