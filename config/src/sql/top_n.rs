//! Window Top-N as Flink writes it: a windowed aggregate, ranked per window, of which the
//! outer query keeps the first ranks,
//!
//! ```sql
//! SELECT auction, num, starttime, endtime FROM (
//!   SELECT *, RANK() OVER (PARTITION BY starttime, endtime ORDER BY num DESC) AS rk
//!   FROM (SELECT auction, count(*) AS num, window_start AS starttime,
//!                window_end AS endtime
//!         FROM bid GROUP BY HOP(date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND),
//!                           auction)
//! ) WHERE rk <= 1
//! ```
//!
//! lowered to the windowed aggregate (append mode: a window's rows all come out in the
//! epoch that closes it) and a Top-N per window and epoch. `RANK()` keeps every row that
//! ties; `ROW_NUMBER()` one row per rank. The rank is not a column of the result.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Query, SelectItem, TableFactor, Value, WindowType,
};
use sluice_engine::plan::PlanBuilder;
use sluice_engine::top_n::TopNSpec;

use super::ddl::SourceTable;
use super::join::{all_of, conjuncts};
use super::query::{function_args, plain_select, unsupported, wildcard_drops};
use super::subquery;

/// A lowered window Top-N.
pub(super) struct Lowered<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of the rows of the windows, before the ranks are kept.
    ranked: String,
    /// The source table the windows read.
    pub(super) source: &'a SourceTable,
    /// The name the subquery gives the rank.
    rank: String,
    spec: TopNSpec,
}

/// Whether `subquery` ranks the rows of a subquery of its own (a window Top-N), rather than
/// a source table's rows or a union of them (a deduplication).
pub(super) fn is_top_n(subquery: &Query) -> bool {
    plain_select(subquery).is_ok_and(|select| {
        matches!(select.from.as_slice(), [f] if matches!(
            &f.relation,
            TableFactor::Derived { subquery, .. } if !super::union::is_union(subquery)
        ))
    })
}

/// Lowers the subquery of `FROM (...)` in the query writing `target`.
pub(super) fn lower<'a>(
    plan: PlanBuilder,
    target: &str,
    subquery: &Query,
    sources: &'a [SourceTable],
) -> Result<Lowered<'a>, String> {
    let shape = || {
        unsupported(
            "a ranking subquery",
            "a window Top-N is SELECT *, RANK() OVER (PARTITION BY window_start, window_end \
             ORDER BY col DESC) AS rk FROM (a windowed aggregate), kept WHERE rk <= N outside",
        )
    };
    let select = plain_select(subquery)?;
    let [from] = select.from.as_slice() else {
        return Err(shape());
    };
    let TableFactor::Derived {
        subquery: inner, ..
    } = &from.relation
    else {
        return Err(shape());
    };
    if !from.joins.is_empty() || select.selection.is_some() || !no_group_by(&select.group_by) {
        return Err(shape());
    }
    let mut ranking = None;
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) if wildcard_drops(item).is_ok_and(|d| d.is_empty()) => {}
            SelectItem::ExprWithAlias { expr, alias } if rank_call(expr).is_some() => {
                if ranking.replace((expr, alias.value.clone())).is_some() {
                    return Err(shape());
                }
            }
            _ => return Err(shape()),
        }
    }
    let Some((call, rank)) = ranking else {
        return Err(shape());
    };
    let ties = rank_call(call) == Some(true);
    if let Expr::Function(f) = call
        && let Some(WindowType::WindowSpec(window)) = &f.over
        && window
            .order_by
            .iter()
            .any(|o| o.options.nulls_first == Some(true))
    {
        return Err(unsupported(
            &format!("NULLS FIRST in `{call}`"),
            "a Top-N ranks null values last, whichever the order; filter them out, or \
             rank a COALESCE of the column",
        ));
    }
    let (partition_by, order_by, descending) = ranked_by(call).ok_or_else(shape)?;

    // The windowed aggregate the rows come from; its state keeps the name
    // `<target>.windows`.
    let windows = subquery::lower(
        plan,
        &format!("{target}.windows"),
        &format!("{target}/windows-where"),
        inner,
        sources,
        &shape,
    )?;
    let bounds: Vec<&String> = windows.start.iter().chain(&windows.end).collect();
    let mut by: Vec<&String> = partition_by.iter().collect();
    by.sort_unstable();
    let mut want = bounds.clone();
    want.sort_unstable();
    if bounds.len() != 2 || by != want {
        return Err(unsupported(
            &format!("PARTITION BY {}", partition_by.join(", ")),
            "a window Top-N ranks the rows of each window: partition by the window's start and \
             end as the windowed subquery names them (both selected)",
        ));
    }
    let (plan, ranked, source) = (windows.plan, windows.stream, windows.source);
    let spec = TopNSpec {
        name: target.to_owned(),
        partition_by,
        order_by,
        descending,
        limit: 0,
        ties,
    };
    Ok(Lowered {
        plan,
        ranked,
        source,
        rank,
        spec,
    })
}

