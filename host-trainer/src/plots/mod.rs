//! PNG plots for the `edgeae` CLI: loss curves, image grids (originals over
//! reconstructions), time-series windows with their reconstructions, and
//! scatter plots of 2-D codings.
//!
//! Text goes through plotters' `ab_glyph` backend, which has no font of its
//! own: on first use a TTF font is read from the first existing path of the
//! `EDGEAE_FONT` environment variable, `/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf`,
//! `/usr/share/fonts/dejavu/DejaVuSans.ttf` and `/usr/share/fonts/TTF/DejaVuSans.ttf`,
//! and registered as `sans-serif`. Without a usable font the plots are still
//! drawn, only without any text (no titles, tick labels or legend text);
//! [`font_available`] tells the caller so it can warn.
//!
//! Every function writes its PNG atomically: it renders into a temporary
//! `.<name>.<pid>.<n>.tmp.png` next to the target and renames it over the
//! target, so a failed or interrupted plot never leaves a half-written file.
//! Errors name the output file. No input makes these functions panic:
//! non-finite values (and values of magnitude 1e150 or more) are skipped,
//! empty inputs give an empty frame, and degenerate axis ranges are padded.

use std::ffi::OsString;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::series::DashedLineSeries;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// The family name the font is registered under (plotters' default family).
const FONT_FAMILY: &str = "sans-serif";

/// Font files tried after `EDGEAE_FONT`, in order.
const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Values at least this large in magnitude are treated like non-finite ones,
/// so axis arithmetic (spans, padding) can never overflow.
const VALUE_LIMIT: f64 = 1e150;

/// Largest canvas drawn, in pixels (the RGB buffer is 3 bytes a pixel).
const MAX_PIXELS: u64 = 40_000_000;

/// Line colours (matplotlib's "tab10"); class `k` of a scatter is `PALETTE[k]`.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour of scatter points without a class in 0..=9.
#[allow(dead_code)] // through `scatter`
const OTHER: RGBColor = RGBColor(30, 30, 30);

/// Colour of NaN pixels in [`image_grid`].
const NAN_PIXEL: RGBColor = RGBColor(255, 0, 0);

/// Colour of the gaps around and between the images of [`image_grid`].
const GRID_GAP: RGBColor = RGBColor(150, 150, 170);

/// Text colour.
const INK: RGBColor = RGBColor(20, 20, 20);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// True if a font was found for text.
///
/// The first call looks for the font and registers it with plotters; later
/// calls return the same answer. When this is false, the plots carry no
/// text at all.
pub fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let Some(path) = find_font(&font_candidates()) else {
            return false;
        };
        let Ok(bytes) = fs::read(&path) else {
            return false;
        };
        // plotters keeps `&'static` font data; this runs at most once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok()
    })
}

/// The font files to try, in order: `EDGEAE_FONT` (when set and not empty),
/// then the usual DejaVu Sans locations.
fn font_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::with_capacity(FONT_PATHS.len() + 1);
    if let Some(p) = std::env::var_os("EDGEAE_FONT")
        && !p.is_empty()
    {
        candidates.push(PathBuf::from(p));
    }
    candidates.extend(FONT_PATHS.iter().map(PathBuf::from));
    candidates
}

/// The first of `candidates` that is an existing file.
fn find_font(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.is_file()).cloned()
}

/// A named line series: (x, y) points.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Legend text; an empty name gets no legend entry.
    pub name: &'a str,
    /// The points, in drawing order; non-finite points break the line.
    pub points: &'a [(f64, f64)],
}

/// Line chart (e.g. loss curves: epoch vs training/validation loss). `log_y`
/// uses a log10 y axis (non-positive values skipped). Title, axis labels,
/// legend with series names. 900x600 px.
///
/// The legend sits in a strip between the title and the plot, so it never
/// covers data. Non-finite points are skipped and break the line there;
/// series of at most 40 points (and isolated points) also get a marker on
/// each point. The log axis is labelled at powers of ten, 1-2-5 steps or
/// 1..9 steps, whichever fits the range.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    log_y: bool,
) -> Result<()> {
    let text = font_available();
    render(path, (900, 600), |root| {
        draw_line_chart(root, title, x_label, y_label, series, log_y, text)
    })
}

/// Grid of grayscale images, e.g. originals over reconstructions. `rows` is
/// a list of image rows, each a list of images; each image is
/// `width*height` values in `[0, 1]` (row-major; values outside are clamped,
/// NaN drawn as red). `row_titles` (same length as rows, may be empty
/// strings) are written at the left of each row when a font is available.
/// `scale` = pixels per image pixel (e.g. 3). One pixel gap between images.
///
/// 0 is drawn black and 1 white. Layout, with `cols` the length of the
/// longest row, `cw = width*scale` and `ch = height*scale`:
///
/// * canvas width  = `max(left + cols*(cw + 1) + 1, title_w)`
/// * canvas height = `top + rows.len()*(ch + 1) + 1`
///
/// i.e. a one-pixel gap around and between all images. `top` is 0 without
/// a title (or without a font), else the title band (the text height plus
/// 12 px); `title_w` is 0 or the title's width plus 20 px. `left` is 0
/// when no row title is written, else the widest row title plus 16 px.
/// The canvas is at least 1x1 (empty input gives a blank image). Images
/// whose length is not `width*height` are an error.
pub fn image_grid(
    path: &Path,
    title: &str,
    rows: &[Vec<&[f32]>],
    row_titles: &[&str],
    width: usize,
    height: usize,
    scale: u32,
) -> Result<()> {
    let n = width.checked_mul(height);
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            if Some(img.len()) != n {
                bail!(
                    "cannot write plot `{}`: image {c} of row {r} has {} values, expected {width}x{height}",
                    path.display(),
                    img.len()
                );
            }
        }
    }
    let text = font_available();
    let layout = GridLayout::new(title, rows, row_titles, width, height, scale, text)
        .with_context(|| format!("cannot write plot `{}`", path.display()))?;
    render(path, (layout.canvas_w, layout.canvas_h), |root| {
        draw_image_grid(root, &layout, title, rows, row_titles, width)
    })
}

/// Signal overlay for time-series windows: for each of up to 4 windows, a
/// small panel with the original (solid) and reconstructed (dashed or second
/// colour) values of each channel. `windows`: list of (original,
/// reconstruction) pairs, each `window*channels` values time-major (element
/// `t*channels + c` is channel `c` at time `t`). Panels stacked vertically,
/// 900 px wide.
///
/// Each channel has its own colour (ten colours, repeating); the original
/// is solid and the reconstruction dashed in the same colour. Panels are
/// 200 px high, under a title band and a legend strip when a font is
/// available, with a 4 px margin above and below. A trailing
/// incomplete time step is ignored; non-finite values break the line.
/// `channels == 0` is an error.
pub fn signal_panels(
    path: &Path,
    title: &str,
    windows: &[(&[f32], &[f32])],
    channels: usize,
) -> Result<()> {
    if channels == 0 {
        bail!("cannot write plot `{}`: zero channels", path.display());
    }
    let text = font_available();
    let panels = windows.len().clamp(1, 4) as u32;
    let height = signal_canvas_height(title, panels, channels, text)
        .with_context(|| format!("cannot write plot `{}`", path.display()))?;
    render(path, (900, height), |root| {
        draw_signal_panels(
            root,
            title,
            &windows[..windows.len().min(4)],
            channels,
            text,
        )
    })
}

/// Scatter of 2-D points coloured by an optional class label (0..=9), e.g.
/// codings.
///
/// 900x700 px. Class `k` is drawn in the `k`-th "tab10" colour; points with
/// no label (`labels` absent or shorter than `points`) or a label above 9
/// are drawn dark gray. With labels and a font, a legend column on the right
/// lists the classes present. Non-finite points are skipped.
///
/// No command draws it yet: the codings map of `edgeae embed` will (tested
/// below meanwhile).
#[allow(dead_code)]
pub fn scatter(
    path: &Path,
    title: &str,
    points: &[(f64, f64)],
    labels: Option<&[u8]>,
) -> Result<()> {
    let text = font_available();
    render(path, (900, 700), |root| {
        draw_scatter(root, title, points, labels, text)
    })
}

/// What [`eval_figure`] shows.
#[derive(Debug, Clone, Copy)]
pub struct EvalPlot<'a> {
    /// Figure title (may be empty).
    pub title: &'a str,
    /// `(window end row, score)` per window, in stream order. A NaN score
    /// is a fault window: it is drawn as a tick in the "fault" track above
    /// the timeline, not as a point.
    pub scores: &'a [(f64, f64)],
    /// `(window end row, smoothed score)` per window.
    pub smoothed: &'a [(f64, f64)],
    /// Alarm threshold, drawn as a solid line; not drawn when not finite
    /// (`+inf` means not calibrated).
    pub threshold: f64,
    /// Clear threshold of the hysteresis, drawn dashed; not drawn when not
    /// finite.
    pub clear_threshold: f64,
    /// Labelled anomalous row ranges: shaded on the timeline and marked in
    /// the "labelled" track.
    pub segments: &'a [Range<usize>],
    /// Row spans during which the alarm was on (from the window end that
    /// raised it, e.g. [`crate::score::metrics::alarm_spans`]): marked in the "alarm"
    /// track. An empty range is drawn as a thin mark.
    pub alarms: &'a [Range<usize>],
    /// ROC curve points and their AUC; `None` when labels are missing (the
    /// ROC panel then holds a note).
    pub roc: Option<(&'a [(f64, f64)], f64)>,
    /// The PCA baseline's ROC curve and AUC on the same windows, drawn
    /// beside the model's.
    pub baseline_roc: Option<(&'a [(f64, f64)], f64)>,
}

/// The evaluation figure of `edgeae eval`: one 1200x900 PNG.
///
/// * Top, full width: the score timeline (x = row index, y = score) with
///   the raw score (thin blue) and the smoothed score (orange), the alarm
///   threshold (solid) and clear threshold (dashed) as horizontal lines,
///   and labelled segments shaded light red. The y axis is log10 when the
///   positive scores span more than two decades (then values `<= 0` are
///   not drawn). Above the plot, three thin tracks on the same x axis show
///   the labelled segments, the alarm spans and the fault windows (NaN
///   scores, as red ticks), so detection delays read off directly. The
///   legend sits in a strip under the title and never covers data.
/// * Bottom row (when there is a ROC curve or a labelled segment): the ROC
///   panel at the left (square plot, dashed diagonal, "ROC, AUC = 0.973"
///   as its caption, or a note when `roc` is `None`), and close-ups of the
///   first three labelled segments (each padded by its own length or 2% of
///   the timeline, whichever is larger) at the right.
///
/// Written atomically like every plot here; non-finite values are skipped
/// and no input makes it panic.
pub fn eval_figure(path: &Path, plot: &EvalPlot<'_>) -> Result<()> {
    let text = font_available();
    render(path, (EVAL_W, EVAL_H), |root| {
        draw_eval_figure(root, plot, text)
    })
}

// ---------------------------------------------------------------------------
// Rendering and atomic writing

/// Renders a `w`x`h` white canvas through `draw` into a temporary PNG next
/// to `path`, then renames it over `path`; the temporary is removed on error.
fn render(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<()> {
    render_inner(path, (w.max(1), h.max(1)), draw)
        .with_context(|| format!("cannot write plot `{}`", path.display()))
}

fn render_inner(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<()> {
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        bail!("a {w}x{h} image is too large (at most {MAX_PIXELS} pixels)");
    }
    let name = path.file_name().context("not a file path")?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{}.tmp.png",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let result = (|| -> Result<()> {
        // The backend writes the file in `present` (or, after an error, when
        // it is dropped at the end of this closure; that file is removed).
        let root = BitMapBackend::new(&tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })();
    let result = result.and_then(|()| fs::rename(&tmp, path).map_err(anyhow::Error::from));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------
// Shared helpers

/// A text style in the registered font.
fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT_FAMILY, size).into_font()).color(&INK)
}

