//! Scoring with the firmware's own code: the codings of windows
//! ([`codings`]), streaming data through
//! [`firmware::Stream`] ([`windows`]), calibrating thresholds
//! ([`calibrate`]), detection metrics ([`metrics`]) and evaluations on
//! labelled data beside a PCA baseline ([`evaluate`]).

pub mod calibrate;
pub mod classes;
pub mod codings;
pub mod evaluate;
pub mod metrics;
pub mod windows;

pub use calibrate::*;
pub use classes::{classify_table, write_classes};
pub use evaluate::*;
pub use windows::*;
