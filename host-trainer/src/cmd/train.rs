//! `edgeae train`: trains a model of any kind on a data file and exports
//! it, with a PCA baseline and calibrated thresholds (see [`crate::train`]).

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use firmware::{Model, ScratchPlan};

use crate::cli::TrainArgs;
use crate::text::{preview, thousands};
use crate::train::checkpoint;
use crate::train::config::TrainConfig;
use crate::train::report;
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
