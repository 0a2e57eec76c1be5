//! Flink's and Spark's names for a source table's options, read as sluice's, so that a
//! `CREATE TABLE ... WITH (...)` copied from a Flink job, or a Spark `readStream`'s
//! options, runs as written:
//!
//! | connector | Flink | Spark | sluice |
//! |---|---|---|---|
//! | kafka | `topic` (`a;b`) | `subscribe` (`a,b`) | `topics` |
//! | kafka | `topic-pattern` | `subscribePattern` | `topic-pattern` |
//! | kafka | `properties.bootstrap.servers` | `kafka.bootstrap.servers` | `brokers` |
//! | kafka | `properties.group.id` | `kafka.group.id` | `group-id` |
//! | kafka | `properties.<p>` | `kafka.<p>` | `properties: { <p> }` (librdkafka) |
//! | kafka | `scan.startup.mode` = `earliest-offset`, `latest-offset`, `timestamp` (with `scan.startup.timestamp-millis`), `specific-offsets` (with `scan.startup.specific-offsets`) | `startingOffsets` = `earliest`, `latest` or per partition; `startingTimestamp` | `starting-offsets` |
//! | kafka | `scan.bounded.mode` = `latest-offset`, `specific-offsets` (with `scan.bounded.specific-offsets`) | `endingOffsets` | `ending-offsets` |
//! | kafka | | `failOnDataLoss`, `maxOffsetsPerTrigger` | `fail-on-data-loss`, `max-records-per-epoch` |
//! | kafka | `value.format` | | `format` |
//! | kinesis | `aws.region`, `aws.endpoint` | | `region`, `endpoint` |
//! | kinesis | `aws.credentials.basic.accesskeyid`, `aws.credentials.basic.secretkey` | | `access-key-id`, `secret-access-key` |
//! | kinesis | `scan.stream.initpos` = `LATEST`, `TRIM_HORIZON`, `AT_TIMESTAMP` (with `scan.stream.initpos-timestamp`) | | `starting-position`, `starting-timestamp` |
//! | files | `'connector' = 'filesystem'` | `maxFilesPerTrigger` | `files`, `max-files-per-epoch` |
//!
//! Options that would change what sluice does with bad records or where a running job
//! resumes (`json.ignore-parse-errors`, `scan.startup.mode` = `group-offsets`, ...) are
//! refused with the reason; any other unknown option is refused by the connector's
//! settings, naming the options it takes.

use crate::sql::error::SqlError;
use std::collections::BTreeMap;

