//! Thresholds from normal data, with the firmware's own
//! [`firmware::scoring::calibrate`], and writing them into a model file.

use anyhow::{Result, anyhow, bail};
use firmware::{Engine, Event, Model, Stream};

use firmware::scoring::Thresholds;

use crate::data::Table;

/// How thresholds are set from the errors of normal windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationOptions {
    /// The quantile of the normal errors the threshold is set at (1 − the
    /// target false-positive rate per window).
    pub quantile: f32,
    /// The clear threshold lies this fraction of the way from the median
    /// normal error to the threshold (`clear_threshold`).
    pub hysteresis: f32,
    /// EWMA weight of the newest score; `None`: 0.5 for windows of several
    /// frames (a time series), 1 (no smoothing) for one-row windows.
    pub smoothing: Option<f32>,
}

impl CalibrationOptions {
    /// A 1 % false-positive target, clear at 0.8 × threshold, default smoothing.
    pub const DEFAULT: CalibrationOptions = CalibrationOptions {
        quantile: 0.99,
        hysteresis: 0.8,
        smoothing: None,
    };

    /// The smoothing for a model whose windows have `window` frames.
    pub fn smoothing_for(&self, window: u32) -> f32 {
        self.smoothing.unwrap_or(if window > 1 { 0.5 } else { 1.0 })
    }

    /// From the command line's `--target-fpr` / `--percentile` (at most one),
    /// `--hysteresis` and `--smoothing`, each checked.
    pub fn from_args(
        target_fpr: Option<f64>,
        percentile: Option<f64>,
        hysteresis: Option<f64>,
        smoothing: Option<f64>,
    ) -> Result<CalibrationOptions> {
        let quantile = match (target_fpr, percentile) {
            (Some(_), Some(_)) => bail!("give --target-fpr or --percentile, not both"),
            (Some(r), None) => {
                if !(r > 0.0 && r < 1.0) {
                    bail!("--target-fpr {r} must lie between 0 and 1 (e.g. 0.01 for 1 %)");
                }
                1.0 - r
            }
            (None, Some(p)) => {
                if !(0.0..=100.0).contains(&p) {
                    bail!("--percentile {p} must lie in [0, 100] (e.g. 99)");
                }
                p / 100.0
            }
            (None, None) => f64::from(Self::DEFAULT.quantile),
        };
        let hysteresis = hysteresis.unwrap_or(f64::from(Self::DEFAULT.hysteresis));
        if !(hysteresis > 0.0 && hysteresis <= 1.0) {
            bail!(
                "--hysteresis {hysteresis} must lie in (0, 1]: the clear threshold is this fraction of the threshold"
            );
        }
        if let Some(s) = smoothing
            && !(s > 0.0 && s <= 1.0)
        {
            bail!(
                "--smoothing {s} must lie in (0, 1]: the weight of the newest window (1 = no smoothing)"
            );
        }
        Ok(CalibrationOptions {
            quantile: quantile as f32,
            hysteresis: hysteresis as f32,
            smoothing: smoothing.map(|s| s as f32),
        })
    }
}

/// Calibrates thresholds from `errors` (sorted in place) with `opts`.
pub fn thresholds(errors: &mut [f32], opts: &CalibrationOptions) -> Result<Thresholds> {
    firmware::scoring::calibrate(errors, opts.quantile, opts.hysteresis)
        .map_err(|e| anyhow!("cannot calibrate: {e}"))
}

/// The model file `bytes` with new thresholds and smoothing (validated).
pub fn with_thresholds(bytes: &[u8], t: &Thresholds, smoothing: f32) -> Result<Vec<u8>> {
    let model = Model::load(bytes).map_err(|e| anyhow!("the model does not load: {e}"))?;
    let mut spec = model.spec().clone();
    spec.scoring.threshold = t.threshold;
    spec.scoring.clear_threshold = t.clear_threshold;
    spec.scoring.calibration = t.calibration;
    spec.scoring.smoothing = smoothing;
    spec.encode()
        .map_err(|e| anyhow!("the calibrated model is not valid: {e}"))
}

