//! What runs on each side before a stream join: the conditions of `ON` and `WHERE` on one
//! side's columns (filters, or the gates of a side an outer join keeps whole), the
//! computed keys, and the conditions on both sides that an outer join evaluates over its
//! pairs (see the [module docs](super)).

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{Expr, Ident, visit_expressions_mut};

use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::stream_join::StreamJoinKind;

use super::condition::{self, Condition, Conjunct, classify, column_of};
use super::{Side, all_of, conjuncts};

/// What runs on each side before the join, in this order: filters of its own columns
/// (from `ON`, then those pushed down from `WHERE`), then its computed keys.
#[derive(Default)]
pub(super) struct BeforeJoin {
    /// Conditions of `ON` on one side's columns.
    pub(super) on: [Vec<Expr>; 2],
    /// Conditions of `WHERE` on one side's columns.
    pub(super) pushed: [Vec<Expr>; 2],
    /// Key expressions `(column, SQL)`.
    pub(super) keys: [Vec<(String, String)>; 2],
    /// Conditions of an outer join's `ON` on both sides' columns, which the join
    /// evaluates over its candidate pairs.
    pub(super) pair: Vec<Expr>,
}

impl BeforeJoin {
    /// Each side's filter (`<target>/<alias>-on`, or `-where` with conditions of `WHERE`
    /// only) and key projection (`-keys`); a filtered side's watermark still follows all
    /// its rows, as at its source.
    pub(super) fn lower(
        self,
        mut plan: PlanBuilder,
        target: &str,
        sides: &mut [Side<'_>; 2],
    ) -> PlanBuilder {
        let BeforeJoin {
            on, pushed, keys, ..
        } = self;
        for ((side, on), pushed) in sides.iter_mut().zip(on).zip(pushed) {
            let clause = if on.is_empty() { "where" } else { "on" };
            let Some(predicate) = all_of(on.into_iter().chain(pushed).collect()) else {
                continue;
            };
            let name = format!("{target}/{}-{clause}", side.alias);
            plan = plan.filter(&name, &side.stream, &predicate.to_string());
            // A side's own watermark stream (a subquery's source rows) stays.
            side.watermark_from
                .get_or_insert_with(|| side.stream.clone());
            side.stream = name;
        }
        for (side, columns) in sides.iter_mut().zip(keys) {
            if columns.is_empty() {
                continue;
            }
            let name = format!("{target}/{}-keys", side.alias);
            side.columns.extend(columns.iter().map(|(c, _)| c.clone()));
            plan = plan.operator(
                &name,
                &side.stream,
                OperatorKind::Project {
                    columns,
                    keep_input: true,
                    drop: Vec::new(),
                    keep_coordinates: false,
                },
            );
            side.stream = name;
        }
        plan
    }
}

/// Takes the conjuncts of a join's `ON` clause into `condition` (keys and time bounds),
/// and returns what runs before the join: key expressions, and the conditions on one
/// side's columns, which filter that side first (either side of an inner join, the side
/// an outer join does not keep whole); an inner join's conditions on both sides join
/// `selection`.
pub(super) fn on_clause(
    on: &Expr,
    kind: StreamJoinKind,
    sides: &[Side<'_>; 2],
    condition: &mut Condition,
    selection: &mut Option<Expr>,
) -> Result<BeforeJoin, SqlError> {
    let mut before = BeforeJoin::default();
    let mut filters = Vec::new();
    let mut gates: [Vec<Expr>; 2] = Default::default();
    for conjunct in conjuncts(on) {
        match classify(conjunct, sides)? {
            Conjunct::Condition => condition.add(conjunct, sides)?,
            Conjunct::KeyExpressions(l, r) => {
                let i = condition.keys.len();
                let left_key = key_column(&l, sides, i, &mut before.keys[0]);
                let right_key = key_column(&r, sides, i, &mut before.keys[1]);
                condition.keys.push((left_key, right_key));
            }
            // A condition on one side's columns decides which of its rows may match
            // (for an outer join, on the side it does not keep whole).
            Conjunct::Other if let Some(side) = filtered_side(conjunct, sides, on_side(kind))? => {
                before.on[side].push(own_columns(conjunct, sides));
            }
            Conjunct::Other if kind == StreamJoinKind::Inner => {
                filters.push(conjunct.clone());
            }
            // A condition on the columns of a side the join keeps whole decides which of
            // its rows may match; those that fail it still come out, unmatched.
            Conjunct::Other if let Some(side) = filtered_side(conjunct, sides, kept(kind))? => {
                gates[side].push(own_columns(conjunct, sides));
            }
            // A condition on both sides' columns decides inside an outer join which
            // pairs match (a filter after it would also drop the unmatched rows it keeps).
            Conjunct::Other => before.pair.push(conjunct.clone()),
        }
    }
    for (side, gate) in gates.into_iter().enumerate() {
        if let Some(gate) = all_of(gate) {
            gate_keys(&gate, side, condition, &mut before.keys[side]);
        }
    }
    // An inner join's conditions on both sides filter the joined rows, as WHERE would.
    if !filters.is_empty() {
        filters.extend(selection.take());
        *selection = all_of(filters);
    }
    Ok(before)
}

/// The sides a condition of `ON` on one side's columns may filter before a join of
/// `kind`: either side of an inner join; the right of a LEFT join, the left of a RIGHT
/// join (the side whose rows only matter where they match).
fn on_side(kind: StreamJoinKind) -> &'static [usize] {
    match kind {
        StreamJoinKind::Inner | StreamJoinKind::LeftSemi => &[0, 1],
        StreamJoinKind::LeftOuter => &[1],
        StreamJoinKind::RightOuter => &[0],
        StreamJoinKind::FullOuter => &[],
    }
}

/// The sides an outer join of `kind` keeps whole: a condition of `ON` on one of their
/// columns gates its keys ([`gate_keys`]).
fn kept(kind: StreamJoinKind) -> &'static [usize] {
    match kind {
        StreamJoinKind::Inner | StreamJoinKind::LeftSemi => &[],
        StreamJoinKind::LeftOuter => &[0],
        StreamJoinKind::RightOuter => &[1],
        StreamJoinKind::FullOuter => &[0, 1],
    }
}

