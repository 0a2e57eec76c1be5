//! Per window-and-key aggregate state: running moments and HyperLogLog sketches.

use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

use super::distinct_values::DistinctValues;
use super::listed::ValueList;
use super::quantiles::Quantiles;

/// Running moments of one aggregated column: enough for count, sum, avg, min, max and
/// sample standard deviation (Welford, merged with Chan's formula).
///
/// A column of integers (or of timestamps and dates, read as their integer values) is
/// summed and compared exactly: a double holds integers exactly only to 2^53, and IDs and
/// money in cents pass that. Its sum is kept in 128 bits. A column of other numbers is
/// summed and compared in doubles. One aggregate reads one of the two, so the same three
/// words hold either the doubles' sum, minimum and maximum, or the integers' (the sum's
/// low half; `sum_high` is its high half): a slot stays 56 bytes, where separate fields
/// made it 80, and q5's windows 20% slower. The reader, which knows the aggregate's
/// reading, takes the matching accessors ([`sum`](Self::sum) or
/// [`int_sum`](Self::int_sum), ...).
///
/// The mean and squared deviations are kept only for the aggregates that read them
/// (standard deviation and variance): they cost a division per value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moments {
    /// Non-null values seen.
    pub count: i64,
    /// The doubles' sum, or the integers' low 64 bits.
    sum: u64,
    /// The integers' sum's high 64 bits.
    sum_high: i64,
    /// The doubles' minimum (`+inf` when none), or the integers'.
    min: u64,
    /// The doubles' maximum (`-inf` when none), or the integers'.
    max: u64,
    /// The running mean's bits (when the spread is kept).
    mean: u64,
    /// The bits of the sum of squared deviations from the mean (when the spread is kept).
    m2: u64,
}

impl Default for Moments {
    fn default() -> Self {
        Self::with_doubles(0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0)
    }
}

impl Moments {
    /// Moments of doubles with these values (a restored snapshot's).
    pub fn with_doubles(count: i64, sum: f64, min: f64, max: f64, mean: f64, m2: f64) -> Self {
        Self {
            count,
            sum: sum.to_bits(),
            sum_high: 0,
            min: min.to_bits(),
            max: max.to_bits(),
            mean: mean.to_bits(),
            m2: m2.to_bits(),
        }
    }

    /// Sets the integers' sum, minimum and maximum (a restored snapshot's).
    pub fn set_ints(&mut self, sum: i128, min: i64, max: i64) {
        self.set_int_sum(sum);
        self.min = min as u64;
        self.max = max as u64;
    }

