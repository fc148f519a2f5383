//! The runtime's only failure: a scratch buffer too small for the model.
//! Everything else was ruled out when the model was loaded.

use core::fmt;

/// The scratch buffer given to [`crate::Engine::new`] is smaller than
/// [`crate::ScratchPlan::total`] for the model. Nothing was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScratchTooSmall {
    /// f32 slots the model needs.
    pub needed: usize,
    /// f32 slots given.
    pub given: usize,
}

impl fmt::Display for ScratchTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scratch buffer holds {} f32 values, the model needs {}",
            self.given, self.needed
        )
    }
}

impl core::error::Error for ScratchTooSmall {}
