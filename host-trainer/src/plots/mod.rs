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

use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result, bail};

mod axes;
mod eval;
mod images;
mod legend;
mod line;
mod scatter;
mod signals;
mod style;

use axes::*;
use eval::*;
use images::*;
use legend::*;
use line::*;
use scatter::*;
use signals::*;
use style::*;

pub use style::font_available;

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

/// Sample images drawn on a [`scatter`] plot at their points, as in the
/// textbook's t-SNE map of Fashion-MNIST.
#[derive(Debug, Clone, Copy)]
pub struct Thumbnails<'a> {
    /// One image per point, concatenated: point `i`'s image is the
    /// `width*height` values (row-major, in `[0, 1]`) from `i*width*height`;
    /// points past the end have none.
    pub pixels: &'a [f32],
    /// Pixels per image row.
    pub width: usize,
    /// Image rows.
    pub height: usize,
}

/// Most thumbnails one [`scatter`] plot draws.
pub const MAX_THUMBNAILS: usize = 80;

/// Scatter of 2-D points coloured by an optional class label (0..=9), e.g.
/// a map of codings.
///
/// 900x700 px. Class `k` is drawn in the `k`-th "tab10" colour; points with
/// no label (`labels` absent or shorter than `points`) or a label above 9
/// are drawn dark gray. With labels and a font, a legend column on the right
/// lists the classes present. Non-finite points are skipped.
///
/// With `thumbnails`, images are drawn over the points, dark ink on white
/// (1 is black) in a frame of the point's colour, one pixel per image
/// pixel: taken in point order, each where it overlaps no image drawn
/// before and lies inside the plot, at most [`MAX_THUMBNAILS`]. Returns the
/// number of images drawn.
pub fn scatter(
    path: &Path,
    title: &str,
    points: &[(f64, f64)],
    labels: Option<&[u8]>,
    thumbnails: Option<Thumbnails<'_>>,
) -> Result<usize> {
    let text = font_available();
    let mut drawn = 0;
    render(path, (900, 700), |root| {
        drawn = draw_scatter(root, title, points, labels, thumbnails, text)?;
        Ok(())
    })?;
    Ok(drawn)
}

/// One panel of [`signal_figure`]: a caption over a solid and a dashed
/// trace, each `steps*channels` values time-major (either may be empty).
#[derive(Debug, Clone, Copy)]
pub struct SignalPanel<'a> {
    /// Written above the panel (with a font).
    pub caption: &'a str,
    /// The solid trace.
    pub solid: &'a [f32],
    /// The dashed trace.
    pub dashed: &'a [f32],
}

/// Most panels of one [`signal_figure`].
pub const MAX_SIGNAL_PANELS: usize = 16;

/// Captioned signal panels, as [`signal_panels`] draws them, for up to
/// [`MAX_SIGNAL_PANELS`] panels (the rest are left out): `legend` names the
/// solid and the dashed traces (an empty name gets no legend entry).
/// 900 px wide; the height is that of [`signal_panels`] for as many panels.
pub fn signal_figure(
    path: &Path,
    title: &str,
    panels: &[SignalPanel<'_>],
    channels: usize,
    legend: (&str, &str),
) -> Result<()> {
    if channels == 0 {
        bail!("cannot write plot `{}`: zero channels", path.display());
    }
    let lines = Lines {
        solid: legend.0,
        dashed: legend.1,
    };
    let panels = &panels[..panels.len().min(MAX_SIGNAL_PANELS)];
    let text = font_available();
    let height = figure_height(title, panels.len().max(1) as u32, channels, lines, text)
        .with_context(|| format!("cannot write plot `{}`", path.display()))?;
    render(path, (900, height), |root| {
        draw_signal_figure(root, title, panels, channels, lines, text)
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

#[cfg(test)]
mod tests;
