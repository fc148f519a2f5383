//! From reconstructions to alarms: the window error, the smoothed score with
//! a hysteresis alarm, and threshold calibration.
//!
//! The host (`edgeae score`, `calibrate`, `eval`, and the calibration at the
//! end of `edgeae train`) calls these same functions, so a threshold set on
//! the desktop and one re-calibrated on the board from the same windows are
//! the same number, and a score is the same f32 on both.
//!
//! # The alarm
//!
//! Each scored window's error `e` goes through an exponential moving
//! average, `s ← s + α·(min(e, 2·threshold) − s)` (`α` is
//! [`ScoringSpec::smoothing`]; the first window sets `s = min(e, 2·threshold)`).
//! The alarm is raised when `s > threshold` and cleared when
//! `s < clear_threshold`. Capping the input at [`SATURATION`] × threshold
//! bounds how long one enormous window can hold the alarm after the signal
//! is normal again, and with `α ≤ 0.5` a window must be at least twice the
//! threshold to raise the alarm alone. A non-finite error (an input so far
//! out of range that the arithmetic overflowed) is never fed to the average.

use core::fmt;

use model_format::{Calibration, Metric, Quant, ScoringSpec};

use crate::ops::int8::dequantize;

/// The smoothed score's input is capped at this multiple of the threshold.
pub const SATURATION: f32 = 2.0;

/// Reconstruction error of one window, in normalised units, as `metric`
/// says: the mean over the window of `(x − y)²` (MSE), `|x − y|` (MAE),
/// `w[c]·(x − y)²` with `c` the value's channel (weighted MSE, computed as
/// `(w[c]·d)·d` with `d = x − y`), or `w[i]·(x − y)²` with `i` the value's
/// index in the window (standardized, computed as `d = x − y`, then
/// `w[i]·(d·d)`).
///
/// Summed in f32 in index order, then divided by the number of values, so
/// the host and a board get the same bits. `input` and `output` (and the
/// standardized weights) have the same length in a validated model; extra
/// values of a longer one are ignored. Returns 0 for an empty window.
pub fn window_error(metric: &Metric<'_>, channels: usize, input: &[f32], output: &[f32]) -> f32 {
    error_of_differences(
        metric,
        channels,
        input.iter().zip(output).map(|(x, y)| x - y),
    )
}

/// [`window_error`] of the differences `d = x − y`, in index order.
fn error_of_differences(
    metric: &Metric<'_>,
    channels: usize,
    differences: impl Iterator<Item = f32>,
) -> f32 {
    let channels = channels.max(1);
    let mut n = 0usize;
    let mut sum = 0.0f32;
    for (i, d) in differences.enumerate() {
        n += 1;
        sum += match metric {
            Metric::Mse => d * d,
            Metric::Mae => d.abs(),
            Metric::WeightedMse(w) => w.get(i % channels).map_or(0.0, |w| w * d * d),
            Metric::Standardized(w) => w.get(i).map_or(0.0, |w| w * (d * d)),
        };
    }
    mean(sum, n)
}

/// `sum / n` in f32; 0 for no values.
fn mean(sum: f32, n: usize) -> f32 {
    if n == 0 { 0.0 } else { sum / n as f32 }
}

