//! The error types of the crate: [`Error`] for a driver, [`StreamError`]
//! for [`crate::stream_samples`].

use core::fmt;

use firmware::stream::FrameError;

/// What a sensor driver reports, over a bus whose own error type is `E`
/// (for I2C, `<I as embedded_hal::i2c::ErrorType>::Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The bus failed (no acknowledge, arbitration lost, ...); the bus
    /// implementation's error is kept as it is.
    Bus(E),
    /// The device at the address is not the expected chip: its
    /// identification register read this value (`0xFF` or `0x00` is often
    /// no device at all, a line held by its pull-up or pulled low).
    WrongDevice(u8),
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bus(e) => write!(f, "bus error: {e:?}"),
            Error::WrongDevice(id) => {
                write!(
                    f,
                    "unexpected device: its WHO_AM_I register reads {id:#04x}"
                )
            }
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// Why [`crate::stream_samples`] stopped, with the error type `E` of the
/// frame source. The frames read before it are in the stream and their
/// events were delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamError<E> {
    /// Reading a frame from the source failed.
    Source(E),
    /// The stream does not take the source's frames: the model has another
    /// number of channels, or a partial frame pushed earlier is pending.
    Frame(FrameError),
}

impl<E: fmt::Display> fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Source(e) => write!(f, "cannot read a frame: {e}"),
            StreamError::Frame(e) => write!(f, "the stream refused a frame: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for StreamError<E> {}
