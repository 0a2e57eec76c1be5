//! The distinct values of a window's column (`count(DISTINCT c)`, `sum(DISTINCT c)`,
//! `collect_set`), and the snapshot bytes of a window's texts, which a list of values
//! (`collect_list`) writes too.

/// The distinct values of a window's column, as text, in byte order: an exact
/// `count(DISTINCT c)`, whose state grows with the number of distinct values of each
/// window and key (Flink keeps them so too; Spark refuses distinct aggregates on streams).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistinctValues {
    values: std::collections::BTreeSet<Box<str>>,
}

impl DistinctValues {
    /// Adds `v`.
    #[inline]
    pub fn add(&mut self, v: &str) {
        if !self.values.contains(v) {
            self.values.insert(v.into());
        }
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &DistinctValues) {
        for v in &other.values {
            self.add(v);
        }
    }

    /// The values, in byte order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(AsRef::as_ref)
    }

    /// How many distinct values there are.
    pub fn count(&self) -> i64 {
        i64::try_from(self.values.len()).unwrap_or(i64::MAX)
    }

    /// Its bytes, for snapshots ([`text_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        text_bytes(self.values.iter().map(AsRef::as_ref))
    }

    /// The value of [`to_bytes`](Self::to_bytes)' bytes; `None` when they are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            values: texts_of_bytes(bytes)?.collect::<Option<_>>()?,
        })
    }
}

/// The bytes of `texts`, for snapshots: each text's length (4 bytes, little-endian), then
/// its UTF-8 bytes, in order.
pub(super) fn text_bytes<'a>(texts: impl Iterator<Item = &'a str> + Clone) -> Vec<u8> {
    let mut out = Vec::with_capacity(texts.clone().map(|v| v.len() + 4).sum());
    for v in texts {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// The texts of [`text_bytes`]' bytes, each `None` where it is not UTF-8; `None` when the
/// lengths do not add up.
pub(super) fn texts_of_bytes(
    mut bytes: &[u8],
) -> Option<impl Iterator<Item = Option<Box<str>>> + use<'_>> {
    let mut parts = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        parts.push(rest.get(..len)?);
        bytes = &rest[len..];
    }
    Some(
        parts
            .into_iter()
            .map(|p| std::str::from_utf8(p).ok().map(Into::into)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set of distinct values merges by union, and its bytes give it back; bytes that
    /// are no set (cut short, or not UTF-8) are refused.
    #[test]
    fn distinct_values_merge_by_union_and_survive_their_bytes() {
        let mut a = DistinctValues::default();
        let mut b = DistinctValues::default();
        for v in ["x", "y", "x", ""] {
            a.add(v);
        }
        for v in ["y", "zé"] {
            b.add(v);
        }
        assert_eq!(a.count(), 3);
        a.merge(&b);
        assert_eq!(a.count(), 4);
        let bytes = a.to_bytes();
        assert_eq!(DistinctValues::from_bytes(&bytes), Some(a.clone()));
        assert_eq!(
            DistinctValues::from_bytes(&[]),
            Some(DistinctValues::default())
        );
        assert_eq!(DistinctValues::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(DistinctValues::from_bytes(&[2, 0, 0, 0, 0xff, 0xfe]), None);
        assert_eq!(DistinctValues::from_bytes(&[1, 0, 0]), None);
    }
}
