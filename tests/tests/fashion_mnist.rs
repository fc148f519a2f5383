//! Fashion-MNIST (Debian's dataset-fashion-mnist, which scripts/test
//! installs): a stacked 784-100-30-100-784 autoencoder reaches a validation
//! loss clearly below predicting the mean image, the tied version
//! reaches a comparable loss with about half the parameters, and the
//! convolutional autoencoder with the same 30-value bottleneck reaches a
//! lower loss than the stacked one with fewer parameters.

use std::path::Path;

use firmware::Model;
use host_trainer::{Done, RunOptions, train_and_export};
use host_trainer::{Kind, TrainConfig};

const TRAIN_IMAGES: &str = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

fn train(kind: Kind, out: &Path) -> Done {
    let mut cfg = TrainConfig::new(TRAIN_IMAGES.into(), kind, out.to_path_buf());
    // The conv kind takes its default architecture for 28x28 images.
    cfg.hidden = (kind != Kind::Conv).then(|| vec![100]);
    cfg.codings = Some(30);
    cfg.epochs = Some(5);
    cfg.limit = Some(12_000);
    train_and_export(cfg, None, RunOptions::QUIET).unwrap()
}

#[test]
fn stacked_beats_the_mean_image_and_tied_matches_it_with_half_the_weights() {
    assert!(
        Path::new(TRAIN_IMAGES).exists(),
        "{TRAIN_IMAGES} is missing: install Debian's dataset-fashion-mnist (scripts/test does)"
    );
    let dir = e2e::temp_dir("fashion");
    let stacked = train(Kind::Stacked, &dir.join("stacked"));
    let tied = train(Kind::Tied, &dir.join("tied"));

    let baseline = stacked.data.baseline;
    let s = stacked.trained.history.last().unwrap().val_recon;
    let t = tied.trained.history.last().unwrap().val_recon;
    let ps = Model::load(stacked.model.as_deref().unwrap())
        .unwrap()
        .param_count();
    let pt = Model::load(tied.model.as_deref().unwrap())
        .unwrap()
        .param_count();
    eprintln!(
        "Fashion-MNIST, 10,800 training / 1,200 validation images, 5 epochs: mean-image baseline {baseline:.4}, \
         stacked {s:.4} ({ps} parameters), tied {t:.4} ({pt} parameters)"
    );
    assert_eq!(stacked.data.input_len, 784);
    assert!(
        s < 0.75 * baseline,
        "stacked validation BCE {s} is not clearly below the baseline {baseline}"
    );
    let ratio = pt as f64 / ps as f64;
    assert!(
        (0.45..0.55).contains(&ratio),
        "tied has {pt} parameters, stacked {ps}"
    );
    assert!(
        t < 1.05 * s,
        "tied validation BCE {t} is not comparable to stacked {s}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conv_beats_stacked_with_fewer_parameters() {
    assert!(
        Path::new(TRAIN_IMAGES).exists(),
        "{TRAIN_IMAGES} is missing: install Debian's dataset-fashion-mnist (scripts/test does)"
    );
    let dir = e2e::temp_dir("fashion-conv");
    let stacked = train(Kind::Stacked, &dir.join("stacked"));
    let conv = train(Kind::Conv, &dir.join("conv"));
    let s = stacked.trained.history.last().unwrap().val_recon;
    let c = conv.trained.history.last().unwrap().val_recon;
    let ps = Model::load(stacked.model.as_deref().unwrap())
        .unwrap()
        .param_count();
    let model = Model::load(conv.model.as_deref().unwrap()).unwrap();
    let pc = model.param_count();
    eprintln!(
        "Fashion-MNIST, 10,800 / 1,200 images, 5 epochs, 30 codings: stacked {s:.4} ({ps} parameters), conv {c:.4} ({pc} parameters)"
    );
    assert_eq!(model.kind(), model_format::ModelKind::Conv);
    assert_eq!(model.codings_len(), 30);
    assert!(c < s, "conv validation BCE {c} is not below stacked {s}");
    assert!(pc < ps, "conv has {pc} parameters, stacked {ps}");
    std::fs::remove_dir_all(&dir).unwrap();
}
