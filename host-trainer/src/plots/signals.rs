//! Signal panels (time-series windows with their reconstructions, or any
//! pair of solid and dashed traces under a caption).

use anyhow::Result;
use plotters::prelude::*;
use plotters::series::DashedLineSeries;

use super::*;

/// Legend names of the solid and the dashed traces of a signal figure (an
/// empty name gets no legend entry).
#[derive(Debug, Clone, Copy)]
pub(super) struct Lines<'a> {
    pub(super) solid: &'a str,
    pub(super) dashed: &'a str,
}

/// The traces of [`signal_panels`].
pub(super) const RECONSTRUCTIONS: Lines<'static> = Lines {
    solid: "original",
    dashed: "reconstruction",
};

pub(super) fn draw_signal_panels(
    root: &Area<'_>,
    title: &str,
    windows: &[(&[f32], &[f32])],
    channels: usize,
    text: bool,
) -> Result<()> {
    let captions: Vec<String> = (1..=windows.len()).map(|i| format!("window {i}")).collect();
    let panels: Vec<SignalPanel<'_>> = windows
        .iter()
        .zip(&captions)
        .map(|(&(solid, dashed), caption)| SignalPanel {
            caption,
            solid,
            dashed,
        })
        .collect();
    draw_signal_figure(root, title, &panels, channels, RECONSTRUCTIONS, text)
}

pub(super) fn draw_signal_figure(
    root: &Area<'_>,
    title: &str,
    panels: &[SignalPanel<'_>],
    channels: usize,
    lines: Lines<'_>,
    text: bool,
) -> Result<()> {
    let area = root.margin(SIGNAL_MARGIN, SIGNAL_MARGIN, 6, 6);
    let area = titled(&area, title, SIGNAL_TITLE_SIZE, text)?;
    let area = if text {
        let entries = signal_legend(lines, channels);
        let h = legend_height(&entries, SIGNAL_LEGEND_SIZE, area.dim_in_pixel().0)?;
        let (legend, rest) = area.split_vertically(h);
        draw_legend(&legend, &entries, SIGNAL_LEGEND_SIZE)?;
        rest
    } else {
        area
    };
    let areas = area.split_evenly((panels.len().max(1), 1));
    if panels.is_empty() {
        return draw_signal_panel(&areas[0], "window 1", &[], &[], channels, text);
    }
    for (area, panel) in areas.iter().zip(panels) {
        draw_signal_panel(
            area,
            panel.caption,
            panel.solid,
            panel.dashed,
            channels,
            text,
        )?;
    }
    Ok(())
}

/// Height of one panel of [`signal_panels`].
pub(super) const SIGNAL_PANEL_H: u32 = 200;
/// Margin above and below the panels of [`signal_panels`].
pub(super) const SIGNAL_MARGIN: u32 = 4;
/// Font sizes of the title and the legend of [`signal_panels`].
pub(super) const SIGNAL_TITLE_SIZE: f64 = 22.0;
pub(super) const SIGNAL_LEGEND_SIZE: f64 = 15.0;

/// Legend entries of a signal figure: line styles, then channel colours.
pub(super) fn signal_legend(lines: Lines<'_>, channels: usize) -> Vec<(String, Swatch)> {
    let mut entries = Vec::new();
    if !lines.solid.is_empty() {
        entries.push((lines.solid.to_string(), Swatch::Line(INK)));
    }
    if !lines.dashed.is_empty() {
        entries.push((lines.dashed.to_string(), Swatch::Dashed(INK)));
    }
    if channels > 1 {
        entries.extend(
            (0..channels.min(PALETTE.len())).map(|c| (format!("ch {c}"), Swatch::Dot(PALETTE[c]))),
        );
    }
    entries
}

/// Canvas height of [`signal_panels`]: margins, title band (text height
/// plus 10 px, as plotters draws it), legend rows, and 200 px a panel.
pub(super) fn signal_canvas_height(
    title: &str,
    panels: u32,
    channels: usize,
    text: bool,
) -> Result<u32> {
    figure_height(title, panels, channels, RECONSTRUCTIONS, text)
}

/// Canvas height of a signal figure with `panels` panels (see
/// [`signal_canvas_height`]).
pub(super) fn figure_height(
    title: &str,
    panels: u32,
    channels: usize,
    lines: Lines<'_>,
    text: bool,
) -> Result<u32> {
    let mut h = 2 * SIGNAL_MARGIN + panels * SIGNAL_PANEL_H;
    if text {
        if !title.is_empty() {
            h += text_size(title, SIGNAL_TITLE_SIZE)?.1 + 10;
        }
        h += legend_height(
            &signal_legend(lines, channels),
            SIGNAL_LEGEND_SIZE,
            900 - 12,
        )?;
    }
    Ok(h)
}

/// The per-channel line segments of one time-major window.
pub(super) fn channel_segments(values: &[f32], channels: usize) -> Vec<Vec<Vec<(f64, f64)>>> {
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

pub(super) fn draw_signal_panel(
    area: &Area<'_>,
    caption: &str,
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
        builder.caption(caption, font(14.0));
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