    /// The doubles' sum.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum)
    }

    /// The doubles' minimum (`+inf` when none).
    pub fn min(&self) -> f64 {
        f64::from_bits(self.min)
    }

    /// The doubles' maximum (`-inf` when none).
    pub fn max(&self) -> f64 {
        f64::from_bits(self.max)
    }

    /// The running mean.
    pub fn mean(&self) -> f64 {
        f64::from_bits(self.mean)
    }

    /// The sum of squared deviations from the mean.
    pub fn m2(&self) -> f64 {
        f64::from_bits(self.m2)
    }

    /// The integers' exact sum.
    #[inline]
    pub fn int_sum(&self) -> i128 {
        (i128::from(self.sum_high) << 64) | i128::from(self.sum)
    }

    /// The integers' minimum (meaningless without values).
    pub fn int_min(&self) -> i64 {
        self.min as i64
    }

    /// The integers' maximum (meaningless without values).
    pub fn int_max(&self) -> i64 {
        self.max as i64
    }

    #[inline]
    #[allow(clippy::cast_possible_truncation)]
    fn set_int_sum(&mut self, sum: i128) {
        self.sum = sum as u64;
        self.sum_high = (sum >> 64) as i64;
    }

    /// Adds one value.
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.add_plain(v);
        self.spread_add(v);
    }

    /// Adds one value, without the mean and squared deviations.
    #[inline]
    pub fn add_plain(&mut self, v: f64) {
        self.count += 1;
        self.sum = (self.sum() + v).to_bits();
        self.min = self.min().min(v).to_bits();
        self.max = self.max().max(v).to_bits();
    }

    /// Adds one integer, exactly.
    #[inline]
    pub fn add_int(&mut self, v: i64) {
        let first = self.count == 0;
        self.count += 1;
        self.set_int_sum(self.int_sum() + i128::from(v));
        self.min = if first { v } else { self.int_min().min(v) } as u64;
        self.max = if first { v } else { self.int_max().max(v) } as u64;
    }

    /// Adds one integer, exactly, and to the mean and squared deviations.
    #[inline]
    #[allow(clippy::cast_precision_loss)]
    pub fn add_int_spread(&mut self, v: i64) {
        self.add_int(v);
        self.spread_add(v as f64);
    }

    /// Welford's step for a value `count` already includes.
    #[inline]
    fn spread_add(&mut self, v: f64) {
        let delta = v - self.mean();
        let mean = self.mean() + delta / self.count as f64;
        self.m2 = (self.m2() + delta * (v - mean)).to_bits();
        self.mean = mean.to_bits();
    }

    /// Takes one value back out (a retraction): count, sum, mean and the squared
    /// deviations are exact inverses of [`add`](Self::add); `min` and `max` cannot be, so
    /// an aggregate over retractions offers neither.
    #[inline]
    pub fn remove(&mut self, v: f64) {
        if self.spread_remove(v) {
            self.sum = (self.sum() - v).to_bits();
        }
    }

    /// Takes one integer back out: the inverse of [`add_int_spread`](Self::add_int_spread)
    /// (and of [`add_int`](Self::add_int), whose mean it leaves meaningless, unread).
    #[inline]
    #[allow(clippy::cast_precision_loss)]
    pub fn remove_int(&mut self, v: i64) {
        if self.spread_remove(v as f64) {
            self.set_int_sum(self.int_sum() - i128::from(v));
        }
    }

    /// Takes `v` out of the count, mean and squared deviations; `false` when that emptied
    /// the moments (they are reset, and the sums need nothing more).
    #[inline]
    fn spread_remove(&mut self, v: f64) -> bool {
        if self.count <= 1 {
            *self = Self::default();
            return false;
        }
        let n = self.count as f64;
        let before = (n * self.mean() - v) / (n - 1.0);
        self.m2 = (self.m2() - (v - before) * (v - self.mean())).to_bits();
        self.mean = before.to_bits();
        self.count -= 1;
        true
    }

    /// Folds `other` into `self`; `exact` when both hold integers.
    pub fn merge(&mut self, other: &Moments, exact: bool) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n = (self.count + other.count) as f64;
        let delta = other.mean() - self.mean();
        self.m2 = (self.m2()
            + other.m2()
            + delta * delta * (self.count as f64) * (other.count as f64) / n)
            .to_bits();
        self.mean = (self.mean() + delta * other.count as f64 / n).to_bits();
        self.count += other.count;
        if exact {
            self.set_int_sum(self.int_sum() + other.int_sum());
            self.min = self.int_min().min(other.int_min()) as u64;
            self.max = self.int_max().max(other.int_max()) as u64;
        } else {
            self.sum = (self.sum() + other.sum()).to_bits();
            self.min = self.min().min(other.min()).to_bits();
            self.max = self.max().max(other.max()).to_bits();
        }
    }

    /// The sum, minimum and maximum as doubles, whichever the moments hold (`exact` for
    /// integers): what a snapshot keeps beside the exact values.
    #[allow(clippy::cast_precision_loss)]
    pub fn as_doubles(&self, exact: bool) -> (f64, f64, f64) {
        if !exact {
            (self.sum(), self.min(), self.max())
        } else if self.count == 0 {
            (0.0, f64::INFINITY, f64::NEG_INFINITY)
        } else {
            (
                self.int_sum() as f64,
                self.int_min() as f64,
                self.int_max() as f64,
            )
        }
    }

    /// Sample standard deviation, `None` below two values (as Spark's `stddev`).
    pub fn stddev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// Sample variance, `None` below two values (as Spark's `variance` and `var_samp`).
    pub fn variance(&self) -> Option<f64> {
        (self.count >= 2).then(|| (self.m2() / (self.count - 1) as f64).max(0.0))
    }

    /// Population variance, `None` without values (as Spark's `var_pop`).
    pub fn variance_pop(&self) -> Option<f64> {
        (self.count >= 1).then(|| (self.m2() / self.count as f64).max(0.0))
    }
}

/// Registers of a HyperLogLog sketch with 2^9 registers (Spark's default 5% relative error).
#[derive(Clone, Debug, PartialEq)]
pub struct Hll {
    registers: Box<[u8]>,
}

const HLL_P: u32 = 9;
const HLL_M: usize = 1 << HLL_P;

impl Default for Hll {
    fn default() -> Self {
        Self {
            registers: vec![0; HLL_M].into_boxed_slice(),
        }
    }
}

