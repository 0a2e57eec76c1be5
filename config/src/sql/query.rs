//! `INSERT INTO table SELECT ...`, lowered to the plan's operators: a filter for `WHERE`,
//! a projection for the select list, and for `GROUP BY` an event-time window.

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, ObjectName, Query, Select,
    SelectItem, SetExpr, Statement, TableFactor, TableObject,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::window::{Aggregate, AggregateFn, OutputMode, WindowKind, WindowSpec};

use super::ddl::{SinkTable, SourceTable};
use super::{dedup, join, top_n};

/// An `INSERT INTO ... SELECT` statement.
#[derive(Clone, Debug)]
pub(crate) struct Insert {
    /// The table written.
    pub(super) target: String,
    /// The statement, for messages.
    pub(super) text: String,
    query: Box<Query>,
}

impl Insert {
    pub(super) fn parse(statement: &str) -> Result<Self, String> {
        let parsed = Parser::parse_sql(&GenericDialect {}, statement).map_err(|e| e.to_string())?;
        let [Statement::Insert(insert)] = parsed.as_slice() else {
            return Err("one INSERT INTO ... SELECT statement".into());
        };
        let TableObject::TableName(name) = &insert.table else {
            return Err("INSERT INTO a table name".into());
        };
        if !insert.columns.is_empty() {
            return Err(
                "INSERT INTO t SELECT ... without a column list (the query's names are the \
                 table's columns)"
                    .into(),
            );
        }
        let query = insert
            .source
            .clone()
            .ok_or("INSERT INTO t SELECT ... (VALUES are not a stream)")?;
        Ok(Self {
            target: name.to_string(),
            text: statement.to_owned(),
            query,
        })
    }
}

/// Refuses a construct: what it is, why, and what to write instead.
pub(super) fn unsupported(construct: &str, why: &str) -> String {
    format!("{construct}: {why}")
}

/// Adds the operators of `insert` to `plan`, reading the checked rows of `sources`;
/// returns the plan and the sink.
pub(super) fn lower(
    mut plan: PlanBuilder,
    insert: &Insert,
    sources: &[SourceTable],
    declared: &BTreeMap<String, SinkTable>,
) -> Result<(PlanBuilder, SinkTable), String> {
    let target = &insert.target;
    // HAVING filters a windowed aggregate's rows, after the window.
    let mut query = insert.query.clone();
    let having = match query.body.as_mut() {
        SetExpr::Select(select) => select.having.take(),
        _ => None,
    };
    let mut select = plain_select(&query)?.clone();
    let [from] = select.from.as_slice() else {
        return Err(unsupported(
            "FROM",
            "one source table, one ROW_NUMBER() subquery, or two source tables joined",
        ));
    };
    let from = from.clone();
    // `fixed`: the rows are a join's or a Top-N's, which no aggregate follows.
    let (mut stream, selection, source, fixed) = match (&from.relation, from.joins.is_empty()) {
        (TableFactor::Table { name, .. }, true) => {
            let source = source_table(name, sources)?;
            (
                source.checked_stream(),
                select.selection.clone(),
                source,
                false,
            )
        }
        (TableFactor::Table { .. }, false) => {
            let lowered = join::lower(plan, target, &from, sources)?;
            lowered.qualify(&mut select)?;
            plan = lowered.plan;
            let left = source_table(&first_table(&from), sources)?;
            (lowered.stream, select.selection.clone(), left, true)
        }
        (TableFactor::Derived { subquery, .. }, true) if top_n::is_top_n(subquery) => {
            let lowered = top_n::lower(plan, target, subquery, sources)?;
            let source = lowered.source;
            let (next, stream, rest) =
                lowered.keep(target, select.selection.as_ref(), &select.projection)?;
            plan = next;
            (stream, rest, source, true)
        }
        (TableFactor::Derived { subquery, .. }, true) => {
            let lowered = dedup::lower(plan, target, subquery, sources)?;
            let rest = lowered.keep_first(select.selection.as_ref())?;
            lowered.not_selected(&select.projection)?;
            plan = lowered.plan;
            (lowered.stream, rest, lowered.source, false)
        }
        _ => {
            return Err(unsupported(
                "a table function or a subquery joined in FROM",
                "not yet; group by TUMBLE(ts, ...), HOP or SESSION, and join source tables",
            ));
        }
    };
    if let Some(predicate) = &selection {
        let name = format!("{target}/where");
        plan = plan.filter(&name, &stream, &predicate.to_string());
        stream = name;
    }
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.clone(),
        other => return Err(unsupported(&other.to_string(), "GROUP BY expressions only")),
    };
    let aggregated = !group_by.is_empty()
        || select
            .projection
            .iter()
            .any(|item| select_expr(item).is_some_and(|e| aggregate_call(e).is_some()));
    let mut sink = declared.get(target).cloned().unwrap_or_else(|| SinkTable {
        name: target.clone(),
        ..SinkTable::default()
    });
    if aggregated && fixed {
        return Err(unsupported(
            "an aggregate over a stream–stream join or a window Top-N",
            "not yet; write its rows to a table, and aggregate them in another job",
        ));
    }
    let stream = if aggregated {
        let (next, stream) = lower_window(
            plan,
            &mut sink,
            &stream,
            source,
            &group_by,
            &select.projection,
        )?;
        plan = next;
        match having {
            Some(having) => {
                if sink.mode == OutputMode::Update {
                    return Err(unsupported(
                        "HAVING in update mode",
                        "a window whose row stops passing it would stay in the table; filter \
                         when you read the table, or use append mode",
                    ));
                }
                let predicate = having_over_outputs(having, &select.projection)?;
                let name = format!("{target}/having");
                plan = plan.filter(&name, &stream, &predicate.to_string());
                name
            }
            None => stream,
        }
    } else {
        if having.is_some() {
            return Err(unsupported(
                "HAVING without GROUP BY",
                "HAVING filters a windowed aggregate's rows; filter rows with WHERE",
            ));
        }
        if sink.mode == OutputMode::Update || !sink.allowed_lateness.is_zero() {
            return Err(unsupported(
                "'output-mode' = 'update' or 'allowed-lateness' on a query without GROUP BY",
                "its rows are appended as they come; update mode merges a windowed \
                 aggregate's changed windows",
            ));
        }
        let name = format!("{target}/select");
        let (next, stream) = lower_select(plan, &name, &stream, &select.projection)?;
        plan = next;
        stream
    };
    Ok((plan.sink(target, &stream), sink))
}

