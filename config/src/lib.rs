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

mod error;
mod job;
pub mod overrides;
pub mod params;

pub use error::{ConfigError, Result};
pub use job::{
    AggregateConfig, CheckpointConfig, ColumnConfig, EpochAggregateConfig, FieldConfig, FieldType,
    GoldConfig, JobConfig, JoinConfig, JoinTableConfig, KafkaOutputConfig, OutputConfig,
    ReferenceConfig, RuleConfig, SilverConfig, SourceConfig, TableNames, TableTopics,
    TriggerConfig, WindowConfig,
};
pub use overrides::Override;

/// The example job that `sluice demo` runs: the user-activity medallion pipeline.
pub const USER_ACTIVITY_YAML: &str = include_str!("../user-activity.yaml");
