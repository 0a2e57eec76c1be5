//! Stream–stream interval joins in SQL, lowered to the plan's stream join:
//!
//! ```sql
//! SELECT o.id, p.amount FROM orders AS o
//! [LEFT | RIGHT] JOIN payments AS p
//!   ON p.order_id = o.id
//!  AND p.ts BETWEEN o.ts - INTERVAL '5' MINUTE AND o.ts + INTERVAL '10' MINUTE
//! ```
//!
//! The `ON` clause holds equalities between a column of each side (the keys) and bounds
//! on the two sides' event-time columns, both bounded (so that state can be evicted),
//! with `BETWEEN` or `>=`, `>`, `<=`, `<`, or an equality of the event times (a window
//! join). An inner join may also bound the event times in `WHERE`, as Nexmark q7 does.
//! Each side is a source table with a watermark on the event-time column the bounds use,
//! a filter and projection of one (a view, say: [`projection`]), a window TVF's rows, or
//! a windowed subquery ([`super::subquery`]) whose event times are its window's start
//! and end. The joined rows' columns are named `alias.column`; the rest of the query
//! names them `alias.column`, or `column` where only one side has it.
//!
//! A condition on one side's columns filters that side before the join, where SQL gives
//! the same rows: in `ON`, either side of an inner join and the side an outer join does
//! not keep whole; in `WHERE`, either side of an inner join and the kept side of a LEFT
//! or RIGHT join. The join's state then holds only rows that can pass, and a filtered
//! side's watermark still follows all its rows, as at its source; so a late row that
//! fails its filter is dropped by the filter, not sent to the dead letters as late.
//! In `ON`, a condition on the columns of a side an outer join keeps whole (the left of
//! a LEFT JOIN, either side of a FULL JOIN) cannot drop its rows: it nulls their keys
//! instead (`CASE WHEN cond THEN key END`, computed before the join), so a row that fails
//! it matches nothing and comes out once with nulls, when the watermark passes it, as
//! Spark emits its unmatched rows. Conditions on both sides filter the joined rows of an
//! inner join; in an outer join's `ON` they are the join's own `condition`, evaluated
//! over its candidate pairs, so that only the pairs that meet it count as matches.

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Ident, JoinConstraint, JoinOperator, Query, Select,
    SelectItem, TableFactor, TableWithJoins, visit_expressions_mut,
};
use std::time::Duration;

use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::stream_join::{StreamJoinKind, StreamJoinSpec};
use sluice_engine::window::{WINDOW_COLUMNS, WindowKind};

use super::ddl::SourceTable;
use super::query::{plain_select, quoted, source_table, unsupported};
use super::{cascade, nested, projected, subquery};

mod before;
mod clocks;
mod condition;
pub(super) mod lookup;

use before::{BeforeJoin, on_clause, push_down};
pub(super) use clocks::JoinClocks;
use condition::Condition;
pub(super) use condition::flipped;

/// One side of a join.
struct Side<'a> {
    /// The name its columns go by.
    alias: String,
    /// The source table its rows come from (through the windows of a subquery).
    table: &'a SourceTable,
    /// The stream of its rows.
    stream: String,
    /// Its columns.
    columns: Vec<String>,
    /// The columns that may bound the join, event times with a watermark of `delay`: a
    /// source table's watermarked column; a windowed subquery's window start and end.
    times: Vec<String>,
    delay: Duration,
    /// Whether it is a windowed subquery.
    windowed: bool,
    /// The stream that sets its watermark when a filter of `ON` precedes the join: its
    /// rows before that filter.
    watermark_from: Option<String>,
}

/// A lowered join.
pub(super) struct Lowered<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of joined rows.
    pub(super) stream: String,
    /// The source table of the left side.
    pub(super) source: &'a SourceTable,
    sides: [Side<'a>; 2],
    /// The join as lowered, for a window over its rows.
    spec: StreamJoinSpec,
}