/// Reconstruction error of a window scored in int8 (SPEC.md 3.5,
/// [`crate::int8_window`]): `input` is the quantized window (quantization
/// `in_q`, the first layer's input), `output` the int8 reconstruction
/// (`out_q`, the last layer's output), in index order.
///
/// When the two share a scale `s` (the same bits; `edgeae export` makes
/// them so), each difference is the integer
/// `D = (x − in_q.zero_point) − (y − out_q.zero_point)` and the error is
/// exact up to its last roundings: `(ΣD² as f32 · (s·s)) / n` (MSE),
/// `(Σ|D| as f32 · s) / n` (MAE), with the sums in u64, or
/// `(Σ w·(D² as f32) · (s·s)) / n` with the weighted sum in f32 in index
/// order (`w` the value's channel weight for weighted MSE, its position
/// weight for standardized). Otherwise both sides are dequantized
/// (`(q − zero_point) · scale`) and the f32 rule of [`window_error`]
/// applies to `d = x − y`. Returns 0 for an empty window.
pub fn window_error_i8(
    metric: &Metric<'_>,
    channels: usize,
    input: impl Iterator<Item = i8>,
    in_q: &Quant,
    output: &[i8],
    out_q: &Quant,
) -> f32 {
    let pairs = input.zip(output.iter().copied());
    if in_q.scale.to_bits() != out_q.scale.to_bits() {
        let d = pairs.map(|(x, y)| dequantize(x, in_q) - dequantize(y, out_q));
        return error_of_differences(metric, channels, d);
    }
    let (zx, zy) = (i32::from(in_q.zero_point), i32::from(out_q.zero_point));
    let d =
        pairs.map(|(x, y)| u64::from(((i32::from(x) - zx) - (i32::from(y) - zy)).unsigned_abs()));
    let s = in_q.scale;
    let count = |(n, sum): (usize, u64), term: u64| (n + 1, sum + term);
    match metric {
        Metric::Mse => {
            let (n, sum) = d.map(|d| d * d).fold((0, 0), count);
            mean(sum as f32 * (s * s), n)
        }
        Metric::Mae => {
            let (n, sum) = d.fold((0, 0), count);
            mean(sum as f32 * s, n)
        }
        Metric::WeightedMse(w) | Metric::Standardized(w) => {
            let channels = match metric {
                Metric::WeightedMse(_) => channels.max(1),
                _ => usize::MAX,
            };
            let mut n = 0usize;
            let mut sum = 0.0f32;
            for (i, d) in d.enumerate() {
                n += 1;
                sum += w.get(i % channels).map_or(0.0, |w| w * (d * d) as f32);
            }
            mean(sum * (s * s), n)
        }
    }
}

/// A change of the alarm state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AlarmChange {
    /// The smoothed score rose above the threshold.
    Raised,
    /// The smoothed score fell below the clear threshold.
    Cleared,
}

/// What the scorer made of one window's error.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Verdict {
    /// The smoothed score after this window.
    pub smoothed: f32,
    /// Whether the alarm is on after this window.
    pub alarm: bool,
    /// Set when this window raised or cleared the alarm.
    pub change: Option<AlarmChange>,
}

/// The alarm thresholds and where they came from.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Thresholds {
    /// Raise the alarm above this smoothed score.
    pub threshold: f32,
    /// Clear it below this one (at most `threshold`).
    pub clear_threshold: f32,
    /// The error statistics they were set from, if calibrated.
    pub calibration: Option<Calibration>,
}

impl Thresholds {
    /// The thresholds a model file holds.
    pub fn of(spec: &ScoringSpec<'_>) -> Thresholds {
        Thresholds {
            threshold: spec.threshold,
            clear_threshold: spec.clear_threshold,
            calibration: spec.calibration,
        }
    }
}

/// Smoothing and hysteresis over a sequence of window errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scorer {
    thresholds: Thresholds,
    smoothing: f32,
    smoothed: Option<f32>,
    alarm: bool,
}

impl Scorer {
    /// A scorer with the model's thresholds and smoothing, alarm off.
    pub fn new(spec: &ScoringSpec<'_>) -> Scorer {
        Scorer {
            thresholds: Thresholds::of(spec),
            smoothing: spec.smoothing,
            smoothed: None,
            alarm: false,
        }
    }

    /// Replaces the thresholds (after an on-device calibration); the
    /// smoothed score and the alarm state are kept and re-judged on the next
    /// window.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Whether the alarm is on.
    pub fn alarm(&self) -> bool {
        self.alarm
    }

    /// The smoothed score, once a window has been scored.
    pub fn smoothed(&self) -> Option<f32> {
        self.smoothed
    }

    /// Forgets the smoothed score and clears the alarm.
    pub fn reset(&mut self) {
        self.smoothed = None;
        self.alarm = false;
    }

    /// Feeds one window's error. A non-finite error changes nothing and
    /// gives `None`.
    pub fn update(&mut self, error: f32) -> Option<Verdict> {
        if !error.is_finite() {
            return None;
        }
        let t = &self.thresholds;
        let capped = error.min(t.threshold * SATURATION);
        let s = match self.smoothed {
            None => capped,
            Some(s) => s + self.smoothing * (capped - s),
        };
        self.smoothed = Some(s);
        let change = if !self.alarm && s > t.threshold {
            self.alarm = true;
            Some(AlarmChange::Raised)
        } else if self.alarm && s < t.clear_threshold {
            self.alarm = false;
            Some(AlarmChange::Cleared)
        } else {
            None
        };
        Some(Verdict {
            smoothed: s,
            alarm: self.alarm,
            change,
        })
    }
}

