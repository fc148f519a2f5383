//! The `dsp` feature: the int8 kernels use the Cortex-M4/M7 DSP
//! instructions (SMLAD, SXTB16) through `cfg(edgeae_dsp)`.
//!
//! Stable rustc does not expose `target_feature = "dsp"` (it is gated), so
//! the choice is a cargo feature that the board crates turn on, checked
//! here against the target: the DSP extension exists on Armv7E-M
//! (`thumbv7em-*`) and Armv8-M Mainline (`thumbv8m.main-*`) only. On their
//! hard-float targets (`*eabihf`, an FPU with 32 single-precision
//! registers) it also sets `cfg(edgeae_vfp)`: the f32 kernels use VLDM and
//! VMLA.F32.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(edgeae_dsp)");
    println!("cargo::rustc-check-cfg=cfg(edgeae_vfp)");
    println!("cargo::rustc-check-cfg=cfg(edgeae_x86)");
    println!("cargo::rerun-if-changed=build.rs");
    // The host kernels with run-time dispatch: x86-64 with the `std`
    // feature (the CPU is asked through `is_x86_feature_detected!`).
    if std::env::var_os("CARGO_FEATURE_STD").is_some()
        && std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64")
    {
        println!("cargo::rustc-cfg=edgeae_x86");
    }
    if std::env::var_os("CARGO_FEATURE_DSP").is_none() {
        return;
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em") || target.starts_with("thumbv8m.main") {
        println!("cargo::rustc-cfg=edgeae_dsp");
        if target.ends_with("eabihf") {
            println!("cargo::rustc-cfg=edgeae_vfp");
        }
    } else {
        eprintln!(
            "error: the `dsp` feature of firmware needs an Arm target with the DSP extension (thumbv7em-*, thumbv8m.main-*); `{target}` has none: build without it (the portable kernels compute the same bits)"
        );
        std::process::exit(1);
    }
}
