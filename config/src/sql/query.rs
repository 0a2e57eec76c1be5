//! A query (one `SELECT` of an `INSERT`, see [`super::insert`]), lowered to the plan's
//! operators: a filter for `WHERE`, a projection for the select list, and for `GROUP BY`
//! an event-time window ([`super::window`]); `FROM` a source table, a deduplication, a
//! window Top-N, a join or a union.

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{
    ExcludeSelectItem, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    ObjectName, Query, Select, SelectItem, SetExpr, TableAlias, TableFactor,
};
use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::window::OutputMode;

use super::clauses::{refuse_row_windows, select_extras, table_extras};
use super::ddl::{SinkTable, SourceTable};
use super::window::{aggregate_call, having_calls, having_over_outputs, lower_window};
use super::{
    cascade, dedup, distinct, explode, join, last_row, nested, spark_aggregates, subquery, top_n,
    union,
};

/// Refuses a construct: what it is, why, and what to write instead.
pub(super) fn unsupported(construct: &str, why: &str) -> SqlError {
    SqlError::Unsupported {
        construct: construct.to_owned(),
        why: why.to_owned(),
    }
}

/// A lowered query.
pub(super) struct LoweredQuery<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of its rows.
    pub(super) stream: String,
    /// The source table its rows come from (the left side's, for a join).
    pub(super) source: &'a SourceTable,
    /// For an aggregate without a window: its GROUP BY keys, as its select list names
    /// them.
    pub(super) group_keys: Vec<String>,
}

/// Lowers `query`, whose rows go to `sink` (its name names the operators and their
/// state); with `changelog`, an aggregate without a window emits a changelog, for an
/// outer aggregate to read; a `subquery`'s rows keep their coordinates.
pub(super) fn lower_query<'a>(
    mut plan: PlanBuilder,
    query: &Query,
    sources: &'a [SourceTable],
    sink: &mut SinkTable,
    changelog: bool,
    subquery: bool,
) -> Result<LoweredQuery<'a>, SqlError> {
    let target = sink.name.clone();
    let target = &target;
    let (mut select, having) = rewritten(query, sources, sink, subquery)?;
    let Rows {
        plan: next,
        mut stream,
        selection,
        source,
        fixed,
        input,
    } = lower_from(plan, target, &mut select, sources)?;
    plan = next;
    if let Some(predicate) = &selection {
        let name = format!("{target}/where");
        plan = plan.filter(&name, &stream, &predicate.to_string());
        stream = name;
    }
    let group_by = group_by_exprs(&select)?;
    let aggregated = !group_by.is_empty() || aggregates(&select);
    // Only a source table read directly has the columns it declares.
    let direct = matches!(select.from.as_slice(), [f] if f.joins.is_empty() && matches!(
        &f.relation,
        TableFactor::Table { name, .. } if name.to_string().eq_ignore_ascii_case(&source.name)
    ));
    let struct_fields = |array: &Expr| match input {
        Input::Rows if direct => explode::source_struct_fields(source, array),
        _ => None,
    };
    let exploded = explode::from_select_list(&mut select, aggregated, &struct_fields)?;
    if aggregated && fixed {
        return Err(unsupported(
            "an aggregate over a window Top-N",
            "not yet; write its rows to a table, and aggregate them in another job",
        ));
    }
    let mut group_keys = Vec::new();
    let stream = if aggregated {
        // The aggregates HAVING reads and the select list does not name are computed under
        // hidden names, filtered on, then dropped.
        let mut items = select.projection.clone();
        let mut hidden = Vec::new();
        if let Some(having) = &having {
            for (i, call) in having_calls(having, &items).into_iter().enumerate() {
                let alias = format!("__{target}_having{i}");
                items.push(SelectItem::ExprWithAlias {
                    expr: call,
                    alias: Ident::new(&alias),
                });
                hidden.push(alias);
            }
        }
        let window = lower_window(
            plan, sink, &stream, source, &group_by, &items, &input, changelog,
        )?;
        plan = window.plan;
        group_keys = window.group_keys;
        match having {
            Some(having) => {
                if sink.mode == OutputMode::Update {
                    return Err(unsupported(
                        "HAVING in update mode",
                        "a window whose row stops passing it would stay in the table; filter \
                         when you read the table, or use append mode",
                    ));
                }
                let predicate = having_over_outputs(having, &items);
                let name = format!("{target}/having");
                plan = plan.filter(&name, &window.stream, &predicate.to_string());
                if hidden.is_empty() {
                    name
                } else {
                    let kept = format!("{target}/having-select");
                    plan = plan.operator(
                        &kept,
                        &name,
                        OperatorKind::Project {
                            columns: Vec::new(),
                            keep_input: true,
                            drop: hidden,
                            keep_coordinates: false,
                        },
                    );
                    kept
                }
            }
            None => window.stream,
        }
    } else {
        if having.is_some() {
            return Err(unsupported(
                "HAVING without GROUP BY",
                "HAVING filters a windowed aggregate's rows; filter rows with WHERE",
            ));
        }
        if matches!(input, Input::Changelog(_)) {
            return Err(unsupported(
                "selecting an aggregate's rows without aggregating them",
                "an aggregate without a window updates its rows: INSERT it into its own table \
                 in update mode, which keeps each group's current row",
            ));
        }
        if let Some(key) = &sink.primary_key {
            return Err(unsupported(
                &format!(
                    "PRIMARY KEY ({}) of a query without GROUP BY",
                    key.join(", ")
                ),
                "a table with a key is upserted by it, and only an aggregate's rows have one \
                 (its GROUP BY keys); leave the key out to append the rows, or keep each \
                 key's last row with ROW_NUMBER() OVER (PARTITION BY key ORDER BY ts DESC) = 1",
            ));
        }
        if sink.mode == OutputMode::Update || !sink.allowed_lateness.is_zero() {
            return Err(unsupported(
                "'output-mode' = 'update' or 'allowed-lateness' on a query without GROUP BY",
                "its rows are appended as they come; update mode merges an aggregate's \
                 changed groups",
            ));
        }
        if let Some(unnesting) = exploded {
            (plan, stream) = unnesting.lower(plan, target, &stream);
        }
        let name = format!("{target}/select");
        let (next, stream) = lower_select(
            plan,
            &name,
            &stream,
            &select.projection,
            // A declared table's casts may reject rows, located by their coordinates.
            subquery || !sink.columns.is_empty(),
        )?;
        plan = next;
        stream
    };
    Ok(LoweredQuery {
        plan,
        stream,
        source,
        group_keys,
    })
}

