//! The training loop: phases of epochs of mini-batches, validation after
//! every epoch, a checkpoint after every epoch, a clean stop on a non-finite
//! loss, and the model file at the end.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use dfdx::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

use super::arch::{self, Phase, PhaseInput};
use super::checkpoint::{Checkpoint, EpochRecord};
use super::config::{Kind, Noise, Sparsity, TrainConfig};
use super::prepare::Prepared;
use super::schedule::{self, Plan};
use crate::nn::adam::Adam;
use crate::nn::loss::{self, Recon, Scalar};
use crate::nn::net::{HostNet, Net, ParamId};
use crate::nn::{Backend, Mat};
use crate::score::CalibrationOptions;

/// Options that change how a run reports and how its threshold is
/// calibrated, not what the network learns (so they may differ on resume).
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// No progress output.
    pub quiet: bool,
    /// CPU threads for the matrix products; `None` chooses from the work per
    /// batch (see `auto_threads`).
    pub threads: Option<usize>,
    /// How the exported model's threshold is set from the validation windows.
    pub calibration: CalibrationOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions::QUIET
    }
}

impl RunOptions {
    /// No output, threads chosen automatically (tests, library callers).
    pub const QUIET: RunOptions = RunOptions {
        quiet: true,
        threads: None,
        calibration: CalibrationOptions::DEFAULT,
    };
}

/// Threads worth using for a batch of `batch` rows through a network of
/// `macs` multiply-accumulates per row. Splitting small products across
/// threads costs more in synchronisation than it saves: measured on 2
/// cores, the 784-100-30-100-784 autoencoder at batch 64 trains at 15.5k
/// samples/s on one thread and 11k on two, while 784-512-128-512-784 gains
/// 40 % from the second thread. The crossover is near 40 M
/// multiply-accumulates per batch.
pub fn auto_threads(batch: usize, macs: usize) -> usize {
    const PARALLEL_FROM: usize = 40_000_000;
    if batch.saturating_mul(macs) < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// What a finished run leaves behind.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The settings used.
    pub config: TrainConfig,
    /// Final parameters.
    pub net: HostNet,
    /// Every epoch.
    pub history: Vec<EpochRecord>,
    /// Seconds spent training (across resumes).
    pub elapsed_s: f64,
}

/// Why a run stopped early.
#[derive(Debug)]
pub struct Diverged {
    /// Phase name.
    pub phase: String,
    /// Epoch (1-based) within the phase.
    pub epoch: usize,
    /// Batch (1-based) within the epoch.
    pub batch: usize,
    /// The loss value.
    pub loss: f32,
}

