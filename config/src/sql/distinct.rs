//! `SELECT DISTINCT` without aggregates, into a table in update mode: the aggregate
//! without a window of its columns, `GROUP BY` all of them, so the table holds each
//! distinct row once (merged by all its columns), as Spark's `dropDuplicates()` without a
//! watermark keeps each first row. Its state holds every distinct row, for the life of
//! the job; in append mode it stays refused, naming update mode and the deduplication
//! within the watermark.

use datafusion::sql::sqlparser::ast::{Distinct, Expr, GroupByExpr, Query, SelectItem, SetExpr};

use super::ddl::SinkTable;
use super::error::SqlError;
use super::query::unsupported;
use super::window::aggregate_call;

/// Rewrites `query`'s `SELECT DISTINCT` into a `GROUP BY` of its columns, when it writes
/// a table in update mode, has no aggregate and no `GROUP BY` of its own.
///
/// # Errors
/// `SELECT DISTINCT *`, whose rows' coordinates would make every row distinct.
pub(super) fn rewrite(query: &mut Query, sink: &SinkTable) -> Result<(), SqlError> {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(());
    };
    if select.distinct != Some(Distinct::Distinct)
        || sink.mode != sluice_engine::window::OutputMode::Update
        || !matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty())
    {
        return Ok(());
    }
    let mut keys = Vec::new();
    for item in &select.projection {
        let e = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => {
                return Err(unsupported(
                    "SELECT DISTINCT *",
                    "a source's rows carry their coordinates, so every row is distinct; \
                     name the columns that make a row distinct",
                ));
            }
        };
        if has_aggregate(e) {
            return Ok(());
        }
        keys.push(e.clone());
    }
    select.distinct = None;
    select.group_by = GroupByExpr::Expressions(keys, vec![]);
    Ok(())
}

/// Whether `e` calls an aggregate.
fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |e: &Expr| {
        found |= aggregate_call(e).is_some();
        std::ops::ControlFlow::<()>::Continue(())
    });
    found
}
