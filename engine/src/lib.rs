//! # sluice-engine
//!
//! Timely dataflow operators over Arrow record batches: epochs, watermarks, event-time
//! windows, SQL expressions, the plan a job compiles to, and the worker loop that commits
//! every epoch exactly once (DESIGN sections 2 and 3).
//!
//! ```
//! use sluice_engine::watermark::Watermark;
//! // A 10-unit delay: after an epoch whose max event time is 100, W = 90.
//! let mut w = Watermark::new(10);
//! w.advance();
//! w.observe(Some(100));
//! w.advance();
//! assert_eq!(w.current(), Some(90));
//! ```
#![warn(missing_docs)]

pub mod aggregate;
pub mod batch;
pub mod changelog;
pub mod decimal;
pub mod dedup;
mod epoch;
pub mod error;
mod event_time;
pub mod expr;
pub mod field_type;
pub mod join;
pub mod key;
pub mod metrics;
pub mod nested;
pub mod plan;
pub mod quality;
pub mod runtime;
pub mod stateless;
pub mod stream_join;
pub mod table_feed;
pub mod timestamp;
pub mod top_n;
pub mod union;
pub mod unnest;
pub mod watermark;
pub mod window;

pub use batch::Batches;
pub use error::{EngineError, Result};
