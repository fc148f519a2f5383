//! Window-level evaluation of anomaly scores: ROC and precision-recall
//! curves, confusion counts, labelled segments and how quickly each was
//! detected.
//!
//! `edgeae score` writes one row per window (`start,end,score,smoothed,
//! alarm,fault[,label]`); `edgeae eval` feeds those columns to these
//! functions. They are pure, do their arithmetic in `f64` (counts in
//! integers) and never panic, on any input.
//!
//! Conventions shared by every function here:
//!
//! * A label or prediction is positive when it is non-zero.
//! * Scores are ranked from highest to lowest. A NaN score marks a fault
//!   window that was not scored; it ranks above every other score
//!   (`+inf` included), so a fault window is flagged at any threshold.
//!   NaN scores tie with each other, and scores equal under `==` (such as
//!   `0.0` and `-0.0`) tie; a group of tied scores is one threshold.
//! * Slices that should hold one entry per window (scores and labels,
//!   predictions and labels) but differ in length are cut to the shorter
//!   one: the extra entries are ignored.

use std::cmp::Ordering;
use std::ops::Range;

/// Orders scores for ranking: NaN above everything, NaNs equal to each
/// other, other values by `<` (so `0.0 == -0.0`).
fn rank_cmp(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Positive and negative counts of one group of tied scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    pos: u64,
    neg: u64,
}

/// The tie groups of `scores` (paired with `labels`, cut to the shorter),
/// highest score first, and the total positive and negative counts.
fn tie_groups(scores: &[f32], labels: &[u8]) -> (Vec<Group>, u64, u64) {
    let mut ranked: Vec<(f32, bool)> = scores
        .iter()
        .zip(labels)
        .map(|(&s, &l)| (s, l != 0))
        .collect();
    ranked.sort_by(|a, b| rank_cmp(b.0, a.0));
    let mut groups: Vec<(f32, Group)> = Vec::new();
    for (s, positive) in ranked {
        let (pos, neg) = (u64::from(positive), u64::from(!positive));
        match groups.last_mut() {
            Some((g_score, g)) if rank_cmp(*g_score, s) == Ordering::Equal => {
                g.pos += pos;
                g.neg += neg;
            }
            _ => groups.push((s, Group { pos, neg })),
        }
    }
    let pos = groups.iter().map(|(_, g)| g.pos).sum();
    let neg = groups.iter().map(|(_, g)| g.neg).sum();
    (groups.into_iter().map(|(_, g)| g).collect(), pos, neg)
}

/// The ROC curve of `scores` against `labels`: `(false positive rate, true
/// positive rate)` points from `(0, 0)` to `(1, 1)`, one point per distinct
/// score threshold (tied scores are one group, so one point), thresholds
/// descending. The first point is `(0, 0)` (nothing flagged), the last
/// exactly `(1, 1)` (everything flagged); the curve has one point more
/// than there are distinct scores.
///
/// NaN scores (fault windows) rank highest (see the module documentation).
/// Lengths that differ are cut to the shorter. `None` when the labels lack
/// either class (including empty input).
pub fn roc_curve(scores: &[f32], labels: &[u8]) -> Option<Vec<(f64, f64)>> {
    let (groups, p, n) = tie_groups(scores, labels);
    if p == 0 || n == 0 {
        return None;
    }
    let (pf, nf) = (p as f64, n as f64);
    let mut points = Vec::with_capacity(groups.len() + 1);
    points.push((0.0, 0.0));
    let (mut tp, mut fp) = (0u64, 0u64);
    for g in groups {
        tp += g.pos;
        fp += g.neg;
        points.push((fp as f64 / nf, tp as f64 / pf));
    }
    Some(points)
}

