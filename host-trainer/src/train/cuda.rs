//! `--device cuda`: what a network needs from the GPU, checked before
//! training starts.
//!
//! Dense, tied and VAE networks run on dfdx's CUDA kernels: matmuls on
//! cuBLAS, the activations, losses (binary cross-entropy through dfdx's
//! composed op; the fused one in [`crate::nn::fused`] is the CPU's) and the
//! Adam step. The feature-map layers ([`crate::nn::conv`]) and the sequence
//! layers ([`crate::nn::recurrent`]) are hand-written tape ops with CPU
//! kernels only: a network with one is refused, naming the layer.

use anyhow::{Result, bail};

use crate::nn::net::NetSpec;

/// Refuses a network that has a layer without CUDA kernels, naming it.
pub fn check(spec: &NetSpec) -> Result<()> {
    if let Some(layer) = spec.layers.iter().find(|l| l.is_map() || l.is_sequence()) {
        bail!(
            "the {} layer has no CUDA kernels yet: train this model with --device cpu",
            layer.name()
        );
    }
    Ok(())
}

/// The first CUDA device, seeded; one sentence when there is none (a
/// driver without a GPU, the toolkit's stub library instead of a driver,
/// a driver too old for CUDA 13).
#[cfg(feature = "cuda")]
pub fn device(seed: u64) -> Result<dfdx::tensor::Cuda> {
    use cudarc::driver::result;
    // cudarc 0.9's CudaDevice::new unwraps these two calls: ask first.
    match result::init().and_then(|()| result::device::get_count()) {
        Ok(n) if n > 0 => {}
        Ok(_) => bail!("no CUDA device found: train with --device cpu"),
        Err(e) => bail!(
            "no usable CUDA device ({:?}): check the NVIDIA driver, or train with --device cpu",
            e.0
        ),
    }
    dfdx::tensor::Cuda::try_seed_from_u64(seed).map_err(|e| {
        anyhow::anyhow!(
            "cannot start CUDA device 0 ({}): train with --device cpu",
            reason(&e)
        )
    })
}

/// The error's name (`CUDA_ERROR_NO_DEVICE`). Never through dfdx's
/// `Display`: it asks the driver for a description, and cudarc 0.9 panics
/// when the driver cannot give one (as with the toolkit's stub library).
#[cfg(feature = "cuda")]
fn reason(e: &dfdx::tensor::CudaError) -> String {
    use dfdx::tensor::CudaError;
    match e {
        CudaError::Driver(d) => format!("{:?}", d.0),
        CudaError::Blas(b) => format!("cuBLAS {:?}", b.0),
        CudaError::Cpu(c) => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::net::LayerSpec;
    use model_format::Activation;

    fn dense(inputs: usize, outputs: usize) -> LayerSpec {
        LayerSpec::Dense {
            inputs,
            outputs,
            activation: Activation::Identity,
        }
    }

    #[test]
    fn dense_networks_pass_and_the_first_cpu_only_layer_is_named() {
        let mut spec = NetSpec {
            layers: vec![dense(8, 4), dense(4, 8)],
            codings_layer: 0,
            logvar_head: false,
            predict_from: None,
        };
        check(&spec).unwrap();
        spec.layers
            .insert(1, LayerSpec::Repeat { width: 4, steps: 2 });
        let err = check(&spec).unwrap_err().to_string();
        assert_eq!(
            err,
            "the repeat layer has no CUDA kernels yet: train this model with --device cpu"
        );
    }
}
