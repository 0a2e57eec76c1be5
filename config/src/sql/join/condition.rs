//! The `ON` clause of a stream–stream join (and an inner join's time bounds in `WHERE`):
//! its keys, and its bounds on the two sides' event times.

use crate::sql::error::SqlError;
use std::collections::BTreeSet;

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, SelectItem, visit_expressions};

use super::{Side, all_of, conjuncts, not_an_event_time, owner};
use crate::sql::query::unsupported;
use crate::sql::window::interval;

/// The keys and time bounds of an `ON` clause: `right.t - left.t` lies in `[min, max]`
/// (microseconds).
#[derive(Default)]
pub(super) struct Condition {
    pub(super) keys: Vec<(String, String)>,
    pub(super) min: Option<i64>,
    pub(super) max: Option<i64>,
    /// The event-time column of each side that the bounds use.
    pub(super) time: [Option<String>; 2],
    /// A timestamp column of the left side, other than its event time, that bounds the
    /// right side's event time from above: `right.t - left.until <= until_max`.
    pub(super) until: Option<String>,
    pub(super) until_max: Option<i64>,
}

/// A column of one side plus a constant (microseconds): `b.ts - INTERVAL '5' MINUTE`.
#[derive(Clone)]
struct Term {
    side: usize,
    column: String,
    offset: i64,
}

