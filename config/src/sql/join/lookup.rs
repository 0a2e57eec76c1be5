//! A stream joined with a lookup table, Spark's stream–static join (and Flink's lookup
//! join, whose `FOR SYSTEM_TIME AS OF` [`super::super::system_time`] takes out):
//!
//! ```sql
//! CREATE TABLE customers (id BIGINT, tier STRING)
//!   WITH ('connector' = 'delta', 'path' = 's3://lake/customers', 'lookup' = 'broadcast');
//! SELECT o.id, o.amount, c.tier
//! FROM orders AS o LEFT JOIN customers AS c ON o.customer_id = c.id
//! ```
//!
//! lowered to the plan's table join ([`sluice_engine::join`]): each row of the stream
//! side meets the table's rows of its key, `INNER` (a row per match), `LEFT` (also the
//! rows without one, with nulls) or `LEFT ANTI` (only those). It keeps no state and
//! drops no row as late, so what follows it (a window, say) has the stream side's event
//! time and watermark. The table is read whole at start (`broadcast`, on every worker;
//! `keyed`, spread by key), or each epoch at its newest Delta version (`follow`).
//!
//! `ON` holds equalities of a stream column and a table column, its keys, and may hold
//! conditions on the table's columns alone (`AND c.active`), which choose the table rows
//! that join: a `LEFT` join gives nulls where only other rows match, a `LEFT ANTI` join
//! keeps the row. In an `INNER` join, any other condition (on the stream's columns, or
//! on both sides') filters the joined rows, as if in `WHERE`. In a `LEFT` or `LEFT ANTI`
//! join, conditions on the stream's columns alone (`AND o.amount > 100`) choose the stream
//! rows that may match: the others match no table row (their keys are joined as nulls,
//! from hidden columns), so a `LEFT` join keeps them with nulls and a `LEFT ANTI` join
//! keeps them; a condition on both sides' columns is refused. The table's other columns
//! come after the stream's, named as in the table; a query reads them as
//! `c.tier` or `tier`. A table column named like a stream column is read qualified
//! (`c.name`): it is added under another name (`c_name`), and selected keeps its own. The
//! table's keys are read as the stream's (an `INNER` join's are equal; a `LEFT` join's
//! are null where no row matched, and refused).

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, Select, SelectItem, TableFactor,
    TableWithJoins, visit_expressions_mut,
};
use std::collections::BTreeMap;

use sluice_engine::join::{JoinKind, JoinSpec, JoinStrategy};
use sluice_engine::plan::{OperatorKind, PlanBuilder};

use super::{Side, conjuncts, side};
use crate::sql::ddl::{Lookup, SourceTable};
use crate::sql::error::SqlError;
use crate::sql::query::{quoted, unsupported};

/// The lookup table `from` joins, if its second table is one.
pub(in crate::sql) fn table<'a>(
    from: &[TableWithJoins],
    sources: &'a [SourceTable],
) -> Option<&'a SourceTable> {
    let relation = match from {
        [one] => &one.joins.first()?.relation,
        [_, second] => &second.relation,
        _ => return None,
    };
    let TableFactor::Table { name, .. } = relation else {
        return None;
    };
    let name = name.to_string();
    sources
        .iter()
        .find(|s| s.name == name && s.lookup.is_some())
}

/// A lowered lookup join.
pub(in crate::sql) struct Lowered<'a> {
    pub(in crate::sql) plan: PlanBuilder,
    /// The stream of joined rows.
    pub(in crate::sql) stream: String,
    /// The stream side's source table.
    pub(in crate::sql) source: &'a SourceTable,
}

