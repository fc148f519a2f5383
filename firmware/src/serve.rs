//! [`Server`]: the board application, independent of the board. Bytes from
//! a serial line go in one at a time; COBS frames of
//! [`model_format::protocol`] responses come out through a callback. Every
//! board crate is a thin loop around it (read a byte, `feed` it, write what
//! comes out), so the code that the QEMU board runs in CI is the code a real
//! board runs.
//!
//! A frame that does not decode is dropped and counted; a frame longer than
//! [`MAX_FRAME`] is dropped (up to its terminating `0`) and counted; neither
//! stops the server.

use model_format::protocol::{
    self, Counters, ErrorCode, Info, MAX_FRAME, MAX_SAMPLES, Mode, Request, Response, Score,
};
use model_format::{F32s, FormatError, Model};

use crate::scoring::{Calibrator, Thresholds};
use crate::stream::Event;
use crate::{ScratchTooSmall, Stream};

/// Windows a board can collect for an on-device calibration.
pub const CALIBRATION_WINDOWS: usize = 512;

/// Bytes of the transmit buffer: the largest response frame.
const TX: usize = MAX_FRAME + 8;

/// An instruction (or cycle) counter, read around each window. Boards that
/// cannot count use [`NoClock`].
pub trait Clock {
    /// A free-running count; differences are taken with wrapping arithmetic.
    fn now(&mut self) -> u32;
}

/// A clock that always reads 0 (the cost is reported as 0: unknown).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClock;

impl Clock for NoClock {
    fn now(&mut self) -> u32 {
        0
    }
}

/// Shortest run of erased bytes at the end of a model that makes a
/// checksum failure read as a truncated model.
const ERASED_RUN: usize = 16;

/// What is wrong with a model region that failed to load: the code of
/// `e`, except that a checksum failure whose stated extent ends in a run of
/// erased flash (all `0x00` or all `0xFF`) is a model that was cut short
/// when it was written (the detail is where the erased run starts).
pub fn classify(e: &FormatError, region: &[u8]) -> (ErrorCode, u32) {
    let code = ErrorCode::of_model(e);
    match e {
        FormatError::UnsupportedVersion { found, .. } => (code, u32::from(*found)),
        FormatError::Truncated { needed, .. } => (code, *needed),
        FormatError::ChecksumMismatch { .. } => {
            let stated = model_format::Header::parse(region)
                .ok()
                .and_then(|h| usize::try_from(h.file_len()).ok())
                .and_then(|n| region.get(..n));
            let Some(model) = stated else {
                return (code, 0);
            };
            let last = model.last().copied().unwrap_or(1);
            let run = model.iter().rev().take_while(|&&b| b == last).count();
            if (last == 0x00 || last == 0xff) && run >= ERASED_RUN {
                let end = model.len() - run;
                (
                    ErrorCode::ModelTruncated,
                    u32::try_from(end).unwrap_or(u32::MAX),
                )
            } else {
                (code, 0)
            }
        }
        _ => (code, 0),
    }
}

/// The frame a board sends when its model region does not hold a usable
/// model ([`classify`]), and the code it exits with; encoded into `buf`.
pub fn model_error<'b>(e: &FormatError, region: &[u8], buf: &'b mut [u8]) -> (ErrorCode, &'b [u8]) {
    let (code, detail) = classify(e, region);
    let frame = protocol::encode_frame(&Response::Error { code, detail }, buf);
    (code, frame.map_or(&[][..], |f| &*f))
}

/// The board application: a [`Stream`] behind the wire protocol.
#[derive(Debug)]
pub struct Server<'m, 's> {
    stream: Stream<'m, 's>,
    rx: [u8; MAX_FRAME],
    rx_len: usize,
    /// The frame being received is too long: drop bytes up to its `0`.
    overflow: bool,
    tx: [u8; TX],
    counters: Counters,
    mode: Mode,
    /// Windows still to collect, and the collector.
    calibration: Option<(u32, Calibrator<CALIBRATION_WINDOWS>)>,
    instructions: u32,
}

impl<'m, 's> Server<'m, 's> {
    /// Binds the model to `scratch` ([`Stream::scratch_len`] values).
    pub fn new(model: &'m Model<'m>, scratch: &'s mut [f32]) -> Result<Self, ScratchTooSmall> {
        Ok(Server {
            stream: Stream::new(model, scratch)?,
            rx: [0; MAX_FRAME],
            rx_len: 0,
            overflow: false,
            tx: [0; TX],
            counters: Counters::default(),
            mode: Mode::Score,
            calibration: None,
            instructions: 0,
        })
    }

