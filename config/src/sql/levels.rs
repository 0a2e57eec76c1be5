//! Every level of a query, for the rewrites made before it is lowered
//! ([`super::group_by`], [`super::tvf`]): its `SELECT`s, the branches of its set
//! operations, and the subqueries in their `FROM` (and joins), outer levels first.

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{Query, Select, SetExpr, TableFactor};

/// Calls `rewrite` on each `SELECT` of `query`, outer levels first; stops at its first
/// error.
///
/// # Errors
/// The first error of `rewrite`.
pub(super) fn each_select(
    query: &mut Query,
    rewrite: &mut dyn FnMut(&mut Select) -> Result<(), SqlError>,
) -> Result<(), SqlError> {
    each_in_body(query.body.as_mut(), rewrite)
}

fn each_in_body(
    body: &mut SetExpr,
    rewrite: &mut dyn FnMut(&mut Select) -> Result<(), SqlError>,
) -> Result<(), SqlError> {
    match body {
        SetExpr::Select(select) => {
            rewrite(select)?;
            for from in &mut select.from {
                for factor in std::iter::once(&mut from.relation)
                    .chain(from.joins.iter_mut().map(|j| &mut j.relation))
                {
                    if let TableFactor::Derived { subquery, .. } = factor {
                        each_select(subquery, rewrite)?;
                    }
                }
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            each_in_body(left, rewrite)?;
            each_in_body(right, rewrite)
        }
        SetExpr::Query(query) => each_select(query, rewrite),
        _ => Ok(()),
    }
}