/// Trains with `cfg` on `data` (already prepared) on device `dev`.
pub fn train_on<D: Backend<f32>>(
    dev: &D,
    cfg: &TrainConfig,
    data: &Prepared,
    start: Option<Checkpoint>,
    opts: RunOptions,
) -> Result<Trained> {
    let spec = arch::net_spec(cfg, data)?;
    let phases = arch::phases(cfg, &spec, data.recon);
    let (mut net, mut history, mut elapsed, mut saved_adam, mut best) = match start {
        Some(ck) => {
            if ck.net.spec != spec {
                bail!("the checkpoint's network does not match the settings it was saved with");
            }
            let net = Net::from_host(dev, &ck.net)?;
            (
                net,
                ck.history,
                ck.elapsed_s,
                Some((ck.adam_t, ck.moments)),
                ck.best,
            )
        }
        None => {
            let net = match pca_start(cfg, &spec, data, phases.len()) {
                Some(host) => Net::from_host(dev, &host)?,
                None => Net::init(dev, spec.clone(), cfg.seed)?,
            };
            (net, Vec::new(), 0.0, None, None)
        }
    };
    // A run that stops by itself shares its step budget among its phases.
    let phase_budget = (cfg.max_steps / phases.len().max(1)).max(1);

    for (phase_idx, phase) in phases.iter().enumerate() {
        let (train_x, val_x) = phase_data(dev, &net, phase, data)?;
        let dim = net
            .spec
            .widths(*phase.path.first().unwrap_or(&0))
            .map_or(0, |w| w.0);
        let n = train_x.len() / dim.max(1);
        let plan = Plan::new(phase.epochs, n.div_ceil(cfg.batch), phase_budget);
        let phase_history = |h: &[EpochRecord]| -> Vec<EpochRecord> {
            h.iter().filter(|r| r.phase == phase_idx).cloned().collect()
        };
        let mut standing = schedule::judge(&plan, &phase_history(&history));
        if standing.stop.is_some() {
            continue;
        }
        // Optimiser state and the best weights carry over only within the
        // phase they belong to.
        let mut adam = Adam::new(cfg.lr);
        let resuming = history.last().is_some_and(|r| r.phase == phase_idx);
        if let Some((t, moments)) = saved_adam.take()
            && resuming
        {
            adam.t = t;
            adam.import(dev, &mut net, &moments)?;
        }
        if !resuming {
            best = None;
        }
        let filter = |id: ParamId| match id {
            ParamId::Weight(i)
            | ParamId::Bias(i)
            | ParamId::RecurrentWeight(i)
            | ParamId::RecurrentBias(i) => phase.trainable.contains(&i),
            ParamId::LogvarWeight | ParamId::LogvarBias => phase.full && cfg.kind == Kind::Vae,
        };
        let mut steps = history
            .iter()
            .rfind(|r| r.phase == phase_idx)
            .map_or(0, |r| r.steps);
        let mut epoch = history.iter().filter(|r| r.phase == phase_idx).count();
        while standing.stop.is_none() {
            let t0 = Instant::now();
            let lr = cfg.lr;
            let mut rng = crate::rng::fast(epoch_seed(cfg.seed, phase_idx, epoch));
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            // The budget may end an epoch early.
            let batches = order
                .len()
                .div_ceil(cfg.batch)
                .min(plan.max_steps.saturating_sub(steps));
            let bar = progress_bar(opts, batches, &phase.name, epoch, phase.epochs);
            let (mut sum, mut seen) = (0.0f64, 0usize);
            for (b, idx) in order.chunks(cfg.batch).take(batches).enumerate() {
                let clean: Vec<f32> = idx
                    .iter()
                    .flat_map(|&i| train_x[i * dim..(i + 1) * dim].iter().copied())
                    .collect();
                let next = (data.horizon > 0)
                    .then(|| super::objective::gather_rows(&data.train_next, n, idx));
                let l = train_step(
                    dev,
                    cfg,
                    &mut net,
                    &mut adam,
                    phase,
                    &filter,
                    clean,
                    next,
                    idx.len(),
                    dim,
                    &mut rng,
                )?;
                if !l.is_finite() {
                    bar.finish_and_clear();
                    let d = Diverged {
                        phase: phase.name.clone(),
                        epoch: epoch + 1,
                        batch: b + 1,
                        loss: l,
                    };
                    return Err(diverged_error(&cfg.out, cfg, &d, &history));
                }
                sum += f64::from(l) * idx.len() as f64;
                seen += idx.len();
                steps += 1;
                bar.inc(1);
            }
            let secs = t0.elapsed().as_secs_f64();
            elapsed += secs;
            let (val_loss, val_recon) =
                evaluate(dev, cfg, &net, phase, &val_x, &data.val_next, dim)?;
            bar.finish_and_clear();
            epoch += 1;
            let mut record = EpochRecord {
                phase: phase_idx,
                phase_name: phase.name.clone(),
                epoch,
                train_loss: sum / seen.max(1) as f64,
                val_loss,
                val_recon,
                samples_per_s: seen as f64 / secs.max(1e-9),
                steps,
                lr,
                stop: None,
                kept_epoch: None,
            };
            let mut this_phase = phase_history(&history);
            this_phase.push(record.clone());
            standing = schedule::judge(&plan, &this_phase);
            record.stop = standing.stop;
            if phase.epochs.is_none() {
                if standing.best_epoch == epoch {
                    best = Some(net.to_host());
                }
                if standing.stop.is_some()
                    && let Some(b) = best.take()
                {
                    net = Net::from_host(dev, &b)?;
                    // A run that started from the PCA solution never ends
                    // worse than it.
                    if let Some(start) = pca_start(cfg, &net.spec, data, phases.len()) {
                        let start = Net::from_host(dev, &start)?;
                        let (start_loss, _) = evaluate(dev, cfg, &start, phase, &val_x, &[], dim)?;
                        if start_loss <= standing.best_loss {
                            net = start;
                            standing.best_epoch = 0;
                            standing.best_loss = start_loss;
                        }
                    }
                }
                if standing.stop.is_some() {
                    record.kept_epoch = Some(standing.best_epoch);
                }
            }
            if !opts.quiet {
                let line = progress_line(&record, &plan, &standing);
                eprintln!("{}", relabel(cfg, line));
            }
            // A finished phase's optimiser state is never used again (and
            // restored weights are new tensors that have none).
            let moments = if record.stop.is_some() && phase.epochs.is_none() {
                Vec::new()
            } else {
                adam.export(&mut net)?
            };
            history.push(record);
            Checkpoint {
                config: cfg.clone(),
                data_hash: data.data_hash,
                adam_t: adam.t,
                net: net.to_host(),
                best: best.clone(),
                moments,
                history: history.clone(),
                elapsed_s: elapsed,
            }
            .save(&cfg.out)?;
            super::report::loss_curve(&cfg.out, &history);
        }
    }
    Ok(Trained {
        config: cfg.clone(),
        net: net.to_host(),
        history,
        elapsed_s: elapsed,
    })
}

