//! Adam on dfdx's fused, in-place kernel, for parameters of any (run-time)
//! shape. dfdx's own `Adam` optimiser needs modules with compile-time sizes.
//!
//! The moments live in dfdx `Gradients` keyed by the parameter tensors;
//! [`Adam::export`] and [`Adam::import`] move them to and from plain
//! vectors for checkpoints, so a resumed run continues exactly.

use std::collections::HashSet;

use anyhow::{Context, Result};
use dfdx::prelude::*;

use super::net::{Net, ParamId, ParamVisitor};
use super::{Backend, DevResult, Real};

/// Optimiser moments (first, second) per parameter, in visiting order.
pub type Moments = Vec<(ParamId, Vec<f32>, Vec<f32>)>;

/// Optimiser state.
#[derive(Debug)]
pub struct Adam<E: Real, D: Backend<E>> {
    /// Learning rate, betas, epsilon.
    pub cfg: AdamConfig,
    /// Steps taken.
    pub t: i32,
    m: Gradients<E, D>,
    v: Gradients<E, D>,
    /// Parameters that have moments (stepped or imported).
    tracked: HashSet<ParamId>,
}

impl<E: Real, D: Backend<E>> Adam<E, D> {
    /// Fresh state (zero moments).
    pub fn new(lr: f64) -> Self {
        Adam {
            cfg: AdamConfig {
                lr,
                ..Default::default()
            },
            t: 0,
            m: Gradients::leaky(),
            v: Gradients::leaky(),
            tracked: HashSet::new(),
        }
    }

    /// One update of the parameters `filter` selects, from `grads` (what
    /// `loss.backward()` returned). Parameters without a gradient (not on
    /// the path of this loss) are left alone.
    pub fn step(
        &mut self,
        net: &mut Net<E, D>,
        grads: &mut Gradients<E, D>,
        filter: impl Fn(ParamId) -> bool,
    ) -> Result<()> {
        self.t = self.t.checked_add(1).context("too many optimiser steps")?;
        struct Step<'a, E: Real, D: Backend<E>> {
            adam: &'a mut Adam<E, D>,
            grads: &'a mut Gradients<E, D>,
        }
        impl<E: Real, D: Backend<E>> ParamVisitor<E, D> for Step<'_, E, D> {
            fn visit<S: Shape>(&mut self, id: ParamId, p: &mut Tensor<S, E, D>) -> Result<()> {
                self.adam.tracked.insert(id);
                let g = self.grads.get_or_alloc_mut(p).dev()?;
                let m = self.adam.m.get_or_alloc_mut(p).dev()?;
                let v = self.adam.v.get_or_alloc_mut(p).dev()?;
                self.adam.cfg.try_update(self.adam.t, p, m, v, g).dev()?;
                Ok(())
            }
        }
        net.visit(filter, &mut Step { adam: self, grads })
    }

    /// The moments of every parameter of `net` that has any, as plain vectors.
    pub fn export(&self, net: &mut Net<E, D>) -> Result<Moments> {
        struct Export<'a, E: Real, D: Backend<E>> {
            adam: &'a Adam<E, D>,
            out: Moments,
        }
        impl<E: Real, D: Backend<E>> ParamVisitor<E, D> for Export<'_, E, D> {
            fn visit<S: Shape>(&mut self, id: ParamId, p: &mut Tensor<S, E, D>) -> Result<()> {
                if !self.adam.tracked.contains(&id) {
                    return Ok(()); // no moments yet
                }
                let to_f32 = |g: &Gradients<E, D>| -> Vec<f32> {
                    g.get(p)
                        .as_vec()
                        .into_iter()
                        .map(|x| Into::<f64>::into(x) as f32)
                        .collect()
                };
                self.out
                    .push((id, to_f32(&self.adam.m), to_f32(&self.adam.v)));
                Ok(())
            }
        }
        let mut e = Export {
            adam: self,
            out: Vec::new(),
        };
        net.visit(|_| true, &mut e)?;
        Ok(e.out)
    }

    /// Restores moments exported from a net with the same structure.
    pub fn import(
        &mut self,
        dev: &D,
        net: &mut Net<E, D>,
        moments: &[(ParamId, Vec<f32>, Vec<f32>)],
    ) -> Result<()> {
        struct Import<'a, E: Real, D: Backend<E>> {
            dev: &'a D,
            adam: &'a mut Adam<E, D>,
            moments: &'a [(ParamId, Vec<f32>, Vec<f32>)],
        }
        impl<E: Real, D: Backend<E>> ParamVisitor<E, D> for Import<'_, E, D> {
            fn visit<S: Shape>(&mut self, id: ParamId, p: &mut Tensor<S, E, D>) -> Result<()> {
                let Some((_, m, v)) = self.moments.iter().find(|(k, _, _)| *k == id) else {
                    return Ok(());
                };
                *self.adam.m.get_or_alloc_mut(p).dev()? = storage_of(self.dev, p, m)?;
                *self.adam.v.get_or_alloc_mut(p).dev()? = storage_of(self.dev, p, v)?;
                self.adam.tracked.insert(id);
                Ok(())
            }
        }
        net.visit(
            |_| true,
            &mut Import {
                dev,
                adam: self,
                moments,
            },
        )
    }
}

/// Device storage holding `values`, shaped like `like`, through public dfdx
/// API only: the gradient of `Σ q·x` with respect to `q` is exactly `x`.
fn storage_of<S: Shape, E: Real, D: Backend<E>>(
    dev: &D,
    like: &Tensor<S, E, D>,
    values: &[f32],
) -> Result<<D as Storage<E>>::Vec> {
    let shape = *like.shape();
    anyhow::ensure!(
        values.len() == shape.num_elements(),
        "checkpoint moment has {} values, the parameter {}",
        values.len(),
        shape.num_elements()
    );
    let x: Tensor<S, E, D> = dev.tensor_from_vec(
        values
            .iter()
            .map(|v| super::c::<E>(f64::from(*v)))
            .collect(),
        shape,
    );
    let q: Tensor<S, E, D> = dev.zeros_like(&shape);
    let loss = (q.leaky_trace() * x).sum::<Rank0, _>();
    let mut grads = loss.backward();
    Ok(grads.get_or_alloc_mut(&q).dev()?.clone())
}
