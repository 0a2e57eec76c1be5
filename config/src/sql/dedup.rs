//! Deduplication as Flink writes it: a subquery numbering each key's rows by event time,
//! of which the outer query keeps the first,
//!
//! ```sql
//! SELECT ... FROM (
//!   SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY ts) AS rn FROM events
//! ) WHERE rn = 1
//! ```
//!
//! lowered to a deduplication within the watermark (Spark's
//! `dropDuplicatesWithinWatermark`): a key's first row passes, and the key is remembered
//! until the watermark passes its event time plus the watermark delay. The row number is
//! a `BIGINT` column of the first rows, always 1, computed only where the outer query
//! reads it (`SELECT *`, or naming it).

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Query, SelectItem, TableFactor, Value, WindowType, visit_expressions,
};
use sluice_engine::dedup::DedupSpec;
use sluice_engine::plan::{OperatorKind, PlanBuilder};

use super::ddl::SourceTable;
use super::join::{all_of, conjuncts};
use super::query::{function_args, lower_select, plain_select, source_table, unsupported};
use super::{nested, union};

/// A lowered deduplication subquery.
pub(super) struct Lowered<'a> {
    pub(super) plan: PlanBuilder,
    /// The stream of first rows.
    pub(super) stream: String,
    /// The source table the subquery reads.
    pub(super) source: &'a SourceTable,
    /// The name the subquery gives the row number.
    row_number: String,
    /// Whether the row number is the last column of the subquery's select list.
    numbered_last: bool,
}

/// Lowers the subquery of `FROM (...)` in the query writing `target`, over the checked
/// rows of one of `sources`.
pub(super) fn lower<'a>(
    mut plan: PlanBuilder,
    target: &str,
    subquery: &Query,
    sources: &'a [SourceTable],
) -> Result<Lowered<'a>, SqlError> {
    let not_dedup = || {
        unsupported(
            "a subquery in FROM",
            "only deduplication runs as one: SELECT *, ROW_NUMBER() OVER (PARTITION BY key \
             ORDER BY ts) AS rn FROM source, kept WHERE rn = 1 outside",
        )
    };
    let mut select = plain_select(subquery)?.clone();
    nested::unqualify_table(&mut select);
    let [from] = select.from.as_slice() else {
        return Err(not_dedup());
    };
    if !from.joins.is_empty() {
        return Err(not_dedup());
    }
    // Its rows: a source table's, or a union's of source tables (one watermark clock per
    // source, as for a window over it).
    let (source, mut stream, branches) = match &from.relation {
        TableFactor::Table { name, .. } => {
            let source = source_table(name, sources)?;
            (source, source.checked_stream(), None)
        }
        TableFactor::Derived {
            subquery, alias, ..
        } if union::is_union(subquery) => {
            let alias = alias.clone();
            let lowered = union::lower(plan, target, subquery, alias.as_ref(), sources)?;
            nested::unqualify(&mut select, alias.as_ref());
            plan = lowered.plan;
            (lowered.source, lowered.stream, Some(lowered.branches))
        }
        _ => return Err(not_dedup()),
    };
    if !matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty())
    {
        return Err(not_dedup());
    }
    let mut numbering = None;
    let mut items = Vec::new();
    let numbered_last = select.projection.last().is_some_and(
        |item| matches!(item, SelectItem::ExprWithAlias { expr, .. } if row_number_call(expr)),
    );
    for item in &select.projection {
        match item {
            SelectItem::ExprWithAlias { expr, alias } if row_number_call(expr) => {
                if numbering.replace((expr, alias.value.clone())).is_some() {
                    return Err(unsupported("two ROW_NUMBER() columns", "number rows once"));
                }
            }
            SelectItem::UnnamedExpr(expr) if row_number_call(expr) => {
                return Err(SqlError::Invalid(format!(
                    "`{expr}`: name it, `{expr} AS rn`"
                )));
            }
            other => items.push(other.clone()),
        }
    }
    let Some((call, row_number)) = numbering else {
        return Err(not_dedup());
    };
    let Numbering {
        keys,
        time: time_column,
        last,
    } = numbered_by(call, source)?;
    if last {
        return Err(unsupported(
            &format!("ORDER BY {time_column} DESC in ROW_NUMBER() here"),
            "keeping each key's last row reads one source table, kept WHERE rn = 1, into a \
             table in update mode; over a union, deduplicate each table's rows in a query of \
             its own",
        ));
    }
    refuse_renamed(&items, &keys, &time_column, call)?;
    let delay = source.watermark.as_ref().map(|(_, d)| *d).ok_or_else(|| {
        unsupported(
            "ROW_NUMBER() over a source without a watermark",
            &format!(
                "its keys would be remembered forever; declare `WATERMARK FOR {time_column} \
                 AS {time_column} - INTERVAL '10' MINUTE` in CREATE TABLE {}",
                source.name
            ),
        )
    })?;
    let watermark_also = match &branches {
        Some(branches) => union::clocks(branches, &time_column)?,
        None => Vec::new(),
    };
    if let Some(predicate) = &select.selection {
        let name = format!("{target}/dedup-where");
        plan = plan.filter(&name, &stream, &predicate.to_string());
        stream = name;
    }
    let (next, projected) = lower_select(
        plan,
        &format!("{target}/dedup-select"),
        &stream,
        &items,
        true,
    )?;
    let name = format!("{target}/dedup");
    // A state name is a path segment in checkpoints.
    let mut spec = DedupSpec::new(format!("{target}.dedup"), keys, time_column, delay);
    // The watermark follows the source's rows, before the subquery's WHERE.
    spec.watermark_from = (projected != source.checked_stream()).then(|| source.checked_stream());
    spec.watermark_also = watermark_also;
    Ok(Lowered {
        plan: next.dedup(&name, &projected, spec),
        stream: name,
        source,
        row_number,
        numbered_last,
    })
}