/// One epoch on stderr; the last epoch of a phase says why it stopped,
/// which epoch's weights are kept, and the steps taken.
fn progress_line(r: &EpochRecord, plan: &Plan, standing: &schedule::Standing) -> String {
    let of = plan.epochs.map_or_else(String::new, |n| format!("/{n}"));
    let mut line = format!(
        "{} epoch {}{of}: loss {:.6}, val loss {:.6} (reconstruction {:.6}), {:.0} samples/s, lr {:.2e}, {} steps",
        r.phase_name,
        r.epoch,
        r.train_loss,
        r.val_loss,
        r.val_recon,
        r.samples_per_s,
        r.lr,
        r.steps
    );
    if let Some(stop) = r.stop {
        let kept = match r.kept_epoch {
            None => format!("weights of epoch {}", r.epoch),
            Some(0) => format!(
                "the PCA start (val loss {:.6}) was never beaten: restored",
                standing.best_loss
            ),
            Some(b) => format!(
                "best epoch {b} (val loss {:.6}) restored",
                standing.best_loss
            ),
        };
        line.push_str(&format!(
            "\n{} stopped after {} epochs and {} steps: {}; {kept}",
            r.phase_name,
            r.epoch,
            r.steps,
            stop.describe()
        ));
    }
    line
}

/// A progress line of a network that only predicts names its second
/// figure for what it is.
fn relabel(cfg: &TrainConfig, line: String) -> String {
    if cfg.recurrent.objective == super::config::Objective::Predict {
        line.replacen("(reconstruction ", "(prediction ", 1)
    } else {
        line
    }
}

/// The seed of epoch `epoch` of phase `phase`: a resumed run draws the same
/// shuffles and noise as an uninterrupted one.
fn epoch_seed(seed: u64, phase: usize, epoch: usize) -> u64 {
    let mut z = seed ^ ((phase as u64) << 40) ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 27)
}

fn progress_bar(
    opts: RunOptions,
    batches: usize,
    name: &str,
    epoch: usize,
    epochs: Option<usize>,
) -> ProgressBar {
    if opts.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(batches as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} batches {elapsed_precise} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let of = epochs.map_or_else(String::new, |n| format!("/{n}"));
    bar.set_prefix(format!("{name} epoch {}{of}", epoch + 1));
    bar
}

fn diverged_error(
    out: &Path,
    cfg: &TrainConfig,
    d: &Diverged,
    history: &[EpochRecord],
) -> anyhow::Error {
    let kept = match history.last() {
        Some(r) => format!(
            "the checkpoint of {} epoch {} is kept in `{}`",
            r.phase_name,
            r.epoch,
            super::checkpoint::path(out).display()
        ),
        None => "no epoch finished, so there is no checkpoint".to_string(),
    };
    anyhow::anyhow!(
        "training diverged: the loss became {} in {} epoch {}, batch {}; {kept}; lower --lr (it is {}) and resume with --resume --lr",
        d.loss,
        d.phase,
        d.epoch,
        d.batch,
        cfg.lr
    )
}

