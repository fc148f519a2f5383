//! [`Engine`]: runs a validated model over caller-owned scratch memory.
//!
//! The engine owns no memory. [`Engine::new`] checks once that the scratch
//! slice is large enough ([`ScratchPlan`]); after that no method can fail or
//! panic, because every width it uses comes from a model that passed
//! [`Model::load`]. The caller writes a normalised window into
//! [`Engine::input_mut`] and calls [`Engine::reconstruct`],
//! [`Engine::encode`], or writes codings into [`Engine::codings_mut`] and
//! calls [`Engine::decode`].
//!
//! A [`crate::Stream`] over a model scored in int8
//! ([`crate::int8_window`]) binds its engine with
//! [`ScratchPlan::for_stream`] instead: the window arrives as int8 bytes at
//! the start of the buffer op 0 reads, and the reconstruction stays int8.

use model_format::{Model, Op};

use crate::ops::{conv, conv_i8, dense, int8, pool, recurrent, recurrent_i8, upsample};
use crate::{ScratchPlan, ScratchTooSmall};

/// A model bound to its scratch memory.
#[derive(Debug)]
pub struct Engine<'m, 's> {
    model: &'m Model<'m>,
    input: &'s mut [f32],
    even: &'s mut [f32],
    odd: &'s mut [f32],
    column: &'s mut [f32],
    state: &'s mut [f32],
    /// The window arrives as int8 bytes in the odd buffer and the last op's
    /// output stays int8 (a stream's engine over a model scored in int8).
    int8_window: bool,
}

fn split(buf: &mut [f32], at: usize) -> Option<(&mut [f32], &mut [f32])> {
    buf.split_at_mut_checked(at)
}

/// True when int8 op `i` of `model`, the last of `..end` run or one before
/// an f32 op, dequantizes its output in place; with `int8_window` (a
/// stream's engine over a model scored in int8) the last op's output
/// stays int8.
fn hands_out_f32(model: &Model<'_>, int8_window: bool, i: usize, end: usize) -> bool {
    let ops = model.ops();
    if i + 1 == ops.len() {
        return !int8_window;
    }
    i + 1 == end || !ops.get(i + 1).is_some_and(Op::is_int8)
}

impl<'m, 's> Engine<'m, 's> {
    /// f32 slots of scratch `model` needs (see [`ScratchPlan`]).
    pub fn scratch_len(model: &Model<'_>) -> usize {
        ScratchPlan::for_model(model).total()
    }

    /// Binds `model` to `scratch`, which must hold at least
    /// [`Engine::scratch_len`] values (more is fine; the rest is unused).
    pub fn new(model: &'m Model<'m>, scratch: &'s mut [f32]) -> Result<Self, ScratchTooSmall> {
        Engine::bind(model, scratch, ScratchPlan::for_model(model), false)
    }

    /// Binds `model` as a stream's engine in [`ScratchPlan::for_stream`]
    /// words: for a model scored in int8, the window is written with
    /// [`Engine::window_i8_mut`] and [`Engine::reconstruct_i8`] runs it.
    pub(crate) fn for_stream(
        model: &'m Model<'m>,
        scratch: &'s mut [f32],
    ) -> Result<Self, ScratchTooSmall> {
        let int8 = crate::int8_window(model).is_some();
        Engine::bind(model, scratch, ScratchPlan::for_stream(model), int8)
    }

    fn bind(
        model: &'m Model<'m>,
        scratch: &'s mut [f32],
        plan: ScratchPlan,
        int8_window: bool,
    ) -> Result<Self, ScratchTooSmall> {
        let too_small = ScratchTooSmall {
            needed: plan.total(),
            given: scratch.len(),
        };
        let (input, rest) = split(scratch, plan.input).ok_or(too_small)?;
        let (even, rest) = split(rest, plan.even).ok_or(too_small)?;
        let (odd, rest) = split(rest, plan.odd).ok_or(too_small)?;
        let (column, rest) = split(rest, plan.column).ok_or(too_small)?;
        let (state, _) = split(rest, plan.state).ok_or(too_small)?;
        debug!(
            "engine: {} ops, {} MACs, scratch {} f32",
            model.ops().len(),
            model.macs(),
            plan.total()
        );
        Ok(Engine {
            model,
            input,
            even,
            odd,
            column,
            state,
            int8_window,
        })
    }

