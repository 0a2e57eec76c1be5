//! Spark's `to_json(value)`: a struct, an array or a map written as JSON text, as Spark
//! writes it: a struct's NULL fields left out (a map's NULL values written), a timestamp field (of a struct's own
//! fields) as `2024-02-29T23:05:09.123Z` (milliseconds, UTC, Spark's default
//! `timestampFormat`), a date as `2024-02-29`. A NULL value gives NULL. Timestamps deeper
//! in the value keep Arrow's text (`...T23:05:09.123456Z`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder, StructArray};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit, TimestampMicrosecondType};
use arrow::temporal_conversions::timestamp_us_to_datetime;
use arrow_json::writer::{EncoderOptions, make_encoder};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Spark's `to_json`.
pub(super) fn to_json() -> ScalarUDF {
    ScalarUDF::from(ToJson {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToJson {
    signature: Signature,
}

/// `values` with each timestamp field of a struct as Spark's JSON text of it.
fn spark_timestamps(values: ArrayRef) -> Result<ArrayRef> {
    let DataType::Struct(fields) = values.data_type() else {
        return Ok(values);
    };
    if !fields
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, _)))
    {
        return Ok(values);
    }
    let structs = values.as_struct();
    let mut new_fields = Vec::with_capacity(fields.len());
    let mut columns = Vec::with_capacity(fields.len());
    for (field, column) in fields.iter().zip(structs.columns()) {
        if !matches!(field.data_type(), DataType::Timestamp(_, _)) {
            new_fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
            continue;
        }
        let micros =
            arrow::compute::cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let mut text = StringBuilder::with_capacity(micros.len(), micros.len() * 24);
        for t in micros.iter() {
            text.append_option(
                t.and_then(timestamp_us_to_datetime)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            );
        }
        new_fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text.finish()) as ArrayRef);
    }
    Ok(Arc::new(StructArray::try_new(
        Fields::from(new_fields),
        columns,
        structs.nulls().cloned(),
    )?))
}

impl ScalarUDFImpl for ToJson {
    fn name(&self) -> &str {
        "to_json"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::Map(_, _)
            | DataType::Null => Ok(DataType::Utf8),
            other => plan_err!("to_json takes a struct, an array or a map, not {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = spark_timestamps(args.args[0].to_array(args.number_rows)?)?;
        if values.data_type() == &DataType::Null {
            return exec_err!("to_json of NULL needs a typed value");
        }
        let field = Arc::new(Field::new("value", values.data_type().clone(), true));
        // Spark leaves a struct's NULL fields out, and writes a map's NULL values.
        let options = EncoderOptions::default()
            .with_explicit_nulls(matches!(values.data_type(), DataType::Map(_, _)));
        let mut encoder = make_encoder(&field, &values, &options)?;
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 64);
        let mut buf = Vec::with_capacity(256);
        for i in 0..values.len() {
            if values.is_null(i) {
                out.append_null();
                continue;
            }
            buf.clear();
            encoder.encode(i, &mut buf);
            // The JSON encoder writes UTF-8 only.
            out.append_value(String::from_utf8_lossy(&buf));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
