//! Host speed of the engine. Throughput is reported in FLOPs (2 per
//! multiply-accumulate), so criterion's "Gelem/s" reads as GFLOP/s, and
//! criterion's `time` is the time of one inference (`Engine::reconstruct`
//! on one window).
//!
//! `cargo bench -p edgeae-firmware --bench engine`
//!
//! The `f32_reconstruct` group runs built-in f32 models. With
//! `EDGEAE_BENCH_MODELS` set to model files (`.eam`, any precision the
//! engine reads, colon-separated; absolute, or relative to `firmware/`,
//! where cargo runs benches), the `file_reconstruct` group also runs each
//! of them, named by its file stem, on the fastest kernel path this CPU
//! has and again on the portable path (`STEM_portable`), and the
//! `score_stream` group streams 64 windows of each through
//! `firmware::Stream`, as `edgeae score` does once its data is read
//! (criterion's elements are windows). The `read_file` group times one
//! read of every byte of each file (no arithmetic: eight XOR lanes), the
//! floor of an inference at batch 1 whose weights do not stay in cache
//! between windows. `scripts/bench-host-int8` uses them.
//! Build with `--features std`, or only the portable kernels exist.
//!
//! `EDGEAE_BENCH_MODELS=$PWD/a.eam:$PWD/b.eam cargo bench -p edgeae-firmware --features std --bench engine -- file_reconstruct`

use std::hint::black_box;
use std::path::Path;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use firmware::ops::{KernelPath, set_kernel_path};
use firmware::{Engine, Event, Model, Stream};
use model_format::build::{InputBuf, LayerBuf, ModelBuf};
use model_format::{Activation, ModelKind};

/// Encodes a dense autoencoder with the given widths (input first and
/// last), ReLU hidden layers and deterministic weights.
fn model_bytes(widths: &[u32]) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    };
    let last = widths.len() - 2;
    let layers = widths
        .windows(2)
        .enumerate()
        .map(|(i, p)| LayerBuf::Dense {
            inputs: p[0],
            outputs: p[1],
            activation: if i == last {
                Activation::Identity
            } else {
                Activation::Relu
            },
            weights: (0..p[0] * p[1]).map(|_| next()).collect(),
            bias: (0..p[1]).map(|_| next()).collect(),
        })
        .collect();
    let bottleneck = widths
        .iter()
        .enumerate()
        .min_by_key(|(_, w)| **w)
        .map(|(i, _)| i - 1)
        .unwrap();
    ModelBuf {
        kind: ModelKind::Stacked,
        layers,
        codings_layer: bottleneck as u16,
        ..ModelBuf::new(InputBuf::identity(widths[0], 1, 1))
    }
    .encode()
    .unwrap()
}

/// The fixed normalised window every benchmark feeds the engine:
/// `sin(0.37 i)` (`scripts/bench_host_int8_ort.py` feeds ONNX Runtime the same).
fn fill_input(input: &mut [f32]) {
    for (i, x) in input.iter_mut().enumerate() {
        *x = (i as f32 * 0.37).sin();
    }
}

/// Benches `Engine::reconstruct` on `bytes` (a model file) as `name` in `group`.
fn bench_model(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, bytes: &[u8]) {
    let model = match Model::load(bytes) {
        Ok(model) => model,
        Err(e) => panic!("{name}: not a model the engine reads: {e}"),
    };
    let mut scratch = vec![0.0f32; Engine::scratch_len(&model)];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    fill_input(engine.input_mut());
    println!(
        "{name}: {} MACs, {} parameters, {} bytes of model, {} bytes of scratch",
        model.macs(),
        model.param_count(),
        bytes.len(),
        Engine::scratch_len(&model) * 4
    );
    group.throughput(Throughput::Elements(2 * model.macs() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let (_, out) = engine.reconstruct();
            black_box(out[0]);
        })
    });
}