/// Area under the ROC curve: the trapezoid area of [`roc_curve`], which
/// equals the Mann-Whitney U statistic over all (positive, negative)
/// pairs, a tie counting one half, divided by the number of pairs. 1.0
/// when every positive scores above every negative, 0.0 when below, 0.5
/// when all scores tie.
///
/// Computed exactly in integers before the final division. NaN scores rank
/// highest; lengths that differ are cut to the shorter. `None` when the
/// labels lack either class.
pub fn roc_auc(scores: &[f32], labels: &[u8]) -> Option<f64> {
    let (groups, p, n) = tie_groups(scores, labels);
    if p == 0 || n == 0 {
        return None;
    }
    // Twice the trapezoid area in units of one (1/n) x (1/p) cell.
    let mut twice: u128 = 0;
    let mut tp: u128 = 0;
    for g in groups {
        let (dtp, dfp) = (u128::from(g.pos), u128::from(g.neg));
        twice += dfp * (2 * tp + dtp);
        tp += dtp;
    }
    Some(twice as f64 / (2.0 * p as f64 * n as f64))
}

/// Area under the precision-recall curve, as average precision: the sum
/// over tie-grouped thresholds (descending) of `(R_k - R_{k-1}) * P_k`,
/// with `R_k` and `P_k` the recall and precision when every window scoring
/// at least threshold `k` is flagged (`R_0 = 0`). This is scikit-learn's
/// `average_precision_score`: no interpolation, and equal to the mean, over
/// the positives, of the precision at each positive's own score.
///
/// NaN scores rank highest; lengths that differ are cut to the shorter.
/// 1.0 when there are positives but no negatives. `None` when there are no
/// positives.
pub fn pr_auc(scores: &[f32], labels: &[u8]) -> Option<f64> {
    let (groups, p, _) = tie_groups(scores, labels);
    if p == 0 {
        return None;
    }
    let (mut tp, mut flagged, mut sum) = (0u64, 0u64, 0.0f64);
    for g in groups {
        tp += g.pos;
        flagged += g.pos + g.neg;
        if g.pos > 0 {
            // Every group holds at least one window, so `flagged > 0`.
            sum += g.pos as f64 * (tp as f64 / flagged as f64);
        }
    }
    Some(sum / p as f64)
}

/// Confusion counts of binary predictions against binary labels.
///
/// Serializes as `{"tp": .., "fp": .., "tn": .., "fn": ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Confusion {
    /// Predicted positive, labelled positive.
    pub tp: usize,
    /// Predicted positive, labelled negative.
    pub fp: usize,
    /// Predicted negative, labelled negative.
    pub tn: usize,
    /// Predicted negative, labelled positive (`fn` in JSON).
    #[serde(rename = "fn")]
    pub fn_: usize,
}

impl Confusion {
    /// Counts `pred` against `labels` pairwise (non-zero is positive).
    /// Lengths that differ are cut to the shorter.
    pub fn from_predictions(pred: &[u8], labels: &[u8]) -> Confusion {
        let mut c = Confusion::default();
        for (&p, &l) in pred.iter().zip(labels) {
            match (p != 0, l != 0) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }

    /// `tp / (tp + fp)`; `None` when nothing was predicted positive.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `tp / (tp + fn)` (true positive rate); `None` when there are no
    /// positive labels.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// `2 tp / (2 tp + fp + fn)`, the harmonic mean of precision and recall
    /// where both exist; 0.0 when there are positives (predicted or
    /// labelled) but no true positive; `None` when there are neither
    /// (all true negatives, or no windows).
    pub fn f1(&self) -> Option<f64> {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// `fp / (fp + tn)` (false positive rate); `None` when there are no
    /// negative labels.
    pub fn fpr(&self) -> Option<f64> {
        ratio(self.fp, self.fp + self.tn)
    }
}

/// `num / den`, `None` when `den` is 0.
fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The maximal runs of consecutive rows labelled positive (non-zero) in
/// `row_labels`, as `start..end` row ranges (end exclusive), in order.
/// Every range is non-empty; ranges never touch.
pub fn segments(row_labels: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &l) in row_labels.iter().enumerate() {
        match (l != 0, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..row_labels.len());
    }
    out
}

/// One scored window as eval sees it (one row of `edgeae score`'s output).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRecord {
    /// First input row of the window.
    pub start: usize,
    /// One past the last input row of the window: the row at which its
    /// score (and alarm state) is known.
    pub end: usize,
    /// Reconstruction error; NaN for a fault window that was not scored.
    pub score: f32,
    /// The alarm state after this window (after hysteresis).
    pub alarm: bool,
    /// The window contained a NaN sample and was not scored.
    pub fault: bool,
}

