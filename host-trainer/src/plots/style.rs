//! What every figure shares: the font, the palette, rendering to a PNG
//! written atomically, titles and frames.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// The family name the font is registered under (plotters' default family).
pub(super) const FONT_FAMILY: &str = "sans-serif";

/// Font files tried after `EDGEAE_FONT`, in order.
pub(super) const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Values at least this large in magnitude are treated like non-finite ones,
/// so axis arithmetic (spans, padding) can never overflow.
pub(super) const VALUE_LIMIT: f64 = 1e150;

/// Largest canvas drawn, in pixels (the RGB buffer is 3 bytes a pixel).
pub(super) const MAX_PIXELS: u64 = 40_000_000;

/// Line colours (matplotlib's "tab10"); class `k` of a scatter is `PALETTE[k]`.
pub(super) const PALETTE: [RGBColor; 10] = [
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
pub(super) const OTHER: RGBColor = RGBColor(30, 30, 30);

/// Colour of NaN pixels in [`image_grid`].
pub(super) const NAN_PIXEL: RGBColor = RGBColor(255, 0, 0);

/// Colour of the gaps around and between the images of [`image_grid`].
pub(super) const GRID_GAP: RGBColor = RGBColor(150, 150, 170);

/// Text colour.
pub(super) const INK: RGBColor = RGBColor(20, 20, 20);

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

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
pub(super) fn font_candidates() -> Vec<PathBuf> {
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
pub(super) fn find_font(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.is_file()).cloned()
}

/// Renders a `w`x`h` white canvas through `draw` into a temporary PNG next
/// to `path`, then renames it over `path`; the temporary is removed on error.
pub(super) fn render(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<()> {
    render_inner(path, (w.max(1), h.max(1)), draw)
        .with_context(|| format!("cannot write plot `{}`", path.display()))
}

pub(super) fn render_inner(
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

/// A text style in the registered font.
pub(super) fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT_FAMILY, size).into_font()).color(&INK)
}

/// True if `v` is finite and small enough for axis arithmetic.
pub(super) fn usable(v: f64) -> bool {
    v.is_finite() && v.abs() < VALUE_LIMIT
}

/// Draws `title` centred at the top of `area` and returns the area below
/// it; `area` itself when there is no title or no font.
pub(super) fn titled<'a>(area: &Area<'a>, title: &str, size: f64, text: bool) -> Result<Area<'a>> {
    if text && !title.is_empty() {
        Ok(area.titled(title, font(size))?)
    } else {
        Ok(area.clone())
    }
}

/// Draws a thin frame around the plotting area of `area` (used when there are
/// no axes, i.e. without a font).
pub(super) fn frame(area: &Area<'_>) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    if w > 1 && h > 1 {
        area.draw(&Rectangle::new(
            [(0, 0), (w as i32 - 1, h as i32 - 1)],
            BLACK.mix(0.6).stroke_width(1),
        ))?;
    }
    Ok(())
}