/// The model files `EDGEAE_BENCH_MODELS` names, with their file stems.
fn model_files() -> Vec<(String, Vec<u8>)> {
    let Some(list) = std::env::var_os("EDGEAE_BENCH_MODELS") else {
        return Vec::new();
    };
    let list = list
        .into_string()
        .expect("EDGEAE_BENCH_MODELS is not valid UTF-8");
    list.split(':')
        .filter(|p| !p.is_empty())
        .map(|path| {
            let path = Path::new(path);
            let bytes = std::fs::read(path)
                .unwrap_or_else(|e| panic!("EDGEAE_BENCH_MODELS: {}: {e}", path.display()));
            let name = path.file_stem().map_or_else(
                || path.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            (name, bytes)
        })
        .collect()
}

/// `Engine::reconstruct` on every model file `EDGEAE_BENCH_MODELS` names,
/// on the fastest kernel path and on the portable one.
fn bench_files(c: &mut Criterion) {
    let files = model_files();
    if files.is_empty() {
        return;
    }
    println!("kernel path: {}", KernelPath::best());
    let mut group = c.benchmark_group("file_reconstruct");
    for (name, bytes) in &files {
        bench_model(&mut group, name, bytes);
        if KernelPath::best() != KernelPath::Portable {
            set_kernel_path(Some(KernelPath::Portable)).unwrap();
            bench_model(&mut group, &format!("{name}_portable"), bytes);
            set_kernel_path(None).unwrap();
        }
    }
    group.finish();
}

/// XOR of every 8-byte word of `bytes` (the tail ignored), in eight
/// independent lanes so that the loads, not the XORs, set the pace.
#[inline(always)]
fn xor_words(bytes: &[u8]) -> u64 {
    let mut lanes = [0u64; 8];
    for block in bytes.as_chunks::<64>().0 {
        for (lane, word) in lanes.iter_mut().zip(block.as_chunks::<8>().0) {
            *lane ^= u64::from_ne_bytes(*word);
        }
    }
    lanes.iter().fold(0, |a, b| a ^ b)
}

/// [`xor_words`] with 32-byte loads.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn xor_words_avx2(bytes: &[u8]) -> u64 {
    xor_words(bytes)
}

/// One read of `bytes` on the widest loads this CPU has.
fn read_all(bytes: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked on the line above).
        return unsafe { xor_words_avx2(bytes) };
    }
    xor_words(bytes)
}

/// One read of every byte of each model file (the memory floor of a
/// batch-1 inference whose weights come from beyond the L2 cache).
fn bench_read(c: &mut Criterion) {
    let files = model_files();
    if files.is_empty() {
        return;
    }
    let mut group = c.benchmark_group("read_file");
    for (name, bytes) in &files {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name.as_str(), |b| {
            b.iter(|| black_box(read_all(black_box(bytes))))
        });
    }
    group.finish();
}

/// Windows per `score_stream` iteration.
const SCORE_BATCH: usize = 64;

/// `edgeae score`'s loop (`Stream::push_samples`, one window per hop) over
/// 64 windows of every model file `EDGEAE_BENCH_MODELS` names.
fn bench_score(c: &mut Criterion) {
    let files = model_files();
    if files.is_empty() {
        return;
    }
    let mut group = c.benchmark_group("score_stream");
    for (name, bytes) in &files {
        let model = Model::load(bytes).unwrap();
        let input = model.input();
        let (channels, window, hop) = (
            input.channels as usize,
            input.window as usize,
            input.hop as usize,
        );
        let mut scratch = vec![0.0f32; Stream::scratch_len(&model)];
        let mut stream = Stream::new(&model, &mut scratch).unwrap();
        let mut samples = vec![0.0f32; SCORE_BATCH * hop * channels];
        fill_input(&mut samples);
        // The first window needs `window − hop` more frames; after them,
        // every `hop` frames end one window.
        stream.push_samples(&samples[..(window.saturating_sub(hop)) * channels], |_| {});
        group.throughput(Throughput::Elements(SCORE_BATCH as u64));
        group.bench_function(name.as_str(), |b| {
            b.iter(|| {
                let mut windows = 0;
                stream.push_samples(&samples, |e| {
                    if let Event::Window(w) = e {
                        windows += 1;
                        black_box(w.score);
                    }
                });
                assert_eq!(windows, SCORE_BATCH);
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let shapes: [(&str, &[u32]); 2] = [
        (
            "mlperf_tiny_ad_640x128x4x8",
            &[640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640],
        ),
        ("small_64x32x8", &[64, 32, 8, 32, 64]),
    ];
    let mut group = c.benchmark_group("f32_reconstruct");
    for (name, widths) in shapes {
        bench_model(&mut group, name, &model_bytes(widths));
    }
    group.finish();
}

criterion_group!(benches, bench, bench_files, bench_read, bench_score);
criterion_main!(benches);
