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
//! `UNNEST(a) WITH ORDINALITY AS t (x, n)` adds it from 1 as `n`. Spark's `inline` (and
//! `inline_outer`) of an array of structs gives their fields as columns, named as in the
//! struct (its column's declared type names them), as does Flink's `UNNEST(a) AS t (sku,
//! qty)` with a name per field. An array that is not a column
//! is computed first, in a projection of its own. Spark's rules hold: one `explode` per
//! select list, not inside an expression, and not beside an aggregate (explode in a
//! subquery, and aggregate its rows).

use crate::sql::error::SqlError;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinConstraint, JoinOperator,
    Select, SelectItem, TableFactor, Value, visit_expressions, visit_expressions_mut,
};
use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::unnest::{Position, UnnestSpec};

use super::ddl::SourceTable;
use super::query::unsupported;

/// An unnest to add after a query's rows: of `array` (a column, or an expression computed
/// first), into the column `element`.
#[derive(Clone, Debug)]
pub(super) struct Unnesting {
    array: Expr,
    element: String,
    outer: bool,
    position: Option<Position>,
    /// The columns its struct elements' fields become, in place of `element`.
    fields: Option<Vec<String>>,
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
                fields: self.fields.clone(),
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

/// The `explode` (or `inline`) of `select`'s select list, if it has one, with the list
/// rewritten to read its element's column (the fields' columns); `aggregated` when the
/// query aggregates; `struct_fields` the field names of the structs in an expression's
/// arrays, when they are known (a source table's column declared so, or an expression of
/// its columns typed so).
///
/// # Errors
/// Two explodes, an explode inside an expression or beside an aggregate, an `inline` of
/// what is no declared array of structs.
pub(super) fn from_select_list(
    select: &mut Select,
    aggregated: bool,
    struct_fields: &dyn Fn(&Expr) -> Option<Vec<String>>,
) -> Result<Option<Unnesting>, SqlError> {
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
        if let Some(Generator {
            array,
            outer,
            positions,
            inline,
        }) = explode_call(expr)?
        {
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
            let fields = if inline {
                Some(inline_fields(expr, &array, alias.is_some(), struct_fields)?)
            } else {
                None
            };
            let element = alias.map_or_else(|| "col".to_owned(), |a| a.value);
            let columns = fields.clone().unwrap_or_else(|| vec![element.clone()]);
            *item = SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(&columns[0])));
            explode_item = Some((i, columns, position.as_ref().map(|p| p.name.clone())));
            found = Some(Unnesting {
                array,
                element,
                outer,
                position,
                fields,
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
        (true, Some((i, _, _))) => {
            select.projection.remove(i);
        }
        (false, Some((i, columns, position))) => {
            let named = |name: &str| SelectItem::UnnamedExpr(Expr::Identifier(Ident::new(name)));
            // An inline's other fields after its first.
            for (j, column) in columns.iter().enumerate().skip(1) {
                select.projection.insert(i + j, named(column));
            }
            if let Some(position) = position {
                select.projection.insert(i, named(&position));
            }
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
pub(super) fn from_clause(select: &mut Select) -> Result<Option<Unnesting>, SqlError> {
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
    // The last name of `WITH ORDINALITY` is the position's; several others name the
    // fields of struct elements (Flink's unnest of an array of rows).
    let (names, position) = match (names.split_last(), with_ordinality) {
        (Some((n, names)), true) if !names.is_empty() => (
            names.to_vec(),
            Some(Position {
                name: n.clone(),
                first: 1,
            }),
        ),
        (_, true) => {
            return Err(unsupported(
                &format!("UNNEST({array}) WITH ORDINALITY without two names"),
                "name the element and its position: UNNEST(a) WITH ORDINALITY AS t (x, n)",
            ));
        }
        (_, false) if names.is_empty() => {
            return Err(unsupported(
                &format!("UNNEST({array}) without a name for its element"),
                "name it: CROSS JOIN UNNEST(a) AS t (x), or name the fields of an array of \
                 rows: AS t (sku, qty)",
            ));
        }
        (_, false) => (names, None),
    };
    let (element, fields) = match names.as_slice() {
        [element] => (element.clone(), None),
        _ => (String::new(), Some(names)),
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
        fields,
    }))
}

/// The field names of the structs in the arrays of `array`, an expression of `source`'s
/// declared columns (one of them, or `from_json(payload, 'array<struct<a:int,b:string>>')`),
/// as it is typed against them.
pub(super) fn source_struct_fields(source: &SourceTable, array: &Expr) -> Option<Vec<String>> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let fields: Vec<Field> = source
        .columns
        .iter()
        .filter_map(|(name, declared, nullable)| {
            let field_type = crate::FieldType::try_from(declared.clone()).ok()?;
            Some(Field::new(name, field_type.arrow_type(), *nullable))
        })
        .collect();
    let schema = std::sync::Arc::new(Schema::new(fields));
    let typed = sluice_engine::expr::SqlExpr::compile(&array.to_string(), &schema).ok()?;
    match typed.data_type() {
        DataType::List(item) | DataType::LargeList(item) => match item.data_type() {
            DataType::Struct(fields) => Some(fields.iter().map(|f| f.name().clone()).collect()),
            _ => None,
        },
        _ => None,
    }
}

/// The field names of the structs an `inline` of `array` gives as columns.
fn inline_fields(
    call: &Expr,
    array: &Expr,
    aliased: bool,
    struct_fields: &dyn Fn(&Expr) -> Option<Vec<String>>,
) -> Result<Vec<String>, SqlError> {
    if aliased {
        return Err(unsupported(
            &format!("`{call}` with a name"),
            "inline gives its structs' fields as columns named as in the struct; rename them \
             in a query over it",
        ));
    }
    struct_fields(array).ok_or_else(|| {
        unsupported(
            &format!("`{call}` of what is no array of structs of a source table's columns"),
            "inline reads an ARRAY<STRUCT<...>> column of the source table read directly, \
             or an expression of its columns of that type; elsewhere name the fields: CROSS \
             JOIN UNNEST(a) AS t (f1, f2, ...)",
        )
    })
}

/// A generator call of a select list.
struct Generator {
    array: Expr,
    /// `_outer`: a row without elements kept once.
    outer: bool,
    /// `posexplode`: the elements' positions added.
    positions: bool,
    /// `inline`: the struct elements' fields as columns.
    inline: bool,
}

/// `explode(a)`, `explode_outer(a)`, `posexplode(a)`, `posexplode_outer(a)`, `inline(a)`
/// or `inline_outer(a)`.
fn explode_call(e: &Expr) -> Result<Option<Generator>, SqlError> {
    let Some(name) = generator_name(e) else {
        return Ok(None);
    };
    let outer = name.ends_with("_outer");
    let positions = name.starts_with("pos");
    let inline = name.starts_with("inline");
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::Invalid(format!("`{e}`: {name} takes one array")));
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] => Ok(Some(Generator {
            array: array.clone(),
            outer,
            positions,
            inline,
        })),
        _ => Err(SqlError::Invalid(format!("`{e}`: {name} takes one array"))),
    }
}

/// `explode`, `explode_outer`, `posexplode`, `inline` or their `_outer` forms when `e`
/// calls it.
fn generator_name(e: &Expr) -> Option<String> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "explode" | "explode_outer" | "posexplode" | "posexplode_outer" | "inline" | "inline_outer"
    )
    .then_some(name)
}

/// Whether `e` calls a generator (`explode`, `inline`, ...).
pub(super) fn is_generator(e: &Expr) -> bool {
    generator_name(e).is_some()
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