/// True if `v` is finite and small enough for axis arithmetic.
fn usable(v: f64) -> bool {
    v.is_finite() && v.abs() < VALUE_LIMIT
}

/// Running min/max of the values seen.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    lo: f64,
    hi: f64,
}

impl Bounds {
    fn empty() -> Self {
        Bounds {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }

    fn add(&mut self, v: f64) {
        self.lo = self.lo.min(v);
        self.hi = self.hi.max(v);
    }

    fn is_empty(&self) -> bool {
        self.lo > self.hi
    }

    /// A drawable linear range: `margin` (a fraction of the span) added on
    /// both sides; a degenerate span padded; 0..1 when nothing was seen.
    fn linear(&self, margin: f64) -> Range<f64> {
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
    fn log_axis(&self) -> LogAxis {
        log_axis(self)
    }
}

/// A log10 axis: value range, labelled ticks, light grid lines.
#[derive(Debug, Clone, PartialEq)]
struct LogAxis {
    range: Range<f64>,
    bold: Vec<f64>,
    light: Vec<f64>,
}

/// The values `m * 10^k` (m from `mults`, `k` integer, every `stride`-th
/// decade) whose log10 lies in `lo..=hi` (log10 space, a little slack).
fn log_ticks(mults: &[f64], lo: f64, hi: f64, stride: i32) -> Vec<f64> {
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
fn log_axis(b: &Bounds) -> LogAxis {
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
fn segments(
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
fn linear_formatter(range: &Range<f64>) -> impl Fn(&f64) -> String + use<> {
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
fn linear_samples(range: &Range<f64>, fmt: &dyn Fn(&f64) -> String) -> Vec<String> {
    (0..=10)
        .map(|i| fmt(&(range.start + (range.end - range.start) * f64::from(i) / 10.0)))
        .collect()
}

/// Width of a y label area holding `labels` at `size` px, the tick marks,
/// and with `desc` the rotated axis description.
fn y_label_area(labels: &[String], size: f64, desc: bool) -> Result<u32> {
    let mut w = 0;
    for l in labels {
        w = w.max(text_size(l, size)?.0);
    }
    Ok((w + 16 + if desc { 28 } else { 0 }).max(30))
}

/// Tick-label formatter for a log axis: short decimals, scientific notation
/// outside 1e-3..1e5.
fn log_label(v: &f64) -> String {
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
fn fmt_decimal(v: f64, decimals: usize) -> String {
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
fn fmt_scientific(v: f64, digits: usize) -> String {
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

/// Horizontal gap between legend entries, in pixels.
const LEGEND_GAP: i64 = 24;

/// Legend layout for an area `w` pixels wide: each entry's width (swatch,
/// spacing and text) and the entries of each row, wrapped greedily.
fn legend_rows(
    entries: &[(String, Swatch)],
    size: f64,
    w: u32,
) -> Result<(Vec<i64>, Vec<Vec<usize>>)> {
    let max_w = i64::from(w) - 40;
    let widths = entries
        .iter()
        .map(|(label, _)| Ok(30 + i64::from(text_size(label, size)?.0)))
        .collect::<Result<Vec<_>>>()?;
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut row_w = 0;
    for (i, &ew) in widths.iter().enumerate() {
        match rows.last_mut() {
            Some(row) if row_w + LEGEND_GAP + ew <= max_w => {
                row.push(i);
                row_w += LEGEND_GAP + ew;
            }
            _ => {
                rows.push(vec![i]);
                row_w = ew;
            }
        }
    }
    Ok((widths, rows))
}

/// Height of one legend row at font `size`.
fn legend_row_height(size: f64) -> u32 {
    (size * 1.5) as u32
}

/// Height in pixels a legend of `entries` needs in an area `w` wide (0 for
/// no entries).
fn legend_height(entries: &[(String, Swatch)], size: f64, w: u32) -> Result<u32> {
    let (_, rows) = legend_rows(entries, size, w)?;
    Ok(match rows.len() {
        0 => 0,
        n => n as u32 * legend_row_height(size) + 6,
    })
}

/// Draws a legend of `(label, swatch)` entries, rows centred in `area`
/// (which spans the full width and is normally [`legend_height`] high;
/// rows that do not fit are left out).
fn draw_legend(area: &Area<'_>, entries: &[(String, Swatch)], size: f64) -> Result<()> {
    let style = font(size).pos(Pos::new(HPos::Left, VPos::Center));
    let (w, h) = area.dim_in_pixel();
    let (widths, rows) = legend_rows(entries, size, w)?;
    let row_h = i64::from(legend_row_height(size));
    let fit = (i64::from(h) / row_h.max(1)) as usize;
    for (r, row) in rows.iter().enumerate().take(fit) {
        let total: i64 =
            row.iter().map(|&i| widths[i]).sum::<i64>() + LEGEND_GAP * (row.len() as i64 - 1);
        let mut x = (i64::from(w) - total).max(0) / 2;
        let y = (row_h / 2 + row_h * r as i64) as i32;
        for &i in row {
            let (label, swatch) = &entries[i];
            swatch.draw(area, x as i32, y)?;
            area.draw(&Text::new(
                label.as_str(),
                (x as i32 + 30, y),
                style.clone(),
            ))?;
            x += widths[i] + LEGEND_GAP;
        }
    }
    Ok(())
}

/// What a legend entry shows left of its text (24 px wide).
#[derive(Debug, Clone, Copy)]
enum Swatch {
    /// A solid line.
    Line(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A filled dot.
    Dot(RGBColor),
    /// A filled box in the colour at the given opacity (a shaded area).
    Patch(RGBColor, f64),
    /// A short vertical bar (a tick mark).
    Tick(RGBColor),
}

impl Swatch {
    fn draw(self, area: &Area<'_>, x: i32, y: i32) -> Result<()> {
        match self {
            Swatch::Line(c) => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    c.stroke_width(3),
                ))?;
            }
            Swatch::Dashed(c) => {
                area.draw(&DashedPathElement::new(
                    vec![(x, y), (x + 24, y)],
                    6,
                    4,
                    c.stroke_width(2),
                ))?;
            }
            Swatch::Dot(c) => {
                area.draw(&Circle::new((x + 12, y), 5, c.filled()))?;
            }
            Swatch::Patch(c, alpha) => {
                area.draw(&Rectangle::new(
                    [(x, y - 7), (x + 24, y + 7)],
                    c.mix(alpha).filled(),
                ))?;
            }
            Swatch::Tick(c) => {
                area.draw(&Rectangle::new(
                    [(x + 11, y - 7), (x + 14, y + 7)],
                    c.filled(),
                ))?;
            }
        }
        Ok(())
    }
}

/// Draws `title` centred at the top of `area` and returns the area below
/// it; `area` itself when there is no title or no font.
fn titled<'a>(area: &Area<'a>, title: &str, size: f64, text: bool) -> Result<Area<'a>> {
    if text && !title.is_empty() {
        Ok(area.titled(title, font(size))?)
    } else {
        Ok(area.clone())
    }
}

/// Draws a thin frame around the plotting area of `area` (used when there are
/// no axes, i.e. without a font).
fn frame(area: &Area<'_>) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    if w > 1 && h > 1 {
        area.draw(&Rectangle::new(
            [(0, 0), (w as i32 - 1, h as i32 - 1)],
            BLACK.mix(0.6).stroke_width(1),
        ))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Line chart

fn draw_line_chart(
    root: &Area<'_>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    log_y: bool,
    text: bool,
) -> Result<()> {
    let keep = |x: f64, y: f64| usable(x) && usable(y) && (!log_y || y > 0.0);
    let mut xb = Bounds::empty();
    let mut yb = Bounds::empty();
    let lines: Vec<Vec<Vec<(f64, f64)>>> = series
        .iter()
        .map(|s| segments(s.points.iter().copied(), keep))
        .collect();
    for &(x, y) in lines.iter().flatten().flatten() {
        xb.add(x);
        yb.add(y);
    }
    let x_range = xb.linear(0.0);

    let area = root.margin(6, 6, 6, 6);
    let area = titled(&area, title, 24.0, text)?;
    let area = if text {
        let entries: Vec<(String, Swatch)> = series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .map(|(i, s)| (s.name.to_string(), Swatch::Line(PALETTE[i % PALETTE.len()])))
            .collect();
        let (w, area_h) = area.dim_in_pixel();
        // At most a third of the height; rows beyond are left out.
        let h = legend_height(&entries, 16.0, w)?.min(area_h / 3);
        if h > 0 {
            let (legend, rest) = area.split_vertically(h);
            draw_legend(&legend, &entries, 16.0)?;
            rest
        } else {
            area
        }
    } else {
        area
    };

    let labels = LineLabels {
        x: x_label,
        y: y_label,
        text,
    };
    if log_y {
        let axis = yb.log_axis();
        let ticks: Vec<String> = axis.bold.iter().map(log_label).collect();
        let y_spec = axis
            .range
            .log_scale()
            .with_key_points(axis.bold)
            .with_light_points(axis.light);
        let y_area = if text {
            y_label_area(&ticks, 14.0, !y_label.is_empty())?
        } else {
            0
        };
        plot_lines(&area, x_range, y_spec, y_area, &lines, &labels, &log_label)
    } else {
        let y_range = yb.linear(0.05);
        let fmt = linear_formatter(&y_range);
        let y_area = if text {
            y_label_area(&linear_samples(&y_range, &fmt), 14.0, !y_label.is_empty())?
        } else {
            0
        };
        plot_lines(&area, x_range, y_range, y_area, &lines, &labels, &fmt)
    }
}

/// Axis descriptions of a line chart.
struct LineLabels<'s> {
    x: &'s str,
    y: &'s str,
    text: bool,
}

/// The chart part of [`line_chart`], generic over the y coordinate (linear
/// or log).
fn plot_lines<Y>(
    area: &Area<'_>,
    x_range: Range<f64>,
    y_spec: Y,
    y_area: u32,
    lines: &[Vec<Vec<(f64, f64)>>],
    labels: &LineLabels<'_>,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let text = labels.text;
    let x_fmt = linear_formatter(&x_range);
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .margin_right(30)
        .x_label_area_size(if text { 48 } else { 0 })
        .y_label_area_size(y_area)
        .build_cartesian_2d(x_range, y_spec)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.15))
            .x_labels(10)
            .y_labels(10)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(y_fmt);
        if text {
            mesh.label_style(font(14.0)).axis_desc_style(font(16.0));
            if !labels.x.is_empty() {
                mesh.x_desc(labels.x);
            }
            if !labels.y.is_empty() {
                mesh.y_desc(labels.y);
            }
        }
        mesh.draw()?;
    }
    if !text {
        frame(&chart.plotting_area().strip_coord_spec())?;
    }
    for (i, segs) in lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let n_points: usize = segs.iter().map(Vec::len).sum();
        for seg in segs {
            if seg.len() > 1 {
                chart.draw_series(LineSeries::new(seg.iter().copied(), colour.stroke_width(2)))?;
            }
            if seg.len() == 1 || n_points <= 40 {
                chart.draw_series(seg.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Image grid

/// Pixel layout of [`image_grid`]; see its documentation for the formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GridLayout {
    canvas_w: u32,
    canvas_h: u32,
    /// Height of the title band (0 without title).
    top: u32,
    /// Width of the row-title column (0 without row titles).
    left: u32,
    /// Image size on the canvas.
    cell_w: u32,
    cell_h: u32,
    scale: u32,
    /// Font size of the title and of the row titles.
    title_size: u32,
    row_title_size: u32,
}

impl GridLayout {
    fn new(
        title: &str,
        rows: &[Vec<&[f32]>],
        row_titles: &[&str],
        width: usize,
        height: usize,
        scale: u32,
        text: bool,
    ) -> Result<Self> {
        let too_large =
            || anyhow::anyhow!("a {width}x{height} image at scale {scale} is too large");
        let cell_w = u32::try_from(width)
            .ok()
            .and_then(|w| w.checked_mul(scale))
            .ok_or_else(too_large)?;
        let cell_h = u32::try_from(height)
            .ok()
            .and_then(|h| h.checked_mul(scale))
            .ok_or_else(too_large)?;
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0) as u64;
        let title_size = 20;
        let row_title_size = (f64::from(cell_h) * 0.6).clamp(10.0, 16.0) as u32;
        let (mut top, mut title_w, mut left) = (0u64, 0u64, 0u64);
        if text {
            if !title.is_empty() {
                let (w, h) = text_size(title, f64::from(title_size))?;
                top = u64::from(h) + 12;
                title_w = u64::from(w) + 20;
            }
            for t in row_titles.iter().take(rows.len()) {
                if !t.is_empty() {
                    let (w, _) = text_size(t, f64::from(row_title_size))?;
                    left = left.max(u64::from(w) + 16);
                }
            }
        }
        let grid_w = left + cols * (u64::from(cell_w) + 1) + 1;
        let grid_h = top + rows.len() as u64 * (u64::from(cell_h) + 1) + 1;
        let canvas_w = grid_w.max(title_w);
        if canvas_w.saturating_mul(grid_h) > MAX_PIXELS {
            return Err(too_large());
        }
        Ok(GridLayout {
            canvas_w: canvas_w as u32,
            canvas_h: grid_h as u32,
            top: top as u32,
            left: left as u32,
            cell_w,
            cell_h,
            scale,
            title_size,
            row_title_size,
        })
    }
}

/// Size of `s` in the registered font, measured on a scratch 1x1 canvas.
fn text_size(s: &str, size: f64) -> Result<(u32, u32)> {
    let mut buf = [0u8; 3];
    let area = BitMapBackend::with_buffer(&mut buf, (1, 1)).into_drawing_area();
    Ok(area.estimate_text_size(s, &font(size))?)
}

fn draw_image_grid(
    root: &Area<'_>,
    layout: &GridLayout,
    title: &str,
    rows: &[Vec<&[f32]>],
    row_titles: &[&str],
    width: usize,
) -> Result<()> {
    if layout.top > 0 {
        root.draw(&Text::new(
            title,
            (layout.canvas_w as i32 / 2, layout.top as i32 / 2),
            font(f64::from(layout.title_size)).pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    // Gaps: the whole grid block, images drawn over it.
    let grid_right = layout.canvas_w.min(
        layout.left + rows.iter().map(Vec::len).max().unwrap_or(0) as u32 * (layout.cell_w + 1) + 1,
    );
    if !rows.is_empty() {
        root.draw(&Rectangle::new(
            [
                (layout.left as i32, layout.top as i32),
                (grid_right as i32, layout.canvas_h as i32),
            ],
            GRID_GAP.filled(),
        ))?;
    }
    let s = layout.scale as i32;
    for (r, row) in rows.iter().enumerate() {
        let y0 = (layout.top + 1 + r as u32 * (layout.cell_h + 1)) as i32;
        if layout.left > 0
            && let Some(t) = row_titles.get(r)
            && !t.is_empty()
        {
            root.draw(&Text::new(
                *t,
                (layout.left as i32 - 8, y0 + layout.cell_h as i32 / 2),
                font(f64::from(layout.row_title_size)).pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
        for (c, img) in row.iter().enumerate() {
            let x0 = (layout.left + 1 + c as u32 * (layout.cell_w + 1)) as i32;
            for (i, &v) in img.iter().enumerate() {
                let (px, py) = ((i % width) as i32, (i / width) as i32);
                let colour = if v.is_nan() {
                    NAN_PIXEL
                } else {
                    let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    RGBColor(g, g, g)
                };
                let (x, y) = (x0 + px * s, y0 + py * s);
                // Filled rectangles cover [x0, x1) x [y0, y1) on this backend.
                root.draw(&Rectangle::new([(x, y), (x + s, y + s)], colour.filled()))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Signal panels

fn draw_signal_panels(
    root: &Area<'_>,
    title: &str,
    windows: &[(&[f32], &[f32])],
    channels: usize,
    text: bool,
) -> Result<()> {
    let area = root.margin(SIGNAL_MARGIN, SIGNAL_MARGIN, 6, 6);
    let area = titled(&area, title, SIGNAL_TITLE_SIZE, text)?;
    let area = if text {
        let entries = signal_legend(channels);
        let h = legend_height(&entries, SIGNAL_LEGEND_SIZE, area.dim_in_pixel().0)?;
        let (legend, rest) = area.split_vertically(h);
        draw_legend(&legend, &entries, SIGNAL_LEGEND_SIZE)?;
        rest
    } else {
        area
    };
    let panels = area.split_evenly((windows.len().max(1), 1));
    if windows.is_empty() {
        return draw_signal_panel(&panels[0], 0, &[], &[], channels, text);
    }
    for (i, (panel, (orig, recon))) in panels.iter().zip(windows).enumerate() {
        draw_signal_panel(panel, i, orig, recon, channels, text)?;
    }
    Ok(())
}

/// Height of one panel of [`signal_panels`].
const SIGNAL_PANEL_H: u32 = 200;
/// Margin above and below the panels of [`signal_panels`].
const SIGNAL_MARGIN: u32 = 4;
/// Font sizes of the title and the legend of [`signal_panels`].
const SIGNAL_TITLE_SIZE: f64 = 22.0;
const SIGNAL_LEGEND_SIZE: f64 = 15.0;

/// Legend entries of [`signal_panels`]: line styles, then channel colours.
fn signal_legend(channels: usize) -> Vec<(String, Swatch)> {
    let mut entries = vec![
        ("original".to_string(), Swatch::Line(INK)),
        ("reconstruction".to_string(), Swatch::Dashed(INK)),
    ];
    if channels > 1 {
        entries.extend(
            (0..channels.min(PALETTE.len())).map(|c| (format!("ch {c}"), Swatch::Dot(PALETTE[c]))),
        );
    }
    entries
}

/// Canvas height of [`signal_panels`]: margins, title band (text height
/// plus 10 px, as plotters draws it), legend rows, and 200 px a panel.
fn signal_canvas_height(title: &str, panels: u32, channels: usize, text: bool) -> Result<u32> {
    let mut h = 2 * SIGNAL_MARGIN + panels * SIGNAL_PANEL_H;
    if text {
        if !title.is_empty() {
            h += text_size(title, SIGNAL_TITLE_SIZE)?.1 + 10;
        }
        h += legend_height(&signal_legend(channels), SIGNAL_LEGEND_SIZE, 900 - 12)?;
    }
    Ok(h)
}

/// The per-channel line segments of one time-major window.
fn channel_segments(values: &[f32], channels: usize) -> Vec<Vec<Vec<(f64, f64)>>> {
    let steps = values.len() / channels;
    (0..channels)
        .map(|c| {
            segments(
                (0..steps).map(|t| (t as f64, f64::from(values[t * channels + c]))),
                |_, y| usable(y),
            )
        })
        .collect()
}

fn draw_signal_panel(
    area: &Area<'_>,
    index: usize,
    orig: &[f32],
    recon: &[f32],
    channels: usize,
    text: bool,
) -> Result<()> {
    let orig_lines = channel_segments(orig, channels);
    let recon_lines = channel_segments(recon, channels);
    let mut xb = Bounds::empty();
    let mut yb = Bounds::empty();
    for &(x, y) in orig_lines.iter().chain(&recon_lines).flatten().flatten() {
        xb.add(x);
        yb.add(y);
    }
    let x_range = xb.linear(0.0);
    let y_range = yb.linear(0.05);
    let x_fmt = linear_formatter(&x_range);
    let y_fmt = linear_formatter(&y_range);
    let y_area = if text {
        y_label_area(&linear_samples(&y_range, &y_fmt), 12.0, false)?
    } else {
        0
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(6)
        .margin_right(24)
        .x_label_area_size(if text { 24 } else { 0 })
        .y_label_area_size(y_area);
    if text {
        builder.caption(format!("window {}", index + 1), font(14.0));
    }
    let mut chart = builder.build_cartesian_2d(x_range, y_range)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.15))
            .x_labels(12)
            .y_labels(5)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt);
        if text {
            mesh.label_style(font(12.0));
        }
        mesh.draw()?;
    }
    if !text {
        frame(&chart.plotting_area().strip_coord_spec())?;
    }
    for (c, (o, r)) in orig_lines.iter().zip(&recon_lines).enumerate() {
        let colour = PALETTE[c % PALETTE.len()];
        for seg in o {
            if seg.len() > 1 {
                chart.draw_series(LineSeries::new(seg.iter().copied(), colour.stroke_width(2)))?;
            } else {
                chart.draw_series(seg.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }
        for seg in r {
            if seg.len() > 1 {
                chart.draw_series(DashedLineSeries::new(
                    seg.iter().copied(),
                    6,
                    4,
                    colour.stroke_width(2),
                ))?;
            } else {
                chart.draw_series(
                    seg.iter()
                        .map(|&p| Circle::new(p, 4, colour.stroke_width(1))),
                )?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Scatter

#[allow(dead_code)] // through `scatter`
fn draw_scatter(
    root: &Area<'_>,
    title: &str,
    points: &[(f64, f64)],
    labels: Option<&[u8]>,
    text: bool,
) -> Result<()> {
    let class_of = |i: usize| -> Option<u8> {
        labels
            .and_then(|l| l.get(i).copied())
            .filter(|&k| usize::from(k) < PALETTE.len())
    };
    let colour_of = |k: Option<u8>| k.map_or(OTHER, |k| PALETTE[usize::from(k)]);

    let mut xb = Bounds::empty();
    let mut yb = Bounds::empty();
    let mut present = [false; 11]; // classes 0..=9, then "other"
    for (i, &(x, y)) in points.iter().enumerate() {
        if usable(x) && usable(y) {
            xb.add(x);
            yb.add(y);
            present[class_of(i).map_or(10, usize::from)] = true;
        }
    }

    let area = root.margin(6, 6, 6, 6);
    let area = titled(&area, title, 24.0, text)?;
    let area = if text && labels.is_some() {
        let (rest, legend) = area.split_horizontally(area.dim_in_pixel().0.saturating_sub(90));
        let style = font(15.0).pos(Pos::new(HPos::Left, VPos::Center));
        let mut y = 40;
        for (k, _) in present.iter().enumerate().filter(|(_, p)| **p) {
            let (label, colour) = if k < 10 {
                (k.to_string(), PALETTE[k])
            } else {
                ("other".to_string(), OTHER)
            };
            Swatch::Dot(colour).draw(&legend, 4, y)?;
            legend.draw(&Text::new(label, (34, y), style.clone()))?;
            y += 24;
        }
        rest
    } else {
        area
    };

    let x_range = xb.linear(0.05);
    let y_range = yb.linear(0.05);
    let x_fmt = linear_formatter(&x_range);
    let y_fmt = linear_formatter(&y_range);
    let y_area = if text {
        y_label_area(&linear_samples(&y_range, &y_fmt), 14.0, false)?
    } else {
        0
    };
    let mut chart = ChartBuilder::on(&area)
        .margin(8)
        .margin_right(30)
        .x_label_area_size(if text { 36 } else { 0 })
        .y_label_area_size(y_area)
        .build_cartesian_2d(x_range, y_range)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.15))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt);
        if text {
            mesh.label_style(font(14.0));
        }
        mesh.draw()?;
    }
    if !text {
        frame(&chart.plotting_area().strip_coord_spec())?;
    }
    let n = points.len();
    let radius = if n <= 500 { 3 } else { 2 };
    let alpha = if n <= 2000 { 0.85 } else { 0.5 };
    chart.draw_series(
        points
            .iter()
            .enumerate()
            .filter(|(_, (x, y))| usable(*x) && usable(*y))
            .map(|(i, &p)| Circle::new(p, radius, colour_of(class_of(i)).mix(alpha).filled())),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Eval figure

/// Canvas size of [`eval_figure`].
const EVAL_W: u32 = 1200;
const EVAL_H: u32 = 900;
/// Height of the bottom row of [`eval_figure`] (ROC panel and close-ups).
const EVAL_BOTTOM_H: u32 = 330;
/// Close-ups of at most this many labelled segments.
const EVAL_ZOOMS: usize = 3;
/// Font sizes of the title and the legend of [`eval_figure`].
const EVAL_TITLE_SIZE: f64 = 22.0;
const EVAL_LEGEND_SIZE: f64 = 15.0;

const SCORE_COLOUR: RGBColor = PALETTE[0];
/// The PCA baseline's curve.
const BASELINE_COLOUR: RGBColor = RGBColor(128, 128, 128);
const SMOOTHED_COLOUR: RGBColor = PALETTE[1];
const THRESHOLD_COLOUR: RGBColor = RGBColor(40, 40, 40);
const LABEL_COLOUR: RGBColor = PALETTE[3];
/// Opacity of the labelled-segment shading on the timeline.
const LABEL_SHADE: f64 = 0.13;
/// Labelled segments in their track: the label colour at 55% on white.
const LABEL_TRACK: RGBColor = RGBColor(232, 136, 137);
const ALARM_COLOUR: RGBColor = PALETTE[4];
const FAULT_COLOUR: RGBColor = RGBColor(200, 0, 0);
const TRACK_BACKGROUND: RGBColor = RGBColor(236, 236, 236);
/// Names of the tracks above the timeline, top to bottom.
const TRACK_NAMES: [&str; 3] = ["labelled", "alarm", "fault"];

/// How one timeline panel (the overview or a close-up) is drawn.
#[derive(Debug, Clone, Copy)]
struct TimelineLook {
    /// Height of each track above the plot, in pixels.
    track_h: u32,
    /// Tick-label font size.
    label_size: f64,
    /// Axis descriptions and track names.
    desc: bool,
    x_labels: usize,
    y_labels: usize,
    text: bool,
}

/// The timeline's data, cleaned once for the overview and the close-ups.
struct Timeline<'p> {
    plot: &'p EvalPlot<'p>,
    /// Runs of drawable points of the score and of the smoothed score.
    score: Vec<Vec<(f64, f64)>>,
    smoothed: Vec<Vec<(f64, f64)>>,
    /// Rows (window ends) of the fault windows (NaN score).
    faults: Vec<f64>,
    /// Log10 y axis.
    log_y: bool,
    /// x range of the whole stream.
    x_range: Range<f64>,
}

impl<'p> Timeline<'p> {
    fn new(plot: &'p EvalPlot<'p>) -> Self {
        let log_y = eval_log_y(plot.scores, plot.smoothed);
        let keep = |x: f64, y: f64| usable(x) && usable(y) && (!log_y || y > 0.0);
        let score = segments(plot.scores.iter().copied(), keep);
        let smoothed = segments(plot.smoothed.iter().copied(), keep);
        let faults: Vec<f64> = plot
            .scores
            .iter()
            .filter(|(x, y)| y.is_nan() && usable(*x))
            .map(|&(x, _)| x)
            .collect();
        let mut xb = Bounds::empty();
        for &(x, _) in score.iter().chain(&smoothed).flatten() {
            xb.add(x);
        }
        for &x in &faults {
            xb.add(x);
        }
        for r in plot.segments.iter().chain(plot.alarms) {
            xb.add(r.start as f64);
            xb.add(r.end as f64);
        }
        // Rows count from 0: start the axis there unless the data sit far
        // from it.
        if !xb.is_empty() && xb.lo > 0.0 && xb.lo <= (xb.hi - xb.lo) * 0.25 {
            xb.add(0.0);
        }
        Timeline {
            plot,
            score,
            smoothed,
            faults,
            log_y,
            x_range: xb.linear(0.0),
        }
    }
}

/// True if the positive drawable values of `scores` and `smoothed` span
/// more than two decades.
fn eval_log_y(scores: &[(f64, f64)], smoothed: &[(f64, f64)]) -> bool {
    let mut b = Bounds::empty();
    for &(x, y) in scores.iter().chain(smoothed) {
        if usable(x) && usable(y) && y > 0.0 {
            b.add(y);
        }
    }
    !b.is_empty() && b.hi > b.lo * 100.0
}

/// The parts of `runs` with x inside `r` (each run may split in pieces).
fn clip_runs(runs: &[Vec<(f64, f64)>], r: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
    runs.iter()
        .flat_map(|run| segments(run.iter().copied(), |x, _| x >= r.start && x <= r.end))
        .collect()
}

/// `range` (rows) clipped to `r`, as f64; `None` when reversed or outside.
fn clip_span(range: &Range<usize>, r: &Range<f64>) -> Option<(f64, f64)> {
    let (a, b) = (range.start as f64, range.end as f64);
    (a <= b && b >= r.start && a <= r.end).then(|| (a.max(r.start), b.min(r.end)))
}

fn draw_eval_figure(root: &Area<'_>, plot: &EvalPlot<'_>, text: bool) -> Result<()> {
    let tl = Timeline::new(plot);
    let area = root.margin(6, 6, 6, 6);
    let area = titled(&area, plot.title, EVAL_TITLE_SIZE, text)?;
    let zooms = plot.segments.len().min(EVAL_ZOOMS);
    let (top, bottom) = if plot.roc.is_some() || zooms > 0 {
        let h = area.dim_in_pixel().1;
        let (top, bottom) = area.split_vertically(h.saturating_sub(EVAL_BOTTOM_H));
        (top, Some(bottom))
    } else {
        (area, None)
    };
    let top = if text {
        let entries = eval_legend(plot, tl.log_y);
        let (w, top_h) = top.dim_in_pixel();
        let h = legend_height(&entries, EVAL_LEGEND_SIZE, w)?.min(top_h / 3);
        let (legend, rest) = top.split_vertically(h);
        draw_legend(&legend, &entries, EVAL_LEGEND_SIZE)?;
        rest
    } else {
        top
    };
    let main_look = TimelineLook {
        track_h: 13,
        label_size: 14.0,
        desc: true,
        x_labels: 12,
        y_labels: 8,
        text,
    };
    draw_timeline(&top, &tl, tl.x_range.clone(), &main_look)?;

    let Some(bottom) = bottom else {
        return Ok(());
    };
    let bottom = bottom.margin(10, 0, 0, 0);
    // The ROC plot is about as wide as it is high (its y labels aside).
    let (roc_area, rest) = bottom.split_horizontally(EVAL_BOTTOM_H + 30);
    draw_roc(&roc_area, plot.roc, plot.baseline_roc, text)?;
    if zooms == 0 {
        return Ok(());
    }
    let rest = rest.margin(0, 0, 16, 0);
    let zoom_look = TimelineLook {
        track_h: 7,
        label_size: 12.0,
        desc: false,
        x_labels: 5,
        y_labels: 6,
        text,
    };
    let span = tl.x_range.end - tl.x_range.start;
    let n = plot.segments.len();
    for (k, (seg, panel)) in plot
        .segments
        .iter()
        .zip(rest.split_evenly((1, zooms)))
        .enumerate()
    {
        let len = seg.end.saturating_sub(seg.start) as f64;
        let pad = len.max(span * 0.02).max(1.0);
        let lo = (seg.start as f64 - pad).max(tl.x_range.start);
        let hi = (seg.end as f64 + pad).min(tl.x_range.end);
        let r = if hi > lo { lo..hi } else { lo..lo + 1.0 };
        let caption = if n > 1 {
            format!(
                "segment {} of {n}: rows {}\u{2013}{}",
                k + 1,
                seg.start,
                seg.end
            )
        } else {
            format!("segment: rows {}\u{2013}{}", seg.start, seg.end)
        };
        let panel = titled(&panel, &caption, 14.0, text)?;
        draw_timeline(&panel, &tl, r, &zoom_look)?;
    }
    Ok(())
}

/// Legend entries of the eval timeline: the lines drawn, and the shading.
fn eval_legend(plot: &EvalPlot<'_>, log_y: bool) -> Vec<(String, Swatch)> {
    let drawn = |t: f64| usable(t) && (!log_y || t > 0.0);
    let mut entries = vec![
        ("score".to_string(), Swatch::Line(SCORE_COLOUR)),
        ("smoothed".to_string(), Swatch::Line(SMOOTHED_COLOUR)),
    ];
    if drawn(plot.threshold) {
        entries.push(("alarm threshold".into(), Swatch::Line(THRESHOLD_COLOUR)));
    }
    if drawn(plot.clear_threshold) {
        entries.push(("clear threshold".into(), Swatch::Dashed(THRESHOLD_COLOUR)));
    }
    entries.push((
        "labelled anomaly".into(),
        Swatch::Patch(LABEL_COLOUR, LABEL_SHADE * 2.0),
    ));
    entries.push(("alarm on".into(), Swatch::Patch(ALARM_COLOUR, 1.0)));
    entries.push(("fault (no score)".into(), Swatch::Tick(FAULT_COLOUR)));
    entries
}

/// What one timeline panel shows: its x range and the data inside it.
struct TimelineView {
    x_range: Range<f64>,
    /// The y axis limits (data values).
    y_lim: Range<f64>,
    /// Width of the y label area.
    y_area: u32,
    score: Vec<Vec<(f64, f64)>>,
    smoothed: Vec<Vec<(f64, f64)>>,
    /// Drawable thresholds: (value, dashed).
    thresholds: Vec<(f64, bool)>,
}

/// Draws the tracks and the score plot of `tl` over rows `x_range` into
/// `area`.
fn draw_timeline(
    area: &Area<'_>,
    tl: &Timeline<'_>,
    x_range: Range<f64>,
    look: &TimelineLook,
) -> Result<()> {
    let plot = tl.plot;
    let score = clip_runs(&tl.score, &x_range);
    let smoothed = clip_runs(&tl.smoothed, &x_range);
    let thresholds: Vec<(f64, bool)> = [(plot.threshold, false), (plot.clear_threshold, true)]
        .into_iter()
        .filter(|&(t, _)| usable(t) && (!tl.log_y || t > 0.0))
        .collect();
    let mut yb = Bounds::empty();
    for &(_, y) in score.iter().chain(&smoothed).flatten() {
        yb.add(y);
    }
    for &(t, _) in &thresholds {
        yb.add(t);
    }
    let tracks_h = TRACK_NAMES.len() as u32 * (look.track_h + 2) + 4;
    let (tracks, chart_area) = area.split_vertically(tracks_h);
    let track_names_w = if look.text && look.desc {
        let mut w = 0;
        for name in TRACK_NAMES {
            w = w.max(text_size(name, 12.0)?.0);
        }
        w + 14
    } else {
        0
    };
    let mut view = TimelineView {
        x_range,
        y_lim: 0.0..1.0,
        y_area: 0,
        score,
        smoothed,
        thresholds,
    };
    if tl.log_y {
        let axis = yb.log_axis();
        let ticks: Vec<String> = axis.bold.iter().map(log_label).collect();
        if look.text {
            view.y_area = y_label_area(&ticks, look.label_size, look.desc)?.max(track_names_w);
        }
        view.y_lim = axis.range.clone();
        let y_spec = axis
            .range
            .log_scale()
            .with_key_points(axis.bold)
            .with_light_points(axis.light);
        timeline_chart(&chart_area, &tracks, tl, &view, y_spec, &log_label, look)
    } else {
        let mut y_range = yb.linear(0.05);
        if !yb.is_empty() && yb.lo >= 0.0 && y_range.start < 0.0 {
            // Scores are errors: start at 0 rather than below it.
            y_range.start = 0.0;
        }
        let fmt = linear_formatter(&y_range);
        if look.text {
            let samples = linear_samples(&y_range, &fmt);
            view.y_area = y_label_area(&samples, look.label_size, look.desc)?.max(track_names_w);
        }
        view.y_lim = y_range.clone();
        timeline_chart(&chart_area, &tracks, tl, &view, y_range, &fmt, look)
    }
}

/// The chart part of [`draw_timeline`], generic over the y coordinate
/// (linear or log), and the tracks above it.
fn timeline_chart<Y>(
    chart_area: &Area<'_>,
    tracks: &Area<'_>,
    tl: &Timeline<'_>,
    view: &TimelineView,
    y_spec: Y,
    y_fmt: &dyn Fn(&f64) -> String,
    look: &TimelineLook,
) -> Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let plot = tl.plot;
    let text = look.text;
    let xr = &view.x_range;
    let (y_lo, y_hi) = (view.y_lim.start, view.y_lim.end);
    let x_fmt = linear_formatter(xr);
    let x_label_area = match (text, look.desc) {
        (false, _) => 0,
        (true, true) => 44,
        (true, false) => 22,
    };
    let mut chart = ChartBuilder::on(chart_area)
        .margin(4)
        .margin_top(2)
        .margin_right(24)
        .x_label_area_size(x_label_area)
        .y_label_area_size(view.y_area)
        .build_cartesian_2d(xr.clone(), y_spec)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.12))
            .x_labels(look.x_labels)
            .y_labels(look.y_labels)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(y_fmt);
        if text {
            mesh.label_style(font(look.label_size))
                .axis_desc_style(font(15.0));
            if look.desc {
                mesh.x_desc("row");
                mesh.y_desc(if tl.log_y { "score (log)" } else { "score" });
            }
        }
        mesh.draw()?;
    }
    if !text {
        frame(&chart.plotting_area().strip_coord_spec())?;
    }
    // Labelled segments, shaded over the whole height.
    chart.draw_series(
        plot.segments
            .iter()
            .filter_map(|s| clip_span(s, xr))
            .filter(|(a, b)| b > a)
            .map(|(a, b)| {
                Rectangle::new(
                    [(a, y_lo), (b, y_hi)],
                    LABEL_COLOUR.mix(LABEL_SHADE).filled(),
                )
            }),
    )?;
    for seg in &view.score {
        if seg.len() > 1 {
            chart.draw_series(LineSeries::new(
                seg.iter().copied(),
                SCORE_COLOUR.mix(0.8).stroke_width(1),
            ))?;
        } else {
            chart.draw_series(
                seg.iter()
                    .map(|&p| Circle::new(p, 2, SCORE_COLOUR.filled())),
            )?;
        }
    }
    for &(t, dashed) in &view.thresholds {
        let line = [(xr.start, t), (xr.end, t)];
        if dashed {
            chart.draw_series(DashedLineSeries::new(
                line,
                8,
                6,
                THRESHOLD_COLOUR.stroke_width(2),
            ))?;
        } else {
            chart.draw_series(LineSeries::new(line, THRESHOLD_COLOUR.stroke_width(2)))?;
        }
    }
    for seg in &view.smoothed {
        if seg.len() > 1 {
            chart.draw_series(LineSeries::new(
                seg.iter().copied(),
                SMOOTHED_COLOUR.stroke_width(2),
            ))?;
        } else {
            chart.draw_series(
                seg.iter()
                    .map(|&p| Circle::new(p, 3, SMOOTHED_COLOUR.filled())),
            )?;
        }
    }

    // The tracks, on the plot's x pixels (absolute backend coordinates).
    let (px_range, _) = chart.plotting_area().get_pixel_range();
    let px = |x: f64| chart.backend_coord(&(x, y_lo)).0;
    let (_, ty) = tracks.get_pixel_range();
    let screen = tracks.use_screen_coord();
    let spans = |ranges: &[Range<usize>]| -> Vec<(i32, i32)> {
        ranges
            .iter()
            .filter_map(|r| clip_span(r, xr))
            .map(|(a, b)| (px(a), px(b)))
            .collect()
    };
    let ticks: Vec<(i32, i32)> = tl
        .faults
        .iter()
        .filter(|&&x| x >= xr.start && x <= xr.end)
        .map(|&x| (px(x) - 1, px(x) + 1))
        .collect();
    let rows: [(Vec<(i32, i32)>, RGBColor); 3] = [
        (spans(plot.segments), LABEL_TRACK),
        (spans(plot.alarms), ALARM_COLOUR),
        (ticks, FAULT_COLOUR),
    ];
    let h = look.track_h as i32;
    for (i, ((marks, colour), name)) in rows.iter().zip(TRACK_NAMES).enumerate() {
        let y0 = ty.start + 2 + i as i32 * (h + 2);
        screen.draw(&Rectangle::new(
            [(px_range.start, y0), (px_range.end, y0 + h)],
            TRACK_BACKGROUND.filled(),
        ))?;
        for &(a, b) in marks {
            // At least two pixels wide, inside the plot.
            let a = a.clamp(px_range.start, px_range.end);
            let b = b.max(a + 2).min(px_range.end);
            if b > a {
                screen.draw(&Rectangle::new([(a, y0), (b, y0 + h)], colour.filled()))?;
            }
        }
        if text && look.desc {
            screen.draw(&Text::new(
                name,
                (px_range.start - 8, y0 + h / 2),
                font(12.0).pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
    }
    Ok(())
}

/// The ROC panel of [`eval_figure`]: the curve over a dashed diagonal,
/// with the AUC in the caption; a note when there is no curve.
fn draw_roc(
    area: &Area<'_>,
    roc: Option<(&[(f64, f64)], f64)>,
    baseline: Option<(&[(f64, f64)], f64)>,
    text: bool,
) -> Result<()> {
    let Some((points, auc)) = roc else {
        let (w, h) = area.dim_in_pixel();
        let inner = area.margin(20, 20, 20, 20);
        inner.draw(&Rectangle::new(
            [(0, 0), (w as i32 - 41, h as i32 - 41)],
            BLACK.mix(0.15).stroke_width(1),
        ))?;
        if text {
            let style = font(15.0).pos(Pos::new(HPos::Center, VPos::Center));
            let (cx, cy) = (w as i32 / 2 - 20, h as i32 / 2 - 20);
            inner.draw(&Text::new("no ROC curve:", (cx, cy - 11), style.clone()))?;
            inner.draw(&Text::new(
                "labels of both classes needed",
                (cx, cy + 11),
                style,
            ))?;
        }
        return Ok(());
    };
    let mut caption = if auc.is_finite() {
        format!("ROC, AUC = {auc:.3}")
    } else {
        "ROC".to_string()
    };
    if let Some((_, b)) = baseline
        && b.is_finite()
    {
        caption.push_str(&format!(" (PCA {b:.3}, grey)"));
    }
    let area = titled(area, &caption, 16.0, text)?;
    let range = -0.02..1.02;
    let fmt = |v: &f64| fmt_decimal(*v, 1);
    let y_area = if text {
        y_label_area(&["0.8".to_string()], 13.0, true)?
    } else {
        0
    };
    let mut chart = ChartBuilder::on(&area)
        .margin(4)
        .margin_right(16)
        .x_label_area_size(if text { 44 } else { 0 })
        .y_label_area_size(y_area)
        .build_cartesian_2d(range.clone(), range)?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.12))
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt);
        if text {
            mesh.label_style(font(13.0))
                .axis_desc_style(font(15.0))
                .x_desc("false positive rate")
                .y_desc("true positive rate");
        }
        mesh.draw()?;
    }
    if !text {
        frame(&chart.plotting_area().strip_coord_spec())?;
    }
    chart.draw_series(DashedLineSeries::new(
        [(0.0, 0.0), (1.0, 1.0)],
        6,
        5,
        BLACK.mix(0.45).stroke_width(1),
    ))?;
    let clean = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
        points
            .iter()
            .copied()
            .filter(|&(x, y)| usable(x) && usable(y))
            .map(|(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
            .collect()
    };
    if let Some((b, _)) = baseline {
        chart.draw_series(LineSeries::new(clean(b), BASELINE_COLOUR.stroke_width(2)))?;
    }
    let curve = clean(points);
    if curve.len() > 1 {
        chart.draw_series(
            AreaSeries::new(curve.iter().copied(), 0.0, SCORE_COLOUR.mix(0.12))
                .border_style(SCORE_COLOUR.stroke_width(2)),
        )?;
    } else {
        chart.draw_series(
            curve
                .iter()
                .map(|&p| Circle::new(p, 3, SCORE_COLOUR.filled())),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty directory for one test. The plots stay there after
    /// the run so they can be looked at (a later run replaces them).
    fn test_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join("edgeae-plots-tests").join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Asserts `path` is a PNG of `w`x`h` pixels and returns its byte length.
    fn assert_png(path: &Path, w: u32, h: u32) -> usize {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.len() > 24, "{}: too short", path.display());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |o: usize| u32::from_be_bytes(bytes[o..o + 4].try_into().unwrap());
        assert_eq!((be(16), be(20)), (w, h), "{}", path.display());
        bytes.len()
    }

    /// Pixels of exactly `colour` in the PNG at `path`.
    fn pixels_of(path: &Path, colour: RGBColor) -> usize {
        pixels_where(path, |p| p == [colour.0, colour.1, colour.2])
    }

    /// Pixels of `colour` drawn with some opacity of at least 0.2 over
    /// white (translucent points, and points drawn over each other).
    fn pixels_blended(path: &Path, colour: RGBColor) -> usize {
        let c = [colour.0, colour.1, colour.2].map(f64::from);
        // The channel furthest from white tells the opacity best.
        let (k, _) = c.iter().enumerate().fold((0, -1.0), |best, (i, &v)| {
            if 255.0 - v > best.1 {
                (i, 255.0 - v)
            } else {
                best
            }
        });
        pixels_where(path, |p| {
            let a = (255.0 - f64::from(p[k])) / (255.0 - c[k]);
            (0.2..=1.01).contains(&a)
                && p.iter()
                    .zip(&c)
                    .all(|(&p, &c)| (f64::from(p) - (a * c + (1.0 - a) * 255.0)).abs() <= 4.0)
        })
    }

    fn pixels_where(path: &Path, keep: impl Fn([u8; 3]) -> bool) -> usize {
        let decoder = png::Decoder::new(fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let step = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("{}: colour type {other:?}", path.display()),
        };
        buf[..info.buffer_size()]
            .chunks_exact(step)
            .filter(|p| keep([p[0], p[1], p[2]]))
            .count()
    }

    /// Asserts that `dir` holds exactly the files `names` (no temporaries).
    fn assert_only(dir: &Path, names: &[&str]) {
        let mut found: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(found, want);
    }

    fn curve(n: usize, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (0..n).map(|i| (i as f64, f(i as f64))).collect()
    }

    #[test]
    fn find_font_takes_first_existing_file() {
        let dir = test_dir("font");
        let a = dir.join("a.ttf");
        let b = dir.join("b.ttf");
        fs::write(&b, b"x").unwrap();
        fs::write(&a, b"x").unwrap();
        let missing = dir.join("missing.ttf");
        assert_eq!(find_font(&[]), None);
        assert_eq!(find_font(std::slice::from_ref(&missing)), None);
        // A directory is not a font file.
        assert_eq!(find_font(std::slice::from_ref(&dir)), None);
        assert_eq!(
            find_font(&[missing.clone(), dir.clone(), b.clone(), a.clone()]),
            Some(b.clone())
        );
        assert_eq!(find_font(&[a.clone(), b]), Some(a));
    }

    #[test]
    fn font_candidates_end_with_the_dejavu_paths() {
        let c = font_candidates();
        let tail: Vec<PathBuf> = FONT_PATHS.iter().map(PathBuf::from).collect();
        assert!(c.ends_with(&tail), "{c:?}");
        assert!(c.len() <= tail.len() + 1);
    }

    #[test]
    fn font_is_found_when_dejavu_is_installed() {
        let dejavu = FONT_PATHS.iter().any(|p| Path::new(p).is_file());
        let env_set = std::env::var_os("EDGEAE_FONT").is_some_and(|v| !v.is_empty());
        if dejavu && !env_set {
            assert!(font_available());
        }
        // scripts/test installs fonts-dejavu-core: in CI the plots have text.
        if std::env::var_os("CI").is_some() {
            assert!(
                font_available(),
                "no font in CI: fonts-dejavu-core is missing"
            );
        }
    }

    #[test]
    fn line_chart_writes_png() {
        let dir = test_dir("line");
        let train = curve(60, |e| 0.5 * (-e / 15.0).exp() + 0.02);
        let val = curve(60, |e| {
            0.55 * (-e / 14.0).exp() + 0.03 + 0.002 * (e * 0.7).sin()
        });
        let series = [
            Series {
                name: "training",
                points: &train,
            },
            Series {
                name: "validation",
                points: &val,
            },
        ];
        let p = dir.join("loss.png");
        line_chart(
            &p,
            "Loss (fashion-mnist, dense)",
            "epoch",
            "mean squared error",
            &series,
            false,
        )
        .unwrap();
        assert!(assert_png(&p, 900, 600) > 5_000);
        // Both curves are drawn: far more pixels of each series' colour
        // than its legend swatch has.
        for c in [PALETTE[0], PALETTE[1]] {
            let n = pixels_of(&p, c);
            assert!(n > 400, "{n} pixels of {c:?}");
        }
        // ... which a chart without data does not have.
        let empty = dir.join("empty.png");
        let none: [Series<'_>; 0] = [];
        line_chart(&empty, "no data", "epoch", "MSE", &none, false).unwrap();
        assert!(pixels_of(&empty, PALETTE[0]) < 100);
        fs::remove_file(&empty).unwrap();
        let q = dir.join("loss-log.png");
        line_chart(&q, "Loss (log)", "epoch", "MSE", &series, true).unwrap();
        assert_png(&q, 900, 600);
        // Overwriting works and leaves no temporary.
        line_chart(&q, "Loss (log)", "epoch", "MSE", &series, true).unwrap();
        assert_png(&q, 900, 600);
        assert_only(&dir, &["loss.png", "loss-log.png"]);
    }

    #[test]
    fn line_chart_degenerate_inputs() {
        let dir = test_dir("line-degenerate");
        let nan = [
            (0.0, f64::NAN),
            (1.0, 0.5),
            (f64::INFINITY, 1.0),
            (3.0, 0.25),
            (4.0, 0.3),
        ];
        let single = [(3.0, 7.0)];
        let constant = curve(10, |_| 0.125);
        let zeros = curve(5, |_| 0.0);
        let all_nan = [(f64::NAN, f64::NAN); 3];
        let huge = [(0.0, -1e300), (1.0, 1e300), (2.0, 1e149), (3.0, -1e149)];
        let tiny = [(0.0, 5e-324), (1.0, 1e-320), (2.0, 1e-310)];
        let tiny_span = [(0.0, 1e-200), (1.0, 2e-200), (1e-200, 3e-200)];
        let negative = curve(5, |e| -e);
        let cases: Vec<(&str, Vec<Series<'_>>)> = vec![
            ("empty", vec![]),
            (
                "nan",
                vec![Series {
                    name: "nan",
                    points: &nan,
                }],
            ),
            (
                "single",
                vec![Series {
                    name: "single",
                    points: &single,
                }],
            ),
            (
                "constant",
                vec![Series {
                    name: "",
                    points: &constant,
                }],
            ),
            (
                "zeros",
                vec![Series {
                    name: "zeros",
                    points: &zeros,
                }],
            ),
            (
                "all-nan",
                vec![
                    Series {
                        name: "all nan",
                        points: &all_nan,
                    },
                    Series {
                        name: "no points",
                        points: &[],
                    },
                ],
            ),
            (
                "huge",
                vec![Series {
                    name: "huge",
                    points: &huge,
                }],
            ),
            (
                "tiny",
                vec![Series {
                    name: "tiny",
                    points: &tiny,
                }],
            ),
            (
                "tiny-span",
                vec![Series {
                    name: "tiny span",
                    points: &tiny_span,
                }],
            ),
            (
                "negative",
                vec![Series {
                    name: "negative",
                    points: &negative,
                }],
            ),
        ];
        let mut names = Vec::new();
        for (name, series) in &cases {
            for log_y in [false, true] {
                let file = format!("{name}-{log_y}.png");
                let p = dir.join(&file);
                line_chart(&p, name, "x", "y", series, log_y)
                    .unwrap_or_else(|e| panic!("{file}: {e:#}"));
                assert_png(&p, 900, 600);
                names.push(file);
            }
        }
        // Many long names wrap the legend onto several rows.
        let pts = curve(3, |e| e);
        let names_long: Vec<String> = (0..14)
            .map(|i| format!("a rather long series name {i}"))
            .collect();
        let many: Vec<Series<'_>> = names_long
            .iter()
            .map(|n| Series {
                name: n,
                points: &pts,
            })
            .collect();
        let p = dir.join("many.png");
        line_chart(&p, "", "", "", &many, false).unwrap();
        assert_png(&p, 900, 600);
        names.push("many.png".into());
        // Far too many for the legend: it is cut to a third of the height.
        let names_many: Vec<String> = (0..300).map(|i| format!("series {i}")).collect();
        let too_many: Vec<Series<'_>> = names_many
            .iter()
            .map(|n| Series {
                name: n,
                points: &pts,
            })
            .collect();
        let p = dir.join("too-many.png");
        line_chart(&p, "too many", "x", "y", &too_many, true).unwrap();
        assert_png(&p, 900, 600);
        names.push("too-many.png".into());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_only(&dir, &names);
    }

    #[test]
    fn line_chart_without_text_draws() {
        // The drawing path used when no font is available.
        let dir = test_dir("line-notext");
        let pts = curve(20, |e| 1.0 / (e + 1.0));
        let series = [Series {
            name: "loss",
            points: &pts,
        }];
        for log_y in [false, true] {
            let p = dir.join(format!("{log_y}.png"));
            render(&p, (900, 600), |root| {
                draw_line_chart(root, "t", "x", "y", &series, log_y, false)
            })
            .unwrap();
            assert_png(&p, 900, 600);
        }
        assert_only(&dir, &["false.png", "true.png"]);
    }

    #[test]
    fn errors_name_the_file_and_leave_nothing() {
        let dir = test_dir("errors");
        let p = dir.join("missing-dir").join("x.png");
        let err = line_chart(&p, "t", "x", "y", &[], false).unwrap_err();
        assert!(format!("{err:#}").contains("x.png"), "{err:#}");
        // A failure while drawing removes the temporary the backend writes.
        let q = dir.join("y.png");
        let err = render(&q, (10, 10), |_| bail!("boom")).unwrap_err();
        assert!(format!("{err:#}").contains("y.png"), "{err:#}");
        assert!(format!("{err:#}").contains("boom"), "{err:#}");
        let err = image_grid(&q, "", &[vec![&[0.0f32; 3][..]]], &[], 2, 2, 1).unwrap_err();
        assert!(format!("{err:#}").contains("y.png"), "{err:#}");
        let err = signal_panels(&q, "", &[], 0).unwrap_err();
        assert!(format!("{err:#}").contains("y.png"), "{err:#}");
        let err = image_grid(&q, "", &[vec![&[][..]]], &[], usize::MAX, 0, 3).unwrap_err();
        assert!(format!("{err:#}").contains("y.png"), "{err:#}");
        let err = render(&q, (100_000, 100_000), |_| Ok(())).unwrap_err();
        assert!(format!("{err:#}").contains("too large"), "{err:#}");
        assert_only(&dir, &[]);
    }

    #[test]
    fn image_grid_layout_without_text() {
        let dir = test_dir("grid-plain");
        let img = [0.0f32, 1.0, 1.0, 0.0];
        let p = dir.join("one.png");
        image_grid(&p, "", &[vec![&img[..]]], &[""], 2, 2, 1).unwrap();
        // 1 gap + 2 px + 1 gap each way.
        let len = assert_png(&p, 4, 4);
        assert!(len > 60, "{len}");
        // cols*(w*s+1)+1 by rows*(h*s+1)+1, the longest row counts.
        let a = [0.5f32; 6]; // 3 wide, 2 high
        let rows = vec![vec![&a[..], &a[..], &a[..]], vec![&a[..]]];
        let q = dir.join("grid.png");
        image_grid(&q, "", &rows, &[], 3, 2, 4).unwrap();
        assert_png(&q, 3 * (3 * 4 + 1) + 1, 2 * (2 * 4 + 1) + 1);
        assert_eq!(
            GridLayout::new("", &rows, &[], 3, 2, 4, false).unwrap(),
            GridLayout {
                canvas_w: 40,
                canvas_h: 19,
                top: 0,
                left: 0,
                cell_w: 12,
                cell_h: 8,
                scale: 4,
                title_size: 20,
                row_title_size: 10,
            }
        );
        // Titles are not drawn (nor make room) without a font.
        let l = GridLayout::new("title", &rows, &["a", "b"], 3, 2, 4, false).unwrap();
        assert_eq!((l.canvas_w, l.canvas_h, l.top, l.left), (40, 19, 0, 0));
        assert_only(&dir, &["one.png", "grid.png"]);
    }

    #[test]
    fn image_grid_with_titles() {
        let dir = test_dir("grid-titles");
        // A 28x28 "digit": a ring, plus its noisy reconstruction.
        let ring: Vec<f32> = (0..28 * 28)
            .map(|i| {
                let (x, y) = ((i % 28) as f32 - 13.5, (i / 28) as f32 - 13.5);
                let r = (x * x + y * y).sqrt();
                (1.0 - (r - 8.0).abs() / 3.0).clamp(0.0, 1.0)
            })
            .collect();
        let recon: Vec<f32> = ring
            .iter()
            .enumerate()
            .map(|(i, v)| v * 0.8 + 0.1 * ((i * 7919 % 13) as f32 / 13.0))
            .collect();
        let mut odd = recon.clone();
        odd[0] = f32::NAN;
        odd[29] = 2.0;
        odd[30] = -1.0;
        let rows = vec![
            vec![&ring[..]; 8],
            vec![
                &recon[..],
                &odd[..],
                &recon[..],
                &recon[..],
                &recon[..],
                &recon[..],
                &recon[..],
                &recon[..],
            ],
        ];
        let p = dir.join("recon.png");
        image_grid(
            &p,
            "Fashion-MNIST: originals / reconstructions",
            &rows,
            &["original", "reconstruction"],
            28,
            28,
            3,
        )
        .unwrap();
        let l = GridLayout::new(
            "Fashion-MNIST: originals / reconstructions",
            &rows,
            &["original", "reconstruction"],
            28,
            28,
            3,
            font_available(),
        )
        .unwrap();
        let grid_w = l.left + 8 * (28 * 3 + 1) + 1;
        assert!(l.canvas_w >= grid_w);
        assert_eq!(l.canvas_h, l.top + 2 * (28 * 3 + 1) + 1);
        if font_available() {
            assert!(l.top > 0 && l.left > 0, "{l:?}");
        }
        assert_png(&p, l.canvas_w, l.canvas_h);
        // A long title over a narrow grid widens the canvas.
        let q = dir.join("narrow.png");
        image_grid(
            &q,
            "a title much wider than one image",
            &rows[..1]
                .iter()
                .map(|r| r[..1].to_vec())
                .collect::<Vec<_>>(),
            &["x"],
            28,
            28,
            1,
        )
        .unwrap();
        if font_available() {
            let l = GridLayout::new(
                "a title much wider than one image",
                &[vec![&ring[..]]],
                &["x"],
                28,
                28,
                1,
                true,
            )
            .unwrap();
            assert!(l.canvas_w > l.left + 30);
            assert_png(&q, l.canvas_w, l.canvas_h);
        }
        assert_only(&dir, &["recon.png", "narrow.png"]);
    }

    #[test]
    fn image_grid_degenerate_inputs() {
        let dir = test_dir("grid-degenerate");
        let p = dir.join("empty.png");
        image_grid(&p, "", &[], &[], 28, 28, 3).unwrap();
        assert_png(&p, 1, 1);
        let q = dir.join("empty-rows.png");
        image_grid(&q, "", &[vec![], vec![]], &["a", "b", "c"], 28, 28, 3).unwrap();
        let l = GridLayout::new(
            "",
            &[vec![], vec![]],
            &["a", "b", "c"],
            28,
            28,
            3,
            font_available(),
        )
        .unwrap();
        assert_png(&q, l.canvas_w, l.canvas_h);
        let r = dir.join("zero-size.png");
        image_grid(&r, "", &[vec![&[][..], &[][..]]], &[], 0, 5, 0).unwrap();
        assert_png(&r, 3, 2);
        assert_only(&dir, &["empty.png", "empty-rows.png", "zero-size.png"]);
    }

    #[test]
    fn signal_panels_write_png() {
        let dir = test_dir("signal");
        let (steps, ch) = (128, 3);
        let orig: Vec<f32> = (0..steps * ch)
            .map(|i| {
                let (t, c) = ((i / ch) as f32, (i % ch) as f32);
                (t / 10.0 + c).sin() * (1.0 + c)
            })
            .collect();
        let recon: Vec<f32> = orig
            .iter()
            .enumerate()
            .map(|(i, v)| v * 0.9 + 0.05 * (i % 5) as f32)
            .collect();
        let windows: Vec<(&[f32], &[f32])> = vec![(&orig, &recon); 5];
        let p = dir.join("signals.png");
        signal_panels(&p, "Accelerometer windows", &windows, ch).unwrap();
        let text = font_available();
        let h = signal_canvas_height("Accelerometer windows", 4, ch, text).unwrap();
        assert_png(&p, 900, h);
        let q = dir.join("one.png");
        signal_panels(&q, "", &windows[..1], ch).unwrap();
        assert_png(&q, 900, signal_canvas_height("", 1, ch, text).unwrap());
        // Margins and 200 px panels, plus title and legend bands with a font.
        assert_eq!(signal_canvas_height("t", 3, 2, false).unwrap(), 8 + 3 * 200);
        if text {
            let with_title = signal_canvas_height("t", 1, 3, true).unwrap();
            let without = signal_canvas_height("", 1, 3, true).unwrap();
            assert!(without > 8 + 200 && with_title > without);
            // Sixteen channels wrap the legend onto a second row.
            assert!(signal_canvas_height("", 1, 16, true).unwrap() > without);
        }
        assert_only(&dir, &["signals.png", "one.png"]);
    }

    #[test]
    fn signal_panels_degenerate_inputs() {
        let dir = test_dir("signal-degenerate");
        let nan = [0.0f32, f32::NAN, 1.0, 2.0, f32::INFINITY, 0.5, 0.25];
        let constant = [3.0f32; 12];
        let single = [1.0f32, 2.0];
        type Case<'a> = (&'a str, Vec<(&'a [f32], &'a [f32])>, usize);
        let cases: Vec<Case<'_>> = vec![
            ("empty", vec![], 1),
            ("nan", vec![(&nan, &constant)], 1),
            ("nan2", vec![(&nan, &nan)], 2),
            ("constant", vec![(&constant, &constant)], 3),
            ("single", vec![(&single, &single)], 2),
            ("short", vec![(&single, &[])], 3),
            ("many-channels", vec![(&constant, &constant)], 12),
            ("sixteen-channels", vec![(&constant, &constant)], 16),
        ];
        let mut names = Vec::new();
        for (name, windows, ch) in &cases {
            let file = format!("{name}.png");
            let p = dir.join(&file);
            signal_panels(&p, name, windows, *ch).unwrap_or_else(|e| panic!("{file}: {e:#}"));
            let n = windows.len().clamp(1, 4) as u32;
            let h = signal_canvas_height(name, n, *ch, font_available()).unwrap();
            assert_png(&p, 900, h);
            names.push(file);
        }
        // Without text.
        let p = dir.join("notext.png");
        render(&p, (900, 400), |root| {
            draw_signal_panels(
                root,
                "t",
                &[(&nan, &constant), (&single, &single)],
                1,
                false,
            )
        })
        .unwrap();
        assert_png(&p, 900, 400);
        names.push("notext.png".into());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_only(&dir, &names);
    }

    #[test]
    fn scatter_writes_png() {
        let dir = test_dir("scatter");
        let points: Vec<(f64, f64)> = (0..1000)
            .map(|i| {
                let k = (i % 10) as f64;
                let a = k / 10.0 * std::f64::consts::TAU;
                let r = 3.0 + ((i * 37 % 100) as f64 / 100.0);
                (
                    r * a.cos() + (i % 7) as f64 * 0.1,
                    r * a.sin() - (i % 3) as f64 * 0.1,
                )
            })
            .collect();
        let mut labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        labels[3] = 200;
        let p = dir.join("codes.png");
        scatter(&p, "Codings (2-D)", &points, Some(&labels)).unwrap();
        assert_png(&p, 900, 700);
        // Points of several labels are drawn in their colours.
        let counts: Vec<usize> = PALETTE.iter().map(|&c| pixels_blended(&p, c)).collect();
        assert!(
            counts.iter().all(|&n| n > 300),
            "pixels per label colour: {counts:?}"
        );
        // Without labels, the points share one colour.
        let q0 = dir.join("unlabelled.png");
        scatter(&q0, "Codings", &points, None).unwrap();
        let counts: Vec<usize> = PALETTE.iter().map(|&c| pixels_blended(&q0, c)).collect();
        assert_eq!(counts.iter().filter(|&&n| n > 300).count(), 1, "{counts:?}");
        let q = dir.join("unlabelled.png");
        scatter(&q, "Codings", &points, None).unwrap();
        assert_png(&q, 900, 700);
        assert_only(&dir, &["codes.png", "unlabelled.png"]);
    }

    #[test]
    fn scatter_degenerate_inputs() {
        let dir = test_dir("scatter-degenerate");
        type Case = (&'static str, Vec<(f64, f64)>, Option<Vec<u8>>);
        let cases: Vec<Case> = vec![
            ("empty", vec![], None),
            ("empty-labels", vec![], Some(vec![])),
            ("single", vec![(1.0, 2.0)], Some(vec![3])),
            (
                "nan",
                vec![
                    (f64::NAN, 1.0),
                    (1.0, f64::INFINITY),
                    (0.0, 0.0),
                    (1.0, 1.0),
                ],
                Some(vec![1, 2]),
            ),
            ("constant", vec![(5.0, 5.0); 10], Some(vec![0; 20])),
            ("tiny", vec![(5e-324, 0.0), (1e-310, 1e-200)], None),
            ("all-nan", vec![(f64::NAN, f64::NAN); 4], Some(vec![1; 4])),
        ];
        let mut names = Vec::new();
        for (name, points, labels) in &cases {
            let file = format!("{name}.png");
            let p = dir.join(&file);
            scatter(&p, name, points, labels.as_deref())
                .unwrap_or_else(|e| panic!("{file}: {e:#}"));
            assert_png(&p, 900, 700);
            names.push(file);
        }
        let p = dir.join("notext.png");
        render(&p, (900, 700), |root| {
            draw_scatter(root, "t", &[(0.0, 0.0), (1.0, 2.0)], Some(&[1, 2]), false)
        })
        .unwrap();
        assert_png(&p, 900, 700);
        names.push("notext.png".into());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_only(&dir, &names);
    }

    /// A realistic `edgeae eval` input: `windows` windows of 64 rows, hop 4,
    /// log-normal noise, four labelled segments with bumps of `gain` times
    /// their own size (the second too weak to detect), a run of fault
    /// windows, EWMA smoothing and alarm hysteresis.
    struct EvalExample {
        scores: Vec<(f64, f64)>,
        smoothed: Vec<(f64, f64)>,
        segments: Vec<Range<usize>>,
        alarms: Vec<Range<usize>>,
        roc: Vec<(f64, f64)>,
        auc: f64,
        threshold: f64,
        clear: f64,
    }

    fn eval_example(windows: usize, gain: f64) -> EvalExample {
        use crate::score::metrics;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (len, hop) = (64, 4);
        let rows = (windows.max(1) - 1) * hop + len;
        let at = |pct: usize| rows * pct / 100;
        let segments = vec![
            at(15)..at(15) + 180,
            at(40)..at(40) + 60,
            at(62)..at(62) + 400,
            at(85)..at(85) + 120,
        ];
        let bumps = [1.0, 0.01, 2.5, 0.6];
        let (threshold, clear) = (0.045, 0.035);
        let mut records = Vec::with_capacity(windows);
        let mut labels = Vec::with_capacity(windows);
        let (mut ewma, mut alarm) = (f64::NAN, false);
        let (mut scores, mut smoothed) = (Vec::new(), Vec::new());
        for i in 0..windows {
            let (start, end) = (i * hop, i * hop + len);
            let normal: f64 = {
                let (u, v): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen_range(0.0..1.0));
                (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            };
            let mut score = 0.02 * (0.35 * normal).exp();
            let mut label = 0;
            for (seg, bump) in segments.iter().zip(bumps) {
                let overlap = end.min(seg.end).saturating_sub(start.max(seg.start));
                if overlap > 0 {
                    label = 1;
                    score += gain * bump * overlap as f64 / len as f64;
                }
            }
            let fault = (windows / 2..windows / 2 + 12).contains(&i) || i % 997 == 500;
            if fault {
                score = f64::NAN;
            } else {
                ewma = if ewma.is_nan() {
                    score
                } else {
                    0.85 * ewma + 0.15 * score
                };
                if ewma > threshold {
                    alarm = true;
                } else if ewma < clear {
                    alarm = false;
                }
            }
            scores.push((end as f64, score));
            smoothed.push((end as f64, ewma));
            labels.push(label);
            records.push(metrics::WindowRecord {
                start,
                end,
                score: score as f32,
                alarm,
                fault,
            });
        }
        let f32_scores: Vec<f32> = records.iter().map(|r| r.score).collect();
        let roc = metrics::roc_curve(&f32_scores, &labels).unwrap_or_default();
        let auc = metrics::roc_auc(&f32_scores, &labels).unwrap_or(f64::NAN);
        EvalExample {
            scores,
            smoothed,
            segments,
            alarms: metrics::alarm_spans(&records),
            roc,
            auc,
            threshold,
            clear,
        }
    }

    impl EvalExample {
        fn plot<'a>(&'a self, title: &'a str, roc: bool) -> EvalPlot<'a> {
            EvalPlot {
                title,
                scores: &self.scores,
                smoothed: &self.smoothed,
                threshold: self.threshold,
                clear_threshold: self.clear,
                segments: &self.segments,
                alarms: &self.alarms,
                roc: roc.then_some((&self.roc[..], self.auc)),
                baseline_roc: None,
            }
        }
    }

    #[test]
    fn eval_figure_writes_png() {
        let dir = test_dir("eval");
        // Large bumps: the scores span over two decades, a log axis.
        let ex = eval_example(3000, 1.0);
        assert!(eval_log_y(&ex.scores, &ex.smoothed));
        assert!(ex.auc > 0.8 && ex.auc < 1.0, "{}", ex.auc);
        assert!(!ex.alarms.is_empty());
        let p = dir.join("eval.png");
        eval_figure(&p, &ex.plot("eval: sensor-7 (dense AE)", true)).unwrap();
        assert!(assert_png(&p, 1200, 900) > 20_000);
        // The score, the smoothed score and the threshold are drawn.
        for c in [SCORE_COLOUR, SMOOTHED_COLOUR, THRESHOLD_COLOUR] {
            let n = pixels_of(&p, c);
            assert!(n > 1_000, "{n} pixels of {c:?}");
        }
        // Small bumps: a linear axis.
        let mild = eval_example(3000, 0.05);
        assert!(!eval_log_y(&mild.scores, &mild.smoothed));
        let q = dir.join("eval-linear.png");
        eval_figure(&q, &mild.plot("eval: linear axis", true)).unwrap();
        assert_png(&q, 1200, 900);
        // No labels: a note instead of the ROC curve.
        let r = dir.join("eval-unlabelled.png");
        eval_figure(&r, &ex.plot("eval: no labels", false)).unwrap();
        assert_png(&r, 1200, 900);
        // Overwriting works and leaves no temporary.
        eval_figure(&r, &ex.plot("eval: no labels", false)).unwrap();
        assert_png(&r, 1200, 900);
        assert_only(
            &dir,
            &["eval.png", "eval-linear.png", "eval-unlabelled.png"],
        );
    }

    // Ranges here are row spans (data), some reversed or empty on purpose.
    #[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
    #[test]
    fn eval_figure_degenerate_inputs() {
        let dir = test_dir("eval-degenerate");
        let all_nan = curve(50, |_| f64::NAN);
        let nan_x = [(f64::NAN, 1.0), (f64::INFINITY, 2.0), (3.0, 0.5)];
        let single = [(10.0, 0.3)];
        let constant = curve(100, |_| 0.25);
        let zeros = curve(100, |_| 0.0);
        let huge = [(0.0, -1e300), (1.0, 1e300), (2.0, 1e149), (3.0, 1e-149)];
        let wide = curve(200, |x| {
            if (x as usize).is_multiple_of(50) {
                0.0
            } else {
                1e-3 * (x + 1.0)
            }
        });
        let roc = [(0.0, 0.0), (0.2, 0.7), (1.0, 1.0)];
        let bad_roc = [(f64::NAN, 0.0), (2.0, -1.0), (0.5, f64::INFINITY)];
        let base = EvalPlot {
            title: "",
            scores: &[],
            smoothed: &[],
            threshold: f64::INFINITY,
            clear_threshold: f64::INFINITY,
            segments: &[],
            alarms: &[],
            roc: None,
            baseline_roc: None,
        };
        let odd_segments = [9..2, 5..5, 40..60, 1_000_000..1_000_010, 0..1, 3..4];
        let cases: Vec<(&str, EvalPlot<'_>)> = vec![
            ("empty", base),
            (
                "empty-with-roc",
                EvalPlot {
                    title: "empty",
                    roc: Some((&[], f64::NAN)),
                    baseline_roc: None,
                    ..base
                },
            ),
            (
                "all-nan",
                EvalPlot {
                    title: "all NaN",
                    scores: &all_nan,
                    smoothed: &all_nan,
                    threshold: 0.5,
                    clear_threshold: 0.4,
                    segments: &[10..20],
                    alarms: &[5..30],
                    roc: Some((&roc, 0.5)),
                    baseline_roc: None,
                },
            ),
            (
                "nan-x",
                EvalPlot {
                    scores: &nan_x,
                    smoothed: &single,
                    threshold: f64::NAN,
                    clear_threshold: f64::NEG_INFINITY,
                    ..base
                },
            ),
            (
                "single",
                EvalPlot {
                    scores: &single,
                    smoothed: &single,
                    segments: &[10..11],
                    alarms: &[10..10],
                    ..base
                },
            ),
            (
                "constant",
                EvalPlot {
                    scores: &constant,
                    smoothed: &constant,
                    threshold: 0.25,
                    clear_threshold: 0.25,
                    alarms: &[0..100],
                    roc: Some((&bad_roc, 2.0)),
                    baseline_roc: None,
                    ..base
                },
            ),
            (
                "zeros",
                EvalPlot {
                    scores: &zeros,
                    smoothed: &zeros,
                    threshold: 0.0,
                    clear_threshold: -1.0,
                    ..base
                },
            ),
            (
                "huge",
                EvalPlot {
                    scores: &huge,
                    smoothed: &huge,
                    threshold: 1e200,
                    clear_threshold: -1e200,
                    ..base
                },
            ),
            (
                "log-with-zeros",
                EvalPlot {
                    scores: &wide,
                    smoothed: &wide,
                    threshold: 0.05,
                    clear_threshold: -0.01,
                    segments: &odd_segments,
                    alarms: &[150..140, 60..70, 199..199, 500..2000],
                    roc: Some((&roc, 0.8)),
                    baseline_roc: None,
                    ..base
                },
            ),
        ];
        let mut names = Vec::new();
        for (name, plot) in &cases {
            let file = format!("{name}.png");
            let p = dir.join(&file);
            eval_figure(&p, plot).unwrap_or_else(|e| panic!("{file}: {e:#}"));
            assert_png(&p, 1200, 900);
            names.push(file);
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_only(&dir, &names);
    }

    #[test]
    fn eval_figure_without_text_draws() {
        // The drawing path used when no font is available.
        let dir = test_dir("eval-notext");
        let ex = eval_example(400, 1.0);
        for (name, roc) in [("roc.png", true), ("no-roc.png", false)] {
            let p = dir.join(name);
            render(&p, (EVAL_W, EVAL_H), |root| {
                draw_eval_figure(root, &ex.plot("t", roc), false)
            })
            .unwrap();
            assert_png(&p, 1200, 900);
        }
        // Nothing but a title.
        let p = dir.join("empty.png");
        let plot = EvalPlot {
            title: "t",
            scores: &[],
            smoothed: &[],
            threshold: 1.0,
            clear_threshold: 0.5,
            segments: &[],
            alarms: &[],
            roc: None,
            baseline_roc: None,
        };
        render(&p, (EVAL_W, EVAL_H), |root| {
            draw_eval_figure(root, &plot, false)
        })
        .unwrap();
        assert_png(&p, 1200, 900);
        assert_only(&dir, &["roc.png", "no-roc.png", "empty.png"]);
        // Errors name the file.
        let err = eval_figure(&dir.join("missing").join("e.png"), &plot).unwrap_err();
        assert!(format!("{err:#}").contains("e.png"), "{err:#}");
    }

    // Ranges here are row spans (data), some reversed or empty on purpose.
    #[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
    #[test]
    fn eval_log_axis_needs_two_decades() {
        assert!(!eval_log_y(&[], &[]));
        assert!(!eval_log_y(&[(0.0, 0.01), (1.0, 1.0)], &[]));
        assert!(eval_log_y(&[(0.0, 0.01)], &[(1.0, 1.01)]));
        // Zeros, negatives and non-finite values do not count.
        assert!(!eval_log_y(
            &[
                (0.0, 0.0),
                (1.0, -5.0),
                (2.0, 1.0),
                (3.0, f64::NAN),
                (f64::NAN, 1e-9)
            ],
            &[(0.0, 2.0)]
        ));
        // Timeline x range: starts at row 0, covers segments and alarms.
        let plot = EvalPlot {
            title: "",
            scores: &[(64.0, 1.0), (1000.0, 2.0)],
            smoothed: &[],
            threshold: 1.0,
            clear_threshold: 0.5,
            segments: &[900..1200],
            alarms: &[],
            roc: None,
            baseline_roc: None,
        };
        assert_eq!(Timeline::new(&plot).x_range, 0.0..1200.0);
        // Far from 0: not stretched to it.
        let far = [(1e6, 1.0), (1.001e6, 2.0)];
        let plot = EvalPlot {
            scores: &far,
            segments: &[],
            ..plot
        };
        assert_eq!(Timeline::new(&plot).x_range, 1e6..1.001e6);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_decimal(0.5000, 3), "0.5");
        assert_eq!(fmt_decimal(-0.0001, 2), "0");
        assert_eq!(fmt_decimal(20.0, 0), "20");
        assert_eq!(fmt_scientific(1.5e-5, 3), "1.5e-5");
        assert_eq!(fmt_scientific(1e9, 2), "1e9");
        assert_eq!(log_label(&0.30000000000000004), "0.3");
        assert_eq!(log_label(&1e-5), "1e-5");
        assert_eq!(log_label(&100.0), "100");
        assert_eq!(log_label(&0.0), "");
        let f = linear_formatter(&(0.0..1.0));
        assert_eq!(f(&0.25), "0.25");
        let f = linear_formatter(&(0.0..1e7));
        assert_eq!(f(&2e6), "2e6");
        let f = linear_formatter(&(0.0..50.0));
        assert_eq!(f(&10.0), "10");
        let f = linear_formatter(&(-1e149..1e149));
        assert_eq!(f(&1.14e133), "0");
        assert_eq!(f(&5e148), "5e148");
    }

    fn log_axis_of(values: &[f64]) -> LogAxis {
        let mut b = Bounds::empty();
        for &v in values {
            b.add(v);
        }
        b.log_axis()
    }

    #[test]
    fn log_axis_always_has_labelled_ticks() {
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x / y - 1.0).abs() < 1e-9)
        };
        // A single value: 1..9 steps around it.
        let a = log_axis_of(&[0.3]);
        assert!(close(&a.bold, &[0.3, 0.4]), "{a:?}");
        // No 1..9 step inside: widened to the steps around it.
        let a = log_axis_of(&[0.31, 0.39]);
        assert!(close(&a.bold, &[0.3, 0.4]), "{a:?}");
        assert!((a.range.start - 0.3).abs() < 1e-12 && (a.range.end - 0.4).abs() < 1e-12);
        // A typical loss curve: 1-2-5 steps.
        let a = log_axis_of(&[0.02, 0.6]);
        assert!(close(&a.bold, &[0.02, 0.05, 0.1, 0.2, 0.5]), "{a:?}");
        // Several decades: powers of ten.
        let a = log_axis_of(&[1e-3, 1.0]);
        assert!(close(&a.bold, &[1e-3, 1e-2, 1e-1, 1.0]), "{a:?}");
        // Very many decades: at most about 9 labels.
        let a = log_axis_of(&[1e-100, 1e100]);
        assert!((2..=10).contains(&a.bold.len()), "{a:?}");
        for a in [
            log_axis_of(&[]),
            log_axis_of(&[1e-149]),
            log_axis_of(&[1e149]),
            log_axis_of(&[5e-324]),
            log_axis_of(&[5e-324, 1e149]),
        ] {
            assert!(a.range.start > 0.0 && a.range.end.is_finite(), "{a:?}");
            assert!(a.range.start < a.range.end, "{a:?}");
            assert!(a.bold.len() >= 2, "{a:?}");
        }
    }

    #[test]
    fn bounds_pad_degenerate_ranges() {
        let mut b = Bounds::empty();
        assert_eq!(b.linear(0.05), 0.0..1.0);
        let a = b.log_axis();
        assert!(a.range.start < 0.1 && a.range.end > 1.0, "{a:?}");
        assert!(a.bold.len() >= 2, "{a:?}");
        b.add(0.0);
        let r = b.linear(0.05);
        assert!(r.start < 0.0 && r.end > 0.0);
        let mut b = Bounds::empty();
        b.add(-1e149);
        b.add(1e149);
        let r = b.linear(0.05);
        assert!(r.start.is_finite() && r.end.is_finite());
    }
}