impl Lowered<'_> {
    /// The outer `WHERE` without its `rn = 1` (which it must hold, alone or as a
    /// conjunct); `None` when nothing else is left.
    pub(super) fn keep_first(&self, selection: Option<&Expr>) -> Result<Option<Expr>, SqlError> {
        let missing = || {
            SqlError::Invalid(format!(
                "a ROW_NUMBER() subquery deduplicates only when the outer query keeps its \
                 first row: WHERE {} = 1",
                self.row_number
            ))
        };
        let selection = selection.ok_or_else(missing)?;
        let (first, rest): (Vec<&Expr>, Vec<&Expr>) = conjuncts(selection)
            .into_iter()
            .partition(|e| self.is_first(e));
        if first.is_empty() {
            return Err(missing());
        }
        Ok(all_of(rest.into_iter().cloned().collect()))
    }

    /// `rn = 1`, `1 = rn` or `rn <= 1`.
    fn is_first(&self, e: &Expr) -> bool {
        keeps_first(e, &self.row_number)
    }

    /// The first rows, with the row number as a column (always 1) where the outer query
    /// reads it: its select list holds `*` or names it, or the rest of its `WHERE` does.
    pub(super) fn numbered(
        self,
        target: &str,
        items: &[SelectItem],
        rest: Option<&Expr>,
    ) -> Result<(PlanBuilder, String), SqlError> {
        let star = items.iter().any(|item| {
            matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        });
        let names = |e: &Expr| matches!(e, Expr::Identifier(id) if id.value == self.row_number);
        let mut read = star;
        let _ = visit_expressions(&items.to_vec(), |e| {
            read |= names(e);
            std::ops::ControlFlow::<()>::Continue(())
        });
        let _ = visit_expressions(&rest.cloned(), |e| {
            read |= names(e);
            std::ops::ControlFlow::<()>::Continue(())
        });
        if !read {
            return Ok((self.plan, self.stream));
        }
        if star && !self.numbered_last {
            return Err(unsupported(
                &format!("`{}` before other columns, read by `*`", self.row_number),
                "put the ROW_NUMBER() column last in the subquery's select list, or name the \
                 columns",
            ));
        }
        let name = format!("{target}/row-number");
        let plan = self.plan.operator(
            &name,
            &self.stream,
            OperatorKind::Project {
                columns: vec![(self.row_number.clone(), "CAST(1 AS BIGINT)".to_owned())],
                keep_input: true,
                drop: Vec::new(),
                keep_coordinates: false,
            },
        );
        Ok((plan, name))
    }
}