/// Lowers `from`, two sides joined (`a JOIN b ON ...`, or `a, b` with the join's
/// conditions in `WHERE`), in the query writing `target`, which selects `items`; an inner
/// join takes the time bounds of `selection` (its `WHERE`) out of it, a comma join its
/// keys too.
pub(super) fn lower<'a>(
    plan: PlanBuilder,
    target: &str,
    from: &[TableWithJoins],
    selection: &mut Option<Expr>,
    items: &[SelectItem],
    group_by: &[Expr],
    sources: &'a [SourceTable],
) -> Result<Lowered<'a>, SqlError> {
    let (left, right, operator) = match from {
        [one] => match one.joins.as_slice() {
            [join] => (&one.relation, &join.relation, Some(&join.join_operator)),
            _ => return Err(unsupported("several JOINs", "join two streams per query")),
        },
        [a, b] if a.joins.is_empty() && b.joins.is_empty() => (&a.relation, &b.relation, None),
        _ => return Err(unsupported("several JOINs", "join two streams per query")),
    };
    let (plan, left) = side(plan, target, left, sources)?;
    let (plan, right) = side(plan, target, right, sources)?;
    if left.alias == right.alias {
        return Err(SqlError::Invalid(format!(
            "both sides of the join go by `{}`; give one an alias (`{} AS b`)",
            left.alias, right.table.name
        )));
    }
    let (kind, constraint) = match operator {
        // `FROM a, b WHERE ...`: an inner join whose conditions are in WHERE.
        None => (StreamJoinKind::Inner, &JoinConstraint::None),
        Some(JoinOperator::Join(c) | JoinOperator::Inner(c)) => (StreamJoinKind::Inner, c),
        Some(JoinOperator::Left(c) | JoinOperator::LeftOuter(c)) => (StreamJoinKind::LeftOuter, c),
        Some(JoinOperator::Right(c) | JoinOperator::RightOuter(c)) => {
            (StreamJoinKind::RightOuter, c)
        }
        Some(JoinOperator::FullOuter(c)) => (StreamJoinKind::FullOuter, c),
        Some(JoinOperator::LeftSemi(c)) => (StreamJoinKind::LeftSemi, c),
        Some(other) => {
            return Err(unsupported(
                format!("{other:?}")
                    .split('(')
                    .next()
                    .unwrap_or("this join"),
                "stream–stream joins are INNER, LEFT, RIGHT or FULL [OUTER] JOIN ... ON, or \
                 LEFT SEMI JOIN ... ON",
            ));
        }
    };
    let mut sides = [left, right];
    let mut condition = Condition::default();
    let mut plan = plan;
    let mut before = BeforeJoin::default();
    match (constraint, operator) {
        (JoinConstraint::On(on), _) => {
            before = on_clause(on, kind, &sides, &mut condition, selection)?;
        }
        (JoinConstraint::None, None) => {
            *selection = condition.take_keys(selection.take(), &sides)?;
        }
        _ => {
            return Err(unsupported(
                "a join without ON",
                "write ON a.key = b.key AND b.ts BETWEEN a.ts - INTERVAL ... AND a.ts + \
                 INTERVAL ...",
            ));
        }
    }
    if kind == StreamJoinKind::Inner {
        *selection = condition.take_bounds(selection.take(), &sides)?;
    }
    *selection = push_down(selection.take(), kind, &sides, &mut before.pushed)?;
    let pair = all_of(std::mem::take(&mut before.pair));
    plan = before.lower(plan, target, &mut sides);
    let max = match (condition.max, condition.until_max) {
        (Some(_), Some(_)) => {
            return Err(unsupported(
                "two upper bounds on the right side's event time",
                "bound it above once, by the left's event time plus an INTERVAL or by another \
                 timestamp column of the left side (b.ts BETWEEN a.ts AND a.expires)",
            ));
        }
        (max, until) => max.or(until),
    };
    let (Some(min), Some(max)) = (condition.min, max) else {
        return Err(unsupported(
            "a join without both time bounds",
            "a stream–stream join keeps each side's rows until no row of the other can match \
             them, which needs a lower and an upper bound: AND b.ts BETWEEN a.ts - INTERVAL \
             '5' MINUTE AND a.ts + INTERVAL '5' MINUTE",
        ));
    };
    if condition.keys.is_empty() {
        return Err(unsupported(
            "a join without keys",
            "join on at least one equality between the sides' columns (ON a.id = b.id AND ...)",
        ));
    }
    if min > max {
        return Err("the join's time bounds leave no room: the lower is above the upper".into());
    }
    let [Some(left_time), Some(right_time)] = condition.time.clone() else {
        unreachable!("both bounds name both sides' event times");
    };
    // A source table's columns the query never reads are not kept in the join's state.
    let reads = all_of(selection.iter().chain(&pair).cloned().collect());
    let used = condition.used(items, reads.as_ref(), group_by, &sides);
    let pair = pair
        .map(|mut pair| {
            joined_columns(&mut pair, &sides)?;
            Ok::<_, SqlError>(pair.to_string())
        })
        .transpose()?;
    plan = drop_unused(plan, target, &mut sides, used);
    let [l, r] = &sides;
    let name = format!("{target}/join");
    let spec = StreamJoinSpec {
        // A state name is a path segment in checkpoints.
        name: format!("{target}.join"),
        right: r.stream.clone(),
        kind,
        left_keys: condition.keys.iter().map(|k| k.0.clone()).collect(),
        right_keys: condition.keys.iter().map(|k| k.1.clone()).collect(),
        left_time,
        right_time,
        min_offset_us: min,
        max_offset_us: max,
        left_delay: l.delay,
        right_delay: r.delay,
        left_prefix: format!("{}.", l.alias),
        right_prefix: format!("{}.", r.alias),
        left_until: condition.until.clone(),
        left_watermark_from: l.watermark_from.clone(),
        right_watermark_from: r.watermark_from.clone(),
        condition: pair,
    };
    Ok(Lowered {
        plan: plan.stream_join(&name, &l.stream, spec.clone()),
        stream: name,
        source: l.table,
        sides,
        spec,
    })
}