    /// What the server runs and has received.
    pub fn info(&self) -> Info {
        let model = self.stream.model();
        let input = model.input();
        let t = self.stream.scorer().thresholds();
        Info {
            protocol: protocol::PROTOCOL_VERSION,
            format_version: model.header().version,
            model_bytes: u32::try_from(model.file_len()).unwrap_or(u32::MAX),
            kind: model.kind(),
            channels: input.channels,
            window: input.window,
            hop: input.hop,
            codings: u32::try_from(model.codings_len()).unwrap_or(u32::MAX),
            threshold: t.threshold,
            clear_threshold: t.clear_threshold,
            scratch_bytes: u32::try_from(Stream::scratch_len(model) * 4).unwrap_or(u32::MAX),
            frames: u32::try_from(self.stream.frames()).unwrap_or(u32::MAX),
            instructions_per_window: self.instructions,
            counters: self.counters,
        }
    }

    /// What was received so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Sends [`Response::Info`] (what a board does at start-up).
    pub fn hello(&mut self, send: &mut impl FnMut(&[u8])) {
        let info = self.info();
        self.send(&Response::Info(info), send);
    }

    /// Takes one byte from the line; a complete frame is handled and its
    /// responses are handed to `send`, one frame per call. Returns the exit
    /// code when the frame was [`Request::Exit`].
    pub fn feed(
        &mut self,
        byte: u8,
        clock: &mut impl Clock,
        send: &mut impl FnMut(&[u8]),
    ) -> Option<u8> {
        if byte != 0 {
            if self.overflow {
                return None;
            }
            match self.rx.get_mut(self.rx_len) {
                Some(slot) => {
                    *slot = byte;
                    self.rx_len += 1;
                }
                None => {
                    self.overflow = true;
                    self.counters.oversized = self.counters.oversized.wrapping_add(1);
                }
            }
            return None;
        }
        let len = core::mem::take(&mut self.rx_len);
        if core::mem::take(&mut self.overflow) || len == 0 {
            return None;
        }
        let mut frame = [0u8; MAX_FRAME];
        let (dst, src) = frame.get_mut(..len).zip(self.rx.get(..len))?;
        dst.copy_from_slice(src);
        match protocol::decode_frame::<Request<'_>>(dst) {
            Some(Request::Exit { code }) => {
                self.counters.frames = self.counters.frames.wrapping_add(1);
                Some(code)
            }
            Some(req) => {
                self.counters.frames = self.counters.frames.wrapping_add(1);
                self.handle(req, clock, send);
                None
            }
            None => {
                self.counters.bad_frames = self.counters.bad_frames.wrapping_add(1);
                None
            }
        }
    }

    fn send(&mut self, msg: &Response<'_>, send: &mut impl FnMut(&[u8])) {
        if let Some(frame) = protocol::encode_frame(msg, &mut self.tx) {
            send(frame);
        }
    }

    fn error(&mut self, code: ErrorCode, detail: u32, send: &mut impl FnMut(&[u8])) {
        self.send(&Response::Error { code, detail }, send);
    }

    fn handle(&mut self, req: Request<'_>, clock: &mut impl Clock, send: &mut impl FnMut(&[u8])) {
        match req {
            Request::Query => self.hello(send),
            Request::Reset => {
                self.stream.reset();
                self.calibration = None;
                self.hello(send);
            }
            Request::SetMode(mode) => {
                // Classes come from a classifier only, and a classifier's
                // output is no window to denoise.
                let classifier = self.stream.model().classes().is_some();
                let fits = match mode {
                    Mode::Classify => classifier,
                    Mode::Denoise => !classifier,
                    Mode::Score | Mode::Encode => true,
                };
                if fits {
                    self.mode = mode;
                } else {
                    self.error(ErrorCode::WrongMode, mode as u32, send);
                }
            }
            Request::Calibrate {
                windows,
                quantile,
                hysteresis,
            } => {
                if windows == 0 || windows as usize > CALIBRATION_WINDOWS {
                    self.error(ErrorCode::Unsupported, windows, send);
                } else {
                    self.calibration = Some((windows, Calibrator::new(quantile, hysteresis)));
                }
            }
            Request::Samples { seq, values } => self.samples(seq, values, clock, send),
            Request::Exit { .. } => {}
        }
    }

    fn samples(
        &mut self,
        seq: u32,
        values: F32s<'_>,
        clock: &mut impl Clock,
        send: &mut impl FnMut(&[u8]),
    ) {
        if values.len() > MAX_SAMPLES {
            self.error(
                ErrorCode::TooManySamples,
                u32::try_from(values.len()).unwrap_or(u32::MAX),
                send,
            );
            return;
        }
        for x in values.iter() {
            // One sample at a time, so the window it completes can be
            // timed and its reconstruction read back before the next.
            let mut events: heapless::Vec<Event, 2> = heapless::Vec::new();
            let t0 = clock.now();
            self.stream.push_samples(&[x], |e| {
                let _ = events.push(e);
            });
            let spent = clock.now().wrapping_sub(t0);
            self.counters.samples = self.counters.samples.wrapping_add(1);
            for e in events {
                self.event(seq, e, spent, send);
            }
        }
    }

    fn event(&mut self, seq: u32, e: Event, spent: u32, send: &mut impl FnMut(&[u8])) {
        let w = match e {
            Event::Fault(f) => {
                self.counters.faults = self.counters.faults.wrapping_add(1);
                let msg = Response::Fault {
                    seq,
                    frame: u32::try_from(f.frame).unwrap_or(u32::MAX),
                    channel: f.channel,
                };
                self.send(&msg, send);
                return;
            }
            Event::Window(w) => w,
        };
        self.counters.windows = self.counters.windows.wrapping_add(1);
        let fault = crate::classify::wire_fault(w.fault);
        let scored = w.fault.is_none();
        if scored {
            self.instructions = spent;
        }
        let instructions = if scored { spent } else { 0 };
        if self.mode == Mode::Classify {
            let class = crate::classify::class_message(&self.stream, seq, &w, instructions);
            self.send(&Response::Class(class), send);
            return;
        }
        let start = u32::try_from(w.start).unwrap_or(u32::MAX);
        let score = Score {
            seq,
            start,
            end: u32::try_from(w.end).unwrap_or(u32::MAX),
            score: w.score,
            smoothed: w.verdict.smoothed,
            alarm: w.verdict.alarm,
            fault,
            instructions,
        };
        self.send(&Response::Score(score), send);
        if scored {
            self.calibrate_with(w.score, send);
            match self.mode {
                Mode::Score => {}
                Mode::Denoise => self.send_denoised(start, send),
                Mode::Encode => self.send_codings(start, send),
                Mode::Classify => {}
            }
        }
    }

    fn calibrate_with(&mut self, score: f32, send: &mut impl FnMut(&[u8])) {
        let Some((target, cal)) = self.calibration.as_mut() else {
            return;
        };
        cal.push(score);
        if cal.len() < *target as usize {
            return;
        }
        let result = cal.finish();
        let windows = *target;
        self.calibration = None;
        match result {
            Ok(t) => {
                self.stream.set_thresholds(t);
                let Thresholds {
                    threshold,
                    clear_threshold,
                    ..
                } = t;
                self.send(
                    &Response::Calibrated {
                        windows,
                        threshold,
                        clear_threshold,
                    },
                    send,
                );
            }
            Err(_) => self.error(ErrorCode::Unsupported, windows, send),
        }
    }

    fn send_denoised(&mut self, start: u32, send: &mut impl FnMut(&[u8])) {
        let input = self.stream.model().input();
        let channels = (input.channels as usize).max(1);
        let (mean, scale) = (input.mean, input.scale);
        let y = self.stream.last_reconstruction();
        // Back to sensor units: the inverse of the stream's normalisation.
        let values = y.enumerate().map(|(i, v)| {
            let s = scale.get(i % channels).unwrap_or(1.0);
            let m = mean.get(i % channels).unwrap_or(0.0);
            if s == 0.0 { m } else { v / s + m }
        });
        let mut bytes = [0u8; MAX_FRAME - 16];
        match le_bytes(values, &mut bytes) {
            Ok(values) => self.send(&Response::Denoised { start, values }, send),
            Err(n) => self.error(ErrorCode::Unsupported, n, send),
        }
    }

    fn send_codings(&mut self, start: u32, send: &mut impl FnMut(&[u8])) {
        let z = self.stream.encode_last();
        let mut bytes = [0u8; MAX_FRAME - 16];
        match le_bytes(z.iter().copied(), &mut bytes) {
            Ok(values) => self.send(&Response::Codings { start, values }, send),
            Err(n) => self.error(ErrorCode::Unsupported, n, send),
        }
    }
}

/// `values` as little-endian bytes in `buf`; `Err(bytes needed)` when they
/// do not fit in one frame.
fn le_bytes(values: impl ExactSizeIterator<Item = f32>, buf: &mut [u8]) -> Result<F32s<'_>, u32> {
    let n = values.len() * 4;
    let out = buf
        .get_mut(..n)
        .ok_or(u32::try_from(n).unwrap_or(u32::MAX))?;
    for (v, dst) in values.zip(out.chunks_exact_mut(4)) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
    Ok(F32s::new(out))
}
