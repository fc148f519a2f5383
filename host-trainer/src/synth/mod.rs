//! Synthetic vibration-like sensor data with labelled faults.
//!
//! [`generate`] builds, from a [`SynthConfig`], a *normal* training series
//! and a *labelled* test stream of the same machine with faults injected,
//! both reproducible bit for bit from the seed. [`write()`] saves them as CSV
//! files that [`crate::data::load`] reads back unchanged. `edgeae synth` and
//! `edgeae demo` use it.
//!
//! # Signal model
//!
//! The data imitate accelerometers (m/s²) on a rotating machine sampled at
//! [`SynthConfig::sample_rate`] Hz. Frequencies below are physical (Hz,
//! seconds); fault lengths and gaps are in rows, because that is what a
//! windowed detector sees.
//!
//! - **Shaft speed** `f0(t)`: the machine dwells 3–8 s at one of the
//!   operating points 19, 23, 27 and 31 Hz and moves to another one with a
//!   smooth (raised-cosine) ramp of 0.5–1.5 s. On top, a slow random drift
//!   (an Ornstein–Uhlenbeck process, 2 % standard deviation, 5 s
//!   correlation time) multiplies the speed. The shaft angle is the integral
//!   of `f0`, so speed changes never make the phase jump. At 1 kHz a
//!   64-frame window covers 1.2–2 revolutions.
//! - **Machine** (drawn once from the seed, shared by both series): each
//!   channel has 4 harmonics `k·f0`, `k = 1..4`, with fixed amplitudes
//!   (0.8–1.2, 0.35–0.6, 0.15–0.3, 0.05–0.15 m/s² at the 25 Hz reference
//!   speed) and phases. Amplitudes grow mildly with speed: `(f0 / 25 Hz)^1`
//!   for the fundamental (unbalance), `^0.5` for the others. Each channel has
//!   a fixed offset: gravity (9.81) on `acc_z`, a small tilt (±0.3) on the
//!   others.
//! - **Per channel, per row**: harmonics + offset + a slow baseline wander
//!   (Ornstein–Uhlenbeck, 10 % of the harmonic RMS, 4 s) + white Gaussian
//!   noise (10 % of the harmonic RMS). The harmonics dominate; the noise is
//!   visible.
//!
//! Each channel's standard deviation comes out at about 0.7–0.95 m/s²
//! (default seed: 0.92, 0.74, 0.94).
//!
//! # Test stream and faults
//!
//! The test stream comes from the same machine and process, with its own
//! random streams (speed schedule, drift, wander, noise). Every kind of
//! [`FaultKind`] is injected [`SynthConfig::faults_per_kind`] times, in a
//! shuffled order, into a stream that is otherwise exactly what it would be
//! without faults: a fault changes rows inside its segment and nothing else.
//! Segments never start in the first 2000 rows, are separated by at least
//! 1000 normal rows (also after the last one), and the remaining rows are
//! spread at random between them. `σ` is the channel's nominal standard
//! deviation.
//!
//! | kind | channel | rows | what happens |
//! |---|---|---|---|
//! | `spike` | one | 71–241 | 3–5 single-sample impulses of ±6–10 σ, 35–60 rows apart; the segment runs from the first to the last spike, so every 64-row window that overlaps it holds one |
//! | `bearing` | all | 600–1200 | impulses at 3.57 × `f0` (an outer-race defect frequency), each ringing a 230–280 Hz resonance that decays with a 4 ms time constant; peak 2–2.5 σ times a per-channel path gain of 0.6–1 |
//! | `amplitude_drift` | one | 800–1500 | the channel's vibration is multiplied by a gain that rises linearly to 1.6 over the first 8 % of the segment, then to 2.2–3 at its end |
//! | `frequency_shift` | one | 600–1200 | the channel's harmonics follow a phase turning 1.3–1.5 times as fast as the shaft (a component at a frequency that does not match `f0`), starting without a jump |
//! | `stuck` | one | 300–800 | the channel holds the value it had at the segment's first row |
//! | `dropout` | one | 300–800 | the channel reads exactly 0.0 in bursts of 40–200 rows separated by 5–30 normal rows; the first and the last row of the segment are in bursts |
//!
//! # Reproducibility
//!
//! All randomness comes from [`rand::rngs::Seeded`] (ChaCha12, the same on
//! every platform for rand 0.8), seeded with sub-seeds derived from
//! [`SynthConfig::seed`]; the signal is computed in `f64` and rounded to
//! `f32` once. The same configuration gives bit-identical data.

use std::f64::consts::TAU;
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::rng::Seeded;
use anyhow::{Context, Result, bail};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

/// Operating points of the shaft, Hz.
const OPERATING_HZ: [f64; 4] = [19.0, 23.0, 27.0, 31.0];
/// Speed at which the harmonic amplitudes are the machine's nominal ones, Hz.
const REFERENCE_HZ: f64 = 25.0;
/// Time spent at an operating point, seconds (uniform).
const DWELL_S: Range<f64> = 3.0..8.0;
/// Duration of a ramp between two operating points, seconds (uniform).
const RAMP_S: Range<f64> = 0.5..1.5;
/// Relative standard deviation of the slow speed drift.
const DRIFT_STD: f64 = 0.02;
/// Correlation time of the speed drift, seconds.
const DRIFT_TAU_S: f64 = 5.0;
/// Amplitude ranges of harmonics 1..4 at [`REFERENCE_HZ`], m/s².
const HARMONIC_AMPS: [Range<f64>; 4] = [0.8..1.2, 0.35..0.6, 0.15..0.3, 0.05..0.15];
/// How each harmonic's amplitude scales with speed: `(f0 / REFERENCE_HZ)^e`.
const SPEED_EXPONENTS: [f64; 4] = [1.0, 0.5, 0.5, 0.5];
/// White noise standard deviation, as a fraction of the harmonic RMS.
const NOISE_FRACTION: f64 = 0.1;
/// Baseline wander standard deviation, as a fraction of the harmonic RMS.
const WANDER_FRACTION: f64 = 0.1;
/// Correlation time of the baseline wander, seconds.
const WANDER_TAU_S: f64 = 4.0;
/// Offset of the vertical axis (`acc_z`), m/s².
const GRAVITY: f64 = 9.81;
/// Range of the other channels' offsets (sensor tilt), m/s².
const TILT: Range<f64> = -0.3..0.3;

