//! An aggregate over an aggregate without a window, Nexmark q4's shape:
//!
//! ```sql
//! SELECT Q.category AS id, avg(Q.final) AS final
//! FROM (SELECT max(B.price) AS final, A.category
//!       FROM auction AS A JOIN bid AS B ON ...
//!       GROUP BY A.id, A.category) AS Q
//! GROUP BY Q.category
//! ```
//!
//! The inner aggregate has no window, so its groups never close: each epoch it emits a
//! [changelog](sluice_engine::changelog), every changed group's old row retracted and its
//! new row added, and the outer aggregate takes the old value out and puts the new one
//! in. The outer query groups by keys of the inner one (so an inner group's rows always
//! land in the same outer group), without `WHERE`, and runs in update mode.

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Query, Select, TableAlias, TableFactor, visit_expressions_mut,
};
use sluice_engine::plan::PlanBuilder;

use super::ddl::{SinkTable, SourceTable};
use super::query::{LoweredQuery, lower_query, unsupported};
use super::window::{aggregate_call, window_call};

/// Whether `query` is an aggregate without an event-time window in its GROUP BY.
pub(super) fn is_aggregate(query: &Query) -> bool {
    let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs.as_slice(),
        GroupByExpr::All(_) => return false,
    };
    let windowed = group_by
        .iter()
        .any(|e| matches!(window_call(e), Ok(Some(_))));
    let aggregates = select.projection.iter().any(|item| match item {
        datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(e)
        | datafusion::sql::sqlparser::ast::SelectItem::ExprWithAlias { expr: e, .. } => {
            aggregate_call(e).is_some()
        }
        _ => false,
    });
    !windowed && (!group_by.is_empty() || aggregates)
}

/// Whether `query` is a plain filter and projection: no GROUP BY, aggregate or window
/// function (`OVER`), over one table.
pub(super) fn is_plain(query: &Query) -> bool {
    let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let grouped = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
        GroupByExpr::All(_) => true,
    };
    let mut computed = false;
    for item in &select.projection {
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(item, |e: &Expr| {
            if let Expr::Function(f) = e
                && (f.over.is_some() || aggregate_call(e).is_some())
            {
                computed = true;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    // One table, or one with its rows unnested (`t CROSS JOIN UNNEST(a) AS u (x)`).
    let unnest = |t: &TableFactor| matches!(t, TableFactor::UNNEST { .. });
    let one_table = match select.from.as_slice() {
        [t] => t.joins.iter().all(|j| unnest(&j.relation)),
        [t, u] => t.joins.is_empty() && u.joins.is_empty() && unnest(&u.relation),
        _ => false,
    };
    !grouped && !computed && one_table
}

/// Lowers the inner aggregate `query` of the query writing `target`, its rows going by
/// `alias`; its operators and state go by `<target>.<alias>`.
pub(super) fn lower<'a>(
    plan: PlanBuilder,
    target: &str,
    query: &Query,
    alias: Option<&TableAlias>,
    sources: &'a [SourceTable],
) -> Result<LoweredQuery<'a>, SqlError> {
    let Some(alias) = alias else {
        return Err(unsupported(
            "an aggregate subquery without a name",
            "name it, (SELECT ...) AS q, and its columns q.col",
        ));
    };
    let mut inner = SinkTable {
        name: format!("{target}.{}", alias.name.value),
        ..SinkTable::default()
    };
    lower_query(plan, query, sources, &mut inner, true, true)
}

/// Rewrites `alias.col` to `col` in the outer query's select list, `WHERE` and
/// `GROUP BY`: the inner aggregate's rows are the only ones it reads.
pub(super) fn unqualify(select: &mut Select, alias: Option<&TableAlias>) {
    if let Some(alias) = alias {
        unqualify_by(select, &alias.name.value);
    }
}

/// Rewrites `t.col` to `col` in a query of one table `t` (its alias, or its name when it
/// has none), as in `SELECT e.user_id FROM events e WHERE e.value > 1`: the table's rows
/// are the only ones it reads, and a column keeps its own name (`user_id`).
pub(super) fn unqualify_table(select: &mut Select) {
    let [from] = select.from.as_slice() else {
        return;
    };
    let TableFactor::Table { name, alias, .. } = &from.relation else {
        return;
    };
    if !from.joins.is_empty() {
        return;
    }
    let qualifier = match alias {
        Some(alias) => alias.name.value.clone(),
        None => match name.0.last().and_then(|part| part.as_ident()) {
            Some(id) => id.value.clone(),
            None => return,
        },
    };
    unqualify_by(select, &qualifier);
}

/// Rewrites `qualifier.col` to `col` in the select list, `WHERE`, `GROUP BY` and
/// `HAVING` of `select`.
pub(super) fn unqualify_by(select: &mut Select, qualifier: &str) {
    let alias = qualifier;
    let mut rewrite = |e: &mut Expr| {
        if let Expr::CompoundIdentifier(ids) = e
            && ids.len() == 2
            && ids[0].value == alias
        {
            *e = Expr::Identifier(ids[1].clone());
        }
        std::ops::ControlFlow::<()>::Continue(())
    };
    let _ = visit_expressions_mut(&mut select.projection, &mut rewrite);
    let _ = visit_expressions_mut(&mut select.selection, &mut rewrite);
    let _ = visit_expressions_mut(&mut select.group_by, &mut rewrite);
    let _ = visit_expressions_mut(&mut select.having, &mut rewrite);
}
