//! The select list of a windowed query: what each item is (the window's bounds, a key,
//! an aggregate, a constant, or an expression over those), the aggregates it needs and
//! the aggregates' arguments computed before the window.
//!
//! ```sql
//! SELECT window_start, upper(user_id) AS who,            -- a GROUP BY expression
//!        count(*) FILTER (WHERE value > 10) AS big,      -- an aggregate of some rows
//!        sum(value) / count(*) AS mean                   -- an expression over aggregates
//! FROM events GROUP BY TUMBLE(event_time, INTERVAL '5' MINUTE), upper(user_id)
//! ```

use crate::sql::error::SqlError;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DateTimeField, DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, Interval, SelectItem, Value, visit_expressions,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use sluice_engine::window::{Aggregate, AggregateFn};

use super::{is_window_time, window_bound};
use crate::sql::query::{function_args, name_it, unsupported};

/// An aggregate call: `(function, argument)`, the argument `None` for `count(*)`.
pub(in crate::sql) fn aggregate_call(e: &Expr) -> Option<(String, Option<Expr>)> {
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
            | "std"
            | "approx_count_distinct"
            | "approx_distinct"
            | "percentile_approx"
            | "approx_percentile"
            | "median"
            | "variance"
            | "var_samp"
            | "stddev_pop"
            | "var_pop"
            | "array_agg"
            | "collect_set"
            | "collect_list"
            | "string_agg"
            | "first_value"
            | "last_value"
            | "first"
            | "last"
            | "count_distinct"
            | "max_by"
            | "min_by"
            | "arg_max"
            | "arg_min"
    ) {
        return None;
    }
    let args = function_args(&f.args);
    let two = matches!(
        name.as_str(),
        "percentile_approx" | "approx_percentile" | "max_by" | "min_by" | "arg_max" | "arg_min"
    );
    let arg = match args.as_slice() {
        // The column of `percentile_approx(column, percentage)`, `max_by(column, ordering)`.
        [FunctionArgExpr::Expr(e), FunctionArgExpr::Expr(_)] if two => Some(e.clone()),
        [] | [FunctionArgExpr::Wildcard] => None,
        [FunctionArgExpr::Expr(Expr::Value(v))] if v.to_string() == "1" && name == "count" => None,
        [FunctionArgExpr::Expr(e)] => Some(e.clone()),
        _ => Some(Expr::Identifier(
            datafusion::sql::sqlparser::ast::Ident::new("<several arguments>"),
        )),
    };
    Some((name, arg))
}

/// What the select list of a windowed query names.
pub(in crate::sql) enum Output {
    Start,
    End,
    Key(String),
    Aggregate(usize),
    /// An expression of no column (`'web' AS origin`), the same on every row.
    Constant(String),
    /// An expression over the window's bounds, keys and aggregates (`sum(v) / count(*)`),
    /// as SQL over the window's columns.
    Computed(String),
}

/// A key of GROUP BY that is an expression (`upper(user_id)`): the column it is computed
/// into before the window, and its SQL.
pub(super) struct ComputedKey {
    pub(super) column: String,
    pub(super) sql: String,
}

/// A windowed query's select list: each output with its name, the aggregates, and the
/// aggregate arguments that are expressions, computed before the window as named columns.
pub(super) struct Selected {
    pub(super) outputs: Vec<(Output, String)>,
    pub(super) aggregates: Vec<Aggregate>,
    pub(super) arguments: Vec<(String, String)>,
}

/// The aggregates a select list needs, as it names them and as it does not (those inside
/// an expression), with the columns computed for their arguments.
struct Needed<'a> {
    target: &'a str,
    aggregates: Vec<Aggregate>,
    /// Each aggregate's call, as SQL (an expression's aggregate reuses a selected one).
    calls: Vec<String>,
    arguments: Vec<(String, String)>,
}