/// No fault starts before this row of the test stream.
const LEAD_ROWS: usize = 2000;
/// Normal rows after every fault segment (before the next one, or the end).
const GAP_ROWS: usize = 1000;
/// Lowest sample rate accepted: the bearing resonance must stay below Nyquist.
const MIN_SAMPLE_RATE: f32 = 600.0;

/// Number of spikes in a spike segment: 3 to 5.
const SPIKES: Range<usize> = 3..6;
/// Rows between two spikes: 35 to 60, less than a 64-row window.
const SPIKE_SPACING: Range<usize> = 35..61;
/// Spike height, in channel standard deviations.
const SPIKE_SIGMAS: Range<f64> = 6.0..10.0;
/// Bearing defect frequency, in multiples of the shaft speed.
const BEARING_ORDER: f64 = 3.57;
/// Frequency range of the resonance the bearing impulses ring, Hz.
const RESONANCE_HZ: Range<f64> = 230.0..280.0;
/// Decay time constant of the ringing, seconds.
const RING_TAU_S: f64 = 0.004;
/// Peak of a bearing impulse, in channel standard deviations.
const BEARING_SIGMAS: Range<f64> = 2.0..2.5;
/// Per-channel transmission gain from the bearing to the sensor.
const BEARING_GAIN: Range<f64> = 0.6..1.0;
/// Random relative variation of each bearing impulse's height.
const BEARING_JITTER: f64 = 0.2;
/// Amplitude drift: fraction of the segment over which the gain reaches [`DRIFT_KNEE_GAIN`].
const DRIFT_KNEE: f64 = 0.08;
/// Amplitude drift: gain at the knee.
const DRIFT_KNEE_GAIN: f64 = 1.6;
/// Amplitude drift: gain at the end of the segment.
const DRIFT_PEAK_GAIN: Range<f64> = 2.2..3.0;
/// Frequency shift: ratio of the channel's new rotation rate to the shaft's.
const SHIFT_RATIO: Range<f64> = 1.3..1.5;
/// Dropout: length of a burst of zeros: 40 to 200 rows.
const DROPOUT_BURST: Range<usize> = 40..201;
/// Dropout: normal rows between two bursts: 5 to 30.
const DROPOUT_PAUSE: Range<usize> = 5..31;

/// Sub-seed tags for the independent random streams.
const STREAM_MACHINE: u64 = 1;
/// Sub-seed tag of the training series.
const STREAM_TRAIN: u64 = 2;
/// Sub-seed tag of the test stream.
const STREAM_TEST: u64 = 3;
/// Sub-seed tag of the fault plan.
const STREAM_FAULTS: u64 = 4;
/// Sub-seed tag of the held-out normal series.
const STREAM_HOLDOUT: u64 = 5;

/// Kinds of injected fault (see the module docs for their parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// A few isolated, very large single-sample impulses on one channel.
    Spike,
    /// Periodic impulses at a non-integer multiple of the shaft speed, each
    /// ringing a high-frequency resonance, on all channels.
    BearingImpulses,
    /// One channel's vibration amplitude grows to 2.2–3 times its normal size.
    AmplitudeDrift,
    /// One channel's harmonics move to a frequency that does not match the shaft.
    FrequencyShift,
    /// One channel holds a constant value.
    Stuck,
    /// One channel reads 0.0 in bursts.
    Dropout,
}

impl FaultKind {
    /// Every kind, in the order of the enum.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Spike,
        FaultKind::BearingImpulses,
        FaultKind::AmplitudeDrift,
        FaultKind::FrequencyShift,
        FaultKind::Stuck,
        FaultKind::Dropout,
    ];

    /// The kind's name in `faults.csv`: `spike`, `bearing`,
    /// `amplitude_drift`, `frequency_shift`, `stuck` or `dropout`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Spike => "spike",
            FaultKind::BearingImpulses => "bearing",
            FaultKind::AmplitudeDrift => "amplitude_drift",
            FaultKind::FrequencyShift => "frequency_shift",
            FaultKind::Stuck => "stuck",
            FaultKind::Dropout => "dropout",
        }
    }

    /// Longest segment of this kind, rows.
    fn max_rows(self) -> usize {
        match self {
            FaultKind::Spike => (SPIKES.end - 2) * (SPIKE_SPACING.end - 1) + 1,
            _ => self.length_range().end - 1,
        }
    }

    /// Segment lengths of this kind, rows (half-open; spikes: see [`SPIKES`]
    /// and [`SPIKE_SPACING`] instead).
    fn length_range(self) -> Range<usize> {
        match self {
            FaultKind::Spike => 0..1,
            FaultKind::BearingImpulses => 600..1201,
            FaultKind::AmplitudeDrift => 800..1501,
            FaultKind::FrequencyShift => 600..1201,
            FaultKind::Stuck | FaultKind::Dropout => 300..801,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One injected fault: rows `start..end` (end exclusive) of the test stream,
/// on `channel` (`None` = all channels). Every row in the range is labelled 1.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSegment {
    /// What kind of fault.
    pub kind: FaultKind,
    /// First row of the segment.
    pub start: usize,
    /// One past the last row of the segment.
    pub end: usize,
    /// The affected channel, or `None` when all channels are.
    pub channel: Option<usize>,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Seed of every random choice (default 7).
    pub seed: u64,
    /// Number of channels, at least 1 (default 3: `acc_x`, `acc_y`, `acc_z`).
    pub channels: usize,
    /// Sampling rate in Hz, at least 600 (default 1000); sets the timestamps
    /// and turns the physical frequencies of the model into rows.
    pub sample_rate: f32,
    /// Rows of the normal training series, at least 1 (default 60 000).
    pub train_rows: usize,
    /// Rows of the labelled test stream (default 30 000); must leave room for
    /// every fault and the normal gaps around them.
    pub test_rows: usize,
    /// How many times each [`FaultKind`] is injected into the test stream (default 2).
    pub faults_per_kind: usize,
    /// Rows of a second normal series of the same machine, on its own
    /// trajectory, that training never sees (default 0: none): where the
    /// false-alarm rate of a calibrated threshold is measured.
    pub holdout_rows: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 7,
            channels: 3,
            sample_rate: 1000.0,
            train_rows: 60_000,
            test_rows: 30_000,
            faults_per_kind: 2,
            holdout_rows: 0,
        }
    }
}

