//! A compiled plan's [`StateLayout`]: for each stateful operator, the properties its state
//! snapshot depends on, so that an edited plan can be checked against a checkpoint before
//! its state is restored (the job metadata records the layout of the plan that wrote it).
//!
//! - A window's state is keyed by its key columns' encoded values (their types matter),
//!   holds one accumulator per aggregate, and its windows are cut by the window's shape:
//!   a changed key, aggregate, shape, time column, output mode or allowed lateness does not
//!   fit.
//! - A deduplication keeps keys and times.
//! - A stream join keeps whole rows of both sides (their columns and types) by key, and
//!   evicts them by its time bounds.
//! - The sources and the keyed joins are recorded in the `(job)` entry: the offsets log
//!   names each source's ranges, and each epoch logs the versions of the keyed joins'
//!   tables in plan order.
//!
//! A watermark's delay, filters, projections and sinks are not part of the layout: a
//! replay may change them.

use arrow::datatypes::{DataType, Schema, SchemaRef};
use sluice_checkpoints::StateLayout;

use super::{CompiledJoin, CompiledOperator, CompiledPlan};
use crate::window::{Aggregate, OutputMode, WindowKind, WindowSpec};

/// The `(job)` entry's name: not a valid operator name, so it never collides with one.
const JOB: &str = "(job)";

impl CompiledPlan {
    /// What shapes the state of this plan's stateful operators; see the
    /// [module docs](self).
    pub fn state_layout(&self) -> StateLayout {
        let sources: Vec<&str> = self.plan.sources().collect();
        let mut keyed_joins = Vec::new();
        let mut layout = StateLayout::default().with(JOB, "sources", sources.join(", "));
        for (operator, compiled) in self.plan.operators.iter().zip(&self.operators) {
            layout = match compiled {
                CompiledOperator::Window { spec, input } => window(layout, spec, input),
                CompiledOperator::WindowTopN { spec, input } => layout
                    .with(&spec.top.name, "kind", "window top-n")
                    .with(&spec.top.name, "keys", typed(&spec.top.partition_by, input))
                    .with(&spec.top.name, "time", &spec.time_column),
                CompiledOperator::Dedup { spec, input } => layout
                    .with(&spec.name, "kind", "deduplication")
                    .with(&spec.name, "keys", typed(&spec.keys, input))
                    .with(&spec.name, "time", &spec.time_column),
                CompiledOperator::StreamJoin {
                    spec, left, right, ..
                } => layout
                    .with(&spec.name, "kind", "stream join")
                    .with(
                        &spec.name,
                        "join",
                        format!("{:?}", spec.kind).to_lowercase(),
                    )
                    .with(&spec.name, "left keys", typed(&spec.left_keys, left))
                    .with(&spec.name, "right keys", typed(&spec.right_keys, right))
                    .with(
                        &spec.name,
                        "bounds",
                        match &spec.left_until {
                            None => format!(
                                "{} µs to {} µs (right time - left time)",
                                spec.min_offset_us, spec.max_offset_us
                            ),
                            Some(until) => format!(
                                "right time from left time + {} µs to left `{until}` + {} µs",
                                spec.min_offset_us, spec.max_offset_us
                            ),
                        },
                    )
                    .with(&spec.name, "left time", &spec.left_time)
                    .with(&spec.name, "right time", &spec.right_time)
                    .with(&spec.name, "left columns", columns(left))
                    .with(&spec.name, "right columns", columns(right)),
                CompiledOperator::Join(CompiledJoin::Keyed(_)) => {
                    keyed_joins.push(operator.name.as_str());
                    layout
                }
                _ => layout,
            };
        }
        let keyed = if keyed_joins.is_empty() {
            "none".to_string()
        } else {
            keyed_joins.join(", ")
        };
        layout.with(JOB, "keyed joins", keyed)
    }
}

fn window(layout: StateLayout, spec: &WindowSpec, input: &SchemaRef) -> StateLayout {
    let name = spec.name.as_str();
    let mode = match spec.mode {
        OutputMode::Append => "append",
        OutputMode::Update => "update",
    };
    let aggregates: Vec<String> = spec
        .aggregates
        .iter()
        .map(|a| aggregate(a, input))
        .collect();
    layout
        .with(name, "kind", "window")
        .with(name, "window", windows_of(spec))
        .with(name, "time", &spec.time_column)
        .with(name, "keys", typed(&spec.keys, input))
        .with(name, "aggregates", aggregates.join(", "))
        .with(name, "output mode", mode)
        .with(
            name,
            "allowed lateness",
            format!("{:?}", spec.allowed_lateness),
        )
}

/// A window spec's windows in words: its [`shape`], and its offset when it has one
/// (`tumbling 3600s from 900s`).
pub(super) fn windows_of(spec: &WindowSpec) -> String {
    let shape = shape(&spec.kind);
    if spec.offset.is_zero() {
        shape
    } else {
        format!("{shape} from {:?}", spec.offset)
    }
}