impl Needed<'_> {
    /// Adds the aggregate `e` (an [`aggregate_call`]) named `name`, or, without a name,
    /// finds the same call already added or adds it under a hidden name; its index.
    fn add(&mut self, e: &Expr, name: Option<String>) -> Result<usize, SqlError> {
        let call = e.to_string();
        if name.is_none()
            && let Some(i) = self.calls.iter().position(|c| *c == call)
        {
            return Ok(i);
        }
        let Some((function, argument)) = aggregate_call(e) else {
            return Err(SqlError::Invalid(format!("`{e}` is not an aggregate")));
        };
        let function = aggregate_fn(&function, e)?;
        let filter = call_filter(e, function)?;
        if argument.is_none() && function != AggregateFn::Count {
            return Err(SqlError::Invalid(format!("`{e}` needs a column")));
        }
        // A pick skips rows without an ordering: FILTER (WHERE c) nulls the ordering.
        let (by, filter) = match ordering_argument(e, function)? {
            Some(by) => (Some(self.column_of(by, filter)), None),
            None => (None, filter),
        };
        let column = match (argument, filter) {
            (None, None) => None,
            // `count(*)` counts a constant; FILTER (WHERE c) makes the argument null where
            // c does not hold, which every aggregate here skips.
            (argument, filter) => Some(self.column_of(
                argument.unwrap_or_else(|| Expr::value(Value::Number("1".into(), false))),
                filter,
            )),
        };
        let name =
            name.unwrap_or_else(|| format!("__{}_agg{}", self.target, self.aggregates.len()));
        self.aggregates.push(Aggregate {
            name,
            function,
            column,
            by,
        });
        self.calls.push(call);
        Ok(self.aggregates.len() - 1)
    }

    /// The column holding `e`, null where `filter` does not hold: `e` itself when it is a
    /// column and there is no filter, else a column computed before the window.
    fn column_of(&mut self, e: Expr, filter: Option<Expr>) -> String {
        match (e, filter) {
            (Expr::Identifier(id), None) => id.value,
            (e, filter) => {
                let sql = match filter {
                    Some(filter) => format!("CASE WHEN {filter} THEN {e} END"),
                    None => e.to_string(),
                };
                let column = format!("__{}_arg{}", self.target, self.arguments.len());
                self.arguments.push((column.clone(), sql));
                column
            }
        }
    }
}

/// The ordering argument of `max_by(column, ordering)` or `min_by`; `None` for other
/// aggregates.
fn ordering_argument(e: &Expr, function: AggregateFn) -> Result<Option<Expr>, SqlError> {
    if !function.picks() {
        return Ok(None);
    }
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    match function_args(&f.args).as_slice() {
        [FunctionArgExpr::Expr(_), FunctionArgExpr::Expr(by)] => Ok(Some(by.clone())),
        _ => Err(SqlError::Invalid(format!(
            "`{e}`: max_by and min_by take the column and the ordering, max_by(column, \
             ordering)"
        ))),
    }
}

/// What the select list of a windowed query names, in its order: `keys` are GROUP BY's
/// columns, `computed` its expressions.
pub(super) fn selected(
    target: &str,
    items: &[SelectItem],
    keys: &[String],
    computed: &[ComputedKey],
    global: bool,
) -> Result<Selected, SqlError> {
    let mut needed = Needed {
        target,
        aggregates: Vec::new(),
        calls: Vec::new(),
        arguments: Vec::new(),
    };
    let mut outputs = Vec::new();
    for item in items {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => {
                return Err(unsupported(
                    &other.to_string(),
                    "a windowed query selects window_start, window_end, its keys, aggregates, \
                     constants and expressions of those",
                ));
            }
        };
        let (output, default_name) = match expr {
            e if global && window_bound(e).is_some() => {
                return Err(SqlError::Invalid(format!(
                    "`{e}`: the aggregate has no window in GROUP BY, so no window to select"
                )));
            }
            e if let Some((bound, name)) = window_bound(e) => (bound, name.to_owned()),
            e if is_window_time(e) => {
                if global {
                    return Err(SqlError::Invalid(format!(
                        "`{e}`: the aggregate has no window in GROUP BY, so no window to select"
                    )));
                }
                (
                    Output::Computed(window_time().to_string()),
                    "window_time".to_owned(),
                )
            }
            Expr::CompoundIdentifier(ids)
                if ids.len() == 2 && ids[0].value.eq_ignore_ascii_case("window") =>
            {
                return Err(SqlError::Invalid(format!(
                    "`{expr}`: window.start or window.end"
                )));
            }
            Expr::Identifier(id) if keys.contains(&id.value) => {
                (Output::Key(id.value.clone()), id.value.clone())
            }
            Expr::Identifier(id) if is_window_struct(id) => {
                if global {
                    return Err(SqlError::Invalid(format!(
                        "`{id}`: the aggregate has no window in GROUP BY, so no window to select"
                    )));
                }
                (
                    Output::Computed(window_struct().to_owned()),
                    id.value.to_ascii_lowercase(),
                )
            }
            Expr::Identifier(id) => {
                return Err(SqlError::Invalid(format!(
                    "`{id}` is neither a GROUP BY key nor an aggregate (keys: {keys:?})"
                )));
            }
            e if let Some(key) = computed.iter().find(|k| k.sql == e.to_string()) => {
                let alias = alias.clone().ok_or_else(|| name_it(e))?;
                (Output::Key(key.column.clone()), alias)
            }
            e if is_constant(e) => {
                let alias = alias.clone().ok_or_else(|| name_it(e))?;
                (Output::Constant(e.to_string()), alias)
            }
            e if aggregate_call(e).is_some() => {
                let alias = alias.clone().ok_or_else(|| name_it(e))?;
                (
                    Output::Aggregate(needed.add(e, Some(alias.clone()))?),
                    alias,
                )
            }
            e => {
                let alias = alias.clone().ok_or_else(|| name_it(e))?;
                let sql = over_outputs(e, keys, computed, &mut needed)?;
                (Output::Computed(sql), alias)
            }
        };
        outputs.push((output, alias.unwrap_or(default_name)));
    }
    Ok(Selected {
        outputs,
        aggregates: needed.aggregates,
        arguments: needed.arguments,
    })
}

