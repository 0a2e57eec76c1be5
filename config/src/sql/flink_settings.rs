//! Flink's `SET` options, so that a Flink SQL script runs as written, and Flink's
//! statement sets (`EXECUTE STATEMENT SET BEGIN ... END;`), which are how Flink runs
//! several `INSERT`s as one job (every SQL job here is one).
//!
//! | Flink's `SET` | here |
//! |---|---|
//! | `execution.runtime-mode` = `streaming` | the default; nothing to set |
//! | `execution.runtime-mode` = `batch` | refused: `sluice run --batch` runs a job as a batch |
//! | `parallelism.default` | `workers` |
//! | `pipeline.name` | `job-id` |
//! | `table.exec.source.idle-timeout` | `watermark.idle-timeout` |
//! | `table.local-time-zone` = `UTC` | the only time zone timestamps have here; another is refused |
//! | `table.exec.state.ttl` | refused: state here is evicted by the watermark, never by age |
//! | `table.exec.sink.not-null-enforcer` | refused: a null in a `NOT NULL` column goes to the dead-letter table |
//! | other `table.*`, `execution.*`, `pipeline.*`, `state.*`, `restart-strategy*`, `taskmanager.*`, `jobmanager.*`, `sql-client.*` | Flink's runtime tuning (mini-batches, state backends, checkpoint intervals, ...): logged and left out, none changes what a query computes |
//!
//! Any other key is a job-file key, as before.

use super::error::SqlError;

/// What a `SET key = value` becomes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Setting {
    /// A job-file key and value.
    Key(String, String),
    /// Nothing: Flink's tuning, or what is already so; the note says why.
    Dropped(String),
}

/// Translates Flink's option `key` (see the [module docs](self)); any other key stays.
///
/// # Errors
/// A Flink option whose meaning sluice does not have.
pub(super) fn translate(key: String, value: String) -> Result<Setting, SqlError> {
    let refused = |why: &str| Err(SqlError::Invalid(format!("SET '{key}' = '{value}': {why}")));
    match key.as_str() {
        "execution.runtime-mode" => match value.to_ascii_lowercase().as_str() {
            "streaming" => Ok(Setting::Dropped(format!(
                "SET '{key}' = '{value}': jobs stream unless run with --batch"
            ))),
            "batch" => refused(
                "run the job with `sluice run --batch`, which reads every source to its \
                 present end as one bounded epoch",
            ),
            _ => refused("`streaming` or `batch`"),
        },
        "parallelism.default" => Ok(Setting::Key("workers".into(), value)),
        "pipeline.name" => Ok(Setting::Key("job-id".into(), value)),
        "table.exec.source.idle-timeout" => {
            Ok(Setting::Key("watermark.idle-timeout".into(), value))
        }
        "table.local-time-zone" if value.eq_ignore_ascii_case("UTC") => Ok(Setting::Dropped(
            format!("SET '{key}' = '{value}': timestamps are UTC here"),
        )),
        "table.local-time-zone" => {
            refused("timestamps are UTC here, read, computed and written; leave the option out")
        }
        "table.exec.state.ttl" => refused(
            "state is evicted by the watermark here, never by age; a window's, a \
             deduplication's and a join's state ends with its event-time bound, and an \
             aggregate without a window keeps its keys for the life of the job",
        ),
        "table.exec.sink.not-null-enforcer" => refused(
            "a null in a NOT NULL column of a declared table sends its row to the \
             dead-letter table here, neither failing the job nor dropping the row",
        ),
        _ if flink_tuning(&key) => Ok(Setting::Dropped(format!(
            "SET '{key}' = '{value}': Flink's runtime tuning, which changes no query's \
             result; sluice has no such setting and leaves it out"
        ))),
        _ => Ok(Setting::Key(key, value)),
    }
}

/// Whether `key` is in one of Flink's namespaces of runtime options.
fn flink_tuning(key: &str) -> bool {
    [
        "table.",
        "execution.",
        "pipeline.",
        "state.",
        "restart-strategy",
        "taskmanager.",
        "jobmanager.",
        "sql-client.",
    ]
    .iter()
    .any(|prefix| key.starts_with(prefix))
}

