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

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Query, Select, SelectItem, TableAlias, TableFactor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use sluice_engine::plan::PlanBuilder;
use sluice_engine::window::WindowKind;
use std::time::Duration;

use super::ddl::{SinkTable, SourceTable};
use super::error::SqlError;
use super::query::{lower_query, plain_select};
use super::subquery::Windows;
use super::window::{Output, window_bound, window_call};

/// Rewrites `select` when it groups a windowed subquery's rows by their window's start
/// and end (see the [module docs](self)); leaves every other query alone.
///
/// # Errors
/// Never for a query it leaves alone; a window call that does not parse.
pub(super) fn rewrite(select: &mut Select) -> Result<(), SqlError> {
    let Some(cascade) = cascade(select)? else {
        return Ok(());
    };
    let tumble = format!(
        "TUMBLE({}, {}, {})",
        cascade.end_key,
        interval(cascade.period),
        interval(cascade.offset)
    );
    let tumble = Parser::new(&GenericDialect {})
        .try_with_sql(&tumble)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Invalid(format!("`{tumble}`: {e}")))?;
    if let GroupByExpr::Expressions(keys, _) = &mut select.group_by {
        keys.insert(0, tumble);
    }
    Ok(())
}

/// A query grouping a windowed subquery's rows by their window's start and end.
struct Cascade {
    /// The GROUP BY key that is the inner windows' end.
    end_key: Expr,
    /// The names the inner query gives its windows' start and end.
    start: String,
    end: String,
    /// How far apart the inner windows end, and how far past the Unix epoch.
    period: Duration,
    offset: Duration,
}

/// `select` as a [`Cascade`], or `None`.
fn cascade(select: &Select) -> Result<Option<Cascade>, SqlError> {
    let [from] = select.from.as_slice() else {
        return Ok(None);
    };
    let TableFactor::Derived {
        subquery, alias, ..
    } = &from.relation
    else {
        return Ok(None);
    };
    let GroupByExpr::Expressions(keys, modifiers) = &select.group_by else {
        return Ok(None);
    };
    if !from.joins.is_empty() || keys.is_empty() || !modifiers.is_empty() {
        return Ok(None);
    }
    for key in keys {
        if window_call(key)?.is_some() {
            return Ok(None);
        }
    }
    let Ok(inner) = plain_select(subquery) else {
        return Ok(None);
    };
    let GroupByExpr::Expressions(inner_keys, _) = &inner.group_by else {
        return Ok(None);
    };
    let mut call = None;
    for key in inner_keys {
        call = window_call(key)?.or(call);
    }
    let Some(call) = call else {
        return Ok(None);
    };
    let period = match call.kind {
        WindowKind::Tumbling { size } => size,
        WindowKind::Sliding { slide, .. } => slide,
        WindowKind::Cumulating { step, .. } => step,
        _ => return Ok(None),
    };
    let (Some(start), Some(end)) = (
        bound_name(inner, &Output::Start),
        bound_name(inner, &Output::End),
    ) else {
        return Ok(None);
    };
    let Some(end_key) = keys.iter().find(|k| reads(k, alias.as_ref(), &end)) else {
        return Ok(None);
    };
    if !keys.iter().any(|k| reads(k, alias.as_ref(), &start)) {
        return Ok(None);
    }
    Ok(Some(Cascade {
        end_key: end_key.clone(),
        start,
        end,
        period,
        offset: call.offset,
    }))
}

/// The name `inner`'s select list gives its window's start or end (`bound`).
fn bound_name(inner: &Select, bound: &Output) -> Option<String> {
    inner.projection.iter().find_map(|item| {
        let (e, name) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(&alias.value)),
            _ => return None,
        };
        let (found, plain) = window_bound(e)?;
        (std::mem::discriminant(&found) == std::mem::discriminant(bound))
            .then(|| name.cloned().unwrap_or_else(|| plain.to_owned()))
    })
}

/// Whether `e` reads the column `name` of the subquery `alias` (qualified or not).
fn reads(e: &Expr, alias: Option<&TableAlias>, name: &str) -> bool {
    match e {
        Expr::Identifier(id) => id.value == name,
        Expr::CompoundIdentifier(ids) => {
            ids.len() == 2
                && alias.is_some_and(|a| a.name.value == ids[0].value)
                && ids[1].value == name
        }
        _ => false,
    }
}

/// `duration` as an interval the window calls read (`INTERVAL '1500 ms'`).
fn interval(duration: Duration) -> String {
    if duration.subsec_nanos().is_multiple_of(1_000_000) {
        format!("INTERVAL '{} ms'", duration.as_millis())
    } else {
        format!("INTERVAL '{} us'", duration.as_micros())
    }
}

/// Lowers `query` as a join's side named `state` (its windows' state goes by it), when
/// it is a cascading window (see the [module docs](self)): its rows as windows whose
/// start and end are the inner windows', as it selects them; `None` for any other query.
///
/// # Errors
/// As the query's lowering.
pub(super) fn lower_side<'a>(
    plan: PlanBuilder,
    state: &str,
    query: &Query,
    sources: &'a [SourceTable],
) -> Result<Option<Windows<'a>>, SqlError> {
    let Ok(select) = plain_select(query) else {
        return Ok(None);
    };
    let Some(cascade) = cascade(select)? else {
        return Ok(None);
    };
    let mut columns = Vec::new();
    let (mut start, mut end) = (None, None);
    for item in &select.projection {
        let (e, name) = match item {
            SelectItem::UnnamedExpr(e @ (Expr::Identifier(_) | Expr::CompoundIdentifier(_))) => {
                (e, column_of(e).unwrap_or_default().to_owned())
            }
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone()),
            _ => return Ok(None),
        };
        if column_of(e) == Some(cascade.start.as_str()) {
            start = Some(name.clone());
        } else if column_of(e) == Some(cascade.end.as_str()) {
            end = Some(name.clone());
        }
        columns.push(name);
    }
    let mut sink = SinkTable {
        name: state.to_owned(),
        ..SinkTable::default()
    };
    let lowered = lower_query(plan, query, sources, &mut sink, false, true)?;
    Ok(Some(Windows {
        plan: lowered.plan,
        stream: lowered.stream,
        source: lowered.source,
        columns,
        start,
        end,
        time: None,
        sessions: false,
    }))
}

/// The column `e` reads, qualified or not.
fn column_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Identifier(id) => Some(&id.value),
        Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.as_str()),
        _ => None,
    }
}