/// `e`, an expression of a windowed query's select list, as SQL over the window's
/// columns: its aggregate calls and GROUP BY expressions become their columns, and every
/// other column it names must be a key or the window's start or end.
fn over_outputs(
    e: &Expr,
    keys: &[String],
    computed: &[ComputedKey],
    needed: &mut Needed<'_>,
) -> Result<String, SqlError> {
    let whole = e.to_string();
    let mut e = e.clone();
    let mut hidden = Vec::new();
    let mut failure = None;
    // Innermost first: a call's arguments are still the query's columns when it is seen.
    let _ = visit_expressions_mut(&mut e, |x| {
        let column = if let Some(key) = computed.iter().find(|k| k.sql == x.to_string()) {
            key.column.clone()
        } else if let Some(refused) = super::foreign::refusal(x) {
            failure = Some(refused);
            return ControlFlow::Break(());
        } else if aggregate_call(x).is_some() {
            match needed.add(x, None) {
                Ok(i) => needed.aggregates[i].name.clone(),
                Err(e) => {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            }
        } else {
            return ControlFlow::Continue(());
        };
        hidden.push(column.clone());
        *x = Expr::Identifier(Ident::with_quote('"', column));
        ControlFlow::Continue(())
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    let _ = visit_expressions_mut(&mut e, |x| {
        if is_window_time(x) {
            *x = window_time();
            return ControlFlow::Continue(());
        }
        let column = match &*x {
            Expr::Identifier(id) if id.quote_style == Some('"') && hidden.contains(&id.value) => {
                return ControlFlow::Continue(());
            }
            x if let Some((_, name)) = window_bound(x) => name.to_owned(),
            Expr::Identifier(id) if keys.contains(&id.value) => id.value.clone(),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                failure = Some(SqlError::Invalid(format!(
                    "`{x}` in `{whole}`: a windowed query's expressions read the window's \
                     start and end, its GROUP BY keys and aggregates; `{x}` is none of them"
                )));
                return ControlFlow::Break(());
            }
            _ => return ControlFlow::Continue(()),
        };
        *x = Expr::Identifier(Ident::with_quote('"', column));
        ControlFlow::Continue(())
    });
    match failure {
        Some(failure) => Err(failure),
        None => Ok(e.to_string()),
    }
}

/// `window_time` over the window's columns: its end less one millisecond.
/// Whether `id` is Spark's `window` or `session_window` column: the window as a struct of
/// its `start` and `end`.
fn is_window_struct(id: &Ident) -> bool {
    id.quote_style.is_none()
        && (id.value.eq_ignore_ascii_case("window")
            || id.value.eq_ignore_ascii_case("session_window"))
}

/// Spark's `window` column, over the window's columns: `struct<start, end>`.
fn window_struct() -> &'static str {
    "named_struct('start', \"window_start\", 'end', \"window_end\")"
}

fn window_time() -> Expr {
    Expr::Nested(Box::new(Expr::BinaryOp {
        left: Box::new(Expr::Identifier(Ident::with_quote('"', "window_end"))),
        op: BinaryOperator::Minus,
        right: Box::new(Expr::Interval(Interval {
            value: Box::new(Expr::value(Value::SingleQuotedString("1".into()))),
            leading_field: Some(DateTimeField::Millisecond),
            leading_precision: None,
            last_field: None,
            fractional_seconds_precision: None,
        })),
    }))
}

/// Whether `e` reads no column and calls no function (a literal, a cast of one): its
/// value is the same on every row of a window's output.
fn is_constant(e: &Expr) -> bool {
    let found = visit_expressions(e, |e| match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Function(_) => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found.is_continue()
}

fn aggregate_fn(function: &str, e: &Expr) -> Result<AggregateFn, SqlError> {
    Ok(match function {
        "count" if is_distinct(e) => AggregateFn::CountDistinct,
        "count" => AggregateFn::Count,
        "sum" if is_distinct(e) => AggregateFn::SumDistinct,
        "sum" => AggregateFn::Sum,
        "avg" | "mean" if is_distinct(e) => AggregateFn::AvgDistinct,
        "avg" | "mean" => AggregateFn::Avg,
        "min" => AggregateFn::Min,
        "max" => AggregateFn::Max,
        "stddev" | "stddev_samp" | "std" => AggregateFn::Stddev,
        "stddev_pop" => AggregateFn::StddevPop,
        "variance" | "var_samp" => AggregateFn::Variance,
        "var_pop" => AggregateFn::VariancePop,
        "approx_count_distinct" | "approx_distinct" => AggregateFn::ApproxCountDistinct,
        "percentile_approx" | "approx_percentile" => percentile(e)?,
        "collect_set" => AggregateFn::CollectSet,
        "array_agg" if is_distinct(e) => AggregateFn::CollectSet,
        "max_by" | "arg_max" => AggregateFn::MaxBy,
        "min_by" | "arg_min" => AggregateFn::MinBy,
        "collect_list" | "array_agg" => AggregateFn::CollectList,
        "first_value" | "first" | "last_value" | "last" => {
            let (which, instead) = if function.starts_with("first") {
                ("first", "min_by(column, event_time)")
            } else {
                ("last", "max_by(column, event_time)")
            };
            return Err(unsupported(
                &format!("`{e}`"),
                &format!(
                    "the {which} value in the order of arrival, which differs from run to run \
                     (as in Spark and Flink); {instead} takes the value of the row with the \
                     {} event time, the same in every run",
                    if which == "first" {
                        "earliest"
                    } else {
                        "latest"
                    }
                ),
            ));
        }
        "median" => {
            return Err(unsupported(
                &format!("`{e}`"),
                "an exact median keeps every value of every window; percentile_approx(column, \
                 0.5) estimates it within 1 % from a small sketch",
            ));
        }
        _ => {
            return Err(unsupported(
                &format!("`{e}`"),
                "not an aggregate that merges incrementally here; count, sum, avg, min, max, \
                 stddev, stddev_pop, variance, var_samp, var_pop, approx_count_distinct, \
                 percentile_approx, collect_set, collect_list, max_by and min_by are",
            ));
        }
    })
}

/// `items` with Spark's `percentile_approx(c, array(0.5, 0.9))` (or `ARRAY[...]`) written
/// as the array of one percentile per percentage, `make_array(percentile_approx(c, 0.5),
/// percentile_approx(c, 0.9))`: each an aggregate of its own, the array computed from the
/// window's row.
pub(in crate::sql) fn percentile_arrays(items: &[SelectItem]) -> Vec<SelectItem> {
    let mut items = items.to_vec();
    let _ = visit_expressions_mut(&mut items, |e: &mut Expr| {
        let Expr::Function(f) = e else {
            return ControlFlow::<()>::Continue(());
        };
        let name = f.name.to_string().to_ascii_lowercase();
        if !matches!(name.as_str(), "percentile_approx" | "approx_percentile") {
            return ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &f.args else {
            return ControlFlow::Continue(());
        };
        let percentages = match list.args.as_slice() {
            [
                _,
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Array(array))),
            ] => array.elem.clone(),
            [
                _,
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(constructor))),
            ] if constructor.name.to_string().eq_ignore_ascii_case("array") => {
                function_args(&constructor.args)
                    .into_iter()
                    .filter_map(|a| match a {
                        FunctionArgExpr::Expr(e) => Some(e.clone()),
                        _ => None,
                    })
                    .collect()
            }
            _ => return ControlFlow::Continue(()),
        };
        let one = |p: &Expr| {
            let mut call = f.clone();
            if let FunctionArguments::List(list) = &mut call.args {
                list.args[1] = FunctionArg::Unnamed(FunctionArgExpr::Expr(p.clone()));
            }
            Expr::Function(call).to_string()
        };
        let calls: Vec<String> = percentages.iter().map(one).collect();
        if let Ok(array) = Parser::new(&GenericDialect {})
            .try_with_sql(&format!("make_array({})", calls.join(", ")))
            .and_then(|mut p| p.parse_expr())
        {
            *e = array;
        }
        ControlFlow::Continue(())
    });
    items
}

