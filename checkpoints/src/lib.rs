//! The checkpoint store of sluice, on [`object_store`] (a local directory or `s3://`).
//!
//! It holds the durable half of the exactly-once protocol (DESIGN.md §3) for each job:
//!
//! ```text
//! <root>/<job_id>/metadata.json                    job identity, written once
//! <root>/<job_id>/offsets/<epoch>                  ranges read by the epoch, put-if-absent
//! <root>/<job_id>/state/<epoch>/<operator>/<part>  operator state, each part a key-group range
//! <root>/<job_id>/commits/<epoch>                  the epoch is done (and its state parts), put-if-absent
//! ```
//!
//! Epoch names are zero-padded to 20 digits so listings sort by number.
//!
//! # Contract
//!
//! - **Atomic put-if-absent.** `metadata.json`, `offsets/<e>` and `commits/<e>` are written
//!   with `PutMode::Create`: the first writer wins and the object never changes. A later
//!   [`put_offsets`](CheckpointStore::put_offsets) gets the stored entry back as
//!   [`Logged::Existing`], so an epoch is always re-run with exactly its logged ranges.
//!   State parts are overwritten atomically (a re-run epoch writes the same bytes). Every
//!   object is complete or absent; no reader sees a partial write.
//! - **Listing.** `latest_*` and the epoch lists come from listing a folder, never from a
//!   pointer file that could lag. Stray names are ignored with a warning.
//! - **Snapshots.** State at `e` counts only once `commits/<e>` has `snapshot == true`, and
//!   only the parts that marker lists, which [`check_tiling`] proves cover every key group
//!   once (other parts, left by a crashed run with another worker count, are ignored);
//!   recovery restores [`latest_snapshot_at_or_before`](CheckpointStore::latest_snapshot_at_or_before)
//!   the last commit and replays the logged epochs after it.
//! - **Retention.** [`apply_retention`](CheckpointStore::apply_retention) keeps the newest
//!   snapshots and everything at or after the oldest kept one, deleting only older objects.
//! - **Inspection.** [`describe`](CheckpointStore::describe) summarizes a job for
//!   `sluice checkpoints inspect`.
//!
//! All methods are async, `Send`, and may be driven from a sync thread with
//! `tokio::runtime::Handle::block_on`. [`CheckpointStore`] is cheap to clone.
//!
//! # Example
//!
//! ```
//! use sluice_checkpoints::{
//!     CheckpointStore, CommitMarker, Logged, OffsetsEntry, SourceRange, StatePart, check_tiling,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = CheckpointStore::open(dir.path().to_str().unwrap(), "orders-job")?;
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let entry = OffsetsEntry {
//!         epoch: 0,
//!         ranges: vec![SourceRange::offsets("orders", 0, 0, 500)],
//!         watermark_ms: None,
//!         max_event_time_ms: None,
//!         plan_fingerprint: "f00d".into(),
//!         final_epoch: false,
//!         run_id: None,
//!         table_versions: vec![],
//!         planned_at_ms: None,
//!         idle_max_event_time_ms: None,
//!     };
//!     assert_eq!(store.put_offsets(&entry).await?, Logged::Written);
//!     store.put_state(0, "window", "kg-0", bytes::Bytes::from_static(b"arrow ipc")).await?;
//!     let part = StatePart {
//!         operator: "window".into(),
//!         part: "kg-0".into(),
//!         first_key_group: 0,
//!         end_key_group: 128,
//!         bytes: 9,
//!         keys: 2,
//!     };
//!     check_tiling(0, std::slice::from_ref(&part), 128)?;
//!     store
//!         .put_commit(&CommitMarker {
//!             epoch: 0,
//!             snapshot: true,
//!             committed_at_ms: 0,
//!             state: Some(vec![part]),
//!             tables: [("silver".to_string(), 0)].into(),
//!         })
//!         .await?;
//!     assert_eq!(store.latest_snapshot_at_or_before(0).await?.map(|m| m.epoch), Some(0));
//!     println!("{}", store.describe().await?);
//!     Ok::<_, sluice_checkpoints::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod commit;
mod cursors;
mod error;
mod inspect;
mod layout;
mod offsets;
mod retention;
mod retry;
mod rewind;
mod savepoint;
mod snapshot;
mod store;
mod summary;

pub use commit::CommitMarker;
pub use error::{Error, ErrorKind, Result};
pub use inspect::{EpochReport, diff_epochs};
pub use layout::StateLayout;
pub use offsets::{Logged, OffsetsEntry, SourceRange};
pub use retention::{Retention, RetentionReport};
pub use retry::StoreRetry;
pub use rewind::{ReplayIntent, RewindPlan};
pub use savepoint::Savepoint;
pub use snapshot::{StatePart, StateSize, check_tiling, state_sizes};
pub use store::{CheckpointStore, JobMetadata, check_name, object_store_for};
pub use summary::CheckpointSummary;