impl SynthConfig {
    /// Fewest test rows that fit every fault at its longest, with the lead-in
    /// and the gaps.
    pub fn min_test_rows(&self) -> usize {
        if self.faults_per_kind == 0 {
            return 1;
        }
        let per_kind: usize = FaultKind::ALL.iter().map(|k| k.max_rows() + GAP_ROWS).sum();
        per_kind.saturating_mul(self.faults_per_kind) + LEAD_ROWS
    }

    /// Checks the configuration; the error is one sentence.
    fn validate(&self) -> Result<()> {
        if self.channels == 0 {
            bail!("cannot synthesize data with 0 channels: expected at least 1");
        }
        if !(self.sample_rate.is_finite() && self.sample_rate >= MIN_SAMPLE_RATE) {
            bail!(
                "cannot synthesize data at {} Hz: the sample rate must be at least {MIN_SAMPLE_RATE} Hz so that the bearing resonance (up to {} Hz) stays below the Nyquist frequency",
                self.sample_rate,
                RESONANCE_HZ.end
            );
        }
        if self.train_rows == 0 {
            bail!("cannot synthesize a training series of 0 rows: expected at least 1");
        }
        let need = self.min_test_rows();
        if self.test_rows < need {
            bail!(
                "a test stream of {} rows is too short for {} faults ({} kinds x {}) with their gaps: expected at least {need} rows",
                self.test_rows,
                self.faults_per_kind * FaultKind::ALL.len(),
                FaultKind::ALL.len(),
                self.faults_per_kind
            );
        }
        for (what, rows) in [
            ("training", self.train_rows),
            ("test", self.test_rows),
            ("held-out", self.holdout_rows),
        ] {
            if rows.checked_mul(self.channels).is_none() {
                bail!(
                    "a {what} series of {rows} rows x {} channels is too large",
                    self.channels
                );
            }
        }
        Ok(())
    }
}

/// A generated data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Synth {
    /// Channel names: `acc_x`, `acc_y`, `acc_z`, then `ch3`, `ch4`, ...
    pub channel_names: Vec<String>,
    /// The normal training series: `train_rows * channels` values, row-major.
    pub train: Vec<f32>,
    /// The test stream with faults: `test_rows * channels` values, row-major.
    pub test: Vec<f32>,
    /// One label per test row: 1 inside a fault segment, else 0.
    pub test_labels: Vec<u8>,
    /// The held-out normal series: `holdout_rows * channels` values.
    pub holdout: Vec<f32>,
    /// The injected faults, sorted by start, non-overlapping.
    pub faults: Vec<FaultSegment>,
    /// The configuration the data were generated from.
    pub config: SynthConfig,
}

/// Generates the training series and the labelled test stream of `cfg`.
///
/// Errors (one sentence) when there are no channels, the sample rate is below
/// 600 Hz, the training series is empty, or the test stream is too short for
/// the faults and the normal gaps around them
/// ([`SynthConfig::min_test_rows`]).
pub fn generate(cfg: &SynthConfig) -> Result<Synth> {
    let parts = Parts::new(cfg)?;
    let fs = f64::from(cfg.sample_rate);
    let train = render(&parts.machine, &parts.train, fs, &[]);
    let test = render(&parts.machine, &parts.test, fs, &parts.plan);
    let holdout = if cfg.holdout_rows > 0 {
        let trajectory = Trajectory::new(
            &parts.machine,
            cfg.holdout_rows,
            fs,
            &mut rng_for(cfg.seed, STREAM_HOLDOUT),
        );
        render(&parts.machine, &trajectory, fs, &[])
    } else {
        Vec::new()
    };
    let mut test_labels = vec![0u8; cfg.test_rows];
    for p in &parts.plan {
        test_labels[p.segment.start..p.segment.end].fill(1);
    }
    Ok(Synth {
        channel_names: channel_names(cfg.channels),
        train,
        test,
        test_labels,
        holdout,
        faults: parts.plan.iter().map(|p| p.segment.clone()).collect(),
        config: cfg.clone(),
    })
}

/// Writes `DIR/train.csv` (`timestamp,acc_x,...`), `DIR/test.csv`
/// (`timestamp,acc_x,...,label`) and `DIR/faults.csv`
/// (`kind,start,end,channel`, the channel empty when all are affected),
/// creating `dir` if needed. Each file is written atomically. Values use the
/// shortest text that reads back as the same `f32`; the timestamp is
/// `row / sample_rate` seconds. Returns the paths written.
pub fn write(dir: &Path, synth: &Synth) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory `{}`", dir.display()))?;
    let fs = synth.config.sample_rate;
    let train = dir.join("train.csv");
    let test = dir.join("test.csv");
    let faults = dir.join("faults.csv");
    crate::data::files::write_atomic(
        &train,
        series_csv(&synth.channel_names, &synth.train, None, fs).as_bytes(),
    )?;
    crate::data::files::write_atomic(
        &test,
        series_csv(
            &synth.channel_names,
            &synth.test,
            Some(&synth.test_labels),
            fs,
        )
        .as_bytes(),
    )?;
    crate::data::files::write_atomic(&faults, faults_csv(&synth.faults).as_bytes())?;
    let mut written = vec![train, test, faults];
    if !synth.holdout.is_empty() {
        let holdout = dir.join("holdout.csv");
        crate::data::files::write_atomic(
            &holdout,
            series_csv(&synth.channel_names, &synth.holdout, None, fs).as_bytes(),
        )?;
        written.push(holdout);
    }
    Ok(written)
}

/// Channel names for `n` channels.
fn channel_names(n: usize) -> Vec<String> {
    (0..n)
        .map(|c| match c {
            0 => "acc_x".to_string(),
            1 => "acc_y".to_string(),
            2 => "acc_z".to_string(),
            _ => format!("ch{c}"),
        })
        .collect()
}

/// Decimals of the timestamp column: enough for one sample period.
fn timestamp_decimals(sample_rate: f32) -> usize {
    // Finite and >= MIN_SAMPLE_RATE for generated data; clamp anyway.
    let digits = f64::from(sample_rate).log10().ceil();
    if digits.is_finite() {
        (digits as usize + 1).clamp(4, 9)
    } else {
        4
    }
}

