//! A filter and projection of one source table (or of its deduplication), read by a
//! query that needs its event time: a subquery `(SELECT id, paid * 100 AS cents, ts FROM
//! payments WHERE paid > 0) AS p`, or a view of that shape, as a side of a join or the
//! table of a ranked or joined window TVF.
//!
//! Its rows are the subquery's, which keep their coordinates for the dead letters after
//! it. Its event time is the source's watermarked column, selected under its own name,
//! and its watermark follows every row of the source, before the subquery's `WHERE`,
//! with the source's delay: as for a filter of a join's `ON`, a late row that the filter
//! drops is not a late row of what reads it.

use std::time::Duration;

use datafusion::sql::sqlparser::ast::{Expr, Query, SelectItem, TableFactor};
use sluice_engine::plan::PlanBuilder;

use super::ddl::{SinkTable, SourceTable};
use super::error::SqlError;
use super::explode::is_generator;
use super::nested;
use super::query::{lower_query, name_it, plain_select, source_table, wildcard_drops};

/// A lowered filter and projection of one source table.
pub(super) struct Projected<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of its rows.
    pub(super) stream: String,
    /// The source table it reads.
    pub(super) source: &'a SourceTable,
    /// Its columns, as its select list names them.
    pub(super) columns: Vec<String>,
}

/// Lowers `subquery`, its operators going by `name` (`<target>.<alias>`).
///
/// # Errors
/// A subquery of another shape (`shape` says which ones run), or one its lowering
/// refuses.
pub(super) fn lower<'a>(
    plan: PlanBuilder,
    name: &str,
    subquery: &Query,
    sources: &'a [SourceTable],
    shape: &dyn Fn() -> SqlError,
) -> Result<Projected<'a>, SqlError> {
    if !nested::is_plain(subquery) {
        return Err(shape());
    }
    let (columns, source) = columns(subquery, sources, shape, false)?;
    let mut inner = SinkTable {
        name: name.to_owned(),
        ..SinkTable::default()
    };
    let rows = lower_query(plan, subquery, sources, &mut inner, false, true)?;
    Ok(Projected {
        plan: rows.plan,
        stream: rows.stream,
        source,
        columns,
    })
}

/// The rows of the table a window TVF reads (`TABLE(TUMBLE(TABLE t, ...))`), with their
/// event time and watermark delay (`None` without a watermark): a source table's, or a
/// filter and projection of one (a view) named `alias`, whose operators go by `name`.
/// A subquery of another shape is `refused`; anything else is `other`.
///
/// # Errors
/// Those, and a view that does not select its source's event time.
pub(super) fn tvf_table<'a>(
    plan: PlanBuilder,
    name: &str,
    relation: &TableFactor,
    alias: &str,
    sources: &'a [SourceTable],
    refused: &dyn Fn() -> SqlError,
    other: &dyn Fn() -> SqlError,
) -> Result<(Projected<'a>, Option<(String, Duration)>), SqlError> {
    match relation {
        TableFactor::Table { name, .. } => {
            let source = source_table(name, sources)?;
            let rows = Projected {
                plan,
                stream: source.checked_stream(),
                source,
                columns: source.column_names().map(str::to_owned).collect(),
            };
            Ok((rows, source.watermark.clone()))
        }
        TableFactor::Derived { subquery, .. } => {
            let rows = lower(plan, name, subquery, sources, refused)?;
            let time = rows.event_time(alias)?;
            Ok((rows, time))
        }
        _ => Err(other()),
    }
}

/// The columns of `query`'s rows, and the source table they come from: a filter and
/// projection of a source table, or (unless `deduplicated` already) of a deduplication
/// of one (`SELECT ... FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY ts)
/// AS rn FROM t) WHERE rn = 1`), whose first rows keep their event times.
fn columns<'a>(
    query: &Query,
    sources: &'a [SourceTable],
    shape: &dyn Fn() -> SqlError,
    deduplicated: bool,
) -> Result<(Vec<String>, &'a SourceTable), SqlError> {
    let mut select = plain_select(query)?.clone();
    let [from] = select.from.as_slice() else {
        return Err(shape());
    };
    if !from.joins.is_empty()
        || select.projection.iter().any(|item| {
            matches!(item, SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }
                if is_generator(e))
        })
    {
        return Err(shape());
    }
    let (base, source) = match &from.relation {
        TableFactor::Table { name, .. } => {
            let source = source_table(name, sources)?;
            (source.column_names().map(str::to_owned).collect(), source)
        }
        TableFactor::Derived {
            subquery: inner,
            alias,
            ..
        } if !deduplicated && numbers_rows(inner) => {
            let alias = alias.clone();
            let (columns, source) = columns(inner, sources, shape, true)?;
            nested::unqualify(&mut select, alias.as_ref());
            (columns, source)
        }
        _ => return Err(shape()),
    };
    nested::unqualify_table(&mut select);
    Ok((output_columns(&select.projection, &base)?, source))
}

/// Whether `query` numbers a source table's rows (`ROW_NUMBER() OVER (...)`): the
/// subquery of a deduplication, which its lowering checks.
fn numbers_rows(query: &Query) -> bool {
    plain_select(query).is_ok_and(|select| {
        matches!(select.from.as_slice(), [f] if f.joins.is_empty()
            && matches!(f.relation, TableFactor::Table { .. }))
            && select.projection.iter().any(|item| {
                matches!(item, SelectItem::ExprWithAlias { expr: Expr::Function(f), .. }
                    if f.over.is_some())
            })
    })
}

impl Projected<'_> {
    /// Its event-time column and the watermark's delay: its source's, which it must
    /// select under its own name (`None` when the source has no watermark); `alias` names
    /// it in the error.
    ///
    /// # Errors
    /// When it does not select its source's event-time column.
    pub(super) fn event_time(&self, alias: &str) -> Result<Option<(String, Duration)>, SqlError> {
        let Some((time, delay)) = &self.source.watermark else {
            return Ok(None);
        };
        let columns: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        // Names resolve whatever their case, as everywhere else.
        if sluice_engine::key::name_index(&columns, time).is_none() {
            return Err(SqlError::Invalid(format!(
                "the subquery `{alias}` does not select `{time}`, the event time of `{}` (its \
                 watermark's column): select it under its own name",
                self.source.name
            )));
        }
        Ok(Some((time.clone(), *delay)))
    }
}

/// The names of the columns a select list gives, in order, over rows of `base`'s columns.
fn output_columns(items: &[SelectItem], base: &[String]) -> Result<Vec<String>, SqlError> {
    let mut columns = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                let drops = wildcard_drops(item)?;
                columns.extend(
                    base.iter()
                        .filter(|c| !drops.iter().any(|d| d.eq_ignore_ascii_case(c)))
                        .cloned(),
                );
            }
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => columns.push(id.value.clone()),
            SelectItem::UnnamedExpr(e) => return Err(name_it(e)),
            SelectItem::ExprWithAlias { alias, .. } => columns.push(alias.value.clone()),
            other => {
                return Err(SqlError::Invalid(format!(
                    "`{other}`: not a select item we run"
                )));
            }
        }
    }
    Ok(columns)
}
