//! Panes: the slices that overlapping windows share.
//!
//! Windows of `size` starting every `slide` are cut into panes of `g = gcd(size, slide)`
//! aligned to the Unix epoch. Every time in a pane belongs to the same windows, so a row
//! updates its one pane instead of each of its `⌈size / slide⌉` windows, and a window's
//! aggregate is the merge of its `size / g` panes, taken when the window is emitted
//! (Li et al., "No pane, no gain", 2005; Flink's window slices). A tumbling window is its
//! own single pane. Every aggregate the window offers merges (moments with Chan's formula,
//! sketches register by register), so the result is the same as adding each row to each
//! window, up to the order of floating-point additions.
//!
//! A slot may cover any interval `[a, b)` of whole panes. It belongs to the windows that
//! contain it: the starts `s`, multiples of `slide`, with `s <= a` and `s + size >= b`.
//! A pane belongs to every window over it; a slot spanning one whole window (as
//! checkpoints written before panes hold them) belongs to that window alone, so such a
//! checkpoint restores and goes on with panes.
//!
//! ```text
//! size 10, slide 5, g = 5:   panes [0,5) [5,10) [10,15)
//! window [0,10)  = [0,5) + [5,10)
//! window [5,15)  =         [5,10) + [10,15)
//! ```

use super::state::{Emitted, OpenWindows, Slot};
use super::{Accumulator, Kept, OutputMode, WindowKind, micros};

/// The pane geometry of tumbling, sliding or cumulating windows, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Panes {
    /// The longest window.
    size: i64,
    /// The distance between window starts (sliding), or the step windows grow by
    /// (cumulating).
    slide: i64,
    /// Whether the windows cumulate: all start at a multiple of `size` and end every
    /// `slide` after it.
    cumulating: bool,
    length: i64,
    /// How far past the Unix epoch the windows (and their panes) start.
    offset: i64,
}

/// What an epoch's end emits and evicts, as thresholds on window ends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Closing {
    /// Windows ending at or before it were final before this epoch: never emitted again.
    pub(crate) since: Option<i64>,
    /// Windows ending at or before it are final now.
    pub(crate) bound: Option<i64>,
    /// The output mode.
    pub(crate) mode: OutputMode,
}

impl Panes {
    /// The panes of `kind`; `None` for sessions and global windows, which have none.
    pub(crate) fn of(kind: WindowKind) -> Option<Self> {
        let (size, slide, cumulating) = match kind {
            WindowKind::Tumbling { size } => (micros(size), micros(size), false),
            WindowKind::Sliding { size, slide } => (micros(size), micros(slide), false),
            WindowKind::Cumulating { size, step } => (micros(size), micros(step), true),
            WindowKind::Session { .. } | WindowKind::Global => return None,
        };
        Some(Self {
            size,
            slide,
            cumulating,
            length: gcd(size, slide),
            offset: 0,
        })
    }

    /// The same panes, with windows starting `offset` microseconds past the Unix epoch
    /// (less than their period).
    pub(crate) fn with_offset(self, offset: i64) -> Self {
        Self { offset, ..self }
    }

    /// The multiple of `period`, plus the offset, at or before `t`.
    #[inline]
    fn floor(&self, t: i64, period: i64) -> i64 {
        (t - self.offset).div_euclid(period) * period + self.offset
    }

    /// The pane `[start, end)` holding time `t`.
    #[inline]
    pub(crate) fn pane(&self, t: i64) -> (i64, i64) {
        let start = self.floor(t, self.length);
        (start, start.saturating_add(self.length))
    }

    /// The windows `(start, end)` containing `[a, b)`, newest start (then latest end)
    /// first.
    #[inline]
    pub(crate) fn windows(&self, a: i64, b: i64) -> impl Iterator<Item = (i64, i64)> + use<> {
        let (size, slide, cumulating) = (self.size, self.slide, self.cumulating);
        // Sliding: starts every `slide` back from `a`, each `size` long. Cumulating: one
        // start, the period's, and ends every `slide` back from the period's end.
        let last = if cumulating {
            self.floor(a, size)
        } else {
            self.floor(a, slide)
        };
        (0..)
            .map(move |k| {
                if cumulating {
                    (last, last + size - k * slide)
                } else {
                    (last - k * slide, last - k * slide + size)
                }
            })
            .take_while(move |&(_, end)| end >= b)
    }

    /// The end of the last window containing a slot that starts at `a`: once it is final,
    /// so is every window of the slot, and the slot is evicted.
    #[inline]
    pub(crate) fn last_end(&self, a: i64) -> i64 {
        let period = if self.cumulating {
            self.size
        } else {
            self.slide
        };
        self.floor(a, period).saturating_add(self.size)
    }