/// Calibrates the alarm on the statistic it compares: each run of normal
/// rows (raw, `channels` values per row) is streamed through `model` at
/// every one of its `hop` phases (start rows `0..hop`), as a board would see
/// it, and the threshold is the smallest for which the alarm, run exactly
/// as [`firmware::scoring::Scorer`] runs it (smoothing `smoothing`, the cap,
/// the hysteresis of `opts`), is on for at most `1 − opts.quantile` of the
/// windows. The first windows of each run, while the smoothed score still
/// remembers its start, are scored but not counted.
///
/// The statistics recorded are those of the raw window errors. Returns the
/// thresholds and the number of windows counted.
pub fn calibrate_alarm(
    model: &Model<'_>,
    runs: &[&[f32]],
    opts: &CalibrationOptions,
    smoothing: f32,
) -> Result<(Thresholds, usize)> {
    let channels = (model.input().channels as usize).max(1);
    let window = model.input().window as usize;
    let hop = (model.input().hop as usize).max(1);
    let mut sequences: Vec<Vec<f32>> = Vec::new();
    for run in runs {
        for phase in 0..hop {
            let rows = (run.len() / channels).saturating_sub(phase);
            if rows < window {
                continue;
            }
            let values = run.get(phase * channels..).unwrap_or_default();
            let errors = raw_errors(model, values)?;
            if !errors.is_empty() {
                sequences.push(errors);
            }
        }
    }
    let mut all: Vec<f32> = sequences.iter().flatten().copied().collect();
    if all.is_empty() {
        bail!("no window of normal data to calibrate on");
    }
    let raw = thresholds(&mut all, opts)?;
    let warmup = 2 * ((1.0 / smoothing.max(1e-3)).round() as usize).saturating_sub(1);
    let counted: usize = sequences
        .iter()
        .map(|s| s.len().saturating_sub(warmup))
        .sum();
    if counted == 0 {
        return Ok((raw, 0));
    }
    let allowed = f64::from(1.0 - opts.quantile) * counted as f64;
    let median = raw.calibration.map_or(0.0, |c| c.p50);
    let clear = |t: f32| clear_threshold(t, median, opts.hysteresis);
    let on_for = |t: f32| -> usize {
        let spec = model_format::ScoringSpec {
            threshold: t,
            clear_threshold: clear(t),
            smoothing,
            ..model_format::ScoringSpec::UNCALIBRATED
        };
        sequences
            .iter()
            .map(|seq| {
                let mut scorer = firmware::scoring::Scorer::new(&spec);
                seq.iter()
                    .enumerate()
                    .filter(|&(i, &e)| scorer.update(e).is_some_and(|v| v.alarm) && i >= warmup)
                    .count()
            })
            .sum()
    };
    // Candidates: the smoothed scores without the cap; the alarm time falls
    // as the threshold rises, so bisect for the smallest that keeps it
    // within the allowance.
    let mut candidates: Vec<f32> = sequences
        .iter()
        .flat_map(|seq| {
            let mut s: Option<f32> = None;
            seq.iter().map(move |&e| {
                let v = s.map_or(e, |s| s + smoothing * (e - s));
                s = Some(v);
                v
            })
        })
        .collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    let (mut lo, mut hi) = (0usize, candidates.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if (on_for(candidates[mid]) as f64) <= allowed {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let t = candidates[lo];
    Ok((
        Thresholds {
            threshold: t,
            clear_threshold: clear(t),
            calibration: raw.calibration,
        },
        counted,
    ))
}

/// The clear threshold for `threshold`: `hysteresis` of the way from the
/// median normal error up to the threshold. An alarm clears once the
/// smoothed score is back among the usual values, however narrow their
/// spread (a fixed fraction of the threshold can fall below the median of
/// a model whose errors barely vary, and then the alarm never clears).
pub fn clear_threshold(threshold: f32, median: f32, hysteresis: f32) -> f32 {
    let median = median.clamp(0.0, threshold);
    median + hysteresis * (threshold - median)
}

/// The window errors of a stream of raw rows through `model`, in order,
/// fault windows left out.
fn raw_errors(model: &Model<'_>, values: &[f32]) -> Result<Vec<f32>> {
    let mut scratch = vec![0.0f32; Stream::scratch_len(model)];
    let mut stream = Stream::new(model, &mut scratch)?;
    stream.set_thresholds(Thresholds {
        threshold: f32::INFINITY,
        clear_threshold: f32::INFINITY,
        calibration: None,
    });
    let mut errors = Vec::new();
    stream.push_samples(values, |e| {
        if let Event::Window(w) = e
            && w.score.is_finite()
        {
            errors.push(w.score);
        }
    });
    Ok(errors)
}

/// The runs of at least one window of rows of `table` with no row labelled
/// anomalous, as slices of its values.
pub fn normal_runs(table: &Table, window: usize) -> Vec<&[f32]> {
    let channels = table.n_channels();
    let rows = table.rows();
    let anomalous = |r: usize| {
        table
            .labels
            .as_ref()
            .is_some_and(|l| l.get(r).is_some_and(|&x| x != 0))
    };
    let mut runs = Vec::new();
    let mut start = 0;
    for r in 0..=rows {
        if r == rows || anomalous(r) {
            if r - start >= window.max(1)
                && let Some(v) = table.values.get(start * channels..r * channels)
            {
                runs.push(v);
            }
            start = r + 1;
        }
    }
    runs
}

/// The weights of the standardized metric for `model` from normalised
/// windows `x`: one over the mean squared residual at each position of
/// the window, floored at a millionth of their mean, and scaled to average
/// 1 (so the score stays in the units of the MSE).
pub fn standardizing_weights(model: &Model<'_>, x: &[f32]) -> Result<Vec<f32>> {
    let n = model.input_len().max(1);
    let mut sum = vec![0.0f64; n];
    let mut count = 0usize;
    let mut scratch = vec![0.0f32; Engine::scratch_len(model)];
    let mut engine = Engine::new(model, &mut scratch)?;
    for w in x.chunks_exact(n) {
        engine.input_mut().copy_from_slice(w);
        let (a, b) = engine.reconstruct();
        for ((s, a), b) in sum.iter_mut().zip(a).zip(b) {
            *s += f64::from(a - b).powi(2);
        }
        count += 1;
    }
    if count == 0 {
        bail!("no window to measure the spread of the residuals on");
    }
    let ms: Vec<f64> = sum.iter().map(|s| s / count as f64).collect();
    let mean = ms.iter().sum::<f64>() / n as f64;
    let floor = (mean * 1e-6).max(f64::MIN_POSITIVE);
    let raw: Vec<f64> = ms.iter().map(|m| 1.0 / m.max(floor)).collect();
    let avg = raw.iter().sum::<f64>() / n as f64;
    Ok(raw.iter().map(|w| (w / avg) as f32).collect())
}

/// The model file `bytes` with another error metric (validated).
pub fn with_metric(bytes: &[u8], metric: &model_format::Metric<'_>) -> Result<Vec<u8>> {
    let model = Model::load(bytes).map_err(|e| anyhow!("the model does not load: {e}"))?;
    let mut spec = model.spec().clone();
    spec.scoring.metric = *metric;
    spec.encode()
        .map_err(|e| anyhow!("the model with its new metric is not valid: {e}"))
}

/// Calibrates `model` on a file of normal data: the runs of rows of
/// `table` with no anomalous label, with [`calibrate_alarm`]. Returns the
/// thresholds and the number of windows counted.
pub fn calibrate_on(
    model: &Model<'_>,
    table: &Table,
    opts: &CalibrationOptions,
    smoothing: f32,
) -> Result<(Thresholds, usize)> {
    let runs = normal_runs(table, model.input().window as usize);
    calibrate_alarm(model, &runs, opts, smoothing).map_err(|e| {
        anyhow!(
            "`{}` has no window of normal data to calibrate on ({e}): every window holds a bad sample or a row labelled anomalous",
            table.path.display()
        )
    })
}
