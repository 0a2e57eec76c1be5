//! Window Top-N as Flink writes it: a windowed aggregate, ranked per window, of which the
//! outer query keeps the first ranks,
//!
//! ```sql
//! SELECT auction, num, starttime, endtime FROM (
//!   SELECT *, RANK() OVER (PARTITION BY starttime, endtime ORDER BY num DESC) AS rk
//!   FROM (SELECT auction, count(*) AS num, window_start AS starttime,
//!                window_end AS endtime
//!         FROM bid GROUP BY HOP(date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND),
//!                           auction)
//! ) WHERE rk <= 1
//! ```
//!
//! lowered to the windowed aggregate (append mode: a window's rows all come out in the
//! epoch that closes it), the ranking subquery's `WHERE` if any, and a Top-N per window
//! (and per the other `PARTITION BY` columns) and epoch. `ROW_NUMBER()` keeps one row per
//! rank, `RANK()` every row that ties (the next rank skipping as many), `DENSE_RANK()`
//! every row that ties (the next rank following). The rank is a column named as the
//! ranking subquery names it, which the outer query may select (`SELECT *` does). The
//! ranking subquery's select list is `*` or columns and expressions of the windowed rows,
//! computed after the ranking.

use crate::sql::error::SqlError;
use std::time::Duration;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, OrderByExpr, Query, Select, SelectItem, TableFactor, Value,
    WindowType, visit_expressions,
};
use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::top_n::{Ranking, SortKey, TopNSpec, WindowTopNSpec};

use super::ddl::SourceTable;
use super::join::{all_of, conjuncts, flipped};
use super::query::{function_args, name_it, plain_select, quoted, unsupported, wildcard_drops};
use super::{projected, subquery};

/// A lowered window Top-N.
pub(super) struct Lowered<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of the rows of the windows, before the ranks are kept.
    ranked: String,
    /// The source table the windows read.
    pub(super) source: &'a SourceTable,
    /// The name the subquery gives the rank.
    rank: String,
    spec: TopNSpec,
    /// The ranking subquery's select list, computed after the ranking; none for `*`.
    columns: Option<OperatorKind>,
    /// For a window TVF's own rows: their event time, its delay and the stream that sets
    /// its watermark, for the state that keeps each window's first ranks until it closes.
    raw: Option<Raw>,
}

/// Whether `subquery` ranks the rows of a subquery of its own or of a window TVF (a window
/// Top-N), rather than a source table's rows or a union of them (a deduplication).
pub(super) fn is_top_n(subquery: &Query) -> bool {
    plain_select(subquery).is_ok_and(|select| {
        matches!(select.from.as_slice(), [f] if match &f.relation {
            TableFactor::Derived { subquery, .. } => !super::union::is_union(subquery),
            TableFactor::TableFunction { .. } => true,
            _ => false,
        })
    })
}