fn select_expr(item: &SelectItem) -> Option<&Expr> {
    match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    }
}

/// A `HAVING` predicate over a windowed aggregate's output columns: each aggregate call in
/// it becomes the name the select list gives the same call.
fn having_over_outputs(mut having: Expr, items: &[SelectItem]) -> Result<Expr, String> {
    let named: BTreeMap<String, String> = items
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } if aggregate_call(expr).is_some() => {
                Some((expr.to_string(), alias.value.clone()))
            }
            _ => None,
        })
        .collect();
    let mut missing = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut having, |e| {
        if aggregate_call(e).is_some() {
            match named.get(&e.to_string()) {
                Some(alias) => {
                    *e = Expr::Identifier(datafusion::sql::sqlparser::ast::Ident::with_quote(
                        '"', alias,
                    ));
                }
                None => {
                    missing.get_or_insert_with(|| e.to_string());
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    match missing {
        Some(call) => Err(format!(
            "HAVING {call}: select it too (`{call} AS name`), HAVING filters the window's rows \
             by their columns"
        )),
        None => Ok(having),
    }
}

/// A quoted identifier for the engine's SQL.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One level of a query that runs incrementally: a plain `SELECT` without `WITH`,
/// `ORDER BY`, `LIMIT`, set operations, `DISTINCT`, `HAVING` or `QUALIFY`.
pub(super) fn plain_select(query: &Query) -> Result<&Select, String> {
    if query.with.is_some() {
        return Err(unsupported("WITH", "not yet; write the query inline"));
    }
    if query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(unsupported(
            "ORDER BY / LIMIT",
            "a stream has no end to sort or cut at; sort when you read the table",
        ));
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(unsupported(
            "UNION, INTERSECT, EXCEPT and VALUES",
            "not yet; write one INSERT per query into the same table",
        ));
    };
    if select.distinct.is_some() {
        return Err(unsupported(
            "SELECT DISTINCT",
            "its state would grow without bound; deduplicate within the watermark with \
             ROW_NUMBER() OVER (PARTITION BY key ORDER BY ts) = 1 in a subquery",
        ));
    }
    if select.having.is_some() || select.qualify.is_some() {
        return Err(unsupported(
            "HAVING in a subquery, or QUALIFY",
            "not yet: HAVING filters the rows of the query's own windowed aggregate",
        ));
    }
    Ok(select)
}

/// The name of the table `from` starts with.
fn first_table(from: &datafusion::sql::sqlparser::ast::TableWithJoins) -> ObjectName {
    match &from.relation {
        TableFactor::Table { name, .. } => name.clone(),
        _ => ObjectName(Vec::new()),
    }
}

/// The source table `name`.
pub(super) fn source_table<'a>(
    name: &ObjectName,
    sources: &'a [SourceTable],
) -> Result<&'a SourceTable, String> {
    let name = name.to_string();
    sources.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        format!("FROM `{name}`: the job's source tables are {names:?}")
    })
}

