//! [`Lis3dh`]: ST's LIS3DH three-axis accelerometer over I2C, in
//! high-resolution (12-bit) mode, with block data update.
//!
//! Register map and sensitivities from the LIS3DH datasheet (DocID17530):
//! WHO_AM_I (0x0F) reads 0x33; CTRL_REG1 (0x20) holds the output data rate
//! and the axis enables; CTRL_REG4 (0x23) block data update, full scale and
//! high resolution; OUT_X_L..OUT_Z_H (0x28..0x2D) the three samples, 16-bit
//! little-endian, left-justified. Setting bit 7 of a register address makes
//! the chip advance the address after each byte, so one 6-byte read gets a
//! whole frame.
//!
//! No panics: every access goes through the bus and returns its error, and
//! the samples are taken apart by destructuring a fixed-size array, never
//! by index.

use embedded_hal::i2c::I2c;

use crate::Error;

/// I2C address with the SDO/SA0 pin low.
pub const ADDRESS_SA0_LOW: u8 = 0x18;
/// I2C address with the SDO/SA0 pin high.
pub const ADDRESS_SA0_HIGH: u8 = 0x19;

/// What WHO_AM_I reads on a LIS3DH.
pub const DEVICE_ID: u8 = 0x33;

const WHO_AM_I: u8 = 0x0F;
const CTRL_REG1: u8 = 0x20;
const CTRL_REG4: u8 = 0x23;
const STATUS_REG: u8 = 0x27;
const OUT_X_L: u8 = 0x28;
/// Register address bit: advance the address after each byte.
const AUTO_INCREMENT: u8 = 0x80;
/// CTRL_REG1: X, Y and Z enabled (LPen, bit 3, clear: not low-power).
const XYZ_ENABLE: u8 = 0b0000_0111;
/// CTRL_REG4: block data update (a frame's high and low bytes come from
/// the same sample).
const BDU: u8 = 0b1000_0000;
/// CTRL_REG4: high-resolution (12-bit) mode.
const HR: u8 = 0b0000_1000;
/// STATUS_REG: a new X, Y and Z sample is available.
const ZYXDA: u8 = 0b0000_1000;
/// m/s² per g.
const STANDARD_GRAVITY: f32 = 9.806_65;

/// Full-scale range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scale {
    /// ±2 g, 1 mg per digit.
    #[default]
    G2,
    /// ±4 g, 2 mg per digit.
    G4,
    /// ±8 g, 4 mg per digit.
    G8,
    /// ±16 g, 12 mg per digit.
    G16,
}

impl Scale {
    /// Sensitivity in high-resolution mode: milli-g per digit of the
    /// 12-bit sample (datasheet table 4).
    pub const fn mg_per_digit(self) -> f32 {
        match self {
            Scale::G2 => 1.0,
            Scale::G4 => 2.0,
            Scale::G8 => 4.0,
            Scale::G16 => 12.0,
        }
    }

    /// m/s² per digit of the 12-bit sample: [`Lis3dh::read_accel`] gives
    /// `f32::from(raw) * scale.ms2_per_digit()`, exactly.
    pub fn ms2_per_digit(self) -> f32 {
        self.mg_per_digit() * 1e-3 * STANDARD_GRAVITY
    }

    /// CTRL_REG4 bits 5:4.
    const fn fs_bits(self) -> u8 {
        let fs = match self {
            Scale::G2 => 0,
            Scale::G4 => 1,
            Scale::G8 => 2,
            Scale::G16 => 3,
        };
        fs << 4
    }
}

/// Output data rate (normal and high-resolution modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DataRate {
    /// 1 Hz.
    Hz1,
    /// 10 Hz.
    Hz10,
    /// 25 Hz.
    Hz25,
    /// 50 Hz.
    Hz50,
    /// 100 Hz.
    #[default]
    Hz100,
    /// 200 Hz.
    Hz200,
    /// 400 Hz.
    Hz400,
    /// 1.344 kHz.
    Hz1344,
}

impl DataRate {
    /// Frames per second.
    pub const fn hz(self) -> f32 {
        match self {
            DataRate::Hz1 => 1.0,
            DataRate::Hz10 => 10.0,
            DataRate::Hz25 => 25.0,
            DataRate::Hz50 => 50.0,
            DataRate::Hz100 => 100.0,
            DataRate::Hz200 => 200.0,
            DataRate::Hz400 => 400.0,
            DataRate::Hz1344 => 1344.0,
        }
    }