/// Whether `e` is `rn = 1`, `1 = rn` or `rn <= 1`, `rn` being `row_number`.
pub(super) fn keeps_first(e: &Expr, row_number: &str) -> bool {
    let Expr::BinaryOp { left, op, right } = e else {
        return false;
    };
    let is_rn = |e: &Expr| matches!(e, Expr::Identifier(id) if id.value == row_number);
    let is_one =
        |e: &Expr| matches!(e, Expr::Value(v) if v.value == Value::Number("1".into(), false));
    match op {
        BinaryOperator::Eq => (is_rn(left) && is_one(right)) || (is_one(left) && is_rn(right)),
        BinaryOperator::LtEq => is_rn(left) && is_one(right),
        _ => false,
    }
}

/// Refuses a select item of a numbering subquery that gives a key's or the event time's
/// name another value: `OVER (...)` reads the source's columns, so the numbering would
/// read that value instead.
pub(super) fn refuse_renamed(
    items: &[SelectItem],
    keys: &[String],
    time: &str,
    call: &Expr,
) -> Result<(), SqlError> {
    for item in items {
        if let SelectItem::ExprWithAlias { expr, alias } = item
            && (keys.contains(&alias.value) || alias.value == time)
            && !matches!(expr, Expr::Identifier(id) if id.value == alias.value)
        {
            return Err(unsupported(
                &format!("`{item}` beside `{call}`"),
                &format!(
                    "the ROW_NUMBER() reads the source's `{}`, which the select list gives \
                     another value; name the computed column differently",
                    alias.value
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `e` is `ROW_NUMBER() OVER (...)`.
pub(super) fn row_number_call(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("row_number"))
}

/// What `ROW_NUMBER() OVER (PARTITION BY keys ORDER BY ts [DESC])` numbers.
pub(super) struct Numbering {
    /// The keys.
    pub(super) keys: Vec<String>,
    /// The time column, the source's watermarked one.
    pub(super) time: String,
    /// Whether it numbers each key's rows from the last (`DESC`).
    pub(super) last: bool,
}

/// The numbering of `ROW_NUMBER() OVER (PARTITION BY keys ORDER BY ts [DESC])`, the time
/// column being the source's watermarked one.
pub(super) fn numbered_by(call: &Expr, source: &SourceTable) -> Result<Numbering, SqlError> {
    let Expr::Function(f) = call else {
        unreachable!("checked by row_number_call");
    };
    let usage = || {
        SqlError::Invalid(format!(
            "`{call}`: ROW_NUMBER() OVER (PARTITION BY key columns ORDER BY the event-time \
             column)"
        ))
    };
    if !function_args(&f.args).is_empty() {
        return Err(usage());
    }
    let Some(WindowType::WindowSpec(window)) = &f.over else {
        return Err(usage());
    };
    if window.window_frame.is_some() || window.window_name.is_some() {
        return Err(usage());
    }
    let keys = window
        .partition_by
        .iter()
        .map(|e| match e {
            Expr::Identifier(id) => Ok(id.value.clone()),
            _ => Err(usage()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(usage());
    }
    let [order] = window.order_by.as_slice() else {
        return Err(usage());
    };
    let Expr::Identifier(time) = &order.expr else {
        return Err(usage());
    };
    match &source.watermark {
        Some((watermarked, _)) if watermarked != &time.value => Err(SqlError::Invalid(format!(
            "ROW_NUMBER() is ordered by `{}`, but the watermark is for `{watermarked}`: \
             order by the event-time column",
            time.value
        ))),
        _ => Ok(Numbering {
            keys,
            time: time.value.clone(),
            last: order.options.asc == Some(false),
        }),
    }
}
