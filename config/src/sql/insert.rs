//! `INSERT INTO table SELECT ...` statements, and the queries writing each table: one
//! query keeps its operator names; several (`UNION ALL`, or several `INSERT`s into one
//! table) are lowered each on its own and joined by a union operator.

use crate::sql::error::SqlError;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query, SelectItem, SetExpr,
    Statement, TableFactor, TableObject, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use sluice_engine::plan::PlanBuilder;
use sluice_engine::window::OutputMode;

use super::clauses::insert_extras;
use super::ddl::{SinkTable, SourceTable};
use super::declared_sink;
use super::query::{LoweredQuery, lower_query, unsupported};
use super::tvf;
use super::union::union_branches;
use super::views::{self, Views};

/// An `INSERT INTO ... SELECT` statement.
#[derive(Clone, Debug)]
pub(crate) struct Insert {
    /// The table written.
    pub(super) target: String,
    /// The statement, for messages.
    pub(super) text: String,
    query: Box<Query>,
    /// Its column list (`INSERT INTO t (a, b) SELECT ...`), if any.
    listed: Option<Vec<Ident>>,
    /// The tables it reads `FOR SYSTEM_TIME AS OF` (Flink's lookup join), to be lookup
    /// tables.
    pub(super) system_time: Vec<String>,
}