/// `query`'s `SELECT`, rewritten to what the lowering runs (Spark's aggregates, a
/// `DISTINCT`, keep-last-row, cascading windows), and its `HAVING`, taken out: it filters
/// a windowed aggregate's rows, after the window.
fn rewritten(
    query: &Query,
    sources: &[SourceTable],
    sink: &SinkTable,
    subquery: bool,
) -> Result<(Select, Option<Expr>), SqlError> {
    let mut query = query.clone();
    spark_aggregates::rewrite(&mut query);
    if !subquery {
        distinct::rewrite(&mut query, sink)?;
    }
    let having = match query.body.as_mut() {
        SetExpr::Select(select) => {
            nested::unqualify_table(select);
            select.having.take()
        }
        _ => None,
    };
    let mut select = plain_select(&query)?.clone();
    last_row::rewrite(&mut select, sources, sink)?;
    cascade::rewrite(&mut select)?;
    refuse_row_windows(&select)?;
    Ok((select, having))
}

/// Whether `select`'s select list holds an aggregate call.
fn aggregates(select: &Select) -> bool {
    select
        .projection
        .iter()
        .any(|item| select_expr(item).is_some_and(|e| aggregate_call(e).is_some()))
}

/// Whether `select` aggregates: it groups, or selects an aggregate.
fn aggregated(select: &Select) -> bool {
    aggregates(select) || group_by_exprs(select).is_ok_and(|keys| !keys.is_empty())
}

/// Whether `select` groups by an event-time window.
fn windowed(select: &Select) -> bool {
    group_by_exprs(select).is_ok_and(|keys| {
        keys.iter()
            .any(|e| matches!(super::window::window_call(e), Ok(Some(_))))
    })
}