    /// CTRL_REG1 bits 7:4 (ODR3..ODR0).
    const fn odr_bits(self) -> u8 {
        let odr = match self {
            DataRate::Hz1 => 0b0001,
            DataRate::Hz10 => 0b0010,
            DataRate::Hz25 => 0b0011,
            DataRate::Hz50 => 0b0100,
            DataRate::Hz100 => 0b0101,
            DataRate::Hz200 => 0b0110,
            DataRate::Hz400 => 0b0111,
            DataRate::Hz1344 => 0b1001,
        };
        odr << 4
    }
}

/// How [`Lis3dh::with_config`] sets the sensor up. The default is 100 Hz,
/// ±2 g.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Output data rate.
    pub rate: DataRate,
    /// Full-scale range.
    pub scale: Scale,
}

impl Config {
    /// The CTRL_REG1 value: data rate, normal mode, X, Y and Z enabled.
    pub const fn ctrl_reg1(self) -> u8 {
        self.rate.odr_bits() | XYZ_ENABLE
    }

    /// The CTRL_REG4 value: block data update, little-endian output, full
    /// scale, high resolution, no self-test.
    pub const fn ctrl_reg4(self) -> u8 {
        BDU | self.scale.fs_bits() | HR
    }
}

/// A LIS3DH on an I2C bus.
///
/// `I` may be the bus itself or `&mut` to it (embedded-hal implements
/// [`I2c`] for `&mut I2c`): pass `&mut bus` to keep the bus when
/// [`Lis3dh::new`] fails, or to share it between calls.
#[derive(Debug)]
pub struct Lis3dh<I> {
    i2c: I,
    address: u8,
    scale: Scale,
}

impl<I: I2c> Lis3dh<I> {
    /// Checks that the device at `address` ([`ADDRESS_SA0_LOW`] or
    /// [`ADDRESS_SA0_HIGH`]) is a LIS3DH and starts it with the default
    /// [`Config`] (100 Hz, ±2 g, high resolution).
    pub fn new(i2c: I, address: u8) -> Result<Self, Error<I::Error>> {
        Self::with_config(i2c, address, Config::default())
    }

    /// As [`Lis3dh::new`], with `config`.
    pub fn with_config(i2c: I, address: u8, config: Config) -> Result<Self, Error<I::Error>> {
        let mut sensor = Lis3dh {
            i2c,
            address,
            scale: config.scale,
        };
        let id = sensor.read_register(WHO_AM_I)?;
        if id != DEVICE_ID {
            return Err(Error::WrongDevice(id));
        }
        sensor.configure(config)?;
        Ok(sensor)
    }

    /// Writes CTRL_REG4 (scale, resolution, block data update), then
    /// CTRL_REG1 (data rate, axes), so that the first sample is already
    /// taken at the new scale.
    pub fn configure(&mut self, config: Config) -> Result<(), Error<I::Error>> {
        self.write_register(CTRL_REG4, config.ctrl_reg4())?;
        self.write_register(CTRL_REG1, config.ctrl_reg1())?;
        self.scale = config.scale;
        Ok(())
    }

    /// The full-scale range the samples are converted with.
    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// Whether a new X, Y, Z sample is there (STATUS_REG ZYXDA); reading
    /// the sample clears it. Poll this, or use a timer at the data rate,
    /// to read each sample once.
    pub fn data_ready(&mut self) -> Result<bool, Error<I::Error>> {
        Ok(self.read_register(STATUS_REG)? & ZYXDA != 0)
    }

    /// The latest sample, X, Y, Z, as signed 12-bit digits (the registers
    /// hold them left-justified in 16 bits).
    pub fn read_raw(&mut self) -> Result<[i16; 3], Error<I::Error>> {
        let mut out = [0u8; 6];
        self.i2c
            .write_read(self.address, &[OUT_X_L | AUTO_INCREMENT], &mut out)
            .map_err(Error::Bus)?;
        let [xl, xh, yl, yh, zl, zh] = out;
        Ok([[xl, xh], [yl, yh], [zl, zh]].map(|b| i16::from_le_bytes(b) >> 4))
    }

    /// The latest sample, X, Y, Z, in m/s² (1 g = 9.80665 m/s²).
    pub fn read_accel(&mut self) -> Result<[f32; 3], Error<I::Error>> {
        let per_digit = self.scale.ms2_per_digit();
        Ok(self.read_raw()?.map(|v| f32::from(v) * per_digit))
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }

    fn read_register(&mut self, register: u8) -> Result<u8, Error<I::Error>> {
        let mut value = [0u8];
        self.i2c
            .write_read(self.address, &[register], &mut value)
            .map_err(Error::Bus)?;
        let [v] = value;
        Ok(v)
    }

    fn write_register(&mut self, register: u8, value: u8) -> Result<(), Error<I::Error>> {
        self.i2c
            .write(self.address, &[register, value])
            .map_err(Error::Bus)
    }
}
