//! A mergeable sketch of a column's distribution, for `percentile_approx`: DDSketch
//! (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable quantile sketch with
//! relative-error guarantees", VLDB 2019).
//!
//! A value `x > 0` is counted in the bucket `i = ⌈ln x / ln γ⌉`, `γ = (1 + α) / (1 - α)`,
//! which holds the values in `(γ^(i-1), γ^i]`; negative values in a bucket of their
//! magnitude, zeros apart. The `q` quantile is the value of rank `⌊q (n - 1)⌋` (from 0)
//! among the `n` values, estimated as its bucket's `2 γ^i / (γ + 1)`: within a relative
//! error `α` (1 %) of the true value. Sketches merge by adding their buckets' counts, so a
//! window's sketch is the same whatever order its rows and panes came in (no randomness):
//! a replay gives the same result.
//!
//! A sketch keeps at most [`MAX_BUCKETS`] buckets per sign, 8 bytes each: the buckets of
//! the smallest magnitudes, below the highest bucket less that many, are counted in the
//! lowest bucket kept. That bounds its memory whatever the values' range (16 KiB per sign
//! at most; values over three decades take about 350 buckets, 2.8 KiB) and is a function
//! of the values alone; only quantiles among those smallest magnitudes lose accuracy
//! (they are reported as the lowest kept bucket's value). NaN and infinite values are not
//! counted.

/// The relative accuracy of an estimate.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// The most buckets kept for each sign.
pub const MAX_BUCKETS: usize = 2048;

/// The greatest magnitude of a bucket's index: a finite double's (subnormals included)
/// is below 38,000.
const MAX_INDEX: u32 = 40_000;

/// `ln γ`.
fn ln_gamma() -> f64 {
    ((1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)).ln()
}

/// Bucket counts of one sign, by the index of the values' magnitude: dense, from the
/// lowest index kept (8 bytes a bucket; values over three decades take about 350).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Store {
    /// The index of `counts[0]`.
    lowest: i32,
    /// Counts of consecutive indices; the last is never 0.
    counts: Vec<u64>,
}

