//! The generators' random numbers: a splitmix64 stream per record, seeded from
//! `(seed, stream, id)`, so every record is a pure function of its coordinates and does
//! not depend on the order or the thread it is drawn in.

/// splitmix64's finalizer: a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A splitmix64 stream seeded from `(seed, stream, id)`.
///
/// ```
/// use sluice_connectors::generator::SeededRng;
/// let a = SeededRng::new(42, 1, 7).next_u64();
/// assert_eq!(a, SeededRng::new(42, 1, 7).next_u64());
/// assert_ne!(a, SeededRng::new(42, 1, 8).next_u64());
/// ```
#[derive(Clone, Debug)]
pub struct SeededRng(u64);

impl SeededRng {
    /// The stream of record `id` in `stream` (a partition, or a table) under `seed`.
    pub fn new(seed: u64, stream: u64, id: u64) -> Self {
        Self(mix(mix(mix(seed) ^ stream) ^ id))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)` (0 if `n` is 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}
