//! The class of a window from a classifier's logits (SPEC.md, "Classify").
//!
//! The class is the index of the largest logit, the lowest index on a tie.
//! The confidence is the softmax probability of that class,
//! `1 / Σ_k exp(l_k − l_max)`, the sum taken in index order in f32 with
//! [`crate::ops::math::exp`], so a board and a desktop compute the same
//! bits. A non-finite logit gives no class.

use model_format::protocol::{self, Class};

use crate::ops::math::exp;
use crate::stream::{Stream, WindowFault, WindowReport};

/// A window's class and how sure the model is of it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Classification {
    /// Index of the largest logit (the lowest on a tie).
    pub class: u16,
    /// Softmax probability of `class`, in (0, 1].
    pub confidence: f32,
}

/// The class of `logits`; `None` when there are none, more than `u16`
/// can number, or one is NaN or infinite.
pub fn classify(logits: &[f32]) -> Option<Classification> {
    if logits.is_empty() || logits.len() > usize::from(u16::MAX) + 1 {
        return None;
    }
    let mut best = (0usize, f32::NEG_INFINITY);
    for (k, &l) in logits.iter().enumerate() {
        if !l.is_finite() {
            return None;
        }
        if l > best.1 {
            best = (k, l);
        }
    }
    let (class, max) = best;
    let sum: f32 = logits.iter().map(|&l| exp(l - max)).sum();
    Some(Classification {
        class: u16::try_from(class).ok()?,
        confidence: 1.0 / sum,
    })
}

/// A stream's window fault as the wire protocol names it.
pub fn wire_fault(fault: Option<WindowFault>) -> protocol::WindowFault {
    match fault {
        None => protocol::WindowFault::None,
        Some(WindowFault::BadSample { .. }) => protocol::WindowFault::Sample,
        Some(WindowFault::Overflow) => protocol::WindowFault::Overflow,
    }
}

/// The [`Class`] message of window `w`, which `stream` (over a classifier)
/// has just reported: its class from the logits the stream computed, none
/// (class 0, confidence NaN) for a faulted window. The board sends it and
/// the host builds the same rows with it.
pub fn class_message(
    stream: &Stream<'_, '_>,
    seq: u32,
    w: &WindowReport,
    instructions: u32,
) -> Class {
    let hop = u64::from(stream.model().input().hop.max(1));
    let c = if w.fault.is_none() {
        stream.last_class()
    } else {
        None
    };
    Class {
        seq,
        window: u32::try_from(w.start / hop).unwrap_or(u32::MAX),
        class: c.map_or(0, |c| c.class),
        confidence: c.map_or(f32::NAN, |c| c.confidence),
        fault: wire_fault(w.fault),
        instructions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_lowest_index_on_a_tie() {
        let c = classify(&[0.5, 2.0, -1.0, 2.0]).unwrap();
        assert_eq!(c.class, 1);
        let c = classify(&[3.0, 3.0]).unwrap();
        assert_eq!(c.class, 0);
        assert_eq!(c.confidence, 0.5);
    }

    #[test]
    fn confidence_is_the_softmax_of_the_class() {
        let logits = [1.0f32, -0.5, 3.25, 0.0];
        let c = classify(&logits).unwrap();
        assert_eq!(c.class, 2);
        let exact = 1.0
            / logits
                .iter()
                .map(|l| f64::from(l - 3.25).exp())
                .sum::<f64>();
        assert!(
            (f64::from(c.confidence) - exact).abs() < 1e-6,
            "{c:?} vs {exact}"
        );
        // Shifting every logit by the same amount changes nothing.
        let shifted: Vec<f32> = logits.iter().map(|l| l + 100.0).collect();
        assert_eq!(classify(&shifted).unwrap(), c);
    }

    #[test]
    fn non_finite_or_empty_logits_have_no_class() {
        assert_eq!(classify(&[]), None);
        assert_eq!(classify(&[1.0, f32::NAN]), None);
        assert_eq!(classify(&[f32::INFINITY, 1.0]), None);
        // Far apart but finite: the class is certain.
        let c = classify(&[-1e30, 1e30]).unwrap();
        assert_eq!((c.class, c.confidence), (1, 1.0));
    }
}
