//! What the firmware's integration tests share: a small deterministic
//! generator of test values.
#![allow(dead_code)] // each test crate uses its own part

/// xorshift64, seeded: the same values on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-a, a).
    pub fn f32(&mut self, a: f32) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }

    pub fn values(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32(a)).collect()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
