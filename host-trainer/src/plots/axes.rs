//! Axes: value bounds, linear and logarithmic ticks and their labels.

use std::ops::Range;

use anyhow::Result;

use super::*;

/// Running min/max of the values seen.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl Bounds {
    pub(super) fn empty() -> Self {
        Bounds {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }

    pub(super) fn add(&mut self, v: f64) {
        self.lo = self.lo.min(v);
        self.hi = self.hi.max(v);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lo > self.hi
    }

    /// A drawable linear range: `margin` (a fraction of the span) added on
    /// both sides; a degenerate span padded; 0..1 when nothing was seen.
    pub(super) fn linear(&self, margin: f64) -> Range<f64> {
        if self.is_empty() {
            return 0.0..1.0;
        }
        let span = self.hi - self.lo;
        let mag = self.lo.abs().max(self.hi.abs());
        if span <= mag * 1e-9 || span < 1e-300 {
            let pad = if mag > 1e-100 { mag * 0.1 } else { 0.5 };
            return (self.lo - pad)..(self.hi + pad);
        }
        (self.lo - span * margin)..(self.hi + span * margin)
    }

    /// A drawable log10 axis over positive values: the range and its
    /// labelled (bold) and light tick values. See [`log_axis`].
    pub(super) fn log_axis(&self) -> LogAxis {
        log_axis(self)
    }
}

/// A log10 axis: value range, labelled ticks, light grid lines.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LogAxis {
    pub(super) range: Range<f64>,
    pub(super) bold: Vec<f64>,
    pub(super) light: Vec<f64>,
}

/// The values `m * 10^k` (m from `mults`, `k` integer, every `stride`-th
/// decade) whose log10 lies in `lo..=hi` (log10 space, a little slack).
pub(super) fn log_ticks(mults: &[f64], lo: f64, hi: f64, stride: i32) -> Vec<f64> {
    let mut out = Vec::new();
    for k in (lo.floor() as i32 - 1)..=(hi.ceil() as i32) {
        if k.rem_euclid(stride) != 0 {
            continue;
        }
        for &m in mults {
            let t = m * 10f64.powi(k);
            let lt = t.log10();
            if lt >= lo - 1e-9 && lt <= hi + 1e-9 {
                out.push(t);
            }
        }
    }
    out
}

/// Builds the log axis for `b` (positive values; 0.1..1 when empty): 5% of
/// the span (in decades) added on both sides, or ±0.15 decade for a single
/// value. Ticks are powers of ten over more than three decades (every
/// n-th decade over many), else 1-2-5 steps, else 1..9 steps; when even
/// those give fewer than two ticks, the range is widened to the nearest
/// 1..9 steps around it.
pub(super) fn log_axis(b: &Bounds) -> LogAxis {
    const ONE: [f64; 1] = [1.0];
    const ONE_TWO_FIVE: [f64; 3] = [1.0, 2.0, 5.0];
    const ALL: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let (mut lo, mut hi) = if b.is_empty() {
        (-1.0, 0.0)
    } else {
        (b.lo.log10(), b.hi.log10())
    };
    let span = hi - lo;
    if span < 1e-9 {
        lo -= 0.15;
        hi += 0.15;
    } else {
        lo -= span * 0.05;
        hi += span * 0.05;
    }
    // Keep clear of subnormal numbers (and of 0 and infinity).
    let (lo, hi) = (lo.clamp(-300.0, 299.0), hi.clamp(-299.0, 300.0));
    let (mut lo, mut hi) = (lo, if hi > lo { hi } else { lo + 0.3 });
    let decades = hi - lo;
    let (bold, light) = if decades > 3.0 {
        let stride = (decades / 8.0).ceil().max(1.0) as i32;
        let light = if stride > 1 {
            log_ticks(&ONE, lo, hi, 1)
        } else {
            log_ticks(&ALL, lo, hi, 1)
        };
        (log_ticks(&ONE, lo, hi, stride), light)
    } else {
        let light = log_ticks(&ALL, lo, hi, 1);
        let bold = log_ticks(&ONE_TWO_FIVE, lo, hi, 1);
        if bold.len() >= 3 {
            (bold, light)
        } else if light.len() >= 2 {
            (light.clone(), light)
        } else {
            let k = lo.floor();
            lo = ((10f64.powf(lo - k)).floor().clamp(1.0, 9.0) * 10f64.powi(k as i32)).log10();
            let k = hi.floor();
            hi = ((10f64.powf(hi - k)).ceil().clamp(1.0, 10.0) * 10f64.powi(k as i32)).log10();
            let ticks = log_ticks(&ALL, lo, hi, 1);
            (ticks.clone(), ticks)
        }
    };
    LogAxis {
        range: 10f64.powf(lo)..10f64.powf(hi),
        bold,
        light,
    }
}