impl Lowered<'_> {
    /// Adds the Top-N, with the limit the outer `WHERE` sets (`rk <= N`, `rk < N` or
    /// `rk = 1`, alone or as a conjunct); returns its stream and the rest of the `WHERE`.
    pub(super) fn keep(
        self,
        target: &str,
        selection: Option<&Expr>,
        items: &[SelectItem],
    ) -> Result<(PlanBuilder, String, Option<Expr>), String> {
        let missing = || {
            format!(
                "a window Top-N keeps the first ranks: WHERE {} <= N (or {} = 1)",
                self.rank, self.rank
            )
        };
        let named = items.iter().any(|item| match item {
            SelectItem::UnnamedExpr(Expr::Identifier(id))
            | SelectItem::ExprWithAlias {
                expr: Expr::Identifier(id),
                ..
            } => id.value == self.rank,
            _ => false,
        });
        if named {
            return Err(format!(
                "`{}`: the rank of a window Top-N is not a column; leave it out of the select \
                 list",
                self.rank
            ));
        }
        let selection = selection.ok_or_else(missing)?;
        let mut limit = None;
        let mut rest: Vec<Expr> = Vec::new();
        for conjunct in conjuncts(selection) {
            match self.limit_of(conjunct) {
                Some(n) if limit.is_none() => limit = Some(n),
                _ => rest.push(conjunct.clone()),
            }
        }
        let limit = limit.ok_or_else(missing)?;
        let rest = all_of(rest);
        let name = format!("{target}/top-n");
        let spec = TopNSpec { limit, ..self.spec };
        Ok((self.plan.top_n(&name, &self.ranked, spec), name, rest))
    }

    /// `N` of `rk <= N`, `rk < N + 1` or `rk = 1`.
    fn limit_of(&self, e: &Expr) -> Option<u64> {
        let Expr::BinaryOp { left, op, right } = e else {
            return None;
        };
        let Expr::Identifier(id) = left.as_ref() else {
            return None;
        };
        let Expr::Value(v) = right.as_ref() else {
            return None;
        };
        let Value::Number(n, _) = &v.value else {
            return None;
        };
        let n: u64 = n.parse().ok()?;
        if id.value != self.rank {
            return None;
        }
        match op {
            BinaryOperator::LtEq if n > 0 => Some(n),
            BinaryOperator::Lt if n > 1 => Some(n - 1),
            BinaryOperator::Eq if n == 1 => Some(1),
            _ => None,
        }
    }
}

fn no_group_by(group_by: &GroupByExpr) -> bool {
    matches!(group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
}

/// `Some(true)` for `RANK()`, `Some(false)` for `ROW_NUMBER()`, with `OVER`.
fn rank_call(e: &Expr) -> Option<bool> {
    let Expr::Function(f) = e else {
        return None;
    };
    f.over.as_ref()?;
    match f.name.to_string().to_ascii_lowercase().as_str() {
        "rank" => Some(true),
        "row_number" => Some(false),
        _ => None,
    }
}

/// The partition columns, the ordering column and whether it is descending, of
/// `RANK() OVER (PARTITION BY ... ORDER BY col [DESC])`.
fn ranked_by(call: &Expr) -> Option<(Vec<String>, String, bool)> {
    let Expr::Function(f) = call else {
        return None;
    };
    if !function_args(&f.args).is_empty() {
        return None;
    }
    let Some(WindowType::WindowSpec(window)) = &f.over else {
        return None;
    };
    if window.window_frame.is_some() {
        return None;
    }
    let partition_by = window
        .partition_by
        .iter()
        .map(|e| match e {
            Expr::Identifier(id) => Some(id.value.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let [order] = window.order_by.as_slice() else {
        return None;
    };
    let Expr::Identifier(column) = &order.expr else {
        return None;
    };
    Some((
        partition_by,
        column.value.clone(),
        order.options.asc == Some(false),
    ))
}
