//! The dead-letter table: records that could not go where they were meant to.
//!
//! These kinds of rows end up here, told apart by `reason`:
//! - `parse_error`: the payload did not decode ([`parse_errors`]);
//! - `rule:<name>`: a decoded row broke a data-quality rule ([`from_rows`]);
//! - `error:<operator>`: evaluating an expression of the operator on the row failed (a
//!   cast of `'abc'` to INT, a division by zero), the error's text in `error`;
//! - `late`: a row arrived after the watermark closed one of its windows ([`late`]);
//! - `future`: a row's event time lay too far ahead of the watermark.
//!
//! Every row keeps its coordinates (`source`, `partition`, `offset`) and its payload, so it
//! can be inspected and replayed. See [`schema`] for the columns.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, StringBuilder, StructArray,
    TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow_json::writer::{EncoderOptions, make_encoder};

use crate::format::{COORDINATE_COLUMNS, OFFSET_COLUMN, PARTITION_COLUMN, RawBatch, SOURCE_COLUMN};

/// `reason` of records that did not decode.
pub const REASON_PARSE_ERROR: &str = "parse_error";
/// `reason` of late records.
pub const REASON_LATE: &str = "late";
/// Prefix of the `reason` of rule violations: `rule:<name>`.
pub const REASON_RULE_PREFIX: &str = "rule:";
/// The column of a batch that [`from_rows`] and [`late`] copy to `event_id`, if present.
pub const EVENT_ID_COLUMN: &str = "event_id";

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The dead-letter table's schema:
///
/// | column | type | null | holds |
/// |---|---|---|---|
/// | `reason` | Utf8 | no | `parse_error`, `rule:<name>`, `error:<operator>`, `late` or `future` |
/// | `error` | Utf8 | yes | detail, e.g. `field "value": expected number, got string "abc"` |
/// | `source` | Utf8 | no | source name |
/// | `partition` | Int32 | no | source partition |
/// | `offset` | Int64 | no | offset in the partition |
/// | `payload` | Utf8 | no | the raw payload (lossy UTF-8), or the row as a JSON object |
/// | `event_id` | Utf8 | yes | the record's `event_id`, when known |
/// | `watermark` | Timestamp(µs, UTC) | yes | for `late`: the watermark it was tested against |
/// | `windows_missed` | Int32 | yes | for `late`: how many windows it missed |
/// | `epoch` | Int64 | no | the epoch that produced the row |
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("reason", DataType::Utf8, false),
            Field::new("error", DataType::Utf8, true),
            Field::new(SOURCE_COLUMN, DataType::Utf8, false),
            Field::new(PARTITION_COLUMN, DataType::Int32, false),
            Field::new(OFFSET_COLUMN, DataType::Int64, false),
            Field::new("payload", DataType::Utf8, false),
            Field::new(EVENT_ID_COLUMN, DataType::Utf8, true),
            Field::new("watermark", timestamp_type(), true),
            Field::new("windows_missed", DataType::Int32, true),
            Field::new("epoch", DataType::Int64, false),
        ]))
    });
    SCHEMA.clone()
}

/// One record of a [`RawBatch`] that did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseFailure {
    /// Its index in the raw batch.
    pub index: usize,
    /// What was wrong, e.g. `field "value": expected number, got string "abc"`.
    pub message: String,
    /// The `event_id`, if the decoder read it before failing.
    pub event_id: Option<String>,
}

/// Dead letters with reason `parse_error` for `failures` of `raw`.
///
/// # Panics
///
/// If a failure's index is out of `raw`'s bounds.
pub fn parse_errors(raw: &RawBatch, failures: &[ParseFailure], epoch: u64) -> RecordBatch {
    parse_errors_as(raw, failures, epoch, PayloadText::Utf8Lossy)
}

/// How a raw payload is written into the dead letters' text `payload` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadText {
    /// As UTF-8, invalid sequences replaced (text formats such as JSON).
    Utf8Lossy,
    /// As `base64:<standard base64>`, so binary payloads (Avro, bytes) survive intact.
    Base64,
}