    /// Where a stream writes the quantized window of a model scored in
    /// int8 (`model.input_len()` bytes at the start of the odd buffer, which
    /// op 0 reads); empty on an engine bound with [`Engine::new`].
    pub(crate) fn window_i8_mut(&mut self) -> &mut [i8] {
        if !self.int8_window {
            return &mut [];
        }
        let n = self.model.input_len();
        bytemuck::cast_slice_mut::<f32, i8>(self.odd)
            .get_mut(..n)
            .unwrap_or_default()
    }

    /// Runs every op on the window in [`Engine::window_i8_mut`] (which it
    /// overwrites) and returns the int8 reconstruction; empty on an engine
    /// bound with [`Engine::new`].
    pub(crate) fn reconstruct_i8(&mut self) -> &[i8] {
        if !self.int8_window {
            return &[];
        }
        self.run(0, self.model.ops().len());
        self.last_i8()
    }

    /// The int8 reconstruction the last [`Engine::reconstruct_i8`] left.
    pub(crate) fn last_i8(&self) -> &[i8] {
        if !self.int8_window {
            return &[];
        }
        let last = self.model.ops().len().saturating_sub(1);
        let len = self.model.ops().get(last).map_or(0, Op::outputs);
        bytemuck::cast_slice::<f32, i8>(self.buffer_of(last))
            .get(..len)
            .unwrap_or_default()
    }

    /// The model.
    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// The input window (normalised), `model.input_len()` values.
    pub fn input(&self) -> &[f32] {
        &*self.input
    }

    /// Where to write the next input window.
    pub fn input_mut(&mut self) -> &mut [f32] {
        &mut *self.input
    }

    /// Runs every op on the input and returns `(input, reconstruction)`.
    pub fn reconstruct(&mut self) -> (&[f32], &[f32]) {
        let n = self.model.ops().len();
        self.run(0, n);
        let out = self.output_of(n.saturating_sub(1));
        (&*self.input, out)
    }

    /// The input and the output of the last op, as the last
    /// [`Engine::reconstruct`] left them (without running anything).
    pub fn last_reconstruction(&self) -> (&[f32], &[f32]) {
        let n = self.model.ops().len();
        (&*self.input, self.output_of(n.saturating_sub(1)))
    }

    /// Runs every op of a classifier on the input and returns the class of
    /// its logits ([`crate::classify()`]); `None` when a logit is not finite.
    /// On an autoencoder it classifies the reconstruction, which means
    /// nothing: check [`Model::classes`] first.
    pub fn classify(&mut self) -> Option<crate::Classification> {
        let (_, logits) = self.reconstruct();
        crate::classify(logits)
    }

    /// Runs the encoder on the input and returns the codings.
    pub fn encode(&mut self) -> &[f32] {
        let last = self.model.codings_layer();
        self.run(0, last + 1);
        self.output_of(last)
    }

    /// Where to write codings for [`Engine::decode`] (`model.codings_len()` values).
    pub fn codings_mut(&mut self) -> &mut [f32] {
        let last = self.model.codings_layer();
        let len = self.model.codings_len();
        let buf = if last.is_multiple_of(2) {
            &mut *self.even
        } else {
            &mut *self.odd
        };
        buf.get_mut(..len).unwrap_or_default()
    }

    /// Runs the decoder on the codings in [`Engine::codings_mut`] and
    /// returns the decoded window (normalised units).
    pub fn decode(&mut self) -> &[f32] {
        let n = self.model.ops().len();
        self.run(self.model.codings_layer() + 1, n);
        self.output_of(n.saturating_sub(1))
    }

    /// The output of op `index` (in its ping-pong buffer).
    fn output_of(&self, index: usize) -> &[f32] {
        let len = self.model.ops().get(index).map_or(0, Op::outputs);
        self.buffer_of(index).get(..len).unwrap_or_default()
    }

    /// The ping-pong buffer op `index` writes.
    fn buffer_of(&self, index: usize) -> &[f32] {
        if index.is_multiple_of(2) {
            &*self.even
        } else {
            &*self.odd
        }
    }

