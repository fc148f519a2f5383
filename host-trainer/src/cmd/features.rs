//! `edgeae features`: what a model learned. The first layer's units (a
//! convolution's kernels) drawn as images or signal panels, and with data,
//! the windows that drive the busiest codings units highest.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use firmware::Model;
use model_format::Layer;
use serde::Serialize;

use super::Report;
use super::embed::{file_name, gray_image};

use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{self, LoadOptions, Table, image_shape, load_for_model};
use crate::plots::{SignalPanel, image_grid, signal_figure};

/// Images per row of the weights grid, and top images per codings unit.
const COLS: usize = 8;

/// Default `--units` for image models and for sensor models.
const DEFAULT_IMAGE_UNITS: usize = 16;
const DEFAULT_SIGNAL_UNITS: usize = 6;

/// What `edgeae features` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct FeaturesReport {
    /// The first layer's weights (PNG).
    pub out: PathBuf,
    /// The top-activating inputs (PNG), with --data.
    pub top: Option<PathBuf>,
    /// The first layer, e.g. `dense 784 -> 100`.
    pub layer: String,
    /// Units of the first layer drawn.
    pub units: usize,
    /// `image` or `signal`.
    pub drawn_as: &'static str,
    /// The codings units whose top inputs were drawn, largest variance first.
    pub codings_units: Vec<usize>,
}

