//! Flink's "keep the last row" deduplication, each key's latest row by event time,
//!
//! ```sql
//! INSERT INTO latest SELECT id, status, ts FROM (
//!   SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY ts DESC) AS rn FROM orders
//! ) WHERE rn = 1
//! ```
//!
//! rewritten as the aggregate without a window that computes it, before it is lowered:
//!
//! ```sql
//! INSERT INTO latest SELECT id,
//!   max_by(named_struct('status', status, 'ts', ts), ts)['status'] AS status,
//!   max_by(named_struct('status', status, 'ts', ts), ts)['ts'] AS ts
//! FROM orders GROUP BY id
//! ```
//!
//! One aggregate keeps each key's latest row whole (the struct of the subquery's other
//! columns), so every column comes from the same row: rows tied on the event time are
//! told apart by their whole row ([`sluice_engine::window::AggregateFn::MaxBy`]), the same
//! in every run. A later row of an older event time does not replace it. Its table is
//! in update mode: each epoch MERGEs the keys whose row changed, so the table holds each
//! key's latest row, where Flink emits a retraction and the new row. The keys are kept
//! for the life of the job (Flink keeps them until a state TTL).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, Select, SelectItem, SetExpr, TableFactor, WindowType,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use sluice_engine::window::OutputMode;

use super::ddl::{SinkTable, SourceTable};
use super::dedup::{Numbering, keeps_first, numbered_by, refuse_renamed, row_number_call};
use super::error::SqlError;
use super::join::conjuncts;
use super::query::{plain_select, source_table, unsupported};

/// Rewrites `select`, when it keeps each key's last row of a `ROW_NUMBER() ... DESC`
/// subquery, as the aggregate that computes it (see the [module docs](self)); leaves
/// every other query alone.
///
/// # Errors
/// When it keeps last rows in a shape that does not run: over a union or a join, with
/// other conditions on the outer query, into a table in append mode.
pub(super) fn rewrite(
    select: &mut Select,
    sources: &[SourceTable],
    sink: &SinkTable,
) -> Result<(), SqlError> {
    let Some(inner) = last_row_subquery(select)? else {
        return Ok(());
    };
    let mut inner = inner.clone();
    let [from] = inner.from.as_slice() else {
        unreachable!("checked by last_row_subquery");
    };
    let TableFactor::Table { name, .. } = &from.relation else {
        unreachable!("checked by last_row_subquery");
    };
    if !from.joins.is_empty() {
        return Err(refused("a subquery with a join"));
    }
    let source = source_table(name, sources)?;
    let numbered = inner_columns(&inner, source)?;
    let numbering = &numbered.numbering;
    if sink.mode != OutputMode::Update {
        return Err(unsupported(
            &format!(
                "keeping each key's last row (ORDER BY {} DESC) into `{}`, in append mode",
                numbering.time, sink.name
            ),
            &format!(
                "a key's row changes as later rows come: declare `{}` WITH ('output-mode' = \
                 'update'), whose table is MERGEd by the keys and holds each key's latest row",
                sink.name
            ),
        ));
    }
    let conditions = select.selection.as_ref().map(conjuncts).unwrap_or_default();
    if !matches!(conditions.as_slice(), [c] if keeps_first(c, &numbered.row_number)) {
        return Err(unsupported(
            "other conditions beside `rn = 1` on the last rows",
            "a key's row that stops passing them would stay in the table; filter the rows \
             in the subquery's WHERE, or when reading the table",
        ));
    }
    let latest = latest_row(&numbered)?;
    let items = outer_items(select, &numbered, &latest)?;
    let selected = |key: &String| {
        items.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e) => column_name(e) == *key,
            // Under its name or another (`id AS user_id`, as a declared table names it).
            SelectItem::ExprWithAlias { expr, .. } => {
                matches!(expr, Expr::Identifier(id) if id.value == *key)
            }
            _ => false,
        })
    };
    let missing: Vec<&String> = numbering.keys.iter().filter(|k| !selected(k)).collect();
    if !missing.is_empty() {
        return Err(unsupported(
            &format!("keeping each key's last row without selecting the keys {missing:?}"),
            &format!(
                "`{}` is MERGEd by the PARTITION BY keys: select them (under any name)",
                sink.name
            ),
        ));
    }
    select.projection = items;
    select.from = inner.from.clone();
    select.selection = inner.selection.take();
    select.group_by = GroupByExpr::Expressions(
        numbering
            .keys
            .iter()
            .map(|k| Expr::Identifier(Ident::new(k)))
            .collect(),
        Vec::new(),
    );
    Ok(())
}