/// Spark's `percentile_approx(column, percentage)`: the percentage a number literal from
/// 0 to 1.
fn percentile(e: &Expr) -> Result<AggregateFn, SqlError> {
    let Expr::Function(f) = e else {
        return Err(SqlError::Invalid(format!(
            "`{e}`: percentile_approx(column, percentage)"
        )));
    };
    match function_args(&f.args).as_slice() {
        [_, FunctionArgExpr::Expr(p)] => {
            let value = p.to_string().parse::<f64>().ok();
            match value.filter(|v| (0.0..=1.0).contains(v)) {
                Some(v) => Ok(AggregateFn::ApproxPercentile {
                    per_million: (v * 1e6).round() as u32,
                }),
                None => Err(SqlError::Invalid(format!(
                    "`{e}`: the percentage is a number from 0 to 1 (0.99 for the 99th \
                     percentile); for several, call it once per percentage"
                ))),
            }
        }
        [_, _, _] => Err(unsupported(
            &format!("`{e}` with an accuracy"),
            "the sketch's accuracy is fixed, within 1 % of the value; leave the accuracy out",
        )),
        _ => Err(SqlError::Invalid(format!(
            "`{e}`: percentile_approx(column, percentage)"
        ))),
    }
}

/// Whether the aggregate call `e` is `DISTINCT` (`count(DISTINCT c)`).
fn is_distinct(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if matches!(&f.args, FunctionArguments::List(list)
        if list.duplicate_treatment == Some(DuplicateTreatment::Distinct)))
}

