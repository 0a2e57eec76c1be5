//! A table written by `INSERT` that declares its columns, as Flink's sink tables do:
//!
//! ```sql
//! CREATE TABLE per_user (who STRING, n BIGINT NOT NULL, total DECIMAL(12, 2))
//!   WITH ('connector' = 'delta');
//! INSERT INTO per_user SELECT user_id, count(*), sum(v) FROM events GROUP BY ...;
//! ```
//!
//! - The query's columns are the table's **by position**, as SQL's `INSERT` (Flink's and
//!   Spark's) takes them: the select list's items are named after the declared columns,
//!   in order, and must be as many. With a column list (`INSERT INTO t (total, who)
//!   SELECT ...`) the list names them, and a declared column it leaves out is null (a
//!   `NOT NULL` one cannot be left out).
//! - Each column is **cast to its declared type** after the query (operator
//!   `<table>/declared`): a value that does not cast (the text `'abc'` into `BIGINT`)
//!   sends its row to the dead-letter table, as any failing expression does, located by
//!   its source coordinates (an aggregate's row by the operator, see the runtime's
//!   dead-letter routes).
//! - A `NOT NULL` column's nulls send their rows to the dead-letter table (reason
//!   `rule:<table>_<column>_not_null`, operator `<table>/not-null`), as Flink's sink
//!   refuses them (by failing the job, where sluice keeps running).
//! - `SELECT *` is refused: a source's rows carry their coordinates after its columns,
//!   so positions would not be the declared ones; name the columns.

use datafusion::sql::sqlparser::ast::{Expr, Ident, SelectItem, SetExpr, Value};
use sluice_engine::plan::RuleSet;
use sluice_engine::plan::{OperatorKind, PlanBuilder};

use super::error::SqlError;
use super::query::{quoted, unsupported};
use crate::FieldType;

/// A declared column: `(name, job-file type, nullable)`.
pub(super) type Column = (String, String, bool);

/// Names the items of `body`'s select list (each branch of a `UNION ALL`) after the
/// declared `columns`: by position, or, with the INSERT's column list `listed`, by it
/// (in declared order, a column it leaves out null).
///
/// # Errors
/// A wildcard, a count that differs, a listed name that is not declared, a `NOT NULL`
/// column left out of the list.
pub(super) fn conform(
    body: &mut SetExpr,
    columns: &[Column],
    listed: Option<&[Ident]>,
) -> Result<(), SqlError> {
    match body {
        SetExpr::Select(select) => {
            let mut items = Vec::with_capacity(select.projection.len());
            for item in &select.projection {
                match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                        items.push(e.clone());
                    }
                    _ => {
                        return Err(unsupported(
                            &format!("`{item}` into a table that declares its columns"),
                            "a source's rows carry their coordinates after its columns, so \
                             positions would not be the declared ones; name the columns \
                             (SELECT a, b, ...)",
                        ));
                    }
                }
            }
            let by_column = match listed {
                None => {
                    if items.len() != columns.len() {
                        return Err(SqlError::Invalid(format!(
                            "the query selects {} column{}, and the table declares {} ({}): \
                             INSERT takes them by position",
                            items.len(),
                            if items.len() == 1 { "" } else { "s" },
                            columns.len(),
                            names(columns)
                        )));
                    }
                    items.into_iter().map(Some).collect::<Vec<_>>()
                }
                Some(listed) => by_list(items, listed, columns)?,
            };
            select.projection = by_column
                .into_iter()
                .zip(columns)
                .map(|(e, (name, _, _))| SelectItem::ExprWithAlias {
                    expr: e.unwrap_or_else(|| Expr::Value(Value::Null.into())),
                    alias: Ident::with_quote('"', name),
                })
                .collect();
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            conform(left, columns, listed)?;
            conform(right, columns, listed)
        }
        SetExpr::Query(query) => conform(query.body.as_mut(), columns, listed),
        _ => Err("INSERT INTO t SELECT ...".into()),
    }
}