impl Store {
    fn add(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.lowest = index;
            self.counts.push(count);
            return;
        }
        let highest = self.highest();
        // Below the buckets kept: counted in the lowest one.
        let floor = highest.saturating_sub(MAX_BUCKETS as i32 - 1);
        let index = index.max(floor);
        if index < self.lowest {
            let missing = (self.lowest - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, missing));
            self.lowest = index;
        } else if index > highest {
            self.counts.resize((index - self.lowest) as usize + 1, 0);
        }
        self.counts[(index - self.lowest) as usize] += count;
        self.collapse();
    }

    /// The index of the highest bucket.
    fn highest(&self) -> i32 {
        self.lowest + self.counts.len() as i32 - 1
    }

    /// Counts the buckets below the highest less [`MAX_BUCKETS`] in the lowest kept.
    fn collapse(&mut self) {
        if self.counts.len() <= MAX_BUCKETS {
            return;
        }
        let excess = self.counts.len() - MAX_BUCKETS;
        let moved: u64 = self.counts.drain(..excess).sum();
        self.counts[0] += moved;
        self.lowest += excess as i32;
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(index, count)` of the buckets that count something, lowest first.
    fn buckets(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(k, &n)| (self.lowest + k as i32, n))
    }
}

/// A DDSketch of doubles (see the [module docs](self)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quantiles {
    negative: Store,
    zeros: u64,
    positive: Store,
}

impl Quantiles {
    /// Counts `x` (not NaN or infinite ones).
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if x == 0.0 {
            self.zeros += 1;
            return;
        }
        let index = (x.abs().ln() / ln_gamma()).ceil() as i32;
        if x > 0.0 {
            self.positive.add(index, 1);
        } else {
            self.negative.add(index, 1);
        }
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &Quantiles) {
        for (i, n) in other.positive.buckets() {
            self.positive.add(i, n);
        }
        for (i, n) in other.negative.buckets() {
            self.negative.add(i, n);
        }
        self.zeros += other.zeros;
    }

    /// How many values it counted.
    pub fn count(&self) -> u64 {
        self.negative.count() + self.zeros + self.positive.count()
    }

    /// The estimated `q` quantile (`q` in `[0, 1]`), `None` without values.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (n - 1) as f64).floor() as u64;
        let value = |i: i32| 2.0 * (f64::from(i) * ln_gamma()).exp() / (1.0 + gamma());
        let mut seen = 0;
        // In ascending order: the negatives from the greatest magnitude, the zeros, then
        // the positives from the least.
        for (i, count) in self.negative.buckets().rev() {
            seen += count;
            if seen > rank {
                return Some(-value(i));
            }
        }
        seen += self.zeros;
        if seen > rank {
            return Some(0.0);
        }
        for (i, count) in self.positive.buckets() {
            seen += count;
            if seen > rank {
                return Some(value(i));
            }
        }
        None
    }

    /// The sketch as bytes, for snapshots: the zeros, then each sign's buckets (index and
    /// count), little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(16 + 12 * (self.negative.counts.len() + self.positive.counts.len()));
        out.extend_from_slice(&self.zeros.to_le_bytes());
        for store in [&self.negative, &self.positive] {
            let buckets: Vec<(i32, u64)> = store.buckets().collect();
            out.extend_from_slice(&(buckets.len() as u32).to_le_bytes());
            for (i, count) in buckets {
                out.extend_from_slice(&i.to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        out
    }

    /// A sketch from [`to_bytes`](Self::to_bytes)' bytes; `None` when they are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let zeros = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let mut stores = [Store::default(), Store::default()];
        for store in &mut stores {
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?);
            let mut buckets = Vec::new();
            for _ in 0..len {
                let i = i32::from_le_bytes(take(4)?.try_into().ok()?);
                let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
                buckets.push((i, count));
            }
            // Indices rising within MAX_BUCKETS of each other, of finite doubles' range.
            let fits = buckets.windows(2).all(|w| w[0].0 < w[1].0)
                && buckets
                    .iter()
                    .all(|&(i, n)| n > 0 && i.unsigned_abs() <= MAX_INDEX)
                && buckets
                    .first()
                    .zip(buckets.last())
                    .is_none_or(|(first, last)| (last.0 - first.0) < MAX_BUCKETS as i32);
            if !fits {
                return None;
            }
            for (i, count) in buckets {
                store.add(i, count);
            }
        }
        let [negative, positive] = stores;
        rest.is_empty().then_some(Self {
            negative,
            zeros,
            positive,
        })
    }
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded stream of doubles (splitmix64).
    fn values(seed: u64, n: usize) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                // Log-uniform magnitudes over 8 decades, a third negative, some zeros.
                let magnitude = 10f64.powf((z % 8_000) as f64 / 1_000.0 - 3.0);
                match z % 30 {
                    0 => 0.0,
                    k if k % 3 == 0 => -magnitude,
                    _ => magnitude,
                }
            })
            .collect()
    }

    /// The value of rank `⌊q (n - 1)⌋` among `sorted`.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    #[test]
    fn every_quantile_is_within_the_relative_accuracy() {
        let xs = values(7, 20_000);
        let mut sketch = Quantiles::default();
        for &x in &xs {
            sketch.add(x);
        }
        let mut sorted = xs.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
            let (want, got) = (exact(&sorted, q), sketch.quantile(q).unwrap());
            assert!(
                (got - want).abs() <= RELATIVE_ACCURACY * want.abs() + 1e-12,
                "q {q}: {got} for {want}"
            );
        }
        assert_eq!(sketch.count(), 20_000);
        assert_eq!(Quantiles::default().quantile(0.5), None);
    }

    #[test]
    fn merged_sketches_equal_one_sketch_of_all_values_in_any_order() {
        let xs = values(11, 5_000);
        let mut whole = Quantiles::default();
        for &x in &xs {
            whole.add(x);
        }
        let (mut a, mut b) = (Quantiles::default(), Quantiles::default());
        for (i, &x) in xs.iter().enumerate().rev() {
            if i % 3 == 0 { &mut a } else { &mut b }.add(x);
        }
        b.merge(&a);
        assert_eq!(b, whole);
        assert_eq!(
            Quantiles::from_bytes(&whole.to_bytes()),
            Some(whole.clone())
        );
        assert_eq!(Quantiles::from_bytes(&whole.to_bytes()[1..]), None);
        // An index no double reaches, or buckets out of order, are no sketch.
        let mut hostile = 0u64.to_le_bytes().to_vec();
        hostile.extend_from_slice(&0u32.to_le_bytes());
        hostile.extend_from_slice(&1u32.to_le_bytes());
        hostile.extend_from_slice(&(1i32 << 30).to_le_bytes());
        hostile.extend_from_slice(&1u64.to_le_bytes());
        assert_eq!(Quantiles::from_bytes(&hostile), None);
    }

    #[test]
    fn a_wide_range_keeps_a_bounded_number_of_buckets_and_its_high_quantiles() {
        let mut sketch = Quantiles::default();
        let mut xs = Vec::new();
        for k in 0..100_000 {
            // 1e-300 to 1e300: far more than MAX_BUCKETS buckets.
            let x = 10f64.powf(-300.0 + 600.0 * f64::from(k) / 100_000.0);
            sketch.add(x);
            xs.push(x);
        }
        assert!(sketch.positive.counts.len() <= MAX_BUCKETS);
        assert_eq!(sketch.count(), 100_000);
        for q in [0.99, 0.999, 1.0] {
            let (want, got) = (exact(&xs, q), sketch.quantile(q).unwrap());
            assert!(
                (got - want).abs() <= RELATIVE_ACCURACY * want,
                "q {q}: {got} for {want}"
            );
        }
        sketch.add(f64::NAN);
        sketch.add(f64::INFINITY);
        assert_eq!(sketch.count(), 100_000);
    }
}