/// As [`parse_errors`], writing payloads as `text` says.
///
/// # Panics
///
/// If a failure's index is out of `raw`'s bounds.
pub fn parse_errors_as(
    raw: &RawBatch,
    failures: &[ParseFailure],
    epoch: u64,
    text: PayloadText,
) -> RecordBatch {
    use base64::Engine as _;
    let n = failures.len();
    let mut error = StringBuilder::with_capacity(n, n * 48);
    let mut payload = StringBuilder::with_capacity(n, n * 128);
    let mut event_id = StringBuilder::with_capacity(n, n * 16);
    let mut offsets = Vec::with_capacity(n);
    for f in failures {
        error.append_value(&f.message);
        match text {
            PayloadText::Utf8Lossy => {
                payload.append_value(String::from_utf8_lossy(raw.payload(f.index)));
            }
            PayloadText::Base64 => payload.append_value(format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(raw.payload(f.index))
            )),
        }
        event_id.append_option(f.event_id.as_deref());
        offsets.push(raw.offsets[f.index] as i64);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            REASON_PARSE_ERROR,
            n,
        ))),
        Arc::new(error.finish()),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            raw.source.as_str(),
            n,
        ))),
        Arc::new(Int32Array::from(vec![raw.partition as i32; n])),
        Arc::new(Int64Array::from(offsets)),
        Arc::new(payload.finish()),
        Arc::new(event_id.finish()),
        Arc::new(TimestampMicrosecondArray::new_null(n).with_timezone("UTC")),
        Arc::new(Int32Array::new_null(n)),
        Arc::new(Int64Array::from(vec![epoch as i64; n])),
    ];
    RecordBatch::try_new(schema(), columns).expect("parse error columns match the schema")
}

/// Dead letters for the rows of `batch` at `indices`, with `reasons[i]` as the reason of
/// row `indices[i]` (typically `rule:<name>`).
///
/// `batch` must carry the coordinate columns `source`, `partition` and `offset`; its
/// `event_id` column, if any, is copied. The payload is the row as a JSON object of its
/// other columns (nulls left out).
///
/// # Errors
///
/// An [`ArrowError`] if a coordinate column is missing or cannot be cast to its dead-letter
/// type, `indices` and `reasons` differ in length, an index is out of bounds, a reason or
/// coordinate is null, or a column cannot be encoded as JSON.
pub fn from_rows(
    batch: &RecordBatch,
    indices: &UInt32Array,
    reasons: &StringArray,
    epoch: u64,
) -> Result<RecordBatch, ArrowError> {
    if indices.len() != reasons.len() {
        return Err(ArrowError::InvalidArgumentError(format!(
            "dead letters: {} indices but {} reasons",
            indices.len(),
            reasons.len()
        )));
    }
    let taken = take_rows(batch, indices)?;
    let n = taken.num_rows();
    build(
        &taken,
        Arc::new(reasons.clone()),
        Arc::new(TimestampMicrosecondArray::new_null(n).with_timezone("UTC")),
        Arc::new(Int32Array::new_null(n)),
        epoch,
    )
}

/// `dead` (dead letters) with `errors[i]` as the `error` of row `i`.
///
/// # Errors
/// When `errors` and `dead` differ in length.
pub fn with_errors(dead: &RecordBatch, errors: ArrayRef) -> Result<RecordBatch, ArrowError> {
    let mut columns = dead.columns().to_vec();
    columns[dead.schema().index_of("error")?] = cast(&errors, &DataType::Utf8)?;
    RecordBatch::try_new(dead.schema(), columns)
}

/// Dead letters with reason `late` for every row of `batch`, tested against `watermark_ms`
/// (ms since the Unix epoch) and having missed `windows_missed[i]` windows.
///
/// `batch` is as for [`from_rows`].
///
/// # Errors
///
/// An [`ArrowError`] if `windows_missed` and `batch` differ in length, or as for
/// [`from_rows`].
pub fn late(
    batch: &RecordBatch,
    watermark_ms: i64,
    windows_missed: &Int32Array,
    epoch: u64,
) -> Result<RecordBatch, ArrowError> {
    let n = batch.num_rows();
    if windows_missed.len() != n {
        return Err(ArrowError::InvalidArgumentError(format!(
            "late dead letters: {n} rows but {} windows_missed",
            windows_missed.len()
        )));
    }
    let watermark_us = watermark_ms.saturating_mul(1000);
    build(
        batch,
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            REASON_LATE,
            n,
        ))),
        Arc::new(TimestampMicrosecondArray::from(vec![watermark_us; n]).with_timezone("UTC")),
        Arc::new(windows_missed.clone()),
        epoch,
    )
}

