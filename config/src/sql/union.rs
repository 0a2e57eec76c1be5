//! `UNION ALL` in `FROM`: a subquery (or view) of several filters and projections of
//! source tables, whose rows the outer query reads as one stream.
//!
//! ```sql
//! SELECT window_start, count(*) AS n
//! FROM (SELECT user_id, ts FROM web UNION ALL SELECT user_id, created AS ts FROM app) AS u
//! GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)
//! ```
//!
//! Each query of the union runs as a subquery of its own (`target.u.part1`, ...), keeping
//! its rows' coordinates for the dead letters after it; a union operator passes every row
//! of each. A window over the union has one watermark clock per source, each observed on
//! the source's rows before its query's `WHERE` with the source's delay, and its
//! watermark is the least of them (-infinity until each has had a row), so a source that
//! lags behind never sees its rows dropped as late for another source's progress. For
//! that, the union's time column is each query's source watermark column, unchanged (the
//! first query names it as its source does; the others may rename it).

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{
    Expr, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, TableAlias,
};
use sluice_engine::plan::PlanBuilder;
use sluice_engine::watermark::WatermarkInput;

use super::ddl::{SinkTable, SourceTable};
use super::nested;
use super::query::{lower_query, plain_select, unsupported, wildcard_drops};

/// Whether `query` is a `UNION` (of any quantifier: the lowering refuses all but `ALL`).
pub(super) fn is_union(query: &Query) -> bool {
    matches!(
        query.body.as_ref(),
        SetExpr::SetOperation {
            op: SetOperator::Union,
            ..
        }
    )
}

/// The `SELECT`s of `query`'s `UNION ALL`s, in order, each with the query's `WITH`
/// (and anything else around the union, which the lowering of each refuses).
pub(super) fn union_branches(query: &Query) -> Result<Vec<Query>, SqlError> {
    fn collect(body: &SetExpr, out: &mut Vec<SetExpr>) -> Result<(), SqlError> {
        match body {
            SetExpr::SetOperation {
                op: SetOperator::Union,
                set_quantifier,
                left,
                right,
            } => {
                if matches!(
                    set_quantifier,
                    SetQuantifier::AllByName
                        | SetQuantifier::ByName
                        | SetQuantifier::DistinctByName
                ) {
                    return Err(unsupported(
                        &format!("UNION {set_quantifier}"),
                        "columns match by position, as in UNION ALL: select them in the same \
                         order in each query",
                    ));
                }
                if !matches!(set_quantifier, SetQuantifier::All) {
                    return Err(unsupported(
                        format!("UNION {set_quantifier}").trim_end(),
                        "it drops duplicate rows across all time, which needs state without \
                         bound; write UNION ALL, and deduplicate within the watermark with \
                         ROW_NUMBER() OVER (PARTITION BY key ORDER BY ts) = 1 in a subquery",
                    ));
                }
                collect(left, out)?;
                collect(right, out)
            }
            SetExpr::Query(inner)
                if inner.with.is_none()
                    && inner.order_by.is_none()
                    && inner.limit_clause.is_none()
                    && inner.fetch.is_none() =>
            {
                collect(&inner.body, out)
            }
            other => {
                out.push(other.clone());
                Ok(())
            }
        }
    }
    let mut bodies = Vec::new();
    collect(&query.body, &mut bodies)?;
    Ok(bodies
        .into_iter()
        .map(|body| Query {
            body: Box::new(body),
            ..query.clone()
        })
        .collect())
}

/// One query of a union, as a window over the union needs it: its source, and for each
/// output column the source column it passes unchanged (`None` for a computed one).
#[derive(Clone, Debug)]
pub(super) struct Branch {
    source: SourceTable,
    names: Vec<String>,
    passes: Vec<Option<String>>,
}

/// A lowered union.
pub(super) struct LoweredUnion<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of its rows.
    pub(super) stream: String,
    /// The first query's source.
    pub(super) source: &'a SourceTable,
    /// Every query, in order.
    pub(super) branches: Vec<Branch>,
}

