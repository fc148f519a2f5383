//! The x86-64 kernels against the portable code, on every path the CPU has.

use super::*;

/// xorshift64: the same values on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Weight bytes, a third of them the extremes −128 and 127.
    fn weights(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| match self.next() % 6 {
                0 => 0x80,
                1 => 0x7f,
                _ => self.next() as u8,
            })
            .collect()
    }
    /// Packed inputs `x − zp` in −255..=255, a third of them ±255.
    fn packed(&mut self, words: usize) -> Vec<u32> {
        let mut half = || -> u32 {
            let v: i32 = match self.next() % 6 {
                0 => -255,
                1 => 255,
                _ => (self.next() % 511) as i32 - 255,
            };
            u32::from(v as i16 as u16)
        };
        (0..words).map(|_| half() | half() << 16).collect()
    }
}

fn levels() -> Vec<Simd> {
    KernelPath::ALL.into_iter().filter_map(Simd::new).collect()
}

#[test]
fn int8_rows_and_groups_match_the_portable_blocks() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for blocks in [0usize, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 160] {
        let w = rng.weights(4 * 4 * blocks);
        let x = rng.packed(2 * blocks);
        let x = x.as_chunks::<2>().0;
        let rows: Vec<&[[u8; 4]]> = w.as_chunks::<4>().0.chunks(blocks.max(1)).collect();
        let rows: [&[[u8; 4]]; 4] =
            core::array::from_fn(|r| rows.get(r).copied().unwrap_or_default());
        let acc = [7, -9, i32::MAX, i32::MIN];
        let want: [i32; 4] = core::array::from_fn(|r| super::super::dot1(rows[r], x, acc[r]));
        // The interleaved units of the same four rows.
        let units: Vec<[u8; 16]> = (0..blocks)
            .map(|b| core::array::from_fn(|k| rows[k / 4][b][k % 4]))
            .collect();
        for simd in levels() {
            assert_eq!(simd.dot_i8(rows, x, acc), want, "{simd:?} blocks {blocks}");
            assert_eq!(
                simd.dot_x4(&units, x, acc),
                want,
                "{simd:?} blocks {blocks}"
            );
            // Four groups: the same group, each with its own start.
            let accs = [acc, acc.map(|a| a ^ 1), [0; 4], acc.map(i32::wrapping_neg)];
            let want4 =
                accs.map(|a| core::array::from_fn(|r| super::super::dot1(rows[r], x, a[r])));
            assert_eq!(
                simd.dot_x4_4([&units[..]; 4], x, accs),
                want4,
                "{simd:?} blocks {blocks}"
            );
        }
    }
}

#[test]
fn stream_quantization_matches_the_portable_bits() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let specials = [
        0.5f32,
        -0.5,
        1.5,
        -1.5,
        2.5,
        0.49999997,
        -0.49999997,
        1e3,
        1e6,
        -3e9,
        1e38,
        0.0,
        -0.0,
    ];
    let n = 8 * 40;
    let x: Vec<f32> = (0..n)
        .map(|i| match rng.next() % 4 {
            0 => specials[i % specials.len()],
            _ => ((rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 700.0,
        })
        .collect();
    let mean: Vec<[u8; 4]> = (0..n)
        .map(|i| (if i % 3 == 0 { 0.0f32 } else { 0.25 }).to_le_bytes())
        .collect();
    let scale: Vec<[u8; 4]> = (0..n)
        .map(|i| (if i % 5 == 0 { 1.0f32 } else { 0.5 }).to_le_bytes())
        .collect();
    for (inv, zp) in [
        (1.0f32, 0i8),
        (0.37, -5),
        (3.1, 100),
        (1e30, -128),
        (1e-3, 127),
    ] {
        let want: Vec<i8> = x
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((x, m), s)| {
                let v = (x - f32::from_le_bytes(*m)) * f32::from_le_bytes(*s);
                crate::ops::int8::quantize(v, inv, zp)
            })
            .collect();
        for simd in levels() {
            let mut out = vec![0i8; n];
            assert_eq!(simd.quantize_i8(&x, &mean, &scale, inv, zp, &mut out), n);
            assert_eq!(out, want, "{simd:?} inv {inv} zp {zp}");
            // A non-finite value stops it before its group of eight.
            let mut bad = x.clone();
            bad[8 * 7 + 3] = f32::INFINITY;
            assert_eq!(
                simd.quantize_i8(&bad, &mean, &scale, inv, zp, &mut out),
                8 * 7
            );
        }
    }
}

#[test]
fn f32_packing_matches_the_portable_bits() {
    let mut rng = Rng(0x0bad_cafe_1234_5678);
    let specials = [
        0.5f32,
        -0.5,
        2.5,
        -2.5,
        1e3,
        -1e3,
        1e9,
        -1e38,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -0.0,
    ];
    for n in [0usize, 3, 4, 7, 8, 9, 15, 16, 17, 640] {
        let src: Vec<f32> = (0..n)
            .map(|i| match rng.next() % 4 {
                0 => specials[i % specials.len()],
                _ => ((rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 300.0,
            })
            .collect();
        for (scale, zp) in [(1.0f32, 0i8), (0.37, -5), (2.9, 100), (1e-30, -128)] {
            let quant = model_format::Quant {
                scale,
                zero_point: zp,
            };
            let words = crate::ops::int8::packed_words(n);
            let mut want = vec![0u32; words];
            crate::ops::set_kernel_path(Some(KernelPath::Portable)).unwrap();
            crate::ops::int8::pack_f32(&src, &quant, &mut want);
            crate::ops::set_kernel_path(None).unwrap();
            for simd in levels() {
                let mut got = vec![0u32; words];
                let done = simd.pack_f32(&src, 1.0 / scale, zp, &mut got);
                assert_eq!(done, n / 8 * 8, "n {n}");
                assert_eq!(
                    got[..done / 2],
                    want[..done / 2],
                    "{simd:?} n {n} scale {scale} zp {zp}"
                );
            }
        }
    }
}

#[test]
fn f32_rows_match_the_portable_bits() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut f = || ((rng.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0;
    for n in [1usize, 7, 8, 9, 15, 16, 17, 63, 64, 65, 640] {
        for outputs in [1usize, 7, 8, 9, 16, 23] {
            let w: Vec<[u8; 4]> = (0..outputs * n).map(|_| f().to_le_bytes()).collect();
            let bias: Vec<[u8; 4]> = (0..outputs).map(|_| f().to_le_bytes()).collect();
            let x: Vec<f32> = (0..n).map(|_| f()).collect();
            let want: Vec<u32> = w
                .chunks(n)
                .zip(&bias)
                .map(|(r, b)| (f32::from_le_bytes(*b) + crate::ops::dense::dot(r, &x)).to_bits())
                .collect();
            for simd in levels() {
                let mut y = vec![f32::NAN; outputs];
                let done = simd.rows_f32(&w, &x, &bias, &mut y);
                assert_eq!(done, outputs / 8 * 8, "{simd:?} n {n}");
                let got: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                assert_eq!(
                    got[..done],
                    want[..done],
                    "{simd:?} n {n} outputs {outputs}"
                );
                assert!(y[done..].iter().all(|v| v.is_nan()), "wrote past {done}");
            }
        }
    }
}
