//! One row per element of an array, written as Spark writes it (`explode` in the select
//! list) or as Flink does (`CROSS JOIN UNNEST` in `FROM`), lowered to the plan's unnest
//! operator ([`sluice_engine::unnest`]):
//!
//! ```sql
//! SELECT id, explode(split(tags, ',')) AS tag FROM events
//! SELECT id, tag FROM events CROSS JOIN UNNEST(split(tags, ',')) AS t (tag)
//! ```
//!
//! `explode_outer` (Spark) and `LEFT JOIN UNNEST(...) AS t (x) ON TRUE` (Flink) keep a row
//! whose array is null or empty, once, with a null element. Spark's `posexplode` (and
//! `posexplode_outer`) adds each element's position from 0 as `pos`, before `col`; Flink's
//! `UNNEST(a) WITH ORDINALITY AS t (x, n)` adds it from 1 as `n`. An array that is not a column
//! is computed first, in a projection of its own. Spark's rules hold: one `explode` per
//! select list, not inside an expression, and not beside an aggregate (explode in a
//! subquery, and aggregate its rows).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinConstraint, JoinOperator,
    Select, SelectItem, TableFactor, Value, visit_expressions, visit_expressions_mut,
};
use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::unnest::{Position, UnnestSpec};

use super::query::unsupported;

/// An unnest to add after a query's rows: of `array` (a column, or an expression computed
/// first), into the column `element`.
#[derive(Clone, Debug)]
pub(super) struct Unnesting {
    array: Expr,
    element: String,
    outer: bool,
    position: Option<Position>,
}

impl Unnesting {
    /// Adds the unnest after `stream` in the query writing `target`: its array computed
    /// when it is not a column, then dropped again.
    pub(super) fn lower(
        &self,
        mut plan: PlanBuilder,
        target: &str,
        stream: &str,
    ) -> (PlanBuilder, String) {
        let mut stream = stream.to_owned();
        let (column, computed) = match &self.array {
            Expr::Identifier(id) => (id.value.clone(), false),
            array => {
                // A plain name: a subquery's target holds a `.`.
                let column = format!("__{}_array", target.replace(['.', '/'], "_"));
                let name = format!("{target}/explode-array");
                plan = plan.project(&name, &stream, true, &[(&column, &array.to_string())]);
                stream = name;
                (column, true)
            }
        };
        let name = format!("{target}/explode");
        plan = plan.unnest(
            &name,
            &stream,
            UnnestSpec {
                column: column.clone(),
                element: self.element.clone(),
                outer: self.outer,
                position: self.position.clone(),
            },
        );
        stream = name;
        if computed {
            let name = format!("{target}/explode-rows");
            plan = plan.operator(
                &name,
                &stream,
                OperatorKind::Project {
                    columns: Vec::new(),
                    keep_input: true,
                    drop: vec![column],
                    keep_coordinates: false,
                },
            );
            stream = name;
        }
        (plan, stream)
    }
}

/// The `explode` of `select`'s select list, if it has one, with the list rewritten to
/// read its element's column; `aggregated` when the query aggregates.
///
/// # Errors
/// Two explodes, an explode inside an expression or beside an aggregate.
pub(super) fn from_select_list(
    select: &mut Select,
    aggregated: bool,
) -> Result<Option<Unnesting>, String> {
    let mut found = None;
    let wildcard = select.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    let mut explode_item = None;
    for (i, item) in select.projection.iter_mut().enumerate() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => continue,
        };
        if let Some((array, outer, positions)) = explode_call(expr)? {
            if found.is_some() {
                return Err(unsupported(
                    "two explodes in one select list",
                    "Spark allows one generator per SELECT; explode one array in a subquery \
                     and the other in the query over it",
                ));
            }
            // Spark names explode's column `col`, and posexplode's `pos` and `col`.
            let position = if positions {
                if alias.is_some() {
                    return Err(unsupported(
                        &format!("`{expr}` with one name"),
                        "posexplode gives two columns, `pos` and `col`: select them, and \
                         rename them in a query over it",
                    ));
                }
                Some(Position {
                    name: "pos".into(),
                    first: 0,
                })
            } else {
                None
            };
            let element = alias.map_or_else(|| "col".to_owned(), |a| a.value);
            *item = SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(&element)));
            explode_item = Some((i, position.as_ref().map(|p| p.name.clone())));
            found = Some(Unnesting {
                array,
                element,
                outer,
                position,
            });
        } else if let Some(inner) = nested_explode(expr) {
            return Err(unsupported(
                &format!("`{inner}` inside `{expr}`"),
                "an explode is a select item of its own; explode in a subquery and compute \
                 on its column in the query over it",
            ));
        }
    }
    // After `*`, the element is already there: the unnest adds it after the row's columns.
    match (wildcard, explode_item) {
        (true, Some((i, _))) => {
            select.projection.remove(i);
        }
        (false, Some((i, Some(position)))) => {
            let item = SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(position)));
            select.projection.insert(i, item);
        }
        _ => {}
    }
    if found.is_some() && aggregated {
        return Err(unsupported(
            "explode beside an aggregate",
            "explode in a subquery, and aggregate its rows in the query over it: SELECT ... \
             FROM (SELECT ts, explode(a) AS x FROM t) GROUP BY TUMBLE(ts, ...), x",
        ));
    }
    Ok(found)
}

