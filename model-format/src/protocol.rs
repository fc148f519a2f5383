//! The wire protocol between the host and a board: postcard messages in
//! COBS frames (postcard's COBS flavour, each frame ended by a `0` byte),
//! over a serial line.
//!
//! The host sends [`Request`]s, the board answers with [`Response`]s. Both
//! sides compile these definitions, so they cannot drift apart; the
//! protocol has its own version ([`PROTOCOL_VERSION`]), reported in
//! [`Info`] with the model format version. A frame that does not decode, or
//! that is longer than [`MAX_FRAME`], is dropped and counted
//! ([`Counters`]); it never stops the board.
//!
//! Sample values travel as little-endian f32 bytes ([`F32s`]), so a board
//! reads them in place from its receive buffer.

use serde::{Deserialize, Serialize};

use crate::{F32s, FormatError, ModelKind};

/// Version of this protocol; bumped on any change of the messages.
pub const PROTOCOL_VERSION: u16 = 2;

/// Largest frame either side sends or accepts, in bytes, COBS-encoded,
/// without the terminating `0`.
pub const MAX_FRAME: usize = 1024;

/// Most sample values one [`Request::Samples`] may carry (whole frames or
/// not: a message may end inside a frame).
pub const MAX_SAMPLES: usize = 240;

/// What the host asks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// Answer with [`Response::Info`] (tag 0).
    Query,
    /// Forget the stream (ring, smoothing, alarm, frame count); answer with
    /// [`Response::Info`] (tag 1).
    Reset,
    /// Samples, time-major (`[t0c0, t0c1, …]`), continuing the stream
    /// (tag 2). `seq` is echoed in the responses they cause.
    Samples {
        /// The sender's sequence number.
        seq: u32,
        /// At most [`MAX_SAMPLES`] values.
        #[serde(borrow)]
        values: F32s<'a>,
    },
    /// What to send for each window from now on (tag 3).
    SetMode(Mode),
    /// Re-calibrate the threshold from the errors of the next `windows`
    /// scored windows, which the user declares normal (tag 4); answered
    /// with [`Response::Calibrated`] when done.
    Calibrate {
        /// Windows to collect (at most what the board can hold).
        windows: u32,
        /// Error quantile for the threshold, e.g. 0.99.
        quantile: f32,
        /// Clear threshold = hysteresis × threshold.
        hysteresis: f32,
    },
    /// Stop (tag 5): under QEMU the board exits with `code` after its
    /// last frame is out; a real board ignores it.
    Exit {
        /// Exit status.
        code: u8,
    },
}

/// What a board sends for each window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// [`Response::Score`] (tag 0, the default).
    Score,
    /// [`Response::Score`] then [`Response::Denoised`] (tag 1).
    Denoise,
    /// [`Response::Score`] then [`Response::Codings`] (tag 2).
    Encode,
    /// [`Response::Class`] instead of [`Response::Score`] (tag 3, protocol
    /// version 2); a classifier model only.
    Classify,
}

/// Why a window has no score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WindowFault {
    /// Scored (tag 0).
    None,
    /// The window holds a NaN or infinite sample (tag 1).
    Sample,
    /// The error overflowed f32 (tag 2).
    Overflow,
}

/// One scored window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Score {
    /// `seq` of the [`Request::Samples`] that completed the window.
    pub seq: u32,
    /// First frame of the window.
    pub start: u32,
    /// One past its last frame.
    pub end: u32,
    /// Reconstruction error (NaN when `fault` is not `None`).
    pub score: f32,
    /// Smoothed score after the window.
    pub smoothed: f32,
    /// Alarm state after the window.
    pub alarm: bool,
    /// Why there is no score.
    pub fault: WindowFault,
    /// Instructions the board spent on the window (engine and scoring), if
    /// it can count them (0 otherwise).
    pub instructions: u32,
}

/// One classified window ([`Mode::Classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Class {
    /// `seq` of the [`Request::Samples`] that completed the window.
    pub seq: u32,
    /// Index of the window in the stream (its first frame is
    /// `window · hop`).
    pub window: u32,
    /// The class: the index of the largest logit, the lowest on a tie
    /// (0 when `fault` is not `None`).
    pub class: u16,
    /// The softmax probability of that class (NaN when `fault` is not
    /// `None`).
    pub confidence: f32,
    /// Why there is no class (`Overflow`: a logit is not finite).
    pub fault: WindowFault,
    /// Instructions the board spent on the window, if it can count them
    /// (0 otherwise).
    pub instructions: u32,
}

