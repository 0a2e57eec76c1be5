//! A lookup table's `'lookup'` option: how a table read whole, never as a stream, is
//! held ([`super::SourceTable::lookup`]).

use super::CreateStatement;
use crate::sql::error::SqlError;
use crate::sql::query::unsupported;

/// How a lookup table is held ([`SourceTable::lookup`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The whole table on every worker, loaded at start (`broadcast`).
    Broadcast,
    /// Spread over the workers by key, loaded at start (`keyed`).
    Keyed,
    /// Spread over the workers by key, and each epoch at the Delta table's newest version
    /// (`follow`).
    Follow,
}

/// Takes `'lookup'` out of `table`'s options: how the table is held, `None` for a table
/// read as a stream.
///
/// # Errors
/// An unknown value, a connector that is no Delta table or files, `follow` over files,
/// or what a table read whole has no use for (a watermark, computed, metadata columns,
/// checks).
pub(super) fn of(table: &mut CreateStatement) -> Result<Option<Lookup>, SqlError> {
    let lookup = match table.options.remove("lookup").as_deref() {
        None => None,
        Some("broadcast") => Some(Lookup::Broadcast),
        Some("keyed") => Some(Lookup::Keyed),
        Some("follow") => Some(Lookup::Follow),
        Some(other) => {
            return Err(SqlError::Invalid(format!(
                "'lookup' = '{other}': 'broadcast' (the whole table on every worker), \
                 'keyed' (spread by key) or 'follow' (spread by key, at the Delta \
                 table's newest version each epoch)"
            )));
        }
    };
    let Some(lookup) = lookup else {
        return Ok(None);
    };
    let connector = table.options.get("connector").map(String::as_str);
    if !matches!(
        connector,
        Some("delta" | "delta-source" | "files" | "filesystem")
    ) {
        return Err(unsupported(
            &format!("a lookup table over connector {connector:?}"),
            "a lookup table is a Delta table ('connector' = 'delta') or files \
             ('connector' = 'files'), read whole",
        ));
    }
    if lookup == Lookup::Follow && !matches!(connector, Some("delta" | "delta-source")) {
        return Err(unsupported(
            "'lookup' = 'follow' over files",
            "only a Delta table has versions to follow: 'lookup' = 'broadcast' or 'keyed'",
        ));
    }
    if table.watermark.is_some()
        || !table.computed.is_empty()
        || !table.checks.is_empty()
        || !table.metadata.is_empty()
    {
        return Err(unsupported(
            "a WATERMARK, computed, metadata columns or CHECK constraints on a lookup table",
            "a lookup table is read whole and joined by key; declare its columns only",
        ));
    }
    Ok(Some(lookup))
}
