//! Assigning event times to windows aligned to the Unix epoch.

/// The starts of the windows of `size` every `slide` (microseconds) containing `t`, newest
/// first. Tumbling windows are the case `slide == size`.
///
/// ```
/// use sluice_engine::window::window_starts;
/// let minute = 60_000_000;
/// let starts: Vec<i64> = window_starts(7 * minute + 5, 5 * minute, minute).collect();
/// assert_eq!(starts, vec![7 * minute, 6 * minute, 5 * minute, 4 * minute, 3 * minute]);
/// ```
pub fn window_starts(t: i64, size: i64, slide: i64) -> impl Iterator<Item = i64> {
    let last = t.div_euclid(slide) * slide;
    (0..)
        .map(move |k| last - k * slide)
        .take_while(move |start| start + size > t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_times_align_to_the_epoch() {
        let starts: Vec<i64> = window_starts(-1, 10, 5).collect();
        assert_eq!(starts, vec![-5, -10]);
        let starts: Vec<i64> = window_starts(10, 10, 10).collect();
        assert_eq!(starts, vec![10]);
    }
}