/// Splits `points` into runs of consecutive usable points (`keep` decides
/// which are usable).
pub(super) fn segments(
    points: impl IntoIterator<Item = (f64, f64)>,
    keep: impl Fn(f64, f64) -> bool,
) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (x, y) in points {
        if keep(x, y) {
            cur.push((x, y));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Tick-label formatter for a linear axis over `range`: as many decimals
/// as the tick spacing needs, scientific notation for very large or very
/// small magnitudes.
pub(super) fn linear_formatter(range: &Range<f64>) -> impl Fn(&f64) -> String + use<> {
    let step = ((range.end - range.start).abs() / 10.0).max(1e-300);
    let mag = range.start.abs().max(range.end.abs());
    let scientific = !(1e-3..1e5).contains(&mag);
    let digits = if scientific {
        // mantissa decimals; one spare, as ticks may fall on half steps
        ((mag / step).log10().ceil() + 1.0).clamp(0.0, 6.0) as usize
    } else {
        ((-step.log10()).ceil() + 1.0).clamp(0.0, 8.0) as usize
    };
    move |v: &f64| {
        if v.abs() < step * 1e-6 {
            // a tick at zero, up to rounding
            "0".to_string()
        } else if scientific {
            fmt_scientific(*v, digits)
        } else {
            fmt_decimal(*v, digits)
        }
    }
}

/// `fmt` applied to eleven evenly spaced values of `range`: at least as wide
/// as the tick labels plotters will draw there.
pub(super) fn linear_samples(range: &Range<f64>, fmt: &dyn Fn(&f64) -> String) -> Vec<String> {
    (0..=10)
        .map(|i| fmt(&(range.start + (range.end - range.start) * f64::from(i) / 10.0)))
        .collect()
}

/// Width of a y label area holding `labels` at `size` px, the tick marks,
/// and with `desc` the rotated axis description.
pub(super) fn y_label_area(labels: &[String], size: f64, desc: bool) -> Result<u32> {
    let mut w = 0;
    for l in labels {
        w = w.max(text_size(l, size)?.0);
    }
    Ok((w + 16 + if desc { 28 } else { 0 }).max(30))
}

/// Tick-label formatter for a log axis: short decimals, scientific notation
/// outside 1e-3..1e5.
pub(super) fn log_label(v: &f64) -> String {
    let v = *v;
    if v <= 0.0 || !v.is_finite() {
        return String::new();
    }
    let e = v.log10().floor();
    if !(-3.0..5.0).contains(&e) {
        fmt_scientific(v, 2)
    } else {
        fmt_decimal(v, (2.0 - e).clamp(0.0, 6.0) as usize)
    }
}

/// `v` with `decimals` decimals, trailing zeros dropped, no "-0".
pub(super) fn fmt_decimal(v: f64, decimals: usize) -> String {
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" { "0".to_string() } else { s }
}

/// `v` in scientific notation with up to `digits` decimals in the mantissa
/// (trailing zeros dropped), e.g. `1.5e-5`.
pub(super) fn fmt_scientific(v: f64, digits: usize) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let s = format!("{v:.digits$e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if mantissa.contains('.') => {
            let m = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{exp}")
        }
        _ => s,
    }
}
