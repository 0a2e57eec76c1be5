//! Reading a run of records from one shard: for planning (up to a budget, stopping when
//! caught up), for replaying a logged range (exactly its records), and for finding a
//! shard's last record.

use std::cmp::Ordering;
use std::time::Duration;

use super::client::{Kinesis, ShardRecord};
use super::error::{KinesisError, Result};
use super::position::{Resume, compare_sequences};

/// Times an expired iterator is renewed within one read before giving up.
const MAX_RENEWALS: u32 = 5;
/// Empty, caught-up answers tolerated while replaying before the range is declared gone.
const REPLAY_EMPTY_POLLS: u32 = 5;
/// Consecutive empty answers (while behind the tip) after which planning stops for now.
const PLAN_EMPTY_PAGES: u32 = 100;
/// Consecutive empty answers at the end of a closed shard after which planning stops for
/// now (Kinesis may answer empty pages with a next iterator before the last one without).
const CLOSED_EMPTY_PAGES: u32 = 10;

/// What a read is for.
#[derive(Clone, Debug)]
pub(crate) enum Goal {
    /// Plan a range: up to `want` records, not past `until`, stopping when caught up (an
    /// open shard) or at the end (a closed one).
    Plan {
        /// The budget.
        want: u64,
        /// The last sequence number a bounded job may read.
        until: Option<String>,
        /// Whether the shard is closed: then no record can arrive, and being caught up
        /// does not stop the read; only the end of the shard (no next iterator) does.
        closed: bool,
    },
    /// Replay a logged range: exactly `want` records.
    Replay {
        /// The range's length.
        want: u64,
    },
    /// Find the shard's last record: read to the tip, keeping nothing.
    Scan,
}

/// What a read returned.
#[derive(Clone, Debug, Default)]
pub(crate) struct Fetched {
    /// The records (empty for [`Goal::Scan`]).
    pub records: Vec<ShardRecord>,
    /// The sequence number of the last record read.
    pub last: Option<String>,
    /// Records read.
    pub count: u64,
    /// The shard iterator just after the last record read (or still at the start if none
    /// was), for the next plan to continue without `GetShardIterator`; `None` once
    /// finished.
    pub next: Option<String>,
    /// The shard is done: closed and read to its end, or read up to `until`, or (for a
    /// bounded job) caught up before reaching `until` (the rest was trimmed).
    pub finished: bool,
    /// `MillisBehindLatest` of the last `GetRecords` call, if any was made.
    pub behind_ms: Option<i64>,
}

impl Kinesis {
    /// Reads from `shard` at `from` for `goal`, with `fetch_limit` records per call,
    /// starting with `iterator` if given (it must point at `from`).
    ///
    /// # Errors
    /// The call errors of [`Kinesis`]; [`KinesisError::Replay`] when a replay cannot get
    /// its records.
    pub async fn fetch(
        &self,
        shard: &str,
        from: &Resume,
        goal: &Goal,
        fetch_limit: u32,
        iterator: Option<String>,
    ) -> Result<Fetched> {
        let mut out = Fetched::default();
        let (want, until, keep) = match goal {
            Goal::Plan { want, until, .. } => (*want, until.as_deref(), true),
            Goal::Replay { want } => (*want, None, true),
            Goal::Scan => (u64::MAX, None, false),
        };
        if want == 0 {
            return Ok(out);
        }
        let mut iterator = match iterator {
            Some(it) => Some(it),
            None => self.iterator(shard, from).await?,
        };
        let mut renewals = 0;
        let mut empty_polls = 0;
        let mut empty_pages = 0;
        loop {
            let Some(current) = iterator.take() else {
                out.finished = true;
                break;
            };
            let limit = u32::try_from(want - out.count)
                .unwrap_or(u32::MAX)
                .min(fetch_limit);
            let Some(page) = self.records(&current, limit).await? else {
                renewals += 1;
                if renewals > MAX_RENEWALS {
                    return Err(KinesisError::Api {
                        stream: self.stream().to_string(),
                        operation: "GetRecords",
                        message: format!("shard iterator of {shard} kept expiring"),
                    });
                }
                let resume = out.last.clone().map_or_else(|| from.clone(), Resume::After);
                tracing::debug!(shard, "shard iterator expired; renewing");
                iterator = self.iterator(shard, &resume).await?;
                continue;
            };
            let returned = page.records.len();
            out.behind_ms = Some(page.behind_ms);
            let mut bound = false;
            for record in page.records {
                if until
                    .is_some_and(|u| compare_sequences(&record.sequence, u) == Ordering::Greater)
                {
                    bound = true;
                    break;
                }
                let last = until == Some(record.sequence.as_str());
                out.count += 1;
                if keep {
                    out.last = Some(record.sequence.clone());
                    out.records.push(record);
                } else {
                    out.last = Some(record.sequence);
                }
                if last {
                    bound = true;
                    break;
                }
            }
            if bound {
                out.finished = true;
                break;
            }
            iterator = page.next;
            out.next.clone_from(&iterator);
            if iterator.is_none() {
                out.finished = true;
                break;
            }
            if out.count >= want {
                break;
            }
            let caught_up = page.behind_ms == 0 && (returned as u64) < u64::from(limit);
            match goal {
                Goal::Plan { until, closed, .. } => {
                    if caught_up && !closed {
                        // A bounded shard caught up before its bound: the bound's record
                        // was trimmed, nothing more belongs to the job.
                        out.finished = until.is_some();
                        break;
                    }
                    empty_pages = if returned == 0 { empty_pages + 1 } else { 0 };
                    let patience = if *closed {
                        CLOSED_EMPTY_PAGES
                    } else {
                        PLAN_EMPTY_PAGES
                    };
                    if empty_pages >= patience {
                        break;
                    }
                }
                Goal::Scan => {
                    if caught_up {
                        break;
                    }
                }
                Goal::Replay { .. } => {
                    if returned == 0 && caught_up {
                        empty_polls += 1;
                        if empty_polls > REPLAY_EMPTY_POLLS {
                            return Err(KinesisError::Replay {
                                stream: self.stream().to_string(),
                                shard: shard.to_string(),
                                message: format!(
                                    "the stream holds only {} of the {want} logged records after \
                                     the logged position (trimmed by retention?)",
                                    out.count
                                ),
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(100 * u64::from(empty_polls)))
                            .await;
                    }
                }
            }
        }
        if out.finished {
            out.next = None;
        }
        Ok(out)
    }
}