/// The field names of the structs in `column`'s arrays, when `source` declares it an
/// `ARRAY<STRUCT<...>>`.
/// The rows a query's `FROM` gives, before its `WHERE`.
struct Rows<'a> {
    plan: PlanBuilder,
    stream: String,
    /// What is left of the query's `WHERE` to filter them.
    selection: Option<Expr>,
    /// The source table they come from (the left side's, for a join).
    source: &'a SourceTable,
    /// The rows are a Top-N's, which no aggregate follows.
    fixed: bool,
    input: Input,
}

/// Lowers the `FROM` of `select` in the query writing `target`: a source table, a join
/// (whose names `select` is rewritten to), or a subquery.
fn lower_from<'a>(
    plan: PlanBuilder,
    target: &str,
    select: &mut Select,
    sources: &'a [SourceTable],
) -> Result<Rows<'a>, SqlError> {
    // `FROM t CROSS JOIN UNNEST(a) AS u (x)`: t's rows, then the unnest.
    if let Some(unnesting) = explode::from_clause(select)? {
        nested::unqualify_table(select);
        return rows_then(
            plan,
            target,
            select,
            sources,
            "UNNEST beside",
            "unnest",
            |plan, rows| unnesting.lower(plan, target, rows),
        );
    }
    // `FROM TABLE(TUMBLE(TABLE t, ...))` without an aggregate: t's rows, once per window.
    if let Some(spec) = super::tvf::assignment(select)? {
        let what = "a window TVF over";
        return rows_then(
            plan,
            target,
            select,
            sources,
            what,
            "assign windows to",
            |plan, rows| {
                let name = format!("{target}/windows");
                (plan.assign_windows(&name, rows, spec), name)
            },
        );
    }
    // `FROM a, b WHERE ...` joins a and b as `a JOIN b` with the conditions in WHERE.
    let tables = select.from.clone();
    let comma = matches!(tables.as_slice(), [a, b] if a.joins.is_empty() && b.joins.is_empty());
    let (Some(from), true) = (tables.first().cloned(), tables.len() == 1 || comma) else {
        return Err(unsupported(
            "FROM",
            "one source table, one ROW_NUMBER() subquery, or two source tables joined",
        ));
    };
    let single = from.joins.is_empty() && !comma;
    // A stream joined with a lookup table: the stream's rows, each with its matches.
    if let Some(table) = join::lookup::table(&tables, sources) {
        let lowered = join::lookup::lower(plan, target, select, table, sources)?;
        return Ok(Rows::of(
            lowered.plan,
            lowered.stream,
            select,
            lowered.source,
        ));
    }
    match (&from.relation, single) {
        (TableFactor::Table { name, .. }, true) => {
            let source = source_table(name, sources)?;
            Ok(Rows::of(plan, source.checked_stream(), select, source))
        }
        (_, false) => {
            let group_by = group_by_exprs(select)?;
            let lowered = join::lower(
                plan,
                target,
                &tables,
                &mut select.selection,
                &select.projection,
                &group_by,
                sources,
            )?;
            lowered.qualify(select)?;
            let input = Input::Join(Box::new(lowered.clocks()));
            Ok(Rows {
                input,
                ..Rows::of(lowered.plan, lowered.stream, select, lowered.source)
            })
        }
        (
            TableFactor::Derived {
                subquery, alias, ..
            },
            true,
        ) => lower_subquery(plan, target, select, subquery, alias.as_ref(), sources),
        _ => Err(unsupported(
            "a table function or a subquery joined in FROM",
            "not yet; group by TUMBLE(ts, ...), HOP or SESSION, and join source tables",
        )),
    }
}

/// The rows of `select`'s `FROM` without its first step (an unnest, a window
/// assignment), then that step, `add`ed after them: refused, naming `what` and what to
/// `write` instead (`what` ends with its preposition), over anything but a source
/// table's (or a view's) rows.
fn rows_then<'a>(
    plan: PlanBuilder,
    target: &str,
    select: &mut Select,
    sources: &'a [SourceTable],
    what: &str,
    write: &str,
    add: impl FnOnce(PlanBuilder, &str) -> (PlanBuilder, String),
) -> Result<Rows<'a>, SqlError> {
    let mut rows = lower_from(plan, target, select, sources)?;
    if rows.fixed || !matches!(rows.input, Input::Rows) {
        return Err(unsupported(
            &format!("{what} a join, an aggregate, a union or a Top-N"),
            &format!("{write} a source table's rows (or a filtered view of them)"),
        ));
    }
    (rows.plan, rows.stream) = add(rows.plan, &rows.stream);
    Ok(rows)
}