    /// Runs ops `start..end`; op `i` reads op `i - 1`'s buffer (the input for op 0).
    /// An int8 op whose input is f32 (the first op run, or after an f32 op)
    /// quantizes it; the last op run and an int8 op before an f32 op leave
    /// f32 values behind (SPEC.md 3.3). An int8 dense op packs its input in
    /// place in the buffer it reads (op 0 into the odd buffer, keeping the
    /// input window); an int8 feature-map op reads int8 bytes there,
    /// quantized in place from f32 when needed, and an int8 convolution
    /// builds its im2col column in the column buffer. In a stream's engine
    /// over a model scored in int8, op 0 reads the window's int8 bytes in
    /// the odd buffer and the last op's output stays int8. A recurrent op keeps
    /// its state between steps in the state buffer. [`ScratchPlan`] sized
    /// all of them.
    fn run(&mut self, start: usize, end: usize) {
        let model = self.model;
        let ops = model.ops();
        for (i, op) in ops.iter().enumerate().take(end).skip(start) {
            let (src, dst): (&mut [f32], &mut [f32]) = if i == 0 {
                (&mut *self.odd, &mut *self.even)
            } else if i % 2 == 1 {
                (&mut *self.even, &mut *self.odd)
            } else {
                (&mut *self.odd, &mut *self.even)
            };
            let x: &[f32] = if i == 0 { &*self.input } else { &*src };
            match op {
                Op::Dense(d) => dense::run(d, x, dst),
                Op::Conv(c) => conv::run(c, x, dst),
                Op::ConvTranspose(c) => conv::run_transpose(c, x, dst),
                Op::Pool(p) => pool::run(p, x, dst),
                Op::Upsample(u) => upsample::run(u, x, dst),
                // After op 0 the input buffer is the previous op's output,
                // which nothing reads again: room for a repeated input's
                // terms (the window itself stays untouched).
                Op::Recurrent(r) if i == 0 => recurrent::run(r, x, dst, self.state),
                Op::Recurrent(r) => recurrent::run_in_place(r, src, dst, self.state),
                Op::DenseI8(q) => {
                    let int8_input = i > start && ops.get(i - 1).is_some_and(Op::is_int8);
                    if i == 0 && self.int8_window {
                        int8::pack_i8_in_place(src, q.inputs, q.input.zero_point);
                    } else if i == 0 {
                        let words = bytemuck::cast_slice_mut::<f32, u32>(src);
                        int8::pack_f32(&*self.input, &q.input, words);
                    } else if int8_input {
                        int8::pack_i8_in_place(src, q.inputs, q.input.zero_point);
                    } else {
                        int8::pack_f32_in_place(src, q.inputs, &q.input);
                    }
                    let x = bytemuck::cast_slice::<f32, u32>(src);
                    int8::run(q, x, bytemuck::cast_slice_mut::<f32, i8>(dst));
                    if hands_out_f32(model, self.int8_window, i, end) {
                        int8::dequantize_in_place(dst, q.outputs, &q.output);
                    }
                }
                Op::ConvI8(_)
                | Op::ConvTransposeI8(_)
                | Op::PoolI8(_)
                | Op::UpsampleI8(_)
                | Op::RecurrentI8(_) => {
                    let (n, Some(quant)) = (op.inputs(), op.input_quant()) else {
                        continue; // unreachable: an int8 op has a quantization
                    };
                    let int8_input = i > start && ops.get(i - 1).is_some_and(Op::is_int8);
                    if i == 0 && self.int8_window {
                        // The window's bytes are already there.
                    } else if i == 0 {
                        let bytes = bytemuck::cast_slice_mut::<f32, i8>(src);
                        int8::quantize_into(&*self.input, &quant, bytes);
                    } else if !int8_input {
                        int8::quantize_in_place(src, n, &quant);
                    }
                    let x = bytemuck::cast_slice::<f32, i8>(src);
                    let x = x.get(..n).unwrap_or_default();
                    let column = bytemuck::cast_slice_mut::<f32, u32>(self.column);
                    let y = bytemuck::cast_slice_mut::<f32, i8>(dst);
                    match op {
                        Op::ConvI8(c) => conv_i8::run(c, x, column, y),
                        Op::ConvTransposeI8(c) => conv_i8::run_transpose(c, x, column, y),
                        Op::PoolI8(p) => pool::run_i8(&p.pool, x, y),
                        Op::UpsampleI8(u) => upsample::run(&u.upsample, x, y),
                        Op::RecurrentI8(r) => {
                            let state = bytemuck::cast_slice_mut::<f32, u32>(self.state);
                            recurrent_i8::run(r, x, y, state);
                        }
                        _ => {}
                    }
                    if let Some(out) = op.output_quant()
                        && hands_out_f32(model, self.int8_window, i, end)
                    {
                        int8::dequantize_in_place(dst, op.outputs(), &out);
                    }
                }
            }
        }
    }
}
