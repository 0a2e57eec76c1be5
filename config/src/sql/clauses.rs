//! The clauses of SQL statements that sluice does not run, found so that each is refused
//! naming it rather than ignored: `INSERT OVERWRITE` would append, `TABLESAMPLE` would
//! read every row, `LATERAL VIEW` would drop its rows' expansion.

use crate::sql::error::SqlError;
use datafusion::sql::sqlparser::ast::{Expr, Insert, Select, TableFactor, visit_expressions};

use super::query::unsupported;

/// The first clause of `insert` that a streaming INSERT does not run, which would
/// otherwise be ignored: `INSERT OVERWRITE` would append, `ON CONFLICT` would not merge.
pub(super) fn insert_extras(insert: &Insert) -> Option<&'static str> {
    [
        (insert.overwrite, "INSERT OVERWRITE"),
        (
            insert.or.is_some() || insert.replace_into,
            "INSERT OR ... / REPLACE INTO",
        ),
        (insert.ignore, "INSERT IGNORE"),
        (
            insert.table_alias.is_some(),
            "an alias of the table written",
        ),
        (insert.partitioned.is_some(), "PARTITION (...)"),
        (!insert.after_columns.is_empty(), "columns after PARTITION"),
        (!insert.assignments.is_empty(), "INSERT ... SET"),
        (insert.on.is_some(), "ON CONFLICT / ON DUPLICATE KEY UPDATE"),
        (
            insert.returning.is_some() || insert.output.is_some(),
            "RETURNING / OUTPUT",
        ),
        (insert.priority.is_some(), "an INSERT priority"),
        (insert.insert_alias.is_some(), "an INSERT row alias"),
        (
            insert.settings.is_some() || insert.format_clause.is_some(),
            "SETTINGS / FORMAT",
        ),
        (
            insert.multi_table_insert_type.is_some() || !insert.multi_table_into_clauses.is_empty(),
            "a multi-table INSERT",
        ),
        (!insert.optimizer_hints.is_empty(), "optimizer hints"),
    ]
    .into_iter()
    .find_map(|(present, clause)| present.then_some(clause))
}

/// The first clause of `select` that sluice does not run, which would otherwise be
/// ignored (`LATERAL VIEW` would drop its rows' expansion, `TOP` its limit).
pub(super) fn select_extras(select: &Select) -> Option<&'static str> {
    [
        (select.top.is_some(), "SELECT TOP"),
        (select.into.is_some(), "SELECT INTO"),
        (select.exclude.is_some(), "SELECT ... EXCLUDE"),
        (!select.lateral_views.is_empty(), "LATERAL VIEW"),
        (select.prewhere.is_some(), "PREWHERE"),
        (!select.connect_by.is_empty(), "CONNECT BY"),
        (
            !select.cluster_by.is_empty()
                || !select.distribute_by.is_empty()
                || !select.sort_by.is_empty(),
            "CLUSTER BY / DISTRIBUTE BY / SORT BY",
        ),
        (
            !select.named_window.is_empty(),
            "a WINDOW clause (write OVER (...) inline)",
        ),
        (
            select.value_table_mode.is_some(),
            "SELECT AS STRUCT / VALUE",
        ),
        (!select.optimizer_hints.is_empty(), "optimizer hints"),
        (select.select_modifiers.is_some(), "SELECT modifiers"),
    ]
    .into_iter()
    .find_map(|(present, clause)| present.then_some(clause))
}

/// The first option of a table in FROM that sluice does not run: a sample, a version, a
/// list of column aliases and the like would otherwise be ignored.
pub(super) fn table_extras(factor: &TableFactor) -> Option<&'static str> {
    match factor {
        TableFactor::Table {
            alias,
            args,
            with_hints,
            version,
            with_ordinality,
            partitions,
            json_path,
            sample,
            index_hints,
            ..
        } => [
            (
                alias.as_ref().is_some_and(|a| !a.columns.is_empty()),
                "column aliases",
            ),
            (args.is_some(), "table arguments"),
            (
                !with_hints.is_empty() || !index_hints.is_empty(),
                "table hints",
            ),
            (version.is_some(), "a table version"),
            (*with_ordinality, "WITH ORDINALITY"),
            (!partitions.is_empty(), "PARTITION (...)"),
            (json_path.is_some(), "a JSON path"),
            (sample.is_some(), "TABLESAMPLE"),
        ]
        .into_iter()
        .find_map(|(present, clause)| present.then_some(clause)),
        TableFactor::Derived {
            lateral,
            sample,
            alias,
            ..
        } => [
            (*lateral, "LATERAL"),
            (sample.is_some(), "TABLESAMPLE"),
            (
                alias.as_ref().is_some_and(|a| !a.columns.is_empty()),
                "column aliases",
            ),
        ]
        .into_iter()
        .find_map(|(present, clause)| present.then_some(clause)),
        _ => None,
    }
}

/// Refuses a window function over rows (`sum(x) OVER (...)`) in a select list: only the
/// deduplication and Top-N subqueries run one.
pub(super) fn refuse_row_windows(select: &Select) -> Result<(), SqlError> {
    let mut found = None;
    let _ = visit_expressions(&select.projection, |e| {
        if let Expr::Function(f) = e
            && f.over.is_some()
        {
            found = Some(e.to_string());
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    match found {
        Some(call) => Err(unsupported(
            &format!("`{call}`, a window function over rows"),
            "its value would change as later rows arrive; in a stream, OVER runs as \
             ROW_NUMBER() OVER (PARTITION BY key ORDER BY ts) = 1 (deduplication) and as \
             RANK() ... <= N over a windowed aggregate (Top-N), each in a subquery; aggregate \
             in an event-time window with GROUP BY instead",
        )),
        None => Ok(()),
    }
}