/// Lowers the union `subquery` (named `alias`) read by the query writing `target`.
///
/// # Errors
/// A union other than `UNION ALL`, or one of whose queries is not a filter and projection
/// of a source table.
pub(super) fn lower<'a>(
    mut plan: PlanBuilder,
    target: &str,
    subquery: &Query,
    alias: Option<&TableAlias>,
    sources: &'a [SourceTable],
) -> Result<LoweredUnion<'a>, SqlError> {
    let name = alias.map_or("union", |a| a.name.value.as_str());
    let mut streams = Vec::new();
    let mut branches = Vec::new();
    let mut first = None;
    for (i, query) in union_branches(subquery)?.iter().enumerate() {
        if !nested::is_plain(query) {
            return Err(unsupported(
                "a query of a UNION ALL in FROM that is not a filter and projection of one \
                 source table",
                "not yet; window, deduplicate or join in each query and write the results \
                 with UNION ALL at the top of the INSERT",
            ));
        }
        let mut part = SinkTable {
            name: format!("{target}.{name}.part{}", i + 1),
            ..SinkTable::default()
        };
        let rows = lower_query(plan, query, sources, &mut part, false, true)?;
        plan = rows.plan;
        streams.push(rows.stream);
        first.get_or_insert(rows.source);
        branches.push(branch(query, rows.source)?);
    }
    let source = first.ok_or("a UNION ALL of no query")?;
    let stream = format!("{target}.{name}/union");
    let inputs: Vec<&str> = streams.iter().map(String::as_str).collect();
    Ok(LoweredUnion {
        plan: plan.union(&stream, &inputs),
        stream,
        source,
        branches,
    })
}

/// The output columns of `query` (a plain query of `source`): their names, and the
/// source column each passes unchanged.
fn branch(query: &Query, source: &SourceTable) -> Result<Branch, SqlError> {
    let mut names = Vec::new();
    let mut passes = Vec::new();
    for item in &plain_select(query)?.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                // `*`: the source's columns, each passed as it is.
                let drops = wildcard_drops(item)?;
                for column in source
                    .column_names()
                    .filter(|c| !drops.iter().any(|d| d == c))
                {
                    names.push(column.to_owned());
                    passes.push(Some(column.to_owned()));
                }
                continue;
            }
            other => return Err(unsupported(&other.to_string(), "not a select item we run")),
        };
        let passed = match expr {
            Expr::Identifier(id) => Some(id.value.clone()),
            Expr::CompoundIdentifier(ids) => ids.last().map(|id| id.value.clone()),
            _ => None,
        };
        names.push(alias.or_else(|| passed.clone()).unwrap_or_default());
        passes.push(passed);
    }
    Ok(Branch {
        source: source.clone(),
        names,
        passes,
    })
}

/// The watermark clocks of a window over `time_column` of the union of `branches`
/// besides the first query's (the window's own): each further query's source rows, its
/// watermark column and delay.
///
/// # Errors
/// When a query's column at the time column's place is not its source's watermark column.
pub(super) fn clocks(
    branches: &[Branch],
    time_column: &str,
) -> Result<Vec<WatermarkInput>, SqlError> {
    let Some((first, rest)) = branches.split_first() else {
        return Ok(Vec::new());
    };
    let position = first
        .names
        .iter()
        .position(|n| n == time_column)
        .ok_or_else(|| SqlError::Invalid(format!("the union has no column `{time_column}`")))?;
    if first.passes[position].as_deref() != Some(time_column) {
        return Err(unsupported(
            &format!("a window over `{time_column}`, which the UNION ALL's first query renames"),
            "the first query names the time column as its source does (`SELECT ts`, not \
             `SELECT created AS ts`); the other queries may rename theirs",
        ));
    }
    rest.iter()
        .enumerate()
        .map(|(i, branch)| {
            let source = &branch.source;
            let Some((watermarked, delay)) = &source.watermark else {
                return Err(unsupported(
                    &format!("a window over a UNION ALL reading `{}`", source.name),
                    &format!(
                        "each source of the union needs a watermark: declare `WATERMARK FOR \
                         ts AS ts - INTERVAL '10' MINUTE` in CREATE TABLE {}",
                        source.name
                    ),
                ));
            };
            let passed = branch.passes.get(position).cloned().flatten();
            if passed.as_deref() != Some(watermarked.as_str()) {
                return Err(SqlError::Invalid(format!(
                    "the window is over the union's `{time_column}`, but query {} of the UNION \
                     ALL puts {} there, not its source's watermark column `{watermarked}` \
                     (of `{}`)",
                    i + 2,
                    passed.map_or("a computed column".to_owned(), |p| format!("`{p}`")),
                    source.name
                )));
            }
            Ok(WatermarkInput {
                stream: source.checked_stream(),
                time_column: watermarked.clone(),
                delay: *delay,
            })
        })
        .collect()
}