    /// Ends an epoch over `open`: emits the windows `closing` calls for, each the merge of
    /// its key's slots, and evicts the slots all of whose windows are final. Returns them
    /// and the earliest end of the slots left (`i64::MAX` when none are).
    ///
    /// - `append` emits each window once, when it becomes final: its end is past
    ///   `closing.since` and at or before `closing.bound`.
    /// - `update` emits every window, not final before this epoch, over a slot that
    ///   changed in it.
    pub(crate) fn finish(
        &self,
        open: &mut OpenWindows,
        kept: &[Kept],
        closing: Closing,
    ) -> (Emitted, i64) {
        let is_final = |end: i64| closing.bound.is_some_and(|w| end <= w);
        let mut emitted = Vec::new();
        // Sized once: grown by doubling, the emitted windows of a large state (all of
        // them when a bounded input ends) were copied into fresh pages several times, and
        // the kernel's zeroing of those pages was a fifth of q5's samples. An allocation
        // refused is no error: the vector then grows as it goes.
        let _ = emitted.try_reserve_exact(self.emit_bound(open, closing));
        let mut earliest = i64::MAX;
        // One key's windows to emit, by (start, end) (reused across keys).
        let mut windows = Vec::new();
        open.retain(|key, slots| {
            self.emit(key, slots, kept, closing, &mut windows, &mut emitted);
            slots.retain_mut(|slot| {
                slot.changed = false;
                let keep = !is_final(self.last_end(slot.start));
                if keep {
                    earliest = earliest.min(slot.end);
                }
                keep
            });
            !slots.is_empty()
        });
        (emitted, earliest)
    }

    /// An upper bound on the windows [`finish`](Self::finish) emits over `open`: a slot's
    /// windows number at most `ceil(size / slide)`, and a slot has one to emit only if
    /// it ends by `closing.bound` (append) or changed (update).
    fn emit_bound(&self, open: &OpenWindows, closing: Closing) -> usize {
        let per_slot = usize::try_from((self.size + self.slide - 1) / self.slide).unwrap_or(1);
        let emits = |slot: &Slot| match closing.mode {
            OutputMode::Append => closing.bound.is_some_and(|w| slot.end <= w),
            OutputMode::Update => slot.changed,
        };
        open.values()
            .map(|slots| slots.iter().filter(|s| emits(s)).count())
            .sum::<usize>()
            .saturating_mul(per_slot)
    }

    /// Ends an update-mode epoch in which no window became final (the watermark is behind
    /// every open slot's end): emits the windows over the slots of `touched` (the keys
    /// whose slots changed, in any order, repeats allowed) and visits no other key.
    pub(crate) fn finish_touched(
        &self,
        open: &mut OpenWindows,
        touched: &mut Vec<Box<[u8]>>,
        kept: &[Kept],
        closing: Closing,
    ) -> Emitted {
        let mut emitted = Vec::new();
        let mut windows = Vec::new();
        for key in touched.drain(..) {
            let Some(slots) = open.get_mut(&key) else {
                continue;
            };
            // A key listed twice has no changed slot left the second time.
            self.emit(&key, slots, kept, closing, &mut windows, &mut emitted);
            for slot in slots.iter_mut() {
                slot.changed = false;
            }
        }
        emitted
    }

    /// Adds to `emitted` the windows of one key's `slots` that `closing` calls for, each
    /// the merge of the slots it contains; `windows` is scratch space.
    fn emit(
        &self,
        key: &[u8],
        slots: &[Slot],
        kept: &[Kept],
        closing: Closing,
        windows: &mut Vec<((i64, i64), Accumulator)>,
        emitted: &mut Emitted,
    ) {
        let Closing { since, bound, mode } = closing;
        let was_final = |end: i64| since.is_some_and(|w| end <= w);
        let is_final = |end: i64| bound.is_some_and(|w| end <= w);
        let update = mode == OutputMode::Update;
        windows.clear();
        for slot in slots.iter().filter(|s| !update || s.changed) {
            for window in self.windows(slot.start, slot.end) {
                let end = window.1;
                if was_final(end) || !(update || is_final(end)) {
                    continue;
                }
                if let Err(at) = windows.binary_search_by_key(&window, |w| w.0) {
                    windows.insert(at, (window, Accumulator::new(kept)));
                }
            }
        }
        if windows.is_empty() {
            return;
        }
        // Slots are sorted by (start, end): each window merges its panes in time order,
        // whatever order they were created or restored in.
        for slot in slots {
            for window in self.windows(slot.start, slot.end) {
                if let Ok(at) = windows.binary_search_by_key(&window, |w| w.0) {
                    windows[at].1.merge(&slot.acc, kept);
                }
            }
        }
        emitted.extend(windows.drain(..).map(|((start, end), acc)| {
            let slot = Slot {
                start,
                end,
                acc,
                changed: false,
            };
            (Box::from(key), slot)
        }));
    }
}

