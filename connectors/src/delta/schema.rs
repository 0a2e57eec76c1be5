//! Schema checks between the sink's Arrow schema, the Delta table and incoming batches.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType as ArrowType, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow, TryFromKernel};
use deltalake::kernel::{DataType, StructField, StructType};

use tracing::warn;

use super::error::{DeltaError, Result};

/// The Delta schema of an Arrow schema.
///
/// # Errors
///
/// [`DeltaError::SchemaMismatch`] if a column has an Arrow type that Delta cannot store.
pub(crate) fn to_delta(table: &str, schema: &SchemaRef) -> Result<StructType> {
    // Delta writes a typeless column as `void`, which other readers refuse.
    if let Some(field) = schema
        .fields()
        .iter()
        .find(|f| holds_null_type(f.data_type()))
    {
        return Err(DeltaError::schema(
            table,
            format!(
                "column {:?} has no type (a bare NULL): give it one, CAST(NULL AS BIGINT) \
                 or the type it should have",
                field.name()
            ),
        ));
    }
    StructType::try_from_arrow(schema.as_ref()).map_err(|e| {
        DeltaError::schema(
            table,
            format!("the Arrow schema has no Delta equivalent: {e}"),
        )
    })
}

/// `schema` with its timestamps in microseconds, the unit Delta stores: an expression's
/// seconds (`from_unixtime`), milliseconds or nanoseconds (`now()`) are written so, and
/// [`conform`] casts their batches.
pub(crate) fn in_delta_units(schema: &SchemaRef) -> SchemaRef {
    let micros = |t: &ArrowType| match t {
        ArrowType::Timestamp(unit, tz) if *unit != TimeUnit::Microsecond => {
            Some(ArrowType::Timestamp(TimeUnit::Microsecond, tz.clone()))
        }
        _ => None,
    };
    if !schema
        .fields()
        .iter()
        .any(|f| micros(f.data_type()).is_some())
    {
        return Arc::clone(schema);
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| match micros(f.data_type()) {
            Some(t) => f.as_ref().clone().with_data_type(t),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Whether `t` is the Arrow null type, or a struct, list or map holding it.
fn holds_null_type(t: &ArrowType) -> bool {
    match t {
        ArrowType::Null => true,
        ArrowType::Struct(fields) => fields.iter().any(|f| holds_null_type(f.data_type())),
        ArrowType::List(f)
        | ArrowType::LargeList(f)
        | ArrowType::FixedSizeList(f, _)
        | ArrowType::ListView(f)
        | ArrowType::LargeListView(f)
        | ArrowType::Map(f, _) => holds_null_type(f.data_type()),
        _ => false,
    }
}

/// Checks that the partition columns exist, are distinct, and leave at least one data column.
///
/// # Errors
///
/// [`DeltaError::SchemaMismatch`] naming the offending column.
pub(crate) fn check_partition_columns(
    table: &str,
    schema: &SchemaRef,
    partition_columns: &[String],
) -> Result<()> {
    for (i, column) in partition_columns.iter().enumerate() {
        if schema.field_with_name(column).is_err() {
            return Err(DeltaError::schema(
                table,
                format!("partition column {column:?} is not in the schema"),
            ));
        }
        if partition_columns[..i].contains(column) {
            return Err(DeltaError::schema(
                table,
                format!("partition column {column:?} is listed twice"),
            ));
        }
    }
    if partition_columns.len() == schema.fields().len() {
        return Err(DeltaError::schema(
            table,
            "every column is a partition column; Delta needs at least one data column",
        ));
    }
    Ok(())
}

/// `expected` plus the table's columns it lacks (for `merge-schema`: they stay, null in
/// new files); each of those must be nullable.
pub(crate) fn with_table_only_columns(
    table: &str,
    expected: &StructType,
    actual: &StructType,
) -> Result<StructType> {
    let mut fields: Vec<StructField> = expected.fields().cloned().collect();
    for f in actual.fields() {
        if expected.field(f.name()).is_none() {
            if !f.is_nullable() {
                return Err(DeltaError::schema(
                    table,
                    format!(
                        "column {:?} is required (not null) in the table but the sink has no such column",
                        f.name()
                    ),
                ));
            }
            fields.push(f.clone());
        }
    }
    StructType::try_new(fields).map_err(|e| DeltaError::schema(table, e.to_string()))
}

/// Checks that an existing table has the sink's columns (same names, same Delta types, in any
/// order; nullability is not compared) and the same partition columns in the same order.
///
/// # Errors
///
/// [`DeltaError::SchemaMismatch`] listing every difference.
pub(crate) fn check_compatible(
    table: &str,
    expected: &StructType,
    expected_partitions: &[String],
    actual: &StructType,
    actual_partitions: &[String],
) -> Result<()> {
    let want: BTreeMap<&str, &DataType> = expected
        .fields()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    let have: BTreeMap<&str, &DataType> = actual
        .fields()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    let mut problems = Vec::new();
    for (name, ty) in &want {
        match have.get(name) {
            None => problems.push(format!("column {name:?} is missing from the table")),
            Some(found) if found != ty => problems.push(format!(
                "column {name:?} is {} in the table but {} in the sink{}",
                type_name(found),
                type_name(ty),
                hint(found, ty)
            )),
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|name| !want.contains_key(*name)) {
        problems.push(format!(
            "the table has column {name:?} that the sink does not"
        ));
    }
    if expected_partitions != actual_partitions {
        problems.push(format!(
            "the table is partitioned by {actual_partitions:?} \
             but the sink by {expected_partitions:?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DeltaError::schema(table, problems.join("; ")))
    }
}

/// What to do about a column of type `table` in the table and `sink` in the sink.
fn hint(table: &DataType, sink: &DataType) -> &'static str {
    let name = |t: &DataType| type_name(t);
    match (name(table).as_str(), name(sink).as_str()) {
        _ if narrower(table, sink) => {
            " (set output.merge-schema to widen the table column; the table is rewritten once)"
        }
        ("long" | "integer", "double") => {
            " (a `/` of two integers gives a DOUBLE, as in Spark and DuckDB, where earlier \
             builds truncated it: write CAST(a / b AS BIGINT) to keep the column's type)"
        }
        ("timestamp" | "timestamp_ntz", "string") => {
            " (from_unixtime gives text, as in Spark and Flink, where earlier builds gave a \
             timestamp: write to_timestamp(from_unixtime(x)) to keep the column's type)"
        }
        _ => "",
    }
}

/// Whether values of Arrow type `from` can be stored in a column of type `to` without loss,
/// as Delta's type widening allows: integers to wider integers, to `double`, or to a
/// decimal with enough integer digits; `float` to `double`; `date` to `timestamp_ntz`;
/// a decimal to one with at least as many integer and fraction digits.
pub(crate) fn widens(from: &ArrowType, to: &ArrowType) -> bool {
    use ArrowType as T;
    let int_rank = |t: &ArrowType| match t {
        T::Int8 => Some(1),
        T::Int16 => Some(2),
        T::Int32 => Some(3),
        T::Int64 => Some(4),
        _ => None,
    };
    // Decimal digits needed for the largest value of an integer type.
    let int_digits = |t: &ArrowType| match t {
        T::Int8 => Some(3),
        T::Int16 => Some(5),
        T::Int32 => Some(10),
        T::Int64 => Some(20),
        _ => None,
    };
    match (from, to) {
        (a, b) if a == b => false,
        (a, b) if int_rank(a).is_some() && int_rank(b).is_some() => int_rank(a) < int_rank(b),
        (T::Int8 | T::Int16 | T::Int32, T::Float64) | (T::Float32, T::Float64) => true,
        (a, T::Decimal128(p, s)) if int_digits(a).is_some() => {
            int_digits(a).is_some_and(|d| i16::from(*p) - i16::from(*s) >= d)
        }
        (T::Date32, T::Timestamp(_, None)) => true,
        (T::Decimal128(p1, s1), T::Decimal128(p2, s2)) => {
            s2 >= s1 && i16::from(*p2) - i16::from(*s2) >= i16::from(*p1) - i16::from(*s1)
        }
        _ => false,
    }
}

/// The schema the sink writes to an existing table: `sink`, with each column whose type the
/// table widens (see [`widens`]) given the table's type, so that a job producing `int`
/// values appends to a `long` column. Other columns are left for
/// [`check_compatible`] to judge.
///
/// # Errors
///
/// [`DeltaError::SchemaMismatch`] if the table's schema has no Arrow equivalent.
pub(crate) fn widened_to_table(
    table: &str,
    sink: &SchemaRef,
    actual: &StructType,
) -> Result<SchemaRef> {
    let mut changed = false;
    let mut fields = Vec::with_capacity(sink.fields().len());
    for f in sink.fields() {
        let Some(column) = actual.field(f.name()) else {
            fields.push(f.as_ref().clone());
            continue;
        };
        let have = ArrowType::try_from_kernel(column.data_type()).map_err(|e| {
            DeltaError::schema(
                table,
                format!("column {:?} has no Arrow equivalent: {e}", f.name()),
            )
        })?;
        if widens(f.data_type(), &have) {
            changed = true;
            fields.push(f.as_ref().clone().with_data_type(have));
        } else if into_doubles(f.data_type(), &have) {
            warn!(table, column = %f.name(),
                "the table's column is double and the sink's bigint (an earlier build summed \
                 integers as doubles): its values are written as doubles, exact to 2^53");
            changed = true;
            fields.push(f.as_ref().clone().with_data_type(have));
        } else {
            fields.push(f.as_ref().clone());
        }
    }
    Ok(if changed {
        Arc::new(Schema::new_with_metadata(fields, sink.metadata().clone()))
    } else {
        Arc::clone(sink)
    })
}

/// Whether `from` is a `long` written into an existing table's `double` column. That is no
/// type widening (a double holds integers exactly only to 2^53), but tables written before
/// sums, minima and maxima of integers became BIGINT hold them as doubles, and go on so.
fn into_doubles(from: &ArrowType, to: &ArrowType) -> bool {
    matches!((from, to), (ArrowType::Int64, ArrowType::Float64))
}

/// A Delta type as the Delta log spells it (`date`, `timestamp`, `string`, ...).
pub(crate) fn type_name(ty: &DataType) -> String {
    serde_json::to_string(ty)
        .map(|s| s.trim_matches('"').to_owned())
        .unwrap_or_else(|_| format!("{ty:?}"))
}

/// Whether the table's Delta type `table` is narrower than the sink's `sink` in a way
/// Delta's type widening would allow.
pub(crate) fn narrower(table: &DataType, sink: &DataType) -> bool {
    match (
        ArrowType::try_from_kernel(table),
        ArrowType::try_from_kernel(sink),
    ) {
        (Ok(t), Ok(s)) => widens(&t, &s),
        _ => false,
    }
}

/// Whether `to` is the timestamp `from` in microseconds (see [`in_delta_units`]).
fn in_micros(from: &ArrowType, to: &ArrowType) -> bool {
    matches!((from, to), (ArrowType::Timestamp(_, a), ArrowType::Timestamp(TimeUnit::Microsecond, b)) if a == b)
}

/// Returns `batch` with exactly the sink's schema.
///
/// A batch whose columns have the sink's names and types but whose schema differs only in
/// metadata or nullability is re-labelled (Arrow rejects nulls in non-nullable columns here);
/// anything else is a mismatch.
///
/// # Errors
///
/// [`DeltaError::SchemaMismatch`] describing the first difference.
pub(crate) fn conform(table: &str, schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch.clone());
    }
    let got = batch.schema();
    let same_shape = got.fields().len() == schema.fields().len()
        && got.fields().iter().zip(schema.fields()).all(|(g, w)| {
            g.name() == w.name()
                && (g.data_type() == w.data_type()
                    || widens(g.data_type(), w.data_type())
                    || into_doubles(g.data_type(), w.data_type())
                    || in_micros(g.data_type(), w.data_type()))
        });
    if !same_shape {
        let describe = |s: &SchemaRef| {
            s.fields()
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(DeltaError::schema(
            table,
            format!(
                "batch has columns [{}] but the sink expects [{}]",
                describe(&got),
                describe(schema)
            ),
        ));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, w)| {
            if c.data_type() == w.data_type() {
                Ok(Arc::clone(c))
            } else {
                arrow::compute::cast(c, w.data_type()).map_err(|e| {
                    DeltaError::schema(
                        table,
                        format!("widening column {:?} to {}: {e}", w.name(), w.data_type()),
                    )
                })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| DeltaError::schema(table, format!("batch does not fit the sink schema: {e}")))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit};

    use super::*;

    #[test]
    fn timestamps_of_other_units_are_written_in_microseconds() {
        use arrow::array::{ArrayRef, TimestampMicrosecondArray, TimestampSecondArray};
        let utc: Option<std::sync::Arc<str>> = Some("UTC".into());
        let seconds = Arc::new(Schema::new(vec![Field::new(
            "t",
            ArrowType::Timestamp(TimeUnit::Second, utc.clone()),
            true,
        )]));
        let want = in_delta_units(&seconds);
        assert_eq!(
            want.field(0).data_type(),
            &ArrowType::Timestamp(TimeUnit::Microsecond, utc.clone())
        );
        assert!(to_delta("t", &want).is_ok());
        let batch = RecordBatch::try_new(
            seconds,
            vec![
                Arc::new(TimestampSecondArray::from(vec![1_700_000_000]).with_timezone("UTC"))
                    as ArrayRef,
            ],
        )
        .unwrap();
        let out = conform("t", &want, &batch).unwrap();
        let micros = out
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(micros.value(0), 1_700_000_000_000_000);
    }

    fn schema(ts: ArrowType) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", ArrowType::Int64, false),
            Field::new("ts", ts, true),
            Field::new("event_date", ArrowType::Date32, true),
        ]))
    }

    #[test]
    fn a_column_without_a_type_is_refused_naming_it() {
        let err = to_delta("t", &schema(ArrowType::Null)).unwrap_err();
        assert!(
            err.to_string().contains("column \"ts\" has no type"),
            "{err}"
        );
        let nested = ArrowType::List(Arc::new(Field::new("item", ArrowType::Null, true)));
        assert!(to_delta("t", &schema(nested)).is_err());
        assert!(to_delta("t", &schema(ArrowType::Int64)).is_ok());
    }

    #[test]
    fn compatibility_reports_type_and_partition_differences() {
        let utc = ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let a = to_delta("t", &schema(utc.clone())).unwrap();
        let b = to_delta("t", &schema(ArrowType::Utf8)).unwrap();
        let parts = vec!["event_date".to_owned()];
        check_compatible("t", &a, &parts, &a, &parts).unwrap();
        let err = check_compatible("t", &a, &parts, &b, &[]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"ts\" is string in the table but timestamp"),
            "{msg}"
        );
        assert!(msg.contains("partitioned by []"), "{msg}");
        assert!(check_partition_columns("t", &schema(utc.clone()), &["nope".into()]).is_err());
    }

    #[test]
    fn widening_follows_delta_rules() {
        use ArrowType as T;
        let ok = [
            (T::Int8, T::Int16),
            (T::Int16, T::Int64),
            (T::Int32, T::Int64),
            (T::Int32, T::Float64),
            (T::Float32, T::Float64),
            (T::Int32, T::Decimal128(12, 2)),
            (T::Decimal128(10, 2), T::Decimal128(12, 4)),
            (T::Date32, T::Timestamp(TimeUnit::Microsecond, None)),
        ];
        for (from, to) in ok {
            assert!(widens(&from, &to), "{from} -> {to}");
        }
        let no = [
            (T::Int64, T::Int32),
            (T::Int64, T::Float64),
            (T::Float64, T::Float32),
            (T::Int32, T::Int32),
            (T::Int64, T::Decimal128(12, 2)),
            (T::Decimal128(10, 2), T::Decimal128(10, 4)),
            (T::Utf8, T::Int64),
            (
                T::Date32,
                T::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
        ];
        for (from, to) in no {
            assert!(!widens(&from, &to), "{from} -> {to}");
        }
    }

    #[test]
    fn a_mismatch_says_how_to_keep_the_table_s_type() {
        let table = |t: ArrowType| {
            to_delta("t", &Arc::new(Schema::new(vec![Field::new("c", t, true)]))).unwrap()
        };
        let err = |have: ArrowType, want: ArrowType| {
            check_compatible("t", &table(want), &[], &table(have), &[])
                .unwrap_err()
                .to_string()
        };
        assert!(err(ArrowType::Int64, ArrowType::Float64).contains("CAST(a / b AS BIGINT)"));
        let ts = ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        assert!(err(ts, ArrowType::Utf8).contains("to_timestamp(from_unixtime(x))"));
        assert!(err(ArrowType::Int32, ArrowType::Int64).contains("merge-schema"));
        assert!(!err(ArrowType::Utf8, ArrowType::Int64).contains('('));
    }

    #[test]
    fn a_bigint_goes_into_a_double_column_of_an_existing_table() {
        let double = Arc::new(Schema::new(vec![Field::new(
            "total",
            ArrowType::Float64,
            true,
        )]));
        let long = Arc::new(Schema::new(vec![Field::new(
            "total",
            ArrowType::Int64,
            true,
        )]));
        let table = to_delta("t", &double).unwrap();
        let written = widened_to_table("t", &long, &table).unwrap();
        assert_eq!(written, double);
        let batch =
            RecordBatch::try_new(long, vec![Arc::new(Int64Array::from(vec![Some(7), None]))])
                .unwrap();
        let out = conform("t", &written, &batch).unwrap();
        assert_eq!(
            out.column(0).as_ref(),
            &arrow::array::Float64Array::from(vec![Some(7.0), None]) as &dyn arrow::array::Array
        );
        // Not the other way: a double does not go into a long column.
        let table = to_delta("t", &long_schema()).unwrap();
        assert_eq!(widened_to_table("t", &double, &table).unwrap(), double);
    }

    fn long_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new(
            "total",
            ArrowType::Int64,
            true,
        )]))
    }

    #[test]
    fn conform_widens_allowed_columns_only() {
        let want = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int64, true)]));
        let ints = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int32, true)]));
        let batch = RecordBatch::try_new(
            ints,
            vec![Arc::new(arrow::array::Int32Array::from(vec![
                Some(1),
                None,
            ]))],
        )
        .unwrap();
        let out = conform("t", &want, &batch).unwrap();
        assert_eq!(out.schema(), want);
        assert_eq!(
            out.column(0).as_ref(),
            &Int64Array::from(vec![Some(1), None]) as &dyn arrow::array::Array
        );
    }

    #[test]
    fn conform_relabels_nullability_and_rejects_other_columns() {
        let want = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int64, false)]));
        let loose = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int64, true)]));
        let batch =
            RecordBatch::try_new(loose, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        assert_eq!(conform("t", &want, &batch).unwrap().schema(), want);

        let other = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Utf8, false)]));
        let batch =
            RecordBatch::try_new(other, vec![Arc::new(StringArray::from(vec!["x"]))]).unwrap();
        assert!(matches!(
            conform("t", &want, &batch),
            Err(DeltaError::SchemaMismatch { .. })
        ));
    }
}
