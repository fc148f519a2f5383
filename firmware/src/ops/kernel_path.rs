//! Which kernels the host runs: the portable ones, or the x86-64 ones for
//! AVX2, AVX-512 or AVX-512 VNNI, chosen at run time.
//!
//! The x86-64 kernels exist with the `std` feature on x86-64 targets only
//! (CPU detection needs std's `is_x86_feature_detected!`); everywhere else
//! [`kernel_path`] is [`KernelPath::Portable`]. By default the fastest
//! path the CPU has runs; [`set_kernel_path`] forces one (for tests and
//! benchmarks: every path computes the same bits) and refuses a path the
//! CPU lacks.
//!
//! Every path gives the same results: int8 sums are wrapping i32 sums,
//! whose order does not change the bits, and the f32 dense dot product
//! keeps the portable order (eight partial sums, a multiply then an add,
//! never a fused multiply-add, the pairwise reduction, then the tail), one
//! AVX register holding the eight partial sums.

use core::fmt;

/// A set of kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KernelPath {
    /// Plain Rust, for every target (the Cortex-M DSP kernels on boards
    /// built with the `dsp` feature).
    Portable,
    /// x86-64 with AVX2: f32 dense with 8-lane AVX, int8 dense with
    /// `vpmaddwd` on 256-bit registers.
    Avx2,
    /// x86-64 with AVX-512 F and BW: int8 dense with `vpmaddwd` on 512-bit
    /// registers (f32 dense as [`KernelPath::Avx2`]).
    Avx512,
    /// [`KernelPath::Avx512`] with VNNI: int8 dense with `vpdpwssd` (the
    /// non-saturating form).
    Avx512Vnni,
}

impl KernelPath {
    /// Every path, slowest first.
    pub const ALL: [KernelPath; 4] = [
        KernelPath::Portable,
        KernelPath::Avx2,
        KernelPath::Avx512,
        KernelPath::Avx512Vnni,
    ];

    /// The name [`KernelPath::from_name`] reads: `portable`, `avx2`,
    /// `avx512`, `avx512-vnni`.
    pub const fn name(self) -> &'static str {
        match self {
            KernelPath::Portable => "portable",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx512Vnni => "avx512-vnni",
        }
    }

    /// The path named `name` (see [`KernelPath::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        KernelPath::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether this build runs this path on this CPU.
    pub fn is_available(self) -> bool {
        match self {
            KernelPath::Portable => true,
            #[cfg(edgeae_x86)]
            _ => super::dsp::x86::Simd::new(self).is_some(),
            #[cfg(not(edgeae_x86))]
            _ => false,
        }
    }

    /// The fastest available path.
    pub fn best() -> Self {
        KernelPath::ALL
            .into_iter()
            .rev()
            .find(|p| p.is_available())
            .unwrap_or(KernelPath::Portable)
    }
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// [`set_kernel_path`] was asked for a path this build or CPU lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PathUnavailable(pub KernelPath);

impl fmt::Display for PathUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} kernels are not available here (they need an x86-64 CPU with those instructions and firmware's `std` feature); available: ",
            self.0
        )?;
        let mut first = true;
        for p in KernelPath::ALL.into_iter().filter(|p| p.is_available()) {
            if !first {
                f.write_str(", ")?;
            }
            f.write_str(p.name())?;
            first = false;
        }
        Ok(())
    }
}

impl core::error::Error for PathUnavailable {}

/// The forced path (`KernelPath as u8 + 1`), 0 for the best one.
#[cfg(edgeae_x86)]
static FORCED: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Forces `path` for every later inference in this process (`None`: the
/// fastest available, the default). Refuses a path the build or the CPU
/// lacks, and then changes nothing.
pub fn set_kernel_path(path: Option<KernelPath>) -> Result<(), PathUnavailable> {
    if let Some(p) = path
        && !p.is_available()
    {
        return Err(PathUnavailable(p));
    }
    #[cfg(edgeae_x86)]
    FORCED.store(
        path.map_or(0, |p| p as u8 + 1),
        core::sync::atomic::Ordering::Relaxed,
    );
    Ok(())
}

/// The path inferences run now.
pub fn kernel_path() -> KernelPath {
    #[cfg(edgeae_x86)]
    {
        let forced = FORCED.load(core::sync::atomic::Ordering::Relaxed);
        if let Some(p) = forced
            .checked_sub(1)
            .and_then(|i| KernelPath::ALL.get(usize::from(i)))
        {
            return *p;
        }
        KernelPath::best()
    }
    #[cfg(not(edgeae_x86))]
    KernelPath::Portable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_portable_is_always_there() {
        for p in KernelPath::ALL {
            assert_eq!(KernelPath::from_name(p.name()), Some(p));
        }
        assert_eq!(KernelPath::from_name("sse9"), None);
        assert!(KernelPath::Portable.is_available());
        assert!(KernelPath::best().is_available());
    }
}
