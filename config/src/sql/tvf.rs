//! Flink's windowing table-valued functions, the form Flink's Nexmark SQL now writes:
//!
//! ```sql
//! SELECT window_start, window_end, auction, count(*) AS num
//! FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//! GROUP BY window_start, window_end, auction
//! ```
//!
//! is the windowed aggregate `FROM bid GROUP BY HOP(date_time, INTERVAL '2' SECOND,
//! INTERVAL '10' SECOND), auction`: each query level reading `TABLE(TUMBLE | HOP |
//! CUMULATE | SESSION (TABLE t, DESCRIPTOR(ts), ...))` is rewritten so before it is
//! lowered (`CUMULATE(TABLE t, DESCRIPTOR(ts), step, size)` as `GROUP BY CUMULATE(ts,
//! step, size)`, which only this rewriting writes). The
//! windows' rows are aggregated per window (`GROUP BY window_start, window_end, ...`).
//! A TVF whose rows no aggregate follows (no `GROUP BY`, no aggregate) is a window
//! assignment ([`sluice_engine::window::Assignment`]): each row once per window containing
//! it, with `window_start`, `window_end` and `window_time` (a SESSION TVF is refused:
//! its windows depend on the other rows of their key).
//!
//! Flink's `SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), gap)` keeps sessions per `k`:
//! the aggregate that follows must group by `k` too, which gives the same sessions (an
//! aggregate's sessions are per group); its `PARTITION BY` is then checked and dropped.

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArgExpr, GroupByExpr, Query, Select, SetExpr, TableFactor, TableWithJoins,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use sluice_engine::window::{AssignSpec, WindowKind};

use super::query::{function_args, select_expr, unsupported};
use super::window::{aggregate_call, is_window_time, window_bound, window_call};

/// The window functions a TVF may name.
const WINDOWS: [&str; 4] = ["tumble", "hop", "session", "cumulate"];

/// The call that [`unwrap_table_arguments`] writes a TVF's `PARTITION BY` keys as, an
/// argument after the table: `PARTITION BY (a, b)` becomes `__partition_by(a, b)`.
const PARTITION_BY: &str = "__partition_by";

/// `statement` without the `TABLE` keyword before a window TVF's table argument
/// (`TUMBLE(TABLE bid, ...)` becomes `TUMBLE(bid, ...)`), which the SQL parser does not
/// take as an expression, and with the table's `PARTITION BY k` (or `(k1, k2)`) as an
/// argument of its own, `__partition_by(k)`; quotes and comments are left alone.
pub(super) fn unwrap_table_arguments(statement: &str) -> String {
    let mut out = String::with_capacity(statement.len());
    let chars: Vec<char> = statement.chars().collect();
    let mut i = 0;
    let mut last_word = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            // Copy the quoted text whole.
            out.push(c);
            i += 1;
            while i < chars.len() {
                out.push(chars[i]);
                if chars[i] == c {
                    break;
                }
                i += 1;
            }
            i += 1;
            last_word.clear();
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push_str(&word);
            last_word = word;
            continue;
        }
        out.push(c);
        i += 1;
        if c == '(' && WINDOWS.contains(&last_word.to_ascii_lowercase().as_str()) {
            // Skip `TABLE` (and the spaces around it) right after the parenthesis.
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let word: String = chars[j..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .collect();
            let after = chars.get(j + word.len());
            if word.eq_ignore_ascii_case("table") && after.is_some_and(|c| c.is_whitespace()) {
                i = j + word.len();
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                i = partition_by(&chars, i, &mut out);
            }
        }
        if !c.is_whitespace() {
            last_word.clear();
        }
    }
    out
}

