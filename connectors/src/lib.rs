//! # sluice-connectors
//!
//! Sources and sinks, one module per system: the deterministic event `generator`, the JSON
//! `format`, the `delta` table sink and the `dead_letter` table. Each implements the
//! engine's runtime traits so that it slots into any plan.
//!
//! ```
//! use sluice_connectors::generator::GeneratorConfig;
//! let config = GeneratorConfig { events: 10, partitions: 2, ..GeneratorConfig::default() };
//! // Every event is a pure function of (seed, partition, offset).
//! assert_eq!(config.event(1, 3), config.event(1, 3));
//! ```
#![warn(missing_docs)]

pub mod blackhole;
pub mod cause;
pub mod dead_letter;
pub mod delta;
pub mod files;
pub mod format;
pub mod generator;
pub mod kafka;
pub mod kinesis;
pub mod nexmark;