impl Condition {
    pub(super) fn add(&mut self, e: &Expr, sides: &[Side; 2]) -> Result<(), SqlError> {
        let what = || {
            unsupported(
                &format!("ON ... {e}"),
                "the ON clause of a stream–stream join holds equalities of the sides' columns \
                 and bounds on their event times; put other conditions in WHERE",
            )
        };
        match e {
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                let terms = |a: &Expr, b: &Expr| Ok((term(a, sides)?, term(b, sides)?));
                let (t, lo) = terms(expr, low).map_err(|_: SqlError| what())?;
                self.bound(t, &BinaryOperator::GtEq, lo, sides)?;
                let (t, hi) = terms(expr, high).map_err(|_: SqlError| what())?;
                self.bound(t, &BinaryOperator::LtEq, hi, sides)
            }
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::Eq => {
                    let (a, b) = (term(left, sides)?, term(right, sides)?);
                    if a.side == b.side || a.offset != 0 || b.offset != 0 {
                        return Err(what());
                    }
                    let (l, r) = if a.side == 0 { (a, b) } else { (b, a) };
                    // Equal event times (a window join) bound the join too.
                    if self.may_bound(&l, sides) && self.may_bound(&r, sides) {
                        self.bound(l.clone(), &BinaryOperator::GtEq, r.clone(), sides)?;
                        self.bound(l.clone(), &BinaryOperator::LtEq, r.clone(), sides)?;
                    }
                    self.keys.push((l.column, r.column));
                    Ok(())
                }
                BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq => match (term(left, sides), term(right, sides)) {
                    (Ok(a), Ok(b)) => self.bound(a, op, b, sides),
                    _ => Err(what()),
                },
                _ => Err(what()),
            },
            _ => Err(what()),
        }
    }

    /// Adds the bound `a op b` between the sides' event times.
    fn bound(
        &mut self,
        a: Term,
        op: &BinaryOperator,
        b: Term,
        sides: &[Side; 2],
    ) -> Result<(), SqlError> {
        if self.until_bound(&a, op, &b, sides)? {
            return Ok(());
        }
        for t in [&a, &b] {
            let side = &sides[t.side];
            if !side.times.contains(&t.column) {
                return Err(not_an_event_time(side, &t.column));
            }
            match &self.time[t.side] {
                Some(time) if *time != t.column => {
                    return Err(SqlError::Invalid(format!(
                        "the join bounds both `{}.{time}` and `{}.{}`; bound one event time \
                         of each side",
                        side.alias, side.alias, t.column
                    )));
                }
                _ => {}
            }
        }
        if a.side == b.side {
            return Err(SqlError::Invalid(format!(
                "a bound compares `{}` with itself; compare the two sides' event times",
                sides[a.side].alias
            )));
        }
        for t in [&a, &b] {
            self.time[t.side] = Some(t.column.clone());
        }
        // a.t + a.offset OP b.t + b.offset, as right.t - left.t OP' k.
        let (op, k) = if a.side == 1 {
            (op.clone(), b.offset - a.offset)
        } else {
            (flipped(op), a.offset - b.offset)
        };
        match op {
            BinaryOperator::GtEq => self.min = Some(self.min.map_or(k, |m| m.max(k))),
            BinaryOperator::Gt => self.min = Some(self.min.map_or(k + 1, |m| m.max(k + 1))),
            BinaryOperator::LtEq => self.max = Some(self.max.map_or(k, |m| m.min(k))),
            _ => self.max = Some(self.max.map_or(k - 1, |m| m.min(k - 1))),
        }
        Ok(())
    }

    /// Adds `a op b` when it bounds the right side's event time from above by a timestamp
    /// column of the left side that is not its event time (Nexmark q4's `b.date_time
    /// BETWEEN a.date_time AND a.expires`); returns whether it did.
    fn until_bound(
        &mut self,
        a: &Term,
        op: &BinaryOperator,
        b: &Term,
        sides: &[Side; 2],
    ) -> Result<bool, SqlError> {
        // As `right op left`.
        let (right, op, left) = match (a.side, b.side) {
            (1, 0) => (a, op.clone(), b),
            (0, 1) => (b, flipped(op), a),
            _ => return Ok(false),
        };
        if !is_until(left, right, sides) {
            return Ok(false);
        }
        let [left_side, right_side] = sides;
        // right.t + r.offset op left.u + l.offset, as right.t - left.u op k.
        let k = left.offset - right.offset;
        let k = match op {
            BinaryOperator::LtEq => k,
            BinaryOperator::Lt => k - 1,
            _ => {
                return Err(unsupported(
                    &format!(
                        "a lower bound on `{}.{}` by `{}.{}`",
                        right_side.alias, right.column, left_side.alias, left.column
                    ),
                    &format!(
                        "only the upper bound may use a column of `{}` other than its event \
                         time `{}`: b.ts BETWEEN a.ts AND a.expires",
                        left_side.alias,
                        left_side.times.first().map_or("", String::as_str)
                    ),
                ));
            }
        };
        if let Some(time) = &self.time[1]
            && *time != right.column
        {
            return Err(SqlError::Invalid(format!(
                "the join bounds both `{}.{time}` and `{}.{}`; bound one event time of each side",
                right_side.alias, right_side.alias, right.column
            )));
        }
        if let Some(until) = &self.until
            && *until != left.column
        {
            return Err(SqlError::Invalid(format!(
                "the join bounds `{}.{}` above by both `{}.{until}` and `{}.{}`; bound it once",
                right_side.alias, right.column, left_side.alias, left_side.alias, left.column
            )));
        }
        self.time[1] = Some(right.column.clone());
        self.until = Some(left.column.clone());
        self.until_max = Some(self.until_max.map_or(k, |m| m.min(k)));
        Ok(true)
    }

    /// The columns of each side that the join and the query read: its keys, its event
    /// time, and the columns `items`, `selection` and `group_by` name; `None` for a side
    /// whose every column is read (`*`).
    pub(super) fn used(
        &self,
        items: &[SelectItem],
        selection: Option<&Expr>,
        group_by: &[Expr],
        sides: &[Side; 2],
    ) -> [Option<BTreeSet<String>>; 2] {
        let mut used: [BTreeSet<String>; 2] = Default::default();
        used[0].extend(self.until.clone());
        for (l, r) in &self.keys {
            used[0].insert(l.clone());
            used[1].insert(r.clone());
        }
        for (side, time) in self.time.iter().enumerate() {
            used[side].extend(time.clone());
        }
        let mut note = |e: &Expr| {
            match e {
                Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                    if let Some(side) = sides.iter().position(|s| s.alias == ids[0].value) {
                        used[side].insert(ids[1].value.clone());
                    }
                }
                Expr::Identifier(id) => {
                    if let Ok(Some(side)) = owner(&id.value, sides) {
                        used[side].insert(id.value.clone());
                    }
                }
                _ => {}
            }
            std::ops::ControlFlow::<()>::Continue(())
        };
        for item in items {
            let _ = visit_expressions(item, &mut note);
        }
        if let Some(selection) = selection {
            let _ = visit_expressions(selection, &mut note);
        }
        for e in group_by {
            let _ = visit_expressions(e, &mut note);
        }
        let everything = items.iter().any(|item| {
            matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        });
        used.map(|u| (!everything).then_some(u))
    }

    /// Whether `t` may be the event time of its side's bounds.
    fn may_bound(&self, t: &Term, sides: &[Side; 2]) -> bool {
        sides[t.side].times.contains(&t.column)
            && self.time[t.side].as_ref().is_none_or(|c| *c == t.column)
    }

    /// Adds the conjuncts of `selection` that bound the two sides' event times (an inner
    /// join's `WHERE`, where Flink's Nexmark q7 bounds them); returns the rest.
    pub(super) fn take_bounds(
        &mut self,
        selection: Option<Expr>,
        sides: &[Side; 2],
    ) -> Result<Option<Expr>, SqlError> {
        self.take(selection, sides, Self::is_bound)
    }

    /// Adds the conjuncts of `selection` that are equalities of a column of each side
    /// (the keys of a comma join, `FROM a, b WHERE a.id = b.id`); returns the rest.
    pub(super) fn take_keys(
        &mut self,
        selection: Option<Expr>,
        sides: &[Side; 2],
    ) -> Result<Option<Expr>, SqlError> {
        self.take(selection, sides, |_, e, sides| match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => matches!(
                (term(left, sides), term(right, sides)),
                (Ok(a), Ok(b)) if a.side != b.side && a.offset == 0 && b.offset == 0
            ),
            _ => false,
        })
    }

    /// Adds the conjuncts of `selection` that `wanted` picks; returns the rest.
    fn take(
        &mut self,
        selection: Option<Expr>,
        sides: &[Side; 2],
        wanted: impl Fn(&Self, &Expr, &[Side; 2]) -> bool,
    ) -> Result<Option<Expr>, SqlError> {
        let Some(selection) = selection else {
            return Ok(None);
        };
        let mut rest = Vec::new();
        for conjunct in conjuncts(&selection) {
            if wanted(self, conjunct, sides) {
                self.add(conjunct, sides)?;
            } else {
                rest.push(conjunct.clone());
            }
        }
        Ok(all_of(rest))
    }

    /// Whether `e` compares an event time of each side (`BETWEEN`, `<`, `<=`, `>`, `>=`),
    /// or bounds the right side's event time above by another timestamp column of the left.
    fn is_bound(&self, e: &Expr, sides: &[Side; 2]) -> bool {
        let times = |a: &Expr, b: &Expr| match (term(a, sides), term(b, sides)) {
            (Ok(a), Ok(b)) => {
                a.side != b.side
                    && ((self.may_bound(&a, sides) && self.may_bound(&b, sides))
                        || is_until(&a, &b, sides)
                        || is_until(&b, &a, sides))
            }
            _ => false,
        };
        match e {
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => times(expr, low) && times(expr, high),
            Expr::BinaryOp { left, op, right } => {
                matches!(
                    op,
                    BinaryOperator::Gt
                        | BinaryOperator::GtEq
                        | BinaryOperator::Lt
                        | BinaryOperator::LtEq
                ) && times(left, right)
            }
            _ => false,
        }
    }
}

