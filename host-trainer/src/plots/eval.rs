//! The eval figure: score timeline with threshold and labelled segments,
//! and the ROC curves.

use std::ops::Range;

use anyhow::Result;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::series::DashedLineSeries;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;

/// Canvas size of [`eval_figure`].
pub(super) const EVAL_W: u32 = 1200;
pub(super) const EVAL_H: u32 = 900;
/// Height of the bottom row of [`eval_figure`] (ROC panel and close-ups).
pub(super) const EVAL_BOTTOM_H: u32 = 330;
/// Close-ups of at most this many labelled segments.
pub(super) const EVAL_ZOOMS: usize = 3;
/// Font sizes of the title and the legend of [`eval_figure`].
pub(super) const EVAL_TITLE_SIZE: f64 = 22.0;
pub(super) const EVAL_LEGEND_SIZE: f64 = 15.0;

pub(super) const SCORE_COLOUR: RGBColor = PALETTE[0];
/// The PCA baseline's curve.
pub(super) const BASELINE_COLOUR: RGBColor = RGBColor(128, 128, 128);
pub(super) const SMOOTHED_COLOUR: RGBColor = PALETTE[1];
pub(super) const THRESHOLD_COLOUR: RGBColor = RGBColor(40, 40, 40);
pub(super) const LABEL_COLOUR: RGBColor = PALETTE[3];
/// Opacity of the labelled-segment shading on the timeline.
pub(super) const LABEL_SHADE: f64 = 0.13;
/// Labelled segments in their track: the label colour at 55% on white.
pub(super) const LABEL_TRACK: RGBColor = RGBColor(232, 136, 137);
pub(super) const ALARM_COLOUR: RGBColor = PALETTE[4];
pub(super) const FAULT_COLOUR: RGBColor = RGBColor(200, 0, 0);
pub(super) const TRACK_BACKGROUND: RGBColor = RGBColor(236, 236, 236);
/// Names of the tracks above the timeline, top to bottom.
pub(super) const TRACK_NAMES: [&str; 3] = ["labelled", "alarm", "fault"];

/// How one timeline panel (the overview or a close-up) is drawn.
#[derive(Debug, Clone, Copy)]
pub(super) struct TimelineLook {
    /// Height of each track above the plot, in pixels.
    pub(super) track_h: u32,
    /// Tick-label font size.
    pub(super) label_size: f64,
    /// Axis descriptions and track names.
    pub(super) desc: bool,
    pub(super) x_labels: usize,
    pub(super) y_labels: usize,
    pub(super) text: bool,
}

/// The timeline's data, cleaned once for the overview and the close-ups.
pub(super) struct Timeline<'p> {
    pub(super) plot: &'p EvalPlot<'p>,
    /// Runs of drawable points of the score and of the smoothed score.
    pub(super) score: Vec<Vec<(f64, f64)>>,
    pub(super) smoothed: Vec<Vec<(f64, f64)>>,
    /// Rows (window ends) of the fault windows (NaN score).
    pub(super) faults: Vec<f64>,
    /// Log10 y axis.
    pub(super) log_y: bool,
    /// x range of the whole stream.
    pub(super) x_range: Range<f64>,
}

impl<'p> Timeline<'p> {
    pub(super) fn new(plot: &'p EvalPlot<'p>) -> Self {
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
pub(super) fn eval_log_y(scores: &[(f64, f64)], smoothed: &[(f64, f64)]) -> bool {
    let mut b = Bounds::empty();
    for &(x, y) in scores.iter().chain(smoothed) {
        if usable(x) && usable(y) && y > 0.0 {
            b.add(y);
        }
    }
    !b.is_empty() && b.hi > b.lo * 100.0
}

/// The parts of `runs` with x inside `r` (each run may split in pieces).
pub(super) fn clip_runs(runs: &[Vec<(f64, f64)>], r: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
    runs.iter()
        .flat_map(|run| segments(run.iter().copied(), |x, _| x >= r.start && x <= r.end))
        .collect()
}

/// `range` (rows) clipped to `r`, as f64; `None` when reversed or outside.
pub(super) fn clip_span(range: &Range<usize>, r: &Range<f64>) -> Option<(f64, f64)> {
    let (a, b) = (range.start as f64, range.end as f64);
    (a <= b && b >= r.start && a <= r.end).then(|| (a.max(r.start), b.min(r.end)))
}

pub(super) fn draw_eval_figure(root: &Area<'_>, plot: &EvalPlot<'_>, text: bool) -> Result<()> {
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
pub(super) fn eval_legend(plot: &EvalPlot<'_>, log_y: bool) -> Vec<(String, Swatch)> {
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
pub(super) struct TimelineView {
    pub(super) x_range: Range<f64>,
    /// The y axis limits (data values).
    pub(super) y_lim: Range<f64>,
    /// Width of the y label area.
    pub(super) y_area: u32,
    pub(super) score: Vec<Vec<(f64, f64)>>,
    pub(super) smoothed: Vec<Vec<(f64, f64)>>,
    /// Drawable thresholds: (value, dashed).
    pub(super) thresholds: Vec<(f64, bool)>,
}

/// Draws the tracks and the score plot of `tl` over rows `x_range` into
/// `area`.
pub(super) fn draw_timeline(
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
pub(super) fn timeline_chart<Y>(
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
pub(super) fn draw_roc(
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
