//! The windowed aggregate of a query: `GROUP BY` an event-time window and keys, lowered
//! to the arguments' projection, the window and the select list's order and names; the
//! output modes of its table, and `HAVING` over its rows.

use crate::sql::error::SqlError;
use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::sql::sqlparser::ast::{Expr, SelectItem};
use sluice_engine::plan::PlanBuilder;
use sluice_engine::window::{Aggregate, OutputMode, WindowKind, WindowSpec};

use super::ddl::{SinkTable, SourceTable};
use super::query::{Input, quoted, unsupported};
use sluice_engine::changelog::CHANGE_COLUMN;

mod call;
mod foreign;
mod select_list;

pub(super) use call::{WindowCall, interval, window_call};
use select_list::{ComputedKey, Selected, selected};
pub(super) use select_list::{Output, aggregate_call};

/// The aggregate calls of the select list, by their SQL, with the names it gives them.
fn named_aggregates(items: &[SelectItem]) -> BTreeMap<String, String> {
    items
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } if aggregate_call(expr).is_some() => {
                Some((expr.to_string(), alias.value.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The aggregate calls of a `HAVING` predicate that the select list does not name, once
/// each, in order: the query computes them under hidden names, for `HAVING` alone.
pub(super) fn having_calls(having: &Expr, items: &[SelectItem]) -> Vec<Expr> {
    let named = named_aggregates(items);
    let mut calls: Vec<Expr> = Vec::new();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(having, |e| {
        if aggregate_call(e).is_some()
            && !named.contains_key(&e.to_string())
            && !calls.iter().any(|c| c.to_string() == e.to_string())
        {
            calls.push(e.clone());
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    calls
}

/// A `HAVING` predicate over a windowed aggregate's output columns: each aggregate call in
/// it becomes the name the select list gives the same call ([`having_calls`] are named
/// there first, so every call has one).
pub(super) fn having_over_outputs(mut having: Expr, items: &[SelectItem]) -> Expr {
    let named = named_aggregates(items);
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut having, |e| {
        if aggregate_call(e).is_some()
            && let Some(alias) = named.get(&e.to_string())
        {
            *e = Expr::Identifier(datafusion::sql::sqlparser::ast::Ident::with_quote(
                '"', alias,
            ));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    having
}

/// Whether `e` is Flink's `window_time`, a window's time attribute: its end less one
/// millisecond.
pub(super) fn is_window_time(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(id) if id.value.eq_ignore_ascii_case("window_time"))
}

/// Whether `e` names the window's start or end (`window_start`, `window.start`,
/// `session_window.start`, ...),
/// with the name it goes by unaliased.
pub(super) fn window_bound(e: &Expr) -> Option<(Output, &'static str)> {
    let end = match e {
        Expr::Identifier(id) => match id.value.to_ascii_lowercase().as_str() {
            "window_start" => false,
            "window_end" => true,
            _ => return None,
        },
        Expr::CompoundIdentifier(ids)
            if ids.len() == 2
                && (ids[0].value.eq_ignore_ascii_case("window")
                    || ids[0].value.eq_ignore_ascii_case("session_window")) =>
        {
            match ids[1].value.to_ascii_lowercase().as_str() {
                "start" => false,
                "end" => true,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(if end {
        (Output::End, "window_end")
    } else {
        (Output::Start, "window_start")
    })
}

/// The window and keys of a GROUP BY, checked against the source's watermark.
struct Grouping {
    kind: WindowKind,
    time_column: String,
    keys: Vec<String>,
    /// The keys that are expressions, computed before the window.
    computed: Vec<ComputedKey>,
    delay: Duration,
    /// How far past the Unix epoch the windows start.
    offset: Duration,
    /// A session gap per row, computed before the window into a column of its own (µs).
    gap: Option<ComputedKey>,
}

/// A lowered aggregate.
pub(super) struct Aggregated {
    pub(super) plan: PlanBuilder,
    /// The stream of its rows.
    pub(super) stream: String,
    /// Its GROUP BY keys, as the select list names them.
    pub(super) group_keys: Vec<String>,
}

/// An aggregate, windowed or not: arguments computed first when they are expressions, the
/// window (a global one without a window in GROUP BY), then the select list's order and
/// names; with `changelog`, its rows are a changelog (an aggregate without a window whose
/// rows an outer aggregate reads).
#[allow(clippy::too_many_arguments)]
pub(super) fn lower_window(
    mut plan: PlanBuilder,
    sink: &mut SinkTable,
    stream: &str,
    source: &SourceTable,
    group_by: &[Expr],
    items: &[SelectItem],
    input: &Input,
    changelog: bool,
) -> Result<Aggregated, SqlError> {
    let global = changelog || sink.mode == OutputMode::Update;
    let Grouping {
        kind,
        time_column,
        keys,
        computed,
        delay,
        offset,
        gap,
    } = grouping(&sink.name, group_by, source, input, global)?;
    let items = &select_list::percentile_arrays(items);
    let Selected {
        outputs,
        aggregates,
        arguments,
    } = selected(
        &sink.name,
        items,
        &keys,
        &computed,
        kind == WindowKind::Global,
    )?;
    if let Input::Changelog(inner) = input {
        retractable(&aggregates, &keys, inner)?;
    }
    let group_keys = outputs
        .iter()
        .filter(|(o, _)| matches!(o, Output::Key(_)))
        .map(|(_, name)| name.clone())
        .collect();
    let target = sink.name.as_str();
    let mut stream = stream.to_owned();
    // The keys that are expressions, then the aggregates' arguments (which may use them).
    let gap_column = gap.as_ref().map(|g| g.column.clone());
    let arguments: Vec<(String, String)> = computed
        .into_iter()
        .chain(gap)
        .map(|k| (k.column, k.sql))
        .chain(arguments)
        .collect();
    if !arguments.is_empty() {
        let name = format!("{target}/arguments");
        plan = plan.project(&name, &stream, true, &as_strs(&arguments));
        stream = name;
    }
    // Sessions in update mode: a row may move a session's start, and the table's row of
    // the old start must go.
    let deletes =
        !changelog && sink.mode == OutputMode::Update && matches!(kind, WindowKind::Session { .. });
    // The watermark follows the source's rows, before the query's WHERE; over a union,
    // every source's; over a join, each side's with the join's slack (the least of
    // their clocks).
    let mut watermark_from = (kind != WindowKind::Global && stream != source.checked_stream())
        .then(|| source.checked_stream());
    let mut delay = delay;
    let watermark_also = match input {
        _ if kind == WindowKind::Global => Vec::new(),
        Input::Union(branches) => super::union::clocks(branches, &time_column)?,
        Input::Join(clocks) => {
            let (next, from, own, other) =
                clocks.window_clock(plan, &format!("{target}/clock"), &time_column)?;
            plan = next;
            (watermark_from, delay) = (Some(from), own);
            vec![other]
        }
        Input::Windows { stream: rows, .. } => {
            // The subquery's rows, before this query's WHERE, set the watermark.
            watermark_from = (kind != WindowKind::Global && *rows != stream).then(|| rows.clone());
            Vec::new()
        }
        Input::Rows | Input::Changelog(_) => Vec::new(),
    };
    let mut spec = WindowSpec::new(target, kind, time_column)
        .with_keys(keys)
        .with_delay(delay)
        .with_mode(if changelog {
            OutputMode::Update
        } else {
            sink.mode
        })
        .with_allowed_lateness(sink.allowed_lateness)
        .with_offset(offset);
    spec.aggregates = aggregates;
    spec.watermark_from = watermark_from;
    spec.watermark_also = watermark_also;
    spec.changelog = changelog;
    spec.deletes = deletes;
    spec.gap_column = gap_column;
    spec.validate().map_err(|e| {
        format!(
            "{e} (set 'output-mode' = 'update' in CREATE TABLE {target} WITH (...), or drop \
             'allowed-lateness')"
        )
    })?;
    if spec.mode == OutputMode::Update && !changelog {
        sink.merge_keys = merge_keys(&outputs, &spec)?;
        sink.deletes = deletes;
    }
    let (plan, stream) = emitted(plan, target, &stream, spec, outputs);
    Ok(Aggregated {
        plan,
        stream,
        group_keys,
    })
}

/// The window `spec` over `stream`, then its rows in the select list's order and names:
/// expressions over the window's columns are computed under names of their own first
/// (the select list's names may repeat the window's: `count(*) AS n, sum(v) / n`).
fn emitted(
    mut plan: PlanBuilder,
    target: &str,
    stream: &str,
    spec: WindowSpec,
    mut outputs: Vec<(Output, String)>,
) -> (PlanBuilder, String) {
    let mut expressions = Vec::new();
    for (i, (output, _)) in outputs.iter_mut().enumerate() {
        if let Output::Computed(sql) = output {
            let column = format!("__{target}_out{i}");
            expressions.push((column.clone(), std::mem::take(sql)));
            *sql = quoted(&column);
        }
    }
    let columns = reordering(&outputs, &spec);
    let mut rows = format!("{target}/window");
    plan = plan.window(&rows, stream, spec);
    if !expressions.is_empty() {
        let name = format!("{target}/expressions");
        plan = plan.project(&name, &rows, true, &as_strs(&expressions));
        rows = name;
    }
    let Some(columns) = columns else {
        return (plan, rows);
    };
    let name = format!("{target}/select");
    plan = plan.project(&name, &rows, false, &as_strs(&columns));
    (plan, name)
}

/// Checks an aggregate over an aggregate's changelog (`inner`, its GROUP BY keys): each
/// aggregate must take an old row's value back out, and the keys must be the inner ones.
fn retractable(
    aggregates: &[Aggregate],
    keys: &[String],
    inner: &[String],
) -> Result<(), SqlError> {
    if let Some(a) = aggregates.iter().find(|a| !a.function.retracts()) {
        return Err(unsupported(
            &format!("`{}`, a {:?} over an aggregate's rows", a.name, a.function),
            "the inner aggregate updates its rows, and a minimum, maximum or distinct \
             count cannot take an old row's value back out; count, sum, avg, stddev and \
             variance can",
        ));
    }
    let unknown: Vec<&String> = keys.iter().filter(|k| !inner.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(unsupported(
            &format!("GROUP BY {unknown:?} over an aggregate's rows"),
            &format!(
                "an outer aggregate groups by keys of the inner one ({inner:?}), so that \
                 each inner group's updated row replaces its old one in the same outer \
                 group"
            ),
        ));
    }
    Ok(())
}

/// `(name, SQL)` pairs borrowed, as [`PlanBuilder::project`] takes them.
fn as_strs(columns: &[(String, String)]) -> Vec<(&str, &str)> {
    columns
        .iter()
        .map(|(name, sql)| (name.as_str(), sql.as_str()))
        .collect()
}

/// The columns an update-mode table is merged on, as the select list names them: the
/// window's start (and end, when selected, except for a session, whose end moves) and
/// every key.
fn merge_keys(outputs: &[(Output, String)], spec: &WindowSpec) -> Result<Vec<String>, SqlError> {
    let session = matches!(spec.kind, WindowKind::Session { .. });
    let cumulating = matches!(spec.kind, WindowKind::Cumulating { .. });
    if cumulating && !outputs.iter().any(|(o, _)| matches!(o, Output::End)) {
        return Err(
            "'output-mode' = 'update' over CUMULATE windows: select window_end too; the \
             windows of a period share their start, and their end tells them apart"
                .into(),
        );
    }
    let mut keys = Vec::new();
    // A global window has no start to select: its keys identify its rows.
    let mut start = spec.kind == WindowKind::Global;
    for (output, name) in outputs {
        match output {
            Output::Start => {
                start = true;
                keys.push(name.clone());
            }
            Output::End if session => {}
            Output::End | Output::Key(_) => keys.push(name.clone()),
            Output::Aggregate(_) | Output::Constant(_) | Output::Computed(_) => {}
        }
    }
    let missing: Vec<&String> = spec
        .keys
        .iter()
        .filter(|k| {
            !outputs
                .iter()
                .any(|(o, _)| matches!(o, Output::Key(key) if key == *k))
        })
        .collect();
    if !start || !missing.is_empty() {
        return Err(SqlError::Invalid(format!(
            "'output-mode' = 'update' merges each window's row by the window and its keys: \
             select window_start (for a window; Spark's `window` struct is not a column \
             a table merges on, so add `window.start AS window_start`) and every GROUP BY \
             key{}",
            if missing.is_empty() {
                String::new()
            } else {
                format!(" (missing: {missing:?})")
            }
        )));
    }
    Ok(keys)
}

/// The window and the key columns of `group_by` over `input`; a global window when it
/// has no window and `global` (update mode, or a changelog for an outer aggregate).
fn grouping(
    target: &str,
    group_by: &[Expr],
    source: &SourceTable,
    input: &Input,
    global: bool,
) -> Result<Grouping, SqlError> {
    let mut window = None;
    let mut keys = Vec::new();
    let mut computed = Vec::new();
    for e in group_by {
        if let Some(call) = window_call(e)? {
            if window.replace(call).is_some() {
                return Err(unsupported(
                    "two windows in GROUP BY",
                    "group by one window",
                ));
            }
        } else if is_window_time(e) {
            // The window's end less a millisecond: grouping by it adds nothing.
            continue;
        } else if let Expr::Identifier(id) = e {
            keys.push(id.value.clone());
        } else if matches!(input, Input::Changelog(_)) {
            return Err(unsupported(
                &format!("GROUP BY {e} over an aggregate's rows"),
                "an outer aggregate groups by keys of the inner one, as they are",
            ));
        } else {
            // An expression: computed into a column of its own before the window.
            let column = format!("__{target}_key{}", computed.len());
            keys.push(column.clone());
            computed.push(ComputedKey {
                column,
                sql: e.to_string(),
            });
        }
    }
    let Some(WindowCall {
        kind,
        time_column,
        offset,
        gap,
    }) = window
    else {
        if global {
            return Ok(Grouping {
                kind: WindowKind::Global,
                time_column: String::new(),
                keys,
                computed,
                delay: Duration::ZERO,
                offset: Duration::ZERO,
                gap: None,
            });
        }
        return Err(unsupported(
            "an aggregate without an event-time window in append mode",
            "its groups never close, so it could never emit (as Spark refuses it); group \
             by TUMBLE(ts, INTERVAL ...), HOP(ts, slide, size), SESSION(ts, gap) or \
             window(ts, '5 minutes'), or set 'output-mode' = 'update' in CREATE TABLE ... \
             WITH (...), which keeps each group's current row in the table",
        ));
    };
    // `session_gap_us` fails a row whose gap is no positive length of time: a dead letter.
    let gap = gap.map(|sql| ComputedKey {
        column: format!("__{}_gap", target.replace(['.', '/'], "_")),
        sql: format!("session_gap_us(CAST({sql} AS INTERVAL))"),
    });
    // Over a join, its sides set the watermark ([`super::join::JoinClocks`]); over a
    // windowed subquery, its windows come out in order: no row is late, delay zero.
    let own_clock = |time_column, keys, computed, gap| Grouping {
        kind,
        time_column,
        keys,
        computed,
        delay: Duration::ZERO,
        offset,
        gap,
    };
    match input {
        Input::Rows | Input::Union(_) => {}
        Input::Join(_) => return Ok(own_clock(time_column, keys, computed, gap)),
        Input::Windows { times, .. } => {
            if !times.contains(&time_column) {
                return Err(unsupported(
                    &format!("a window over `{time_column}` of a windowed subquery's rows"),
                    &format!(
                        "group by a window over an event time of its rows, its window's \
                         start, end or window_time as it selects them ({})",
                        times.join(", ")
                    ),
                ));
            }
            return Ok(own_clock(time_column, keys, computed, gap));
        }
        Input::Changelog(_) => {
            return Err(unsupported(
                "an event-time window over an aggregate without a window",
                "the inner aggregate's rows are updates with no event time; group the outer \
                 query by keys only",
            ));
        }
    }
    let Some((watermarked, delay)) = &source.watermark else {
        return Err(unsupported(
            "a window over a source without a watermark",
            &format!(
                "declare `WATERMARK FOR {time_column} AS {time_column} - INTERVAL '10' MINUTE` \
                 in CREATE TABLE {}",
                source.name
            ),
        ));
    };
    if &time_column != watermarked {
        return Err(SqlError::Invalid(format!(
            "the window is over `{time_column}`, but the watermark is for `{watermarked}`"
        )));
    }
    Ok(Grouping {
        kind,
        time_column,
        keys,
        computed,
        delay: *delay,
        offset,
        gap,
    })
}

/// The projection that gives the window's rows (window_start, window_end, the keys, the
/// aggregates) the select list's order and names; `None` when they already have them.
/// A changelog's change column goes last, whatever the select list.
fn reordering(outputs: &[(Output, String)], spec: &WindowSpec) -> Option<Vec<(String, String)>> {
    let bounds: &[&str] = if spec.kind == WindowKind::Global {
        &[]
    } else {
        &["window_start", "window_end"]
    };
    let natural = bounds
        .iter()
        .map(|b| (*b).to_owned())
        .chain(spec.keys.iter().cloned())
        .chain(spec.aggregates.iter().map(|a| a.name.clone()));
    if outputs.iter().map(|(_, name)| name.clone()).eq(natural) {
        return None;
    }
    let mut columns: Vec<(String, String)> = outputs
        .iter()
        .map(|(output, name)| {
            let from = match output {
                Output::Start => "window_start",
                Output::End => "window_end",
                Output::Key(k) => k.as_str(),
                Output::Aggregate(i) => spec.aggregates[*i].name.as_str(),
                Output::Constant(sql) | Output::Computed(sql) => {
                    return (name.clone(), sql.clone());
                }
            };
            (name.clone(), quoted(from))
        })
        .collect();
    if spec.changelog || spec.deletes {
        columns.push((CHANGE_COLUMN.to_owned(), quoted(CHANGE_COLUMN)));
    }
    Some(columns)
}