impl Hll {
    /// Restores a sketch from its registers.
    pub fn from_registers(bytes: &[u8]) -> Option<Self> {
        (bytes.len() == HLL_M).then(|| Self {
            registers: bytes.into(),
        })
    }

    /// The raw registers, for snapshots.
    pub fn registers(&self) -> &[u8] {
        &self.registers
    }

    /// Adds a value given by its bytes.
    #[inline]
    pub fn add(&mut self, bytes: &[u8]) {
        let hash = xxh3_64(bytes);
        let index = (hash >> (64 - HLL_P)) as usize;
        let rest = (hash << HLL_P) | (1 << (HLL_P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if self.registers[index] < rank {
            self.registers[index] = rank;
        }
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &Hll) {
        for (a, b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(*b);
        }
    }

    /// The estimated number of distinct values.
    pub fn estimate(&self) -> i64 {
        let m = HLL_M as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in self.registers.iter() {
            sum += 2f64.powi(-i32::from(r));
            zeros += usize::from(r == 0);
        }
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as i64
    }
}

/// What an accumulator keeps for one aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Moments of doubles (and a count).
    Doubles,
    /// Moments of integers, exact.
    Integers,
    /// A HyperLogLog sketch (and a count).
    Sketch,
    /// The least and the greatest text (and a count).
    Range,
    /// A sketch of the values' distribution (and their moments).
    Quantiles,
    /// The sum and range of decimals of more than 18 digits, in 128 bits (and a count).
    WideDecimal,
    /// The set of distinct values, as text (and a count).
    Set,
    /// Every value with its event time, as text (and a count).
    List,
}

/// What an aggregate keeps beside its moments.
#[derive(Clone, Debug, PartialEq)]
pub enum Extra {
    /// A sketch of the distinct values (`approx_count_distinct`).
    Sketch(Hll),
    /// The least and the greatest text (`min` and `max` of text), boxed: a slot of the
    /// other aggregates stays small.
    Range(Box<TextRange>),
    /// A sketch of the values' distribution (`percentile_approx`), boxed likewise.
    Quantiles(Box<Quantiles>),
    /// The sum and range of wide decimals.
    Wide(Box<WideDecimal>),
    /// The distinct values (`count(DISTINCT c)`).
    Set(Box<DistinctValues>),
    /// Every value with its event time (`collect_list`).
    List(Box<ValueList>),
}

/// The unscaled sum, least and greatest of decimals of more than 18 digits: their sum
/// in 128 bits, `None` once it overflowed (a window's sum is then written NULL, as
/// Spark writes a decimal sum that overflows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WideDecimal {
    /// The sum, `None` once it overflowed.
    pub sum: Option<i128>,
    /// The least and the greatest, `None` before the first value.
    pub range: Option<(i128, i128)>,
}

impl Default for WideDecimal {
    fn default() -> Self {
        Self {
            sum: Some(0),
            range: None,
        }
    }
}

impl WideDecimal {
    /// Adds the unscaled value `v`.
    #[inline]
    pub fn add(&mut self, v: i128) {
        self.sum = self.sum.and_then(|s| s.checked_add(v));
        self.range = Some(match self.range {
            Some((least, greatest)) => (least.min(v), greatest.max(v)),
            None => (v, v),
        });
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &WideDecimal) {
        self.sum = self.sum.zip(other.sum).and_then(|(a, b)| a.checked_add(b));
        if let Some((least, greatest)) = other.range {
            self.add_range(least, greatest);
        }
    }

    fn add_range(&mut self, least: i128, greatest: i128) {
        self.range = Some(match self.range {
            Some((l, g)) => (l.min(least), g.max(greatest)),
            None => (least, greatest),
        });
    }

    /// Its bytes, for snapshots: whether the sum overflowed, the sum, whether there is a
    /// range, the least and the greatest, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(50);
        out.push(u8::from(self.sum.is_none()));
        out.extend_from_slice(&self.sum.unwrap_or_default().to_le_bytes());
        let (least, greatest) = self.range.unwrap_or_default();
        out.push(u8::from(self.range.is_some()));
        out.extend_from_slice(&least.to_le_bytes());
        out.extend_from_slice(&greatest.to_le_bytes());
        out
    }

    /// The value of [`to_bytes`](Self::to_bytes)' bytes; `None` when they are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 50 {
            return None;
        }
        let int =
            |at: usize| i128::from_le_bytes(bytes[at..at + 16].try_into().unwrap_or_default());
        Some(Self {
            sum: (bytes[0] == 0).then(|| int(1)),
            range: (bytes[17] == 1).then(|| (int(18), int(34))),
        })
    }
}

