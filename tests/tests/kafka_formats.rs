//! Kafka message formats end to end: messages written by an encoder independent of sluice
//! (Python fastavro and confluent-kafka) to the real broker, read by `sluice run --batch`
//! into Delta, and checked with DuckDB's `delta_scan`: bronze holds exactly the good
//! messages with their values, the dead-letter table exactly the malformed ones with their
//! coordinates and bytes.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_tests::{
    expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const MESSAGES: u32 = 2_000;

fn brokers() -> Result<String> {
    std::env::var("SLUICE_KAFKA_BROKERS")
        .ok()
        .filter(|v| !v.is_empty())
        .context(
            "SLUICE_KAFKA_BROKERS is not set: run the suite with scripts/test, which starts tansu",
        )
}

fn tool(args: &[&str]) -> Result<String> {
    python_tool("kafka_formats_tool.py", args, Duration::from_secs(300))
}

/// A job file reading `topic` in `format`, with the fields the tool's records have.
fn write_job(dir: &Path, topic: &str, format: &str) -> Result<std::path::PathBuf> {
    let source = match format {
        "string" => "  format: string\n".to_string(),
        avro => format!(
            "  format: avro\n  avro:\n    schema-file: reading.avsc\n    wire: {}\n  schema:\n{}",
            if avro == "avro-confluent" {
                "confluent"
            } else {
                "plain"
            },
            [
                "    - { name: device, type: string, nullable: false }",
                "    - { name: seq, type: long, nullable: false }",
                "    - { name: temperature, type: double }",
                "    - { name: at, type: timestamp, nullable: false }",
                "    - { name: ok, type: boolean }",
                "    - { name: level, type: string }",
                "    - { name: not_in_schema, type: string }",
                "",
            ]
            .join("\n")
        ),
    };
    let text = format!(
        "job-id: formats-{format}\nsource:\n  kafka:\n    brokers: {}\n    topics: [{topic}]\n    \
         starting-offsets: earliest\n    max-records-per-epoch: 700\n{source}output:\n  dir: {}\n",
        brokers()?,
        dir.join("out").display()
    );
    let path = dir.join("job.yaml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn round_trip(format: &str) -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, &format!("kafka_format_{format}"))?;
    let topic = format!(
        "fmt-{format}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            % 1_000_000
    );
    let expected = dir.join("expected.jsonl").display().to_string();
    let schema = dir.join("reading.avsc").display().to_string();
    tool(&[
        "produce",
        "--brokers",
        &brokers()?,
        "--topic",
        &topic,
        "--format",
        format,
        "--count",
        &MESSAGES.to_string(),
        "--expected",
        &expected,
        "--schema-file",
        &schema,
    ])?;
    let job = write_job(&dir, &topic, format)?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(&job).arg("--batch");
    run_with_timeout(cmd, Duration::from_secs(300))?.require_success("sluice run --batch")?;
    let tables = dir.join("out").join("tables").display().to_string();
    let report = tool(&[
        "check",
        "--dir",
        &tables,
        "--format",
        format,
        "--expected",
        &expected,
    ])?;
    eprintln!("{report}");
    Ok(())
}

#[test]
fn avro_messages_round_trip_and_bad_ones_are_dead_letters() -> Result<()> {
    round_trip("avro")
}

#[test]
fn confluent_framed_avro_round_trips() -> Result<()> {
    round_trip("avro-confluent")
}

#[test]
fn string_messages_round_trip_and_invalid_utf8_is_a_dead_letter() -> Result<()> {
    round_trip("string")
}

#[test]
fn avro_schema_mismatch_is_one_clear_error() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "kafka_format_avro_mismatch")?;
    std::fs::write(
        dir.join("reading.avsc"),
        r#"{"type": "record", "name": "R", "fields": [{"name": "device", "type": "long"}]}"#,
    )?;
    let job = write_job(&dir, "never-read", "avro")?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(&job).arg("--batch");
    expect_clean_failure(
        "Avro schema incompatible with the job's fields",
        cmd,
        &["\"device\"", "long", "reading.avsc"],
    )?;
    std::fs::remove_file(dir.join("reading.avsc"))?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(&job).arg("--batch");
    expect_clean_failure("missing Avro schema file", cmd, &["reading.avsc"])
}
