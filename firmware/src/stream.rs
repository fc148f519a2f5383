//! [`Stream`]: sensor frames in, scored windows out.
//!
//! Frames of `channels` samples arrive one at a time (or as chunks of any
//! number of samples). Each sample is normalised with the model's
//! statistics into a fixed-capacity ring of the last `window` frames; every
//! `hop` frames, once `window` frames have arrived, the window is copied
//! out of the ring (oldest frame first), run through the engine, and its
//! reconstruction error goes to the [`Scorer`].
//!
//! For a classifier model (kind classifier) the window's score is
//! `1 − confidence` of its class ([`crate::classify()`]), and
//! [`Stream::last_class`] gives the class itself.
//!
//! Windows end at frames `window`, `window + hop`, `window + 2·hop`, … of
//! the stream, which are the windows the host cuts from a file
//! (`start = k·hop`), so the two agree window for window.
//!
//! A frame holding a NaN or infinite sample (or one that overflows when
//! normalised) is reported as a [`SampleFault`] and is not fed to the
//! model: its slot in the ring is zeroed and every window that contains it
//! is reported with [`WindowFault::BadSample`] instead of a score. The
//! smoothed score and alarm are untouched, so a fault does not poison the
//! scores after it. A finite sample is data, however large: it is fed to
//! the model, and a window whose error comes out non-finite is reported
//! with [`WindowFault::Overflow`] (1e30 is one: normalised, its square in
//! the MSE overflows f32, as any `|v| > √f32::MAX ≈ 1.8·10¹⁹` does).
//!
//! **No state outlives its windows.** Nothing computed for one window is
//! read for the next: each window's encoder, recurrent ones included,
//! starts from the zero state at the window's first frame, on both paths.
//! So a bad frame (fed zeroed) or a huge one (which saturates the gates of
//! the windows that hold it, or makes their states NaN if a sum
//! overflows) cannot reach a later window: from the first window that
//! starts after it, the scores are those of a fresh `Stream` started at
//! that frame, bit for bit (tests/stream_hygiene.rs). Only the smoothed
//! score and the alarm carry over, and a faulted window leaves them as
//! they were.
//!
//! Memory: no allocation. The ring lives in the caller's scratch slice
//! after the engine's part ([`Stream::scratch_len`]).
//!
//! **Scored in int8.** For a model whose first and last layers are int8
//! (an autoencoder, [`crate::int8_window`]), each normalised sample is
//! quantized as it arrives with the first layer's input quantization, so
//! the ring holds one byte per value; at a window's end its bytes are
//! copied into the engine, which keeps no window of its own
//! ([`ScratchPlan::for_stream`]), and the error is computed from the
//! quantized window and the int8 reconstruction
//! ([`crate::scoring::window_error_i8`], SPEC.md 3.5). A finite sample
//! outside the input's quantization range saturates there: its window is
//! scored, with a finite error, where the f32 path of a huge sample could
//! report an overflow.
//!
//! **Streaming encoder.** [`Stream::new`] picks it by itself when the
//! model qualifies: an encoder of recurrent layers only (LSTM, GRU), each
//! over the whole window, the last one sequence to vector (the
//! [`crate::streaming`] module docs give the exact rule). Then every frame
//! advances the encoder of each of the `⌈window / hop⌉` windows in flight
//! by one step, and when a window ends only the decoder runs, on that
//! window's codings; the score is the reconstruction error against the
//! window from the ring, as before. The steps are those of the windowed
//! kernel (the same function, the same inputs: a faulty frame is fed
//! zeroed, as the ring holds it), so the scores are the windowed ones bit
//! for bit, and the fault reports are unchanged. What it saves is latency,
//! not work: the encoder does the same multiply-accumulates per hop as the
//! windowed path does per window, but spread evenly over the frames, and
//! the work at a window's end is the decoder only ([`Stream::costs`]).
//! It costs RAM: the in-flight states, `⌈window / hop⌉ · Σ (hidden + cell
//! state)` words plus one step buffer of the widest layer, which
//! [`Stream::scratch_len`] includes. [`Stream::windowed`] forces the
//! windowed path (and [`Stream::windowed_scratch_len`] is its scratch);
//! any other model always takes it.