/// CSV text of a series: header, then one line per row.
fn series_csv(names: &[String], values: &[f32], labels: Option<&[u8]>, fs: f32) -> String {
    let channels = names.len().max(1);
    let decimals = timestamp_decimals(fs);
    let mut out = String::with_capacity(values.len() * 12 + 64);
    out.push_str("timestamp");
    for name in names {
        out.push(',');
        out.push_str(name);
    }
    if labels.is_some() {
        out.push_str(",label");
    }
    out.push('\n');
    for (row, frame) in values.chunks_exact(channels).enumerate() {
        let t = row as f64 / f64::from(fs);
        // Writing to a String cannot fail.
        let _ = write!(out, "{t:.decimals$}");
        for v in frame {
            let _ = write!(out, ",{v}");
        }
        if let Some(labels) = labels {
            let l = labels.get(row).copied().unwrap_or(0);
            let _ = write!(out, ",{l}");
        }
        out.push('\n');
    }
    out
}

/// CSV text of the fault list.
fn faults_csv(faults: &[FaultSegment]) -> String {
    let mut out = String::from("kind,start,end,channel\n");
    for f in faults {
        let channel = f.channel.map(|c| c.to_string()).unwrap_or_default();
        let _ = writeln!(out, "{},{},{},{channel}", f.kind.name(), f.start, f.end);
    }
    out
}

/// The independent random stream `tag` of `seed` (SplitMix64 mixing).
fn rng_for(seed: u64, tag: u64) -> Seeded {
    let mut z = seed ^ tag.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    crate::rng::seeded(z ^ (z >> 31))
}

/// A standard normal draw.
fn normal(rng: &mut Seeded) -> f64 {
    rng.sample(StandardNormal)
}

/// Everything random about the test set-up, before rendering.
struct Parts {
    /// The machine shared by both series.
    machine: Machine,
    /// Latent trajectory of the training series.
    train: Trajectory,
    /// Latent trajectory of the test stream.
    test: Trajectory,
    /// The faults to inject into the test stream, sorted by start.
    plan: Vec<Planned>,
}

impl Parts {
    /// Validates `cfg` and draws the machine, both trajectories and the fault plan.
    fn new(cfg: &SynthConfig) -> Result<Parts> {
        cfg.validate()?;
        let fs = f64::from(cfg.sample_rate);
        let machine = Machine::new(cfg.channels, &mut rng_for(cfg.seed, STREAM_MACHINE));
        let train = Trajectory::new(
            &machine,
            cfg.train_rows,
            fs,
            &mut rng_for(cfg.seed, STREAM_TRAIN),
        );
        let test = Trajectory::new(
            &machine,
            cfg.test_rows,
            fs,
            &mut rng_for(cfg.seed, STREAM_TEST),
        );
        let plan = plan_faults(cfg, &mut rng_for(cfg.seed, STREAM_FAULTS));
        Ok(Parts {
            machine,
            train,
            test,
            plan,
        })
    }
}

/// One channel of the machine.
struct ChannelModel {
    /// Amplitude of harmonic `k + 1` at [`REFERENCE_HZ`].
    amps: [f64; 4],
    /// `(cos, sin)` of the phase of harmonic `k + 1`.
    phases: [(f64, f64); 4],
    /// Constant offset (gravity or tilt).
    offset: f64,
    /// White noise standard deviation.
    noise_std: f64,
    /// Baseline wander standard deviation.
    wander_std: f64,
    /// Nominal standard deviation of the channel (harmonics, wander, noise).
    sigma: f64,
    /// Transmission gain of bearing impulses to this channel.
    bearing_gain: f64,
}

/// The fixed properties of the simulated machine.
struct Machine {
    /// One model per channel.
    channels: Vec<ChannelModel>,
    /// Frequency of the structural resonance bearing impulses ring, Hz.
    resonance_hz: f64,
}

impl Machine {
    /// Draws a machine with `channels` channels.
    fn new(channels: usize, rng: &mut Seeded) -> Machine {
        let resonance_hz = rng.gen_range(RESONANCE_HZ);
        let channels = (0..channels)
            .map(|c| {
                let amps = HARMONIC_AMPS.map(|r| rng.gen_range(r));
                let phases = [(); 4].map(|()| {
                    let p = rng.gen_range(0.0..TAU);
                    (p.cos(), p.sin())
                });
                let tilt = rng.gen_range(TILT);
                let offset = if c == 2 { GRAVITY + tilt / 10.0 } else { tilt };
                let bearing_gain = rng.gen_range(BEARING_GAIN);
                let rms = (amps.iter().map(|a| a * a).sum::<f64>() / 2.0).sqrt();
                let noise_std = NOISE_FRACTION * rms;
                let wander_std = WANDER_FRACTION * rms;
                let sigma = (rms * rms + noise_std * noise_std + wander_std * wander_std).sqrt();
                ChannelModel {
                    amps,
                    phases,
                    offset,
                    noise_std,
                    wander_std,
                    sigma,
                    bearing_gain,
                }
            })
            .collect();
        Machine {
            channels,
            resonance_hz,
        }
    }
}

/// `sin(kθ)` and `cos(kθ)` for `k = 1..4`.
fn harmonics_of(theta: f64) -> [(f64, f64); 4] {
    let (s1, c1) = theta.sin_cos();
    let mut out = [(s1, c1); 4];
    for k in 1..4 {
        let (s, c) = out[k - 1];
        out[k] = (s * c1 + c * s1, c * c1 - s * s1);
    }
    out
}

impl ChannelModel {
    /// The harmonic (vibration) part at shaft speed `f0` for the angle
    /// whose multiples are `h` (from [`harmonics_of`]).
    fn vibration(&self, f0: f64, h: &[(f64, f64); 4]) -> f64 {
        let speed = f0 / REFERENCE_HZ;
        let mut v = 0.0;
        for k in 0..4 {
            let (s, c) = h[k];
            let (cp, sp) = self.phases[k];
            // sin(kθ + p) = sin(kθ) cos p + cos(kθ) sin p
            v += self.amps[k] * speed.powf(SPEED_EXPONENTS[k]) * (s * cp + c * sp);
        }
        v
    }
}

/// The random latent state of one series, independent of any fault.
struct Trajectory {
    /// Shaft speed per row, Hz.
    f0: Vec<f64>,
    /// Unwrapped shaft angle per row, radians.
    angle: Vec<f64>,
    /// Baseline wander, rows x channels.
    wander: Vec<f64>,
    /// White noise, rows x channels.
    noise: Vec<f64>,
}

