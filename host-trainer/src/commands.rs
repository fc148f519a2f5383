//! The commands that train models and run them on data files: `train`,
//! `encode`, `denoise`, `generate`. Models run through the firmware engine,
//! the code a board runs.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use firmware::{Engine, Model, ScratchPlan};
use model_format::ModelKind;

use crate::anomaly::{self, CalibrationOptions};
use crate::cli::{Precision, TrainArgs};
use crate::data::{self, LoadOptions, Normalizer, Source, Table};
use crate::inspect::{load, read_model_bytes};
use crate::train::checkpoint;
use crate::train::config::TrainConfig;
use crate::train::report::{self, thousands};
use crate::train::run::{RunOptions, model_path, resume_config};

/// `edgeae train`.
pub fn train(args: TrainArgs) -> Result<()> {
    let opts = RunOptions {
        quiet: args.quiet,
        threads: args.threads,
        calibration: args.calibration.options()?,
    };
    let (cfg, start) = if args.resume {
        let (cfg, ck) = resume_config(&args.out, args.lr, args.epochs)?;
        if let Some(d) = &args.data
            && d != &cfg.data
        {
            bail!(
                "--resume continues the run in `{}` on `{}`, not `{}`",
                args.out.display(),
                cfg.data.display(),
                d.display()
            );
        }
        if let Some(k) = args.kind
            && k != cfg.kind
        {
            bail!("--resume continues a {} run, not {k}", cfg.kind);
        }
        (cfg, Some(ck))
    } else {
        if checkpoint::path(&args.out).exists() {
            bail!(
                "`{}` already holds a training run; continue it with --resume, or choose another --out",
                args.out.display()
            );
        }
        let data = args.data.context("--data is required")?;
        let kind = args.kind.context("--kind is required")?;
        let mut cfg =
            TrainConfig::new(data, kind, args.out.clone()).with_window(args.window.unwrap_or(1));
        if let Some(hop) = args.hop {
            cfg.hop = hop;
        }
        cfg.codings = args.codings;
        cfg.hidden = args.hidden;
        cfg.epochs = args.epochs;
        cfg.fine_tune_epochs = args.fine_tune_epochs;
        set(&mut cfg.train_hop, args.train_hop);
        set(&mut cfg.max_steps, args.max_steps);
        set(&mut cfg.batch, args.batch);
        set(&mut cfg.lr, args.lr);
        set(&mut cfg.seed, args.seed);
        set(&mut cfg.val_split, args.val_split);
        set(&mut cfg.noise, args.noise);
        set(&mut cfg.sparsity, args.sparsity);
        set(&mut cfg.beta, args.beta);
        set(&mut cfg.normalize, args.normalize);
        set(&mut cfg.loss, args.loss);
        set(&mut cfg.device, args.device);
        set(&mut cfg.metric, args.metric);
        cfg.pca_start = args.pca_start;
        cfg.limit = args.limit;
        (cfg, None)
    };
    let t0 = Instant::now();
    let done = crate::train::train_and_export(cfg, start, opts)?;
    let (trained, data, bytes, plots) = (&done.trained, &done.data, &done.model, &done.plots);
    let cfg = &trained.config;
    let model_file = model_path(&cfg.out);
    let model = Model::load(bytes)
        .map_err(|e| anyhow!("internal error: exported model does not load: {e}"))?;
    let last = trained.history.last();
    // The last epoch trains the whole network for every kind (greedy stages are faster).
    let rate = last.map_or(0.0, |r| r.samples_per_s);
    println!(
        "trained {} on `{}`: {} training and {} validation windows of {} values{}",
        cfg.kind,
        cfg.data.display(),
        thousands(data.n_train()),
        thousands(data.n_val()),
        data.input_len,
        if data.excluded_anomalous > 0 {
            format!(
                " ({} windows with anomalous rows left out)",
                data.excluded_anomalous
            )
        } else {
            String::new()
        }
    );
    if !data.constant_channels.is_empty() {
        let n = data.constant_channels.len();
        eprintln!(
            "note: {} never change{} in the training data (zero spread): centred but not scaled, so any change in them counts fully in the error",
            if n == 1 {
                format!("channel {}", data.constant_channels[0])
            } else {
                format!("{n} channels ({})", preview(&data.constant_channels))
            },
            if n == 1 { "s" } else { "" }
        );
    }
    if let Some(r) = last {
        println!(
            "last epoch   loss {:.6}, validation loss {:.6} (reconstruction {:.6}); predicting the mean gives {:.6}",
            r.train_loss, r.val_loss, r.val_recon, data.baseline
        );
    }
    if let Some(r) = last
        && let Some(stop) = r.stop
    {
        let phases = trained.history.iter().filter(|h| h.stop.is_some()).count();
        let steps: usize = trained
            .history
            .iter()
            .filter(|h| h.stop.is_some())
            .map(|h| h.steps)
            .sum();
        let best = crate::train::run::best_epoch(trained);
        println!(
            "stopped      {}: {} epochs, {} optimizer steps{}{}",
            stop.describe(),
            trained.history.len(),
            thousands(steps),
            if phases > 1 {
                format!(" in {phases} phases")
            } else {
                String::new()
            },
            match best {
                Some(0) => "; kept the PCA start, which no epoch beat".to_string(),
                Some(b) => format!("; kept the weights of the best epoch, {b}"),
                None => String::new(),
            }
        );
    }
    if let Some(b) = &done.baseline {
        println!(
            "baseline     PCA with {} components on the same windows: validation MSE {:.6}; this model {:.6} ({}); {}",
            b.components,
            b.val_mse,
            b.model_val_mse,
            if b.model_val_mse <= b.val_mse {
                format!("{:.2}x lower", b.val_mse / b.model_val_mse.max(1e-30))
            } else {
                format!("{:.2}x higher", b.model_val_mse / b.val_mse.max(1e-30))
            },
            b.path.display()
        );
    }
    println!(
        "time         {:.1} s training ({:.1} s in this run), {:.0} samples/s",
        trained.elapsed_s,
        t0.elapsed().as_secs_f64(),
        rate
    );
    println!(
        "model        {}: {} layers, {} parameters, {} bytes of flash, {} bytes of scratch RAM",
        model_file.display(),
        model.layers().len(),
        thousands(model.param_count()),
        thousands(model.file_len()),
        thousands(ScratchPlan::for_model(&model).bytes())
    );
    let scoring = model.scoring();
    match scoring.calibration {
        Some(c) if scoring.threshold.is_finite() => println!(
            "threshold    {} (alarm on for at most {:.3} % of {} held-out windows), clears below {}, smoothing {}",
            scoring.threshold,
            (1.0 - f64::from(c.quantile)) * 100.0,
            c.windows,
            scoring.clear_threshold,
            scoring.smoothing
        ),
        _ => println!(
            "threshold    not calibrated (no validation windows): run edgeae calibrate on normal data"
        ),
    }
    let mut files = vec![cfg.out.join("loss.png").display().to_string()];
    files.extend(plots.iter().map(|p| p.display().to_string()));
    println!("plots        {}", files.join(", "));
    if let Some(note) = report::font_note() {
        eprintln!("note: {note}");
    }
    Ok(())
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// The normalisation stored in a model.
pub fn normalizer(model: &Model<'_>) -> Normalizer {
    Normalizer {
        mean: model.input().mean.iter().collect(),
        scale: model.input().scale.iter().collect(),
    }
}

/// Loads a data file for a model and checks the channel count.
pub fn load_for_model(
    model_path: &Path,
    model: &Model<'_>,
    data_path: &Path,
    opts: LoadOptions,
) -> Result<Table> {
    let table = data::load(data_path, opts)?;
    let want = model.input().channels as usize;
    if table.n_channels() != want {
        bail!(
            "`{}` expects {want} channels per row, `{}` has {} ({})",
            model_path.display(),
            data_path.display(),
            table.n_channels(),
            preview(&table.channels)
        );
    }
    Ok(table)
}

fn preview(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    if names.len() > 5 {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn csv_bytes(header: &[String], rows: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(&r)?;
    }
    w.into_inner().map_err(|e| anyhow!("cannot write CSV: {e}"))
}

/// Normal data for `edgeae export`: the table (recalibration streams it)
/// and its windows without anomalous rows, normalised for the model.
struct CalibrationData {
    table: Table,
    windows: Vec<f32>,
    count: usize,
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {one}s", thousands(n))
    }
}

impl CalibrationData {
    fn load(model_path: &Path, model: &Model<'_>, path: &Path) -> Result<CalibrationData> {
        let table = data::load(path, LoadOptions::default())?;
        let want = model.input().channels as usize;
        if table.n_channels() != want {
            bail!(
                "`{}` has {} ({}), the model in `{}` takes {want}",
                path.display(),
                plural(table.n_channels(), "channel"),
                preview(&table.channels),
                model_path.display()
            );
        }
        let window = model.input().window as usize;
        if table.rows() < window {
            bail!(
                "`{}` has {}, too few for one window of the model in `{}` ({})",
                path.display(),
                plural(table.rows(), "row"),
                model_path.display(),
                plural(window, "row")
            );
        }
        let starts = data::window_starts(path, table.rows(), window, model.input().hop as usize)?;
        let starts: Vec<usize> = match data::window_labels(&table, &starts, window) {
            Some(labels) => starts
                .iter()
                .zip(labels)
                .filter(|(_, l)| *l == 0)
                .map(|(s, _)| *s)
                .collect(),
            None => starts,
        };
        if starts.is_empty() {
            bail!(
                "`{}` has no window of normal data: every window holds a row labelled anomalous",
                path.display()
            );
        }
        let mut windows = data::gather(&table, &starts, window);
        normalizer(model).apply(&mut windows);
        Ok(CalibrationData {
            table,
            windows,
            count: starts.len(),
        })
    }
}

/// Calibration options that keep what `model`'s threshold was set with:
/// its quantile, its clear/threshold ratio and its smoothing (the defaults
/// where it was never calibrated).
fn kept_calibration(model: &Model<'_>) -> CalibrationOptions {
    let s = model.scoring();
    let d = CalibrationOptions::DEFAULT;
    let median = s.calibration.map_or(0.0, |c| c.p50);
    let ratio = (s.clear_threshold - median) / (s.threshold - median);
    CalibrationOptions {
        quantile: s.calibration.map_or(d.quantile, |c| c.quantile),
        hysteresis: if s.threshold.is_finite() && ratio > 0.0 && ratio <= 1.0 {
            ratio
        } else {
            d.hysteresis
        },
        smoothing: Some(s.smoothing),
    }
}

/// Which layers of `model` are int8, as text.
fn precision_summary(model: &Model<'_>) -> String {
    let list = |int8: bool| {
        let idx: Vec<String> = model
            .ops()
            .iter()
            .enumerate()
            .filter(|(_, op)| op.is_int8() == int8)
            .map(|(i, _)| i.to_string())
            .collect();
        if idx.is_empty() {
            "none".to_string()
        } else {
            idx.join(", ")
        }
    };
    format!("int8: {}; f32: {}", list(true), list(false))
}

/// `edgeae export`.
pub fn export(
    run_dir: &Path,
    quant: Precision,
    calib: Option<&Path>,
    out: &Path,
    keep_f32: &[usize],
) -> Result<()> {
    if !run_dir.exists() {
        bail!(
            "`{}` does not exist: expected a training run directory (`edgeae train --out DIR`) or a model file",
            run_dir.display()
        );
    }
    let model_file = if run_dir.is_dir() {
        let m = model_path(run_dir);
        if !m.is_file() {
            bail!(
                "`{}` holds no model.eam: expected a training run directory (`edgeae train --out DIR`) or a model file",
                run_dir.display()
            );
        }
        m
    } else {
        run_dir.to_path_buf()
    };
    let bytes = read_model_bytes(&model_file)?;
    let model = load(&model_file, &bytes)?;
    if let Some(i) = model.ops().iter().position(|op| op.is_int8()) {
        bail!(
            "model `{}` is already quantized (layer {i} is int8): export the f32 model that `edgeae train` wrote",
            model_file.display()
        );
    }
    if quant == Precision::F32 && !keep_f32.is_empty() {
        bail!("--keep-f32 goes with --quant int8: --quant f32 keeps every layer in f32");
    }
    if quant == Precision::Int8 && calib.is_none() {
        bail!(
            "--quant int8 needs --calib NORMAL.csv: normal data with the model's channels (the training data will do) to measure the activation ranges on"
        );
    }
    let calibration = calib
        .map(|p| CalibrationData::load(&model_file, &model, p))
        .transpose()?;
    let exported = match (&calibration, quant) {
        (Some(c), Precision::Int8) => {
            let opts = crate::quantize::QuantizeOptions {
                keep_f32: keep_f32.to_vec(),
            };
            crate::quantize::quantize(&model, &c.windows, &opts)
                .and_then(|def| def.encode())
                .map_err(|e| e.context(format!("cannot quantize `{}`", model_file.display())))?
        }
        _ => bytes.clone(),
    };
    let f32_scoring = *model.scoring();
    // The threshold comes from the windows the training run held out, which
    // the model never trained on; --calib (often the training data itself)
    // only where the run's data is not at hand.
    let held_out = if run_dir.is_dir() {
        held_out_runs(run_dir)
    } else {
        Err("a model file was given, not its run directory".to_string())
    };
    let mut recalibrated = None;
    let source: Option<(Vec<&[f32]>, String)> = match (&held_out, &calibration, calib) {
        (Ok((runs, data)), _, _) => Some((
            runs.iter().map(Vec::as_slice).collect(),
            format!("windows held out from `{}` in training", data.display()),
        )),
        (Err(why), Some(c), Some(p)) => Some((
            anomaly::normal_runs(&c.table, model.input().window as usize),
            format!("windows of `{}` ({why})", p.display()),
        )),
        _ => None,
    };
    let exported = match &source {
        Some((runs, from)) => {
            let new = load(out, &exported)?;
            let opts = kept_calibration(&model);
            let smoothing = opts.smoothing.unwrap_or(f32_scoring.smoothing);
            let (t, n) = anomaly::calibrate_alarm(&new, runs, &opts, smoothing)?;
            // The f32 model's threshold on the same windows, for comparison.
            let (f32_t, _) = anomaly::calibrate_alarm(&model, runs, &opts, smoothing)?;
            recalibrated = Some((t.threshold, f32_t.threshold, n, opts.quantile, from.clone()));
            anomaly::with_thresholds(&exported, &t, smoothing)?
        }
        None => exported,
    };
    let new = load(out, &exported)?;
    let comparison = calibration
        .as_ref()
        .map(|c| crate::quantize::compare(&model, &new, &c.windows))
        .transpose()?;
    crate::fsx::write_atomic(out, &exported)?;

    let name = if new.has_int8() { "int8" } else { "f32" };
    println!(
        "exported     `{}` -> `{}`: format version {}, layers {}",
        model_file.display(),
        out.display(),
        new.header().version,
        precision_summary(&new)
    );
    if let (Some(c), Some(path)) = (&calibration, calib)
        && new.has_int8()
    {
        println!(
            "ranges       int8 activation ranges from {} of `{}`",
            plural(c.count, "normal window"),
            path.display()
        );
    }
    let (old_flash, new_flash) = (model.file_len(), new.file_len());
    println!(
        "flash        {} -> {} bytes{}",
        thousands(old_flash),
        thousands(new_flash),
        if new_flash < old_flash {
            format!(
                " ({:.2}x smaller)",
                old_flash as f64 / new_flash.max(1) as f64
            )
        } else {
            String::new()
        }
    );
    println!(
        "parameters   {} -> {}",
        thousands(model.param_count()),
        thousands(new.param_count())
    );
    println!(
        "scratch RAM  {} -> {} bytes (engine: {} -> {} words)",
        thousands(ScratchPlan::for_model(&model).bytes()),
        thousands(ScratchPlan::for_model(&new).bytes()),
        Engine::scratch_len(&model),
        Engine::scratch_len(&new)
    );
    let old_t = if f32_scoring.threshold.is_finite() {
        format!("{}", f32_scoring.threshold)
    } else {
        "not calibrated".to_string()
    };
    match recalibrated {
        Some((t, f32_t, n, q, from)) => println!(
            "threshold    {old_t} (f32, as trained) -> {t} ({name}, alarm on at most {:.3} % of {n} {from}; the f32 model there: {f32_t}), clears below {}, smoothing {}",
            (1.0 - f64::from(q)) * 100.0,
            new.scoring().clear_threshold,
            new.scoring().smoothing
        ),
        None => println!("threshold    {old_t} (kept; give --calib to recalibrate)"),
    }
    if let Some(c) = comparison {
        println!(
            "difference   mean |{name} - f32| {:.6} (max {:.6}) over {} windows, normalised units; reconstruction error mean |x - f32| {:.6}, mean |x - {name}| {:.6}",
            c.mean_abs_diff,
            c.max_abs_diff,
            thousands(c.windows),
            c.mean_abs_err_a,
            c.mean_abs_err_b
        );
    }
    println!("wrote        {}", out.display());
    Ok(())
}

/// The normal rows the training run in `run_dir` held out (validation
/// blocks), read again from its data file, with that file's path; or why
/// they cannot be had.
fn held_out_runs(
    run_dir: &Path,
) -> std::result::Result<(Vec<Vec<f32>>, std::path::PathBuf), String> {
    let ck = checkpoint::Checkpoint::load(run_dir).map_err(|e| format!("{e:#}"))?;
    let data = crate::train::prepare::prepare(&ck.config).map_err(|e| format!("{e:#}"))?;
    if data.data_hash != ck.data_hash {
        return Err(format!(
            "`{}` changed since training",
            ck.config.data.display()
        ));
    }
    if data.holdout.is_empty() {
        return Err("the run held out no validation windows".into());
    }
    Ok((data.holdout, ck.config.data))
}

/// `edgeae encode`.
pub fn encode(model_path: &Path, data_path: &Path, out: &Path) -> Result<()> {
    let bytes = read_model_bytes(model_path)?;
    let model = load(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, LoadOptions::default())?;
    let window = model.input().window as usize;
    let starts = data::window_starts(data_path, table.rows(), window, model.input().hop as usize)?;
    let norm = normalizer(&model);
    let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch)?;
    let mut rows = Vec::with_capacity(starts.len());
    for &s in &starts {
        let mut w = data::gather(&table, &[s], window);
        norm.apply(&mut w);
        engine.input_mut().copy_from_slice(&w);
        let mut row = vec![s.to_string(), (s + window).to_string()];
        row.extend(engine.encode().iter().map(|v| v.to_string()));
        rows.push(row);
    }
    let mut header = vec!["start".to_string(), "end".to_string()];
    header.extend((0..model.codings_len()).map(|i| format!("c{i}")));
    crate::fsx::write_atomic(out, &csv_bytes(&header, rows.into_iter())?)?;
    println!(
        "wrote {}: codings ({} values) of {} windows",
        out.display(),
        model.codings_len(),
        starts.len()
    );
    Ok(())
}