/// Lowers the subquery of `FROM (...) AS alias` in the query writing `target`: an
/// aggregate without a window, a union, a filter and projection, a windowed aggregate that
/// an outer window reads, a window Top-N or a deduplication.
fn lower_subquery<'a>(
    plan: PlanBuilder,
    target: &str,
    select: &mut Select,
    subquery: &Query,
    alias: Option<&TableAlias>,
    sources: &'a [SourceTable],
) -> Result<Rows<'a>, SqlError> {
    if nested::is_aggregate(subquery) {
        let inner = nested::lower(plan, target, subquery, alias, sources)?;
        nested::unqualify(select, alias);
        if select.selection.is_some() {
            return Err(unsupported(
                "WHERE over an aggregate's rows",
                "an aggregate without a window updates its rows; filter its input in the \
                 subquery's WHERE instead",
            ));
        }
        return Ok(Rows {
            input: Input::Changelog(inner.group_keys),
            ..Rows::of(inner.plan, inner.stream, select, inner.source)
        });
    }
    if union::is_union(subquery) {
        let lowered = union::lower(plan, target, subquery, alias, sources)?;
        nested::unqualify(select, alias);
        return Ok(Rows {
            input: Input::Union(lowered.branches),
            ..Rows::of(lowered.plan, lowered.stream, select, lowered.source)
        });
    }
    let name = |default| alias.map_or(default, |a| a.name.value.as_str());
    // A query of its own whose rows the outer query reads, with its names for them: a
    // filter and projection of rows (a view of a source, say), or a windowed aggregate
    // that the outer query filters and projects, or aggregates without a window (Flink's
    // query over a window TVF's aggregate in a subquery or view: each window's row once,
    // as it closes; an outer window over them is a cascading window, below).
    let own = if nested::is_plain(subquery) {
        Some("subquery")
    } else if !windowed(select) && plain_select(subquery).is_ok_and(aggregated) {
        Some("windows")
    } else {
        None
    };
    if let Some(default) = own {
        let mut inner = SinkTable {
            name: format!("{target}.{}", name(default)),
            ..SinkTable::default()
        };
        let rows = lower_query(plan, subquery, sources, &mut inner, false, true)?;
        nested::unqualify(select, alias);
        return Ok(Rows::of(rows.plan, rows.stream, select, rows.source));
    }
    if subquery::is_windowed(subquery) && windowed(select) {
        // Windows over a windowed subquery's rows (Flink's cascading windows).
        let name = name("windows");
        let shape = || {
            unsupported(
                &format!("the windowed subquery `{name}` of a windowed query"),
                "it is a windowed aggregate of one source table that selects its window's \
                 start, end or window_time, which the outer window groups by",
            )
        };
        let windows = subquery::lower(
            plan,
            &format!("{target}.{name}"),
            &format!("{target}/{name}-where"),
            subquery,
            sources,
            &shape,
        )?;
        nested::unqualify(select, alias);
        let input = Input::Windows {
            times: windows.event_times(),
            stream: windows.stream.clone(),
        };
        return Ok(Rows {
            input,
            ..Rows::of(windows.plan, windows.stream, select, windows.source)
        });
    }
    if top_n::is_top_n(subquery) {
        let lowered = top_n::lower(plan, target, subquery, sources)?;
        let source = lowered.source;
        let (plan, stream, selection) = lowered.keep(target, select.selection.as_ref())?;
        return Ok(Rows {
            selection,
            fixed: true,
            ..Rows::of(plan, stream, select, source)
        });
    }
    let lowered = dedup::lower(plan, target, subquery, sources)?;
    let selection = lowered.keep_first(select.selection.as_ref())?;
    let source = lowered.source;
    let (plan, stream) = lowered.numbered(target, &select.projection, selection.as_ref())?;
    Ok(Rows {
        selection,
        ..Rows::of(plan, stream, select, source)
    })
}

