//! Nexmark, the standard streaming benchmark's generator: an online auction's people,
//! auctions and bids, in the benchmark's proportions (per 50 events: 1 person, 3
//! auctions, 46 bids), each a pure function of the seed and its event number.
//!
//! Event `n` (global, from 0) is a person when `n % 50 == 0`, an auction when
//! `n % 50` is 1 to 3, and a bid otherwise. Its event time is `start + n / rate`
//! (strictly in order, as the benchmark's generator emits). Person `k` has id `1000 + k`
//! and auction `k` id `1000 + k`; an auction's seller is a recent person, a bid's auction
//! and bidder are mostly a few hot ones (the benchmark's skew), otherwise recent ones.
//! Prices are log-uniform from $1 to $1M, in cents.
//!
//! The source reads one kind (`kind: bid`, the default) from the whole event sequence,
//! split over partitions like the generator's: partition `p` holds events
//! `n = o * partitions + p`. Its offsets count every event, so the events a range covers
//! are the benchmark's events, of which the chosen kind is a share.
//!
//! ```
//! use sluice_connectors::nexmark::{Kind, NexmarkConfig};
//!
//! let config = NexmarkConfig::default();
//! assert_eq!(config.kind_of(0), Kind::Person);
//! assert_eq!(config.kind_of(2), Kind::Auction);
//! assert_eq!(config.kind_of(10), Kind::Bid);
//! let bids = config.rows(Kind::Bid, 0, 0, 100);
//! assert_eq!(bids.num_rows(), (0..100).filter(|o| config.kind_of(o * 4) == Kind::Bid).count());
//! assert_eq!(bids, config.rows(Kind::Bid, 0, 0, 100)); // replays are identical
//! ```

mod event;
mod source;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

pub use self::event::rows;
pub use self::source::NexmarkSource;

/// The `source` name of Nexmark rows.
pub const SOURCE_NAME: &str = "nexmark";

/// Events per proportion block, and the people and auctions among them.
pub(crate) const BLOCK: u64 = 50;
pub(crate) const PERSONS_PER_BLOCK: u64 = 1;
pub(crate) const AUCTIONS_PER_BLOCK: u64 = 3;
/// The first person's and auction's id.
pub(crate) const FIRST_ID: i64 = 1000;

/// Which of the three streams a row belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// New people (sellers and bidders).
    Person,
    /// New auctions.
    Auction,
    /// Bids on auctions.
    #[default]
    Bid,
}

/// The Nexmark source's settings; in job files kebab-case keys (`first-event-ms`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NexmarkConfig {
    /// Seed. Default 42.
    pub seed: u64,
    /// Partitions. Default 4.
    pub partitions: u32,
    /// Events in all (persons, auctions and bids). Default 10 000 000.
    pub events: u64,
    /// Which rows the source emits. Default `bid`.
    pub kind: Kind,
    /// Events per second of event time. Default 10 000 000 (the benchmark's default).
    pub rate: u64,
    /// Event time of event 0, in ms since the Unix epoch. Default 2015-07-15T00:00:00Z.
    pub first_event_ms: i64,
    /// Skew of bids: one bid in `hot-ratio` goes to a recent auction (and bidder), the
    /// others to the newest one. Default 2 (half the bids are hot).
    pub hot_ratio: u64,
    /// How many of the newest people and auctions count as recent. Default 100.
    pub recent: u64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            partitions: 4,
            events: 10_000_000,
            kind: Kind::Bid,
            rate: 10_000_000,
            first_event_ms: 1_436_918_400_000,
            hot_ratio: 2,
            recent: 100,
        }
    }
}

impl NexmarkConfig {
    /// The kind of event `n`.
    pub fn kind_of(&self, n: u64) -> Kind {
        match n % BLOCK {
            0 => Kind::Person,
            r if r <= AUCTIONS_PER_BLOCK => Kind::Auction,
            _ => Kind::Bid,
        }
    }

    /// Events in partition `p`.
    pub fn partition_len(&self, partition: u32) -> u64 {
        crate::generator::spread::partition_len(self.events, self.partitions, partition)
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A zero partition count or rate.
    pub fn validate(&self) -> Result<(), String> {
        if self.partitions == 0 || self.rate == 0 || self.hot_ratio == 0 || self.recent == 0 {
            return Err("nexmark: partitions, rate, hot-ratio and recent must be above 0".into());
        }
        Ok(())
    }

    /// The rows of `kind` among events at offsets `start..end` of `partition`, with
    /// their coordinates.
    pub fn rows(
        &self,
        kind: Kind,
        partition: u32,
        start: u64,
        end: u64,
    ) -> arrow::record_batch::RecordBatch {
        rows(self, kind, partition, start, end)
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The columns of `kind`'s rows, before the coordinate columns (Flink's Nexmark names, in
/// snake case).
pub fn fields(kind: Kind) -> Vec<Field> {
    let long = |n: &str| Field::new(n, DataType::Int64, false);
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let time = |n: &str| Field::new(n, timestamp(), false);
    match kind {
        Kind::Person => vec![
            long("id"),
            text("name"),
            text("email_address"),
            text("credit_card"),
            text("city"),
            text("state"),
            time("date_time"),
            text("extra"),
        ],
        Kind::Auction => vec![
            long("id"),
            text("item_name"),
            text("description"),
            long("initial_bid"),
            long("reserve"),
            time("date_time"),
            time("expires"),
            long("seller"),
            long("category"),
            text("extra"),
        ],
        Kind::Bid => vec![
            long("auction"),
            long("bidder"),
            long("price"),
            text("channel"),
            text("url"),
            time("date_time"),
            text("extra"),
        ],
    }
}

/// The schema of `kind`'s rows, coordinate columns included.
pub fn schema(kind: Kind) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = fields(kind).into_iter().map(Arc::new).collect();
    fields.extend(crate::format::coordinate_fields());
    Arc::new(Schema::new(fields))
}