/// The side `factor` names: a source table, a filter and projection of one, a window
/// TVF's rows or a windowed subquery, with its alias.
fn side<'a>(
    plan: PlanBuilder,
    target: &str,
    factor: &TableFactor,
    sources: &'a [SourceTable],
) -> Result<(PlanBuilder, Side<'a>), SqlError> {
    match factor {
        TableFactor::Table { name, alias, .. } => {
            let table = source_table(name, sources)?;
            let side = Side {
                alias: alias
                    .as_ref()
                    .map_or_else(|| table.name.clone(), |a| a.name.value.clone()),
                table,
                stream: table.checked_stream(),
                columns: table.column_names().map(str::to_owned).collect(),
                times: table.watermark.iter().map(|(c, _)| c.clone()).collect(),
                delay: table
                    .watermark
                    .as_ref()
                    .map(|(_, d)| *d)
                    .unwrap_or_default(),
                windowed: false,
                watermark_from: None,
            };
            Ok((plan, side))
        }
        TableFactor::Derived {
            subquery,
            alias: Some(alias),
            ..
        } => {
            if let Some(mut select) = tvf_rows(subquery) {
                return assigned_side(plan, target, &mut select, &alias.name.value, sources);
            }
            let alias = alias.name.value.clone();
            let shape = || {
                unsupported(
                    &format!("the subquery `{alias}` of a join"),
                    "a joined subquery is a filter and projection of one source table \
                     (SELECT id, ts, paid * 100 AS cents FROM t WHERE ...) or of its \
                     deduplication, a window TVF's rows, or a windowed aggregate of one \
                     source table: SELECT key, window_start, window_end, count(*) AS n FROM \
                     t GROUP BY TUMBLE(ts, INTERVAL ...), key",
                )
            };
            if nested::is_plain(subquery) {
                return projected_side(plan, target, subquery, &alias, sources, &shape);
            }
            // Its windows keep their state under `<target>.<alias>`, a path segment: a
            // cascading window's, or a windowed aggregate's of one source table.
            let state = format!("{target}.{alias}");
            let windows = match cascade::lower_side(plan.clone(), &state, subquery, sources)? {
                Some(windows) => windows,
                None => subquery::lower(
                    plan,
                    &state,
                    &format!("{target}/{alias}-where"),
                    subquery,
                    sources,
                    &shape,
                )?,
            };
            let side = Side {
                times: windows.event_times(),
                alias,
                table: windows.source,
                stream: windows.stream,
                columns: windows.columns,
                delay: Duration::ZERO,
                windowed: true,
                watermark_from: None,
            };
            Ok((windows.plan, side))
        }
        TableFactor::Derived { .. } => Err(
            "a subquery in a join needs a name to qualify its columns: (SELECT ...) AS w".into(),
        ),
        _ => Err(unsupported(
            "a table function in a join",
            "join source tables, or windowed subqueries (SELECT ... GROUP BY TUMBLE(...))",
        )),
    }
}

