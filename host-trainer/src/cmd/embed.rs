//! `edgeae embed`: a map of the codings of a data file's windows, computed
//! by the firmware engine and laid out in 2-D by t-SNE or PCA, coloured by
//! class, with sample images on it for image data.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;

use super::Report;

use crate::cli::EmbedArgs;
use crate::data::class_labels::{ClassSource, load_with_classes, window_classes};
use crate::data::model_file::{parse, read_model_bytes};
use crate::data::{self, LoadOptions, Source, check_channels, files::csv_bytes, image_shape};
use crate::embed::{self, Method, neighbours};

/// Neighbours counted by the agreement in the report.
pub const NEIGHBOURS: usize = 10;

/// How well the map keeps each window's neighbours of its class.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Agreement {
    /// Neighbours counted.
    pub k: usize,
    /// Share of same-class neighbours on the map.
    pub map: f64,
    /// Share of same-class neighbours among the codings.
    pub codings: f64,
    /// The share expected of points placed at random.
    pub chance: f64,
}

/// What `edgeae embed` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedReport {
    /// The map (PNG).
    pub out: PathBuf,
    /// The coordinates (CSV), when asked for.
    pub csv: Option<PathBuf>,
    /// How the codings were mapped.
    pub method: Method,
    /// Windows on the map.
    pub points: usize,
    /// Windows of the data (more than `points` when --limit drew a sample).
    pub windows: usize,
    /// Codings per window.
    pub codings: usize,
    /// Classes present, when labelled.
    pub classes: Option<usize>,
    /// Sample images drawn on the map.
    pub thumbnails: usize,
    /// Neighbourhood agreement, when labelled.
    pub agreement: Option<Agreement>,
}

impl Report for EmbedReport {
    fn text(&self) -> String {
        let mut s = format!(
            "wrote {}: {} map of the codings ({} values) of {} windows{}{}\n",
            self.out.display(),
            self.method.name(),
            self.codings,
            self.points,
            if self.points < self.windows {
                format!(" (a sample of {})", self.windows)
            } else {
                String::new()
            },
            match self.classes {
                Some(k) => format!(", {k} classes"),
                None => String::new(),
            }
        );
        if let Some(csv) = &self.csv {
            s.push_str(&format!("wrote {}: x,y per window\n", csv.display()));
        }
        if let Some(a) = &self.agreement {
            s.push_str(&format!(
                "{}-NN class agreement: map {:.3}, codings {:.3} (map/codings {:.3}), chance {:.3}\n",
                a.k,
                a.map,
                a.codings,
                a.map / a.codings,
                a.chance
            ));
        }
        s
    }
}