use model_format::{Model, Quant};

use crate::ops::int8::{dequantize, quantize, reciprocal};
use crate::scoring::{Scorer, Thresholds, Verdict, window_error, window_error_i8};
use crate::streaming::{self, StreamCosts, StreamingEncoder};
use crate::{Engine, ScratchPlan, ScratchTooSmall};

/// A sample that could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SampleFault {
    /// Index of the frame in the stream (0-based).
    pub frame: u64,
    /// The first channel of the frame whose sample was NaN, infinite, or
    /// overflowed when normalised.
    pub channel: u32,
}

/// Why a window has no score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WindowFault {
    /// The window contains a faulty frame (the latest one is given).
    BadSample {
        /// Index of the latest faulty frame in the window.
        frame: u64,
    },
    /// The reconstruction error overflowed: the inputs are finite but so
    /// far outside the training range that f32 arithmetic gave up.
    Overflow,
}

/// One window of the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WindowReport {
    /// First frame of the window.
    pub start: u64,
    /// One past its last frame.
    pub end: u64,
    /// Reconstruction error (NaN when `fault` is set).
    pub score: f32,
    /// Smoothed score, alarm state and change after this window. When
    /// `fault` is set the scorer was not fed: this is its state before the
    /// window (smoothed is NaN if nothing was scored yet).
    pub verdict: Verdict,
    /// Why the window was not scored.
    pub fault: Option<WindowFault>,
}

/// Something the stream reports.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// A frame held an unusable sample.
    Fault(SampleFault),
    /// A window ended.
    Window(WindowReport),
}

/// What [`Stream::push_frame`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameResult {
    /// Set when the frame held an unusable sample.
    pub fault: Option<SampleFault>,
    /// Set when the frame ended a window.
    pub window: Option<WindowReport>,
}

/// A frame of the wrong length, or a frame given while a chunk left a
/// partial frame behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameError {
    /// Samples a frame must have.
    pub expected: u32,
    /// Samples given.
    pub found: u32,
    /// Samples of a partial frame already buffered by
    /// [`Stream::push_samples`] (a frame must then be completed with
    /// `push_samples`).
    pub pending: u32,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.pending > 0 {
            write!(
                f,
                "{} samples of a partial frame are pending; complete it with push_samples",
                self.pending
            )
        } else {
            write!(
                f,
                "a frame has {} samples, {} were given",
                self.expected, self.found
            )
        }
    }
}

impl core::error::Error for FrameError {}

/// A model streaming over frames: ring, engine and scorer.
#[derive(Debug)]
pub struct Stream<'m, 's> {
    engine: Engine<'m, 's>,
    ring: &'s mut [f32],
    scorer: Scorer,
    channels: usize,
    window: u64,
    hop: u64,
    /// Where the next sample goes in the ring.
    head: usize,
    /// Samples of the current frame written so far.
    partial: usize,
    /// Frames completed.
    frames: u64,
    /// Frame count at which the next window ends.
    next_end: u64,
    /// The latest frame that held a bad sample.
    last_fault: Option<u64>,
    /// The in-flight encoder states, when streaming.
    encoder: Option<StreamingEncoder<'s>>,
    /// The first channel of the current frame that was not finite once
    /// normalised.
    bad_channel: Option<usize>,
    /// For a model scored in int8: the quantizations of the window and of
    /// the reconstruction (the ring holds int8 bytes).
    int8: Option<(Quant, Quant)>,
}

/// Words of the ring of one window for `model`: a byte per value when it
/// is scored in int8, else a word.
fn ring_words(model: &Model<'_>) -> usize {
    match crate::int8_window(model) {
        Some(_) => model.input_len().div_ceil(4),
        None => model.input_len(),
    }
}