/// A side that is a filter and projection of one source table ([`projected`]), named
/// `alias`; its operators go by `<target>.<alias>`.
fn projected_side<'a>(
    plan: PlanBuilder,
    target: &str,
    subquery: &Query,
    alias: &str,
    sources: &'a [SourceTable],
    shape: &dyn Fn() -> SqlError,
) -> Result<(PlanBuilder, Side<'a>), SqlError> {
    let rows = projected::lower(plan, &format!("{target}.{alias}"), subquery, sources, shape)?;
    let Some((time, delay)) = rows.event_time(alias)? else {
        return Err(no_watermark(rows.source));
    };
    let side = Side {
        alias: alias.to_owned(),
        table: rows.source,
        stream: rows.stream,
        columns: rows.columns,
        times: vec![time],
        delay,
        windowed: false,
        watermark_from: Some(rows.source.checked_stream()),
    };
    Ok((rows.plan, side))
}

/// The select of `subquery` when it is a window TVF's rows as they are, `SELECT * FROM
/// TABLE(TUMBLE(TABLE t, ...))` (Flink's window join reads such sides).
fn tvf_rows(subquery: &Query) -> Option<Select> {
    let select = plain_select(subquery).ok()?;
    let bare = matches!(select.projection.as_slice(), [SelectItem::Wildcard(_)])
        && select.selection.is_none()
        && matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    let tvf = matches!(select.from.as_slice(), [f] if f.joins.is_empty()
        && matches!(f.relation, TableFactor::TableFunction { .. }));
    (bare && tvf).then(|| select.clone())
}

/// A side of a window join: a source table's rows, each once per window of the TVF
/// `select` reads. Its event times are the window's start and end, whose watermark lags
/// the table's by the window's size (a row yet to come may be in a window that started
/// that long before the table's watermark); the windows are checked to be the table's
/// watermarked column's.
fn assigned_side<'a>(
    plan: PlanBuilder,
    target: &str,
    select: &mut Select,
    alias: &str,
    sources: &'a [SourceTable],
) -> Result<(PlanBuilder, Side<'a>), SqlError> {
    let spec = super::tvf::assignment(select)?
        .ok_or_else(|| SqlError::Invalid(format!("the subquery `{alias}` reads no window TVF")))?;
    let reads_one = || {
        SqlError::Invalid(format!(
            "the window TVF of `{alias}` reads one source table, or a filter and projection \
             of one (SELECT ... FROM t WHERE ...)"
        ))
    };
    let [from] = select.from.as_slice() else {
        return Err(reads_one());
    };
    // The TVF's table: a source table's rows, or a filter and projection of them (a view,
    // say), which selects the source's event time under its own name.
    let name = format!("{target}.{alias}");
    let (rows, selected) = projected::tvf_table(
        plan,
        &name,
        &from.relation,
        alias,
        sources,
        &reads_one,
        &reads_one,
    )?;
    let table = rows.source;
    let Some((time, delay)) = selected else {
        return Err(no_watermark(table));
    };
    if !spec.time_column.eq_ignore_ascii_case(&time) {
        return Err(SqlError::Invalid(format!(
            "the window TVF of `{alias}` is over `{}`, but the watermark of `{}` is on \
             `{time}`: DESCRIPTOR({time})",
            spec.time_column, table.name
        )));
    }
    let size = match spec.kind {
        WindowKind::Tumbling { size }
        | WindowKind::Sliding { size, .. }
        | WindowKind::Cumulating { size, .. } => size,
        WindowKind::Session { .. } | WindowKind::Global => Duration::ZERO,
    };
    let stream = format!("{target}/{alias}-windows");
    let mut plan = rows
        .plan
        .assign_windows(&stream, &rows.stream, spec.clone());
    let mut columns = rows.columns;
    columns.extend(WINDOW_COLUMNS.map(str::to_owned));
    // The watermark of a filtered view's windows follows all of its source's rows: the
    // windows of their event times.
    let mut watermark_from = None;
    if rows.stream != table.checked_stream() {
        let times = format!("{target}/{alias}-clock-times");
        plan = plan.operator(
            &times,
            table.checked_stream(),
            OperatorKind::Project {
                columns: vec![(time.clone(), quoted(&time))],
                keep_input: false,
                drop: Vec::new(),
                keep_coordinates: false,
            },
        );
        let clock = format!("{target}/{alias}-clock");
        plan = plan.assign_windows(&clock, &times, spec);
        watermark_from = Some(clock);
    }
    let side = Side {
        alias: alias.to_owned(),
        table,
        stream,
        columns,
        times: vec![WINDOW_COLUMNS[0].to_owned(), WINDOW_COLUMNS[1].to_owned()],
        delay: delay + size,
        windowed: true,
        watermark_from,
    };
    Ok((plan, side))
}

