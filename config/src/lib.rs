//! # sluice-config
//!
//! Typed job configuration: YAML with kebab-case keys and humantime durations, embedding
//! SQL expressions. Defaults come first, then the file; every key is validated at start
//! and errors name the file and what was expected.
//!
//! ```
//! let job = sluice_config::JobConfig::from_yaml_str(
//!     sluice_config::USER_ACTIVITY_YAML, "user-activity.yaml").unwrap();
//! assert_eq!(job.job_id, "user-activity");
//! ```
#![warn(missing_docs)]

mod aggregation;
mod error;
mod job;
pub mod medallion;
mod output;
pub mod overrides;
pub mod params;
pub mod sql;

pub use aggregation::{AggregateConfig, EpochAggregateConfig, GoldConfig, WindowConfig};
pub use error::{ConfigError, Result};
pub use job::{
    ColumnConfig, FieldConfig, FieldType, JobConfig, JoinConfig, JoinTableConfig, MetricsConfig,
    ReferenceConfig, RuleConfig, SilverConfig, SourceColumns, SourceConfig, TriggerConfig,
};
pub use output::{
    AutoCompactConfig, CheckpointConfig, KafkaOutputConfig, ObjectStoreConfig, OutputConfig,
    TableNames, TableTopics,
};
pub use overrides::Override;
pub use sql::{SqlJob, SqlQueries};

/// The example job that `sluice demo` runs: the user-activity medallion pipeline.
pub const USER_ACTIVITY_YAML: &str = include_str!("../user-activity.yaml");