/// The matrices a phase trains and validates on: the data itself, or the
/// data encoded by the frozen layers before the phase's.
fn phase_data<D: Backend<f32>>(
    dev: &D,
    net: &Net<f32, D>,
    phase: &Phase,
    data: &Prepared,
) -> Result<(Vec<f32>, Vec<f32>)> {
    match phase.input {
        PhaseInput::Data => Ok((data.train.clone(), data.val.clone())),
        PhaseInput::Encoded(k) => Ok((
            encode_prefix(dev, net, k, &data.train, data.input_len)?,
            encode_prefix(dev, net, k, &data.val, data.input_len)?,
        )),
    }
}

/// Runs layers `0..k` over `x` (rows of `dim`), without a tape.
fn encode_prefix<D: Backend<f32>>(
    dev: &D,
    net: &Net<f32, D>,
    k: usize,
    x: &[f32],
    dim: usize,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for chunk in x.chunks(1024 * dim.max(1)) {
        let rows = chunk.len() / dim.max(1);
        let t: Mat<f32, D> = dev.tensor_from_vec(chunk.to_vec(), (rows, dim));
        out.extend(net.forward(t, 0..k, false)?.as_vec());
    }
    Ok(out)
}

/// The objective of `phase` on one batch, and the reconstruction part's value.
#[allow(clippy::too_many_arguments)]
fn objective<D: Backend<f32>, T: Tape<f32, D> + Merge<T>>(
    cfg: &TrainConfig,
    net: &Net<f32, D>,
    phase: &Phase,
    x: Mat<f32, D, T>,
    target: Mat<f32, D>,
    next: Option<Mat<f32, D>>,
    eps: Option<Mat<f32, D>>,
) -> Result<(Scalar<f32, D, T>, f32)> {
    if let Some(next) = next {
        return super::objective::loss(net, phase.recon, x, target, next);
    }
    let logits = phase.recon == Recon::BceWithLogits;
    let full = phase.full;
    match cfg.kind {
        Kind::Vae if full => {
            let c = net.spec.codings_layer;
            let h = net.forward_data(x, 0..c, false)?;
            let mean = net.forward(h.retaped::<T>(), c..c + 1, false)?;
            let logvar = net.logvar(h)?;
            let z = match eps {
                Some(e) => loss::reparameterize(mean.retaped::<T>(), logvar.retaped::<T>(), e),
                None => mean.retaped::<T>(),
            };
            let out = net.forward(z, net.decoder(), logits)?;
            let r = loss::reconstruction(phase.recon, out, target);
            let rv = crate::nn::scalar(&r);
            let input_len = net.spec.input_len().max(1) as f64;
            let kl = loss::vae_kl(mean, logvar) * ((cfg.beta / input_len) as f32);
            Ok((r + kl, rv))
        }
        Kind::Sparse if full => {
            let codings = net.forward_data(x, net.encoder(), false)?;
            let penalty = match cfg.sparsity {
                Sparsity::L1 { weight } => loss::l1_penalty(codings.retaped::<T>(), weight),
                Sparsity::Kl { target, weight } => {
                    loss::kl_sparsity(codings.retaped::<T>(), target, weight)
                }
            };
            let out = net.forward(codings, net.decoder(), logits)?;
            let r = loss::reconstruction(phase.recon, out, target);
            let rv = crate::nn::scalar(&r);
            Ok((r + penalty, rv))
        }
        _ => {
            let out = net.forward_data(x, phase.path.iter().copied(), logits)?;
            let r = loss::reconstruction(phase.recon, out, target);
            let rv = crate::nn::scalar(&r);
            Ok((r, rv))
        }
    }
}