/// Lowers `select`'s `FROM`, a stream joined with the lookup table `table`, in the query
/// writing `target`, and rewrites `select`'s names to the joined rows' (`o.x` and `c.y`
/// to `x` and `y`).
///
/// # Errors
/// A join of another kind or shape, a condition of `ON` that is no key equality, or a
/// name the joined rows cannot give.
pub(in crate::sql) fn lower<'a>(
    plan: PlanBuilder,
    target: &str,
    select: &mut Select,
    table: &'a SourceTable,
    sources: &'a [SourceTable],
) -> Result<Lowered<'a>, SqlError> {
    let [from] = select.from.as_slice() else {
        return Err(unsupported(
            &format!("`FROM ..., {}` (a lookup table)", table.name),
            "join a lookup table with ON: FROM s JOIN lookup ON s.k = lookup.k",
        ));
    };
    let [join] = from.joins.as_slice() else {
        return Err(unsupported("several JOINs", "join two tables per query"));
    };
    let (kind, on) = match &join.join_operator {
        JoinOperator::Join(JoinConstraint::On(on))
        | JoinOperator::Inner(JoinConstraint::On(on)) => (JoinKind::Inner, on),
        JoinOperator::Left(JoinConstraint::On(on))
        | JoinOperator::LeftOuter(JoinConstraint::On(on)) => (JoinKind::Left, on),
        JoinOperator::LeftAnti(JoinConstraint::On(on)) => (JoinKind::LeftAnti, on),
        other => {
            return Err(unsupported(
                format!("{other:?}")
                    .split('(')
                    .next()
                    .unwrap_or("this join"),
                "a lookup table joins with INNER, LEFT [OUTER] or LEFT ANTI JOIN ... ON keys",
            ));
        }
    };
    let TableFactor::Table { alias, .. } = &join.relation else {
        unreachable!("a lookup table is named");
    };
    let table_alias = alias
        .as_ref()
        .map_or_else(|| table.name.clone(), |a| a.name.value.clone());
    let (plan, stream_side) = side(plan, target, &from.relation, sources)?;
    if stream_side.windowed {
        return Err(unsupported(
            &format!(
                "a lookup join of the windowed rows of `{}`",
                stream_side.alias
            ),
            "join a source table's rows, or a filter and projection of them",
        ));
    }
    if stream_side.alias == table_alias {
        return Err(SqlError::Invalid(format!(
            "both sides of the join go by `{table_alias}`; give one an alias (`{} AS c`)",
            table.name
        )));
    }
    let table_columns: Vec<String> = table.column_names().map(str::to_owned).collect();
    let names = Names {
        stream: &stream_side,
        table: &table_alias,
        table_columns: &table_columns,
    };
    let mut keys = Vec::new();
    let mut table_keys = Vec::new();
    let mut table_filter = Vec::new();
    let mut stream_filter = Vec::new();
    for condition in conjuncts(on) {
        match names.condition(condition, kind)? {
            Condition::Key(stream_key, table_key) => {
                keys.push(stream_key);
                table_keys.push(table_key);
            }
            Condition::Table(text) => table_filter.push(text),
            Condition::Stream(text) => stream_filter.push(text),
            Condition::Rows(e) => {
                select.selection = Some(match select.selection.take() {
                    Some(w) => Expr::BinaryOp {
                        left: Box::new(Expr::Nested(Box::new(w))),
                        op: BinaryOperator::And,
                        right: Box::new(Expr::Nested(e)),
                    },
                    None => *e,
                });
            }
        }
    }
    if keys.is_empty() {
        return Err(unsupported(
            &format!("`ON {on}` of a lookup join, without a key"),
            "the ON of a lookup join equates a stream column and a table column (o.k = c.k)",
        ));
    }
    let mut added: Vec<String> = table_columns
        .iter()
        .filter(|c| !table_keys.contains(c) && !stream_side.columns.contains(c))
        .cloned()
        .collect();
    let renamed = names.rewrite(select, kind, &keys, &table_keys, &added)?;
    added.extend(renamed.keys().cloned());
    let (strategy, follow) = match table.lookup {
        Some(Lookup::Keyed) => (JoinStrategy::Keyed, false),
        Some(Lookup::Follow) => (JoinStrategy::Keyed, true),
        _ => (JoinStrategy::Broadcast, false),
    };
    // A stream row its ON's stream conditions do not hold for matches no table row: its
    // keys are joined as nulls, from hidden columns dropped after the join.
    let (mut plan, mut input) = (plan, stream_side.stream.clone());
    let hidden_keys: Vec<String> = if stream_filter.is_empty() {
        Vec::new()
    } else {
        let condition = all_of_sql(&stream_filter);
        let columns: Vec<(String, String)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    format!("__{table_alias}_key{i}"),
                    format!("CASE WHEN {condition} THEN {} END", quoted(k)),
                )
            })
            .collect();
        let name = format!("{target}/{table_alias}-on");
        plan = plan.operator(
            &name,
            &input,
            OperatorKind::Project {
                columns: columns.clone(),
                keep_input: true,
                drop: Vec::new(),
                keep_coordinates: false,
            },
        );
        input = name;
        columns.into_iter().map(|(c, _)| c).collect()
    };
    let join_keys = if hidden_keys.is_empty() {
        keys
    } else {
        hidden_keys.clone()
    };
    let spec = JoinSpec {
        // The table is loaded (or followed) under its own name, once per job.
        name: table.name.clone(),
        table_keys: if table_keys == join_keys {
            Vec::new()
        } else {
            table_keys
        },
        keys: join_keys,
        kind,
        columns: if kind == JoinKind::LeftAnti {
            Vec::new()
        } else {
            added
        },
        strategy,
        follow,
        // `conjuncts` takes the parentheses off each condition.
        renamed,
        table_filter: (!table_filter.is_empty()).then(|| all_of_sql(&table_filter)),
    };
    let name = format!("{target}/{table_alias}");
    plan = plan.join(&name, &input, spec);
    if hidden_keys.is_empty() {
        return Ok(Lowered {
            plan,
            stream: name,
            source: stream_side.table,
        });
    }
    let dropped = format!("{target}/{table_alias}-joined");
    Ok(Lowered {
        plan: plan.operator(
            &dropped,
            &name,
            OperatorKind::Project {
                columns: Vec::new(),
                keep_input: true,
                drop: hidden_keys,
                keep_coordinates: false,
            },
        ),
        stream: dropped,
        source: stream_side.table,
    })
}

