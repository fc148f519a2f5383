//! The int8 export of the MLPerf Tiny anomaly-detection autoencoder shape
//! (640-128-128-128-128-8-128-128-128-128-640, 266k parameters): its file
//! is within 3 % of one byte per parameter and its scratch RAM is far under
//! the 10 KB arena TensorFlow Lite Micro takes for that model. Scored in
//! int8 (SPEC.md 3.5), a stream's engine needs at most 2 KB and the whole
//! stream at most 4 KB.

use e2e::{Rng, random_autoencoder, temp_dir, write_csv};
use firmware::{Engine, Model, ScratchPlan, Stream};
use host_trainer::Precision;
use host_trainer::export;
use model_format::Activation;
use model_format::build::InputBuf;

#[test]
fn mlperf_shaped_int8_model_is_one_byte_per_parameter() {
    let dir = temp_dir("int8-mlperf");
    let mut rng = Rng(2026);
    // 5 frames of 128 log-mel bins, as in the MLPerf model.
    let def = random_autoencoder(
        &mut rng,
        InputBuf::identity(128, 5, 5),
        &[128, 128, 128, 128, 8],
        Activation::Relu,
        Activation::Identity,
        false,
    );
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::write(dir.join("run/model.eam"), def.encode().unwrap()).unwrap();
    let rows: Vec<Vec<f32>> = (0..200)
        .map(|r| {
            (0..128)
                .map(|k| (k as f32 / 9.0 + r as f32 / 40.0).sin() * 0.8 + rng.uniform(-0.5, 0.5))
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..128).map(|k| format!("mel{k}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    write_csv(&dir.join("normal.csv"), &names, &rows);

    let out = dir.join("int8.eam");
    export(
        &dir.join("run"),
        Precision::Int8,
        Some(&dir.join("normal.csv")),
        &out,
        &[],
    )
    .unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let model = Model::load(&bytes).unwrap();
    assert!(model.ops().iter().all(|op| op.is_int8()));
    let params = model.param_count();
    assert_eq!(params, 265_864);
    let per_param = bytes.len() as f64 / params as f64;
    let plan = ScratchPlan::for_model(&model);
    println!(
        "int8 MLPerf shape: {} bytes for {params} parameters ({per_param:.4} bytes each), scratch {} bytes",
        bytes.len(),
        plan.bytes()
    );
    assert!(per_param <= 1.03, "{per_param} bytes per parameter");
    assert!(plan.bytes() < 10 * 1024 * 6 / 10, "{} bytes", plan.bytes());
    // And the engine runs in exactly that much.
    let mut scratch = vec![0.0f32; plan.total()];
    let mut engine = Engine::new(&model, &mut scratch).unwrap();
    engine.input_mut().fill(0.25);
    let (_, y) = engine.reconstruct();
    assert!(y.iter().all(|v| v.is_finite()));
    // A stream keeps the window once, as int8 bytes in its ring.
    let engine = ScratchPlan::for_stream(&model).bytes();
    let stream = Stream::scratch_len(&model) * 4;
    println!("int8 MLPerf shape streaming: engine {engine} bytes, stream {stream} bytes");
    assert!(engine <= 2048, "{engine} bytes of engine scratch");
    assert!(stream <= 4096, "{stream} bytes to stream");
    let mut scratch = vec![0.0f32; Stream::scratch_len(&model)];
    let mut stream = Stream::new(&model, &mut scratch).unwrap();
    assert!(stream.scores_int8());
    let frames = vec![0.25f32; 128 * 5];
    let w = stream.push_frame(&frames[..128]).unwrap();
    assert!(w.window.is_none());
    let mut last = None;
    stream.push_samples(&frames[128..], |e| {
        if let firmware::Event::Window(w) = e {
            last = Some(w);
        }
    });
    assert!(last.is_some_and(|w| w.fault.is_none() && w.score.is_finite()));
    std::fs::remove_dir_all(&dir).unwrap();
}