/// `a op b` as `b op' a`: a comparison the other way round (`=` stays `=`).
pub(in crate::sql) fn flipped(op: &BinaryOperator) -> BinaryOperator {
    match op {
        BinaryOperator::Gt => BinaryOperator::Lt,
        BinaryOperator::GtEq => BinaryOperator::LtEq,
        BinaryOperator::Lt => BinaryOperator::Gt,
        BinaryOperator::LtEq => BinaryOperator::GtEq,
        other => other.clone(),
    }
}

/// What a conjunct of `ON` is to the join.
pub(super) enum Conjunct {
    /// A key or a bound: [`Condition::add`] takes it, or says what is wrong with it.
    Condition,
    /// An equality of an expression of each side's columns, not both plain columns: a key
    /// computed before the join, `(left's, right's)`.
    KeyExpressions(Box<Expr>, Box<Expr>),
    /// A condition on the columns that reads no event time: for an inner join, a filter
    /// of the joined rows.
    Other,
}

/// What `e`, a conjunct of `ON`, is to the join.
///
/// # Errors
/// A column of neither side, or of both without a qualifier.
pub(super) fn classify(e: &Expr, sides: &[Side; 2]) -> Result<Conjunct, SqlError> {
    if let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = e
    {
        if term(left, sides).is_ok() && term(right, sides).is_ok() {
            return Ok(Conjunct::Condition);
        }
        let (l, r) = (read_sides(left, sides)?, read_sides(right, sides)?);
        match (l.as_slice(), r.as_slice()) {
            ([0], [1]) => return Ok(Conjunct::KeyExpressions(left.clone(), right.clone())),
            ([1], [0]) => return Ok(Conjunct::KeyExpressions(right.clone(), left.clone())),
            _ => {}
        }
    }
    let mut times = false;
    let mut failure = None;
    let _ = visit_expressions(e, |e| {
        match column_of(e, sides) {
            Ok(Some((side, column))) => times |= sides[side].times.contains(&column),
            Ok(None) => {}
            Err(message) => failure = Some(message),
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if let Some(message) = failure {
        return Err(message);
    }
    Ok(if times {
        Conjunct::Condition
    } else {
        Conjunct::Other
    })
}

/// The sides whose columns `e` reads, in order.
pub(super) fn read_sides(e: &Expr, sides: &[Side; 2]) -> Result<Vec<usize>, SqlError> {
    let mut read = BTreeSet::new();
    let mut failure = None;
    let _ = visit_expressions(e, |e| {
        match column_of(e, sides) {
            Ok(Some((side, _))) => {
                read.insert(side);
            }
            Ok(None) => {}
            Err(message) => failure = Some(message),
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    failure.map_or_else(|| Ok(read.into_iter().collect()), Err)
}

/// The side and column that `e` names, if it is a column: `a.col`, or `col` of one side.
pub(super) fn column_of(e: &Expr, sides: &[Side; 2]) -> Result<Option<(usize, String)>, SqlError> {
    match e {
        Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
            let side = sides
                .iter()
                .position(|s| s.alias == ids[0].value)
                .ok_or_else(|| {
                    SqlError::Invalid(format!("`{e}`: no side of the join goes by `{}`", ids[0]))
                })?;
            Ok(Some((side, ids[1].value.clone())))
        }
        Expr::Identifier(id) => Ok(owner(&id.value, sides)?.map(|side| (side, id.value.clone()))),
        _ => Ok(None),
    }
}

/// Whether `left` is a column of the left side other than its event time and `right` the
/// right side's event time: a bound that [`Condition::until_bound`] may take.
fn is_until(left: &Term, right: &Term, sides: &[Side; 2]) -> bool {
    let [left_side, right_side] = sides;
    left.side == 0
        && right.side == 1
        && !left_side.windowed
        && !left_side.times.contains(&left.column)
        && left_side.columns.contains(&left.column)
        && right_side.times.contains(&right.column)
}

/// `e` as a column of one side plus a constant interval.
fn term(e: &Expr, sides: &[Side; 2]) -> Result<Term, SqlError> {
    match e {
        Expr::Nested(inner) => term(inner, sides),
        Expr::BinaryOp { left, op, right }
            if matches!(op, BinaryOperator::Plus | BinaryOperator::Minus) =>
        {
            let mut t = term(left, sides)?;
            let d = interval(&right.to_string())?;
            let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            t.offset += if *op == BinaryOperator::Plus {
                micros
            } else {
                -micros
            };
            Ok(t)
        }
        Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
            let side = sides
                .iter()
                .position(|s| s.alias == ids[0].value)
                .ok_or_else(|| {
                    SqlError::Invalid(format!("`{e}`: no side of the join goes by `{}`", ids[0]))
                })?;
            Ok(Term {
                side,
                column: ids[1].value.clone(),
                offset: 0,
            })
        }
        Expr::Identifier(id) => {
            let side = owner(&id.value, sides)?.ok_or_else(|| {
                SqlError::Invalid(format!("`{id}` is a column of neither side of the join"))
            })?;
            Ok(Term {
                side,
                column: id.value.clone(),
                offset: 0,
            })
        }
        other => Err(SqlError::Invalid(format!(
            "`{other}`: a column of one side (`a.col`), or its event time plus or minus an \
             INTERVAL"
        ))),
    }
}