impl Trajectory {
    /// Draws `rows` rows of speed, angle, wander and noise for `machine`.
    fn new(machine: &Machine, rows: usize, fs: f64, rng: &mut Seeded) -> Trajectory {
        let dt = 1.0 / fs;
        let nominal = speed_schedule(rows, fs, rng);
        let channels = machine.channels.len();
        let drift_a = (-dt / DRIFT_TAU_S).exp();
        let drift_b = DRIFT_STD * (1.0 - drift_a * drift_a).sqrt();
        let wander_a = (-dt / WANDER_TAU_S).exp();
        let wander_b = (1.0 - wander_a * wander_a).sqrt();
        let mut drift = DRIFT_STD * normal(rng);
        let mut wander: Vec<f64> = machine
            .channels
            .iter()
            .map(|m| m.wander_std * normal(rng))
            .collect();
        let mut angle = rng.gen_range(0.0..TAU);
        let mut t = Trajectory {
            f0: Vec::with_capacity(rows),
            angle: Vec::with_capacity(rows),
            wander: Vec::with_capacity(rows * channels),
            noise: Vec::with_capacity(rows * channels),
        };
        for f_nominal in nominal {
            let f0 = f_nominal * (1.0 + drift);
            t.f0.push(f0);
            t.angle.push(angle);
            for (w, m) in wander.iter_mut().zip(&machine.channels) {
                t.wander.push(*w);
                t.noise.push(m.noise_std * normal(rng));
                *w = wander_a * *w + wander_b * m.wander_std * normal(rng);
            }
            angle += TAU * f0 * dt;
            drift = drift_a * drift + drift_b * normal(rng);
        }
        t
    }
}

/// Nominal shaft speed per row: dwells at operating points joined by
/// raised-cosine ramps.
fn speed_schedule(rows: usize, fs: f64, rng: &mut Seeded) -> Vec<f64> {
    let seconds_to_rows = |s: f64| ((s * fs).round() as usize).max(1);
    let mut out = Vec::with_capacity(rows);
    let mut current = rng.gen_range(0..OPERATING_HZ.len());
    // The series starts somewhere inside a dwell.
    let mut dwell = seconds_to_rows(rng.gen_range(DWELL_S) * rng.gen_range(0.2..1.0));
    while out.len() < rows {
        out.extend(std::iter::repeat_n(OPERATING_HZ[current], dwell));
        let mut next = rng.gen_range(0..OPERATING_HZ.len() - 1);
        if next >= current {
            next += 1;
        }
        let ramp = seconds_to_rows(rng.gen_range(RAMP_S));
        let (from, to) = (OPERATING_HZ[current], OPERATING_HZ[next]);
        for i in 0..ramp {
            let u = (i as f64 + 0.5) / ramp as f64;
            let s = 0.5 - 0.5 * (std::f64::consts::PI * u).cos();
            out.push(from + (to - from) * s);
        }
        current = next;
        dwell = seconds_to_rows(rng.gen_range(DWELL_S));
    }
    out.truncate(rows);
    out
}

/// The parameters of one planned fault.
enum FaultParams {
    /// Rows (relative to the start) and heights of the spikes, in σ.
    Spike(Vec<(usize, f64)>),
    /// Peak of an impulse in σ (before the path gain), and the seed of the
    /// impulses' height variation.
    Bearing(f64, u64),
    /// Gain at the end of the segment.
    AmplitudeDrift(f64),
    /// Rotation rate of the channel relative to the shaft.
    FrequencyShift(f64),
    /// Hold the first row's value.
    Stuck,
    /// Bursts of zeros, rows relative to the start.
    Dropout(Vec<Range<usize>>),
}

/// A fault with everything needed to inject it.
struct Planned {
    /// Where and what.
    segment: FaultSegment,
    /// How.
    params: FaultParams,
}

/// Draws the faults of the test stream: kinds in shuffled order, lengths,
/// positions with the lead-in and the gaps, channels and parameters.
/// `cfg` must have passed [`SynthConfig::validate`].
fn plan_faults(cfg: &SynthConfig, rng: &mut Seeded) -> Vec<Planned> {
    let mut kinds: Vec<FaultKind> = FaultKind::ALL
        .iter()
        .flat_map(|&k| std::iter::repeat_n(k, cfg.faults_per_kind))
        .collect();
    if kinds.is_empty() {
        return Vec::new();
    }
    kinds.shuffle(rng);
    // Lengths and the kind-specific parameters that fix them.
    let drafts: Vec<(FaultKind, usize, FaultParams)> = kinds
        .iter()
        .map(|&kind| {
            let (len, params) = draft(kind, rng);
            (kind, len, params)
        })
        .collect();
    let used: usize = drafts.iter().map(|d| d.1 + GAP_ROWS).sum::<usize>() + LEAD_ROWS;
    let slack = cfg.test_rows - used;
    let mut cuts: Vec<usize> = (0..drafts.len())
        .map(|_| rng.gen_range(0..=slack))
        .collect();
    cuts.sort_unstable();
    let mut plan = Vec::with_capacity(drafts.len());
    let mut next_free = LEAD_ROWS;
    let mut previous_cut = 0;
    for ((kind, len, params), cut) in drafts.into_iter().zip(cuts) {
        let start = next_free + (cut - previous_cut);
        previous_cut = cut;
        let end = start + len;
        next_free = end + GAP_ROWS;
        let channel = match kind {
            FaultKind::BearingImpulses => None,
            _ => Some(rng.gen_range(0..cfg.channels)),
        };
        plan.push(Planned {
            segment: FaultSegment {
                kind,
                start,
                end,
                channel,
            },
            params,
        });
    }
    plan
}

