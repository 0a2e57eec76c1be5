//! Kinesis: a replayable source over a stream's shards, and a producer.
//!
//! [`KinesisSource`] reads shards as partitions. Every epoch's ranges are logged before
//! anything is read: a range counts the records read from a shard (`start..end`) and
//! carries the sequence numbers it starts after and ends at, so a restart re-reads exactly
//! the logged records. Children of a split or merge are read only after all their parents
//! are read to the end, and which shards are finished travels in the logged positions
//! ([`ShardPosition`]). Throttling and transient failures are retried with bounded
//! backoff; an unknown stream, an unreachable endpoint and refused credentials fail at once
//! with one line naming the stream or endpoint.
//!
//! The AWS SDK is async while the engine's source trait is not: the source owns a small
//! tokio runtime (one worker thread) and blocks on it from the worker threads.
//!
//! ```no_run
//! use std::sync::Arc;
//! use arrow::datatypes::{DataType, Field, Schema};
//! use sluice_connectors::format::{Decoder, json::JsonDecoder};
//! use sluice_connectors::kinesis::{KinesisSource, KinesisSourceConfig};
//! use sluice_engine::runtime::{EpochSource, Planned, advance};
//!
//! let mut config = KinesisSourceConfig::new("clicks");
//! config.endpoint = Some("http://127.0.0.1:4567".into());
//! let fields = Arc::new(Schema::new(vec![Field::new("event_id", DataType::Utf8, false)]));
//! let decoder = Decoder::Json(JsonDecoder::try_new(fields).unwrap());
//! let source = KinesisSource::new(config, decoder, "clicks").unwrap();
//! let mut cursors = source.initial_cursors().unwrap();
//! if let Planned::Ranges(ranges) = source.next_ranges(0, &cursors).unwrap() {
//!     for range in ranges.iter().filter(|r| !r.is_empty()) {
//!         let (rows, dead_letters) = source.read(range, 0).unwrap();
//!         println!("{} rows, {} dead letters", rows.num_rows(), dead_letters.num_rows());
//!     }
//!     advance(&mut cursors, &ranges);
//! }
//! ```

mod cache;
mod client;
mod config;
mod error;
mod position;
mod producer;
mod reader;
mod shards;
mod source;

pub use client::connect;
pub use config::{Ending, KinesisSourceConfig, MAX_FETCH_LIMIT, StartingPosition, Timestamp};
pub use error::KinesisError;
pub use position::{Resume, ShardPosition, shard_id, shard_partition};
pub use producer::{PUT_BATCH_RECORDS, PutReport, put_records};
pub use source::KinesisSource;
