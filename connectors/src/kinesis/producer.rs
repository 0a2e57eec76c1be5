//! Putting records into a stream, for tests, demos and the CLI.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use super::client::{Target, backoff, call};
use super::error::{KinesisError, Result};

/// Records per `PutRecords` call (a Kinesis limit).
pub const PUT_BATCH_RECORDS: usize = 500;
/// Bytes (keys and payloads) per `PutRecords` call (a Kinesis limit).
const PUT_BATCH_BYTES: usize = 5 << 20;
/// Times the failed entries of one batch are sent again.
const PUT_ATTEMPTS: u32 = 10;

/// What [`put_records`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutReport {
    /// Records stored.
    pub records: u64,
    /// `PutRecords` calls made, retries included.
    pub calls: u64,
    /// Entries sent again after Kinesis rejected them (throttling).
    pub retried: u64,
}

/// Puts `records` (partition key, payload) into `stream`, 500 per `PutRecords` call (fewer
/// when a call would exceed 5 MiB), sending rejected entries again with backoff.
///
/// Records of one call that Kinesis rejects are retried after the accepted ones, so the
/// order of records with the same key is not preserved across retries.
///
/// ```no_run
/// # async fn demo(client: aws_sdk_kinesis::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use sluice_connectors::kinesis::put_records;
/// let records = vec![("user-1".to_string(), br#"{"n":1}"#.to_vec())];
/// let report = put_records(&client, "clicks", records).await?;
/// assert_eq!(report.records, 1);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`KinesisError::UnknownStream`], [`KinesisError::Credentials`],
/// [`KinesisError::Unreachable`] as for the source; [`KinesisError::Produce`] when entries
/// are still rejected after 10 attempts or a record is invalid (an empty key, or larger
/// than 5 MiB).
///
/// # Cancel safety
/// Not cancel safe: if the future is dropped, a prefix of the records (in no particular
/// order) may have been stored.
pub async fn put_records(
    client: &Client,
    stream: &str,
    records: Vec<(String, Vec<u8>)>,
) -> Result<PutReport> {
    let target = Target {
        stream,
        endpoint: "the client's endpoint",
    };
    let produce = |message: String| KinesisError::Produce {
        stream: stream.to_string(),
        message,
    };
    let mut report = PutReport::default();
    let mut batch: Vec<PutRecordsRequestEntry> = Vec::with_capacity(PUT_BATCH_RECORDS);
    let mut batch_bytes = 0;
    let mut records = records.into_iter().peekable();
    while let Some((key, data)) = records.next() {
        let size = key.len() + data.len();
        if key.is_empty() || size > PUT_BATCH_BYTES {
            return Err(produce(format!(
                "record with key {key:?} of {size} bytes is invalid (empty key or above 5 MiB)"
            )));
        }
        let entry = PutRecordsRequestEntry::builder()
            .partition_key(key)
            .data(Blob::new(data))
            .build()
            .map_err(|e| produce(e.to_string()))?;
        batch.push(entry);
        batch_bytes += size;
        let full = batch.len() == PUT_BATCH_RECORDS
            || records
                .peek()
                .is_none_or(|(k, d)| batch_bytes + k.len() + d.len() > PUT_BATCH_BYTES);
        if full {
            put_batch(client, &target, std::mem::take(&mut batch), &mut report).await?;
            batch_bytes = 0;
        }
    }
    Ok(report)
}

async fn put_batch(
    client: &Client,
    target: &Target<'_>,
    mut entries: Vec<PutRecordsRequestEntry>,
    report: &mut PutReport,
) -> Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        report.calls += 1;
        let out = call(target, "PutRecords", || {
            client
                .put_records()
                .stream_name(target.stream)
                .set_records(Some(entries.clone()))
                .send()
        })
        .await
        .map_err(KinesisError::from)?;
        let failed = out.failed_record_count().unwrap_or(0);
        if failed == 0 {
            report.records += entries.len() as u64;
            return Ok(());
        }
        if out.records().len() != entries.len() {
            return Err(KinesisError::Produce {
                stream: target.stream.to_string(),
                message: format!(
                    "sent {} records, got {} results",
                    entries.len(),
                    out.records().len()
                ),
            });
        }
        let mut retry = Vec::with_capacity(usize::try_from(failed).unwrap_or(0));
        let mut first_error = None;
        for (entry, result) in entries.into_iter().zip(out.records()) {
            if let Some(code) = result.error_code() {
                first_error.get_or_insert_with(|| {
                    format!("{code}: {}", result.error_message().unwrap_or_default())
                });
                retry.push(entry);
            } else {
                report.records += 1;
            }
        }
        if attempt >= PUT_ATTEMPTS {
            return Err(KinesisError::Produce {
                stream: target.stream.to_string(),
                message: format!(
                    "{} records still rejected after {attempt} attempts: {}",
                    retry.len(),
                    first_error.unwrap_or_default()
                ),
            });
        }
        report.retried += retry.len() as u64;
        tracing::debug!(
            stream = target.stream,
            rejected = retry.len(),
            attempt,
            "retrying rejected records"
        );
        tokio::time::sleep(backoff(attempt)).await;
        entries = retry;
    }
}