/// Lowers the subquery of `FROM (...)` in the query writing `target`.
pub(super) fn lower<'a>(
    plan: PlanBuilder,
    target: &str,
    subquery: &Query,
    sources: &'a [SourceTable],
) -> Result<Lowered<'a>, SqlError> {
    let shape = || {
        unsupported(
            "a ranking subquery",
            "a window Top-N is SELECT *, ROW_NUMBER() (or RANK() or DENSE_RANK()) OVER \
             (PARTITION BY window_start, window_end[, col...] ORDER BY col [DESC][, ...]) AS \
             rk FROM (a windowed aggregate) [WHERE ...], kept WHERE rk <= N outside",
        )
    };
    let select = plain_select(subquery)?;
    let [from] = select.from.as_slice() else {
        return Err(shape());
    };
    if !from.joins.is_empty() || !no_group_by(&select.group_by) {
        return Err(shape());
    }
    let (ranking, rank, columns) = select_list(&select.projection, &shape)?;
    let Expr::Function(f) = ranking.0 else {
        return Err(shape());
    };
    if f.null_treatment.is_some() || !function_args(&f.args).is_empty() {
        return Err(shape());
    }
    let Some(WindowType::WindowSpec(window)) = &f.over else {
        return Err(unsupported(
            &format!("`{}`", ranking.0),
            "a named window: write its PARTITION BY and ORDER BY in OVER (...)",
        ));
    };
    if window.window_frame.is_some() || window.window_name.is_some() {
        return Err(unsupported(
            &format!("the frame of `{}`", ranking.0),
            "a ranking has no frame; leave it out",
        ));
    }
    let partition_by = window
        .partition_by
        .iter()
        .map(|e| match e {
            Expr::Identifier(id) => Ok(id.value.clone()),
            other => Err(unsupported(
                &format!("PARTITION BY {other}"),
                "partition by columns of the windowed subquery; compute an expression there",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let order_by = window
        .order_by
        .iter()
        .map(sort_key)
        .collect::<Result<Vec<_>, _>>()?;
    if order_by.is_empty() {
        return Err(shape());
    }

    let (plan, ranked, source, bounds, raw) = match &from.relation {
        TableFactor::Derived {
            subquery: inner, ..
        } => {
            // The windowed aggregate the rows come from; its state keeps the name
            // `<target>.windows`.
            let windows = subquery::lower(
                plan,
                &format!("{target}.windows"),
                &format!("{target}/windows-where"),
                inner,
                sources,
                &shape,
            )?;
            let bounds: Vec<String> = windows.start.into_iter().chain(windows.end).collect();
            (windows.plan, windows.stream, windows.source, bounds, None)
        }
        _ => {
            let rows = assigned(plan, target, select, sources, &shape)?;
            let bounds = vec!["window_start".to_owned(), "window_end".to_owned()];
            (rows.plan, rows.stream, rows.source, bounds, Some(rows.raw))
        }
    };
    if bounds.len() != 2 || bounds.iter().any(|b| !partition_by.contains(b)) {
        return Err(unsupported(
            &format!("PARTITION BY {}", partition_by.join(", ")),
            "a window Top-N ranks the rows of each window: partition by the window's start and \
             end as the windowed subquery names them (both selected), and other columns if \
             need be",
        ));
    }
    let (mut plan, mut ranked) = (plan, ranked);
    if let Some(predicate) = &select.selection {
        let name = format!("{target}/ranked-where");
        plan = plan.filter(&name, &ranked, &predicate.to_string());
        ranked = name;
    }
    let spec = TopNSpec {
        name: target.to_owned(),
        partition_by,
        order_by,
        limit: 0,
        ranking: ranking.1,
        rank_column: Some(rank.clone()),
    };
    Ok(Lowered {
        plan,
        ranked,
        source,
        rank,
        spec,
        columns,
        raw,
    })
}

/// A window TVF's rows, each once per window.
struct Assigned<'a> {
    /// The plan with their assignment.
    plan: PlanBuilder,
    /// Their stream.
    stream: String,
    /// The source table the TVF reads.
    source: &'a SourceTable,
    /// What closes their windows.
    raw: Raw,
}

/// What closes the windows of a window TVF's rows: their event time, its delay, and the
/// stream whose watermark it is.
struct Raw {
    time_column: String,
    delay: Duration,
    watermark_from: String,
}

/// The rows of the window TVF that `select` ranks, each once per window.
fn assigned<'a>(
    plan: PlanBuilder,
    target: &str,
    select: &Select,
    sources: &'a [SourceTable],
    shape: &dyn Fn() -> SqlError,
) -> Result<Assigned<'a>, SqlError> {
    let mut select = select.clone();
    let spec = super::tvf::assignment(&mut select)?.ok_or_else(shape)?;
    let [from] = select.from.as_slice() else {
        return Err(shape());
    };
    // The TVF's table: a source table's rows, or a filter and projection of them (a
    // view, say), whose watermark follows all of the source's rows.
    let alias = match &from.relation {
        TableFactor::Derived {
            alias: Some(alias), ..
        } => alias.name.value.as_str(),
        _ => "subquery",
    };
    let refused = || {
        unsupported(
            &format!("a window TVF over the subquery `{alias}`, ranked"),
            "rank the windows of a source table's rows, or of a filter and projection of them \
             (SELECT ... FROM t WHERE ...)",
        )
    };
    let name = format!("{target}.{alias}");
    let (rows, selected) =
        projected::tvf_table(plan, &name, &from.relation, alias, sources, &refused, shape)?;
    let source = rows.source;
    let Some((time, delay)) = selected else {
        return Err(unsupported(
            &format!(
                "a ranking of the windows of `{}`, which has no WATERMARK",
                source.name
            ),
            "declare WATERMARK FOR ts AS ts - INTERVAL ... on the table: its windows close \
             as the watermark passes them",
        ));
    };
    if !spec.time_column.eq_ignore_ascii_case(&time) {
        return Err(unsupported(
            &format!("DESCRIPTOR({}) in a ranked window TVF", spec.time_column),
            &format!("name the table's WATERMARK column, DESCRIPTOR({time})"),
        ));
    }
    let stream = format!("{target}/windows");
    let plan = rows.plan.assign_windows(&stream, &rows.stream, spec);
    Ok(Assigned {
        plan,
        stream,
        source,
        raw: Raw {
            time_column: time,
            delay,
            watermark_from: source.checked_stream(),
        },
    })
}

