//! Views: `CREATE [TEMPORARY] VIEW name AS SELECT ...` names a query, and a query that
//! reads the view reads that query, as a subquery of the view's name:
//!
//! ```sql
//! CREATE VIEW expensive AS SELECT auction, price, date_time FROM bid WHERE price > 1000;
//! INSERT INTO per_auction SELECT auction, count(*) AS n FROM expensive
//! GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), auction;
//! ```
//!
//! A view is expanded where it is read, so it may be any query a subquery may be in its
//! place (a filter and projection of a source, a deduplication, a window Top-N, an
//! aggregate without a window, a windowed aggregate joined), and a view read by two
//! queries runs twice, each copy with the state of its own query.
//!
//! A query's `WITH name AS (SELECT ...)` names a query for that query alone, and is
//! expanded the same way:
//!
//! ```sql
//! INSERT INTO per_auction
//! WITH expensive AS (SELECT auction, price, date_time FROM bid WHERE price > 1000)
//! SELECT auction, count(*) AS n FROM expensive
//! GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), auction;
//! ```

use crate::sql::error::SqlError;
use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query, SetExpr, Statement,
    TableAlias, TableFactor, TableWithJoins, With,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Views by name.
pub(super) type Views = BTreeMap<String, Box<Query>>;

/// How deep views may read views: deeper is a cycle.
const DEPTH: usize = 16;

/// Parses a `CREATE [TEMPORARY] VIEW` statement: its name and query, and the tables it
/// reads `FOR SYSTEM_TIME AS OF`.
pub(super) fn parse(statement: &str) -> Result<(String, Box<Query>, Vec<String>), SqlError> {
    let (text, system_time) = super::system_time::strip(statement);
    let text = super::tvf::unwrap_table_arguments(&text);
    let parsed =
        Parser::parse_sql(&GenericDialect {}, &text).map_err(|e| super::error::parse_error(&e))?;
    let [Statement::CreateView(view)] = parsed.as_slice() else {
        return Err("one CREATE VIEW name AS SELECT ... statement".into());
    };
    if view.materialized {
        return Err(
            "CREATE MATERIALIZED VIEW: a streaming job's results are its tables; write \
             the query into a table with INSERT INTO ... SELECT"
                .into(),
        );
    }
    if !view.columns.is_empty() {
        return Err(
            "a view with a column list: name the columns in its query (`expr AS name`)".into(),
        );
    }
    let mut query = view.query.clone();
    super::group_by::rewrite(&mut query)?;
    super::tvf::rewrite(&mut query)?;
    Ok((view.name.to_string(), query, system_time))
}

/// `query` with every view it reads (through its subqueries and joins too) replaced by
/// the view's query, a subquery going by the view's name (or the alias it is read by).
///
/// # Errors
/// Views that read each other in a cycle.
pub(super) fn expand(query: &Query, views: &Views) -> Result<Box<Query>, SqlError> {
    let mut query = Box::new(query.clone());
    expand_in(&mut query, views, 0)?;
    Ok(query)
}

fn expand_in(query: &mut Query, views: &Views, depth: usize) -> Result<(), SqlError> {
    if depth > DEPTH {
        return Err(SqlError::Invalid(format!(
            "views read views more than {DEPTH} deep: do some read each other in a cycle?"
        )));
    }
    if let Some(with) = query.with.take() {
        let scoped = with_queries(with, views)?;
        return expand_in(query, &scoped, depth);
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(());
    };
    for from in &mut select.from {
        expand_tables(from, views, depth)?;
    }
    Ok(())
}

/// `views` and the queries a `WITH` names, which hide views of the same names.
fn with_queries(with: With, views: &Views) -> Result<Views, SqlError> {
    if with.recursive {
        return Err(
            "WITH RECURSIVE: a query that reads its own rows has no incremental form here; \
             name each step with WITH name AS (...) instead"
                .into(),
        );
    }
    let mut scoped = views.clone();
    for cte in with.cte_tables {
        let name = cte.alias.name.value.clone();
        if !cte.alias.columns.is_empty() {
            return Err(SqlError::Invalid(format!(
                "WITH {name} (columns) AS (...): name the columns in its query \
                 (`expr AS name`)"
            )));
        }
        let mut query = cte.query;
        super::group_by::rewrite(&mut query)?;
        super::tvf::rewrite(&mut query)?;
        scoped.insert(name, query);
    }
    Ok(scoped)
}

fn expand_tables(from: &mut TableWithJoins, views: &Views, depth: usize) -> Result<(), SqlError> {
    expand_factor(&mut from.relation, views, depth)?;
    for join in &mut from.joins {
        expand_factor(&mut join.relation, views, depth)?;
    }
    Ok(())
}

fn expand_factor(factor: &mut TableFactor, views: &Views, depth: usize) -> Result<(), SqlError> {
    match factor {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let Some(view) = views.get(&name.to_string()) else {
                return Ok(());
            };
            let mut subquery = view.clone();
            expand_in(&mut subquery, views, depth + 1)?;
            let alias = alias.clone().unwrap_or_else(|| TableAlias {
                explicit: true,
                name: Ident::new(name.to_string()),
                columns: Vec::new(),
                at: None,
            });
            *factor = TableFactor::Derived {
                lateral: false,
                subquery,
                alias: Some(alias),
                sample: None,
            };
            Ok(())
        }
        TableFactor::Derived { subquery, .. } => expand_in(subquery, views, depth + 1),
        // A window TVF over a view (`TABLE(TUMBLE(TABLE v, ...))`, its `TABLE` already
        // unwrapped): the view's query in its place, the TVF going by the view's name.
        TableFactor::TableFunction {
            expr: Expr::Function(f),
            alias,
        } => {
            let FunctionArguments::List(list) = &mut f.args else {
                return Ok(());
            };
            let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(table))) = list.args.first_mut()
            else {
                return Ok(());
            };
            let Expr::Identifier(name) = table else {
                return Ok(());
            };
            let Some(view) = views.get(&name.value) else {
                return Ok(());
            };
            let mut subquery = view.clone();
            expand_in(&mut subquery, views, depth + 1)?;
            if alias.is_none() {
                *alias = Some(TableAlias {
                    explicit: true,
                    name: name.clone(),
                    columns: Vec::new(),
                    at: None,
                });
            }
            *table = Expr::Subquery(subquery);
            Ok(())
        }
        _ => Ok(()),
    }
}