/// The select list of a query without aggregates, as the projection `name` (none when
/// the list is `*`).
pub(super) fn lower_select(
    plan: PlanBuilder,
    name: &str,
    stream: &str,
    items: &[SelectItem],
) -> Result<(PlanBuilder, String), String> {
    let mut keep_input = false;
    let mut columns = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) if i == 0 => {
                keep_input = true
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                return Err(unsupported("`*` after other columns", "put `*` first"));
            }
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => {
                columns.push((id.value.clone(), quoted(&id.value)));
            }
            SelectItem::UnnamedExpr(e) => return Err(name_it(e)),
            SelectItem::ExprWithAlias { expr, alias } => {
                columns.push((alias.value.clone(), expr.to_string()));
            }
            other => return Err(unsupported(&other.to_string(), "not a select item we run")),
        }
    }
    if keep_input && columns.is_empty() {
        return Ok((plan, stream.to_owned()));
    }
    let plan = plan.operator(
        name,
        stream,
        OperatorKind::Project {
            columns,
            keep_input,
            drop: Vec::new(),
        },
    );
    Ok((plan, name.to_owned()))
}

pub(super) fn name_it(e: &Expr) -> String {
    format!("`{e}`: give it a column name, `{e} AS name`")
}

/// An aggregate call: `(function, argument)`, the argument `None` for `count(*)`.
fn aggregate_call(e: &Expr) -> Option<(String, Option<Expr>)> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    if !matches!(
        name.as_str(),
        "count"
            | "sum"
            | "avg"
            | "mean"
            | "min"
            | "max"
            | "stddev"
            | "stddev_samp"
            | "approx_count_distinct"
            | "approx_distinct"
            | "median"
            | "variance"
            | "var_samp"
            | "stddev_pop"
            | "var_pop"
            | "array_agg"
            | "string_agg"
            | "first_value"
            | "last_value"
            | "count_distinct"
    ) {
        return None;
    }
    let args = function_args(&f.args);
    let arg = match args.as_slice() {
        [] | [FunctionArgExpr::Wildcard] => None,
        [FunctionArgExpr::Expr(Expr::Value(v))] if v.to_string() == "1" && name == "count" => None,
        [FunctionArgExpr::Expr(e)] => Some(e.clone()),
        _ => Some(Expr::Identifier(
            datafusion::sql::sqlparser::ast::Ident::new("<several arguments>"),
        )),
    };
    Some((name, arg))
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

/// What the select list of a windowed query names.
enum Output {
    Start,
    End,
    Key(String),
    Aggregate(usize),
}

/// The window and keys of a GROUP BY, checked against the source's watermark.
struct Grouping {
    kind: WindowKind,
    time_column: String,
    keys: Vec<String>,
    delay: Duration,
}

/// A windowed query's select list: each output with its name, the aggregates, and the
/// aggregate arguments that are expressions, computed before the window as named columns.
struct Selected {
    outputs: Vec<(Output, String)>,
    aggregates: Vec<Aggregate>,
    arguments: Vec<(String, String)>,
}

/// A windowed aggregate: arguments computed first when they are expressions, the window,
/// then the select list's order and names.
pub(super) fn lower_window(
    mut plan: PlanBuilder,
    sink: &mut SinkTable,
    stream: &str,
    source: &SourceTable,
    group_by: &[Expr],
    items: &[SelectItem],
) -> Result<(PlanBuilder, String), String> {
    let Grouping {
        kind,
        time_column,
        keys,
        delay,
    } = grouping(group_by, source)?;
    let Selected {
        outputs,
        aggregates,
        arguments,
    } = selected(&sink.name, items, &keys)?;
    let target = sink.name.as_str();
    let mut stream = stream.to_owned();
    if !arguments.is_empty() {
        let name = format!("{target}/arguments");
        plan = plan.operator(
            &name,
            &stream,
            OperatorKind::Project {
                columns: arguments,
                keep_input: true,
                drop: Vec::new(),
            },
        );
        stream = name;
    }
    let spec = WindowSpec {
        name: target.to_owned(),
        kind,
        time_column,
        keys,
        aggregates,
        delay,
        mode: sink.mode,
        allowed_lateness: sink.allowed_lateness,
        // The watermark follows the source's rows, before the query's WHERE.
        watermark_from: (stream != source.checked_stream()).then(|| source.checked_stream()),
    };
    spec.validate().map_err(|e| {
        format!(
            "{e} (set 'output-mode' = 'update' in CREATE TABLE {target} WITH (...), or drop \
             'allowed-lateness')"
        )
    })?;
    if spec.mode == OutputMode::Update {
        sink.merge_keys = merge_keys(&outputs, &spec)?;
    }
    let window_name = format!("{target}/window");
    let columns = reordering(&outputs, &spec);
    plan = plan.window(&window_name, &stream, spec);
    let Some(columns) = columns else {
        return Ok((plan, window_name));
    };
    let name = format!("{target}/select");
    plan = plan.operator(
        &name,
        &window_name,
        OperatorKind::Project {
            columns,
            keep_input: false,
            drop: Vec::new(),
        },
    );
    Ok((plan, name))
}

