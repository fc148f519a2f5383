//! The linear autoencoder finds the PCA subspace: on 3-D data with known
//! principal axes, the span of its decoder (and of its encoder) is the
//! top-2 principal subspace computed by an eigen-decomposition of XᵀX
//! (the SVD of the centred data), within 2 degrees.

use e2e::{Rng, largest_principal_angle, orthonormal, symmetric_eigen, temp_dir, write_csv};
use firmware::Model;
use host_trainer::{Kind, Normalize, TrainConfig};
use host_trainer::{RunOptions, train_and_export};
use model_format::Layer;

/// 3-D points with standard deviations 3, 2 and 0.5 along a rotated frame,
/// offset from the origin.
fn data(n: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng(17);
    let (a, b) = (0.7f64, 0.4f64);
    // Rotation: about z by a, then about x by b.
    let rz = [
        [a.cos(), -a.sin(), 0.0],
        [a.sin(), a.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    let rx = [
        [1.0, 0.0, 0.0],
        [0.0, b.cos(), -b.sin()],
        [0.0, b.sin(), b.cos()],
    ];
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| rx[i][k] * rz[k][j]).sum();
        }
    }
    let normal = |rng: &mut Rng| -> f64 {
        // Box–Muller from two uniforms.
        let u1 = f64::from(rng.uniform(1e-7, 1.0));
        let u2 = f64::from(rng.uniform(0.0, 1.0));
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    (0..n)
        .map(|_| {
            let z = [
                3.0 * normal(&mut rng),
                2.0 * normal(&mut rng),
                0.5 * normal(&mut rng),
            ];
            (0..3)
                .map(|i| (10.0 + (0..3).map(|j| r[i][j] * z[j]).sum::<f64>()) as f32)
                .collect()
        })
        .collect()
}

/// The reference: the top-2 eigenvectors of XᵀX of the centred rows
/// (orthonormal), and the eigenvalues, largest first.
fn reference(rows: &[Vec<f32>]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..3)
        .map(|j| rows.iter().map(|r| f64::from(r[j])).sum::<f64>() / n)
        .collect();
    let mut xtx = vec![0.0; 9];
    for r in rows {
        for i in 0..3 {
            for j in 0..3 {
                xtx[i * 3 + j] += (f64::from(r[i]) - mean[i]) * (f64::from(r[j]) - mean[j]);
            }
        }
    }
    let (values, vectors) = symmetric_eigen(&xtx, 3);
    assert!(
        values[1] > 4.0 * values[2],
        "the test data must have a clear top-2 subspace"
    );
    let pca = orthonormal(&[
        (0..3).map(|k| vectors[k * 3]).collect(),
        (0..3).map(|k| vectors[k * 3 + 1]).collect(),
    ]);
    (pca, values)
}

fn train(kind: Kind, name: &str, rows: &[Vec<f32>]) -> (std::path::PathBuf, Vec<u8>) {
    let dir = temp_dir(name);
    let csv = dir.join("points.csv");
    write_csv(&csv, &["a", "b", "c"], rows);
    let mut cfg = TrainConfig::new(csv, kind, dir.join("run"));
    cfg.codings = Some(2);
    cfg.normalize = Normalize::Center;
    // Every point trains: the reference is fitted to all of them.
    cfg.val_split = 0.0;
    let done = train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    (dir, done.model.unwrap())
}

/// With default settings (no --epochs, no --lr), the gradient-trained
/// linear kind reaches the PCA plane within 2 degrees.
#[test]
fn linear_autoencoder_spans_the_top_two_principal_axes() {
    let rows = data(3000);
    let (pca, _) = reference(&rows);
    let (dir, bytes) = train(Kind::Linear, "pca-linear", &rows);
    let model = Model::load(&bytes).unwrap();
    let (Layer::Dense(enc), Layer::Dense(dec)) = (model.layers()[0], model.layers()[1]) else {
        panic!("the linear kind has two dense layers")
    };
    let w_enc: Vec<f64> = enc.weights.iter().map(f64::from).collect(); // 2 x 3
    let w_dec: Vec<f64> = dec.weights.iter().map(f64::from).collect(); // 3 x 2
    let decoder_span = orthonormal(&[
        (0..3).map(|k| w_dec[k * 2]).collect(),
        (0..3).map(|k| w_dec[k * 2 + 1]).collect(),
    ]);
    let encoder_span = orthonormal(&[w_enc[..3].to_vec(), w_enc[3..].to_vec()]);
    let dec_angle = largest_principal_angle(&pca, &decoder_span);
    let enc_angle = largest_principal_angle(&pca, &encoder_span);
    eprintln!("largest principal angle: decoder {dec_angle:.3} deg, encoder {enc_angle:.3} deg");
    assert!(
        dec_angle < 2.0,
        "decoder subspace is {dec_angle} degrees from PCA"
    );
    assert!(
        enc_angle < 2.0,
        "encoder subspace is {enc_angle} degrees from PCA"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--kind pca` is the SVD solution: its encoder spans the top-2 principal
/// subspace within 0.01 degrees, its decoder is the encoder transposed, and
/// its reconstruction error (computed in f64 from the file's weights) is
/// the discarded eigenvalue's share to 1e-5 relative.
#[test]
fn pca_kind_is_the_svd_solution() {
    let rows = data(3000);
    let (pca, values) = reference(&rows);
    let (dir, bytes) = train(Kind::Pca, "pca-kind", &rows);
    let model = Model::load(&bytes).unwrap();
    assert_eq!(model.spec().kind, model_format::ModelKind::Pca);
    let (Layer::Dense(enc), Layer::TiedDense(dec)) = (model.layers()[0], model.layers()[1]) else {
        panic!("the pca kind is a dense encoder and a tied decoder")
    };
    assert_eq!(dec.source, 0);
    let w: Vec<f64> = enc.weights.iter().map(f64::from).collect(); // 2 x 3
    let angle = largest_principal_angle(&pca, &orthonormal(&[w[..3].to_vec(), w[3..].to_vec()]));
    eprintln!("pca kind: largest principal angle {angle:.6} deg");
    assert!(angle < 0.01, "{angle} degrees from the SVD subspace");

    let mean: Vec<f64> = model.input().mean.iter().map(f64::from).collect();
    let b_enc: Vec<f64> = enc.bias.iter().map(f64::from).collect();
    let b_dec: Vec<f64> = dec.bias.iter().map(f64::from).collect();
    let mut sq = 0.0;
    for r in &rows {
        let x: Vec<f64> = (0..3).map(|j| f64::from(r[j]) - mean[j]).collect();
        let z: Vec<f64> = (0..2)
            .map(|i| (0..3).map(|j| w[i * 3 + j] * x[j]).sum::<f64>() + b_enc[i])
            .collect();
        for j in 0..3 {
            let y = (0..2).map(|i| w[i * 3 + j] * z[i]).sum::<f64>() + b_dec[j];
            sq += (x[j] - y).powi(2);
        }
    }
    let got = sq / (rows.len() * 3) as f64;
    let want = values[2] / (rows.len() * 3) as f64;
    let rel = (got - want).abs() / want;
    eprintln!("pca kind: reconstruction MSE {got:.9}, SVD {want:.9}, relative {rel:.2e}");
    assert!(rel < 1e-5, "MSE {got} vs SVD {want}: {rel:e} relative");
    std::fs::remove_dir_all(&dir).unwrap();
}
