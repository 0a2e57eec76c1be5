//! Cascading windows as Flink's Nexmark q5 writes them: an aggregate grouped by the
//! window start and end of a windowed aggregate in its `FROM`, renamed or not:
//!
//! ```sql
//! SELECT max(num) AS maxn, starttime, endtime
//! FROM (SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
//!       FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND,
//!                      INTERVAL '10' SECOND))
//!       GROUP BY auction, window_start, window_end)
//! GROUP BY starttime, endtime
//! ```
//!
//! Flink keeps the inner windows' bounds as window attributes, so the outer aggregate
//! is a window aggregate of the same windows. Here it is written as the cascading window
//! that computes it: `GROUP BY TUMBLE(endtime, <period>, <offset>), starttime, endtime`,
//! where the period is the inner windows' slide (a tumbling window's size, a cumulating
//! window's step) and the offset theirs. Every inner window ends at `offset + k period`,
//! so exactly one tumbling window holds each end, and the outer groups are the inner
//! windows, each emitted once, when the watermark of the inner rows passes it. Sessions
//! end anywhere and stay refused (as an aggregate without a window in append mode).

use datafusion::sql::sqlparser::ast::{Expr, GroupByExpr, Query, Select, SelectItem, TableFactor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use sluice_engine::plan::PlanBuilder;
use sluice_engine::window::WindowKind;
use std::time::Duration;

use super::ddl::{SinkTable, SourceTable};
use super::error::SqlError;
use super::query::{lower_query, plain_select};
use super::window::{Output, window_bound, window_call};

/// Rewrites `select` when it groups a windowed subquery's rows by their window's start
/// and end (see the [module docs](self)); leaves every other query alone.
///
/// # Errors
/// Never for a query it leaves alone; a window call that does not parse.
pub(super) fn rewrite(select: &mut Select) -> Result<(), SqlError> {
    let [from] = select.from.as_slice() else {
        return Ok(());
    };
    let TableFactor::Derived {
        subquery, alias, ..
    } = &from.relation
    else {
        return Ok(());
    };
    if !from.joins.is_empty() {
        return Ok(());
    }
    let GroupByExpr::Expressions(keys, modifiers) = &select.group_by else {
        return Ok(());
    };
    if keys.is_empty() || !modifiers.is_empty() {
        return Ok(());
    }
    for key in keys {
        if window_call(key)?.is_some() {
            return Ok(());
        }
    }
    let Ok(inner) = plain_select(subquery) else {
        return Ok(());
    };
    let GroupByExpr::Expressions(inner_keys, _) = &inner.group_by else {
        return Ok(());
    };
    let mut call = None;
    for key in inner_keys {
        if let Some(c) = window_call(key)? {
            call = Some(c);
        }
    }
    let Some(call) = call else {
        return Ok(());
    };
    let period = match call.kind {
        WindowKind::Tumbling { size } => size,
        WindowKind::Sliding { slide, .. } => slide,
        WindowKind::Cumulating { step, .. } => step,
        _ => return Ok(()),
    };
    // The names the inner query gives its window's start and end.
    let (mut start, mut end) = (None, None);
    for item in &inner.projection {
        let (e, name) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => continue,
        };
        if let Some((bound, plain)) = window_bound(e) {
            let name = name.unwrap_or_else(|| plain.to_owned());
            match bound {
                Output::Start => start = Some(name),
                Output::End => end = Some(name),
                _ => {}
            }
        }
    }
    let (Some(start), Some(end)) = (start, end) else {
        return Ok(());
    };
    let alias = alias.as_ref().map(|a| a.name.value.clone());
    let names = |e: &Expr, name: &str| match e {
        Expr::Identifier(id) => id.value == name,
        Expr::CompoundIdentifier(ids) => {
            ids.len() == 2 && Some(&ids[0].value) == alias.as_ref() && ids[1].value == name
        }
        _ => false,
    };
    let Some(end_key) = keys.iter().find(|k| names(k, &end)).cloned() else {
        return Ok(());
    };
    if !keys.iter().any(|k| names(k, &start)) {
        return Ok(());
    }
    let tumble = format!(
        "TUMBLE({end_key}, {}, {})",
        interval(period),
        interval(call.offset)
    );
    let tumble = Parser::new(&GenericDialect {})
        .try_with_sql(&tumble)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Invalid(format!("`{tumble}`: {e}")))?;
    let mut grouped = vec![tumble];
    grouped.extend(keys.iter().cloned());
    select.group_by = GroupByExpr::Expressions(grouped, vec![]);
    Ok(())
}

