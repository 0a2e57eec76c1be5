//! A plan as text, one line per source, operator and sink: what `sluice explain` prints,
//! so that a user sees what a SQL or YAML job runs, which state each operator keeps and
//! what sets its watermark.

use std::fmt::Write;
use std::time::Duration;

use super::{Operator, OperatorKind, Plan, SinkRole, state_layout};
use crate::dedup::DedupSpec;
use crate::stream_join::StreamJoinSpec;
use crate::top_n::Ranking;
use crate::watermark::WatermarkInput;
use crate::window::{OutputMode, WindowKind, WindowSpec};

impl Plan {
    /// The plan as text: the job, each source, each operator (`name: kind <- inputs`,
    /// then what it does, and for an event-time operator its state name and the clocks
    /// of its watermark), and the sinks in commit order.
    pub fn explain(&self) -> String {
        let mut out = format!("job {} ({} key groups)\n", self.job_id, self.key_groups);
        for source in self.sources() {
            let _ = writeln!(out, "source {source}");
        }
        for op in &self.operators {
            let _ = writeln!(out, "{}", operator(op));
        }
        for sink in &self.sinks {
            let role = match sink.role {
                SinkRole::Table => "table",
                SinkRole::QualityGate { .. } => "quality gate, committed first",
                SinkRole::DeadLetters => "dead letters",
            };
            let _ = writeln!(out, "sink {} <- {} ({role})", sink.name, sink.input);
        }
        out
    }
}

/// One operator's line.
fn operator(op: &Operator) -> String {
    let mut inputs = vec![op.input.clone()];
    let what = match &op.kind {
        OperatorKind::Rules(set) => {
            let rules: Vec<String> = set
                .rules
                .iter()
                .map(|(name, sql)| format!("{name}: {sql}"))
                .collect();
            format!("rules [{}]", rules.join("; "))
        }
        OperatorKind::Join(spec) => table_join(spec),
        OperatorKind::Project {
            columns,
            keep_input,
            drop,
            keep_coordinates,
        } => projection(columns, *keep_input, drop, *keep_coordinates),
        OperatorKind::Filter { predicate } => format!("where {predicate}"),
        OperatorKind::Window(spec) => window(spec),
        OperatorKind::Dedup(spec) => dedup(spec),
        OperatorKind::StreamJoin(spec) => {
            inputs.push(spec.right.clone());
            stream_join(spec)
        }
        OperatorKind::Aggregate(spec) => {
            let columns: Vec<String> = spec
                .columns
                .iter()
                .map(|(name, sql)| format!("{sql} AS {name}"))
                .collect();
            format!(
                "aggregate of each epoch by {:?}: {}",
                spec.keys,
                columns.join(", ")
            )
        }
        OperatorKind::TopN(spec) => top_n(spec),
        OperatorKind::Union { others } => {
            inputs.extend(others.iter().cloned());
            "union all, by position".to_owned()
        }
        OperatorKind::WindowTopN(spec) => window_top_n(spec),
        OperatorKind::WindowAssign(spec) => window_assignment(spec),
        OperatorKind::Unnest(spec) => unnest(spec),
    };
    format!(
        "operator {}: {} <- {}: {what}",
        op.name,
        op.kind.kind_name(),
        inputs.join(", ")
    )
}

/// A join with a table: its strategy and kind, the table's rows it keeps, its keys and
/// the columns it adds under other names.
fn table_join(spec: &crate::join::JoinSpec) -> String {
    let kinds = format!("{:?} {:?}", spec.strategy, spec.kind).to_lowercase();
    let on = if spec.table_keys.is_empty() {
        format!("{:?}", spec.keys)
    } else {
        format!("{:?} = the table's {:?}", spec.keys, spec.table_keys)
    };
    let rows = spec
        .table_filter
        .as_ref()
        .map_or_else(String::new, |f| format!(" (its rows where {f})"));
    let renamed: Vec<String> = spec
        .renamed
        .iter()
        .map(|(column, name)| format!("its {column} as {name}"))
        .collect();
    let renamed = if renamed.is_empty() {
        String::new()
    } else {
        format!(", adding {}", renamed.join(", "))
    };
    format!(
        "{kinds} join with the table `{}`{rows} on {on}{renamed}",
        spec.name
    )
}

