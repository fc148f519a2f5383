//! The streaming encoder of a [`crate::Stream`]: a recurrent encoder
//! advanced once per frame instead of once per window.
//!
//! **When.** A model qualifies when its encoder (ops `0..=codings_layer`)
//! is recurrent layers only ([`model_format::RecurrentOp`], LSTM or GRU),
//! each over the whole window (`T = window` steps; the first reads the
//! `channels` values of a frame, each later one the hidden state of the
//! one before), every one but the last with `sequences`, the last without
//! (sequence to vector: its last hidden state is the codings). An int8
//! recurrent encoder ([`model_format::RecurrentI8Op`]) does not qualify:
//! its stream scores each window on the windowed path, whose int8 kernel
//! (`ops::recurrent_i8`) runs the whole window at the window's end.
//!
//! **Why it is exact.** Step `t` of such an encoder needs only frame `t`
//! and the states left by step `t − 1`, so the encoder of a window can run
//! as its frames arrive. Windows start every `hop` frames, each from a
//! zero state, so up to `⌈window / hop⌉` windows are in flight at once
//! (every window that has started and not ended), each with its own
//! states: window `k` (frames `k·hop .. k·hop + window`) lives in slot
//! `k mod ⌈window / hop⌉`, free again by the time window `k + ⌈window/hop⌉`
//! starts. Every frame advances every window in flight by one step with
//! [`recurrent::step`], the very function the windowed kernel
//! ([`recurrent::run`]) calls for each step, with the same inputs (the
//! normalised frame as the ring holds it, zeroed when it held a bad
//! sample; an empty previous state at step 0; a zeroed cell state), so the
//! codings are the windowed ones bit for bit. The reset at step 0 is also
//! what keeps a fault from spreading: whatever a frame left in a slot
//! (saturated or NaN states from a huge sample) is dropped when the slot's
//! next window starts, so it reaches no window that does not hold the
//! frame (`crate::stream` module docs).
//!
//! **Memory.** Per slot, per encoder layer: the hidden state (`hidden`
//! words) and, for an LSTM, the cell state (`hidden` words); plus one
//! buffer of the widest layer's `hidden` words that a step writes before
//! its result replaces the hidden state it read; [`crate::Stream::scratch_len`]
//! includes it.
//!
//! **Cost** ([`StreamCosts`]). Nothing is saved in total: over a hop the
//! encoder does the multiply-accumulates the windowed path does once per
//! window (`window` steps of one window), as at most `⌈window / hop⌉`
//! steps per frame (`window / hop` on average). What changes is when: the
//! encoder's work is spread evenly over the frames, and at a window's end
//! only the decoder runs, so the latency from a window's last frame to
//! its score is the decoder's.
//!
//! No method here panics: sizes come from a validated model and the
//! qualification checks; slices are read through `get` and
//! `split_at_mut_checked`, and a short one computes less.

use model_format::{Model, Op, RecurrentOp};

use crate::ops::recurrent;

/// What a stream over a model costs, in multiply-accumulates with
/// weights (as [`Model::macs`] counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StreamCosts {
    /// True when the stream advances the encoder frame by frame.
    pub streaming: bool,
    /// Encoder windows in flight, `⌈window / hop⌉` (0 when not streaming).
    pub in_flight: usize,
    /// MACs run when a window ends on the windowed path: the whole model.
    pub window_end_windowed: usize,
    /// MACs run when a window ends on the path the stream takes: the
    /// decoder only when streaming, else the whole model.
    pub window_end: usize,
    /// MACs of one encoder step of one window (0 when not streaming).
    pub encoder_step: usize,
    /// Encoder MACs of one frame at most, `in_flight · encoder_step` (0
    /// when not streaming).
    pub frame_max: usize,
    /// Encoder MACs of one window, `window · encoder_step`: what the
    /// windowed path runs at each window's end, and what the streaming
    /// path runs over each hop (0 when not streaming).
    pub encoder_per_window: usize,
}

/// The recurrent encoder layers of `model`, when it qualifies for the
/// streaming encoder (module docs).
fn layers<'a, 'm>(
    model: &'a Model<'m>,
) -> Option<impl Iterator<Item = &'a RecurrentOp<'m>> + Clone> {
    let input = model.input();
    let window = input.window as usize;
    let last = model.codings_layer();
    let encoder = model.ops().get(..=last)?;
    let mut inputs = input.channels as usize;
    for (i, op) in encoder.iter().enumerate() {
        let Op::Recurrent(r) = op else {
            return None;
        };
        let shape_ok = r.input.h == 1 && r.steps() == window && r.step_inputs() == inputs;
        if !shape_ok || r.sequences == (i == last) || r.hidden == 0 {
            return None;
        }
        inputs = r.hidden;
    }
    Some(encoder.iter().filter_map(|op| match op {
        Op::Recurrent(r) => Some(r),
        _ => None,
    }))
}

/// True when `model` qualifies for the streaming encoder.
pub(crate) fn qualifies(model: &Model<'_>) -> bool {
    layers(model).is_some()
}

/// Encoder windows in flight at once, `⌈window / hop⌉`.
fn slots(model: &Model<'_>) -> usize {
    let input = model.input();
    (input.window as usize).div_ceil((input.hop as usize).max(1))
}

