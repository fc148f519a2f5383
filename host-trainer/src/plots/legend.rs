//! Legends: rows of swatches and labels.

use anyhow::Result;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;

/// Horizontal gap between legend entries, in pixels.
pub(super) const LEGEND_GAP: i64 = 24;

/// Legend layout for an area `w` pixels wide: each entry's width (swatch,
/// spacing and text) and the entries of each row, wrapped greedily.
pub(super) fn legend_rows(
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
pub(super) fn legend_row_height(size: f64) -> u32 {
    (size * 1.5) as u32
}

/// Height in pixels a legend of `entries` needs in an area `w` wide (0 for
/// no entries).
pub(super) fn legend_height(entries: &[(String, Swatch)], size: f64, w: u32) -> Result<u32> {
    let (_, rows) = legend_rows(entries, size, w)?;
    Ok(match rows.len() {
        0 => 0,
        n => n as u32 * legend_row_height(size) + 6,
    })
}

/// Draws a legend of `(label, swatch)` entries, rows centred in `area`
/// (which spans the full width and is normally [`legend_height`] high;
/// rows that do not fit are left out).
pub(super) fn draw_legend(area: &Area<'_>, entries: &[(String, Swatch)], size: f64) -> Result<()> {
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
pub(super) enum Swatch {
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
    pub(super) fn draw(self, area: &Area<'_>, x: i32, y: i32) -> Result<()> {
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