/// Whether and when one labelled segment was detected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Detection {
    /// First row of the labelled segment.
    pub start: usize,
    /// One past the last row of the labelled segment.
    pub end: usize,
    /// An alarm or fault flag was raised by a window overlapping the
    /// segment.
    pub detected: bool,
    /// Row (window end) at which the first alarm or fault flag overlapping
    /// the segment was reported.
    pub detected_at: Option<usize>,
    /// `detected_at - start`, in samples (rows). At least 1, since a window
    /// that overlaps the segment ends after the segment's start.
    pub delay: Option<usize>,
    /// Rows from the segment's end to the end of the first window after it
    /// (starting at or after its end) that is not flagged: how long the
    /// alarm takes to clear. `None` when the stream ends still flagged.
    pub cleared_after: Option<usize>,
}

/// Detection of each labelled segment (in the order given): the first
/// window, in stream order, that overlaps the segment (`window.start <
/// seg.end && window.end > seg.start`) and has `alarm || fault`. Its `end`
/// is when the detection is known, so `detected_at = window.end` and
/// `delay = window.end - seg.start`. A window that started alarming before
/// the segment and overlaps it counts as a detection.
///
/// `windows` must be in stream order (as `edgeae score` writes them): the
/// first flagged overlapping window in slice order is the one reported.
/// When the flagged windows' starts and ends are both non-decreasing (the
/// normal case) each segment costs a binary search, otherwise a scan.
pub fn detections(segments: &[Range<usize>], windows: &[WindowRecord]) -> Vec<Detection> {
    let flagged: Vec<(usize, usize)> = windows
        .iter()
        .filter(|w| w.alarm || w.fault)
        .map(|w| (w.start, w.end))
        .collect();
    let sorted = flagged
        .windows(2)
        .all(|p| p[0].0 <= p[1].0 && p[0].1 <= p[1].1);
    let overlaps = |seg: &Range<usize>, &(ws, we): &(usize, usize)| ws < seg.end && we > seg.start;
    segments
        .iter()
        .map(|seg| {
            let hit = if sorted {
                // The first window ending after the segment starts; earlier
                // ones cannot overlap, and if it starts too late, so do all
                // later ones.
                let i = flagged.partition_point(|&(_, we)| we <= seg.start);
                flagged.get(i).filter(|w| overlaps(seg, w))
            } else {
                flagged.iter().find(|w| overlaps(seg, w))
            };
            let detected_at = hit.map(|&(_, we)| we);
            let cleared_after = windows
                .iter()
                .find(|w| w.start >= seg.end && !(w.alarm || w.fault))
                .map(|w| w.end - seg.end);
            Detection {
                start: seg.start,
                end: seg.end,
                detected: hit.is_some(),
                detected_at,
                delay: detected_at.map(|at| at.saturating_sub(seg.start)),
                cleared_after,
            }
        })
        .collect()
}

/// False alarms in normal operation: the normal windows that start more
/// than one window after the end of every labelled segment before them (so
/// the alarm has had a window's time to clear), flagged or not.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NormalOperation {
    /// Windows counted.
    pub windows: usize,
    /// Of those, flagged (alarm or fault).
    pub flagged: usize,
    /// `flagged / windows`.
    pub false_positive_rate: Option<f64>,
}