/// The columns an update-mode table is merged on, as the select list names them: the
/// window's start (and end, when selected) and every key.
fn merge_keys(outputs: &[(Output, String)], spec: &WindowSpec) -> Result<Vec<String>, String> {
    if matches!(spec.kind, WindowKind::Session { .. }) {
        return Err(unsupported(
            "'output-mode' = 'update' over SESSION windows",
            "a session's start and end move as it merges, so its row cannot be updated in \
             place by key; use append mode",
        ));
    }
    let mut keys = Vec::new();
    let mut start = false;
    for (output, name) in outputs {
        match output {
            Output::Start => {
                start = true;
                keys.push(name.clone());
            }
            Output::End | Output::Key(_) => keys.push(name.clone()),
            Output::Aggregate(_) => {}
        }
    }
    let missing: Vec<&String> = spec
        .keys
        .iter()
        .filter(|k| {
            !outputs
                .iter()
                .any(|(o, _)| matches!(o, Output::Key(key) if key == *k))
        })
        .collect();
    if !start || !missing.is_empty() {
        return Err(format!(
            "'output-mode' = 'update' merges each window's row by the window and its keys: \
             select window_start and every GROUP BY key{}",
            if missing.is_empty() {
                String::new()
            } else {
                format!(" (missing: {missing:?})")
            }
        ));
    }
    Ok(keys)
}

/// The window and the key columns of `group_by`.
fn grouping(group_by: &[Expr], source: &SourceTable) -> Result<Grouping, String> {
    let mut window = None;
    let mut keys = Vec::new();
    for e in group_by {
        if let Some(kind) = window_call(e)? {
            if window.replace(kind).is_some() {
                return Err(unsupported(
                    "two windows in GROUP BY",
                    "group by one window",
                ));
            }
        } else if let Expr::Identifier(id) = e {
            keys.push(id.value.clone());
        } else {
            return Err(unsupported(
                &format!("GROUP BY {e}"),
                "group by columns (compute the key in the select list of another job, or \
                 in a CHECKed source column)",
            ));
        }
    }
    let Some((kind, time_column)) = window else {
        return Err(unsupported(
            "an aggregate without an event-time window",
            "in append mode its groups never close, so it can never emit (as Spark refuses \
             it); group by TUMBLE(ts, INTERVAL ...), HOP(ts, slide, size), SESSION(ts, gap) \
             or window(ts, '5 minutes')",
        ));
    };
    let Some((watermarked, delay)) = &source.watermark else {
        return Err(unsupported(
            "a window over a source without a watermark",
            &format!(
                "declare `WATERMARK FOR {time_column} AS {time_column} - INTERVAL '10' MINUTE` \
                 in CREATE TABLE {}",
                source.name
            ),
        ));
    };
    if &time_column != watermarked {
        return Err(format!(
            "the window is over `{time_column}`, but the watermark is for `{watermarked}`"
        ));
    }
    Ok(Grouping {
        kind,
        time_column,
        keys,
        delay: *delay,
    })
}

/// What the select list of a windowed query names, in its order.
fn selected(target: &str, items: &[SelectItem], keys: &[String]) -> Result<Selected, String> {
    let mut aggregates = Vec::new();
    let mut arguments = Vec::new();
    let mut outputs = Vec::new();
    for item in items {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => {
                return Err(unsupported(
                    &other.to_string(),
                    "a windowed query selects window_start, window_end, its keys and aggregates",
                ));
            }
        };
        let (output, default_name) = match expr {
            Expr::Identifier(id) if id.value.eq_ignore_ascii_case("window_start") => {
                (Output::Start, "window_start".to_owned())
            }
            Expr::Identifier(id) if id.value.eq_ignore_ascii_case("window_end") => {
                (Output::End, "window_end".to_owned())
            }
            Expr::CompoundIdentifier(ids)
                if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case("window") =>
            {
                match ids[1].value.to_ascii_lowercase().as_str() {
                    "start" => (Output::Start, "window_start".to_owned()),
                    "end" => (Output::End, "window_end".to_owned()),
                    _ => return Err(format!("`{expr}`: window.start or window.end")),
                }
            }
            Expr::Identifier(id) if keys.contains(&id.value) => {
                (Output::Key(id.value.clone()), id.value.clone())
            }
            Expr::Identifier(id) => {
                return Err(format!(
                    "`{id}` is neither a GROUP BY key nor an aggregate (keys: {keys:?})"
                ));
            }
            e => {
                let Some((function, argument)) = aggregate_call(e) else {
                    return Err(format!(
                        "`{e}`: a windowed query selects window_start, window_end, its keys and \
                         aggregates"
                    ));
                };
                let alias = alias.clone().ok_or_else(|| name_it(e))?;
                let function = aggregate_fn(&function, e)?;
                let column = match argument {
                    None if function == AggregateFn::Count => None,
                    None => return Err(format!("`{e}` needs a column")),
                    Some(Expr::Identifier(id)) => Some(id.value.clone()),
                    Some(other) => {
                        let name = format!("__{target}_arg{}", arguments.len());
                        arguments.push((name.clone(), other.to_string()));
                        Some(name)
                    }
                };
                aggregates.push(Aggregate {
                    name: alias.clone(),
                    function,
                    column,
                });
                (Output::Aggregate(aggregates.len() - 1), alias)
            }
        };
        outputs.push((output, alias.unwrap_or(default_name)));
    }
    Ok(Selected {
        outputs,
        aggregates,
        arguments,
    })
}