/// Copies the common prefix of `src` into `dst` (the lengths are equal
/// here; this form has no panic path).
fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len().min(src.len());
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
}

/// The first `n` values of a ring that holds int8 bytes.
fn ring_bytes(ring: &[f32], n: usize) -> &[i8] {
    bytemuck::cast_slice::<f32, i8>(ring)
        .get(..n)
        .unwrap_or_default()
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'m, 's> Stream<'m, 's> {
    /// f32 slots of scratch [`Stream::new`] needs for `model`: the
    /// engine's ([`ScratchPlan`]), the ring (one window) and, when the
    /// model qualifies for the streaming encoder, its in-flight states.
    pub fn scratch_len(model: &Model<'_>) -> usize {
        Stream::windowed_scratch_len(model) + streaming::state_len(model)
    }

    /// f32 slots of scratch [`Stream::windowed`] needs for `model`: the
    /// engine's ([`ScratchPlan::for_stream`]) plus the ring (one window:
    /// a word per value, or a byte per value for a model scored in int8).
    pub fn windowed_scratch_len(model: &Model<'_>) -> usize {
        ScratchPlan::for_stream(model).total() + ring_words(model)
    }

    /// What a stream over `model` as [`Stream::new`] runs it costs per
    /// window end and per frame (see [`StreamCosts`]).
    pub fn costs(model: &Model<'_>) -> StreamCosts {
        streaming::costs(model, true)
    }

    /// Binds `model` to `scratch` (at least [`Stream::scratch_len`] values)
    /// with the model's thresholds; the ring starts empty. Uses the
    /// streaming encoder when the model qualifies (module docs).
    pub fn new(model: &'m Model<'m>, scratch: &'s mut [f32]) -> Result<Self, ScratchTooSmall> {
        Stream::bind(model, scratch, streaming::qualifies(model))
    }

    /// As [`Stream::new`], but always on the windowed path (the whole
    /// model runs at each window's end), in [`Stream::windowed_scratch_len`]
    /// values.
    pub fn windowed(model: &'m Model<'m>, scratch: &'s mut [f32]) -> Result<Self, ScratchTooSmall> {
        Stream::bind(model, scratch, false)
    }

    /// True when the stream advances a streaming encoder frame by frame.
    pub fn is_streaming(&self) -> bool {
        self.encoder.is_some()
    }

    fn bind(
        model: &'m Model<'m>,
        scratch: &'s mut [f32],
        stream_encoder: bool,
    ) -> Result<Self, ScratchTooSmall> {
        let needed = if stream_encoder {
            Stream::scratch_len(model)
        } else {
            Stream::windowed_scratch_len(model)
        };
        let given = scratch.len();
        let too_small = ScratchTooSmall { needed, given };
        if given < needed {
            return Err(too_small);
        }
        let engine_len = ScratchPlan::for_stream(model).total();
        let (engine_part, rest) = scratch.split_at_mut_checked(engine_len).ok_or(too_small)?;
        let (ring, rest) = rest
            .split_at_mut_checked(ring_words(model))
            .ok_or(too_small)?;
        let encoder = if stream_encoder {
            Some(StreamingEncoder::new(model, rest).ok_or(too_small)?)
        } else {
            None
        };
        let input = model.input();
        let window = u64::from(input.window);
        let mut stream = Stream {
            engine: Engine::for_stream(model, engine_part)?,
            ring,
            scorer: Scorer::new(model.scoring()),
            channels: input.channels as usize,
            window,
            hop: u64::from(input.hop),
            head: 0,
            partial: 0,
            frames: 0,
            next_end: window,
            last_fault: None,
            encoder,
            bad_channel: None,
            int8: crate::int8_window(model),
        };
        stream.clear_ring();
        Ok(stream)
    }

    /// True when the stream scores in int8 (module docs).
    pub fn scores_int8(&self) -> bool {
        self.int8.is_some()
    }

    /// Sets every value of the ring to a normalised 0 (0.0, or the input
    /// zero point when scored in int8).
    fn clear_ring(&mut self) {
        match self.int8 {
            Some((q, _)) => bytemuck::cast_slice_mut::<f32, i8>(self.ring).fill(q.zero_point),
            None => self.ring.fill(0.0),
        }
    }

    /// Zeroes the frame that starts at value `start` of the ring (a faulty
    /// frame).
    fn zero_frame(&mut self, start: usize) {
        let end = start + self.channels;
        match self.int8 {
            Some((q, _)) => {
                let bytes = bytemuck::cast_slice_mut::<f32, i8>(self.ring);
                if let Some(slot) = bytes.get_mut(start..end) {
                    slot.fill(q.zero_point);
                }
            }
            None => {
                if let Some(slot) = self.ring.get_mut(start..end) {
                    slot.fill(0.0);
                }
            }
        }
    }

    /// The model.
    pub fn model(&self) -> &'m Model<'m> {
        self.engine.model()
    }

    /// The scorer (thresholds, smoothed score, alarm).
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }

    /// Replaces the thresholds, e.g. with those of a [`crate::Calibrator`]
    /// fed with this stream's window scores.
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.scorer.set_thresholds(thresholds);
    }

    /// Frames completed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The last window fed to the model (normalised), and its
    /// reconstruction, valid after a scored [`WindowReport`] until the next
    /// window. Both are empty for a stream scored in int8, which holds
    /// neither in f32: see [`Stream::last_reconstruction`].
    pub fn last_window(&self) -> (&[f32], &[f32]) {
        if self.int8.is_some() {
            return (&[], &[]);
        }
        self.engine.last_reconstruction()
    }

    /// The reconstruction of the last window (normalised; dequantized,
    /// `(q − zero_point) · scale`, when scored in int8), valid after a
    /// scored [`WindowReport`] until the next window.
    pub fn last_reconstruction(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        let f32s = self.last_window().1;
        let int8 = self.engine.last_i8();
        let quant = self.int8.map(|(_, out)| out);
        (0..f32s.len().max(int8.len())).map(move |i| match (quant, int8.get(i)) {
            (Some(q), Some(&v)) => dequantize(v, &q),
            _ => f32s.get(i).copied().unwrap_or(0.0),
        })
    }

    /// The class of the last window a classifier model ran
    /// ([`crate::classify()`] of its logits; read it right after the
    /// window's [`Event::Window`], whose fault says whether the model ran);
    /// `None` when a logit is not finite, or for an autoencoder.
    pub fn last_class(&self) -> Option<crate::Classification> {
        self.model().classes()?;
        crate::classify(self.engine.last_reconstruction().1)
    }

    /// The codings of the last window fed to the model (runs the encoder
    /// again on it; overwrites the reconstruction). A stream scored in
    /// int8 reads that window from its ring again: call it before the next
    /// frame.
    pub fn encode_last(&mut self) -> &[f32] {
        if self.int8.is_some() {
            self.load_window();
        }
        self.engine.encode()
    }

    /// Forgets the ring, the partial frame, the smoothed score and the
    /// alarm; frame numbering starts again at 0. Thresholds are kept.
    pub fn reset(&mut self) {
        self.clear_ring();
        self.bad_channel = None;
        self.head = 0;
        self.partial = 0;
        self.frames = 0;
        self.next_end = self.window;
        self.last_fault = None;
        self.scorer.reset();
    }

    /// Pushes exactly one frame (`channels` samples).
    pub fn push_frame(&mut self, frame: &[f32]) -> Result<FrameResult, FrameError> {
        if frame.len() != self.channels || self.partial != 0 {
            return Err(FrameError {
                expected: u32_of(self.channels),
                found: u32_of(frame.len()),
                pending: u32_of(self.partial),
            });
        }
        let mut result = FrameResult::default();
        self.push_samples(frame, |e| match e {
            Event::Fault(f) => result.fault = Some(f),
            Event::Window(w) => result.window = Some(w),
        });
        Ok(result)
    }

    /// Pushes any number of samples: whole frames, part of one, or many.
    /// A partial frame is kept until later samples complete it. Events are
    /// handed to `on_event` in stream order (for a frame, its fault before
    /// its window). The results do not depend on how the stream is cut
    /// into calls.
    pub fn push_samples(&mut self, samples: &[f32], mut on_event: impl FnMut(Event)) {
        let input = self.engine.model().input();
        let (mean, scale) = (input.mean.chunks(), input.scale.chunks());
        let int8 = self.int8.map(|(q, _)| (reciprocal(&q), q.zero_point));
        let mut rest = samples;
        while !rest.is_empty() {
            // The samples up to the end of the current frame, in one pass.
            let c0 = self.partial;
            let take = self.channels.saturating_sub(c0).max(1).min(rest.len());
            let (run, tail) = rest.split_at(take);
            rest = tail;
            let at = self.head + c0;
            let bad = match int8 {
                Some((inv, zp)) => {
                    let bytes = bytemuck::cast_slice_mut::<f32, i8>(self.ring);
                    let slots = bytes.get_mut(at..).unwrap_or_default();
                    // The x86-64 kernel's values (eight at a time, up to a
                    // group with a fault), then the rest here.
                    #[cfg(edgeae_x86)]
                    let done = crate::ops::Simd::current().map_or(0, |simd| {
                        let (m, s) = (mean.get(c0..), scale.get(c0..));
                        let (m, s) = (m.unwrap_or_default(), s.unwrap_or_default());
                        simd.quantize_i8(run, m, s, inv, zp, slots)
                    });
                    #[cfg(not(edgeae_x86))]
                    let done = 0;
                    let (run, slots) = (
                        run.get(done..).unwrap_or_default(),
                        slots.get_mut(done..).unwrap_or_default(),
                    );
                    normalise(run, c0 + done, mean, scale, slots, |v| quantize(v, inv, zp))
                }
                None => {
                    let slots = self.ring.get_mut(at..).unwrap_or_default();
                    normalise(run, c0, mean, scale, slots, |v| v)
                }
            };
            if self.bad_channel.is_none() {
                self.bad_channel = bad;
            }
            self.partial += take;
            if self.partial == self.channels {
                self.partial = 0;
                self.end_frame(&mut on_event);
            }
        }
    }

    /// The frame at `head` is complete: check it, advance, maybe score.
    fn end_frame(&mut self, on_event: &mut impl FnMut(Event)) {
        let frame_index = self.frames;
        if let Some(channel) = self.bad_channel.take() {
            self.zero_frame(self.head);
            self.last_fault = Some(frame_index);
            on_event(Event::Fault(SampleFault {
                frame: frame_index,
                channel: u32_of(channel),
            }));
        }
        if let Some(encoder) = self.encoder.as_mut() {
            // The frame as the ring holds it (zeroed if faulty), as the
            // windowed path reads it.
            let frame = self
                .ring
                .get(self.head..self.head + self.channels)
                .unwrap_or_default();
            encoder.advance(self.engine.model(), frame_index, frame);
        }
        self.head += self.channels;
        if self.head >= self.engine.model().input_len() {
            self.head = 0;
        }
        self.frames += 1;
        if self.frames == self.next_end {
            self.next_end += self.hop;
            let report = self.score_window();
            on_event(Event::Window(report));
        }
    }

    fn score_window(&mut self) -> WindowReport {
        let end = self.frames;
        let start = end - self.window;
        let before = Verdict {
            smoothed: self.scorer.smoothed().unwrap_or(f32::NAN),
            alarm: self.scorer.alarm(),
            change: None,
        };
        let faulted = |fault| WindowReport {
            start,
            end,
            score: f32::NAN,
            verdict: before,
            fault: Some(fault),
        };
        if let Some(frame) = self.last_fault.filter(|&f| f >= start) {
            return faulted(WindowFault::BadSample { frame });
        }
        let model = self.engine.model();
        if let Some((in_q, out_q)) = self.int8 {
            self.load_window();
            let y = self.engine.reconstruct_i8();
            let ring = ring_bytes(self.ring, model.input_len());
            let (newer, older) = ring.split_at(self.head.min(ring.len()));
            let x = older.iter().chain(newer).copied();
            let metric = &model.scoring().metric;
            let score = window_error_i8(metric, self.channels, x, &in_q, y, &out_q);
            return self.report(start, end, score, before);
        }
        // Oldest frame first: the ring from `head` to its end, then from 0.
        let (newer, older) = self.ring.split_at(self.head);
        let input = self.engine.input_mut();
        let (a, b) = input.split_at_mut(older.len().min(input.len()));
        copy(a, older);
        copy(b, newer);
        let channels = self.channels;
        let (x, y) = match self.encoder.as_ref() {
            Some(encoder) => {
                let codings = encoder.codings(start / self.hop, model.codings_len());
                copy(self.engine.codings_mut(), codings);
                self.engine.decode();
                self.engine.last_reconstruction()
            }
            None => self.engine.reconstruct(),
        };
        // A classifier's score is the probability it gives the other
        // classes (SPEC.md, "Classify"); NaN (an overflow fault) when a
        // logit is not finite.
        let score = match model.classes() {
            Some(_) => crate::classify(y).map_or(f32::NAN, |c| 1.0 - c.confidence),
            None => window_error(&model.scoring().metric, channels, x, y),
        };
        self.report(start, end, score, before)
    }

    /// The report of window `start..end` with error `score` (an overflow
    /// fault when it is not finite; `before`: the scorer's state).
    fn report(&mut self, start: u64, end: u64, score: f32, before: Verdict) -> WindowReport {
        match self.scorer.update(score) {
            Some(verdict) => WindowReport {
                start,
                end,
                score,
                verdict,
                fault: None,
            },
            None => WindowReport {
                start,
                end,
                score: f32::NAN,
                verdict: before,
                fault: Some(WindowFault::Overflow),
            },
        }
    }

    /// Copies the window in the ring, oldest frame first, into the engine
    /// (a stream scored in int8).
    fn load_window(&mut self) {
        let ring = ring_bytes(self.ring, self.engine.model().input_len());
        let (newer, older) = ring.split_at(self.head.min(ring.len()));
        let window = self.engine.window_i8_mut();
        let (a, b) = window.split_at_mut(older.len().min(window.len()));
        copy(a, older);
        copy(b, newer);
    }
}

