//! A windowed aggregate in a subquery, whose rows an outer query reads: a window Top-N
//! ranks them, a join joins them (Nexmark q7 and q8).
//!
//! ```sql
//! (SELECT seller, window_start AS starttime, window_end AS endtime
//!  FROM auction GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), seller) AS A
//! ```
//!
//! It reads one source table, filtered by its `WHERE`, and runs in append mode: each
//! window's rows come out once, in the epoch whose watermark closes it. So its rows'
//! window start and end are event times of their own, with a watermark: no row is older
//! than the latest window of an epoch before it (for sessions, which close in any order
//! of start, only the end is).

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{Expr, GroupByExpr, Query, SelectItem, TableFactor};
use sluice_engine::plan::PlanBuilder;
use sluice_engine::window::WindowKind;

use super::ddl::{SinkTable, SourceTable};
use super::query::{Input, plain_select, source_table};
use super::window::{Output, is_window_time, lower_window, window_bound, window_call};

/// A lowered windowed subquery.
pub(super) struct Windows<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of its rows.
    pub(super) stream: String,
    /// The source table the windows read.
    pub(super) source: &'a SourceTable,
    /// Its columns, as its select list names them.
    pub(super) columns: Vec<String>,
    /// The names of the window's start and end, where selected.
    pub(super) start: Option<String>,
    pub(super) end: Option<String>,
    /// The name of its `window_time` (the window's end less a millisecond), if selected.
    pub(super) time: Option<String>,
    /// Whether its windows are sessions.
    pub(super) sessions: bool,
}

impl Windows<'_> {
    /// The columns that are event times of its rows, with a watermark of delay zero: the
    /// window's end, and its start unless the windows are sessions.
    pub(super) fn event_times(&self) -> Vec<String> {
        let start = self.start.clone().filter(|_| !self.sessions);
        start
            .into_iter()
            .chain(self.end.clone())
            .chain(self.time.clone())
            .collect()
    }
}

/// Whether `query` is a windowed aggregate: it groups by an event-time window.
pub(super) fn is_windowed(query: &Query) -> bool {
    plain_select(query).is_ok_and(|select| match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => {
            exprs.iter().any(|e| matches!(window_call(e), Ok(Some(_))))
        }
        GroupByExpr::All(_) => false,
    })
}

/// Lowers `query`, a windowed aggregate of one source table, keeping the windows' state
/// under `state` (a path segment) and naming its `WHERE` filter `filter`; `shape` tells
/// what the subquery should have been.
pub(super) fn lower<'a>(
    plan: PlanBuilder,
    state: &str,
    filter: &str,
    query: &Query,
    sources: &'a [SourceTable],
    shape: &dyn Fn() -> SqlError,
) -> Result<Windows<'a>, SqlError> {
    let windows = plain_select(query)?;
    let [table] = windows.from.as_slice() else {
        return Err(shape());
    };
    let TableFactor::Table { name, .. } = &table.relation else {
        return Err(shape());
    };
    if !table.joins.is_empty() {
        return Err(shape());
    }
    let source = source_table(name, sources)?;
    let group_by = match &windows.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.clone(),
        _ => return Err(shape()),
    };
    if group_by.is_empty() {
        return Err(shape());
    }
    let mut sessions = false;
    for e in &group_by {
        if let Some(super::window::WindowCall { kind, .. }) = window_call(e)? {
            sessions = matches!(kind, WindowKind::Session { .. });
        }
    }
    let mut plan = plan;
    let mut stream = source.checked_stream();
    if let Some(predicate) = &windows.selection {
        plan = plan.filter(filter, &stream, &predicate.to_string());
        stream = filter.to_owned();
    }
    let mut table = SinkTable {
        name: state.to_owned(),
        ..SinkTable::default()
    };
    let aggregated = lower_window(
        plan,
        &mut table,
        &stream,
        source,
        &group_by,
        &windows.projection,
        &Input::Rows,
        false,
    )?;
    let mut lowered = Windows {
        plan: aggregated.plan,
        stream: aggregated.stream,
        source,
        columns: Vec::new(),
        start: None,
        end: None,
        time: None,
        sessions,
    };
    for item in &windows.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => continue,
        };
        let bound = window_bound(expr);
        let own = match (&bound, expr) {
            (Some((_, name)), _) => Some((*name).to_owned()),
            (None, Expr::Identifier(id)) => Some(id.value.clone()),
            _ => None,
        };
        let name = alias.or(own).unwrap_or_else(|| expr.to_string());
        match bound {
            Some((Output::Start, _)) => lowered.start = Some(name.clone()),
            Some((Output::End, _)) => lowered.end = Some(name.clone()),
            _ if is_window_time(expr) => lowered.time = Some(name.clone()),
            _ => {}
        }
        lowered.columns.push(name);
    }
    Ok(lowered)
}