/// Corrupts a batch in place for the denoising kind (and a recurrent
/// autoencoder trained with `--noise`).
fn corrupt(noise: Noise, x: &mut [f32], rng: &mut crate::rng::Fast) {
    match noise {
        Noise::Gaussian(sigma) => {
            for v in x {
                let n: f64 = rng.sample(StandardNormal);
                *v += (sigma * n) as f32;
            }
        }
        Noise::Dropout(p) => {
            let keep = (1.0 / (1.0 - p)) as f32;
            for v in x {
                *v = if rng.r#gen::<f64>() < p {
                    0.0
                } else {
                    *v * keep
                };
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn train_step<D: Backend<f32>>(
    dev: &D,
    cfg: &TrainConfig,
    net: &mut Net<f32, D>,
    adam: &mut Adam<f32, D>,
    phase: &Phase,
    filter: &impl Fn(ParamId) -> bool,
    clean: Vec<f32>,
    next: Option<Vec<f32>>,
    rows: usize,
    dim: usize,
    rng: &mut crate::rng::Fast,
) -> Result<f32> {
    // Uncorrupted, the input and the target are one tensor (no copy).
    let input = (cfg.corrupts() && phase.full).then(|| {
        let mut input = clean.clone();
        corrupt(cfg.noise, &mut input, rng);
        input
    });
    let eps = if cfg.kind == Kind::Vae && phase.full {
        let c = net.spec.codings_len();
        let e: Vec<f32> = (0..rows * c)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect();
        Some(dev.tensor_from_vec(e, (rows, c)))
    } else {
        None
    };
    let target: Mat<f32, D> = dev.tensor_from_vec(clean, (rows, dim));
    let x: Mat<f32, D> = match input {
        Some(v) => dev.tensor_from_vec(v, (rows, dim)),
        None => target.clone(),
    };
    let next = next.map(|v| {
        let width = v.len() / rows.max(1);
        dev.tensor_from_vec(v, (rows, width))
    });
    let (total, _) = objective(cfg, net, phase, x.leaky_trace(), target, next, eps)?;
    let value = crate::nn::scalar(&total);
    if !value.is_finite() {
        return Ok(value);
    }
    let mut grads = total.backward();
    adam.step(net, &mut grads, filter)?;
    Ok(value)
}

/// Validation objective and reconstruction loss (a network that only
/// predicts: prediction loss), averaged over all rows; `next` holds the
/// frames after each row of `x` for a predicting network (else empty).
fn evaluate<D: Backend<f32>>(
    dev: &D,
    cfg: &TrainConfig,
    net: &Net<f32, D>,
    phase: &Phase,
    x: &[f32],
    next: &[f32],
    dim: usize,
) -> Result<(f64, f64)> {
    let (mut total, mut recon, mut rows_seen) = (0.0f64, 0.0f64, 0usize);
    let n = x.len() / dim.max(1);
    let next_dim = next.len() / n.max(1);
    for (k, chunk) in x.chunks(512 * dim.max(1)).enumerate() {
        let rows = chunk.len() / dim.max(1);
        let t: Mat<f32, D> = dev.tensor_from_vec(chunk.to_vec(), (rows, dim));
        let next = (net.spec.predict_from.is_some() && next_dim > 0).then(|| {
            let start = k * 512 * next_dim;
            dev.tensor_from_vec(
                next[start..start + rows * next_dim].to_vec(),
                (rows, next_dim),
            )
        });
        let (l, r) = objective(cfg, net, phase, t.clone(), t, next, None)?;
        total += f64::from(crate::nn::scalar(&l)) * rows as f64;
        recon += f64::from(r) * rows as f64;
        rows_seen += rows;
    }
    if rows_seen == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    Ok((total / rows_seen as f64, recon / rows_seen as f64))
}

/// The run directory's model file.
pub fn model_path(out: &Path) -> PathBuf {
    out.join("model.eam")
}

/// Trains per `cfg`, or continues `start` (a checkpoint of a run with the
/// same settings but possibly a new learning rate and more epochs).
pub fn run(
    cfg: TrainConfig,
    start: Option<Checkpoint>,
    opts: RunOptions,
) -> Result<(Trained, Prepared)> {
    cfg.check()?;
    std::fs::create_dir_all(&cfg.out)
        .with_context(|| format!("cannot create the run directory `{}`", cfg.out.display()))?;
    // A run killed while writing leaves a temporary file; it is never read.
    crate::data::files::remove_stale_temporaries(&cfg.out);
    let data = super::prepare::prepare(&cfg)?;
    if let Some(ck) = &start
        && ck.data_hash != data.data_hash
    {
        bail!(
            "`{}` changed since the checkpoint in `{}` was written; resuming would train on different data",
            cfg.data.display(),
            cfg.out.display()
        );
    }
    if cfg.kind == Kind::Pca {
        let trained = fit_pca(&cfg, &data)?;
        Checkpoint {
            config: cfg.clone(),
            data_hash: data.data_hash,
            adam_t: 0,
            net: trained.net.clone(),
            best: None,
            moments: Vec::new(),
            history: trained.history.clone(),
            elapsed_s: trained.elapsed_s,
        }
        .save(&cfg.out)?;
        return Ok((trained, data));
    }
    let trained = match cfg.device {
        super::config::DeviceChoice::Cpu => {
            let spec = arch::net_spec(&cfg, &data)?;
            let macs = spec.macs();
            let threads = opts
                .threads
                .unwrap_or_else(|| auto_threads(cfg.batch, macs))
                .max(1);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .context("cannot start the training threads")?;
            let dev = Cpu::default();
            // Convolutional networks allocate large temporaries every step
            // (im2col columns, their gradients): reusing them saves the
            // page faults of fresh memory (measured 869 -> 1,136 samples/s,
            // median of 3 interleaved pairs, Fashion-MNIST conv AE, 2 cores).
            // Dense networks measured no gain, so they keep the default.
            if spec.layers.iter().any(|l| l.is_map()) {
                dev.enable_cache();
            }
            pool.install(|| train_on(&dev, &cfg, &data, start, opts))?
        }
        super::config::DeviceChoice::Cuda => {
            #[cfg(feature = "cuda")]
            {
                super::cuda::check(&arch::net_spec(&cfg, &data)?)?;
                let dev = super::cuda::device(cfg.seed)?;
                train_on(&dev, &cfg, &data, start, opts)?
            }
            #[cfg(not(feature = "cuda"))]
            bail!(
                "--device cuda needs an edgeae built with `--features cuda` (and the CUDA toolkit)"
            )
        }
    };
    Ok((trained, data))
}

/// The kinds that start from the PCA solution: stacked and denoising
/// autoencoders with a linear output (MSE) trained in one phase, whose
/// widths all hold the codings. Their first weights compute exactly the
/// PCA reconstruction with as many components as codings
/// ([`super::pca::Pca::start_from`]), so training starts where PCA ends.
fn pca_start(
    cfg: &TrainConfig,
    spec: &crate::nn::net::NetSpec,
    data: &Prepared,
    phases: usize,
) -> Option<HostNet> {
    if !cfg.pca_start || !matches!(cfg.kind, Kind::Stacked | Kind::Denoising) || phases != 1 {
        return None;
    }
    let mut host = Net::<f32, Cpu>::init(&Cpu::default(), spec.clone(), cfg.seed)
        .ok()?
        .to_host();
    let pca = super::pca::Pca::fit(&data.train, data.input_len, spec.codings_len()).ok()?;
    pca.start_from(&mut host, &data.train).then_some(host)
}

/// The epoch whose weights a run that stopped by itself kept (its last
/// phase's; 0: the PCA start).
pub fn best_epoch(trained: &Trained) -> Option<usize> {
    trained.history.last()?.kept_epoch
}

/// `--kind pca`: the top principal components of the training windows as
/// encoder and tied decoder, in closed form (no epochs, no optimizer).
pub fn fit_pca(cfg: &TrainConfig, data: &Prepared) -> Result<Trained> {
    let t0 = Instant::now();
    let k = cfg.codings_for(data.input_len);
    let pca = super::pca::Pca::fit(&data.train, data.input_len, k)?;
    let val_loss = if data.val.is_empty() {
        f64::NAN
    } else {
        pca.mse(&data.val)
    };
    let net = pca.host_net();
    let elapsed_s = t0.elapsed().as_secs_f64();
    let record = EpochRecord {
        phase: 0,
        phase_name: "pca".into(),
        epoch: 1,
        train_loss: pca.mse(&data.train),
        val_loss,
        val_recon: val_loss,
        samples_per_s: data.n_train() as f64 / elapsed_s.max(1e-9),
        steps: 0,
        lr: 0.0,
        stop: Some(schedule::StopReason::Solved),
        kept_epoch: None,
    };
    Ok(Trained {
        config: cfg.clone(),
        net,
        history: vec![record],
        elapsed_s,
    })
}

/// The settings to continue the run in `out` with: the checkpoint's, with
/// a new learning rate and epoch count if given.
pub fn resume_config(
    out: &Path,
    lr: Option<f64>,
    epochs: Option<usize>,
) -> Result<(TrainConfig, Checkpoint)> {
    let ck = Checkpoint::load(out)?;
    let mut cfg = ck.config.clone();
    cfg.out = out.to_path_buf();
    if let Some(lr) = lr {
        cfg.lr = lr;
    }
    if let Some(e) = epochs {
        cfg.epochs = Some(e);
    }
    Ok((cfg, ck))
}