/// `statements` without Flink's statement-set wrappers: `EXECUTE STATEMENT SET BEGIN`
/// before the first `INSERT`, or a `BEGIN STATEMENT SET;` of its own, then the INSERTs,
/// then `END;`. `EXECUTE INSERT INTO ...` is the `INSERT`.
///
/// # Errors
/// A set holding something other than `INSERT`s, or one left open.
pub(super) fn unwrap_statement_sets(statements: Vec<String>) -> Result<Vec<String>, SqlError> {
    let mut out = Vec::with_capacity(statements.len());
    let mut in_set = false;
    for statement in statements {
        let words: Vec<&str> = statement.split_whitespace().collect();
        let upper: Vec<String> = words
            .iter()
            .take(4)
            .map(|w| w.to_ascii_uppercase())
            .collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        let rest = |n: usize| words[n..].join(" ");
        match upper.as_slice() {
            ["EXECUTE", "STATEMENT", "SET", "BEGIN", ..] if !in_set => {
                in_set = true;
                if words.len() > 4 {
                    out.push(insert_in_set(rest(4))?);
                }
            }
            ["BEGIN", "STATEMENT", "SET"] if !in_set => in_set = true,
            ["END"] if in_set => in_set = false,
            ["EXECUTE", "INSERT", ..] if !in_set => out.push(rest(1)),
            _ if in_set => out.push(insert_in_set(statement)?),
            _ => out.push(statement),
        }
    }
    if in_set {
        return Err("a statement set without its END;".into());
    }
    Ok(out)
}

fn insert_in_set(statement: String) -> Result<String, SqlError> {
    let first = statement.split_whitespace().next().unwrap_or_default();
    if first.eq_ignore_ascii_case("INSERT") {
        Ok(statement)
    } else {
        Err(SqlError::Invalid(format!(
            "`{statement}` in a statement set: a set holds INSERT INTO statements only"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, value: &str) -> Result<Setting, SqlError> {
        translate(key.into(), value.into())
    }

    #[test]
    fn flink_options_are_translated_dropped_or_refused() {
        assert_eq!(
            set("parallelism.default", "2").unwrap(),
            Setting::Key("workers".into(), "2".into())
        );
        assert_eq!(
            set("table.exec.source.idle-timeout", "30 s").unwrap(),
            Setting::Key("watermark.idle-timeout".into(), "30 s".into())
        );
        for (key, value) in [
            ("execution.runtime-mode", "streaming"),
            ("table.exec.mini-batch.enabled", "true"),
            ("execution.checkpointing.interval", "10s"),
            ("state.backend.type", "rocksdb"),
            ("table.local-time-zone", "UTC"),
        ] {
            assert!(
                matches!(set(key, value).unwrap(), Setting::Dropped(_)),
                "{key}"
            );
        }
        for (key, value, why) in [
            ("execution.runtime-mode", "batch", "--batch"),
            ("table.exec.state.ttl", "1 h", "never by age"),
            ("table.local-time-zone", "Europe/Paris", "UTC here"),
            (
                "table.exec.sink.not-null-enforcer",
                "DROP",
                "dead-letter table",
            ),
        ] {
            let err = set(key, value).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(why), "{err}");
        }
        // A job-file key stays.
        assert_eq!(
            set("trigger.records-per-epoch", "10").unwrap(),
            Setting::Key("trigger.records-per-epoch".into(), "10".into())
        );
    }

    #[test]
    fn statement_sets_hold_their_inserts() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            unwrap_statement_sets(s(&[
                "CREATE TABLE a (x INT)",
                "EXECUTE STATEMENT SET BEGIN\nINSERT INTO b SELECT x FROM a",
                "INSERT INTO c SELECT x FROM a",
                "END",
            ]))
            .unwrap(),
            s(&[
                "CREATE TABLE a (x INT)",
                "INSERT INTO b SELECT x FROM a",
                "INSERT INTO c SELECT x FROM a"
            ])
        );
        assert_eq!(
            unwrap_statement_sets(s(&[
                "BEGIN STATEMENT SET",
                "INSERT INTO b SELECT 1",
                "end",
                "EXECUTE INSERT INTO c SELECT 2",
            ]))
            .unwrap(),
            s(&["INSERT INTO b SELECT 1", "INSERT INTO c SELECT 2"])
        );
        for bad in [
            s(&["BEGIN STATEMENT SET", "INSERT INTO b SELECT 1"]),
            s(&["BEGIN STATEMENT SET", "CREATE TABLE a (x INT)", "END"]),
        ] {
            assert!(unwrap_statement_sets(bad).is_err());
        }
    }
}