/// SQL conditions, all of which must hold (`conjuncts` took each one's parentheses off).
fn all_of_sql(conditions: &[String]) -> String {
    match conditions {
        [one] => one.clone(),
        all => all
            .iter()
            .map(|c| format!("({c})"))
            .collect::<Vec<_>>()
            .join(" AND "),
    }
}

/// What a condition of a lookup join's `ON` is.
enum Condition {
    /// An equality of a stream column and a table column: `(stream key, table key)`.
    Key(String, String),
    /// A condition on the table's columns alone, as SQL over them (unqualified).
    Table(String),
    /// Any other condition of an `INNER` join, on the joined rows.
    Rows(Box<Expr>),
    /// A condition on the stream's columns alone of a `LEFT` or `LEFT ANTI` join, as SQL
    /// over them (unqualified): a row it does not hold for matches no table row.
    Stream(String),
}

/// How a lookup join's names resolve.
struct Names<'a> {
    stream: &'a Side<'a>,
    table: &'a str,
    table_columns: &'a [String],
}

impl Names<'_> {
    /// The side a column reference names (`0` the stream, `1` the table) and its column.
    fn owner(&self, e: &Expr) -> Result<(usize, String), SqlError> {
        let (qualifier, column) = match e {
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                (Some(ids[0].value.as_str()), ids[1].value.clone())
            }
            Expr::Identifier(id) => (None, id.value.clone()),
            _ => return Err(SqlError::Invalid(format!("`{e}` is not a column"))),
        };
        let in_stream = self.stream.columns.contains(&column);
        let in_table = self.table_columns.contains(&column);
        match qualifier {
            Some(q) if q == self.stream.alias && in_stream => Ok((0, column)),
            Some(q) if q == self.table && in_table => Ok((1, column)),
            Some(q) if q == self.stream.alias || q == self.table => Err(SqlError::Invalid(
                format!("`{e}`: `{q}` has no column `{column}`"),
            )),
            Some(q) => Err(SqlError::Invalid(format!(
                "`{e}`: no side of the join goes by `{q}`"
            ))),
            None if in_stream && in_table => Err(SqlError::Invalid(format!(
                "`{column}` is a column of both sides: name it `{}.{column}` or `{}.{column}`",
                self.stream.alias, self.table
            ))),
            None if in_stream => Ok((0, column)),
            None if in_table => Ok((1, column)),
            None => Err(SqlError::Invalid(format!(
                "`{column}` is a column of neither side of the join"
            ))),
        }
    }

    /// What the `ON` condition `e` of a `kind` join is.
    fn condition(&self, e: &Expr, kind: JoinKind) -> Result<Condition, SqlError> {
        if let Ok((stream_key, table_key)) = self.key(e) {
            return Ok(Condition::Key(stream_key, table_key));
        }
        let mut sides = [false, false];
        let mut failure = None;
        let mut unqualified = e.clone();
        let _ = visit_expressions_mut(&mut unqualified, |x: &mut Expr| {
            let column = match x {
                Expr::Identifier(_) => true,
                Expr::CompoundIdentifier(ids) => ids.len() == 2,
                _ => false,
            };
            if column {
                match self.owner(x) {
                    Ok((side, name)) => {
                        sides[side] = true;
                        *x = Expr::Identifier(Ident::new(name));
                    }
                    Err(err) => {
                        failure = Some(err);
                        return std::ops::ControlFlow::Break(());
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        });
        if let Some(err) = failure {
            return Err(err);
        }
        match (sides, kind) {
            ([false, true], _) => Ok(Condition::Table(unqualified.to_string())),
            (_, JoinKind::Inner) => Ok(Condition::Rows(Box::new(e.clone()))),
            ([true, false], _) => Ok(Condition::Stream(unqualified.to_string())),
            _ => Err(unsupported(
                &format!("`{e}` in the ON of a {kind:?} lookup join"),
                "its ON holds key equalities (o.k = c.k) and conditions on one side's columns; \
                 a condition on both sides' would keep the rows no table row passes with \
                 nulls, which is not supported: select a CASE of it instead",
            )),
        }
    }

    /// The stream's and the table's key column of the `ON` condition `e`.
    fn key(&self, e: &Expr) -> Result<(String, String), SqlError> {
        let not_a_key = || {
            unsupported(
                &format!("`{e}` in the ON of a lookup join"),
                "its ON holds equalities of a stream column and a table column (AND ...); \
                 filter the joined rows in WHERE",
            )
        };
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = e
        else {
            return Err(not_a_key());
        };
        let (a, b) = (
            self.owner(left).map_err(|_| not_a_key())?,
            self.owner(right).map_err(|_| not_a_key())?,
        );
        match (a, b) {
            ((0, s), (1, t)) | ((1, t), (0, s)) => Ok((s, t)),
            _ => Err(not_a_key()),
        }
    }

    /// The name a table column named like a stream column is added under.
    fn hidden(&self, column: &str) -> Result<String, SqlError> {
        let taken =
            |name: &String| self.stream.columns.contains(name) || self.table_columns.contains(name);
        [
            format!("{}_{column}", self.table),
            format!("__{}_{column}", self.table),
        ]
        .into_iter()
        .find(|name| !taken(name))
        .ok_or_else(|| {
            SqlError::Invalid(format!(
                "`{}.{column}`: the names it could be added under are columns already",
                self.table
            ))
        })
    }

    /// Rewrites the names of `select` to the joined rows' columns: the stream's keep
    /// theirs, the table's `added` ones theirs, its keys read as the stream's (in an inner
    /// join only), and its other columns, named like stream columns, are added under
    /// other names (see [`Names::hidden`]): returned, by their name in the table.
    fn rewrite(
        &self,
        select: &mut Select,
        kind: JoinKind,
        keys: &[String],
        table_keys: &[String],
        added: &[String],
    ) -> Result<BTreeMap<String, String>, SqlError> {
        // A selected table key keeps its name (`SELECT c.tier` gives `tier`), read as the
        // stream's key; so does a table column added under another name.
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) = item
                && let Ok((1, column)) = self.owner(e)
                && !added.contains(&column)
            {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::new(column),
                };
            }
        }
        let mut failure = None;
        let mut renamed = BTreeMap::new();
        let mut rename = |e: &mut Expr| {
            if !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                return std::ops::ControlFlow::Continue(());
            }
            let (side, column) = match self.owner(e) {
                Ok(owned) => owned,
                // A name of both sides must say which.
                Err(err)
                    if matches!(e, Expr::Identifier(id)
                    if self.stream.columns.contains(&id.value)
                        && self.table_columns.contains(&id.value)) =>
                {
                    failure = Some(err);
                    return std::ops::ControlFlow::Break(());
                }
                // Not a column of the join (a struct field, say): left for what reads it.
                Err(_) => return std::ops::ControlFlow::Continue(()),
            };
            let name = if side == 0 {
                Ok(column)
            } else if let Some(i) = table_keys.iter().position(|k| *k == column) {
                if kind == JoinKind::Inner {
                    Ok(keys[i].clone())
                } else {
                    Err(unsupported(
                        &format!("`{e}`, a key of the lookup table in a {kind:?} join"),
                        &format!(
                            "it is null where no row matched; read the stream's key `{}.{}`",
                            self.stream.alias, keys[i]
                        ),
                    ))
                }
            } else if kind == JoinKind::LeftAnti {
                Err(SqlError::Invalid(format!(
                    "`{e}`: a LEFT ANTI join keeps the rows no table row matched, without the \
                     table's columns"
                )))
            } else if added.contains(&column) {
                Ok(column)
            } else if let Some(name) = renamed.get(&column) {
                Ok(String::clone(name))
            } else {
                self.hidden(&column).inspect(|name| {
                    renamed.insert(column, name.clone());
                })
            };
            match name {
                Ok(name) => {
                    *e = Expr::Identifier(Ident::new(name));
                    std::ops::ControlFlow::Continue(())
                }
                Err(err) => {
                    failure = Some(err);
                    std::ops::ControlFlow::Break(())
                }
            }
        };
        let _ = visit_expressions_mut(&mut select.projection, &mut rename);
        let _ = visit_expressions_mut(&mut select.selection, &mut rename);
        let _ = visit_expressions_mut(&mut select.group_by, &mut rename);
        let _ = visit_expressions_mut(&mut select.having, &mut rename);
        failure.map_or(Ok(renamed), Err)
    }
}