/// The items in declared order, by the INSERT's column list: `None` for a column it
/// leaves out.
fn by_list(
    items: Vec<Expr>,
    listed: &[Ident],
    columns: &[Column],
) -> Result<Vec<Option<Expr>>, SqlError> {
    if let Some(stranger) = listed
        .iter()
        .find(|l| !columns.iter().any(|(name, _, _)| *name == l.value))
    {
        return Err(SqlError::Invalid(format!(
            "INSERT INTO t (... {stranger} ...): the table declares no column `{}`; it \
             declares {}",
            stranger.value,
            names(columns)
        )));
    }
    let mut out = Vec::with_capacity(columns.len());
    for (name, _, nullable) in columns {
        match listed.iter().position(|l| l.value == *name) {
            Some(at) => out.push(Some(items[at].clone())),
            None if *nullable => out.push(None),
            None => {
                return Err(SqlError::Invalid(format!(
                    "INSERT INTO t ({}): the column `{name}` is NOT NULL, and the list leaves \
                     it out",
                    listed
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(out)
}

fn names(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|(name, _, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds the casts to the declared types after `stream` (and the `NOT NULL` rules): the
/// stream the table gets. `change` keeps the `_change` column of an update-mode query's
/// deletes. The rows keep their coordinates (when the query's rows have them) until the
/// last operator, `<table>/columns`, so that the rows the casts or the rules reject are
/// dead letters located at their source.
///
/// # Errors
/// A declared type that does not parse.
pub(super) fn cast(
    plan: PlanBuilder,
    target: &str,
    stream: &str,
    columns: &[Column],
    change: bool,
) -> Result<(PlanBuilder, String), SqlError> {
    let mut casts = Vec::with_capacity(columns.len() + 1);
    let mut kept = Vec::with_capacity(columns.len() + 1);
    for (name, kind, _) in columns {
        let kind = FieldType::try_from(kind.clone())
            .map_err(|e| SqlError::Invalid(format!("column `{name}`: {e}")))?;
        casts.push((name.clone(), cast_sql(&quoted(name), &kind)));
        kept.push((name.clone(), quoted(name)));
    }
    if change {
        casts.push(("_change".to_owned(), quoted("_change")));
        kept.push(("_change".to_owned(), quoted("_change")));
    }
    let declared = format!("{target}/declared");
    let mut plan = plan.operator(
        &declared,
        stream,
        OperatorKind::Project {
            columns: casts,
            keep_input: false,
            drop: Vec::new(),
            keep_coordinates: true,
        },
    );
    let rules: Vec<(String, String)> = columns
        .iter()
        .filter(|(_, _, nullable)| !nullable)
        .map(|(name, _, _)| {
            (
                format!("{target}_{name}_not_null"),
                format!("{} IS NOT NULL", quoted(name)),
            )
        })
        .collect();
    let mut last = declared;
    if !rules.is_empty() {
        let checked = format!("{target}/not-null");
        plan = plan.rules(
            &checked,
            &last,
            RuleSet {
                rules,
                ..RuleSet::default()
            },
        );
        last = checked;
    }
    let name = format!("{target}/columns");
    let kept: Vec<(&str, &str)> = kept.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
    Ok((plan.project(&name, &last, false, &kept), name))
}

/// `column` (quoted) cast to `kind`, as SQL the expressions compile.
fn cast_sql(column: &str, kind: &FieldType) -> String {
    let sql_type = match kind {
        FieldType::String => "STRING",
        FieldType::Long => "BIGINT",
        FieldType::Int => "INT",
        FieldType::Double => "DOUBLE",
        FieldType::Boolean => "BOOLEAN",
        FieldType::Date => "DATE",
        // Timestamps (with their time zone), decimals and nested types, exactly.
        _ => return format!("arrow_cast({column}, '{}')", kind.arrow_type()),
    };
    format!("CAST({column} AS {sql_type})")
}
