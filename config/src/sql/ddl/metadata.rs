//! Flink's metadata columns of a Kafka table: `ts TIMESTAMP_LTZ(3) METADATA FROM
//! 'timestamp'`, `` `partition` INT METADATA VIRTUAL ``. Each reads what the Kafka source
//! gives beside the record's fields:
//!
//! | key | column | type |
//! |---|---|---|
//! | `timestamp` | the record's timestamp (`metadata-columns: [timestamp]`) | TIMESTAMP (UTC) |
//! | `key` | the record's key as text (`metadata-columns: [key]`) | STRING |
//! | `headers` | the headers as a JSON object's text (`metadata-columns: [headers]`) | STRING |
//! | `topic` | the topic (the `source` coordinate) | STRING |
//! | `partition` | the partition (the `partition` coordinate) | INT |
//! | `offset` | the offset (the `offset` coordinate) | BIGINT |
//!
//! A metadata column named otherwise than the source's column is a computed column of it
//! (`ts AS kafka_timestamp`). Its type is the source's; `VIRTUAL` changes nothing, as a
//! query only reads. The other keys of Flink (`leader-epoch`, `timestamp-type`) are
//! refused, as are metadata columns of other connectors.

use crate::sql::error::SqlError;

/// Each metadata key: the Kafka source's column that holds it, and the
/// `metadata-columns` entry that asks the source for it (none for the coordinates).
const KEYS: [(&str, &str, Option<&str>); 6] = [
    ("timestamp", "kafka_timestamp", Some("timestamp")),
    ("key", "kafka_key", Some("key")),
    ("headers", "kafka_headers", Some("headers")),
    ("topic", "source", None),
    ("partition", "partition", None),
    ("offset", "offset", None),
];

/// A metadata column: its name, the source's column that holds it, and the
/// `metadata-columns` entry that asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Metadata {
    pub(super) name: String,
    column: &'static str,
    wanted: Option<&'static str>,
}

impl Metadata {
    /// The Kafka source's `metadata-columns` entry that gives it, if any.
    pub(super) fn wanted(&self) -> Option<&'static str> {
        self.wanted
    }

    /// The source's column that holds it.
    pub(super) fn column(&self) -> &'static str {
        self.column
    }
}

/// The computed columns `(name, SQL)` of the metadata columns named otherwise than the
/// source's column that holds them.
pub(super) fn computed(metadata: &[Metadata]) -> Vec<(String, String)> {
    metadata
        .iter()
        .filter(|m| m.name != m.column())
        .map(|m| (m.name.clone(), format!("\"{}\"", m.column())))
        .collect()
}

/// The names of the metadata columns named as the source's column that holds them.
pub(super) fn as_they_are(metadata: &[Metadata]) -> Vec<String> {
    metadata
        .iter()
        .filter(|m| m.name == m.column())
        .map(|m| m.name.clone())
        .collect()
}

/// Asks the `connector`'s source for the metadata `metadata` reads: a Kafka source's
/// `metadata-columns`.
///
/// # Errors
/// Metadata columns of another connector, or with `metadata-columns` also set.
pub(super) fn read(
    connector: &str,
    metadata: &[Metadata],
    options: &mut std::collections::BTreeMap<String, serde_norway::Value>,
) -> Result<(), SqlError> {
    if metadata.is_empty() {
        return Ok(());
    }
    if connector != "kafka" {
        return Err(SqlError::Invalid(format!(
            "a metadata column (`{} ... METADATA`) reads a Kafka record's metadata; a \
             `{connector}` table has none (its rows' `source`, `partition` and `offset` \
             columns name where they came from)",
            metadata[0].name
        )));
    }
    if options.contains_key("metadata-columns") {
        return Err(
            "metadata columns are declared either as METADATA columns or with the \
             'metadata-columns' option, not both"
                .into(),
        );
    }
    let mut wanted: Vec<&str> = metadata.iter().filter_map(Metadata::wanted).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if !wanted.is_empty() {
        options.insert(
            "metadata-columns".into(),
            serde_norway::Value::Sequence(wanted.into_iter().map(Into::into).collect()),
        );
    }
    Ok(())
}

/// Takes the metadata columns out of `statement`'s column list, in order.
///
/// # Errors
/// A metadata key the Kafka source does not give, or a malformed entry.
pub(super) fn split(statement: &str) -> Result<(String, Vec<Metadata>), SqlError> {
    super::take_entries(statement, metadata_column)
}

/// `name TYPE METADATA [FROM 'key'] [VIRTUAL]`; `None` for any other entry.
fn metadata_column(entry: &str) -> Result<Option<Metadata>, SqlError> {
    let words: Vec<&str> = entry.split_whitespace().collect();
    let Some(at) = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("metadata"))
        .filter(|&at| at >= 1)
    else {
        return Ok(None);
    };
    let name = words[0].trim_matches(|c| c == '"' || c == '`').to_owned();
    let mut after = &words[at + 1..];
    if after
        .last()
        .is_some_and(|w| w.eq_ignore_ascii_case("virtual"))
    {
        after = &after[..after.len() - 1];
    }
    let key = match after {
        [] => name.clone(),
        [from, key] if from.eq_ignore_ascii_case("from") => key.trim_matches('\'').to_owned(),
        _ => {
            return Err(SqlError::Invalid(format!(
                "`{entry}`: a metadata column is `name TYPE METADATA [FROM 'key'] [VIRTUAL]`"
            )));
        }
    };
    let Some(&(_, column, wanted)) = KEYS.iter().find(|(k, _, _)| *k == key) else {
        let known: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
        return Err(SqlError::Invalid(format!(
            "`{entry}`: the Kafka source gives the metadata {}; not `{key}`",
            known.join(", ")
        )));
    };
    Ok(Some(Metadata {
        name,
        column,
        wanted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_columns_name_what_the_kafka_source_gives() {
        let (body, metadata) = split(
            "CREATE TABLE t (id BIGINT, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', \
             `partition` INT METADATA VIRTUAL, k STRING METADATA FROM 'key' VIRTUAL)",
        )
        .unwrap();
        assert_eq!(body, "CREATE TABLE t (id BIGINT)");
        let read: Vec<(&str, &str, Option<&str>)> = metadata
            .iter()
            .map(|m| (m.name.as_str(), m.column(), m.wanted()))
            .collect();
        assert_eq!(
            read,
            [
                ("ts", "kafka_timestamp", Some("timestamp")),
                ("partition", "partition", None),
                ("k", "kafka_key", Some("key")),
            ]
        );
        let err = split("CREATE TABLE t (e INT METADATA FROM 'leader-epoch')").unwrap_err();
        assert!(err.to_string().contains("not `leader-epoch`"), "{err}");
        let err = split("CREATE TABLE t (e INT METADATA 'x')").unwrap_err();
        assert!(err.to_string().contains("METADATA [FROM 'key']"), "{err}");
    }
}