/// The `FILTER (WHERE ...)` of an aggregate call, once its other modifiers are checked:
/// `DISTINCT` runs where it changes nothing (min, max, a distinct count), and clauses
/// inside the parentheses, several arguments, `IGNORE NULLS` and `WITHIN GROUP` are
/// refused rather than ignored.
fn call_filter(e: &Expr, function: AggregateFn) -> Result<Option<Expr>, SqlError> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    if let FunctionArguments::List(list) = &f.args {
        if list.duplicate_treatment == Some(DuplicateTreatment::Distinct)
            && !matches!(
                function,
                AggregateFn::Min
                    | AggregateFn::Max
                    | AggregateFn::ApproxCountDistinct
                    | AggregateFn::CountDistinct
                    | AggregateFn::SumDistinct
                    | AggregateFn::AvgDistinct
                    | AggregateFn::CollectSet
            )
        {
            return Err(unsupported(
                &format!("`{e}`, a DISTINCT aggregate"),
                "count, sum and avg of DISTINCT values run, keeping each window's distinct \
                 values; compute others in a query over a deduplication",
            ));
        }
        if !list.clauses.is_empty() {
            return Err(unsupported(
                &format!("`{e}`"),
                "ORDER BY, LIMIT and other clauses inside an aggregate's parentheses: not \
                 yet",
            ));
        }
        if list.args.len() > 1
            && !matches!(function, AggregateFn::ApproxPercentile { .. })
            && !function.picks()
        {
            return Err(SqlError::Invalid(format!(
                "`{e}`: these aggregates take one argument"
            )));
        }
    }
    if f.null_treatment.is_some() || !f.within_group.is_empty() {
        return Err(unsupported(
            &format!("`{e}`"),
            "IGNORE/RESPECT NULLS and WITHIN GROUP: not for these aggregates",
        ));
    }
    Ok(f.filter.as_deref().cloned())
}
