//! The scatter plot of 2-D points coloured by class.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;

pub(super) fn draw_scatter(
    root: &Area<'_>,
    title: &str,
    points: &[(f64, f64)],
    labels: Option<&[u8]>,
    thumbnails: Option<Thumbnails<'_>>,
    text: bool,
) -> Result<usize> {
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
    let Some(thumbs) = thumbnails else {
        return Ok(0);
    };
    let (w, h) = (thumbs.width as i32, thumbs.height as i32);
    let size = thumbs.width * thumbs.height;
    if size == 0 {
        return Ok(0);
    }
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let mut placed: Vec<(i32, i32)> = Vec::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if placed.len() >= MAX_THUMBNAILS {
            break;
        }
        let Some(img) = thumbs.pixels.get(i * size..(i + 1) * size) else {
            break;
        };
        if !(usable(x) && usable(y)) {
            continue;
        }
        let (cx, cy) = chart.backend_coord(&(x, y));
        let (x0, y0) = (cx - w / 2, cy - h / 2);
        let inside = x0 - 2 >= xs.start
            && x0 + w + 2 <= xs.end
            && y0 - 2 >= ys.start
            && y0 + h + 2 <= ys.end;
        let free = placed
            .iter()
            .all(|&(px, py)| (px - x0).abs() > w + 4 || (py - y0).abs() > h + 4);
        if !inside || !free {
            continue;
        }
        placed.push((x0, y0));
        root.draw(&Rectangle::new(
            [(x0 - 2, y0 - 2), (x0 + w + 2, y0 + h + 2)],
            colour_of(class_of(i)).filled(),
        ))?;
        for (j, &v) in img.iter().enumerate() {
            let g = if v.is_nan() {
                255
            } else {
                255 - (v.clamp(0.0, 1.0) * 255.0).round() as u8
            };
            let (px, py) = ((j % thumbs.width) as i32, (j / thumbs.width) as i32);
            root.draw_pixel((x0 + px, y0 + py), &RGBColor(g, g, g))?;
        }
    }
    Ok(placed.len())
}
