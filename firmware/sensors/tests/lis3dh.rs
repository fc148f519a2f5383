//! The LIS3DH driver against a mock I2C bus: identification, the exact
//! configuration bytes, conversion at two scales, bus errors.

use edgeae_sensors::{ADDRESS_SA0_HIGH, ADDRESS_SA0_LOW, Config, DataRate, Error, Lis3dh, Scale};
use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

const G: f32 = 9.806_65;

fn who_am_i(address: u8, id: u8) -> Transaction {
    Transaction::write_read(address, vec![0x0F], vec![id])
}

/// WHO_AM_I and the two control registers, for `config`.
fn init(address: u8, ctrl_reg4: u8, ctrl_reg1: u8) -> Vec<Transaction> {
    vec![
        who_am_i(address, 0x33),
        Transaction::write(address, vec![0x23, ctrl_reg4]),
        Transaction::write(address, vec![0x20, ctrl_reg1]),
    ]
}

/// One 6-byte auto-increment read of OUT_X_L..OUT_Z_H.
fn sample(address: u8, digits: [i16; 3]) -> Transaction {
    let bytes = digits
        .iter()
        .flat_map(|d| (d << 4).to_le_bytes())
        .collect::<Vec<u8>>();
    Transaction::write_read(address, vec![0xA8], bytes)
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn who_am_i_mismatch_is_wrong_device() {
    let mut bus = Mock::new(&[who_am_i(ADDRESS_SA0_LOW, 0x44)]);
    let err = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap_err();
    assert_eq!(err, Error::WrongDevice(0x44));
    assert_eq!(
        err.to_string(),
        "unexpected device: its WHO_AM_I register reads 0x44"
    );
    // Nothing was configured on the wrong chip.
    bus.done();
}

#[test]
fn default_init_writes_exact_register_bytes() {
    // 100 Hz (ODR 0101), normal mode, XYZ on: 0x57.
    // BDU, ±2 g, high resolution: 0b1000_1000 = 0x88.
    let mut bus = Mock::new(&init(ADDRESS_SA0_HIGH, 0x88, 0x57));
    let accel = Lis3dh::new(&mut bus, ADDRESS_SA0_HIGH).unwrap();
    assert_eq!(accel.scale(), Scale::G2);
    bus.done();
}

#[test]
fn config_register_values() {
    let cases = [
        (DataRate::Hz1, Scale::G2, 0x17, 0x88),
        (DataRate::Hz10, Scale::G4, 0x27, 0x98),
        (DataRate::Hz25, Scale::G8, 0x37, 0xA8),
        (DataRate::Hz50, Scale::G16, 0x47, 0xB8),
        (DataRate::Hz200, Scale::G2, 0x67, 0x88),
        (DataRate::Hz400, Scale::G2, 0x77, 0x88),
        (DataRate::Hz1344, Scale::G2, 0x97, 0x88),
    ];
    for (rate, scale, reg1, reg4) in cases {
        let config = Config { rate, scale };
        assert_eq!(config.ctrl_reg1(), reg1, "{config:?}");
        assert_eq!(config.ctrl_reg4(), reg4, "{config:?}");
        let mut bus = Mock::new(&init(ADDRESS_SA0_LOW, reg4, reg1));
        let accel = Lis3dh::with_config(&mut bus, ADDRESS_SA0_LOW, config).unwrap();
        assert_eq!(accel.scale(), scale);
        bus.done();
    }
}

#[test]
fn read_accel_converts_at_2g() {
    // x = +1 g, y = -0.5 g, z = 0 at 1 mg/digit.
    let mut expectations = init(ADDRESS_SA0_LOW, 0x88, 0x57);
    // 1000 << 4 = 0x3E80, -500 << 4 = 0xE0C0: the bytes on the wire.
    expectations.push(Transaction::write_read(
        ADDRESS_SA0_LOW,
        vec![0xA8],
        vec![0x80, 0x3E, 0xC0, 0xE0, 0x00, 0x00],
    ));
    let mut bus = Mock::new(&expectations);
    let mut accel = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap();
    let [x, y, z] = accel.read_accel().unwrap();
    assert!(close(x, G), "{x}");
    assert!(close(y, -0.5 * G), "{y}");
    assert_eq!(z, 0.0);
    bus.done();
}

#[test]
fn read_accel_converts_at_4g() {
    // The same accelerations at 2 mg/digit: 500 and -250 digits.
    let config = Config {
        rate: DataRate::Hz100,
        scale: Scale::G4,
    };
    let mut expectations = init(ADDRESS_SA0_LOW, 0x98, 0x57);
    expectations.push(Transaction::write_read(
        ADDRESS_SA0_LOW,
        vec![0xA8],
        vec![0x40, 0x1F, 0x60, 0xF0, 0x00, 0x00],
    ));
    let mut bus = Mock::new(&expectations);
    let mut accel = Lis3dh::with_config(&mut bus, ADDRESS_SA0_LOW, config).unwrap();
    let [x, y, z] = accel.read_accel().unwrap();
    assert!(close(x, G), "{x}");
    assert!(close(y, -0.5 * G), "{y}");
    assert_eq!(z, 0.0);
    bus.done();
}

#[test]
fn raw_digits_and_full_range_at_every_scale() {
    for (scale, reg4, mg) in [
        (Scale::G2, 0x88, 1.0),
        (Scale::G4, 0x98, 2.0),
        (Scale::G8, 0xA8, 4.0),
        (Scale::G16, 0xB8, 12.0),
    ] {
        let digits = [2047, -2048, -1];
        let mut expectations = init(ADDRESS_SA0_LOW, reg4, 0x57);
        expectations.push(sample(ADDRESS_SA0_LOW, digits));
        expectations.push(sample(ADDRESS_SA0_LOW, digits));
        let mut bus = Mock::new(&expectations);
        let config = Config {
            scale,
            ..Config::default()
        };
        let mut accel = Lis3dh::with_config(&mut bus, ADDRESS_SA0_LOW, config).unwrap();
        assert_eq!(accel.read_raw().unwrap(), digits);
        let got = accel.read_accel().unwrap();
        for (v, d) in got.iter().zip(digits) {
            assert!(close(*v, f32::from(d) * mg * 1e-3 * G), "{scale:?}: {v}");
            assert_eq!(*v, f32::from(d) * scale.ms2_per_digit());
        }
        bus.done();
    }
}

#[test]
fn low_nibble_is_ignored() {
    // The low 4 bits of a left-justified 12-bit sample are not data.
    let mut expectations = init(ADDRESS_SA0_LOW, 0x88, 0x57);
    expectations.push(Transaction::write_read(
        ADDRESS_SA0_LOW,
        vec![0xA8],
        vec![0x8F, 0x3E, 0xCF, 0xE0, 0x0F, 0x00],
    ));
    let mut bus = Mock::new(&expectations);
    let mut accel = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap();
    assert_eq!(accel.read_raw().unwrap(), [1000, -500, 0]);
    bus.done();
}

#[test]
fn data_ready_reads_status_zyxda() {
    let mut expectations = init(ADDRESS_SA0_LOW, 0x88, 0x57);
    expectations.push(Transaction::write_read(
        ADDRESS_SA0_LOW,
        vec![0x27],
        vec![0x00],
    ));
    expectations.push(Transaction::write_read(
        ADDRESS_SA0_LOW,
        vec![0x27],
        vec![0x0F],
    ));
    let mut bus = Mock::new(&expectations);
    let mut accel = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap();
    assert!(!accel.data_ready().unwrap());
    assert!(accel.data_ready().unwrap());
    bus.done();
}

#[test]
fn bus_errors_surface_as_bus() {
    // No acknowledge at the identification read.
    let mut bus = Mock::new(&[who_am_i(ADDRESS_SA0_LOW, 0x33).with_error(ErrorKind::Other)]);
    let err = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap_err();
    assert_eq!(err, Error::Bus(ErrorKind::Other));
    assert!(err.to_string().starts_with("bus error"));
    bus.done();

    // While configuring.
    let mut bus = Mock::new(&[
        who_am_i(ADDRESS_SA0_LOW, 0x33),
        Transaction::write(ADDRESS_SA0_LOW, vec![0x23, 0x88]).with_error(ErrorKind::Other),
    ]);
    let err = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap_err();
    assert_eq!(err, Error::Bus(ErrorKind::Other));
    bus.done();

    // While reading a sample: the driver stays usable.
    let mut expectations = init(ADDRESS_SA0_LOW, 0x88, 0x57);
    expectations.push(sample(ADDRESS_SA0_LOW, [1, 2, 3]).with_error(ErrorKind::Other));
    expectations.push(sample(ADDRESS_SA0_LOW, [1, 2, 3]));
    let mut bus = Mock::new(&expectations);
    let mut accel = Lis3dh::new(&mut bus, ADDRESS_SA0_LOW).unwrap();
    assert_eq!(accel.read_accel(), Err(Error::Bus(ErrorKind::Other)));
    assert_eq!(accel.read_raw().unwrap(), [1, 2, 3]);
    bus.done();
}

#[test]
fn release_gives_the_bus_back() {
    let bus = Mock::new(&init(ADDRESS_SA0_LOW, 0x88, 0x57));
    let accel = Lis3dh::new(bus, ADDRESS_SA0_LOW).unwrap();
    let mut bus = accel.release();
    bus.done();
}