fn take_rows(batch: &RecordBatch, indices: &UInt32Array) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), indices, None))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(indices.len())),
    )
}

/// The column `name` of `batch`, cast to `to`.
fn column_as(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, ArrowError> {
    let column = batch.column_by_name(name).ok_or_else(|| {
        ArrowError::SchemaError(format!("dead letters: the batch has no {name:?} column"))
    })?;
    if column.data_type() == to {
        Ok(column.clone())
    } else {
        cast(column, to)
    }
}

/// The coordinate column `name` of `batch`, cast to `to`: its own, or for a stream–stream
/// join's rows, which carry each side's coordinates as `alias.name`, on each row the
/// first side's that is set (the left's, or the right's for a row only the right has).
fn coordinate(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if batch.column_by_name(name).is_some() {
        return column_as(batch, name, to);
    }
    let suffix = format!(".{name}");
    let mut found: Option<ArrayRef> = None;
    let schema = batch.schema();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.name().ends_with(&suffix) {
            continue;
        }
        let column = if column.data_type() == to {
            Arc::clone(column)
        } else {
            cast(column, to)?
        };
        found = Some(match found {
            None => column,
            Some(first) => {
                let set = arrow::compute::is_not_null(&first)?;
                arrow::compute::kernels::zip::zip(&set, &first, &column)?
            }
        });
    }
    found.ok_or_else(|| {
        ArrowError::SchemaError(format!("dead letters: the batch has no {name:?} column"))
    })
}

fn build(
    batch: &RecordBatch,
    reasons: ArrayRef,
    watermark: ArrayRef,
    windows_missed: ArrayRef,
    epoch: u64,
) -> Result<RecordBatch, ArrowError> {
    let n = batch.num_rows();
    let event_id = match batch.column_by_name(EVENT_ID_COLUMN) {
        Some(_) => column_as(batch, EVENT_ID_COLUMN, &DataType::Utf8)?,
        None => Arc::new(StringArray::new_null(n)),
    };
    let columns: Vec<ArrayRef> = vec![
        reasons,
        Arc::new(StringArray::new_null(n)),
        coordinate(batch, SOURCE_COLUMN, &DataType::Utf8)?,
        coordinate(batch, PARTITION_COLUMN, &DataType::Int32)?,
        coordinate(batch, OFFSET_COLUMN, &DataType::Int64)?,
        Arc::new(row_payloads(batch)?),
        event_id,
        watermark,
        windows_missed,
        Arc::new(Int64Array::from(vec![epoch as i64; n])),
    ];
    RecordBatch::try_new(schema(), columns)
}