/// The least and the greatest of some texts, in byte order (as Spark and DuckDB compare
/// strings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRange {
    /// The least.
    pub least: String,
    /// The greatest.
    pub greatest: String,
}

impl Extra {
    /// A range of the one text `v`.
    pub fn range_of(v: &str) -> Self {
        Self::Range(Box::new(TextRange {
            least: v.to_owned(),
            greatest: v.to_owned(),
        }))
    }

    /// Adds the text `v`.
    #[inline]
    pub fn add(&mut self, v: &str) {
        match self {
            Self::Sketch(h) => h.add(v.as_bytes()),
            Self::Range(r) => r.add(v),
            Self::Set(s) => s.add(v),
            Self::List(l) => l.add(v),
            Self::Quantiles(_) | Self::Wide(_) => {}
        }
    }

    /// Folds `other` (of the same kind) into `self`.
    pub fn merge(&mut self, other: &Extra) {
        match (self, other) {
            (Self::Sketch(a), Self::Sketch(b)) => a.merge(b),
            (Self::Range(a), Self::Range(b)) => {
                a.add(&b.least);
                a.add(&b.greatest);
            }
            (Self::Quantiles(a), Self::Quantiles(b)) => a.merge(b),
            (Self::Wide(a), Self::Wide(b)) => a.merge(b),
            (Self::Set(a), Self::Set(b)) => a.merge(b),
            (Self::List(a), Self::List(b)) => a.merge(b),
            _ => {}
        }
    }

    /// The sketch, if this is one.
    pub fn sketch(&self) -> Option<&Hll> {
        match self {
            Self::Sketch(h) => Some(h),
            _ => None,
        }
    }

    /// The range, if this is one.
    pub fn range(&self) -> Option<&TextRange> {
        match self {
            Self::Range(r) => Some(r),
            _ => None,
        }
    }

    /// The distribution's sketch, if this is one.
    pub fn quantiles(&self) -> Option<&Quantiles> {
        match self {
            Self::Quantiles(q) => Some(q),
            _ => None,
        }
    }

    /// The distinct values, if this is a set of them.
    pub fn set(&self) -> Option<&DistinctValues> {
        match self {
            Self::Set(s) => Some(s),
            _ => None,
        }
    }

    /// The values with their event times, if this is a list of them.
    pub fn list(&self) -> Option<&ValueList> {
        match self {
            Self::List(l) => Some(l),
            _ => None,
        }
    }

    /// The wide decimals' sum and range, if this is one.
    pub fn wide(&self) -> Option<&WideDecimal> {
        match self {
            Self::Wide(w) => Some(w),
            _ => None,
        }
    }

    /// What a snapshot keeps of a sketch (a HyperLogLog's registers, a distribution's
    /// buckets), of wide decimals or of a set of distinct values, as bytes; `None` for a
    /// range.
    pub fn sketch_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Self::Sketch(h) => Some(h.registers().to_vec()),
            Self::Quantiles(q) => Some(q.to_bytes()),
            Self::Wide(w) => Some(w.to_bytes()),
            Self::Set(s) => Some(s.to_bytes()),
            Self::List(l) => Some(l.to_bytes()),
            Self::Range(_) => None,
        }
    }
}

impl TextRange {
    fn add(&mut self, v: &str) {
        if v < self.least.as_str() {
            v.clone_into(&mut self.least);
        }
        if v > self.greatest.as_str() {
            v.clone_into(&mut self.greatest);
        }
    }
}

/// The state of one window and key: its row count and one entry per aggregate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Accumulator {
    /// Rows that contributed (`count(*)`).
    pub rows: i64,
    /// Moments per aggregate, in plan order. Inline for one aggregate: a slot or an emitted
    /// window then allocates nothing of its own (two allocations per slot were a tenth of
    /// q5's samples).
    pub moments: SmallVec<[Moments; 1]>,
    /// What each aggregate keeps beside its moments: a sketch, a text range (`None` until
    /// its first value), or nothing.
    pub extras: SmallVec<[Option<Extra>; 1]>,
}

impl Accumulator {
    /// An empty accumulator for aggregates that keep `kept`.
    pub fn new(kept: &[Kept]) -> Self {
        Self {
            rows: 0,
            moments: smallvec::smallvec![Moments::default(); kept.len()],
            extras: kept
                .iter()
                .map(|&k| match k {
                    Kept::Sketch => Some(Extra::Sketch(Hll::default())),
                    Kept::Quantiles => Some(Extra::Quantiles(Box::default())),
                    Kept::WideDecimal => Some(Extra::Wide(Box::default())),
                    Kept::Set => Some(Extra::Set(Box::default())),
                    Kept::List => Some(Extra::List(Box::default())),
                    _ => None,
                })
                .collect(),
        }
    }