/// The greatest common divisor of two positive lengths.
fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sliding(size: u64, slide: u64) -> Panes {
        Panes::of(WindowKind::Sliding {
            size: Duration::from_micros(size),
            slide: Duration::from_micros(slide),
        })
        .unwrap()
    }

    #[test]
    fn an_offset_shifts_every_window_and_pane_by_it() {
        for (size, slide, offset) in [(10, 5, 3), (10, 10, 7), (90, 30, 29), (60, 20, 1)] {
            let panes = sliding(size, slide).with_offset(offset);
            for t in -200..200 {
                let (a, b) = panes.pane(t);
                assert!(
                    a <= t && t < b && (a - offset) % panes.length == 0,
                    "pane of {t}"
                );
                let got: Vec<(i64, i64)> = panes.windows(a, b).collect();
                // Brute force: every window [offset + k slide, + size) holding t.
                let want: Vec<(i64, i64)> = (-100..100)
                    .rev()
                    .map(|k| offset + k * slide as i64)
                    .filter(|s| *s <= t && t < s + size as i64)
                    .map(|s| (s, s + size as i64))
                    .collect();
                assert_eq!(got, want, "size {size} slide {slide} offset {offset} t {t}");
                assert_eq!(panes.last_end(a), want[0].1, "t {t}");
            }
        }
    }

    #[test]
    fn a_pane_belongs_to_the_windows_of_its_times() {
        for (size, slide) in [(10, 5), (10, 2), (50, 20), (60, 60), (90, 30)] {
            let panes = sliding(size, slide);
            for t in -130..130 {
                let (a, b) = panes.pane(t);
                assert!(a <= t && t < b);
                let want: Vec<(i64, i64)> =
                    super::super::window_starts(t, size as i64, slide as i64)
                        .map(|s| (s, s + size as i64))
                        .collect();
                let got: Vec<(i64, i64)> = panes.windows(a, b).collect();
                assert_eq!(got, want, "size {size} slide {slide} t {t}");
            }
        }
    }

    #[test]
    fn an_epoch_emits_no_more_windows_than_its_bound() {
        let geometries = [
            sliding(10, 2),
            sliding(50, 20),
            sliding(60, 60),
            sliding(90, 30),
        ];
        for panes in geometries {
            for (mode, bound) in [
                (OutputMode::Append, Some(40)),
                (OutputMode::Append, Some(i64::MAX)),
                (OutputMode::Append, None),
                (OutputMode::Update, Some(40)),
                (OutputMode::Update, None),
            ] {
                // Keys with panes here and there, every third one changed.
                let mut open = OpenWindows::default();
                for key in 0u8..12 {
                    let mut slots: Vec<Slot> = (0..i64::from(key % 5) + 1)
                        .map(|i| {
                            let (start, end) = panes.pane(i64::from(key) * 7 + i * 13 - 20);
                            Slot {
                                start,
                                end,
                                acc: Accumulator::new(&[]),
                                changed: (i64::from(key) + i) % 3 == 0,
                            }
                        })
                        .collect();
                    slots.sort_by_key(|s| (s.start, s.end));
                    slots.dedup_by_key(|s| (s.start, s.end));
                    open.insert(Box::from([key]), slots);
                }
                let closing = Closing {
                    since: None,
                    bound,
                    mode,
                };
                let most = panes.emit_bound(&open, closing);
                let (emitted, _) = panes.finish(&mut open, &[], closing);
                assert!(
                    emitted.len() <= most,
                    "{panes:?} {mode:?} {bound:?}: {} emitted, bound {most}",
                    emitted.len()
                );
                if mode == OutputMode::Append && bound == Some(i64::MAX) {
                    assert!(!emitted.is_empty(), "{panes:?}: the end emits every window");
                }
            }
        }
    }

    #[test]
    fn a_whole_window_slot_belongs_to_that_window_alone() {
        let panes = sliding(90, 30);
        assert_eq!(panes.windows(60, 150).collect::<Vec<_>>(), vec![(60, 150)]);
        assert_eq!(panes.windows(-90, 0).collect::<Vec<_>>(), vec![(-90, 0)]);
        assert_eq!(panes.last_end(60), 150);
    }

    #[test]
    fn panes_are_the_common_divisor_of_size_and_slide() {
        assert_eq!(sliding(50, 20).pane(45), (40, 50));
        assert_eq!(sliding(10, 2).pane(-1), (-2, 0));
        let tumbling = Panes::of(WindowKind::Tumbling {
            size: Duration::from_micros(60),
        })
        .unwrap();
        assert_eq!(tumbling.pane(61), (60, 120));
        assert_eq!(
            tumbling.windows(60, 120).collect::<Vec<_>>(),
            vec![(60, 120)]
        );
    }

    #[test]
    fn cumulating_windows_share_their_period_s_start_and_grow_by_the_step() {
        let panes = Panes::of(WindowKind::Cumulating {
            size: Duration::from_micros(60),
            step: Duration::from_micros(20),
        })
        .unwrap();
        assert_eq!(panes.pane(125), (120, 140));
        // 125 is in [120, 180) and [120, 140) and [120, 160).
        assert_eq!(
            panes.windows(120, 140).collect::<Vec<_>>(),
            vec![(120, 180), (120, 160), (120, 140)]
        );
        assert_eq!(
            panes.windows(160, 180).collect::<Vec<_>>(),
            vec![(120, 180)]
        );
        assert_eq!(panes.windows(-20, 0).collect::<Vec<_>>(), vec![(-60, 0)]);
        assert_eq!(panes.last_end(125), 180);
    }
}