/// The projection that gives the window's rows (window_start, window_end, the keys, the
/// aggregates) the select list's order and names; `None` when they already have them.
fn reordering(outputs: &[(Output, String)], spec: &WindowSpec) -> Option<Vec<(String, String)>> {
    let natural = ["window_start", "window_end"]
        .into_iter()
        .map(str::to_owned)
        .chain(spec.keys.iter().cloned())
        .chain(spec.aggregates.iter().map(|a| a.name.clone()));
    if outputs.iter().map(|(_, name)| name.clone()).eq(natural) {
        return None;
    }
    Some(
        outputs
            .iter()
            .map(|(output, name)| {
                let from = match output {
                    Output::Start => "window_start",
                    Output::End => "window_end",
                    Output::Key(k) => k.as_str(),
                    Output::Aggregate(i) => spec.aggregates[*i].name.as_str(),
                };
                (name.clone(), quoted(from))
            })
            .collect(),
    )
}

fn aggregate_fn(function: &str, e: &Expr) -> Result<AggregateFn, String> {
    Ok(match function {
        "count" => AggregateFn::Count,
        "sum" => AggregateFn::Sum,
        "avg" | "mean" => AggregateFn::Avg,
        "min" => AggregateFn::Min,
        "max" => AggregateFn::Max,
        "stddev" | "stddev_samp" => AggregateFn::Stddev,
        "stddev_pop" => AggregateFn::StddevPop,
        "variance" | "var_samp" => AggregateFn::Variance,
        "var_pop" => AggregateFn::VariancePop,
        "approx_count_distinct" | "approx_distinct" => AggregateFn::ApproxCountDistinct,
        _ => {
            return Err(unsupported(
                &format!("`{e}`"),
                "not an aggregate that merges incrementally here; count, sum, avg, min, max, \
                 stddev, stddev_pop, variance, var_samp, var_pop and approx_count_distinct are",
            ));
        }
    })
}

/// A window function of GROUP BY: its kind and time column; `None` for anything else.
fn window_call(e: &Expr) -> Result<Option<(WindowKind, String)>, String> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let name = f.name.to_string().to_ascii_lowercase();
    if !matches!(
        name.as_str(),
        "tumble" | "hop" | "session" | "window" | "session_window"
    ) {
        return Ok(None);
    }
    let args: Vec<String> = function_args(&f.args)
        .iter()
        .map(|a| a.to_string())
        .collect();
    let usage = match name.as_str() {
        "tumble" => "TUMBLE(ts, INTERVAL '5' MINUTE)",
        "hop" => "HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE), slide then size",
        "session" => "SESSION(ts, INTERVAL '30' MINUTE)",
        "window" => "window(ts, '5 minutes'[, '1 minute'])",
        _ => "session_window(ts, '30 minutes')",
    };
    let wrong = || format!("`{e}`: {usage}");
    let Some((column, rest)) = args.split_first() else {
        return Err(wrong());
    };
    let durations = rest
        .iter()
        .map(|a| interval(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| format!("{}: {m}", wrong()))?;
    let kind = match (name.as_str(), durations.as_slice()) {
        ("tumble" | "window", [size]) => WindowKind::Tumbling { size: *size },
        ("hop", [slide, size]) | ("window", [size, slide]) => WindowKind::Sliding {
            size: *size,
            slide: *slide,
        },
        ("session" | "session_window", [gap]) => WindowKind::Session { gap: *gap },
        _ => return Err(wrong()),
    };
    Ok(Some((kind, column.trim_matches('"').to_owned())))
}