/// Draws the length of a fault of `kind` and its parameters.
fn draft(kind: FaultKind, rng: &mut Seeded) -> (usize, FaultParams) {
    match kind {
        FaultKind::Spike => {
            let n = rng.gen_range(SPIKES);
            let mut at = 0;
            let mut spikes = Vec::with_capacity(n);
            for i in 0..n {
                if i > 0 {
                    at += rng.gen_range(SPIKE_SPACING);
                }
                let sign = if rng.r#gen::<bool>() { 1.0 } else { -1.0 };
                spikes.push((at, sign * rng.gen_range(SPIKE_SIGMAS)));
            }
            (at + 1, FaultParams::Spike(spikes))
        }
        FaultKind::Dropout => {
            let len = rng.gen_range(kind.length_range());
            let mut bursts = Vec::new();
            let mut at = 0;
            while at < len {
                let end = (at + rng.gen_range(DROPOUT_BURST)).min(len);
                bursts.push(at..end);
                at = end + rng.gen_range(DROPOUT_PAUSE);
            }
            // The last row is in a burst, so the label ends where the fault does.
            if let Some(last) = bursts.last_mut() {
                last.end = len;
            }
            (len, FaultParams::Dropout(bursts))
        }
        _ => {
            let len = rng.gen_range(kind.length_range());
            let params = match kind {
                FaultKind::BearingImpulses => {
                    FaultParams::Bearing(rng.gen_range(BEARING_SIGMAS), rng.r#gen())
                }
                FaultKind::AmplitudeDrift => {
                    FaultParams::AmplitudeDrift(rng.gen_range(DRIFT_PEAK_GAIN))
                }
                FaultKind::FrequencyShift => {
                    FaultParams::FrequencyShift(rng.gen_range(SHIFT_RATIO))
                }
                _ => FaultParams::Stuck,
            };
            (len, params)
        }
    }
}

/// Renders a series from its trajectory with the faults of `plan` injected
/// (none for a normal series). Rows outside the fault segments are the same
/// whatever the plan.
fn render(machine: &Machine, traj: &Trajectory, fs: f64, plan: &[Planned]) -> Vec<f32> {
    let channels = machine.channels.len();
    let rows = traj.f0.len();
    // The vibration (harmonic) part of every channel.
    let mut vib = Vec::with_capacity(rows * channels);
    for (&f0, &angle) in traj.f0.iter().zip(&traj.angle) {
        let h = harmonics_of(angle);
        vib.extend(machine.channels.iter().map(|m| m.vibration(f0, &h)));
    }
    // Faults that change the vibration before noise and offsets are added.
    for p in plan {
        let FaultSegment {
            start,
            end,
            channel,
            ..
        } = p.segment;
        let len = (end - start) as f64;
        match (&p.params, channel) {
            (FaultParams::AmplitudeDrift(peak), Some(c)) => {
                for t in start..end {
                    let u = (t - start) as f64 / len;
                    let gain = if u < DRIFT_KNEE {
                        1.0 + (DRIFT_KNEE_GAIN - 1.0) * u / DRIFT_KNEE
                    } else {
                        DRIFT_KNEE_GAIN
                            + (peak - DRIFT_KNEE_GAIN) * (u - DRIFT_KNEE) / (1.0 - DRIFT_KNEE)
                    };
                    vib[t * channels + c] *= gain;
                }
            }
            (FaultParams::FrequencyShift(ratio), Some(c)) => {
                let a0 = traj.angle[start];
                for t in start..end {
                    let angle = a0 + ratio * (traj.angle[t] - a0);
                    let h = harmonics_of(angle);
                    vib[t * channels + c] = machine.channels[c].vibration(traj.f0[t], &h);
                }
            }
            (&FaultParams::Bearing(peak, seed), _) => {
                let ring = bearing_ring(traj, start..end, fs, machine.resonance_hz, peak, seed);
                for (t, r) in (start..end).zip(ring) {
                    for (v, m) in vib[t * channels..(t + 1) * channels]
                        .iter_mut()
                        .zip(&machine.channels)
                    {
                        *v += r * m.bearing_gain * m.sigma;
                    }
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<f64> = vib
        .chunks_exact(channels)
        .zip(traj.wander.chunks_exact(channels))
        .zip(traj.noise.chunks_exact(channels))
        .flat_map(|((v, w), n)| {
            machine
                .channels
                .iter()
                .zip(v)
                .zip(w)
                .zip(n)
                .map(|(((m, v), w), n)| m.offset + w + v + n)
        })
        .collect();
    // Faults of the sensor itself, on the finished signal.
    for p in plan {
        let FaultSegment {
            start,
            end,
            channel,
            ..
        } = p.segment;
        let Some(c) = channel else { continue };
        let at = |t: usize| t * channels + c;
        match &p.params {
            FaultParams::Spike(spikes) => {
                for &(offset, height) in spikes {
                    out[at(start + offset)] += height * machine.channels[c].sigma;
                }
            }
            FaultParams::Stuck => {
                let held = out[at(start)];
                for t in start..end {
                    out[at(t)] = held;
                }
            }
            FaultParams::Dropout(bursts) => {
                for burst in bursts {
                    for t in burst.clone() {
                        out[at(start + t)] = 0.0;
                    }
                }
            }
            _ => {}
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

/// The bearing impulse train over `rows`, in σ: impulses at
/// [`BEARING_ORDER`] times the shaft speed, the first one at the segment's
/// first row, each a decaying sine at `resonance_hz` whose largest sample is
/// `peak` give or take [`BEARING_JITTER`] (varied by a hash of `seed` and the
/// impulse's index).
fn bearing_ring(
    traj: &Trajectory,
    rows: Range<usize>,
    fs: f64,
    resonance_hz: f64,
    peak: f64,
    seed: u64,
) -> Vec<f64> {
    let len = rows.len();
    let mut ring = vec![0.0; len];
    let tau_rows = RING_TAU_S * fs;
    let span = ((10.0 * tau_rows).ceil() as usize).max(1);
    let w = TAU * resonance_hz / fs;
    // The decaying sine sampled from its start peaks near a quarter period:
    // scale so its largest sample is 1.
    let shape: Vec<f64> = (0..span)
        .map(|i| {
            let i = i as f64 + 0.5;
            (-i / tau_rows).exp() * (w * i).sin()
        })
        .collect();
    let top = shape.iter().fold(0.0f64, |a, &b| a.max(b.abs())).max(1e-9);
    let mut defect_phase = 1.0; // fire at the first row
    let mut index = seed;
    for (i, t) in rows.enumerate() {
        if defect_phase >= 1.0 {
            defect_phase -= 1.0;
            let jitter = 1.0 + BEARING_JITTER * (2.0 * unit_hash(index) - 1.0);
            index = index.wrapping_add(1);
            for (r, s) in ring[i..].iter_mut().zip(&shape) {
                *r += peak * jitter * s / top;
            }
        }
        defect_phase += BEARING_ORDER * traj.f0[t] / fs;
    }
    ring
}

/// A number in [0, 1) from `i` (SplitMix64), for per-impulse variation.
fn unit_hash(i: u64) -> f64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small configuration with one fault of each kind.
    fn small(seed: u64) -> SynthConfig {
        let mut cfg = SynthConfig {
            seed,
            train_rows: 4000,
            faults_per_kind: 1,
            ..SynthConfig::default()
        };
        cfg.test_rows = cfg.min_test_rows() + 500;
        cfg
    }

    /// The test stream of `cfg` rendered without faults.
    fn clean_test(cfg: &SynthConfig) -> Vec<f32> {
        let parts = Parts::new(cfg).unwrap();
        render(&parts.machine, &parts.test, f64::from(cfg.sample_rate), &[])
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn column(values: &[f32], channels: usize, c: usize, rows: Range<usize>) -> Vec<f32> {
        rows.map(|t| values[t * channels + c]).collect()
    }

    fn std_dev(v: &[f32]) -> f64 {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        (v.iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
    }

    #[test]
    fn kinds_have_their_names() {
        let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "spike",
                "bearing",
                "amplitude_drift",
                "frequency_shift",
                "stuck",
                "dropout"
            ]
        );
        assert_eq!(FaultKind::Stuck.to_string(), "stuck");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let cfg = SynthConfig::default();
        assert_eq!((cfg.seed, cfg.channels, cfg.sample_rate), (7, 3, 1000.0));
        assert_eq!(
            (cfg.train_rows, cfg.test_rows, cfg.faults_per_kind),
            (60_000, 30_000, 2)
        );
        assert!(cfg.min_test_rows() <= cfg.test_rows);
    }

    #[test]
    fn same_seed_gives_identical_data_and_another_seed_does_not() {
        let a = generate(&small(3)).unwrap();
        let b = generate(&small(3)).unwrap();
        assert_eq!(bits(&a.train), bits(&b.train));
        assert_eq!(bits(&a.test), bits(&b.test));
        assert_eq!(a.test_labels, b.test_labels);
        assert_eq!(a.faults, b.faults);
        let c = generate(&small(4)).unwrap();
        assert_ne!(bits(&a.train), bits(&c.train));
        assert_ne!(bits(&a.test), bits(&c.test));
        assert_ne!(a.faults, c.faults);
    }

    #[test]
    fn shapes_and_names_follow_the_config() {
        let mut cfg = small(1);
        cfg.channels = 5;
        let s = generate(&cfg).unwrap();
        assert_eq!(s.channel_names, ["acc_x", "acc_y", "acc_z", "ch3", "ch4"]);
        assert_eq!(s.train.len(), cfg.train_rows * 5);
        assert_eq!(s.test.len(), cfg.test_rows * 5);
        assert_eq!(s.test_labels.len(), cfg.test_rows);
        assert_eq!(s.config, cfg);
        cfg.channels = 1;
        let s = generate(&cfg).unwrap();
        assert_eq!(s.channel_names, ["acc_x"]);
        assert!(s.faults.iter().all(|f| f.channel.is_none_or(|c| c == 0)));
    }

    #[test]
    fn labels_are_exactly_the_fault_segments() {
        let s = generate(&small(5)).unwrap();
        let mut expected = vec![0u8; s.config.test_rows];
        for f in &s.faults {
            for l in &mut expected[f.start..f.end] {
                *l = 1;
            }
        }
        assert_eq!(s.test_labels, expected);
        assert!(s.test_labels.iter().all(|&l| l <= 1));
    }

    #[test]
    fn segments_are_sorted_gapped_and_complete() {
        for seed in [7, 8, 9] {
            let cfg = SynthConfig {
                seed,
                train_rows: 100,
                ..SynthConfig::default()
            };
            let s = generate(&cfg).unwrap();
            assert_eq!(s.faults.len(), 12);
            assert!(s.faults[0].start >= LEAD_ROWS);
            for pair in s.faults.windows(2) {
                assert!(pair[0].end + GAP_ROWS <= pair[1].start, "{pair:?}");
            }
            let last = s.faults.last().unwrap();
            assert!(last.end + GAP_ROWS <= cfg.test_rows);
            for kind in FaultKind::ALL {
                let of_kind: Vec<_> = s.faults.iter().filter(|f| f.kind == kind).collect();
                assert_eq!(of_kind.len(), 2, "{kind}");
                for f in of_kind {
                    let len = f.end - f.start;
                    assert!(len > 0 && len <= kind.max_rows(), "{f:?}");
                    assert_eq!(f.channel.is_none(), kind == FaultKind::BearingImpulses);
                    assert!(f.channel.is_none_or(|c| c < cfg.channels));
                }
            }
        }
    }

    #[test]
    fn faults_change_their_segment_and_nothing_else() {
        let cfg = small(11);
        let s = generate(&cfg).unwrap();
        let clean = clean_test(&cfg);
        let ch = cfg.channels;
        // Outside the segments the stream is the clean one.
        for (t, label) in s.test_labels.iter().enumerate() {
            if *label == 0 {
                assert_eq!(
                    bits(&s.test[t * ch..(t + 1) * ch]),
                    bits(&clean[t * ch..(t + 1) * ch]),
                    "row {t}"
                );
            }
        }
        let parts = Parts::new(&cfg).unwrap();
        for f in &s.faults {
            let rows = f.start..f.end;
            // The channels the fault may touch, and those it must leave alone.
            for c in 0..ch {
                let got = column(&s.test, ch, c, rows.clone());
                let want = column(&clean, ch, c, rows.clone());
                let diff: Vec<f64> = got
                    .iter()
                    .zip(&want)
                    .map(|(&a, &b)| f64::from(a) - f64::from(b))
                    .collect();
                let rms = (diff.iter().map(|d| d * d).sum::<f64>() / diff.len() as f64).sqrt();
                let sigma = parts.machine.channels[c].sigma;
                if f.channel.is_some_and(|fc| fc != c) {
                    assert!(diff.iter().all(|&d| d == 0.0), "{f:?} touched channel {c}");
                    continue;
                }
                match f.kind {
                    FaultKind::Spike => {
                        let big = diff.iter().filter(|d| d.abs() >= 5.0 * sigma).count();
                        let changed = diff.iter().filter(|&&d| d != 0.0).count();
                        assert!((3..=5).contains(&big) && big == changed, "{f:?}");
                        assert!(diff[0] != 0.0 && diff[diff.len() - 1] != 0.0, "{f:?}");
                    }
                    FaultKind::BearingImpulses => assert!(rms > 0.3 * sigma, "{f:?} {rms}"),
                    FaultKind::AmplitudeDrift | FaultKind::FrequencyShift => {
                        assert!(rms > 0.5 * sigma, "{f:?} {rms}")
                    }
                    FaultKind::Stuck => assert!(rms > 0.5 * sigma, "{f:?} {rms}"),
                    FaultKind::Dropout => {
                        let zeros = got.iter().filter(|&&v| v == 0.0).count();
                        assert!(zeros * 10 >= got.len() * 8, "{f:?}: {zeros} zeros");
                        assert!(got[0] == 0.0 && got[got.len() - 1] == 0.0, "{f:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn amplitude_drift_grows_to_twice_or_more() {
        let cfg = small(12);
        let s = generate(&cfg).unwrap();
        let clean = clean_test(&cfg);
        let ch = cfg.channels;
        let f = s
            .faults
            .iter()
            .find(|f| f.kind == FaultKind::AmplitudeDrift)
            .unwrap();
        let c = f.channel.unwrap();
        let tail = f.end - 200..f.end;
        let ratio =
            std_dev(&column(&s.test, ch, c, tail.clone())) / std_dev(&column(&clean, ch, c, tail));
        assert!(ratio > 2.0, "{ratio}");
    }

    #[test]
    fn stuck_channel_is_constant_over_its_segment() {
        let cfg = SynthConfig {
            train_rows: 100,
            ..SynthConfig::default()
        };
        let s = generate(&cfg).unwrap();
        let mut seen = 0;
        for f in s.faults.iter().filter(|f| f.kind == FaultKind::Stuck) {
            let c = f.channel.unwrap();
            let v = column(&s.test, cfg.channels, c, f.start..f.end);
            assert!(v.iter().all(|x| x.to_bits() == v[0].to_bits()), "{f:?}");
            // The row after the segment is live again.
            assert_ne!(s.test[f.end * cfg.channels + c], v[0]);
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn train_data_is_finite_with_sane_spread() {
        let s = generate(&SynthConfig::default()).unwrap();
        let ch = s.config.channels;
        let rows = s.config.train_rows;
        assert!(s.train.iter().all(|v| v.is_finite()));
        assert!(s.test.iter().all(|v| v.is_finite()));
        for c in 0..ch {
            let v = column(&s.train, ch, c, 0..rows);
            let sd = std_dev(&v);
            assert!((0.4..1.5).contains(&sd), "channel {c}: std {sd}");
            let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / rows as f64;
            let expected = if c == 2 { GRAVITY } else { 0.0 };
            assert!((mean - expected).abs() < 0.5, "channel {c}: mean {mean}");
        }
    }

    #[test]
    fn speed_visits_operating_points_without_phase_jumps() {
        let cfg = SynthConfig::default();
        let parts = Parts::new(&cfg).unwrap();
        let traj = &parts.train;
        let fs = f64::from(cfg.sample_rate);
        let (lo, hi) = traj
            .f0
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &f| (l.min(f), h.max(f)));
        assert!(lo > 16.0 && hi < 35.0, "{lo}..{hi}");
        let visited = OPERATING_HZ
            .iter()
            .filter(|&&op| traj.f0.iter().any(|f| (f / op - 1.0).abs() < 0.01))
            .count();
        assert!(visited >= 3, "{visited}");
        for (t, pair) in traj.angle.windows(2).enumerate() {
            let step = pair[1] - pair[0];
            assert!((step - TAU * traj.f0[t] / fs).abs() < 1e-9);
        }
    }

    #[test]
    fn written_files_load_back_bit_identically() {
        let cfg = small(13);
        let s = generate(&cfg).unwrap();
        let dir = std::env::temp_dir()
            .join(format!("edgeae-synth-{}", std::process::id()))
            .join("out");
        let paths = write(&dir, &s).unwrap();
        assert_eq!(
            paths,
            [
                dir.join("train.csv"),
                dir.join("test.csv"),
                dir.join("faults.csv")
            ]
        );
        let opts = crate::data::LoadOptions::default();
        let train = crate::data::load(&paths[0], opts).unwrap();
        assert_eq!(train.channels, s.channel_names);
        assert_eq!(bits(&train.values), bits(&s.train));
        assert_eq!(train.labels, None);
        let test = crate::data::load(&paths[1], opts).unwrap();
        assert_eq!(test.channels, s.channel_names);
        assert_eq!(bits(&test.values), bits(&s.test));
        assert_eq!(test.labels.as_deref(), Some(&s.test_labels[..]));
        let text = std::fs::read_to_string(&paths[1]).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("timestamp,acc_x,acc_y,acc_z,label"));
        assert!(lines.nth(1500).unwrap().starts_with("1.5000,"));
        let faults = std::fs::read_to_string(&paths[2]).unwrap();
        let mut lines = faults.lines();
        assert_eq!(lines.next(), Some("kind,start,end,channel"));
        for (line, f) in lines.zip(&s.faults) {
            let channel = f.channel.map(|c| c.to_string()).unwrap_or_default();
            assert_eq!(
                line,
                format!("{},{},{},{channel}", f.kind.name(), f.start, f.end)
            );
        }
        assert_eq!(faults.lines().count(), s.faults.len() + 1);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn bad_configs_are_refused_in_one_sentence() {
        let err = |cfg: SynthConfig| generate(&cfg).unwrap_err().to_string();
        let e = err(SynthConfig {
            channels: 0,
            ..small(1)
        });
        assert!(e.contains("0 channels"), "{e}");
        let cfg = small(1);
        let e = err(SynthConfig {
            test_rows: cfg.min_test_rows() - 1,
            ..cfg.clone()
        });
        assert!(e.contains("too short") && e.contains("6 faults"), "{e}");
        assert!(!e.contains('\n'));
        let e = err(SynthConfig {
            train_rows: 0,
            ..cfg.clone()
        });
        assert!(e.contains("0 rows"), "{e}");
        for rate in [0.0, 100.0, f32::NAN, f32::INFINITY] {
            let e = err(SynthConfig {
                sample_rate: rate,
                ..cfg.clone()
            });
            assert!(e.contains("sample rate"), "{e}");
        }
        // No faults: any non-empty test stream will do.
        let s = generate(&SynthConfig {
            faults_per_kind: 0,
            test_rows: 10,
            ..cfg
        })
        .unwrap();
        assert!(s.faults.is_empty() && s.test_labels == [0; 10]);
    }
}
