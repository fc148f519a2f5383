//! [`FrameSource`]: a sensor that yields frames of `N` samples, and
//! [`stream_samples`], which reads frames from one and feeds them to a
//! [`firmware::Stream`].
//!
//! The reads are not paced here: a source returns its latest sample, so
//! call [`stream_samples`] at the sensor's data rate (from a timer, or
//! after [`crate::Lis3dh::data_ready`]), e.g. one frame per call. Reading
//! faster returns the same sample again.

use embedded_hal::i2c::I2c;
use firmware::{Event, Stream};

use crate::{Error, Lis3dh, StreamError};

/// A sensor that reads one frame of `N` samples, in the units and channel
/// order a model was trained on.
pub trait FrameSource<const N: usize> {
    /// What a failed read reports.
    type Error;

    /// The latest frame.
    fn read_frame(&mut self) -> Result<[f32; N], Self::Error>;
}

/// X, Y, Z in m/s².
impl<I: I2c> FrameSource<3> for Lis3dh<I> {
    type Error = Error<I::Error>;

    fn read_frame(&mut self) -> Result<[f32; 3], Self::Error> {
        self.read_accel()
    }
}

/// Reads `frames` frames from `source` and pushes each into `stream`;
/// the stream's events go to `on_event` in stream order (for a frame, its
/// fault before its window), as [`Stream::push_samples`] gives them.
///
/// Stops at the first error: a failed read ([`StreamError::Source`]), or a
/// stream whose model does not take frames of `N` channels
/// ([`StreamError::Frame`], found with the first frame). The frames read
/// before it stay in the stream ([`Stream::frames`] counts them).
pub fn stream_samples<S: FrameSource<N>, const N: usize>(
    source: &mut S,
    stream: &mut Stream<'_, '_>,
    frames: usize,
    mut on_event: impl FnMut(Event),
) -> Result<(), StreamError<S::Error>> {
    for _ in 0..frames {
        let frame = source.read_frame().map_err(StreamError::Source)?;
        let result = stream.push_frame(&frame).map_err(StreamError::Frame)?;
        if let Some(fault) = result.fault {
            on_event(Event::Fault(fault));
        }
        if let Some(window) = result.window {
            on_event(Event::Window(window));
        }
    }
    Ok(())
}