/// A projection's select list.
fn projection(
    columns: &[(String, String)],
    keep_input: bool,
    drop: &[String],
    keep_coordinates: bool,
) -> String {
    let mut items: Vec<String> = Vec::new();
    if keep_input {
        items.push("*".into());
    }
    items.extend(columns.iter().map(|(name, sql)| {
        if sql.trim_matches('"') == name {
            name.clone()
        } else {
            format!("{sql} AS {name}")
        }
    }));
    let dropped = if drop.is_empty() {
        String::new()
    } else {
        format!(" except {drop:?}")
    };
    let coordinates = if keep_coordinates && !keep_input {
        " (and the rows' coordinates)"
    } else {
        ""
    };
    format!("select {}{dropped}{coordinates}", items.join(", "))
}

/// A Top-N of each epoch's rows.
fn top_n(spec: &crate::top_n::TopNSpec) -> String {
    let order: Vec<String> = spec.order_by.iter().map(ToString::to_string).collect();
    format!(
        "top {} per {:?} by {}{}{} (each epoch's rows)",
        spec.limit,
        spec.partition_by,
        order.join(", "),
        match spec.ranking {
            Ranking::RowNumber => "",
            Ranking::Rank => ", ties kept",
            Ranking::DenseRank => ", ties kept, dense ranks",
        },
        spec.rank_column
            .as_ref()
            .map_or_else(String::new, |r| format!(", rank as `{r}`"))
    )
}

/// A Top-N of each window's rows.
fn window_top_n(spec: &crate::top_n::WindowTopNSpec) -> String {
    format!(
        "the first {} ranks ({:?}) of each window by {}, ordered by {}; kept until the \
         watermark ({} - {:?}) closes the window",
        spec.top.limit,
        spec.top.ranking,
        spec.top.partition_by.join(", "),
        spec.top
            .order_by
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        spec.time_column,
        spec.delay
    )
}

/// A window assignment: a row per window containing each row.
fn window_assignment(spec: &crate::window::AssignSpec) -> String {
    format!(
        "a row per {} window containing `{}`{}, with window_start, window_end and \
         window_time",
        match spec.kind {
            WindowKind::Tumbling { size } => format!("tumbling {size:?}"),
            WindowKind::Sliding { size, slide } => format!("sliding {size:?} every {slide:?}"),
            WindowKind::Cumulating { size, step } => format!("cumulating {size:?} by {step:?}"),
            other => format!("{other:?}"),
        },
        spec.time_column,
        if spec.offset.is_zero() {
            String::new()
        } else {
            format!(" (from {:?} past the epoch)", spec.offset)
        }
    )
}

/// An unnest: a row per element.
fn unnest(spec: &crate::unnest::UnnestSpec) -> String {
    format!(
        "a row per element of `{}`, as {}{}",
        spec.column,
        match &spec.fields {
            Some(fields) => format!("its fields' columns {}", fields.join(", ")),
            None => format!("`{}`", spec.element),
        },
        if spec.outer {
            " (a row without any kept once, with a null)"
        } else {
            ""
        }
    )
}

fn window(spec: &WindowSpec) -> String {
    let shape = match spec.kind {
        WindowKind::Global => "no window (one group per key)".to_owned(),
        _ => state_layout::windows_of(spec),
    };
    let aggregates: Vec<String> = spec
        .aggregates
        .iter()
        .map(|a| {
            let by =
                a.by.as_deref()
                    .map(|b| format!(", {b}"))
                    .unwrap_or_default();
            format!(
                "{}({}{by}) AS {}",
                state_layout::function_name(a.function),
                a.column.as_deref().unwrap_or("*"),
                a.name
            )
        })
        .collect();
    let mut line = format!(
        "{shape} by {:?}: {}; {}",
        spec.keys,
        aggregates.join(", "),
        match spec.mode {
            OutputMode::Append => "append".to_owned(),
            OutputMode::Update if spec.allowed_lateness.is_zero() => "update".to_owned(),
            OutputMode::Update => format!(
                "update, late rows correct it for {}",
                text(spec.allowed_lateness)
            ),
        }
    );
    if spec.changelog {
        line.push_str(", as a changelog");
    }
    if spec.deletes {
        line.push_str(", with deletes of merged sessions");
    }
    if let Some(gap) = &spec.gap_column {
        line.push_str(&format!(", each row's session gap from `{gap}`"));
    }
    if spec.kind != WindowKind::Global {
        line.push_str(&watermark(
            &spec.time_column,
            spec.delay,
            spec.watermark_from.as_deref(),
            &spec.watermark_also,
        ));
    }
    format!("{line}; state `{}`", spec.name)
}