/// Each row of `batch` as a JSON object of its non-coordinate columns, nulls left out.
fn row_payloads(batch: &RecordBatch) -> Result<StringArray, ArrowError> {
    let schema = batch.schema();
    let (fields, columns): (Vec<_>, Vec<_>) = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| !COORDINATE_COLUMNS.contains(&f.name().as_str()))
        .map(|(f, c)| (f.clone(), c.clone()))
        .unzip();
    let n = batch.num_rows();
    if fields.is_empty() {
        return Ok(StringArray::from_iter_values(std::iter::repeat_n("{}", n)));
    }
    let fields = Fields::from(fields);
    let rows = StructArray::try_new(fields.clone(), columns, None)?;
    let field = Arc::new(Field::new("row", DataType::Struct(fields), false));
    let options = EncoderOptions::default();
    let mut encoder = make_encoder(&field, &rows, &options)?;
    let mut out = StringBuilder::with_capacity(n, n * 128);
    let mut buf = Vec::with_capacity(256);
    for i in 0..n {
        buf.clear();
        encoder.encode(i, &mut buf);
        // The JSON encoder only writes valid UTF-8.
        out.append_value(String::from_utf8_lossy(&buf));
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Float64Array};
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::format::coordinate_fields;

    fn rows() -> RecordBatch {
        let mut fields = vec![
            Arc::new(Field::new("event_id", DataType::Utf8, false)),
            Arc::new(Field::new("value", DataType::Float64, true)),
        ];
        fields.extend(coordinate_fields());
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                Arc::new(StringArray::from(vec!["0-1", "0-2", "0-3"])),
                Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)])),
                Arc::new(StringArray::from(vec!["generator"; 3])),
                Arc::new(Int32Array::from(vec![0; 3])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rule_violations_keep_coordinates_and_payload() {
        let batch = rows();
        let out = from_rows(
            &batch,
            &UInt32Array::from(vec![2, 1]),
            &StringArray::from(vec!["rule:positive", "rule:not_null"]),
            7,
        )
        .unwrap();
        assert_eq!(out.schema(), schema());
        assert_eq!(out.num_rows(), 2);
        let s = |name: &str| out.column_by_name(name).unwrap().as_string::<i32>().clone();
        assert_eq!(
            s("reason"),
            StringArray::from(vec!["rule:positive", "rule:not_null"])
        );
        assert_eq!(
            s("payload"),
            StringArray::from(vec![
                r#"{"event_id":"0-3","value":-2.0}"#,
                r#"{"event_id":"0-2"}"#
            ])
        );
        assert_eq!(s("event_id"), StringArray::from(vec!["0-3", "0-2"]));
        let offsets = out
            .column_by_name("offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(offsets.values().as_ref(), &[3, 2]);
        assert_eq!(
            out.column_by_name("epoch")
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            7
        );
        assert_eq!(out.column_by_name("error").unwrap().null_count(), 2);
    }

    #[test]
    fn a_join_s_rows_go_by_the_first_side_s_coordinates_that_are_set() {
        // A right outer join's rows: the second has no left row.
        let fields = vec![
            Field::new("o.id", DataType::Int64, true),
            Field::new("o.source", DataType::Utf8, true),
            Field::new("o.partition", DataType::Int32, true),
            Field::new("o.offset", DataType::Int64, true),
            Field::new("p.source", DataType::Utf8, false),
            Field::new("p.partition", DataType::Int32, false),
            Field::new("p.offset", DataType::Int64, false),
        ];
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(StringArray::from(vec![Some("orders"), None])),
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(Int64Array::from(vec![Some(10), None])),
                Arc::new(StringArray::from(vec!["payments", "payments"])),
                Arc::new(Int32Array::from(vec![2, 3])),
                Arc::new(Int64Array::from(vec![20, 30])),
            ],
        )
        .unwrap();
        let reasons = StringArray::from(vec!["expression", "expression"]);
        let dead = from_rows(&batch, &UInt32Array::from(vec![0, 1]), &reasons, 4).unwrap();
        let source = dead
            .column_by_name(SOURCE_COLUMN)
            .unwrap()
            .as_string::<i32>();
        assert_eq!(source.value(0), "orders");
        assert_eq!(source.value(1), "payments");
        let offset = dead
            .column_by_name(OFFSET_COLUMN)
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!((offset.value(0), offset.value(1)), (10, 30));
        // A batch with no coordinates at all is still refused, naming the column.
        let bare = batch.project(&[0]).unwrap();
        let e = from_rows(
            &bare,
            &UInt32Array::from(vec![0]),
            &StringArray::from(vec!["x"]),
            4,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no \"source\" column"), "{e}");
    }

    #[test]
    fn rows_an_expression_failed_on_keep_the_operator_as_reason_and_the_error_apart() {
        use sluice_engine::runtime::DeadLetters;
        let rejected =
            sluice_engine::stateless::with_error(&rows(), "q/cents", &"division by zero").unwrap();
        let out = DeadLetterRows.rejected(&rejected, 4).unwrap();
        assert_eq!(out.schema(), schema());
        let reasons = out.column_by_name("reason").unwrap().as_string::<i32>();
        assert!(
            reasons.iter().all(|r| r == Some("error:q/cents")),
            "{reasons:?}"
        );
        let errors = out.column_by_name("error").unwrap().as_string::<i32>();
        assert!(
            errors.iter().all(|e| e == Some("division by zero")),
            "{errors:?}"
        );
        // The payload is the row, without the reason or the error.
        let payloads = out.column_by_name("payload").unwrap().as_string::<i32>();
        assert_eq!(payloads.value(0), r#"{"event_id":"0-1","value":1.5}"#);
        // Rows broken by a rule have no error.
        let broken = sluice_engine::stateless::with_reason(&rows(), "rule:positive").unwrap();
        let out = DeadLetterRows.rejected(&broken, 4).unwrap();
        assert_eq!(out.column_by_name("error").unwrap().null_count(), 3);
    }

    #[test]
    fn late_rows_carry_the_watermark() {
        let batch = rows();
        let out = late(&batch, 1_000, &Int32Array::from(vec![1, 2, 3]), 4).unwrap();
        assert_eq!(out.num_rows(), 3);
        let wm = out.column_by_name("watermark").unwrap();
        assert_eq!(wm.data_type(), &timestamp_type());
        assert_eq!(
            wm.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(0),
            1_000_000
        );
        let reasons = out.column_by_name("reason").unwrap().as_string::<i32>();
        assert!(reasons.iter().all(|r| r == Some(REASON_LATE)));
        assert!(late(&batch, 0, &Int32Array::from(vec![1]), 4).is_err());
    }

    #[test]
    fn missing_coordinates_are_an_error() {
        let batch = rows().project(&[0, 1]).unwrap();
        let err = late(&batch, 0, &Int32Array::from(vec![0; 3]), 0).unwrap_err();
        assert!(err.to_string().contains("\"source\""), "{err}");
        assert!(
            from_rows(
                &rows(),
                &UInt32Array::from(vec![0]),
                &StringArray::from(vec!["a", "b"]),
                0
            )
            .is_err()
        );
    }
}