/// Why a threshold could not be calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CalibrationError {
    /// No window errors were given.
    NoWindows,
    /// The error of window `index` is NaN or infinite.
    NonFinite {
        /// Position of the window among those given.
        index: usize,
    },
    /// The quantile is not in [0, 1].
    BadQuantile,
    /// The hysteresis factor is not in (0, 1].
    BadHysteresis,
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationError::NoWindows => write!(f, "no windows to calibrate on"),
            CalibrationError::NonFinite { index } => write!(
                f,
                "the error of calibration window {index} is not finite (a NaN or infinite sample)"
            ),
            CalibrationError::BadQuantile => write!(f, "the quantile must lie in [0, 1]"),
            CalibrationError::BadHysteresis => {
                write!(f, "the hysteresis factor must lie in (0, 1]")
            }
        }
    }
}

impl core::error::Error for CalibrationError {}

/// The `q` quantile of ascending `sorted` values, interpolated linearly
/// between the two nearest ranks (position `q·(n − 1)`, numpy's default).
/// `None` when `sorted` is empty.
pub fn quantile(sorted: &[f32], q: f64) -> Option<f32> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    // Truncation is the floor here: `pos` is finite and non-negative.
    let lo = (pos as usize).min(last);
    let hi = (lo + 1).min(last);
    let (a, b) = (f64::from(*sorted.get(lo)?), f64::from(*sorted.get(hi)?));
    Some((a + (b - a) * (pos - lo as f64)) as f32)
}

/// Sets the threshold at the `quantile` of the window errors in `errors`
/// (errors of normal windows; sorted in place) and the clear threshold at
/// `hysteresis` × threshold, and records the statistics.
///
/// A target false-positive rate `r` is the quantile `1 − r`. The errors of
/// normal windows are independent of the threshold, so a threshold
/// calibrated on the desktop and one calibrated on the board from the same
/// windows are equal.
pub fn calibrate(
    errors: &mut [f32],
    quantile_q: f32,
    hysteresis: f32,
) -> Result<Thresholds, CalibrationError> {
    if !(0.0..=1.0).contains(&quantile_q) {
        return Err(CalibrationError::BadQuantile);
    }
    if !(hysteresis > 0.0 && hysteresis <= 1.0) {
        return Err(CalibrationError::BadHysteresis);
    }
    if errors.is_empty() {
        return Err(CalibrationError::NoWindows);
    }
    if let Some(index) = errors.iter().position(|e| !e.is_finite()) {
        return Err(CalibrationError::NonFinite { index });
    }
    let n = errors.len() as f64;
    let mean = errors.iter().map(|&e| f64::from(e)).sum::<f64>() / n;
    let var = errors
        .iter()
        .map(|&e| (f64::from(e) - mean) * (f64::from(e) - mean))
        .sum::<f64>()
        / n;
    errors.sort_unstable_by(f32::total_cmp);
    let q = |p: f64| quantile(errors, p).unwrap_or(0.0);
    // Errors are non-negative; clamp so a negative zero or rounding cannot
    // give a threshold the model format refuses.
    let threshold = q(f64::from(quantile_q)).max(0.0);
    let calibration = Calibration {
        windows: u32::try_from(errors.len()).unwrap_or(u32::MAX),
        quantile: quantile_q,
        mean: mean.max(0.0) as f32,
        std: libm_sqrt(var) as f32,
        p50: q(0.5).max(0.0),
        p90: q(0.9).max(0.0),
        p99: q(0.99).max(0.0),
        max: errors.last().copied().unwrap_or(0.0).max(0.0),
    };
    Ok(Thresholds {
        threshold,
        clear_threshold: (threshold * hysteresis).min(threshold),
        calibration: Some(calibration),
    })
}