/// Words of one slot: per layer, the cell state then the hidden state.
fn slot_words(model: &Model<'_>) -> usize {
    layers(model).map_or(0, |ls| {
        ls.map(|r| recurrent::cell_words(r) + r.hidden).sum()
    })
}

/// Words of the step buffer: the widest layer's `hidden`.
fn step_words(model: &Model<'_>) -> usize {
    layers(model).map_or(0, |ls| ls.map(|r| r.hidden).max().unwrap_or(0))
}

/// Words of scratch the streaming encoder of `model` needs: `⌈window /
/// hop⌉` slots of states and the step buffer; 0 when it does not qualify.
pub(crate) fn state_len(model: &Model<'_>) -> usize {
    if !qualifies(model) {
        return 0;
    }
    slots(model) * slot_words(model) + step_words(model)
}

/// The costs of a stream over `model` (see [`StreamCosts`]), streaming
/// when `streaming` and the model qualifies.
pub(crate) fn costs(model: &Model<'_>, streaming: bool) -> StreamCosts {
    let whole = model.macs();
    let encoder = match layers(model) {
        Some(ls) if streaming => ls,
        _ => {
            return StreamCosts {
                streaming: false,
                in_flight: 0,
                window_end_windowed: whole,
                window_end: whole,
                encoder_step: 0,
                frame_max: 0,
                encoder_per_window: 0,
            };
        }
    };
    let step: usize = encoder
        .map(|r| r.rows() * (r.step_inputs() + r.hidden))
        .sum();
    let decoder: usize = model
        .ops()
        .iter()
        .skip(model.codings_layer() + 1)
        .map(Op::macs)
        .sum();
    let in_flight = slots(model);
    StreamCosts {
        streaming: true,
        in_flight,
        window_end_windowed: whole,
        window_end: decoder,
        encoder_step: step,
        frame_max: in_flight * step,
        encoder_per_window: model.input().window as usize * step,
    }
}

/// The in-flight encoder states of a stream, in the caller's scratch.
#[derive(Debug)]
pub(crate) struct StreamingEncoder<'s> {
    /// `slots` slots of `slot` words.
    states: &'s mut [f32],
    /// Where a step writes its new hidden state.
    step: &'s mut [f32],
    slot: usize,
    slots: u64,
    window: u64,
    hop: u64,
}

impl<'s> StreamingEncoder<'s> {
    /// The encoder of `model` in `scratch` (at least [`state_len`] words),
    /// or `None` when the model does not qualify or `scratch` is short.
    pub(crate) fn new(model: &Model<'_>, scratch: &'s mut [f32]) -> Option<Self> {
        if !qualifies(model) {
            return None;
        }
        let (slot, slots) = (slot_words(model), slots(model));
        let (states, rest) = scratch.split_at_mut_checked(slot * slots)?;
        let (step, _) = rest.split_at_mut_checked(step_words(model))?;
        let input = model.input();
        Some(StreamingEncoder {
            states,
            step,
            slot,
            slots: slots as u64,
            window: u64::from(input.window),
            hop: u64::from(input.hop).max(1),
        })
    }

    /// Frame `frame` of the stream (normalised, `x`) advances every window
    /// that contains it by one step.
    pub(crate) fn advance(&mut self, model: &Model<'_>, frame: u64, x: &[f32]) {
        // Windows k with k·hop ≤ frame < k·hop + window.
        let first = (frame + 1).saturating_sub(self.window).div_ceil(self.hop);
        let last = frame / self.hop;
        let Some(layers) = layers(model) else {
            return; // unreachable: `new` checked
        };
        for k in first..=last {
            let t = frame - k * self.hop;
            let slot = (k % self.slots) as usize;
            let start = slot * self.slot;
            let Some(state) = self.states.get_mut(start..start + self.slot) else {
                return; // unreachable: `slot < slots`
            };
            step_window(layers.clone(), state, &mut *self.step, t == 0, x);
        }
    }

    /// The codings of window `k` (frames `k·hop .. k·hop + window`), valid
    /// once its last frame was advanced and until window `k + ⌈window /
    /// hop⌉` starts: the last layer's hidden state, at the end of its slot.
    pub(crate) fn codings(&self, k: u64, len: usize) -> &[f32] {
        let end = ((k % self.slots) as usize + 1) * self.slot;
        self.states
            .get(end.saturating_sub(len)..end)
            .unwrap_or_default()
    }
}

/// One step of every layer of one window: `state` holds each layer's cell
/// state then hidden state; `first` starts from the zero state.
fn step_window<'a, 'm: 'a>(
    layers: impl Iterator<Item = &'a RecurrentOp<'m>>,
    state: &mut [f32],
    step: &mut [f32],
    first: bool,
    x: &[f32],
) {
    let mut rest = state;
    let mut input = x;
    for r in layers {
        let Some((c, tail)) =
            core::mem::take(&mut rest).split_at_mut_checked(recurrent::cell_words(r))
        else {
            return;
        };
        let Some((h, tail)) = tail.split_at_mut_checked(r.hidden) else {
            return;
        };
        rest = tail;
        let Some(out) = step.get_mut(..r.hidden) else {
            return;
        };
        if first {
            c.fill(0.0);
            recurrent::step(r, input, &[], c, out);
        } else {
            recurrent::step(r, input, h, c, out);
        }
        h.copy_from_slice(out);
        input = h;
    }
}