/// `edgeae denoise`.
pub fn denoise(model_path: &Path, data_path: &Path, out: &Path) -> Result<()> {
    let bytes = read_model_bytes(model_path)?;
    let model = load(model_path, &bytes)?;
    let table = load_for_model(model_path, &model, data_path, LoadOptions::default())?;
    let channels = table.n_channels();
    let window = model.input().window as usize;
    let starts = data::window_starts(data_path, table.rows(), window, model.input().hop as usize)?;
    let norm = normalizer(&model);
    let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch)?;
    // Overlap-add: sum reconstructions per row, then divide by the count.
    let mut sums = vec![0.0f64; table.values.len()];
    let mut counts = vec![0u32; table.rows()];
    for &s in &starts {
        let mut w = data::gather(&table, &[s], window);
        norm.apply(&mut w);
        engine.input_mut().copy_from_slice(&w);
        let mut r = engine.reconstruct().1.to_vec();
        norm.invert(&mut r);
        for (t, frame) in r.chunks_exact(channels).enumerate() {
            let row = s + t;
            counts[row] += 1;
            for (acc, v) in sums[row * channels..(row + 1) * channels]
                .iter_mut()
                .zip(frame)
            {
                *acc += f64::from(*v);
            }
        }
    }
    let uncovered = counts.iter().filter(|c| **c == 0).count();
    let denoised: Vec<f32> = sums
        .iter()
        .zip(&table.values)
        .enumerate()
        .map(|(i, (s, orig))| match counts[i / channels] {
            0 => *orig,
            c => (*s / f64::from(c)) as f32,
        })
        .collect();
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        let Source::Idx { width, height } = table.source else {
            bail!(
                "a .png output needs image data (IDX); write a .csv for `{}`",
                data_path.display()
            );
        };
        let n = table.rows().min(16);
        let top: Vec<&[f32]> = table.values.chunks_exact(channels).take(n).collect();
        let bottom: Vec<&[f32]> = denoised.chunks_exact(channels).take(n).collect();
        crate::plots::image_grid(
            out,
            "input (top) and denoised (bottom)",
            &[top, bottom],
            &["input", "denoised"],
            width,
            height,
            3,
        )?;
    } else {
        let rows = denoised
            .chunks_exact(channels)
            .map(|r| r.iter().map(|v| v.to_string()).collect());
        crate::fsx::write_atomic(out, &csv_bytes(&table.channels, rows)?)?;
    }
    println!(
        "wrote {}: {} rows denoised through {} windows{}",
        out.display(),
        table.rows() - uncovered,
        starts.len(),
        if uncovered > 0 {
            format!(", {uncovered} trailing rows no window covers copied unchanged")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `edgeae generate`.
pub fn generate(model_path: &Path, count: usize, out: &Path, seed: u64) -> Result<()> {
    let bytes = read_model_bytes(model_path)?;
    let model = load(model_path, &bytes)?;
    if model.kind() != ModelKind::Variational {
        bail!(
            "generating needs a variational model (trained with --kind vae); `{}` is {}",
            model_path.display(),
            model.kind().name()
        );
    }
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let mut samples = report::generate(&model, count, seed)
        .map_err(|e| e.context(format!("cannot generate from `{}`", model_path.display())))?;
    normalizer(&model).invert(&mut samples);
    let dim = model.input_len();
    if out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        let side = (dim as f64).sqrt().round() as usize;
        if side * side != dim || model.input().window != 1 {
            bail!(
                "a .png output needs square images; `{}` takes {dim} values",
                model_path.display()
            );
        }
        let rows: Vec<Vec<&[f32]>> = samples
            .chunks_exact(dim)
            .collect::<Vec<_>>()
            .chunks(8)
            .map(<[&[f32]]>::to_vec)
            .collect();
        let titles = vec![""; rows.len()];
        crate::plots::image_grid(
            out,
            "samples decoded from N(0, I)",
            &rows,
            &titles,
            side,
            side,
            3,
        )?;
    } else {
        let header: Vec<String> = (0..dim).map(|i| format!("v{i}")).collect();
        let rows = samples
            .chunks_exact(dim)
            .map(|r| r.iter().map(|v| v.to_string()).collect());
        crate::fsx::write_atomic(out, &csv_bytes(&header, rows)?)?;
    }
    println!("wrote {}: {count} samples", out.display());
    Ok(())
}