impl Insert {
    pub(super) fn parse(statement: &str) -> Result<Self, SqlError> {
        let (text, system_time) = super::system_time::strip(statement);
        let parsed = Parser::parse_sql(&GenericDialect {}, &tvf::unwrap_table_arguments(&text))
            .map_err(|e| super::error::parse_error(&e))?;
        // `WITH c AS (...) INSERT INTO t SELECT ... FROM c`, as Spark SQL writes it: the
        // common table expressions are the SELECT's.
        let (insert, with) = match parsed.as_slice() {
            [Statement::Insert(insert)] => (insert, None),
            [Statement::Query(outer)] => match (outer.body.as_ref(), &outer.with) {
                (SetExpr::Insert(Statement::Insert(insert)), Some(with))
                    if outer.order_by.is_none()
                        && outer.limit_clause.is_none()
                        && outer.fetch.is_none() =>
                {
                    (insert, Some(with.clone()))
                }
                _ => return Err("one INSERT INTO ... SELECT statement".into()),
            },
            _ => return Err("one INSERT INTO ... SELECT statement".into()),
        };
        let TableObject::TableName(name) = &insert.table else {
            return Err("INSERT INTO a table name".into());
        };
        if let Some(clause) = insert_extras(insert) {
            return Err(unsupported(
                clause,
                "a streaming INSERT appends the query's rows to its table (or, in update \
                 mode, merges each window's row by its keys); write INSERT INTO t SELECT ...",
            ));
        }
        let mut query = insert
            .source
            .clone()
            .ok_or("INSERT INTO t SELECT ... (VALUES are not a stream)")?;
        let mut listed = None;
        if !insert.columns.is_empty() {
            let columns: Vec<Ident> = insert
                .columns
                .iter()
                .map(|c| {
                    let [part] = c.0.as_slice() else {
                        return Err(SqlError::Invalid(format!(
                            "INSERT INTO t (columns): `{c}` is not a column name"
                        )));
                    };
                    part.as_ident().cloned().ok_or_else(|| {
                        SqlError::Invalid(format!(
                            "INSERT INTO t (columns): `{c}` is not a column name"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            listed = Some(columns);
        }
        if let Some(with) = with {
            if query.with.is_some() {
                return Err(unsupported(
                    "WITH both before INSERT and before its SELECT",
                    "write the common table expressions in one WITH",
                ));
            }
            query.with = Some(with);
        }
        Ok(Self {
            target: name.to_string(),
            text: statement.to_owned(),
            query,
            listed,
            system_time,
        })
    }

    /// Its query, its select list named for `sink`: after the sink's declared columns
    /// (see [`declared_sink`]), or by the column list.
    fn query_for(&self, sink: &SinkTable) -> Result<Query, SqlError> {
        let mut query = (*self.query).clone();
        if !sink.columns.is_empty() {
            declared_sink::conform(query.body.as_mut(), &sink.columns, self.listed.as_deref())?;
        } else if let Some(columns) = &self.listed {
            rename_outputs(query.body.as_mut(), columns)?;
        }
        Ok(query)
    }
}

/// `INSERT INTO t (a, b) SELECT x, y`: names the select list's items, in order, by the
/// column list (`x AS a, y AS b`), in each branch of a `UNION ALL`.
fn rename_outputs(body: &mut SetExpr, columns: &[Ident]) -> Result<(), SqlError> {
    match body {
        SetExpr::Select(select) => {
            if select.projection.iter().any(|i| {
                matches!(
                    i,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            }) {
                return Err(unsupported(
                    "INSERT INTO t (columns) SELECT *",
                    "the column list names the select list's items in order; name them \
                     (SELECT a, b), or leave the list out and the query's names are the \
                     table's",
                ));
            }
            if select.projection.len() != columns.len() {
                return Err(SqlError::Invalid(format!(
                    "INSERT INTO t ({}) names {} columns, and the query selects {}",
                    columns
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    columns.len(),
                    select.projection.len()
                )));
            }
            for (item, column) in select.projection.iter_mut().zip(columns) {
                let expr = match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                        e.clone()
                    }
                    other => {
                        return Err(SqlError::Invalid(format!(
                            "`{other}`: not a select item we run"
                        )));
                    }
                };
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: column.clone(),
                };
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            rename_outputs(left, columns)?;
            rename_outputs(right, columns)
        }
        SetExpr::Query(query) => rename_outputs(query.body.as_mut(), columns),
        _ => Err("INSERT INTO t (columns) SELECT ...".into()),
    }
}

/// Adds the operators of the queries writing the table `target` (`inserts`, in order,
/// each a `SELECT` or a `UNION ALL` of them) to `plan`, reading the checked rows of
/// `sources`; returns the plan and the sink, or the statement at fault and why.
///
/// One query keeps the operator names it always had (they name its state). Several are
/// lowered as `target.part1`, `target.part2`, ... in order, and a union `target/union`
/// of their rows is what the table gets.
pub(super) fn lower(
    mut plan: PlanBuilder,
    target: &str,
    inserts: &[&Insert],
    sources: &[SourceTable],
    declared: &BTreeMap<String, SinkTable>,
    views: &Views,
) -> Result<(PlanBuilder, SinkTable), (String, SqlError)> {
    let mut sink = declared.get(target).cloned().unwrap_or_else(|| SinkTable {
        name: target.to_owned(),
        ..SinkTable::default()
    });
    let mut queries = Vec::new();
    for insert in inserts {
        let at = |e: SqlError| (insert.text.clone(), e);
        let query = insert.query_for(&sink).map_err(at)?;
        for branch in union_branches(&query).map_err(at)? {
            queries.push((*insert, branch));
        }
    }
    if let [(insert, query)] = queries.as_slice() {
        let at = |e: SqlError| (insert.text.clone(), e);
        let lowered = lower_branch(plan, query, sources, &mut sink, views).map_err(at)?;
        keyed_by_its_primary_key(&sink).map_err(at)?;
        let (plan, stream) = to_declared(lowered.plan, &sink, &lowered.stream).map_err(at)?;
        return Ok((plan.sink(target, &stream), sink));
    }
    let first = queries
        .first()
        .map(|(i, _)| i.text.clone())
        .unwrap_or_default();
    if sink.mode == OutputMode::Update || !sink.allowed_lateness.is_zero() {
        return Err((
            first,
            unsupported(
                &format!("several queries (or UNION ALL) writing the update-mode table `{target}`"),
                "each query would merge its groups over the other's rows; aggregate the \
                 union's rows in one query (GROUP BY over a view of the UNION ALL is not yet \
                 run), or write one table per query",
            ),
        ));
    }
    let mut streams = Vec::new();
    for (i, (insert, query)) in queries.iter().enumerate() {
        let mut part = SinkTable {
            name: format!("{target}.part{}", i + 1),
            ..sink.clone()
        };
        let lowered = lower_branch(plan, query, sources, &mut part, views)
            .map_err(|e| (insert.text.clone(), e))?;
        plan = lowered.plan;
        streams.push(lowered.stream);
    }
    let name = format!("{target}/union");
    let inputs: Vec<&str> = streams.iter().map(String::as_str).collect();
    let (plan, stream) =
        to_declared(plan.union(&name, &inputs), &sink, &name).map_err(|e| (first.clone(), e))?;
    Ok((plan.sink(target, &stream), sink))
}

/// Checks that a table's `PRIMARY KEY` is what its query's rows are merged by (its
/// GROUP BY keys, with a window's start and end, or a session's start).
fn keyed_by_its_primary_key(sink: &SinkTable) -> Result<(), SqlError> {
    let Some(key) = &sink.primary_key else {
        return Ok(());
    };
    let mut declared: Vec<&String> = key.iter().collect();
    let mut merged: Vec<&String> = sink.merge_keys.iter().collect();
    declared.sort();
    merged.sort();
    if declared != merged {
        return Err(SqlError::Invalid(format!(
            "PRIMARY KEY ({}): the query's rows are merged by {}, its GROUP BY keys (with a \
             window's start and end, or a session's start); declare those as the key",
            key.join(", "),
            sink.merge_keys.join(", ")
        )));
    }
    Ok(())
}

/// The stream `sink` gets from `stream`: cast to its declared columns, if it declares
/// them.
fn to_declared(
    plan: PlanBuilder,
    sink: &SinkTable,
    stream: &str,
) -> Result<(PlanBuilder, String), SqlError> {
    if sink.columns.is_empty() {
        return Ok((plan, stream.to_owned()));
    }
    declared_sink::cast(plan, &sink.name, stream, &sink.columns, sink.deletes)
}

/// Lowers one `SELECT` whose rows go to `sink`.
fn lower_branch<'a>(
    plan: PlanBuilder,
    query: &Query,
    sources: &'a [SourceTable],
    sink: &mut SinkTable,
    views: &Views,
) -> Result<LoweredQuery<'a>, SqlError> {
    let mut query = query.clone();
    super::group_by::rewrite(&mut query)?;
    tvf::rewrite(&mut query)?;
    let mut query = views::expand(&query, views)?;
    super::names::resolve(&mut query, sources);
    refuse_subquery_expressions(&query)?;
    lower_query(plan, &query, sources, sink, false, false)
}

/// Refuses a subquery inside an expression (`IN (SELECT ...)`, `EXISTS`, a scalar
/// subquery): over a stream each is a join whose state this engine does not build from
/// an expression.
fn refuse_subquery_expressions(query: &Query) -> Result<(), SqlError> {
    // A window TVF over a view reads the view's query as its table: no expression.
    let mut query = query.clone();
    let _ = VisitMut::visit(&mut query, &mut ViewTables);
    let found = datafusion::sql::sqlparser::ast::visit_expressions(&query, |e| match e {
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => {
            std::ops::ControlFlow::Break(e.to_string())
        }
        _ => std::ops::ControlFlow::Continue(()),
    });
    match found {
        std::ops::ControlFlow::Break(e) => Err(unsupported(
            &format!("a subquery in an expression (`{e}`)"),
            "not yet; join the tables instead (FROM a JOIN b ON ..., or a stream-table \
             join for a lookup), or filter a subquery in FROM",
        )),
        std::ops::ControlFlow::Continue(()) => Ok(()),
    }
}

/// Blanks the view a window TVF reads (`TUMBLE((SELECT ...), ...)`, as views are
/// expanded), which is its table, not a subquery in an expression.
struct ViewTables;

impl VisitorMut for ViewTables {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::TableFunction {
            expr: Expr::Function(f),
            ..
        } = factor
            && let FunctionArguments::List(list) = &mut f.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(table))) = list.args.first_mut()
            && matches!(table, Expr::Subquery(_))
        {
            *table = Expr::Identifier(Ident::new("view"));
        }
        ControlFlow::Continue(())
    }
}