/// `duration` as an interval the window calls read (`INTERVAL '1500 ms'`).
fn interval(duration: Duration) -> String {
    if duration.subsec_nanos().is_multiple_of(1_000_000) {
        format!("INTERVAL '{} ms'", duration.as_millis())
    } else {
        format!("INTERVAL '{} us'", duration.as_micros())
    }
}

/// A cascading window (see the [module docs](self)) as a join's side: its rows, its
/// output columns, and those that are event times (the inner windows' start and end, as
/// it selects them); `None` when `query` is no cascading window.
pub(super) struct Side<'a> {
    pub(super) plan: PlanBuilder,
    pub(super) stream: String,
    pub(super) source: &'a SourceTable,
    pub(super) columns: Vec<String>,
    pub(super) times: Vec<String>,
}

/// Lowers `query` as a join's side named `state` (its windows' state goes by it), when
/// it groups a windowed subquery's rows by their window's start and end.
///
/// # Errors
/// As the query's lowering.
pub(super) fn lower_side<'a>(
    plan: PlanBuilder,
    state: &str,
    query: &Query,
    sources: &'a [SourceTable],
) -> Result<Option<Side<'a>>, SqlError> {
    let Ok(select) = plain_select(query) else {
        return Ok(None);
    };
    let mut rewritten = select.clone();
    rewrite(&mut rewritten)?;
    if rewritten.group_by == select.group_by {
        return Ok(None);
    }
    let bounds = bound_names(select);
    let mut columns = Vec::new();
    let mut times = Vec::new();
    for item in &select.projection {
        let (e, name) = match item {
            SelectItem::UnnamedExpr(e @ Expr::Identifier(id)) => (e, id.value.clone()),
            SelectItem::UnnamedExpr(e @ Expr::CompoundIdentifier(ids)) => {
                (e, ids.last().map(|i| i.value.clone()).unwrap_or_default())
            }
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone()),
            _ => return Ok(None),
        };
        if bounds.iter().any(|b| column_of(e) == Some(b.as_str())) {
            times.push(name.clone());
        }
        columns.push(name);
    }
    let mut sink = SinkTable {
        name: state.to_owned(),
        ..SinkTable::default()
    };
    let lowered = lower_query(plan, query, sources, &mut sink, false, true)?;
    Ok(Some(Side {
        plan: lowered.plan,
        stream: lowered.stream,
        source: lowered.source,
        columns,
        times,
    }))
}

/// The names the windowed subquery in `select`'s FROM gives its window's start and end.
fn bound_names(select: &Select) -> Vec<String> {
    let [from] = select.from.as_slice() else {
        return Vec::new();
    };
    let TableFactor::Derived { subquery, .. } = &from.relation else {
        return Vec::new();
    };
    let Ok(inner) = plain_select(subquery) else {
        return Vec::new();
    };
    inner
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) => window_bound(e).map(|(_, plain)| plain.to_owned()),
            SelectItem::ExprWithAlias { expr, alias } => {
                window_bound(expr).map(|_| alias.value.clone())
            }
            _ => None,
        })
        .collect()
}

/// The column `e` reads, qualified or not.
fn column_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Identifier(id) => Some(&id.value),
        Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.as_str()),
        _ => None,
    }
}