    /// Folds `other` into `self` (panes into windows, session merges); both keep `kept`.
    pub fn merge(&mut self, other: &Accumulator, kept: &[Kept]) {
        self.rows += other.rows;
        for ((a, b), k) in self.moments.iter_mut().zip(&other.moments).zip(kept) {
            a.merge(b, *k == Kept::Integers);
        }
        for (a, b) in self.extras.iter_mut().zip(&other.extras) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.merge(b),
                (None, Some(b)) => *a = Some(b.clone()),
                (_, None) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_moments_equal_sequential_moments() {
        let values: Vec<f64> = (0..100)
            .map(|i| ((i * 37) % 23) as f64 * 0.5 - 3.0)
            .collect();
        let mut all = Moments::default();
        values.iter().for_each(|&v| all.add(v));
        let (mut a, mut b) = (Moments::default(), Moments::default());
        values[..40].iter().for_each(|&v| a.add(v));
        values[40..].iter().for_each(|&v| b.add(v));
        a.merge(&b, false);
        assert_eq!(a.count, all.count);
        assert!((a.stddev().unwrap() - all.stddev().unwrap()).abs() < 1e-12);
        assert_eq!(a.min(), all.min());
        assert_eq!(a.max(), all.max());
    }

    #[test]
    fn integers_merge_exactly_in_words_the_doubles_share() {
        let big = 1_i64 << 61;
        let (mut a, mut b, mut all) = (Moments::default(), Moments::default(), Moments::default());
        for v in [big + 1, -7, big + 3] {
            a.add_int(v);
            all.add_int(v);
        }
        for v in [i64::MAX, 5] {
            b.add_int(v);
            all.add_int(v);
        }
        let mut merged = a;
        merged.merge(&b, true);
        assert_eq!(merged, all);
        assert_eq!(
            merged.int_sum(),
            2 * i128::from(big) + 2 + i128::from(i64::MAX)
        );
        assert_eq!((merged.int_min(), merged.int_max()), (-7, i64::MAX));
        // Into empty moments, and from them.
        let mut empty = Moments::default();
        empty.merge(&merged, true);
        merged.merge(&Moments::default(), true);
        assert_eq!(empty, merged);
        // A negative sum's high half.
        let mut negative = Moments::default();
        negative.add_int(i64::MIN);
        negative.add_int(i64::MIN);
        assert_eq!(negative.int_sum(), 2 * i128::from(i64::MIN));
        // The three words are shared: a slot keeps 56 bytes per aggregate.
        assert_eq!(std::mem::size_of::<Moments>(), 56);
    }

    #[test]
    fn variances_match_the_two_pass_formulas() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut m = Moments::default();
        values.iter().for_each(|&v| m.add(v));
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
        assert!(close(m.variance_pop(), squares / n)); // 4, the textbook example
        assert!(close(m.variance(), squares / (n - 1.0)));
        assert!(close(m.stddev(), (squares / (n - 1.0)).sqrt()));
        let mut one = Moments::default();
        one.add(3.0);
        assert_eq!((one.variance(), one.variance_pop()), (None, Some(0.0)));
        assert_eq!(Moments::default().variance_pop(), None);
    }

    #[test]
    fn removing_values_undoes_adding_them() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut kept = Moments::default();
        values[..5].iter().for_each(|&v| kept.add(v));
        let mut m = Moments::default();
        values.iter().for_each(|&v| m.add(v));
        values[5..].iter().for_each(|&v| m.remove(v));
        assert_eq!((m.count, m.sum()), (kept.count, kept.sum()));
        assert!((m.mean() - kept.mean()).abs() < 1e-12);
        assert!((m.variance().unwrap() - kept.variance().unwrap()).abs() < 1e-12);
        values[..5].iter().for_each(|&v| m.remove(v));
        assert_eq!((m.count, m.sum(), m.m2()), (0, 0.0, 0.0));
    }

    #[test]
    fn hll_is_close_for_small_and_large_sets() {
        for n in [1usize, 10, 100, 10_000] {
            let mut h = Hll::default();
            for i in 0..n {
                h.add(format!("user_{i}").as_bytes());
                h.add(format!("user_{i}").as_bytes());
            }
            let e = h.estimate() as f64;
            assert!((e - n as f64).abs() <= 0.15 * n as f64 + 1.0, "n={n} e={e}");
        }
    }
}