/// [`NormalOperation`] of a scored stream: `labels` per window (1 for a
/// window that overlaps a segment), `segments` the labelled rows.
pub fn normal_operation(
    segments: &[Range<usize>],
    windows: &[WindowRecord],
    labels: &[u8],
) -> NormalOperation {
    let mut counted = 0;
    let mut flagged = 0;
    for (w, &l) in windows.iter().zip(labels) {
        let len = w.end - w.start;
        let settling = segments
            .iter()
            .any(|s| s.end <= w.start && w.start <= s.end + len);
        if l == 0 && !settling {
            counted += 1;
            flagged += usize::from(w.alarm || w.fault);
        }
    }
    NormalOperation {
        windows: counted,
        flagged,
        false_positive_rate: (counted > 0).then(|| flagged as f64 / counted as f64),
    }
}

/// The row spans during which the alarm was on, for plotting: each run of
/// consecutive alarming windows gives `end of its first window .. end of
/// the first window after it` (the window that cleared the alarm), or
/// `.. end of its last window` when the stream ends alarming (possibly an
/// empty range). Windows must be in stream order.
pub fn alarm_spans(windows: &[WindowRecord]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut raised: Option<(usize, usize)> = None; // (raised at, last alarm end)
    for w in windows {
        match (w.alarm, raised) {
            (true, None) => raised = Some((w.end, w.end)),
            (true, Some((at, _))) => raised = Some((at, w.end)),
            (false, Some((at, _))) => {
                out.push(at..w.end.max(at));
                raised = None;
            }
            (false, None) => {}
        }
    }
    if let Some((at, last)) = raised {
        out.push(at..last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    /// Mann-Whitney U over all (positive, negative) pairs, ties one half,
    /// divided by the number of pairs; NaN ranks highest.
    fn brute_auc(scores: &[f32], labels: &[u8]) -> Option<f64> {
        let n = scores.len().min(labels.len());
        let (mut twice, mut pairs) = (0u64, 0u64);
        for i in (0..n).filter(|&i| labels[i] != 0) {
            for j in (0..n).filter(|&j| labels[j] == 0) {
                pairs += 1;
                twice += match rank_cmp(scores[i], scores[j]) {
                    Ordering::Greater => 2,
                    Ordering::Equal => 1,
                    Ordering::Less => 0,
                };
            }
        }
        (pairs > 0).then(|| twice as f64 / (2 * pairs) as f64)
    }

    /// Mean over the positives of the precision when every window scoring
    /// at least as high as that positive is flagged.
    fn brute_ap(scores: &[f32], labels: &[u8]) -> Option<f64> {
        let n = scores.len().min(labels.len());
        let positives: Vec<usize> = (0..n).filter(|&i| labels[i] != 0).collect();
        if positives.is_empty() {
            return None;
        }
        let mut sum = 0.0;
        for &i in &positives {
            let above: Vec<usize> = (0..n)
                .filter(|&j| rank_cmp(scores[j], scores[i]) != Ordering::Less)
                .collect();
            let tp = above.iter().filter(|&&j| labels[j] != 0).count();
            sum += tp as f64 / above.len() as f64;
        }
        Some(sum / positives.len() as f64)
    }

    fn trapezoid(curve: &[(f64, f64)]) -> f64 {
        curve
            .windows(2)
            .map(|p| (p[1].0 - p[0].0) * (p[0].1 + p[1].1) / 2.0)
            .sum()
    }

    /// Random scores from a few distinct values (many ties, some NaN) and
    /// random labels, of random length.
    fn random_case(rng: &mut StdRng) -> (Vec<f32>, Vec<u8>) {
        let n = rng.gen_range(0..120);
        let levels = rng.gen_range(1..8);
        let scores = (0..n)
            .map(|_| {
                if rng.gen_bool(0.05) {
                    f32::NAN
                } else {
                    rng.gen_range(0..levels) as f32 * 0.25 - 0.5
                }
            })
            .collect();
        let p = rng.gen_range(0.0..1.0);
        let labels = (0..n).map(|_| u8::from(rng.gen_bool(p))).collect();
        (scores, labels)
    }

    #[test]
    fn roc_auc_matches_pairwise_count() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut checked = 0;
        for _ in 0..500 {
            let (scores, labels) = random_case(&mut rng);
            let want = brute_auc(&scores, &labels);
            let got = roc_auc(&scores, &labels);
            assert_eq!(got.is_some(), want.is_some(), "{scores:?} {labels:?}");
            if let (Some(g), Some(w)) = (got, want) {
                assert!(close(g, w), "{g} vs {w}: {scores:?} {labels:?}");
                let curve = roc_curve(&scores, &labels).unwrap();
                assert!(close(trapezoid(&curve), g), "{curve:?}");
                checked += 1;
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn roc_auc_extremes() {
        let labels = [0, 0, 0, 1, 1];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.3, 0.4, 0.5], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.5, 0.4, 0.3, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.7; 5], &labels), Some(0.5));
        assert_eq!(roc_auc(&[f32::NAN; 5], &labels), Some(0.5));
        // scikit-learn's roc_auc_score example.
        let (s, l) = ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
        assert_eq!(roc_auc(&s, &l), Some(0.75));
        // One class missing, or nothing at all.
        assert_eq!(roc_auc(&[0.1, 0.2], &[1, 1]), None);
        assert_eq!(roc_auc(&[0.1, 0.2], &[0, 0]), None);
        assert_eq!(roc_auc(&[], &[]), None);
        assert_eq!(roc_curve(&[], &[]), None);
        assert_eq!(roc_curve(&[0.1], &[1]), None);
    }

    #[test]
    fn roc_curve_groups_ties() {
        // Thresholds 0.9 | 0.5 (one positive, one negative) | 0.1.
        let curve = roc_curve(&[0.5, 0.9, 0.1, 0.5], &[1, 1, 0, 0]).unwrap();
        assert_eq!(curve, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        // 0.0 and -0.0 tie; all ties give the diagonal.
        let curve = roc_curve(&[0.0, -0.0, 0.0], &[1, 0, 5]).unwrap();
        assert_eq!(curve, vec![(0.0, 0.0), (1.0, 1.0)]);
        assert_eq!(roc_auc(&[0.0, -0.0, 0.0], &[1, 0, 5]), Some(0.5));
    }

    #[test]
    fn nan_scores_rank_highest() {
        // A NaN (fault) window ranks above +inf: a flagged positive.
        let labels = [0, 0, 1];
        assert_eq!(roc_auc(&[0.1, f32::INFINITY, f32::NAN], &labels), Some(1.0));
        assert_eq!(roc_auc(&[f32::NAN, 5.0, 9.0], &labels), Some(0.5));
        let curve = roc_curve(&[0.2, 0.1, f32::NAN], &labels).unwrap();
        assert_eq!(curve[1], (0.0, 1.0));
        assert_eq!(pr_auc(&[0.1, f32::INFINITY, f32::NAN], &labels), Some(1.0));
        // A NaN negative is the first false positive.
        assert_eq!(pr_auc(&[f32::NAN, 0.1, 0.9], &labels), Some(0.5));
    }

    #[test]
    fn lengths_are_cut_to_the_shorter() {
        let s = [0.1f32, 0.9, 0.5, 0.7];
        let l = [0u8, 1];
        assert_eq!(roc_auc(&s, &l), roc_auc(&s[..2], &l));
        assert_eq!(roc_auc(&s, &l), Some(1.0));
        assert_eq!(pr_auc(&s[..1], &[1, 0, 0]), Some(1.0));
        assert_eq!(roc_curve(&s[..1], &l), None);
        assert_eq!(
            Confusion::from_predictions(&[1, 1, 1], &[1]),
            Confusion {
                tp: 1,
                ..Confusion::default()
            }
        );
    }

    #[test]
    fn pr_auc_hand_computed() {
        // scikit-learn's average_precision_score example: 0.8(+) 0.4(-)
        // 0.35(+) 0.1(-) -> (1 + 2/3) / 2.
        let ap = pr_auc(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]).unwrap();
        assert!(close(ap, 5.0 / 6.0), "{ap}");
        // + - + - +: precisions 1, 2/3, 3/5 at the positives.
        let ap = pr_auc(&[0.9, 0.8, 0.7, 0.6, 0.5], &[1, 0, 1, 0, 1]).unwrap();
        assert!(close(ap, (1.0 + 2.0 / 3.0 + 0.6) / 3.0), "{ap}");
        // Ties: {0.5: +, -} then {0.2: +} -> 0.5 * 1/2 + 0.5 * 2/3.
        let ap = pr_auc(&[0.5, 0.5, 0.2], &[1, 0, 1]).unwrap();
        assert!(close(ap, 0.25 + 1.0 / 3.0), "{ap}");
        // Perfect ranking, and positives only.
        assert_eq!(pr_auc(&[0.9, 0.8, 0.1], &[1, 1, 0]), Some(1.0));
        assert_eq!(pr_auc(&[0.3, 0.3], &[1, 1]), Some(1.0));
        // No positives.
        assert_eq!(pr_auc(&[0.3, 0.3], &[0, 0]), None);
        assert_eq!(pr_auc(&[], &[]), None);
    }

    #[test]
    fn pr_auc_matches_brute_force() {
        let mut rng = StdRng::seed_from_u64(12);
        let mut checked = 0;
        for _ in 0..500 {
            let (scores, labels) = random_case(&mut rng);
            let want = brute_ap(&scores, &labels);
            let got = pr_auc(&scores, &labels);
            assert_eq!(got.is_some(), want.is_some(), "{scores:?} {labels:?}");
            if let (Some(g), Some(w)) = (got, want) {
                assert!((g - w).abs() < 1e-9, "{g} vs {w}: {scores:?} {labels:?}");
                assert!((0.0..=1.0).contains(&g));
                checked += 1;
            }
        }
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn confusion_counts_and_ratios() {
        let pred = [1, 1, 0, 0, 1, 0, 2];
        let labels = [1, 0, 0, 1, 1, 0, 0];
        let c = Confusion::from_predictions(&pred, &labels);
        assert_eq!(
            c,
            Confusion {
                tp: 2,
                fp: 2,
                tn: 2,
                fn_: 1
            }
        );
        assert_eq!(c.precision(), Some(0.5));
        assert!(close(c.recall().unwrap(), 2.0 / 3.0));
        assert!(close(c.f1().unwrap(), 4.0 / 7.0));
        assert_eq!(c.fpr(), Some(0.5));
        // F1 is the harmonic mean of precision and recall.
        let (p, r) = (c.precision().unwrap(), c.recall().unwrap());
        assert!(close(c.f1().unwrap(), 2.0 * p * r / (p + r)));
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"tp":2,"fp":2,"tn":2,"fn":1}"#
        );

        let empty = Confusion::from_predictions(&[], &[]);
        assert_eq!(empty, Confusion::default());
        assert_eq!(
            (empty.precision(), empty.recall(), empty.f1(), empty.fpr()),
            (None, None, None, None)
        );
        // Nothing predicted positive, positives missed.
        let c = Confusion::from_predictions(&[0, 0, 0], &[1, 0, 1]);
        assert_eq!(
            (c.precision(), c.recall(), c.f1()),
            (None, Some(0.0), Some(0.0))
        );
        assert_eq!(c.fpr(), Some(0.0));
        // All negative and predicted negative.
        let c = Confusion::from_predictions(&[0, 0], &[0, 0]);
        assert_eq!(
            (c.precision(), c.recall(), c.f1(), c.fpr()),
            (None, None, None, Some(0.0))
        );
        // All positive, all found.
        let c = Confusion::from_predictions(&[1, 1], &[1, 1]);
        assert_eq!(
            (c.precision(), c.recall(), c.f1(), c.fpr()),
            (Some(1.0), Some(1.0), Some(1.0), None)
        );
    }

    #[test]
    fn segments_edge_cases() {
        assert_eq!(segments(&[]), Vec::<Range<usize>>::new());
        assert_eq!(segments(&[0, 0, 0]), Vec::<Range<usize>>::new());
        assert_eq!(segments(&[1, 1, 1]), vec![0..3]);
        assert_eq!(segments(&[1]), vec![0..1]);
        assert_eq!(segments(&[1, 0, 0, 1]), vec![0..1, 3..4]);
        assert_eq!(
            segments(&[0, 1, 1, 0, 2, 0, 0, 1, 1]),
            vec![1..3, 4..5, 7..9]
        );
    }

    fn w(start: usize, end: usize, alarm: bool, fault: bool) -> WindowRecord {
        WindowRecord {
            start,
            end,
            score: if fault { f32::NAN } else { 0.5 },
            alarm,
            fault,
        }
    }

    /// Windows of 10 rows, hop 5, from row 0; `flags[i]` = (alarm, fault)
    /// of window i.
    fn stream(flags: &[(bool, bool)]) -> Vec<WindowRecord> {
        flags
            .iter()
            .enumerate()
            .map(|(i, &(a, f))| w(i * 5, i * 5 + 10, a, f))
            .collect()
    }

    fn detection(seg: Range<usize>, at: Option<usize>) -> Detection {
        Detection {
            start: seg.start,
            end: seg.end,
            detected: at.is_some(),
            detected_at: at,
            delay: at.map(|a| a - seg.start),
            cleared_after: None,
        }
    }

    fn cleared(mut d: Detection, rows: usize) -> Detection {
        d.cleared_after = Some(rows);
        d
    }

    // Ranges here are row spans (data), some reversed or empty on purpose.
    #[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
    #[test]
    fn detections_hand_built() {
        let (o, a, f) = ((false, false), (true, false), (false, true));
        // Windows [0,10) [5,15) ... [95,105); alarms in windows 4..=6
        // ([20,30)..[30,40)), a fault at window 12 ([60,70)), alarm from
        // window 16 ([80,90)) to the end.
        let mut flags = vec![o; 20];
        flags[4..=6].fill(a);
        flags[12] = f;
        flags[16..].fill(a);
        let windows = stream(&flags);
        let segs = [22..28, 45..50, 62..64, 85..86, 90..200];
        let got = detections(&segs, &windows);
        assert_eq!(
            got,
            vec![
                // Window 4 [20,30) is the first flagged one overlapping;
                // [35,45) is the first quiet one after the segment.
                cleared(detection(22..28, Some(30)), 17),
                // Nothing flagged overlaps 45..50.
                cleared(detection(45..50, None), 10),
                // The fault window [60,70) overlaps; [65,75) is quiet.
                cleared(detection(62..64, Some(70)), 11),
                // Window [80,90) started before the segment and overlaps it.
                detection(85..86, Some(90)),
                // The alarm was already on when the segment began (raised at
                // row 90); the first alarming window overlapping 90..200 is
                // [85,95).
                detection(90..200, Some(95)),
            ]
        );
        assert_eq!(got[0].delay, Some(8));
        assert_eq!(got[3].delay, Some(5));
        assert_eq!(got[4].delay, Some(5));
        assert_eq!(
            serde_json::to_string(&got[1]).unwrap(),
            r#"{"start":45,"end":50,"detected":false,"detected_at":null,"delay":null,"cleared_after":10}"#
        );
    }

    #[allow(clippy::single_range_in_vec_init)]
    #[test]
    fn normal_operation_leaves_out_a_window_after_each_segment() {
        // Windows [5i, 5i+10); a segment at rows 20..30 labels windows 3..=5.
        let mut flags = vec![(false, false); 12];
        flags[2] = (true, false); // before the segment: a false alarm
        flags[6] = (true, false); // starts at 30: still settling
        flags[8] = (true, false); // starts at 40 = end + window: settling
        flags[9] = (true, false); // starts at 45: a false alarm
        let windows = stream(&flags);
        let labels: Vec<u8> = (0..12).map(|i| u8::from((3..=5).contains(&i))).collect();
        let n = normal_operation(&[20..30], &windows, &labels);
        // Counted: windows 0, 1, 2, 9, 10, 11 (6..=8 settle, 3..=5 labelled).
        assert_eq!((n.windows, n.flagged), (6, 2));
        assert_eq!(n.false_positive_rate, Some(2.0 / 6.0));
    }

    // Ranges here are row spans (data), some reversed or empty on purpose.
    #[allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]
    #[test]
    fn detections_edge_cases() {
        assert_eq!(detections(&[], &[]), vec![]);
        assert_eq!(detections(&[3..5], &[]), vec![detection(3..5, None)]);
        // A window touching the segment without overlapping does not count.
        let windows = [w(0, 10, true, false), w(20, 30, true, false)];
        assert_eq!(
            detections(&[10..20], &windows),
            vec![detection(10..20, None)]
        );
        // The first flagged window in stream order wins, even when the
        // windows are out of order (the scanning path).
        let windows = [w(20, 30, true, false), w(0, 25, true, false)];
        assert_eq!(
            detections(&[22..24], &windows),
            vec![detection(22..24, Some(30))]
        );
        // An empty or reversed segment range does not panic.
        let windows = [w(0, 10, true, false)];
        assert_eq!(
            detections(&[5..5], &windows),
            vec![detection(5..5, Some(10))]
        );
        let got = detections(&[9..2], &windows);
        assert_eq!(got[0].detected_at, Some(10));
    }

    #[test]
    fn detections_search_matches_scan() {
        let mut rng = StdRng::seed_from_u64(13);
        for _ in 0..200 {
            let (len, hop) = (rng.gen_range(1..20), rng.gen_range(1..10));
            let n = rng.gen_range(0..60);
            let windows: Vec<WindowRecord> = (0..n)
                .map(|i| {
                    w(
                        i * hop,
                        i * hop + len,
                        rng.gen_bool(0.3),
                        rng.gen_bool(0.05),
                    )
                })
                .collect();
            let rows = n * hop + len + 5;
            let labels: Vec<u8> = (0..rows).map(|_| u8::from(rng.gen_bool(0.2))).collect();
            let segs = segments(&labels);
            let got = detections(&segs, &windows);
            for (d, seg) in got.iter().zip(&segs) {
                let want = windows
                    .iter()
                    .find(|w| (w.alarm || w.fault) && w.start < seg.end && w.end > seg.start)
                    .map(|w| w.end);
                let cleared_after = windows
                    .iter()
                    .find(|w| w.start >= seg.end && !(w.alarm || w.fault))
                    .map(|w| w.end - seg.end);
                let want = Detection {
                    cleared_after,
                    ..detection(seg.clone(), want)
                };
                assert_eq!(*d, want);
            }
            assert_eq!(got.len(), segs.len());
        }
    }

    #[test]
    fn alarm_spans_from_windows() {
        let (o, a) = ((false, false), (true, false));
        assert_eq!(alarm_spans(&[]), vec![]);
        assert_eq!(alarm_spans(&stream(&[o, o])), vec![]);
        // Raised at window 1 (end 15), cleared by window 3 (end 25); raised
        // again by the last window (end 35): an empty span.
        assert_eq!(
            alarm_spans(&stream(&[o, a, a, o, o, a])),
            vec![15..25, 35..35]
        );
        assert_eq!(alarm_spans(&stream(&[a, a, a])), vec![10..20]);
    }
}