/// Normalises the samples `run` of channels `c0..` of a frame (`(x −
/// mean[c]) · scale[c]`, a missing mean 0 and scale 1) into the first
/// slots of `slots` through `store`; the channel of the first non-finite
/// value, if any.
#[inline(always)]
fn normalise<T>(
    run: &[f32],
    c0: usize,
    mean: &[[u8; 4]],
    scale: &[[u8; 4]],
    slots: &mut [T],
    store: impl Fn(f32) -> T,
) -> Option<usize> {
    let mean = mean.get(c0..).unwrap_or_default().iter();
    let mean = mean
        .map(|b| f32::from_le_bytes(*b))
        .chain(core::iter::repeat(0.0));
    let scale = scale.get(c0..).unwrap_or_default().iter();
    let scale = scale
        .map(|b| f32::from_le_bytes(*b))
        .chain(core::iter::repeat(1.0));
    let mut bad = None;
    let mut slots = slots.iter_mut();
    let runs = run.iter().zip(mean).zip(scale);
    for (c, ((x, m), s)) in (c0..).zip(runs) {
        let v = (x - m) * s;
        if !v.is_finite() && bad.is_none() {
            bad = Some(c);
        }
        if let Some(slot) = slots.next() {
            *slot = store(v);
        }
    }
    bad
}