/// Square root without `std` (Newton's method on f64; exact to the last
/// bit or one below for the values here, and the same on every target).
fn libm_sqrt(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return 0.0;
    }
    if x.is_infinite() {
        return x;
    }
    // Start from a power of two near sqrt(x), then Newton converges
    // quadratically.
    let mut exp = 0i32;
    let mut m = x;
    while m >= 4.0 {
        m /= 4.0;
        exp += 1;
    }
    while m < 1.0 {
        m *= 4.0;
        exp -= 1;
    }
    let mut y = 1.5f64;
    for _ in 0..6 {
        y = 0.5 * (y + m / y);
    }
    let mut scale = 1.0f64;
    if exp >= 0 {
        for _ in 0..exp {
            scale *= 2.0;
        }
    } else {
        for _ in 0..-exp {
            scale /= 2.0;
        }
    }
    y * scale
}

/// Collects the errors of up to `N` windows the user declares normal, on
/// the device, and turns them into thresholds with [`calibrate`] (the math
/// the host uses).
#[derive(Debug, Clone)]
pub struct Calibrator<const N: usize> {
    errors: heapless::Vec<f32, N>,
    quantile: f32,
    hysteresis: f32,
}

impl<const N: usize> Calibrator<N> {
    /// A calibrator for the `quantile` (e.g. 0.99 for a 1% false-positive
    /// target) with the clear threshold at `hysteresis` × threshold.
    pub const fn new(quantile: f32, hysteresis: f32) -> Self {
        Calibrator {
            errors: heapless::Vec::new(),
            quantile,
            hysteresis,
        }
    }

    /// Records one window's error; returns `false` (and ignores it) when
    /// `N` errors are already held.
    pub fn push(&mut self, error: f32) -> bool {
        self.errors.push(error).is_ok()
    }

    /// Errors held so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when no error is held.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// True when `N` errors are held.
    pub fn is_full(&self) -> bool {
        self.errors.is_full()
    }

    /// The thresholds from the errors held (which are then sorted; call
    /// [`Calibrator::clear`] to start over).
    pub fn finish(&mut self) -> Result<Thresholds, CalibrationError> {
        calibrate(&mut self.errors, self.quantile, self.hysteresis)
    }

    /// Forgets the errors held.
    pub fn clear(&mut self) {
        self.errors.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(threshold: f32, clear: f32, smoothing: f32) -> ScoringSpec<'static> {
        ScoringSpec {
            threshold,
            clear_threshold: clear,
            smoothing,
            ..ScoringSpec::UNCALIBRATED
        }
    }

