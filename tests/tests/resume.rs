//! Checkpoints: a run stopped after some epochs and resumed ends with
//! exactly the model of an uninterrupted run (same shuffles, same noise,
//! same optimiser moments), for a one-phase kind and for greedy's stages;
//! a diverging run stops with a clear error and keeps its last checkpoint.

use e2e::{bar_images, temp_dir, write_csv};
use host_trainer::resume_config;
use host_trainer::{Checkpoint, checkpoint_path};
use host_trainer::{Kind, TrainConfig};
use host_trainer::{RunOptions, train_and_export};

fn images_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let csv = dir.join("bars.csv");
    let header: Vec<String> = (0..36).map(|i| format!("px{i}")).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    write_csv(&csv, &header, &bar_images(300, 5));
    csv
}

fn config(
    csv: &std::path::Path,
    kind: Kind,
    out: std::path::PathBuf,
    epochs: usize,
) -> TrainConfig {
    let mut cfg = TrainConfig::new(csv.to_path_buf(), kind, out);
    cfg.codings = Some(5);
    cfg.hidden = Some(vec![12]);
    cfg.epochs = Some(epochs);
    cfg.fine_tune_epochs = Some(2);
    cfg.batch = 32;
    cfg
}

/// Trains `kind` for `total` epochs straight, and in two legs split after
/// `first` epochs (of the first phase); the model files must be identical.
fn resume_matches(kind: Kind, first: usize, total: usize) {
    let dir = temp_dir(&format!("resume-{kind}"));
    let csv = images_csv(&dir);
    let straight = train_and_export(
        config(&csv, kind, dir.join("straight"), total),
        None,
        RunOptions::QUIET,
    )
    .unwrap();

    // A run of `first` epochs leaves the checkpoint a run killed after
    // epoch `first` would; resuming it with `total` epochs must continue
    // exactly.
    let first_leg = train_and_export(
        config(&csv, kind, dir.join("split"), first),
        None,
        RunOptions::QUIET,
    )
    .unwrap();
    assert_eq!(first_leg.trained.history.len(), first);
    let (cfg, ck) = resume_config(&dir.join("split"), None, Some(total)).unwrap();
    let resumed = train_and_export(cfg, Some(ck), RunOptions::QUIET).unwrap();

    assert_eq!(
        resumed.trained.history.len(),
        straight.trained.history.len()
    );
    assert_eq!(
        resumed.trained.net, straight.trained.net,
        "{kind}: resumed parameters differ from an uninterrupted run"
    );
    assert_eq!(resumed.model, straight.model, "{kind}: model files differ");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A run that stops by itself keeps its best epoch's weights: the same
/// bits as a run told `--epochs` that many, and within its step budget.
#[test]
fn early_stopping_keeps_the_best_epoch_bit_for_bit() {
    let dir = temp_dir("early-stop");
    let csv = images_csv(&dir);
    let mut cfg = config(&csv, Kind::Stacked, dir.join("auto"), 1);
    cfg.epochs = None;
    // 270 training images in batches of 32: 9 steps per epoch, so the
    // budget ends on a whole epoch. A large learning rate makes the
    // validation loss noisy, so the best epoch is not the last one.
    cfg.max_steps = 900;
    cfg.lr = 1e-2;
    let auto = train_and_export(cfg.clone(), None, RunOptions::QUIET).unwrap();
    let last = auto.trained.history.last().unwrap();
    assert!(last.stop.is_some() && last.steps <= 900, "{last:?}");
    let best = host_trainer::best_epoch(&auto.trained).unwrap();
    assert!(
        best < auto.trained.history.len(),
        "the best epoch is the last: nothing was restored"
    );
    eprintln!(
        "stopped after {} epochs ({:?}), best epoch {best}",
        auto.trained.history.len(),
        last.stop
    );
    let mut fixed = cfg;
    fixed.out = dir.join("fixed");
    fixed.epochs = Some(best);
    let by_hand = train_and_export(fixed, None, RunOptions::QUIET).unwrap();
    assert_eq!(by_hand.trained.history.len(), best);
    assert_eq!(
        auto.trained.net, by_hand.trained.net,
        "the restored weights differ from a run stopped at epoch {best}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resumed_denoising_run_equals_an_uninterrupted_one() {
    // Denoising draws noise every batch: the strictest test of the RNG plumbing.
    resume_matches(Kind::Denoising, 2, 5);
}

#[test]
fn resumed_vae_run_equals_an_uninterrupted_one() {
    resume_matches(Kind::Vae, 3, 5);
}

#[test]
fn a_checkpoint_in_the_middle_of_greedy_stages_resumes_exactly() {
    let dir = temp_dir("resume-greedy-mid");
    let csv = images_csv(&dir);
    let cfg = config(&csv, Kind::Greedy, dir.join("straight"), 3);
    let straight = train_and_export(cfg.clone(), None, RunOptions::QUIET).unwrap();
    assert_eq!(straight.trained.history.len(), 3 + 3 + 2);

    // The checkpoint after the last stage epoch (what a run killed before
    // fine-tuning leaves) continues into fine-tuning with a fresh optimiser,
    // exactly as the uninterrupted run does.
    let mut partial = cfg.clone();
    partial.out = dir.join("split");
    partial.fine_tune_epochs = Some(0);
    let stages_only = train_and_export(partial, None, RunOptions::QUIET).unwrap();
    assert_eq!(stages_only.trained.history.len(), 6);
    let mut ck = Checkpoint::load(&dir.join("split")).unwrap();
    ck.config.fine_tune_epochs = Some(2);
    let mut cfg2 = ck.config.clone();
    cfg2.out = dir.join("split");
    let resumed = train_and_export(cfg2, Some(ck), RunOptions::QUIET).unwrap();
    assert_eq!(resumed.trained.net, straight.trained.net);
    assert_eq!(resumed.model, straight.model);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn divergence_stops_with_a_clear_error_and_keeps_the_checkpoint() {
    let dir = temp_dir("diverge");
    let csv = images_csv(&dir);
    let out = dir.join("run");
    let mut cfg = config(&csv, Kind::Stacked, out.clone(), 2);
    cfg.loss = host_trainer::LossChoice::Mse;
    train_and_export(cfg, None, RunOptions::QUIET).unwrap();
    let before = std::fs::read(checkpoint_path(&out)).unwrap();
    let model_before = std::fs::read(out.join("model.eam")).unwrap();

    // Resume with an absurd learning rate: the loss overflows.
    let (cfg, ck) = resume_config(&out, Some(1e12), Some(6)).unwrap();
    let err = format!(
        "{:#}",
        train_and_export(cfg, Some(ck), RunOptions::QUIET).unwrap_err()
    );
    assert!(
        err.starts_with("training diverged: the loss became"),
        "{err}"
    );
    assert!(err.contains("stacked epoch 2 is kept in"), "{err}");
    assert!(err.contains("lower --lr"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert_eq!(
        std::fs::read(checkpoint_path(&out)).unwrap(),
        before,
        "the last good checkpoint is kept"
    );
    assert_eq!(
        std::fs::read(out.join("model.eam")).unwrap(),
        model_before,
        "the model is not overwritten"
    );

    // And the run can go on with a sane learning rate.
    let (cfg, ck) = resume_config(&out, Some(1e-3), Some(3)).unwrap();
    let done = train_and_export(cfg, Some(ck), RunOptions::QUIET).unwrap();
    assert_eq!(done.trained.history.len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