/// A window kind in words (`sliding 300s every 60s`).
pub(super) fn shape(kind: &WindowKind) -> String {
    let text = |d: std::time::Duration| format!("{d:?}");
    match kind {
        WindowKind::Tumbling { size } => format!("tumbling {}", text(*size)),
        WindowKind::Sliding { size, slide } => {
            format!("sliding {} every {}", text(*size), text(*slide))
        }
        WindowKind::Cumulating { size, step } => {
            format!("cumulating to {} by {}", text(*size), text(*step))
        }
        WindowKind::Session { gap } => format!("session, gap {}", text(*gap)),
        WindowKind::Global => "none (one group per key)".to_owned(),
    }
}

/// An aggregate function's name as job files write it (`count`, `approx_count_distinct`).
pub(super) fn function_name(function: crate::window::AggregateFn) -> String {
    serde_json::to_value(function)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{function:?}"))
}

fn aggregate(a: &Aggregate, input: &Schema) -> String {
    let function = function_name(a.function);
    let mut argument = a.column.as_ref().map_or_else(
        || "*".to_string(),
        |c| typed(std::slice::from_ref(c), input),
    );
    if let Some(by) = &a.by {
        argument = format!("{argument}, {}", typed(std::slice::from_ref(by), input));
    }
    format!("{function}({argument}) AS {}", a.name)
}

/// `name Type, ...` of `names` in `schema` (a name it lacks reads `name ?`: the plan
/// compiled, so that does not happen).
fn typed(names: &[String], schema: &Schema) -> String {
    let described: Vec<String> = names
        .iter()
        .map(|n| {
            schema
                .field_with_name(n)
                .map_or_else(|_| format!("{n} ?"), |f| describe(f.name(), f.data_type()))
        })
        .collect();
    described.join(", ")
}

fn columns(schema: &Schema) -> String {
    let described: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| describe(f.name(), f.data_type()))
        .collect();
    described.join(", ")
}

fn describe(name: &str, data_type: &DataType) -> String {
    format!("{name} {data_type}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::datatypes::{Field, TimeUnit};

    use super::*;
    use crate::plan::{PlanBuilder, StaticInputs};
    use crate::window::AggregateFn;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, true),
            Field::new("value", DataType::Int64, true),
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]))
    }

    fn spec(keys: &[&str], size_s: u64, delay_s: u64) -> WindowSpec {
        WindowSpec {
            name: "per_user".into(),
            kind: WindowKind::Tumbling {
                size: Duration::from_secs(size_s),
            },
            time_column: "event_time".into(),
            keys: keys.iter().map(|k| (*k).to_string()).collect(),
            aggregates: vec![Aggregate {
                name: "total".into(),
                function: AggregateFn::Sum,
                column: Some("value".into()),
                by: None,
            }],
            delay: Duration::from_secs(delay_s),
            mode: OutputMode::Append,
            allowed_lateness: Duration::ZERO,
            watermark_from: None,
            watermark_also: Vec::new(),
            changelog: false,
            deletes: false,
            offset: std::time::Duration::ZERO,
            gap_column: None,
        }
    }

    fn layout(predicate: &str, window: WindowSpec) -> StateLayout {
        let plan = PlanBuilder::new("clicks", "events")
            .filter("valid", "events", predicate)
            .window("per_user", "valid", window)
            .sink("gold", "per_user")
            .dead_letters("dlq")
            .build()
            .expect("a valid plan");
        CompiledPlan::compile(plan, &schema(), &StaticInputs::default())
            .expect("compiles")
            .state_layout()
    }

    #[test]
    fn a_window_is_described_with_its_key_types() {
        let layout = layout("value > 0", spec(&["user_id"], 60, 600));
        let window = &layout.operators["per_user"];
        assert_eq!(window["keys"], "user_id Utf8");
        assert_eq!(window["aggregates"], "sum(value Int64) AS total");
        assert_eq!(window["window"], "tumbling 60s");
        assert_eq!(layout.operators["(job)"]["sources"], "events");
        assert_eq!(layout.operators["(job)"]["keyed joins"], "none");
    }

    #[test]
    fn a_filter_or_a_delay_may_change_and_a_key_or_a_window_may_not() {
        let old = layout("value > 0", spec(&["user_id"], 60, 600));
        let edited = layout("value > 10", spec(&["user_id"], 60, 30));
        assert_eq!(old.differences(&edited), Vec::<String>::new());
        let rekeyed = layout("value > 0", spec(&["user_id", "value"], 120, 600));
        assert_eq!(
            old.differences(&rekeyed),
            vec![
                "`per_user`: keys was `user_id Utf8`, is `user_id Utf8, value Int64`".to_string(),
                "`per_user`: window was `tumbling 60s`, is `tumbling 120s`".to_string(),
            ]
        );
    }
}