impl<'a> Rows<'a> {
    /// `stream` of `source`'s rows, filtered next by `select`'s `WHERE`.
    fn of(plan: PlanBuilder, stream: String, select: &Select, source: &'a SourceTable) -> Self {
        Self {
            plan,
            stream,
            selection: select.selection.clone(),
            source,
            fixed: false,
            input: Input::Rows,
        }
    }
}

/// What an aggregate reads.
pub(super) enum Input {
    /// A source table's rows, or a deduplication's.
    Rows,
    /// A stream–stream join's rows, which have no watermark of their own: a window over
    /// them keeps clocks over the join's sides.
    Join(Box<join::JoinClocks>),
    /// The changelog of an aggregate without a window, whose GROUP BY keys the select
    /// list names so.
    Changelog(Vec<String>),
    /// The rows of a `UNION ALL` of source tables' rows, each query's as lowered.
    Union(Vec<union::Branch>),
    /// The rows of a windowed subquery (Flink's cascading windows): its window's start,
    /// end and time, as its select list names them, are event times with a watermark of
    /// delay zero, set by the subquery's rows (the stream named).
    Windows { times: Vec<String>, stream: String },
}

/// The `GROUP BY` expressions of `select`.
fn group_by_exprs(select: &Select) -> Result<Vec<Expr>, SqlError> {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => Ok(exprs.clone()),
        other => Err(unsupported(&other.to_string(), "GROUP BY expressions only")),
    }
}

pub(super) fn select_expr(item: &SelectItem) -> Option<&Expr> {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

/// A quoted identifier for the engine's SQL.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One level of a query that runs incrementally: a plain `SELECT` without `WITH`,
/// `ORDER BY`, `LIMIT`, set operations, `DISTINCT`, `HAVING` or `QUALIFY`.
pub(super) fn plain_select(query: &Query) -> Result<&Select, SqlError> {
    if query.with.is_some() {
        return Err(unsupported("WITH", "not yet; write the query inline"));
    }
    if !query.locks.is_empty()
        || query.for_clause.is_some()
        || query.settings.is_some()
        || query.format_clause.is_some()
        || !query.pipe_operators.is_empty()
    {
        return Err(unsupported(
            "FOR UPDATE / FOR XML / SETTINGS / FORMAT / a pipe operator",
            "not clauses of a streaming query",
        ));
    }
    if query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(unsupported(
            "ORDER BY / LIMIT",
            "a stream has no end to sort or cut at; sort when you read the table",
        ));
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(unsupported(
            "INTERSECT, EXCEPT, VALUES, or UNION ALL here",
            "not yet; UNION ALL runs at the top of an INSERT's query (several INSERTs may \
             also write one table) and in FROM over filters and projections of source \
             tables",
        ));
    };
    if select.distinct.is_some() {
        return Err(unsupported(
            "SELECT DISTINCT here",
            "it runs into a table in update mode ('output-mode' = 'update' in CREATE TABLE \
             ... WITH (...)), which then holds each distinct row once, its state every \
             distinct row; or deduplicate within the watermark, whose state is evicted, \
             with ROW_NUMBER() OVER (PARTITION BY key ORDER BY ts) = 1 in a subquery",
        ));
    }
    if select.having.is_some() || select.qualify.is_some() {
        return Err(unsupported(
            "HAVING in a subquery, or QUALIFY",
            "not yet: HAVING filters the rows of the query's own windowed aggregate",
        ));
    }
    if let Some(clause) = select_extras(select) {
        return Err(unsupported(
            clause,
            "not a clause sluice runs; it is refused, not ignored",
        ));
    }
    for table in &select.from {
        for factor in
            std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation))
        {
            if let Some(clause) = table_extras(factor) {
                return Err(unsupported(
                    &format!("{clause} in FROM {factor}"),
                    "not yet; name the table (with an alias if need be), and its columns in \
                     the select list",
                ));
            }
        }
    }
    Ok(select)
}

