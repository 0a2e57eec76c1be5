//! Kafka: a partitioned, replayable source read with `assign` and explicit offsets, and a
//! producer for generated events and at-least-once outputs.
//!
//! The source never relies on consumer-group offsets: every epoch's `[start, end)` offsets
//! per partition are logged in the checkpoint before anything is read, so a restart
//! re-reads exactly what the logged epoch read. Group offsets are committed after an
//! epoch is durable, for outside lag tools only.

mod client;
mod config;
mod error;
mod metadata;
mod producer;
mod publisher;
mod reader;
mod source;
mod starting;

pub use client::KafkaClient;
pub use config::{KafkaSourceConfig, MetadataColumn};
pub use error::KafkaError;
pub use producer::{EventProducer, ProduceReport, create_topic};
pub use publisher::KafkaPublishedSink;
pub use source::{KafkaSource, OffsetsAtTime};
pub use starting::{EndingOffsets, StartingOffsets};