/// Leaves out of each source table side the columns that `used` does not hold.
fn drop_unused(
    mut plan: PlanBuilder,
    target: &str,
    sides: &mut [Side<'_>; 2],
    used: [Option<std::collections::BTreeSet<String>>; 2],
) -> PlanBuilder {
    for (side, used) in sides.iter_mut().zip(used) {
        let Some(used) = used else { continue };
        let unused: Vec<String> = side
            .columns
            .iter()
            .filter(|c| !used.contains(*c))
            .cloned()
            .collect();
        if side.windowed || unused.is_empty() {
            continue;
        }
        let name = format!("{target}/{}-columns", side.alias);
        plan = plan.operator(
            &name,
            &side.stream,
            OperatorKind::Project {
                columns: Vec::new(),
                keep_input: true,
                drop: unused,
                keep_coordinates: false,
            },
        );
        side.stream = name;
        side.columns.retain(|c| used.contains(c));
    }
    plan
}

/// Refuses `column` of `side` as an event time for the join's bounds.
fn not_an_event_time(side: &Side, column: &str) -> SqlError {
    if side.windowed {
        return SqlError::Invalid(format!(
            "the join bounds `{}.{column}`, but the event times of the windowed subquery `{}` \
             are its window's start and end ({:?}): bound those",
            side.alias, side.alias, side.times
        ));
    }
    match side.times.first() {
        Some(time) => SqlError::Invalid(format!(
            "the join bounds `{}.{column}`, but the watermark of `{}` is on `{time}`: bound \
             the event-time columns",
            side.alias, side.table.name
        )),
        None => no_watermark(side.table),
    }
}

/// Refuses a join of `table`, which has no watermark to evict the join's state by.
fn no_watermark(table: &SourceTable) -> SqlError {
    unsupported(
        &format!("a join of `{}`, which has no watermark", table.name),
        &format!(
            "a stream–stream join evicts state by the watermark: declare WATERMARK FOR ts AS \
             ts - INTERVAL '1' MINUTE in CREATE TABLE {}",
            table.name
        ),
    )
}

/// The conjunction of `exprs`, each of several in parentheses (its own `OR`s bind within
/// it); `None` when there are none.
pub(super) fn all_of(mut exprs: Vec<Expr>) -> Option<Expr> {
    if exprs.len() <= 1 {
        return exprs.pop();
    }
    exprs
        .into_iter()
        .map(|e| Expr::Nested(Box::new(e)))
        .reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::And,
            right: Box::new(b),
        })
}

/// The conjuncts of `e`.
pub(super) fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut all = conjuncts(left);
            all.extend(conjuncts(right));
            all
        }
        Expr::Nested(inner) => conjuncts(inner),
        other => vec![other],
    }
}