fn dedup(spec: &DedupSpec) -> String {
    format!(
        "first row per {:?} by {}{}; state `{}`",
        spec.keys,
        spec.time_column,
        watermark(
            &spec.time_column,
            spec.delay,
            spec.watermark_from.as_deref(),
            &spec.watermark_also
        ),
        spec.name
    )
}

fn stream_join(spec: &StreamJoinSpec) -> String {
    let (l, r) = (&spec.left_prefix, &spec.right_prefix);
    let until = spec.left_until.as_deref().unwrap_or(&spec.left_time);
    let offset = |us: i64| {
        let d = text(Duration::from_micros(us.unsigned_abs()));
        if us < 0 {
            format!("- {d}")
        } else {
            format!("+ {d}")
        }
    };
    let of = |from: &Option<String>| {
        from.as_ref()
            .map_or_else(String::new, |f| format!(" of {f}"))
    };
    format!(
        "{kind} interval join with `{right}` on {left_keys:?} = {right_keys:?}, \
         {r}{right_time} between {l}{left_time} {min} and {l}{until} {max}{condition}; \
         watermarks {l}{left_time} - {ld}{lf}, {r}{right_time} - {rd}{rf}; state `{name}`",
        condition = spec
            .condition
            .as_ref()
            .map_or_else(String::new, |c| format!(", pairs where {c}")),
        lf = of(&spec.left_watermark_from),
        rf = of(&spec.right_watermark_from),
        kind = format!("{:?}", spec.kind).to_lowercase(),
        right = spec.right,
        left_keys = spec.left_keys,
        right_keys = spec.right_keys,
        right_time = spec.right_time,
        left_time = spec.left_time,
        min = offset(spec.min_offset_us),
        max = offset(spec.max_offset_us),
        ld = text(spec.left_delay),
        rd = text(spec.right_delay),
        name = spec.name,
    )
}

/// `; watermark ts - 10m of stream` and its further clocks.
fn watermark(time: &str, delay: Duration, from: Option<&str>, also: &[WatermarkInput]) -> String {
    let of = from.map_or_else(String::new, |f| format!(" of {f}"));
    let mut line = format!("; watermark {time} - {}{of}", text(delay));
    for clock in also {
        let _ = write!(
            line,
            ", and {} - {} of {}",
            clock.time_column,
            text(clock.delay),
            clock.stream
        );
    }
    if !also.is_empty() {
        line.push_str(" (the least)");
    }
    line
}

fn text(d: Duration) -> String {
    format!("{d:?}")
}

#[cfg(test)]
mod tests {
    use super::super::PlanBuilder;
    use crate::window::{Aggregate, AggregateFn};

    use super::*;

    #[test]
    fn every_operator_says_what_it_reads_and_keeps() {
        let plan = PlanBuilder::new("clicks", "web")
            .source("app")
            .filter("web/valid", "web", "v > 0")
            .union("all", &["web/valid", "app"])
            .window(
                "per_user/window",
                "all",
                WindowSpec {
                    name: "per_user".into(),
                    kind: WindowKind::Sliding {
                        size: Duration::from_secs(300),
                        slide: Duration::from_secs(60),
                    },
                    time_column: "ts".into(),
                    keys: vec!["user_id".into()],
                    aggregates: vec![Aggregate {
                        name: "n".into(),
                        function: AggregateFn::Count,
                        column: None,
                        by: None,
                    }],
                    delay: Duration::from_secs(600),
                    mode: OutputMode::Append,
                    allowed_lateness: Duration::ZERO,
                    watermark_from: Some("web".into()),
                    watermark_also: vec![WatermarkInput {
                        stream: "app".into(),
                        time_column: "ts".into(),
                        delay: Duration::from_secs(60),
                    }],
                    changelog: false,
                    deletes: false,
                    offset: std::time::Duration::ZERO,
                    gap_column: None,
                },
            )
            .sink("per_user", "per_user/window")
            .dead_letters("dlq")
            .build()
            .unwrap();
        let text = plan.explain();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "job clicks (128 key groups)",
                "source web",
                "source app",
                "operator web/valid: filter <- web: where v > 0",
                "operator all: union <- web/valid, app: union all, by position",
                "operator per_user/window: window <- all: sliding 300s every 60s by \
                 [\"user_id\"]: count(*) AS n; append; watermark ts - 600s of web, and ts - \
                 60s of app (the least); state `per_user`",
                "sink per_user <- per_user/window (table)",
                "sink dlq <- dead_letters (dead letters)",
            ]
        );
    }
}