/// Counts of what a board received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Frames decoded and handled.
    pub frames: u32,
    /// Frames dropped because they did not decode.
    pub bad_frames: u32,
    /// Frames dropped because they were longer than [`MAX_FRAME`].
    pub oversized: u32,
    /// Sample values received.
    pub samples: u32,
    /// Windows scored or reported as faults.
    pub windows: u32,
    /// Frames of samples with a NaN or infinite value.
    pub faults: u32,
}

/// What a board runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Info {
    /// [`PROTOCOL_VERSION`] of the board.
    pub protocol: u16,
    /// Model format version of the loaded model.
    pub format_version: u16,
    /// Bytes of the model in flash.
    pub model_bytes: u32,
    /// Autoencoder kind.
    pub kind: ModelKind,
    /// Samples per frame.
    pub channels: u32,
    /// Frames per window.
    pub window: u32,
    /// Frames between windows.
    pub hop: u32,
    /// Codings width.
    pub codings: u32,
    /// Alarm threshold in use.
    pub threshold: f32,
    /// Clear threshold in use.
    pub clear_threshold: f32,
    /// Bytes of scratch RAM the stream uses.
    pub scratch_bytes: u32,
    /// Frames of samples received since the last reset.
    pub frames: u32,
    /// Instructions per scored window, the last one measured (0: unknown).
    pub instructions_per_window: u32,
    /// What was received.
    pub counters: Counters,
}

/// Error codes a board reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum ErrorCode {
    /// The model region does not start with a model file (wire tag 0,
    /// exit code 16).
    ModelMissing = 16,
    /// The model file is cut short (tag 1, exit 17).
    ModelTruncated = 17,
    /// The model is for a format version this firmware does not read
    /// (tag 2, exit 18).
    ModelVersion = 18,
    /// The model's checksum does not match its body (tag 3, exit 19).
    ModelChecksum = 19,
    /// The model decodes but is not valid (tag 4, exit 20).
    ModelInvalid = 20,
    /// The model needs more scratch RAM than the board has (tag 5, exit 21).
    ScratchTooSmall = 21,
    /// A request needs something this board cannot do, e.g. more
    /// calibration windows than it can hold (tag 6, exit 22).
    Unsupported = 22,
    /// A `Samples` request with more than [`MAX_SAMPLES`] values (tag 7,
    /// exit 23).
    TooManySamples = 23,
    /// A [`Request::SetMode`] the model cannot serve: [`Mode::Classify`]
    /// of an autoencoder, or [`Mode::Denoise`] of a classifier (tag 8,
    /// protocol version 2); the detail is the mode's tag, and the mode
    /// stays as it was.
    WrongMode = 24,
}

impl ErrorCode {
    /// The code for a model that failed to load.
    pub fn of_model(e: &FormatError) -> ErrorCode {
        match e {
            FormatError::BadMagic { .. } => ErrorCode::ModelMissing,
            FormatError::Truncated { .. } => ErrorCode::ModelTruncated,
            FormatError::UnsupportedVersion { .. } => ErrorCode::ModelVersion,
            FormatError::ChecksumMismatch { .. } => ErrorCode::ModelChecksum,
            _ => ErrorCode::ModelInvalid,
        }
    }

    /// The number a board exits with under QEMU.
    pub const fn exit_code(self) -> u8 {
        self as u8
    }
}

/// What a board says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Response<'a> {
    /// Answer to [`Request::Query`] and [`Request::Reset`], and sent once
    /// at start-up (tag 0).
    Info(Info),
    /// A window ended (tag 1).
    Score(Score),
    /// A frame of samples held a NaN or infinite value (tag 2).
    Fault {
        /// `seq` of the samples message.
        seq: u32,
        /// Frame index in the stream.
        frame: u32,
        /// First bad channel.
        channel: u32,
    },
    /// The window's reconstruction in sensor units (tag 3), after its
    /// [`Response::Score`] in [`Mode::Denoise`].
    Denoised {
        /// First frame of the window.
        start: u32,
        /// `channels × window` values, time-major.
        #[serde(borrow)]
        values: F32s<'a>,
    },
    /// The window's codings (tag 4), after its [`Response::Score`] in
    /// [`Mode::Encode`].
    Codings {
        /// First frame of the window.
        start: u32,
        /// The codings.
        #[serde(borrow)]
        values: F32s<'a>,
    },
    /// A calibration finished (tag 5).
    Calibrated {
        /// Windows used.
        windows: u32,
        /// New threshold.
        threshold: f32,
        /// New clear threshold.
        clear_threshold: f32,
    },
    /// Something went wrong (tag 6). Model errors are fatal: the board
    /// sends this and stops (under QEMU it exits with
    /// [`ErrorCode::exit_code`]).
    Error {
        /// What.
        code: ErrorCode,
        /// A number that helps: e.g. the model's format version, or the
        /// sample count refused.
        detail: u32,
    },
    /// A window's class (tag 7, protocol version 2), in [`Mode::Classify`].
    Class(Class),
}