/// The source table `name`.
pub(super) fn source_table<'a>(
    name: &ObjectName,
    sources: &'a [SourceTable],
) -> Result<&'a SourceTable, SqlError> {
    let name = name.to_string();
    if let Some(lookup) = sources
        .iter()
        .find(|s| s.name == name && s.lookup.is_some())
    {
        return Err(unsupported(
            &format!("FROM `{}`, a lookup table", lookup.name),
            "a lookup table is read whole and joined, never read as a stream: FROM s JOIN \
             lookup ON s.k = lookup.k (read it as a stream without 'lookup')",
        ));
    }
    sources.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        SqlError::Invalid(format!(
            "FROM `{name}`: the job's source tables are {names:?}"
        ))
    })
}

/// The select list of a query without aggregates, as the projection `name` (none when
/// the list is `*`); a subquery's (`coordinates`) keeps its rows' coordinate columns, for
/// the dead letters of the operators after it.
pub(super) fn lower_select(
    plan: PlanBuilder,
    name: &str,
    stream: &str,
    items: &[SelectItem],
    coordinates: bool,
) -> Result<(PlanBuilder, String), SqlError> {
    let mut keep_input = false;
    let mut columns = Vec::new();
    let mut drop = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) if i == 0 => {
                keep_input = true;
                drop = wildcard_drops(item)?;
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                return Err(unsupported("`*` after other columns", "put `*` first"));
            }
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => {
                columns.push((id.value.clone(), quoted(&id.value)));
            }
            // A struct's field (`s.user_id`) is named after the field, as in Spark.
            SelectItem::UnnamedExpr(e @ Expr::CompoundIdentifier(parts)) if parts.len() > 1 => {
                let field = parts.last().map(|p| p.value.clone()).unwrap_or_default();
                columns.push((field, e.to_string()));
            }
            SelectItem::UnnamedExpr(e) => return Err(name_it(e)),
            SelectItem::ExprWithAlias { expr, alias } => {
                columns.push((alias.value.clone(), expr.to_string()));
            }
            other => return Err(unsupported(&other.to_string(), "not a select item we run")),
        }
    }
    if keep_input && columns.is_empty() && drop.is_empty() {
        return Ok((plan, stream.to_owned()));
    }
    let plan = plan.operator(
        name,
        stream,
        OperatorKind::Project {
            columns,
            keep_input,
            drop,
            keep_coordinates: coordinates,
        },
    );
    Ok((plan, name.to_owned()))
}

/// The columns a `*` leaves out: `* EXCEPT (a, b)` or `* EXCLUDE (a, b)`. Its other
/// options (`ILIKE`, `REPLACE`, `RENAME`, an alias) are refused, never ignored.
pub(super) fn wildcard_drops(item: &SelectItem) -> Result<Vec<String>, SqlError> {
    let options = match item {
        SelectItem::Wildcard(options) | SelectItem::QualifiedWildcard(_, options) => options,
        _ => return Ok(Vec::new()),
    };
    if options.opt_ilike.is_some()
        || options.opt_replace.is_some()
        || options.opt_rename.is_some()
        || options.opt_alias.is_some()
    {
        return Err(unsupported(
            &format!("`{item}`"),
            "of the options of `*`, EXCEPT (columns) and EXCLUDE (columns) run; name the \
             columns instead",
        ));
    }
    let mut drops: Vec<String> = Vec::new();
    if let Some(except) = &options.opt_except {
        drops.push(except.first_element.value.clone());
        drops.extend(except.additional_elements.iter().map(|i| i.value.clone()));
    }
    match &options.opt_exclude {
        Some(ExcludeSelectItem::Single(name)) => drops.push(object_column(name)),
        Some(ExcludeSelectItem::Multiple(names)) => drops.extend(names.iter().map(object_column)),
        None => {}
    }
    Ok(drops)
}

/// The column an `EXCLUDE` names: its last part (`t.col` is `col`).
fn object_column(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map_or_else(|| name.to_string(), |id| id.value.clone())
}

pub(super) fn name_it(e: &Expr) -> SqlError {
    SqlError::Invalid(format!("`{e}`: give it a column name, `{e} AS name`"))
}

pub(super) fn function_args(args: &FunctionArguments) -> Vec<FunctionArgExpr> {
    match args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(e) => e.clone(),
                FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. } => arg.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