impl Report for FeaturesReport {
    fn text(&self) -> String {
        let mut s = format!(
            "wrote {}: weights of {} units of the first layer ({}) as {}s\n",
            self.out.display(),
            self.units,
            self.layer,
            self.drawn_as
        );
        if let Some(top) = &self.top {
            s.push_str(&format!(
                "wrote {}: the inputs that most activate codings units {}\n",
                top.display(),
                self.codings_units
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        s
    }
}

/// The first layer's units, each a row of weights.
struct FirstLayer {
    /// Described for the report.
    name: String,
    /// One row of weights per unit.
    units: Vec<Vec<f32>>,
    /// Image width and height of a unit, for image models.
    image: Option<(usize, usize)>,
    /// Channels of a unit's signal (time-major), for sensor models.
    channels: usize,
}

/// `edgeae features`.
pub fn run(
    model_path: &Path,
    data_path: Option<&Path>,
    out: &Path,
    units: Option<usize>,
) -> Result<FeaturesReport> {
    let bytes = read_model_bytes(model_path)?;
    let model = parse(model_path, &bytes)?;
    if model.has_int8() {
        bail!(
            "`{}` holds int8 layers, and features draws f32 weights: give the f32 model it was exported from (the run directory's model.eam)",
            model_path.display()
        );
    }
    if units == Some(0) {
        bail!("--units must be at least 1");
    }
    let table = data_path
        .map(|d| load_for_model(model_path, &model, d, LoadOptions::default()))
        .transpose()?;
    let shape = image_shape(&model, table.as_ref());
    let first = first_layer(model_path, &model, shape)?;
    let image = first.image.is_some();
    let k = units.unwrap_or(if image {
        DEFAULT_IMAGE_UNITS
    } else {
        DEFAULT_SIGNAL_UNITS
    });
    let drawn = &first.units[..k.min(first.units.len())];
    let title = format!("first-layer weights of {}", file_name(model_path));
    if let Some((w, h)) = first.image {
        let images: Vec<Vec<f32>> = drawn.iter().map(|u| signed_gray(u)).collect();
        let rows: Vec<Vec<&[f32]>> = images
            .chunks(COLS)
            .map(|r| r.iter().map(Vec::as_slice).collect())
            .collect();
        image_grid(out, &title, &rows, &[], w, h, scale(w, h))?;
    } else {
        let captions: Vec<String> = (0..drawn.len()).map(|u| format!("unit {u}")).collect();
        let panels: Vec<SignalPanel<'_>> = drawn
            .iter()
            .zip(&captions)
            .map(|(u, caption)| SignalPanel {
                caption,
                solid: u,
                dashed: &[],
            })
            .collect();
        signal_figure(out, &title, &panels, first.channels, ("weights", ""))?;
    }
    let (top, codings_units) = match (&table, data_path) {
        (Some(table), Some(data_path)) => {
            let path = top_path(out);
            let chosen = draw_top(&model, table, data_path, shape, k, &path)?;
            (Some(path), chosen)
        }
        _ => (None, Vec::new()),
    };
    Ok(FeaturesReport {
        out: out.to_path_buf(),
        top,
        layer: first.name,
        units: drawn.len(),
        drawn_as: if image { "image" } else { "signal" },
        codings_units,
    })
}

/// The units of the first layer of `model`; `shape` is the model's image
/// shape, if its inputs are images.
fn first_layer(
    model_path: &Path,
    model: &Model<'_>,
    shape: Option<(usize, usize, usize)>,
) -> Result<FirstLayer> {
    let channels = model.input().channels as usize;
    match model.layers().first() {
        Some(Layer::Dense(d)) => {
            let inputs = d.inputs as usize;
            let weights: Vec<f32> = d.weights.iter().collect();
            let image = shape
                .filter(|&(w, h, c)| c == 1 && w * h == inputs)
                .map(|(w, h, _)| (w, h));
            Ok(FirstLayer {
                name: format!("dense {inputs} -> {}", d.outputs),
                units: weights
                    .chunks_exact(inputs.max(1))
                    .map(<[f32]>::to_vec)
                    .collect(),
                image,
                channels,
            })
        }
        Some(Layer::Conv(c)) => {
            let [kh, kw] = c.kernel.map(|k| k as usize);
            let c_in = c.shape.c as usize;
            let weights: Vec<f32> = c.weights.iter().collect();
            let per = (kh * kw * c_in).max(1);
            let kernels = weights.chunks_exact(per);
            let (units, image) = if c.shape.h > 1 {
                // A 2-D kernel as an image, its input channels averaged.
                let units = kernels
                    .map(|k| {
                        k.chunks_exact(c_in.max(1))
                            .map(|px| px.iter().sum::<f32>() / c_in as f32)
                            .collect()
                    })
                    .collect();
                (units, Some((kw, kh)))
            } else {
                (kernels.map(<[f32]>::to_vec).collect(), None)
            };
            Ok(FirstLayer {
                name: format!("conv {kh}x{kw}, {} filters", c.filters),
                units,
                image,
                channels: c_in,
            })
        }
        Some(other) => bail!(
            "features draws the weights of a dense or convolutional first layer, and the first layer of `{}` is {}",
            model_path.display(),
            other.type_name()
        ),
        None => bail!("`{}` has no layers", model_path.display()),
    }
}

/// Draws the inputs that most activate the `k` codings units of largest
/// variance over the windows of `table`; returns those units.
fn draw_top(
    model: &Model<'_>,
    table: &Table,
    data_path: &Path,
    shape: Option<(usize, usize, usize)>,
    k: usize,
    path: &Path,
) -> Result<Vec<usize>> {
    let window = model.input().window as usize;
    let starts = data::window_starts(data_path, table.rows(), window, model.input().hop as usize)?;
    let codings = crate::score::codings::encode_windows(model, table, &starts)?;
    let dim = model.codings_len().max(1);
    let chosen = busiest_units(&codings, dim, k);
    // Per chosen unit, the windows by falling activation.
    let ranked: Vec<Vec<usize>> = chosen
        .iter()
        .map(|&u| {
            let mut order: Vec<usize> = (0..starts.len()).collect();
            order.sort_by(|&a, &b| codings[b * dim + u].total_cmp(&codings[a * dim + u]));
            order
        })
        .collect();
    let title = format!(
        "inputs of {} that most activate codings units",
        file_name(data_path)
    );
    if let Some(shape @ (w, h, _)) = shape.filter(|_| window == 1) {
        let images: Vec<Vec<Vec<f32>>> = ranked
            .iter()
            .map(|order| {
                order
                    .iter()
                    .take(COLS)
                    .filter_map(|&i| gray_image(table, starts[i], shape))
                    .collect()
            })
            .collect();
        let rows: Vec<Vec<&[f32]>> = images
            .iter()
            .map(|r| r.iter().map(Vec::as_slice).collect())
            .collect();
        let titles: Vec<String> = chosen.iter().map(|u| format!("unit {u}")).collect();
        let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
        image_grid(path, &title, &rows, &titles, w, h, scale(w, h))?;
    } else {
        let windows: Vec<Vec<f32>> = ranked
            .iter()
            .map(|order| data::gather(table, &starts[order[0]..=order[0]], window))
            .collect();
        let mean = mean_window(table, &starts, window);
        let captions: Vec<String> = chosen
            .iter()
            .zip(&ranked)
            .map(|(&u, order)| {
                let s = starts[order[0]];
                format!(
                    "codings unit {u}: rows {s}-{} (activation {:.3})",
                    s + window - 1,
                    codings[order[0] * dim + u]
                )
            })
            .collect();
        let panels: Vec<SignalPanel<'_>> = windows
            .iter()
            .zip(&captions)
            .map(|(w, caption)| SignalPanel {
                caption,
                solid: w,
                dashed: &mean,
            })
            .collect();
        signal_figure(
            path,
            &title,
            &panels,
            table.n_channels(),
            ("top window", "mean window"),
        )?;
    }
    Ok(chosen)
}

/// The `k` units of largest variance over the rows of `codings`, largest
/// first (ties to the lower unit).
fn busiest_units(codings: &[f32], dim: usize, k: usize) -> Vec<usize> {
    let n = (codings.len() / dim).max(1) as f64;
    let variance: Vec<f64> = (0..dim)
        .map(|u| {
            let vals = codings.iter().skip(u).step_by(dim).map(|&v| f64::from(v));
            let mean = vals.clone().sum::<f64>() / n;
            vals.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n
        })
        .collect();
    let mut units: Vec<usize> = (0..dim).collect();
    units.sort_by(|&a, &b| variance[b].total_cmp(&variance[a]).then(a.cmp(&b)));
    units.truncate(k);
    units
}

/// The mean of the windows at `starts`, time-major, in sensor units.
fn mean_window(table: &Table, starts: &[usize], window: usize) -> Vec<f32> {
    let len = window * table.n_channels();
    let mut sum = vec![0.0f64; len];
    for &s in starts {
        for (acc, v) in sum.iter_mut().zip(data::gather(table, &[s], window)) {
            *acc += f64::from(v);
        }
    }
    let n = starts.len().max(1) as f64;
    sum.iter().map(|v| (v / n) as f32).collect()
}

/// Weights as gray levels: 0 mid-gray, the largest magnitude white
/// (positive) or black (negative).
fn signed_gray(w: &[f32]) -> Vec<f32> {
    let top = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let top = if top > 0.0 { top } else { 1.0 };
    w.iter().map(|v| 0.5 + 0.5 * v / top).collect()
}

/// Pixels per image pixel: images about 56 px across.
fn scale(w: usize, h: usize) -> u32 {
    (56 / w.max(h).max(1)).clamp(1, 20) as u32
}

/// `OUT-top.png` beside `out`.
fn top_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "features".into(), |s| s.to_string_lossy().into_owned());
    let ext = out
        .extension()
        .map_or_else(|| "png".into(), |e| e.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}-top.{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_units_rank_by_variance() {
        // Unit 1 varies most, unit 2 not at all, unit 0 a little.
        let codings = [0.0, 0.0, 5.0, 0.1, 3.0, 5.0, 0.0, -3.0, 5.0];
        assert_eq!(busiest_units(&codings, 3, 2), [1, 0]);
        assert_eq!(busiest_units(&codings, 3, 9), [1, 0, 2]);
    }

    #[test]
    fn weights_map_to_signed_gray_and_paths_get_top() {
        assert_eq!(signed_gray(&[-2.0, 0.0, 1.0]), [0.0, 0.5, 0.75]);
        assert_eq!(signed_gray(&[0.0]), [0.5]);
        assert_eq!(top_path(Path::new("a/f.png")), Path::new("a/f-top.png"));
        assert_eq!(scale(28, 28), 2);
        assert_eq!(scale(3, 3), 18);
    }
}