/// Flink's `FROM t CROSS JOIN UNNEST(a) AS u (x)` (or `FROM t, UNNEST(a) AS u (x)`, or
/// `LEFT JOIN UNNEST(a) AS u (x) ON TRUE`): the unnest, with `FROM` left as `FROM t` and the
/// query's references to `u.x` unqualified; `None` when `FROM` unnests nothing.
///
/// # Errors
/// An unnest of several arrays, `WITH ORDINALITY`, an unnamed element or another join.
pub(super) fn from_clause(select: &mut Select) -> Result<Option<Unnesting>, String> {
    let (from, unnest, outer) = match select.from.as_mut_slice() {
        [from] if from.joins.len() == 1 => {
            let join = from.joins[0].clone();
            let outer = match &join.join_operator {
                JoinOperator::CrossJoin(JoinConstraint::None) => false,
                JoinOperator::Left(JoinConstraint::On(on))
                | JoinOperator::LeftOuter(JoinConstraint::On(on))
                    if is_true(on) =>
                {
                    true
                }
                _ if matches!(join.relation, TableFactor::UNNEST { .. }) => {
                    return Err(unsupported(
                        "a join with UNNEST other than CROSS JOIN or LEFT JOIN ... ON TRUE",
                        "CROSS JOIN UNNEST(a) AS t (x), or LEFT JOIN UNNEST(a) AS t (x) ON TRUE \
                         to keep rows without elements",
                    ));
                }
                _ => return Ok(None),
            };
            let mut from = from.clone();
            from.joins.clear();
            (from, join.relation, outer)
        }
        [from, second] if from.joins.is_empty() && second.joins.is_empty() => {
            (from.clone(), second.relation.clone(), false)
        }
        _ => return Ok(None),
    };
    let TableFactor::UNNEST {
        alias,
        array_exprs,
        with_offset,
        with_ordinality,
        ..
    } = unnest
    else {
        return Ok(None);
    };
    let [array] = array_exprs.as_slice() else {
        return Err(unsupported(
            "UNNEST of several arrays",
            "unnest one array per CROSS JOIN UNNEST",
        ));
    };
    if with_offset {
        return Err(unsupported(
            "UNNEST ... WITH OFFSET",
            "WITH ORDINALITY AS t (x, n) numbers the elements from 1",
        ));
    }
    let names: Vec<String> = alias
        .as_ref()
        .map(|a| a.columns.iter().map(|c| c.name.value.clone()).collect())
        .unwrap_or_default();
    let table = alias
        .as_ref()
        .map(|a| a.name.value.clone())
        .unwrap_or_default();
    let (element, position) = match (names.as_slice(), with_ordinality) {
        ([element], false) => (element.clone(), None),
        ([element, n], true) => (
            element.clone(),
            Some(Position {
                name: n.clone(),
                first: 1,
            }),
        ),
        (_, false) => {
            return Err(unsupported(
                &format!("UNNEST({array}) without one name for its element"),
                "name it: CROSS JOIN UNNEST(a) AS t (x)",
            ));
        }
        (_, true) => {
            return Err(unsupported(
                &format!("UNNEST({array}) WITH ORDINALITY without two names"),
                "name the element and its position: UNNEST(a) WITH ORDINALITY AS t (x, n)",
            ));
        }
    };
    // `t.a` in the array is t's column `a`, as `u.x` in the query is the element.
    let mut array = array.clone();
    if let TableFactor::Table { name, alias, .. } = &from.relation {
        let qualifier = match alias {
            Some(alias) => Some(alias.name.value.clone()),
            None => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.clone()),
        };
        if let Some(qualifier) = qualifier {
            let _ = visit_expressions_mut(&mut array, |e: &mut Expr| {
                if let Expr::CompoundIdentifier(ids) = e
                    && let [table, column] = ids.as_slice()
                    && table.value == qualifier
                {
                    *e = Expr::Identifier(column.clone());
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
    select.from = vec![from];
    super::nested::unqualify_by(select, &table);
    Ok(Some(Unnesting {
        array,
        element,
        outer,
        position,
    }))
}

/// `explode(a)`, `explode_outer(a)`, `posexplode(a)` or `posexplode_outer(a)`: its array,
/// whether it is outer and whether it adds positions.
fn explode_call(e: &Expr) -> Result<Option<(Expr, bool, bool)>, String> {
    let Some(name) = generator_name(e) else {
        return Ok(None);
    };
    if name == "inline" {
        return Err(unsupported(
            &format!("`{e}`"),
            "not yet; explode the array and select its structs' fields (col['name'])",
        ));
    }
    let outer = name.ends_with("_outer");
    let positions = name.starts_with("pos");
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let FunctionArguments::List(list) = &f.args else {
        return Err(format!("`{e}`: {name} takes one array"));
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] => {
            Ok(Some((array.clone(), outer, positions)))
        }
        _ => Err(format!("`{e}`: {name} takes one array")),
    }
}

/// `explode`, `explode_outer`, `posexplode` or `inline` when `e` calls it.
fn generator_name(e: &Expr) -> Option<String> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "explode" | "explode_outer" | "posexplode" | "posexplode_outer" | "inline"
    )
    .then_some(name)
}

/// A generator call inside `e` (not `e` itself).
fn nested_explode(e: &Expr) -> Option<Expr> {
    let mut found = None;
    let _ = visit_expressions(e, |inner: &Expr| {
        if !std::ptr::eq(inner, e) && generator_name(inner).is_some() {
            found = Some(inner.clone());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn is_true(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if v.value == Value::Boolean(true))
}