/// Makes each join key of `side` null where `gate` (a condition of `ON` on that side's own
/// columns) does not hold: `CASE WHEN gate THEN key END`, computed before the join as
/// `__key<i>`. A row with a null key matches nothing and is held apart, so an outer join
/// emits it once, with nulls for the other side, when the watermark passes it: SQL's
/// outer join of a row that fails its `ON`.
fn gate_keys(
    gate: &Expr,
    side: usize,
    condition: &mut Condition,
    computed: &mut Vec<(String, String)>,
) {
    for (i, key) in condition.keys.iter_mut().enumerate() {
        let column = if side == 0 { &mut key.0 } else { &mut key.1 };
        match computed.iter_mut().find(|(name, _)| name == column) {
            Some((_, sql)) => *sql = format!("CASE WHEN {gate} THEN {sql} END"),
            None => {
                let value = Ident::with_quote('"', column.as_str());
                computed.push((
                    format!("__key{i}"),
                    format!("CASE WHEN {gate} THEN {value} END"),
                ));
                *column = format!("__key{i}");
            }
        }
    }
}

/// Takes out of `selection` (a join's `WHERE`, after its keys and bounds) the conjuncts
/// on one side's columns that may run before the join, into `pushed`: either side of an
/// inner join; the kept side of a LEFT or RIGHT join, whose rows `WHERE` drops whether
/// they match or not. Filtering first keeps the join's state to the rows that can pass.
/// Returns the rest.
pub(super) fn push_down(
    selection: Option<Expr>,
    kind: StreamJoinKind,
    sides: &[Side<'_>; 2],
    pushed: &mut [Vec<Expr>; 2],
) -> Result<Option<Expr>, SqlError> {
    let Some(selection) = selection else {
        return Ok(None);
    };
    let allowed: &[usize] = match kind {
        StreamJoinKind::Inner => &[0, 1],
        StreamJoinKind::LeftOuter | StreamJoinKind::LeftSemi => &[0],
        StreamJoinKind::RightOuter => &[1],
        StreamJoinKind::FullOuter => &[],
    };
    let mut rest = Vec::new();
    for conjunct in conjuncts(&selection) {
        match filtered_side(conjunct, sides, allowed)? {
            Some(side) => pushed[side].push(own_columns(conjunct, sides)),
            None => rest.push(conjunct.clone()),
        }
    }
    Ok(all_of(rest))
}

/// The side of `allowed` whose columns alone `condition` reads, when that side is a
/// source table's rows (a windowed subquery's rows are not filtered before the join).
fn filtered_side(
    condition: &Expr,
    sides: &[Side; 2],
    allowed: &[usize],
) -> Result<Option<usize>, SqlError> {
    let read = condition::read_sides(condition, sides)?;
    Ok(match read.as_slice() {
        [side] if allowed.contains(side) && !sides[*side].windowed => Some(*side),
        _ => None,
    })
}

/// `e` over its side's own column names (`p.paid > 10` as `"paid" > 10`).
fn own_columns(e: &Expr, sides: &[Side; 2]) -> Expr {
    let mut own = e.clone();
    let _ = visit_expressions_mut(&mut own, |e| {
        if let Ok(Some((_, column))) = column_of(e, sides) {
            *e = Expr::Identifier(Ident::with_quote('"', column));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    own
}

/// The column of its side that is the key `e`: `e` itself when it is a column, else a
/// column `__key<i>` computed before the join from `e` over the side's own columns (added
/// to `computed`).
fn key_column(
    e: &Expr,
    sides: &[Side; 2],
    i: usize,
    computed: &mut Vec<(String, String)>,
) -> String {
    if let Ok(Some((_, column))) = column_of(e, sides) {
        return column;
    }
    let name = format!("__key{i}");
    computed.push((name.clone(), own_columns(e, sides).to_string()));
    name
}