fn refused(what: &str) -> SqlError {
    unsupported(
        &format!("keeping each key's last row (ROW_NUMBER() ... DESC) of {what}"),
        "it reads one source table: deduplicate each table's rows in a query of its own",
    )
}

/// The subquery of `select`'s `FROM` when it numbers rows from the last (`ORDER BY ts
/// DESC`) and `select` keeps `rn = 1`.
fn last_row_subquery(select: &Select) -> Result<Option<&Select>, SqlError> {
    let [from] = select.from.as_slice() else {
        return Ok(None);
    };
    let TableFactor::Derived { subquery, .. } = &from.relation else {
        return Ok(None);
    };
    if !matches!(subquery.body.as_ref(), SetExpr::Select(_)) {
        return Ok(None);
    }
    let inner = plain_select(subquery)?;
    let mut row_number = None;
    for item in &inner.projection {
        match item {
            SelectItem::ExprWithAlias { expr, alias } if numbers_from_last(expr) => {
                row_number = Some(alias.value.as_str());
            }
            SelectItem::UnnamedExpr(expr) if numbers_from_last(expr) => return Ok(Some(inner)),
            _ => {}
        }
    }
    // A window Top-N numbers a window TVF's rows, and keeps more than the first.
    let plain_table = matches!(inner.from.as_slice(),
        [f] if matches!(&f.relation, TableFactor::Table { args: None, .. }));
    let first = row_number.is_some_and(|rn| {
        select
            .selection
            .as_ref()
            .is_some_and(|w| conjuncts(w).into_iter().any(|c| keeps_first(c, rn)))
    });
    Ok((first && plain_table).then_some(inner))
}

/// Whether `e` is `ROW_NUMBER() OVER (... ORDER BY c DESC)`.
fn numbers_from_last(e: &Expr) -> bool {
    let Expr::Function(f) = e else {
        return false;
    };
    row_number_call(e)
        && matches!(&f.over, Some(WindowType::WindowSpec(w))
            if w.order_by.first().is_some_and(|o| o.options.asc == Some(false)))
}

/// One column of the subquery: its name and SQL over the source's columns.
struct Column {
    name: String,
    sql: String,
}

/// What a last-row subquery selects.
struct Inner {
    numbering: Numbering,
    /// The row number's name.
    row_number: String,
    /// How many of `columns` come before the row number.
    numbered_at: usize,
    /// Its other columns, in order.
    columns: Vec<Column>,
}