/// The engine's dead-letter conversion: rejected rows carry a `reason` column, late rows
/// carry `windows_missed` and `late_watermark` (microseconds) columns.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeadLetterRows;

impl sluice_engine::runtime::DeadLetters for DeadLetterRows {
    fn rejected(
        &self,
        batch: &RecordBatch,
        epoch: u64,
    ) -> Result<RecordBatch, sluice_engine::runtime::ConnectorFailure> {
        let fail =
            |e: ArrowError| sluice_engine::runtime::ConnectorFailure::new(e.to_string(), false);
        let (rows, reasons) = split_off(batch, "reason").map_err(fail)?;
        let reasons = reasons
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| fail(ArrowError::SchemaError("reason must be a string".into())))?;
        // Rows whose evaluation failed carry the error's text (`error:<operator>` rows).
        let (rows, errors) = match split_off(&rows, "error") {
            Ok((rest, errors)) => (rest, Some(errors)),
            Err(_) => (rows, None),
        };
        let indices = UInt32Array::from_iter_values(0..rows.num_rows() as u32);
        let dead = from_rows(&rows, &indices, reasons, epoch).map_err(fail)?;
        match errors {
            Some(errors) => with_errors(&dead, errors).map_err(fail),
            None => Ok(dead),
        }
    }

    fn late(
        &self,
        batch: &RecordBatch,
        epoch: u64,
    ) -> Result<RecordBatch, sluice_engine::runtime::ConnectorFailure> {
        let fail =
            |e: ArrowError| sluice_engine::runtime::ConnectorFailure::new(e.to_string(), false);
        let (rows, watermark) = split_off(batch, "late_watermark").map_err(fail)?;
        let (rows, missed) = split_off(&rows, "windows_missed").map_err(fail)?;
        let missed = missed
            .as_any()
            .downcast_ref::<Int32Array>()
            .ok_or_else(|| {
                fail(ArrowError::SchemaError(
                    "windows_missed must be int32".into(),
                ))
            })?;
        let watermark = arrow::compute::cast(
            &watermark,
            &arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
        )
        .map_err(fail)?;
        let watermark = watermark
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .expect("cast to timestamp(us)");
        // One epoch has one lateness threshold; take it from the first row that has one.
        let watermark_us = (0..watermark.len())
            .find(|&i| watermark.is_valid(i))
            .map_or(i64::MIN, |i| watermark.value(i));
        late(&rows, watermark_us.div_euclid(1000), missed, epoch).map_err(fail)
    }
}

/// `batch` without column `name`, and that column.
fn split_off(
    batch: &RecordBatch,
    name: &str,
) -> Result<(RecordBatch, arrow::array::ArrayRef), ArrowError> {
    let index = batch.schema().index_of(name)?;
    let column = batch.column(index).clone();
    let mut rest = batch.clone();
    rest.remove_column(index);
    Ok((rest, column))
}
