//! Streaming a table through [`firmware::Stream`] (the code a board runs):
//! one row per window, with its score, alarm state and label.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use firmware::{Event, Model, Stream};

use firmware::stream::{SampleFault, WindowFault};

use firmware::scoring::Thresholds;

use crate::data::{LoadOptions, Table};

/// How scoring loads data: NaN and infinite cells are faults to report,
/// not errors.
pub const STREAM: LoadOptions = LoadOptions {
    allow_non_finite: true,
};

/// Streams `table`, refusing data too short for one window.
pub fn stream(model: &Model<'_>, table: &Table, data_path: &Path) -> Result<Scored> {
    let window = model.input().window as usize;
    if table.rows() < window {
        bail!(
            "`{}` has {} rows, fewer than one window of the model ({window} rows)",
            data_path.display(),
            table.rows()
        );
    }
    score_table(model, table, None)
}

/// Labels of the windows, from the table's row labels.
pub fn label_windows(scored: &mut Scored, table: &Table) {
    if let Some(labels) = table.labels.as_deref() {
        for w in &mut scored.windows {
            w.label = Some(u8::from(
                labels
                    .get(w.start..w.end)
                    .is_some_and(|r| r.iter().any(|&x| x != 0)),
            ));
        }
    }
}

/// One window of a scored stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRow {
    /// First row of the window.
    pub start: usize,
    /// One past its last row.
    pub end: usize,
    /// Reconstruction error (NaN for a fault window).
    pub score: f32,
    /// Smoothed score after the window (NaN before the first scored window).
    pub smoothed: f32,
    /// Alarm state after the window.
    pub alarm: bool,
    /// Why the window was not scored.
    pub fault: Option<WindowFault>,
    /// 1 if a row of the window is labelled anomalous (labelled input only).
    pub label: Option<u8>,
}

/// A whole data file streamed through a model.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// Every window, in stream order.
    pub windows: Vec<WindowRow>,
    /// Frames with unusable samples.
    pub faults: Vec<SampleFault>,
    /// Wall time of the streaming, in seconds.
    pub seconds: f64,
}

impl Scored {
    /// Windows that got a score.
    pub fn scored(&self) -> impl Iterator<Item = &WindowRow> {
        self.windows.iter().filter(|w| w.fault.is_none())
    }

    /// Times the alarm was raised.
    pub fn alarms_raised(&self) -> usize {
        let mut on = false;
        let mut raised = 0;
        for w in &self.windows {
            if w.alarm && !on {
                raised += 1;
            }
            on = w.alarm;
        }
        raised
    }
}

/// Streams every row of `table` through `model` with the firmware's
/// [`Stream`] (the thresholds in `thresholds`, or the model's), as a board
/// would receive it.
pub fn score_table(
    model: &Model<'_>,
    table: &Table,
    thresholds: Option<Thresholds>,
) -> Result<Scored> {
    let mut scratch = vec![0.0f32; Stream::scratch_len(model)];
    let mut stream = Stream::new(model, &mut scratch)?;
    if let Some(t) = thresholds {
        stream.set_thresholds(t);
    }
    let labels = table.labels.as_deref();
    let mut out = Scored::default();
    let t0 = std::time::Instant::now();
    stream.push_samples(&table.values, |e| match e {
        Event::Fault(f) => out.faults.push(f),
        Event::Window(w) => {
            let (start, end) = (w.start as usize, w.end as usize);
            out.windows.push(WindowRow {
                start,
                end,
                score: w.score,
                smoothed: w.verdict.smoothed,
                alarm: w.verdict.alarm,
                fault: w.fault,
                label: labels.map(|l| {
                    u8::from(l.get(start..end).is_some_and(|r| r.iter().any(|&x| x != 0)))
                }),
            });
        }
    });
    out.seconds = t0.elapsed().as_secs_f64();
    Ok(out)
}

/// Writes `scores.csv`: `start,end,score,alarm,smoothed,fault` and `label`
/// when the input had labels. A fault window has an empty score and the
/// fault named (`sample` or `overflow`).
pub fn write_scores(path: &Path, scored: &Scored) -> Result<()> {
    let labelled = scored.windows.first().is_some_and(|w| w.label.is_some());
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["start", "end", "score", "alarm", "smoothed", "fault"];
    if labelled {
        header.push("label");
    }
    w.write_record(&header)?;
    for r in &scored.windows {
        let mut rec = vec![
            r.start.to_string(),
            r.end.to_string(),
            if r.score.is_finite() {
                r.score.to_string()
            } else {
                String::new()
            },
            u8::from(r.alarm).to_string(),
            if r.smoothed.is_finite() {
                r.smoothed.to_string()
            } else {
                String::new()
            },
            match r.fault {
                None => String::new(),
                Some(WindowFault::BadSample { .. }) => "sample".into(),
                Some(WindowFault::Overflow) => "overflow".into(),
            },
        ];
        if let Some(l) = r.label {
            rec.push(l.to_string());
        }
        w.write_record(&rec)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| anyhow!("cannot write CSV: {e}"))?;
    crate::data::files::write_atomic(path, &bytes).context("cannot write the scores")
}