/// Which side has the column `name`: `None` for neither; an error for both.
fn owner(name: &str, sides: &[Side; 2]) -> Result<Option<usize>, SqlError> {
    let has: Vec<usize> = (0..2)
        .filter(|&s| sides[s].columns.iter().any(|c| c == name))
        .collect();
    match has.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(SqlError::Invalid(format!(
            "`{name}` is a column of both sides; say which, `{}.{name}` or `{}.{name}`",
            sides[0].alias, sides[1].alias
        ))),
    }
}

impl Lowered<'_> {
    /// What a window over the joined rows needs of the join.
    pub(super) fn clocks(&self) -> JoinClocks {
        let side = |s: &Side, time: &str| {
            let clock = s.watermark_from.clone().unwrap_or_else(|| s.stream.clone());
            (!s.windowed).then(|| (s.alias.clone(), clock, time.to_owned(), s.delay))
        };
        JoinClocks {
            sides: [
                side(&self.sides[0], &self.spec.left_time),
                side(&self.sides[1], &self.spec.right_time),
            ],
            spec: self.spec.clone(),
        }
    }

    /// Rewrites the rest of the query to the joined rows' columns: `a.col` and an
    /// unambiguous `col` become the column `"a.col"`; a select item that is a column keeps
    /// the column's own name.
    pub(super) fn qualify(&self, select: &mut Select) -> Result<(), SqlError> {
        for item in &mut select.projection {
            let name = match item {
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(ids)) if ids.len() == 2 => {
                    Some(ids[1].clone())
                }
                SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(id.clone()),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                    return Err(unsupported(
                        "`*` over a join",
                        "name the columns: both sides may have columns of the same names",
                    ));
                }
                _ => None,
            };
            if let (Some(alias), SelectItem::UnnamedExpr(expr)) = (name, &*item) {
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias,
                };
            }
        }
        // The select list and WHERE, not FROM: a joined subquery names its own columns.
        let mut failure = None;
        let mut rewrite = |e: &mut Expr| {
            if let Err(message) = self.rewrite(e) {
                failure.get_or_insert(message);
            }
            std::ops::ControlFlow::<()>::Continue(())
        };
        let _ = visit_expressions_mut(&mut select.projection, &mut rewrite);
        let _ = visit_expressions_mut(&mut select.selection, &mut rewrite);
        let _ = visit_expressions_mut(&mut select.group_by, &mut rewrite);
        failure.map_or(Ok(()), Err)
    }

    fn rewrite(&self, e: &mut Expr) -> Result<(), SqlError> {
        joined_column(e, &self.sides)?;
        let right = format!("{}.", self.sides[1].alias);
        match e {
            Expr::Identifier(id)
                if self.spec.kind == StreamJoinKind::LeftSemi && id.value.starts_with(&right) =>
            {
                Err(SqlError::Invalid(format!(
                    "`{}`: a LEFT SEMI JOIN's rows are its left side's, `{}`; the right \
                     side's columns are read only in ON",
                    id.value, self.sides[0].alias
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Rewrites `e` to the joined rows' columns, as [`Lowered::qualify`] does.
fn joined_columns(e: &mut Expr, sides: &[Side; 2]) -> Result<(), SqlError> {
    let mut failure = None;
    let _ = visit_expressions_mut(e, |e| {
        if let Err(message) = joined_column(e, sides) {
            failure.get_or_insert(message);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    failure.map_or(Ok(()), Err)
}

/// `e`, when it is a column of one side (`a.col`, or a `col` only one side has), as the
/// joined rows' column `"a.col"`.
fn joined_column(e: &mut Expr, sides: &[Side; 2]) -> Result<(), SqlError> {
    let column = match e {
        Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
            if !sides.iter().any(|s| s.alias == ids[0].value) {
                return Err(SqlError::Invalid(format!(
                    "`{}.{}`: no side of the join goes by `{}`",
                    ids[0], ids[1], ids[0]
                )));
            }
            format!("{}.{}", ids[0].value, ids[1].value)
        }
        Expr::Identifier(id) if id.quote_style.is_none() => match owner(&id.value, sides)? {
            Some(side) => format!("{}.{}", sides[side].alias, id.value),
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    *e = Expr::Identifier(Ident::with_quote('"', column));
    Ok(())
}
