//! The image grid (originals over reconstructions).

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;

/// Pixel layout of [`image_grid`]; see its documentation for the formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GridLayout {
    pub(super) canvas_w: u32,
    pub(super) canvas_h: u32,
    /// Height of the title band (0 without title).
    pub(super) top: u32,
    /// Width of the row-title column (0 without row titles).
    pub(super) left: u32,
    /// Image size on the canvas.
    pub(super) cell_w: u32,
    pub(super) cell_h: u32,
    pub(super) scale: u32,
    /// Font size of the title and of the row titles.
    pub(super) title_size: u32,
    pub(super) row_title_size: u32,
}

impl GridLayout {
    pub(super) fn new(
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
pub(super) fn text_size(s: &str, size: f64) -> Result<(u32, u32)> {
    let mut buf = [0u8; 3];
    let area = BitMapBackend::with_buffer(&mut buf, (1, 1)).into_drawing_area();
    Ok(area.estimate_text_size(s, &font(size))?)
}

pub(super) fn draw_image_grid(
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