    #[test]
    fn metrics_match_their_definitions() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [0.0, 2.0, 5.0, 3.0];
        assert_eq!(
            window_error(&Metric::Mse, 2, &x, &y),
            (1.0 + 4.0 + 1.0) / 4.0
        );
        assert_eq!(
            window_error(&Metric::Mae, 2, &x, &y),
            (1.0 + 2.0 + 1.0) / 4.0
        );
        let w: [u8; 8] = [0, 0, 0, 0x40, 0, 0, 0x80, 0x3f]; // [2.0, 1.0]
        let m = Metric::WeightedMse(model_format::F32s::new(&w));
        // channel 0: d = 1, 2 (weight 2); channel 1: d = 0, 1 (weight 1).
        assert_eq!(
            window_error(&m, 2, &x, &y),
            (2.0 * 1.0 + 0.0 + 2.0 * 4.0 + 1.0) / 4.0
        );
        assert_eq!(window_error(&Metric::Mse, 2, &[], &[]), 0.0);
    }

    use model_format::build::f32_bytes as le;

    #[test]
    fn standardized_weighs_each_value_of_the_window() {
        // 2 channels x 2 frames, time-major: [t0c0, t0c1, t1c0, t1c1].
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [0.0, 2.5, 5.0, 3.0];
        // d = 1, -0.5, -2, 1; d² = 1, 0.25, 4, 1.
        let w = le(&[0.5, 4.0, 0.25, 3.0]);
        let m = Metric::Standardized(model_format::F32s::new(&w));
        // (0.5·1 + 4·0.25 + 0.25·4 + 3·1) / 4 = (0.5 + 1 + 1 + 3) / 4.
        assert_eq!(window_error(&m, 2, &x, &y), 1.375);
        // Weights are per position, not per channel: frame 1 weighs its
        // channels differently from frame 0 (weighted MSE with [0.5, 4]
        // would give (0.5 + 1 + 2 + 4) / 4).
        let per_channel = le(&[0.5, 4.0]);
        let wm = Metric::WeightedMse(model_format::F32s::new(&per_channel));
        assert_eq!(window_error(&wm, 2, &x, &y), 1.875);
        // Zero weights ignore a position; no values give 0.
        let zeros = le(&[0.0; 4]);
        let z = Metric::Standardized(model_format::F32s::new(&zeros));
        assert_eq!(window_error(&z, 2, &x, &y), 0.0);
        assert_eq!(window_error(&m, 2, &[], &[]), 0.0);
    }

    #[test]
    fn standardized_rounds_as_specified() {
        // Each term is w·(d·d), every operation rounded to f32. With
        // d = 1 + 2⁻¹² and w = 1 + 2⁻¹¹: d·d = 1 + 2⁻¹¹ + 2⁻²⁴ is a tie and
        // rounds to even, 1 + 2⁻¹¹; w·(d·d) = 1 + 2⁻¹⁰ + 2⁻²² is exact.
        // (w·d)·d would give 1 + 2⁻¹⁰ + 3·2⁻²³, one ulp more.
        let e = 1.0 / 4096.0;
        let x = [1.0 + e, 5.0];
        let y = [0.0, 5.0];
        let w = le(&[1.0 + 2.0 * e, 7.0]);
        let m = Metric::Standardized(model_format::F32s::new(&w));
        // (term + 7·0) / 2 = 0.5 + 2⁻¹¹ + 2⁻²³.
        assert_eq!(window_error(&m, 1, &x, &y).to_bits(), 0x3F00_2002);

        // Summed from +0 in index order: 1e8 first swallows each of the
        // eight 1s after it (the f32 spacing at 1e8 is 8); summing the 1s
        // first would give (1e8 + 8) / 9 = 11111112.
        let mut x = [1.0f32; 9];
        x[0] = 1e4;
        let w = le(&[1.0; 9]);
        let m = Metric::Standardized(model_format::F32s::new(&w));
        assert_eq!(window_error(&m, 1, &x, &[0.0; 9]), 11_111_111.0);
    }

    #[test]
    fn int8_errors_by_hand() {
        let x: [i8; 3] = [3, -2, 5];
        let y: [i8; 3] = [1, 0, 5];
        let xq = Quant {
            scale: 0.5,
            zero_point: 1,
        };
        let yq = Quant {
            scale: 0.5,
            zero_point: -1,
        };
        let e = |m: &Metric<'_>, yq: &Quant| window_error_i8(m, 1, x.iter().copied(), &xq, &y, yq);
        // Shared scale: D = (3 − 1) − (1 + 1), (−2 − 1) − (0 + 1), (5 − 1) − (5 + 1)
        // = 0, −4, −2; ΣD² = 20, Σ|D| = 6.
        assert_eq!(e(&Metric::Mse, &yq), 20.0 * 0.25 / 3.0);
        assert_eq!(e(&Metric::Mae, &yq), 1.0);
        let w = le(&[2.0, 0.5, 1.0]);
        let st = Metric::Standardized(model_format::F32s::new(&w));
        // 2·0 + 0.5·16 + 1·4 = 12, times 0.25, over 3.
        assert_eq!(e(&st, &yq), 1.0);
        // Another scale: dequantized first, x' = 1, −1.5, 2 and
        // y' = 0.5, 0.25, 1.5, so d = 0.5, −1.75, 0.5.
        let other = Quant {
            scale: 0.25,
            zero_point: -1,
        };
        assert_eq!(e(&Metric::Mse, &other), (0.25 + 3.0625 + 0.25) / 3.0);
        assert_eq!(e(&Metric::Mae, &other), 2.75 / 3.0);
        assert_eq!(
            window_error_i8(&Metric::Mse, 1, [].into_iter(), &xq, &[], &yq),
            0.0
        );
    }

    #[test]
    fn hysteresis_raises_above_and_clears_below() {
        let mut s = Scorer::new(&spec(1.0, 0.5, 1.0));
        let states: [(f32, bool, Option<AlarmChange>); 6] = [
            (0.2, false, None),
            (1.2, true, Some(AlarmChange::Raised)),
            (0.8, true, None), // between the thresholds: stays on
            (0.6, true, None),
            (0.4, false, Some(AlarmChange::Cleared)),
            (0.9, false, None), // below the raise level: stays off
        ];
        for (e, alarm, change) in states {
            let v = s.update(e).unwrap();
            assert_eq!((v.alarm, v.change), (alarm, change), "error {e}");
        }
    }

    #[test]
    fn smoothing_averages_and_caps() {
        let mut s = Scorer::new(&spec(1.0, 0.8, 0.5));
        assert_eq!(s.update(0.25).unwrap().smoothed, 0.25);
        // One window at 1.5x the threshold: 0.25 + 0.5 * (1.5 - 0.25), no alarm.
        let v = s.update(1.5).unwrap();
        assert_eq!((v.smoothed, v.alarm), (0.875, false));
        // An enormous window counts as twice the threshold: 0.875 + 0.5 * (2 - 0.875).
        let v = s.update(1e30).unwrap();
        assert_eq!((v.smoothed, v.alarm), (1.4375, true));
        // Two normal windows bring it back under the clear level.
        assert!(s.update(0.25).unwrap().alarm);
        let v = s.update(0.25).unwrap();
        assert!(!v.alarm && v.change == Some(AlarmChange::Cleared), "{v:?}");
    }

    #[test]
    fn non_finite_errors_change_nothing() {
        let mut s = Scorer::new(&spec(1.0, 0.8, 0.5));
        s.update(0.3);
        let before = s;
        assert_eq!(s.update(f32::NAN), None);
        assert_eq!(s.update(f32::INFINITY), None);
        assert_eq!(s, before);
    }

    #[test]
    fn uncalibrated_never_alarms() {
        let mut s = Scorer::new(&ScoringSpec::UNCALIBRATED);
        for e in [0.0, 1e3, f32::MAX] {
            assert!(!s.update(e).unwrap().alarm);
        }
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(5.0));
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        // numpy.quantile([1,2,3,4,5], 0.9) == 4.6
        assert!((quantile(&v, 0.9).unwrap() - 4.6).abs() < 1e-6);
        assert_eq!(quantile(&[7.0], 0.3), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn calibration_statistics() {
        let mut e: [f32; 100] = core::array::from_fn(|i| ((i * 37) % 100) as f32 / 100.0);
        let t = calibrate(&mut e, 0.99, 0.8).unwrap();
        let c = t.calibration.unwrap();
        assert!((t.threshold - 0.9801).abs() < 1e-6, "{}", t.threshold);
        assert!((t.clear_threshold - 0.9801 * 0.8).abs() < 1e-6);
        assert_eq!(c.windows, 100);
        assert!((c.mean - 0.495).abs() < 1e-6);
        // Population std of 0.00..0.99 = sqrt((100^2 - 1) / 12) / 100.
        assert!(
            (c.std - (9999.0f32 / 12.0).sqrt() / 100.0).abs() < 1e-6,
            "{}",
            c.std
        );
        assert!((c.p50 - 0.495).abs() < 1e-6);
        assert_eq!(c.max, 0.99);
    }

    #[test]
    fn calibration_errors() {
        assert_eq!(
            calibrate(&mut [], 0.99, 0.8),
            Err(CalibrationError::NoWindows)
        );
        assert_eq!(
            calibrate(&mut [1.0, f32::NAN], 0.99, 0.8),
            Err(CalibrationError::NonFinite { index: 1 })
        );
        assert_eq!(
            calibrate(&mut [1.0], 1.5, 0.8),
            Err(CalibrationError::BadQuantile)
        );
        assert_eq!(
            calibrate(&mut [1.0], 0.5, 0.0),
            Err(CalibrationError::BadHysteresis)
        );
    }

    #[test]
    fn sqrt_matches_std() {
        for x in [1e-12, 0.3, 1.0, 2.0, 12345.678, 1e20] {
            let r = libm_sqrt(x);
            assert!((r - x.sqrt()).abs() <= x.sqrt() * 4.0 * f64::EPSILON, "{x}");
        }
        assert_eq!(libm_sqrt(0.0), 0.0);
    }

    #[test]
    fn calibrator_is_calibrate() {
        let mut cal = Calibrator::<4>::new(0.9, 0.5);
        for e in [0.4, 0.1, 0.3, 0.2, 9.0] {
            cal.push(e);
        }
        assert!(cal.is_full());
        let mut same = [0.4, 0.1, 0.3, 0.2];
        assert_eq!(cal.finish(), calibrate(&mut same, 0.9, 0.5));
    }
}