/// `edgeae embed`.
pub fn run(args: &EmbedArgs) -> Result<EmbedReport> {
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    let bytes = read_model_bytes(&args.model)?;
    let model = parse(&args.model, &bytes)?;
    let source = match (&args.labels, &args.labels_file) {
        (Some(column), _) => Some(ClassSource::Column(column)),
        (None, Some(file)) => Some(ClassSource::IdxFile(file)),
        (None, None) => None,
    };
    let (table, classes) = load_with_classes(&args.data, LoadOptions::default(), source)?;
    check_channels(&args.model, &model, &args.data, &table)?;
    let window = model.input().window as usize;
    let all = data::window_starts(&args.data, table.rows(), window, model.input().hop as usize)?;
    let starts = sample(&all, args.limit, args.seed);
    let dim = model.codings_len();
    let codings = crate::score::codings::encode_windows(&model, &table, &starts)?;
    let points = embed::map(&codings, dim, args.method)?;

    let classes = classes.map(|c| window_classes(&c, &starts, window));
    let agreement = classes.as_deref().map(|c| {
        let flat: Vec<f64> = points.iter().flat_map(|p| [p.0, p.1]).collect();
        let wide: Vec<f64> = codings.iter().map(|&v| f64::from(v)).collect();
        Agreement {
            k: NEIGHBOURS,
            map: neighbours::agreement(&flat, 2, c, NEIGHBOURS),
            codings: neighbours::agreement(&wide, dim, c, NEIGHBOURS),
            chance: neighbours::chance(c),
        }
    });
    let thumbs = thumbnails(&model, &table, &starts);
    let title = format!(
        "{} of the codings of {}",
        args.method.name(),
        file_name(&args.data)
    );
    let colours: Option<Vec<u8>> = classes.as_deref().map(|c| {
        c.iter()
            .map(|&k| u8::try_from(k).unwrap_or(u8::MAX))
            .collect()
    });
    let drawn = crate::plots::scatter(
        &args.out,
        &title,
        &points,
        colours.as_deref(),
        thumbs
            .as_ref()
            .map(|(pixels, w, h)| crate::plots::Thumbnails {
                pixels,
                width: *w,
                height: *h,
            }),
    )?;
    if let Some(csv) = &args.csv {
        let mut header = vec!["x".to_string(), "y".to_string()];
        header.extend(label_column(args));
        let rows = points.iter().enumerate().map(|(i, (x, y))| {
            let mut row = vec![x.to_string(), y.to_string()];
            if let Some(c) = &classes {
                row.push(c[i].to_string());
            }
            row
        });
        crate::data::files::write_atomic(csv, &csv_bytes(&header, rows)?)?;
    }
    Ok(EmbedReport {
        out: args.out.clone(),
        csv: args.csv.clone(),
        method: args.method,
        points: starts.len(),
        windows: all.len(),
        codings: dim,
        classes: classes.as_deref().map(|c| {
            let mut k = c.to_vec();
            k.sort_unstable();
            k.dedup();
            k.len()
        }),
        thumbnails: drawn,
        agreement,
    })
}

/// At most `limit` of `starts`, drawn at random with `seed`, in their order.
fn sample(starts: &[usize], limit: usize, seed: u64) -> Vec<usize> {
    if starts.len() <= limit {
        return starts.to_vec();
    }
    let mut picked =
        rand::seq::index::sample(&mut crate::rng::seeded(seed), starts.len(), limit).into_vec();
    picked.sort_unstable();
    picked.into_iter().map(|i| starts[i]).collect()
}

/// The name of the class column in the CSV: the data's column, or `label`
/// for an IDX label file; none without labels.
fn label_column(args: &EmbedArgs) -> Option<String> {
    match (&args.labels, &args.labels_file) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(_)) => Some("label".to_string()),
        (None, None) => None,
    }
}

/// The images of the windows at `starts`, when the model's inputs are
/// images of one frame.
fn thumbnails(
    model: &firmware::Model<'_>,
    table: &data::Table,
    starts: &[usize],
) -> Option<(Vec<f32>, usize, usize)> {
    let shape @ (w, h, _) = image_shape(model, Some(table))?;
    if model.input().window != 1 {
        return None;
    }
    let mut pixels = Vec::with_capacity(starts.len() * w * h);
    for &s in starts {
        pixels.extend(gray_image(table, s, shape)?);
    }
    Some((pixels, w, h))
}

/// Row `row` of `table` as a gray `w*h` image in `[0, 1]`, for an image
/// shape `(w, h, c)` (channel-last, channels averaged): IDX pixels as they
/// are, other data stretched from the image's least to its greatest value.
pub(crate) fn gray_image(
    table: &data::Table,
    row: usize,
    (w, h, c): (usize, usize, usize),
) -> Option<Vec<f32>> {
    let values = table.row(row)?;
    if c == 0 || values.len() != w * h * c {
        return None;
    }
    let gray: Vec<f32> = values
        .chunks_exact(c)
        .map(|px| px.iter().sum::<f32>() / c as f32)
        .collect();
    if table.source != Source::Csv {
        return Some(gray);
    }
    let lo = gray.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = gray.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    Some(gray.iter().map(|v| (v - lo) / span).collect())
}

/// The file name of `path`, for titles.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
