//! The line chart (loss curves).

use std::ops::Range;

use anyhow::Result;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

use super::*;

pub(super) fn draw_line_chart(
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
pub(super) struct LineLabels<'s> {
    pub(super) x: &'s str,
    pub(super) y: &'s str,
    pub(super) text: bool,
}

/// The chart part of [`line_chart`], generic over the y coordinate (linear
/// or log).
pub(super) fn plot_lines<Y>(
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