/// `options` of a `connector` source with Flink's and Spark's names written as sluice's.
///
/// # Errors
/// An option whose meaning sluice does not have, or a value it cannot read.
pub(super) fn translate(
    connector: &str,
    options: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SqlError> {
    let mut t = Translation {
        rest: options,
        out: BTreeMap::new(),
    };
    match connector {
        "kafka" => {
            t.kafka_names()?;
            t.flink_startup()?;
            t.flink_bounded()?;
            t.spark_offsets()?;
            t.refuse_json_options()?;
        }
        "kinesis" => t.kinesis()?,
        "files" => t.rename("maxFilesPerTrigger", "max-files-per-epoch", str::to_owned)?,
        _ => {}
    }
    let properties = if connector == "kafka" {
        t.kafka_properties()
    } else {
        BTreeMap::new()
    };
    let Translation { rest, mut out } = t;
    for (key, value) in rest {
        set(&mut out, &key, value)?;
    }
    if !properties.is_empty() {
        if out.contains_key("properties") {
            return Err(
                "librdkafka properties both as 'properties' and as 'properties.<name>' \
                 options; give them one way"
                    .into(),
            );
        }
        let entries: Vec<String> = properties
            .iter()
            .map(|(k, v)| format!("{}: {}", json_text(k), json_text(v)))
            .collect();
        out.insert("properties".into(), format!("{{{}}}", entries.join(", ")));
    }
    Ok(out)
}

/// Sets `key`, refusing it given twice (under two of its names).
fn set(out: &mut BTreeMap<String, String>, key: &str, value: String) -> Result<(), SqlError> {
    if out.insert(key.to_owned(), value).is_some() {
        return Err(SqlError::Invalid(format!(
            "the option '{key}' is given twice, under two names"
        )));
    }
    Ok(())
}

/// The options not yet read (`rest`) and sluice's options read so far (`out`).
struct Translation {
    rest: BTreeMap<String, String>,
    out: BTreeMap<String, String>,
}

impl Translation {
    /// Reads the option `from` as sluice's `to`, its value written by `value`.
    fn rename(&mut self, from: &str, to: &str, value: fn(&str) -> String) -> Result<(), SqlError> {
        match self.rest.remove(from) {
            Some(v) => set(&mut self.out, to, value(&v)),
            None => Ok(()),
        }
    }

    /// Topics, brokers, group and format, under Flink's and Spark's names.
    fn kafka_names(&mut self) -> Result<(), SqlError> {
        if let Some(topic) = self.rest.remove("topic") {
            set(&mut self.out, "topics", json_list(topic.split(';')))?;
        }
        if let Some(topics) = self.rest.remove("subscribe") {
            set(&mut self.out, "topics", json_list(topics.split(',')))?;
        }
        self.rename("subscribePattern", "topic-pattern", json_text)?;
        for prefix in ["properties.", "kafka."] {
            self.rename(&format!("{prefix}bootstrap.servers"), "brokers", json_text)?;
            self.rename(&format!("{prefix}group.id"), "group-id", json_text)?;
        }
        self.rename("value.format", "format", str::to_owned)?;
        self.rename("failOnDataLoss", "fail-on-data-loss", str::to_owned)?;
        self.rename(
            "maxOffsetsPerTrigger",
            "max-records-per-epoch",
            str::to_owned,
        )
    }

    /// Flink's `scan.startup.mode`, as `starting-offsets`.
    fn flink_startup(&mut self) -> Result<(), SqlError> {
        let Some(mode) = self.rest.remove("scan.startup.mode") else {
            return Ok(());
        };
        let starting = match mode.as_str() {
            "earliest-offset" => "earliest".to_owned(),
            "latest-offset" => "latest".to_owned(),
            "timestamp" => {
                let ms = self.rest.remove("scan.startup.timestamp-millis").ok_or(
                    "'scan.startup.mode' = 'timestamp' needs 'scan.startup.timestamp-millis'",
                )?;
                format!("{{\"timestamp\": {}}}", millis(&ms)?)
            }
            "specific-offsets" => self.specific_offsets("scan.startup")?,
            "group-offsets" => {
                return Err(
                    "'scan.startup.mode' = 'group-offsets': a running job resumes \
                            from its checkpoint, never from a consumer group's offsets; a \
                            new job starts at 'earliest-offset', 'latest-offset', a \
                            'timestamp' or 'specific-offsets'"
                        .into(),
                );
            }
            other => {
                return Err(SqlError::Invalid(format!(
                    "'scan.startup.mode' = '{other}': earliest-offset, latest-offset, \
                     timestamp or specific-offsets"
                )));
            }
        };
        set(&mut self.out, "starting-offsets", starting)
    }

    /// Flink's `scan.bounded.mode`, as `ending-offsets`.
    fn flink_bounded(&mut self) -> Result<(), SqlError> {
        let Some(mode) = self.rest.remove("scan.bounded.mode") else {
            return Ok(());
        };
        let ending = match mode.as_str() {
            "unbounded" => return Ok(()),
            "latest-offset" => "latest".to_owned(),
            "specific-offsets" => self.specific_offsets("scan.bounded")?,
            other => {
                return Err(SqlError::Invalid(format!(
                    "'scan.bounded.mode' = '{other}': unbounded, latest-offset or \
                     specific-offsets"
                )));
            }
        };
        set(&mut self.out, "ending-offsets", ending)
    }

    /// The offsets of `'<scan>.mode' = 'specific-offsets'`, from `<scan>.specific-offsets`.
    fn specific_offsets(&mut self, scan: &str) -> Result<String, SqlError> {
        let offsets = self
            .rest
            .remove(&format!("{scan}.specific-offsets"))
            .ok_or_else(|| {
                format!("'{scan}.mode' = 'specific-offsets' needs '{scan}.specific-offsets'")
            })?;
        flink_offsets(&self.out, &offsets)
    }

    /// Spark's `startingOffsets`, `startingTimestamp` and `endingOffsets`.
    fn spark_offsets(&mut self) -> Result<(), SqlError> {
        self.rename("startingOffsets", "starting-offsets", spark_offsets)?;
        if let Some(ms) = self.rest.remove("startingTimestamp") {
            let at = format!("{{\"timestamp\": {}}}", millis(&ms)?);
            set(&mut self.out, "starting-offsets", at)?;
        }
        self.rename("endingOffsets", "ending-offsets", spark_offsets)
    }

    /// Refuses Flink's JSON options that would drop or fail on bad records.
    fn refuse_json_options(&mut self) -> Result<(), SqlError> {
        for key in ["json.ignore-parse-errors", "json.fail-on-missing-field"] {
            if self.rest.remove(key).is_some() {
                return Err(SqlError::Invalid(format!(
                    "'{key}': a record that does not decode, or lacks a NOT NULL field, \
                     goes to the dead-letter table with its reason and offset, never \
                     dropped and never failing the job; leave the option out"
                )));
            }
        }
        Ok(())
    }

    /// Flink's Kinesis options.
    fn kinesis(&mut self) -> Result<(), SqlError> {
        for (flink, ours) in [
            ("aws.region", "region"),
            ("aws.endpoint", "endpoint"),
            ("aws.credentials.basic.accesskeyid", "access-key-id"),
            ("aws.credentials.basic.secretkey", "secret-access-key"),
            ("scan.stream.initpos-timestamp", "starting-timestamp"),
        ] {
            self.rename(flink, ours, json_text)?;
        }
        let Some(position) = self.rest.remove("scan.stream.initpos") else {
            return Ok(());
        };
        let ours = match position.to_ascii_uppercase().as_str() {
            "LATEST" => "latest",
            "TRIM_HORIZON" => "trim-horizon",
            "AT_TIMESTAMP" => "at-timestamp",
            other => {
                return Err(SqlError::Invalid(format!(
                    "'scan.stream.initpos' = '{other}': LATEST, TRIM_HORIZON or AT_TIMESTAMP"
                )));
            }
        };
        set(&mut self.out, "starting-position", ours.to_owned())
    }

    /// The `properties.<p>` and `kafka.<p>` options left: librdkafka's properties, by `p`.
    fn kafka_properties(&mut self) -> BTreeMap<String, String> {
        let prefixed: Vec<String> = self
            .rest
            .keys()
            .filter(|k| k.starts_with("properties.") || k.starts_with("kafka."))
            .cloned()
            .collect();
        prefixed
            .into_iter()
            .map(|key| {
                let value = self.rest.remove(&key).unwrap_or_default();
                let name = key
                    .trim_start_matches("properties.")
                    .trim_start_matches("kafka.");
                (name.to_owned(), value)
            })
            .collect()
    }
}

/// A JSON string, which the option's YAML reading takes as text (never a number or a
/// boolean).
fn json_text(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A JSON list of the non-empty trimmed `items`.
fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(json_text)
        .collect();
    format!("[{}]", items.join(", "))
}

/// Milliseconds since the epoch.
fn millis(text: &str) -> Result<i64, SqlError> {
    text.trim()
        .parse()
        .map_err(|_| SqlError::Invalid(format!("`{text}`: milliseconds since the epoch")))
}

/// Spark's `startingOffsets` or `endingOffsets`: `earliest`, `latest`, or a JSON object of
/// offsets per topic and partition.
fn spark_offsets(value: &str) -> String {
    let value = value.trim();
    if value.starts_with('{') {
        format!("{{\"offsets\": {value}}}")
    } else {
        value.to_owned()
    }
}

/// Flink's `partition:0,offset:42;partition:1,offset:300`, over the one topic of `out`.
fn flink_offsets(out: &BTreeMap<String, String>, text: &str) -> Result<String, SqlError> {
    let topic = out
        .get("topics")
        .and_then(|t| serde_norway::from_str::<Vec<String>>(t).ok())
        .and_then(|t| (t.len() == 1).then(|| t[0].clone()))
        .ok_or("specific offsets name partitions of one topic: give one 'topic'")?;
    let mut partitions = Vec::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let mut partition = None;
        let mut offset = None;
        for field in entry.split(',') {
            match field.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("partition", p)) => partition = p.parse::<u32>().ok(),
                Some(("offset", o)) => offset = o.parse::<i64>().ok(),
                _ => {}
            }
        }
        let (Some(p), Some(o)) = (partition, offset) else {
            return Err(SqlError::Invalid(format!(
                "specific offsets `{text}`: partition:0,offset:42;partition:1,offset:300"
            )));
        };
        partitions.push(format!("\"{p}\": {o}"));
    }
    Ok(format!(
        "{{\"offsets\": {{{}: {{{}}}}}}}",
        json_text(&topic),
        partitions.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn flink_s_kafka_options_are_sluice_s() {
        let out = translate(
            "kafka",
            options(&[
                ("topic", "orders;payments"),
                ("properties.bootstrap.servers", "b1:9092,b2:9092"),
                ("properties.group.id", "g1"),
                ("properties.security.protocol", "SASL_SSL"),
                ("scan.startup.mode", "timestamp"),
                ("scan.startup.timestamp-millis", "1700000000000"),
                ("value.format", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            options(&[
                ("topics", "[\"orders\", \"payments\"]"),
                ("brokers", "\"b1:9092,b2:9092\""),
                ("group-id", "\"g1\""),
                ("properties", "{\"security.protocol\": \"SASL_SSL\"}"),
                ("starting-offsets", "{\"timestamp\": 1700000000000}"),
                ("format", "json"),
            ])
        );
        let out = translate(
            "kafka",
            options(&[
                ("topic", "t"),
                ("scan.startup.mode", "specific-offsets"),
                (
                    "scan.startup.specific-offsets",
                    "partition:0,offset:42;partition:1,offset:300",
                ),
                ("scan.bounded.mode", "latest-offset"),
            ]),
        )
        .unwrap();
        assert_eq!(
            out["starting-offsets"],
            "{\"offsets\": {\"t\": {\"0\": 42, \"1\": 300}}}"
        );
        assert_eq!(out["ending-offsets"], "latest");
    }

    #[test]
    fn spark_s_kafka_options_are_sluice_s() {
        let out = translate(
            "kafka",
            options(&[
                ("subscribe", "a, b"),
                ("kafka.bootstrap.servers", "localhost:9092"),
                ("startingOffsets", "{\"a\": {\"0\": 5}}"),
                ("endingOffsets", "latest"),
                ("failOnDataLoss", "false"),
                ("maxOffsetsPerTrigger", "5000"),
            ]),
        )
        .unwrap();
        assert_eq!(out["topics"], "[\"a\", \"b\"]");
        assert_eq!(out["brokers"], "\"localhost:9092\"");
        assert_eq!(
            out["starting-offsets"],
            "{\"offsets\": {\"a\": {\"0\": 5}}}"
        );
        assert_eq!(out["ending-offsets"], "latest");
        assert_eq!(out["fail-on-data-loss"], "false");
        assert_eq!(out["max-records-per-epoch"], "5000");
    }

    #[test]
    fn options_sluice_cannot_honour_are_refused() {
        for (pairs, expected) in [
            (
                vec![("topic", "t"), ("scan.startup.mode", "group-offsets")],
                "resumes from its checkpoint",
            ),
            (
                vec![("json.ignore-parse-errors", "true")],
                "dead-letter table",
            ),
            (
                vec![("topic", "t"), ("topics", "[u]")],
                "given twice, under two names",
            ),
            (
                vec![
                    ("topic", "a;b"),
                    ("scan.startup.mode", "specific-offsets"),
                    ("scan.startup.specific-offsets", "partition:0,offset:1"),
                ],
                "one topic",
            ),
        ] {
            let err = translate("kafka", options(&pairs)).unwrap_err();
            assert!(err.to_string().contains(expected), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn flink_s_kinesis_options_are_sluice_s() {
        let out = translate(
            "kinesis",
            options(&[
                ("stream", "s"),
                ("aws.region", "eu-west-1"),
                ("scan.stream.initpos", "LATEST"),
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            options(&[
                ("stream", "s"),
                ("region", "\"eu-west-1\""),
                ("starting-position", "latest"),
            ])
        );
    }
}