/// What `inner` selects, over `source`'s rows.
fn inner_columns(inner: &Select, source: &SourceTable) -> Result<Inner, SqlError> {
    if !matches!(&inner.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
        || inner.having.is_some()
    {
        return Err(refused("an aggregate"));
    }
    let mut numbering = None;
    let mut columns = Vec::new();
    for item in &inner.projection {
        match item {
            SelectItem::ExprWithAlias { expr, alias } if row_number_call(expr) => {
                if numbering.is_some() {
                    return Err(unsupported("two ROW_NUMBER() columns", "number rows once"));
                }
                numbering = Some((
                    numbered_by(expr, source)?,
                    alias.value.clone(),
                    columns.len(),
                    expr,
                ));
            }
            SelectItem::UnnamedExpr(expr) if row_number_call(expr) => {
                return Err(SqlError::Invalid(format!(
                    "`{expr}`: name it, `{expr} AS rn`"
                )));
            }
            SelectItem::Wildcard(_) => {
                let names: Vec<&str> = source.column_names().collect();
                if names.is_empty() {
                    return Err(unsupported(
                        &format!("`*` of `{}`, which declares no columns", source.name),
                        "name the subquery's columns",
                    ));
                }
                columns.extend(names.into_iter().map(|n| Column {
                    name: n.to_owned(),
                    sql: super::query::quoted(n),
                }));
            }
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => columns.push(Column {
                name: id.value.clone(),
                sql: super::query::quoted(&id.value),
            }),
            SelectItem::ExprWithAlias { expr, alias } => columns.push(Column {
                name: alias.value.clone(),
                sql: expr.to_string(),
            }),
            other => {
                return Err(unsupported(
                    &format!("`{other}` in a last-row subquery"),
                    "its select list names columns, `*` and expressions AS names",
                ));
            }
        }
    }
    let Some((numbering, row_number, numbered_at, call)) = numbering else {
        return Err(refused("a subquery without a named ROW_NUMBER()"));
    };
    refuse_renamed(&inner.projection, &numbering.keys, &numbering.time, call)?;
    Ok(Inner {
        numbering,
        row_number,
        numbered_at,
        columns,
    })
}

/// The aggregate keeping each key's latest row: `max_by(named_struct(...), ts)` of the
/// columns that are not keys.
fn latest_row(numbered: &Inner) -> Result<String, SqlError> {
    let Inner {
        numbering, columns, ..
    } = numbered;
    let fields: Vec<String> = columns
        .iter()
        .filter(|c| !numbering.keys.contains(&c.name))
        .map(|c| format!("'{}', {}", c.name.replace('\'', "''"), c.sql))
        .collect();
    if fields.is_empty() {
        return Err(unsupported(
            "a last-row subquery of keys alone",
            "every key's last row is its keys: SELECT DISTINCT them, or keep the first row",
        ));
    }
    Ok(format!(
        "max_by(named_struct({}), {})",
        fields.join(", "),
        super::query::quoted(&numbering.time)
    ))
}

/// The outer select list over the aggregate: a key stays itself, another column of the
/// subquery is its field of the latest row, the row number is 1.
fn outer_items(
    select: &Select,
    numbered: &Inner,
    latest: &str,
) -> Result<Vec<SelectItem>, SqlError> {
    let Inner {
        numbering,
        row_number,
        numbered_at,
        columns,
    } = numbered;
    let mut items = Vec::new();
    for item in &select.projection {
        match item {
            // The subquery's columns, the row number where it selects it.
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                names.insert(*numbered_at, row_number);
                for name in names {
                    items.push(SelectItem::ExprWithAlias {
                        expr: Expr::Identifier(Ident::new(name)),
                        alias: Ident::new(name),
                    });
                }
            }
            SelectItem::UnnamedExpr(e @ (Expr::Identifier(_) | Expr::CompoundIdentifier(_))) => {
                let name = column_name(e);
                items.push(SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::new(name),
                });
            }
            other => items.push(other.clone()),
        }
    }
    let mut failure = None;
    let _ = visit_expressions_mut(&mut items, |e: &mut Expr| {
        if !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            return ControlFlow::Continue(());
        }
        let name = column_name(e);
        let replacement = if name == *row_number {
            "CAST(1 AS BIGINT)".to_owned()
        } else if numbering.keys.contains(&name) {
            super::query::quoted(&name)
        } else if columns.iter().any(|c| c.name == name) {
            format!("{latest}['{}']", name.replace('\'', "''"))
        } else {
            failure = Some(SqlError::Invalid(format!(
                "`{e}` is no column of the last-row subquery"
            )));
            return ControlFlow::Break(());
        };
        match Parser::new(&GenericDialect {})
            .try_with_sql(&replacement)
            .and_then(|mut p| p.parse_expr())
        {
            Ok(parsed) => *e = parsed,
            Err(err) => {
                failure = Some(SqlError::Invalid(format!("`{replacement}`: {err}")));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(failure) => Err(failure),
        None => Ok(items),
    }
}

/// The column an identifier names (its last part, a qualified one's).
fn column_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(id) => id.value.clone(),
        Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.clone()).unwrap_or_default(),
        _ => String::new(),
    }
}
