//! Puts memory.x where the linker finds it, and compiles CMSIS-NN's int8
//! kernels plus `shim.c` with Debian's arm-none-eabi-gcc (through the `cc`
//! crate) into a static library the image links.
//!
//! CMSIS-NN is compiled as Arm recommends for a Cortex-M4F: `-mcpu=cortex-m4`
//! (which gives `__ARM_FEATURE_DSP`, so its SMLAD paths), `-O3`, and
//! `CMSIS_NN_USE_SINGLE_ROUNDING`, TFLite's single-rounding requantization,
//! which is the one edgeae's format specifies (SPEC.md 3.3): with it both
//! libraries must give the same int8 outputs, and the image checks that.
use std::{env, fs, path::PathBuf};

/// CMSIS-NN's sources, relative to the project root's sibling `shared/`.
const CMSIS_NN: &str = "../../../../shared/third_party/cmsis-nn";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=shim.c");

    let root = PathBuf::from(CMSIS_NN);
    assert!(
        root.join("Include/arm_nnfunctions.h").exists(),
        "CMSIS-NN not found at {} (see ../shared/third_party/cmsis-nn/SOURCE.md)",
        root.display()
    );
    // Every s8 source of the four families the shim calls; the linker
    // keeps what is reached.
    let mut files = vec![PathBuf::from("shim.c")];
    for dir in [
        "Source/ConvolutionFunctions",
        "Source/FullyConnectedFunctions",
        "Source/NNSupportFunctions",
        "Source/LSTMFunctions",
    ] {
        let mut found: Vec<PathBuf> = fs::read_dir(root.join(dir))
            .expect("read CMSIS-NN source dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".c")
                    && (name.contains("_s8") || name == "arm_nntables.c")
                    && !name.contains("_s4")
            })
            .collect();
        found.sort();
        files.extend(found);
    }
    // What the s8 LSTM calls besides NNSupportFunctions: the s16 table
    // activation and the three s16 element-wise products.
    for file in [
        "Source/ActivationFunctions/arm_nn_activation_s16.c",
        "Source/BasicMathFunctions/arm_elementwise_mul_s16.c",
        "Source/BasicMathFunctions/arm_elementwise_mul_acc_s16.c",
        "Source/BasicMathFunctions/arm_elementwise_mul_s16_s8.c",
    ] {
        files.push(root.join(file));
    }
    cc::Build::new()
        .compiler("arm-none-eabi-gcc")
        .archiver("arm-none-eabi-ar")
        .files(&files)
        .include(root.join("Include"))
        .define("CMSIS_NN_USE_SINGLE_ROUNDING", None)
        .flag("-mcpu=cortex-m4")
        .flag("-mthumb")
        .flag("-mfloat-abi=hard")
        .flag("-mfpu=fpv4-sp-d16")
        .flag("-ffunction-sections")
        .flag("-fdata-sections")
        .opt_level(3)
        .warnings(false)
        .compile("cmsis_nn");
}