/// Encodes `msg` as one COBS frame into `buf`, terminating `0` included;
/// returns the frame. `None` if `buf` is too small.
pub fn encode_frame<'b, T: Serialize>(msg: &T, buf: &'b mut [u8]) -> Option<&'b mut [u8]> {
    postcard::to_slice_cobs(msg, buf).ok()
}

/// Decodes one COBS frame (without its terminating `0`) in place.
pub fn decode_frame<'b, T: Deserialize<'b>>(frame: &'b mut [u8]) -> Option<T> {
    postcard::from_bytes_cobs(frame).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip_through_cobs_frames() {
        let values: Vec<u8> = [1.5f32, -2.0, f32::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let req = Request::Samples {
            seq: 7,
            values: F32s::new(&values),
        };
        let mut buf = [0u8; 64];
        let frame = encode_frame(&req, &mut buf).unwrap();
        assert_eq!(frame.last(), Some(&0));
        assert!(
            !frame[..frame.len() - 1].contains(&0),
            "COBS frames hold no zero"
        );
        let n = frame.len() - 1;
        let back: Request<'_> = decode_frame(&mut frame[..n]).unwrap();
        match back {
            Request::Samples { seq, values } => {
                assert_eq!(seq, 7);
                let v: Vec<f32> = values.iter().collect();
                assert_eq!(v[..2], [1.5, -2.0]);
                assert!(v[2].is_nan());
            }
            other => panic!("{other:?}"),
        }
        let resp = Response::Score(Score {
            seq: 1,
            start: 0,
            end: 64,
            score: 0.25,
            smoothed: 0.125,
            alarm: true,
            fault: WindowFault::None,
            instructions: 123_456,
        });
        let frame = encode_frame(&resp, &mut buf).unwrap();
        let n = frame.len() - 1;
        assert_eq!(decode_frame::<Response<'_>>(&mut frame[..n]), Some(resp));
    }

    #[test]
    fn garbage_does_not_decode_and_small_buffers_are_refused() {
        let mut junk = [0xffu8, 0x13, 0x01, 0x02];
        assert_eq!(decode_frame::<Request<'_>>(&mut junk), None);
        // `Reset` is one byte; its frame is three (code, byte, terminator).
        assert_eq!(
            encode_frame(&Request::Reset, &mut [0u8; 3]).map(|f| f.len()),
            Some(3)
        );
        assert!(encode_frame(&Request::Reset, &mut [0u8; 2]).is_none());
    }

    #[test]
    fn version_2_tags_are_appended() {
        let mut buf = [0u8; 64];
        let bytes =
            |msg: &Request<'_>, buf: &mut [u8; 64]| postcard::to_slice(msg, buf).unwrap().to_vec();
        assert_eq!(bytes(&Request::SetMode(Mode::Classify), &mut buf), [3, 3]);
        let class = Response::Class(Class {
            seq: 1,
            window: 2,
            class: 3,
            confidence: 0.5,
            fault: WindowFault::None,
            instructions: 0,
        });
        let wire = postcard::to_slice(&class, &mut buf).unwrap();
        assert_eq!(wire[..4], [7, 1, 2, 3]);
        let frame = encode_frame(&class, &mut buf).unwrap();
        let n = frame.len() - 1;
        assert_eq!(decode_frame::<Response<'_>>(&mut frame[..n]), Some(class));
        let err = Response::Error {
            code: ErrorCode::WrongMode,
            detail: 3,
        };
        assert_eq!(postcard::to_slice(&err, &mut buf).unwrap()[..3], [6, 8, 3]);
        assert_eq!(ErrorCode::WrongMode.exit_code(), 24);
    }

    #[test]
    fn model_errors_map_to_codes() {
        assert_eq!(
            ErrorCode::of_model(&FormatError::BadMagic { found: 0 }),
            ErrorCode::ModelMissing
        );
        assert_eq!(ErrorCode::ModelVersion.exit_code(), 18);
    }
}
