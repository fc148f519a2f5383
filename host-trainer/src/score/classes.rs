//! Classes per window of a classifier model, on the host: the same
//! [`firmware::Stream`] and the same [`firmware::classify::class_message`]
//! a board runs, so its rows are the board's `Class` responses.

use std::path::Path;

use anyhow::{Result, bail};
use firmware::{Event, Model, Stream};
use model_format::protocol::{Class, WindowFault};

use crate::data::Table;

/// The [`Class`] of every window of `table` (`seq` and `instructions` 0).
pub fn classify_table(model: &Model<'_>, table: &Table) -> Result<Vec<Class>> {
    if model.classes().is_none() {
        bail!(
            "the model is a {} autoencoder, not a classifier: it has no classes (train one with `edgeae train --kind classifier`)",
            model.kind().name()
        );
    }
    let mut scratch = vec![0.0f32; Stream::scratch_len(model)];
    let mut stream = Stream::new(model, &mut scratch)?;
    let mut rows = Vec::new();
    // One frame at a time, so each window's class is read before the next
    // window overwrites its logits.
    for frame in table.values.chunks(model.input().channels.max(1) as usize) {
        let mut window = None;
        stream.push_samples(frame, |e| {
            if let Event::Window(w) = e {
                window = Some(w);
            }
        });
        if let Some(w) = window {
            rows.push(firmware::classify::class_message(&stream, 0, &w, 0));
        }
    }
    Ok(rows)
}

/// Writes `classes.csv`: `window,class,confidence,fault` (a faulted
/// window has empty class and confidence, and the fault named).
pub fn write_classes(path: &Path, rows: &[Class]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["window", "class", "confidence", "fault"])?;
    for r in rows {
        let (class, confidence, fault) = match r.fault {
            WindowFault::None => (r.class.to_string(), r.confidence.to_string(), ""),
            WindowFault::Sample => (String::new(), String::new(), "sample"),
            WindowFault::Overflow => (String::new(), String::new(), "overflow"),
        };
        w.write_record([r.window.to_string(), class, confidence, fault.to_string()])?;
    }
    crate::data::files::write_atomic(path, &w.into_inner()?)
}