/// Copies the table name at `chars[i..]` into `out` and, when `PARTITION BY` keys follow
/// it, writes them as `, __partition_by(keys)`; returns where the copy stopped.
fn partition_by(chars: &[char], mut i: usize, out: &mut String) -> usize {
    let word = |at: usize| -> String {
        chars[at..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_' || **c == '.')
            .collect()
    };
    let skip_spaces = |mut at: usize| {
        while at < chars.len() && chars[at].is_whitespace() {
            at += 1;
        }
        at
    };
    let table = word(i);
    if table.is_empty() {
        return i;
    }
    out.push_str(&table);
    i += table.chars().count();
    let partition = skip_spaces(i);
    if !word(partition).eq_ignore_ascii_case("partition") {
        return i;
    }
    let by = skip_spaces(partition + "partition".len());
    if !word(by).eq_ignore_ascii_case("by") {
        return i;
    }
    let mut at = skip_spaces(by + 2);
    let keys: String = if chars.get(at) == Some(&'(') {
        let close = chars[at..].iter().position(|c| *c == ')').map(|p| at + p);
        let Some(close) = close else { return i };
        let keys = chars[at + 1..close].iter().collect();
        at = close + 1;
        keys
    } else {
        let key = word(at);
        at += key.chars().count();
        key
    };
    out.push_str(&format!(", {PARTITION_BY}({keys})"));
    at
}

/// Rewrites every query level of `query` that reads a window TVF (see the [module
/// docs](self)).
///
/// # Errors
/// A TVF of the wrong shape, or whose rows are not aggregated per window.
pub(super) fn rewrite(query: &mut Query) -> Result<(), SqlError> {
    super::levels::each_select(query, &mut rewrite_select)
}

/// A window TVF read in `FROM`: the relation it reads (with the TVF's alias) and its
/// window as a `GROUP BY` function (`HOP(ts, slide, size)`).
struct Tvf {
    function: String,
    from: Vec<TableWithJoins>,
    window: Expr,
    /// Its table's `PARTITION BY` keys (a SESSION's).
    partition_by: Vec<Expr>,
}

/// The window TVF `select` reads in `FROM`, if it reads one.
///
/// # Errors
/// A TVF of the wrong shape.
fn tvf_of(select: &Select) -> Result<Option<Tvf>, SqlError> {
    let [from] = select.from.as_slice() else {
        return Ok(None);
    };
    let TableFactor::TableFunction {
        expr: Expr::Function(f),
        alias,
    } = &from.relation
    else {
        return Ok(None);
    };
    let function = f.name.to_string().to_ascii_lowercase();
    if !WINDOWS.contains(&function.as_str()) {
        return Ok(None);
    }
    let shape = || {
        unsupported(
            &format!("TABLE({})", f),
            "a window TVF is TUMBLE(TABLE t, DESCRIPTOR(ts), size[, offset]), HOP(TABLE t, \
             DESCRIPTOR(ts), slide, size[, offset]), CUMULATE(TABLE t, DESCRIPTOR(ts), step, \
             size) or SESSION(TABLE t, DESCRIPTOR(ts), gap)",
        )
    };
    let mut args = function_args(&f.args);
    // `PARTITION BY` keys, as `unwrap_table_arguments` wrote them after the table.
    let mut partition_by = Vec::new();
    if let Some(FunctionArgExpr::Expr(Expr::Function(p))) = args.get(1)
        && p.name.to_string().eq_ignore_ascii_case(PARTITION_BY)
    {
        for key in function_args(&p.args) {
            match key {
                FunctionArgExpr::Expr(e) => partition_by.push(e.clone()),
                _ => return Err(shape()),
            }
        }
        if function != "session" {
            return Err(unsupported(
                &format!("PARTITION BY in {}", function.to_uppercase()),
                "only a SESSION window TVF is partitioned: its sessions are per key",
            ));
        }
        args.remove(1);
    }
    let (table, time, sizes) = match args.as_slice() {
        [
            FunctionArgExpr::Expr(table),
            FunctionArgExpr::Expr(Expr::Function(d)),
            sizes @ ..,
        ] if d.name.to_string().eq_ignore_ascii_case("descriptor") => {
            let time = match function_args(&d.args).as_slice() {
                [FunctionArgExpr::Expr(Expr::Identifier(id))] => id.value.clone(),
                _ => return Err(shape()),
            };
            let sizes: Vec<String> = sizes
                .iter()
                .map(|a| match a {
                    FunctionArgExpr::Expr(e) => Ok(e.to_string()),
                    _ => Err(shape()),
                })
                .collect::<Result<_, _>>()?;
            (table.to_string(), time, sizes)
        }
        _ => return Err(shape()),
    };
    let expected = if matches!(function.as_str(), "hop" | "cumulate") {
        2
    } else {
        1
    };
    // TUMBLE and HOP take an offset last, as Flink's do.
    let offset = usize::from(matches!(function.as_str(), "tumble" | "hop"));
    if sizes.len() < expected || sizes.len() > expected + offset {
        return Err(shape());
    }
    let window = format!(
        "{}({time}, {})",
        function.to_ascii_uppercase(),
        sizes.join(", ")
    );
    // The relation the TVF reads, with the TVF's alias.
    let alias = alias
        .as_ref()
        .map_or_else(String::new, |a| format!(" AS {}", a.name));
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(&format!("SELECT * FROM {table}{alias} GROUP BY {window}"))
        .and_then(|mut p| p.parse_query())
        .map_err(|e| SqlError::Invalid(format!("{}: {e}", shape())))?;
    let SetExpr::Select(rewritten) = *parsed.body else {
        return Err(shape());
    };
    let GroupByExpr::Expressions(mut group_by, _) = rewritten.group_by else {
        return Err(shape());
    };
    let (Some(window), true) = (group_by.pop(), group_by.is_empty()) else {
        return Err(shape());
    };
    Ok(Some(Tvf {
        function,
        from: rewritten.from,
        window,
        partition_by,
    }))
}

/// The window assignment of a query level reading a window TVF whose rows no aggregate
/// follows, with its `FROM` left as the relation the TVF reads; `None` when it reads none.
///
/// # Errors
/// A TVF of the wrong shape, or a session TVF (whose windows depend on other rows).
pub(super) fn assignment(select: &mut Select) -> Result<Option<AssignSpec>, SqlError> {
    let Some(tvf) = tvf_of(select)? else {
        return Ok(None);
    };
    let Some(call) = window_call(&tvf.window)? else {
        return Ok(None);
    };
    let (kind, time_column, offset) = (call.kind, call.time_column, call.offset);
    if matches!(kind, WindowKind::Session { .. }) {
        return Err(unsupported(
            "a SESSION window TVF's rows without an aggregate",
            "a session depends on the other rows of its key; aggregate per session: GROUP BY \
             window_start, window_end, ...",
        ));
    }
    select.from = tvf.from;
    // `e.v` of `TABLE(TUMBLE(TABLE events, ...)) AS e` is the column `v`.
    super::nested::unqualify_table(select);
    Ok(Some(AssignSpec {
        time_column,
        kind,
        offset,
    }))
}

fn rewrite_select(select: &mut Select) -> Result<(), SqlError> {
    let Some(tvf) = tvf_of(select)? else {
        return Ok(());
    };
    let shape = || unsupported(&format!("TABLE({})", tvf.window), "GROUP BY expressions");
    let GroupByExpr::Expressions(keys, modifiers) = &select.group_by else {
        return Err(shape());
    };
    // Rows no aggregate follows: a window assignment, which the lowering adds.
    let aggregated = select
        .projection
        .iter()
        .any(|item| select_expr(item).is_some_and(|e| aggregate_call(e).is_some()));
    if keys.is_empty() && !aggregated {
        return Ok(());
    }
    // `window_time` follows from the window's end: grouping by it adds nothing.
    let (bounds, rest): (Vec<&Expr>, Vec<&Expr>) = keys
        .iter()
        .filter(|e| !is_window_time(e))
        .partition(|e| window_bound(e).is_some());
    if bounds.len() != 2 {
        return Err(unsupported(
            &format!(
                "a {} window TVF not grouped by its window",
                tvf.function.to_uppercase()
            ),
            "aggregate its rows per window: GROUP BY window_start, window_end, ... (or \
             aggregate none of them, for each row once per window)",
        ));
    }
    // A partitioned session's keys must be keys of the aggregate: its sessions are then
    // the partition's.
    let named = |e: &Expr| e.to_string().to_ascii_lowercase();
    if let Some(key) = tvf
        .partition_by
        .iter()
        .find(|k| !rest.iter().any(|r| named(r) == named(k)))
    {
        return Err(unsupported(
            &format!("SESSION(... PARTITION BY {key} ...) aggregated without `{key}`"),
            &format!("its sessions are per `{key}`: GROUP BY window_start, window_end, {key}, ..."),
        ));
    }
    let mut group_by = vec![tvf.window];
    group_by.extend(rest.into_iter().cloned());
    select.group_by = GroupByExpr::Expressions(group_by, modifiers.clone());
    select.from = tvf.from;
    Ok(())
}