/// The ranking call with its kind, the rank's name, and the projection computing the rest
/// of `items` after the ranking (none for `*`).
#[allow(clippy::type_complexity)]
fn select_list<'e>(
    items: &'e [SelectItem],
    shape: &dyn Fn() -> SqlError,
) -> Result<((&'e Expr, Ranking), String, Option<OperatorKind>), SqlError> {
    let mut ranking = None;
    let mut columns = Vec::new();
    let mut star = None;
    for (i, item) in items.iter().enumerate() {
        match item {
            SelectItem::Wildcard(_) if i == 0 => star = Some(wildcard_drops(item)?),
            SelectItem::ExprWithAlias { expr, alias } if rank_call(expr).is_some() => {
                let kind = rank_call(expr).unwrap_or(Ranking::Rank);
                if ranking
                    .replace(((expr, kind), alias.value.clone()))
                    .is_some()
                {
                    return Err(unsupported("two ranking columns", "rank rows once"));
                }
                columns.push((alias.value.clone(), quoted(&alias.value)));
            }
            SelectItem::UnnamedExpr(e) if rank_call(e).is_some() => {
                return Err(name_it(e));
            }
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => {
                columns.push((id.value.clone(), quoted(&id.value)));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                if over_rows(expr) {
                    return Err(shape());
                }
                columns.push((alias.value.clone(), expr.to_string()));
            }
            SelectItem::UnnamedExpr(e) => return Err(name_it(e)),
            _ => return Err(shape()),
        }
    }
    let Some((call, rank)) = ranking else {
        return Err(shape());
    };
    let projection = match star {
        // `*, rk` (with EXCEPT, if any): the windowed rows with the rank after them, as
        // the Top-N writes them.
        Some(drop) if columns.len() == 1 => (!drop.is_empty()).then_some(OperatorKind::Project {
            columns: Vec::new(),
            keep_input: true,
            drop,
            keep_coordinates: false,
        }),
        Some(_) => {
            return Err(unsupported(
                "`*` with other columns in a ranking subquery",
                "select `*, RANK() OVER (...) AS rk`, or name each column",
            ));
        }
        None => Some(OperatorKind::Project {
            columns,
            keep_input: false,
            drop: Vec::new(),
            keep_coordinates: false,
        }),
    };
    Ok((call, rank, projection))
}

/// Whether `e` holds a window function over rows (`... OVER (...)`).
fn over_rows(e: &Expr) -> bool {
    visit_expressions(e, |e| match e {
        Expr::Function(f) if f.over.is_some() => std::ops::ControlFlow::Break(()),
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_break()
}

/// A column of `ORDER BY` in a ranking's `OVER`, with its direction.
fn sort_key(order: &OrderByExpr) -> Result<SortKey, SqlError> {
    let Expr::Identifier(column) = &order.expr else {
        return Err(unsupported(
            &format!("ORDER BY {order}"),
            "rank by columns of the windowed subquery; compute an expression there",
        ));
    };
    if order.with_fill.is_some() {
        return Err(unsupported(
            &format!("ORDER BY {order}"),
            "WITH FILL is not run",
        ));
    }
    Ok(SortKey {
        column: column.value.clone(),
        descending: order.options.asc == Some(false),
        nulls_first: order.options.nulls_first == Some(true),
    })
}

impl Lowered<'_> {
    /// Adds the Top-N, with the limit the outer `WHERE` sets (`rk <= N`, `rk < N`,
    /// `rk = N` or `rk BETWEEN M AND N`, alone or as a conjunct), then the ranking
    /// subquery's select list; returns its stream and the rest of the `WHERE`.
    pub(super) fn keep(
        self,
        target: &str,
        selection: Option<&Expr>,
    ) -> Result<(PlanBuilder, String, Option<Expr>), SqlError> {
        let missing = || {
            SqlError::Invalid(format!(
                "a window Top-N keeps the first ranks: WHERE {} <= N (or {} = 1), alone or \
                 with AND",
                self.rank, self.rank
            ))
        };
        let selection = selection.ok_or_else(missing)?;
        let mut limit: Option<u64> = None;
        let mut rest: Vec<Expr> = Vec::new();
        for conjunct in conjuncts(selection) {
            match self.limit_of(conjunct) {
                Some((n, implied)) => {
                    limit = Some(limit.map_or(n, |l| l.min(n)));
                    if !implied {
                        rest.push(conjunct.clone());
                    }
                }
                None => rest.push(conjunct.clone()),
            }
        }
        let limit = limit.ok_or_else(missing)?;
        if limit == 0 {
            return Err(SqlError::Invalid(format!(
                "`{selection}`: a window Top-N keeps the first ranks, from 1: this keeps none"
            )));
        }
        let name = format!("{target}/top-n");
        let spec = TopNSpec { limit, ..self.spec };
        let mut plan = match self.raw {
            Some(raw) => self.plan.window_top_n(
                &name,
                &self.ranked,
                WindowTopNSpec {
                    top: spec,
                    time_column: raw.time_column,
                    delay: raw.delay,
                    watermark_from: Some(raw.watermark_from),
                },
            ),
            None => self.plan.top_n(&name, &self.ranked, spec),
        };
        let mut stream = name;
        if let Some(columns) = self.columns {
            let name = format!("{target}/ranked-select");
            plan = plan.operator(&name, &stream, columns);
            stream = name;
        }
        Ok((plan, stream, all_of(rest)))
    }

    /// The highest rank that `e` keeps, and whether keeping the ranks up to it is all
    /// that `e` does: `rk <= N`, `rk < N`, `rk = 1` (all it does), `rk = N`,
    /// `rk BETWEEN M AND N` (also a filter after the Top-N), either way round.
    fn limit_of(&self, e: &Expr) -> Option<(u64, bool)> {
        let is_rank = |e: &Expr| matches!(e, Expr::Identifier(id) if id.value == self.rank);
        match e {
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } if is_rank(expr) => {
                let (low, high) = (number(low)?, number(high)?);
                Some((high, low <= 1))
            }
            Expr::BinaryOp { left, op, right } => {
                let (n, op) = if is_rank(left) {
                    (number(right)?, op.clone())
                } else if is_rank(right) {
                    (number(left)?, flipped(op))
                } else {
                    return None;
                };
                match op {
                    BinaryOperator::LtEq => Some((n, true)),
                    BinaryOperator::Lt => Some((n.saturating_sub(1), true)),
                    BinaryOperator::Eq => Some((n, n == 1)),
                    _ => None,
                }
            }
            Expr::Nested(inner) => self.limit_of(inner),
            _ => None,
        }
    }
}

/// The whole number `e` is, if it is one.
fn number(e: &Expr) -> Option<u64> {
    let Expr::Value(v) = e else {
        return None;
    };
    let Value::Number(n, _) = &v.value else {
        return None;
    };
    n.parse().ok()
}

fn no_group_by(group_by: &GroupByExpr) -> bool {
    matches!(group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
}

/// The ranking of `ROW_NUMBER()`, `RANK()` or `DENSE_RANK()` with `OVER`.
fn rank_call(e: &Expr) -> Option<Ranking> {
    let Expr::Function(f) = e else {
        return None;
    };
    f.over.as_ref()?;
    match f.name.to_string().to_ascii_lowercase().as_str() {
        "rank" => Some(Ranking::Rank),
        "dense_rank" => Some(Ranking::DenseRank),
        "row_number" => Some(Ranking::RowNumber),
        _ => None,
    }
}
