//! A side of a join that is a filter and projection of one source table: a subquery
//! `(SELECT id, paid * 100 AS cents, ts FROM payments WHERE paid > 0) AS p`, or a view of
//! that shape.
//!
//! Its rows are the subquery's, which keep their coordinates for the dead letters after
//! the join. Its event time is the source's watermarked column, selected under its own
//! name, and its watermark follows every row of the source, before the subquery's
//! `WHERE`, with the source's delay: as for a filter of the join's `ON`, a late row that
//! the filter drops is not a late row of the join.

use std::time::Duration;

use datafusion::sql::sqlparser::ast::{Expr, Query, SelectItem, TableFactor};
use sluice_engine::plan::PlanBuilder;

use super::Side;
use crate::sql::ddl::{SinkTable, SourceTable};
use crate::sql::explode::is_generator;
use crate::sql::nested;
use crate::sql::query::{lower_query, name_it, plain_select, source_table, wildcard_drops};

/// Lowers `subquery`, a side named `alias` of the join in the query writing `target`;
/// its operators go by `<target>.<alias>`.
///
/// # Errors
/// A subquery of another shape (`shape` says which ones run), one that does not select
/// its source's event-time column under its own name, or one its lowering refuses.
pub(super) fn projected_side<'a>(
    plan: PlanBuilder,
    target: &str,
    subquery: &Query,
    alias: &str,
    sources: &'a [SourceTable],
    shape: &dyn Fn() -> String,
) -> Result<(PlanBuilder, Side<'a>), String> {
    let mut select = plain_select(subquery)?.clone();
    let [from] = select.from.as_slice() else {
        return Err(shape());
    };
    let TableFactor::Table { name, .. } = &from.relation else {
        return Err(shape());
    };
    if !from.joins.is_empty() {
        return Err(shape());
    }
    let table = source_table(name, sources)?;
    if select
        .projection
        .iter()
        .any(|item| matches!(item, SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } if is_generator(e)))
    {
        return Err(shape());
    }
    nested::unqualify_table(&mut select);
    let columns = output_columns(&select.projection, table)?;
    let Some((time, delay)) = &table.watermark else {
        return Err(super::not_an_event_time(
            &Side {
                alias: alias.to_owned(),
                table,
                stream: String::new(),
                columns: Vec::new(),
                times: Vec::new(),
                delay: Duration::ZERO,
                windowed: false,
                watermark_from: None,
            },
            "",
        ));
    };
    if !columns.contains(time) {
        return Err(format!(
            "the subquery `{alias}` of a join does not select `{time}`, the event time of \
             `{}` (its watermark's column), which bounds the join: select it under its own \
             name",
            table.name
        ));
    }
    let mut inner = SinkTable {
        name: format!("{target}.{alias}"),
        ..SinkTable::default()
    };
    let rows = lower_query(plan, subquery, sources, &mut inner, false, true)?;
    let side = Side {
        alias: alias.to_owned(),
        table,
        stream: rows.stream,
        columns,
        times: vec![time.clone()],
        delay: *delay,
        windowed: false,
        watermark_from: Some(table.checked_stream()),
    };
    Ok((rows.plan, side))
}

/// The names of the columns a select list of `table`'s rows gives, in order.
fn output_columns(items: &[SelectItem], table: &SourceTable) -> Result<Vec<String>, String> {
    let mut columns = Vec::new();
    for item in items {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                let drops = wildcard_drops(item)?;
                columns.extend(
                    table
                        .column_names()
                        .filter(|c| !drops.iter().any(|d| d.eq_ignore_ascii_case(c)))
                        .map(str::to_owned),
                );
            }
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => columns.push(id.value.clone()),
            SelectItem::UnnamedExpr(e) => return Err(name_it(e)),
            SelectItem::ExprWithAlias { alias, .. } => columns.push(alias.value.clone()),
            other => return Err(format!("`{other}`: not a select item we run")),
        }
    }
    Ok(columns)
}