/// A duration in SQL: `INTERVAL '10' MINUTE`, `INTERVAL '10 minutes'` or `'10 minutes'`.
pub(super) fn interval(sql: &str) -> Result<Duration, String> {
    let text = sql.trim();
    let body = match text.get(..8) {
        Some(head) if head.eq_ignore_ascii_case("interval") => text[8..].trim(),
        _ => text,
    };
    let expected = || format!("`{sql}`: an interval like INTERVAL '10' MINUTE");
    let rest = body.strip_prefix('\'').ok_or_else(expected)?;
    let (value, unit) = rest.split_once('\'').ok_or_else(expected)?;
    let unit = unit.trim().to_ascii_lowercase();
    let text = if unit.is_empty() {
        value.trim().to_owned()
    } else {
        format!("{} {}", value.trim(), unit.trim_end_matches('s'))
    };
    let duration = humantime::parse_duration(&text).map_err(|e| format!("{}: {e}", expected()))?;
    if duration.is_zero() {
        return Err(format!("`{sql}`: a duration above 0"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(
            interval("INTERVAL '10' MINUTE"),
            Ok(Duration::from_secs(600))
        );
        assert_eq!(
            interval("interval '2 hours'"),
            Ok(Duration::from_secs(7200))
        );
        assert_eq!(interval("'5 minutes'"), Ok(Duration::from_secs(300)));
        assert_eq!(
            interval("INTERVAL '1' DAY"),
            Ok(Duration::from_secs(86_400))
        );
        assert!(interval("10").is_err());
        assert!(interval("INTERVAL '0' SECOND").is_err());
    }

    const SOURCE: &str = "CREATE TABLE events (user_id STRING, ts TIMESTAMP NOT NULL, \
                          v DOUBLE, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) \
                          WITH ('connector' = 'generator', 'format' = 'json');";

    fn job(sink: &str, query: &str) -> Result<crate::JobConfig, String> {
        let text = format!("{SOURCE}\n{sink}\n{query}");
        crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn an_update_mode_table_is_merged_by_window_start_end_and_keys_as_selected() {
        let config = job(
            "CREATE TABLE per_user WITH ('output-mode' = 'update', \
             'allowed-lateness' = '5 minutes');",
            "INSERT INTO per_user SELECT user_id AS who, window_start AS ws, count(*) AS n \
             FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
        )
        .unwrap();
        let queries = config.queries.unwrap();
        let sink = &queries.sinks[0];
        assert_eq!(sink.mode, OutputMode::Update);
        assert_eq!(sink.merge_keys, vec!["who".to_owned(), "ws".to_owned()]);
        let spec = queries.plan.window().unwrap();
        assert_eq!(spec.mode, OutputMode::Update);
        assert_eq!(spec.allowed_lateness, Duration::from_secs(300));
    }

    #[test]
    fn update_mode_and_lateness_are_refused_where_they_cannot_hold() {
        let query = "INSERT INTO t SELECT window_start, user_id, count(*) AS n FROM events \
                     GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;";
        let cases = [
            (
                "CREATE TABLE t WITH ('allowed-lateness' = '5 minutes');",
                query.to_owned(),
                "needs `update` mode",
            ),
            (
                "CREATE TABLE t WITH ('output-mode' = 'update');",
                query.replace(
                    "TUMBLE(ts, INTERVAL '1' MINUTE)",
                    "SESSION(ts, INTERVAL '1' MINUTE)",
                ),
                "SESSION windows",
            ),
            (
                "CREATE TABLE t WITH ('output-mode' = 'update');",
                query.replace("SELECT window_start,", "SELECT window_end,"),
                "select window_start and every GROUP BY key",
            ),
            (
                "CREATE TABLE t WITH ('output-mode' = 'update');",
                "INSERT INTO t SELECT user_id FROM events;".to_owned(),
                "without GROUP BY",
            ),
            (
                "CREATE TABLE t WITH ('output-mode' = 'complete');",
                query.to_owned(),
                "'output-mode' = 'complete'",
            ),
        ];
        for (sink, query, expected) in cases {
            let err = job(sink, &query).unwrap_err();
            assert!(err.contains(expected), "{sink} {query}: {err}");
        }
    }

    #[test]
    fn a_row_number_subquery_kept_at_one_is_a_deduplication() {
        let config = job(
            "",
            "INSERT INTO firsts SELECT user_id, ts FROM (SELECT *, ROW_NUMBER() OVER \
             (PARTITION BY user_id ORDER BY ts) AS rn FROM events WHERE v > 0) \
             WHERE rn = 1 AND v < 100;",
        )
        .unwrap();
        let plan = config.queries.unwrap().plan;
        let kinds: Vec<(&str, &str)> = plan
            .operators
            .iter()
            .map(|o| (o.name.as_str(), o.kind.kind_name()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("firsts/dedup-where", "filter"),
                ("firsts/dedup", "dedup"),
                ("firsts/where", "filter"),
                ("firsts/select", "project"),
            ]
        );
        let OperatorKind::Dedup(spec) = &plan.operators[1].kind else {
            panic!("not a dedup");
        };
        assert_eq!(spec.keys, ["user_id"]);
        assert_eq!(spec.time_column, "ts");
        assert_eq!(spec.delay, Duration::from_secs(60));
        let OperatorKind::Filter { predicate } = &plan.operators[2].kind else {
            panic!("not a filter");
        };
        assert_eq!(predicate, "v < 100");
    }

    #[test]
    fn row_numbers_that_are_not_a_deduplication_are_refused() {
        let sub = |over: &str, outer: &str| {
            format!(
                "INSERT INTO t SELECT user_id FROM (SELECT *, ROW_NUMBER() OVER ({over}) AS rn \
                 FROM events) {outer};"
            )
        };
        let cases = [
            (
                sub("PARTITION BY user_id ORDER BY ts DESC", "WHERE rn = 1"),
                "DESC",
            ),
            (sub("PARTITION BY user_id ORDER BY ts", ""), "WHERE rn = 1"),
            (
                sub("PARTITION BY user_id ORDER BY ts", "WHERE rn = 2"),
                "WHERE rn = 1",
            ),
            (
                sub("PARTITION BY user_id ORDER BY v", "WHERE rn = 1"),
                "order by the event-time column",
            ),
            (
                sub("ORDER BY ts", "WHERE rn = 1"),
                "PARTITION BY key columns",
            ),
            (
                "INSERT INTO t SELECT rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \
                 user_id ORDER BY ts) AS rn FROM events) WHERE rn = 1;"
                    .to_owned(),
                "is not a column",
            ),
            (
                "INSERT INTO t SELECT user_id FROM (SELECT user_id FROM events);".to_owned(),
                "only deduplication runs as one",
            ),
        ];
        for (query, expected) in cases {
            let err = job("", &query).unwrap_err();
            assert!(err.contains(expected), "{query}: {err}");
        }
    }

    const TWO_SOURCES: &str = "CREATE TABLE a (id BIGINT, k STRING, ts TIMESTAMP NOT NULL, \
         WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) WITH ('connector' = 'generator', \
         'format' = 'json');\n\
         CREATE TABLE b (id BIGINT, v DOUBLE, bts TIMESTAMP NOT NULL, \
         WATERMARK FOR bts AS bts - INTERVAL '1' MINUTE) WITH ('connector' = 'generator', \
         'format' = 'json', 'seed' = '7');";

    fn joined(query: &str) -> Result<crate::JobConfig, String> {
        let text = format!("{TWO_SOURCES}\n{query}");
        crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn a_join_of_two_sources_lowers_to_an_interval_join() {
        let config = joined(
            "INSERT INTO t SELECT x.id, k, v FROM a AS x RIGHT JOIN b AS y ON y.id = x.id \
             AND y.bts >= x.ts - INTERVAL '5' MINUTE AND x.ts + INTERVAL '10' SECOND > y.bts \
             WHERE v > 0;",
        )
        .unwrap();
        let queries = config.queries.unwrap();
        assert_eq!(queries.plan.other_sources, ["b"]);
        assert_eq!(queries.other_sources[0].0, "b");
        let OperatorKind::StreamJoin(spec) = &queries.plan.operators[0].kind else {
            panic!("not a join: {:?}", queries.plan.operators);
        };
        assert_eq!(
            spec.kind,
            sluice_engine::stream_join::StreamJoinKind::RightOuter
        );
        assert_eq!(
            (spec.left_keys.as_slice(), spec.right_keys.as_slice()),
            (&["id".to_owned()][..], &["id".to_owned()][..])
        );
        assert_eq!(
            (spec.left_time.as_str(), spec.right_time.as_str()),
            ("ts", "bts")
        );
        assert_eq!(spec.min_offset_us, -300_000_000);
        assert_eq!(spec.max_offset_us, 10_000_000 - 1);
        assert_eq!(spec.left_delay, Duration::from_secs(30));
        assert_eq!(spec.right_delay, Duration::from_secs(60));
        let OperatorKind::Filter { predicate } = &queries.plan.operators[1].kind else {
            panic!("not a filter");
        };
        assert_eq!(predicate, "\"y.v\" > 0");
        let OperatorKind::Project { columns, .. } = &queries.plan.operators[2].kind else {
            panic!("not a projection");
        };
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["id", "k", "v"]);
        assert_eq!(columns[1].1, "\"x.k\"");
    }

    #[test]
    fn joins_that_cannot_evict_their_state_are_refused() {
        let on =
            |cond: &str| format!("INSERT INTO t SELECT x.id FROM a AS x JOIN b AS y ON {cond};");
        let cases = [
            (on("y.id = x.id"), "both time bounds"),
            (on("y.id = x.id AND y.bts >= x.ts"), "both time bounds"),
            (
                on("y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts"),
                "without keys",
            ),
            (
                on("y.id = x.id AND y.v BETWEEN x.ts AND x.ts"),
                "the watermark of `b` is on `bts`",
            ),
            (
                on("y.id = x.id AND y.v > 3 AND y.bts BETWEEN x.ts AND x.ts"),
                "put other conditions in WHERE",
            ),
            (
                "INSERT INTO t SELECT x.id FROM a AS x FULL JOIN b AS y ON y.id = x.id;".to_owned(),
                "INNER, LEFT or RIGHT",
            ),
            (
                "INSERT INTO t SELECT id FROM a AS x JOIN b AS y ON y.id = x.id AND y.bts \
                 BETWEEN x.ts AND x.ts;"
                    .to_owned(),
                "a column of both sides",
            ),
            (
                "INSERT INTO t SELECT * FROM a AS x JOIN b AS y ON y.id = x.id AND y.bts \
                 BETWEEN x.ts AND x.ts;"
                    .to_owned(),
                "`*` over a join",
            ),
        ];
        for (query, expected) in cases {
            let err = joined(&query).unwrap_err();
            assert!(err.contains(expected), "{query}: {err}");
        }
    }

    #[test]
    fn a_filtered_window_s_watermark_follows_the_source_rows() {
        let config = job(
            "",
            "INSERT INTO t SELECT window_start, count(*) AS n FROM events WHERE v > 0 \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);\n\
             INSERT INTO u SELECT window_start, count(*) AS n FROM events \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
        )
        .unwrap();
        let plan = config.queries.unwrap().plan;
        let from: Vec<Option<&str>> = plan
            .windows()
            .map(|w| w.watermark_from.as_deref())
            .collect();
        assert_eq!(from, [Some("events"), None]);
    }

    #[test]
    fn a_ranked_window_subquery_kept_at_its_first_ranks_is_a_window_top_n() {
        let windows = "SELECT user_id, count(*) AS n, window_start AS ws, window_end AS we \
                       FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id";
        let config = job(
            "",
            &format!(
                "INSERT INTO t SELECT user_id, n FROM (SELECT *, RANK() OVER (PARTITION BY \
                 ws, we ORDER BY n DESC) AS rk FROM ({windows})) WHERE rk <= 3 AND n > 1;"
            ),
        )
        .unwrap();
        let plan = config.queries.unwrap().plan;
        let kinds: Vec<&str> = plan.operators.iter().map(|o| o.kind.kind_name()).collect();
        assert_eq!(kinds, ["window", "project", "top-n", "filter", "project"]);
        let OperatorKind::TopN(spec) = &plan.operators[2].kind else {
            panic!("not a top-n");
        };
        assert_eq!(
            (spec.partition_by.as_slice(), spec.order_by.as_str()),
            (&["ws".to_owned(), "we".to_owned()][..], "n")
        );
        assert!(spec.descending && spec.ties);
        assert_eq!(spec.limit, 3);
        let refused = |query: String, expected: &str| {
            let err = job("", &query).unwrap_err();
            assert!(err.contains(expected), "{query}: {err}");
        };
        refused(
            format!(
                "INSERT INTO t SELECT user_id FROM (SELECT *, RANK() OVER (PARTITION BY user_id \
                 ORDER BY n DESC) AS rk FROM ({windows})) WHERE rk = 1;"
            ),
            "partition by the window's start and end",
        );
        refused(
            format!(
                "INSERT INTO t SELECT user_id FROM (SELECT *, RANK() OVER (PARTITION BY ws, we \
                 ORDER BY n DESC) AS rk FROM ({windows}));"
            ),
            "keeps the first ranks",
        );
    }

    #[test]
    fn having_filters_a_windowed_aggregate_s_rows_by_their_columns() {
        let config = job(
            "",
            "INSERT INTO t SELECT window_start, user_id, count(*) AS n, avg(v) AS mean \
             FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id \
             HAVING count(*) > 5 AND mean < 2;",
        )
        .unwrap();
        let plan = config.queries.unwrap().plan;
        let last = plan.operators.last().unwrap();
        assert_eq!(last.name, "t/having");
        let OperatorKind::Filter { predicate } = &last.kind else {
            panic!("not a filter");
        };
        assert_eq!(predicate, "\"n\" > 5 AND mean < 2");
        for (query, expected) in [
            (
                "INSERT INTO t SELECT window_start, count(*) AS n FROM events \
                 GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE) HAVING max(v) > 1;",
                "select it too",
            ),
            (
                "INSERT INTO t SELECT user_id FROM events HAVING v > 1;",
                "HAVING without GROUP BY",
            ),
        ] {
            let err = job("", query).unwrap_err();
            assert!(err.contains(expected), "{query}: {err}");
        }
        let err = job(
            "CREATE TABLE t WITH ('output-mode' = 'update');",
            "INSERT INTO t SELECT window_start, count(*) AS n FROM events \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE) HAVING count(*) > 1;",
        )
        .unwrap_err();
        assert!(err.contains("HAVING in update mode"), "{err}");
    }
}
