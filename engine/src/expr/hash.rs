//! Spark's `hash(a, b, ...)`: the 32-bit Murmur3 hash (x86 variant, seed 42) of its
//! arguments, as an INT, each argument's hash seeding the next one's. Jobs bucket and
//! sample with it (`pmod(hash(user_id), 16)`), so its values must be Spark's bit for bit:
//!
//! - BOOLEAN, TINYINT, SMALLINT, INT and DATE hash as a 4-byte int (true is 1, a date its
//!   days since the epoch); BIGINT and TIMESTAMP (its microseconds) as an 8-byte long;
//! - FLOAT and DOUBLE hash their IEEE bits, with `-0.0` as `0.0` and every NaN as Java's
//!   one NaN;
//! - a DECIMAL of precision 18 or less hashes its unscaled long; a wider one the bytes of
//!   its unscaled value (big-endian, as Java's `BigInteger.toByteArray`);
//! - STRING and BINARY hash their bytes, with Spark's own handling of the last 1 to 3
//!   bytes (each mixed as a sign-extended int: not the reference Murmur3's tail);
//! - an array hashes its elements in order, a struct its fields, each seeding the next;
//! - NULL leaves the hash as it was (`hash(NULL)` is 42).
//!
//! A type Spark's `hash` refuses (a map among them) is refused when the expression is
//! planned.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Spark's seed of `hash`.
const SEED: i32 = 42;
const C1: i32 = 0xcc9e_2d51_u32 as i32;
const C2: i32 = 0x1b87_3593;

/// Spark's `hash`.
pub(super) fn spark_hash() -> ScalarUDF {
    ScalarUDF::from(SparkHash {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkHash {
    signature: Signature,
}

impl ScalarUDFImpl for SparkHash {
    fn name(&self) -> &str {
        "hash"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.is_empty() {
            return plan_err!("hash takes at least one argument");
        }
        for t in args {
            if !hashable(t) {
                return plan_err!("hash: a value of type {t} is not hashed as Spark hashes");
            }
        }
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut hashes = vec![SEED; rows];
        for arg in &args.args {
            let array = arg.to_array(rows)?;
            for (row, h) in hashes.iter_mut().enumerate() {
                *h = hash_at(array.as_ref(), row, *h)?;
            }
        }
        Ok(ColumnarValue::Array(Arc::new(Int32Array::from(hashes))))
    }
}

/// Whether Spark's `hash` takes a value of type `t`.
fn hashable(t: &DataType) -> bool {
    match t {
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Decimal128(..)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            hashable(f.data_type())
        }
        DataType::Struct(fields) => fields.iter().all(|f| hashable(f.data_type())),
        _ => false,
    }
}

fn mix_k1(k1: i32) -> i32 {
    k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

fn mix_h1(h1: i32, k1: i32) -> i32 {
    (h1 ^ k1)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64_u32 as i32)
}

fn fmix(h1: i32, length: i32) -> i32 {
    let mut h = (h1 ^ length) as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h as i32
}

fn hash_int(value: i32, seed: i32) -> i32 {
    fmix(mix_h1(seed, mix_k1(value)), 4)
}

fn hash_long(value: i64, seed: i32) -> i32 {
    let h1 = mix_h1(seed, mix_k1(value as i32));
    let h1 = mix_h1(h1, mix_k1((value >> 32) as i32));
    fmix(h1, 8)
}

/// Spark's `Murmur3_x86_32.hashUnsafeBytes`: whole 4-byte words (little-endian), then
/// each remaining byte as a sign-extended int.
fn hash_bytes(bytes: &[u8], seed: i32) -> i32 {
    let mut h1 = seed;
    let mut words = bytes.chunks_exact(4);
    for word in &mut words {
        let word = i32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        h1 = mix_h1(h1, mix_k1(word));
    }
    for &byte in words.remainder() {
        h1 = mix_h1(h1, mix_k1(i32::from(byte as i8)));
    }
    fmix(h1, bytes.len() as i32)
}

fn hash_double(value: f64, seed: i32) -> i32 {
    let bits = if value == 0.0 {
        0
    } else if value.is_nan() {
        0x7ff8_0000_0000_0000
    } else {
        value.to_bits() as i64
    };
    hash_long(bits, seed)
}

fn hash_float(value: f32, seed: i32) -> i32 {
    let bits = if value == 0.0 {
        0
    } else if value.is_nan() {
        0x7fc0_0000
    } else {
        value.to_bits() as i32
    };
    hash_int(bits, seed)
}

/// The unscaled value of a wide decimal as Java's `BigInteger.toByteArray`: big-endian
/// two's complement in the fewest bytes that keep its sign.
fn big_integer_bytes(value: i128) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < bytes.len() - 1 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// The hash of `array`'s value at `row`, seeded by `seed`.
fn hash_at(array: &dyn Array, row: usize, seed: i32) -> Result<i32> {
    if array.is_null(row) {
        return Ok(seed);
    }
    Ok(match array.data_type() {
        DataType::Boolean => hash_int(i32::from(array.as_boolean().value(row)), seed),
        DataType::Int8 => hash_int(array.as_primitive::<Int8Type>().value(row).into(), seed),
        DataType::Int16 => hash_int(array.as_primitive::<Int16Type>().value(row).into(), seed),
        DataType::Int32 => hash_int(array.as_primitive::<Int32Type>().value(row), seed),
        DataType::Date32 => hash_int(array.as_primitive::<Date32Type>().value(row), seed),
        DataType::Int64 => hash_long(array.as_primitive::<Int64Type>().value(row), seed),
        DataType::Float32 => hash_float(array.as_primitive::<Float32Type>().value(row), seed),
        DataType::Float64 => hash_double(array.as_primitive::<Float64Type>().value(row), seed),
        DataType::Timestamp(unit, _) => {
            let micros = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value(row)
                    .saturating_mul(1_000_000),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value(row)
                    .saturating_mul(1_000),
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => {
                    array.as_primitive::<TimestampNanosecondType>().value(row) / 1_000
                }
            };
            hash_long(micros, seed)
        }
        DataType::Decimal128(precision, _) => {
            let unscaled = array.as_primitive::<Decimal128Type>().value(row);
            if *precision <= 18 {
                hash_long(unscaled as i64, seed)
            } else {
                hash_bytes(&big_integer_bytes(unscaled), seed)
            }
        }
        DataType::Utf8 => hash_bytes(array.as_string::<i32>().value(row).as_bytes(), seed),
        DataType::LargeUtf8 => hash_bytes(array.as_string::<i64>().value(row).as_bytes(), seed),
        DataType::Utf8View => hash_bytes(array.as_string_view().value(row).as_bytes(), seed),
        DataType::Binary => hash_bytes(array.as_binary::<i32>().value(row), seed),
        DataType::LargeBinary => hash_bytes(array.as_binary::<i64>().value(row), seed),
        DataType::BinaryView => hash_bytes(array.as_binary_view().value(row), seed),
        DataType::List(_) => fold(array.as_list::<i32>().value(row).as_ref(), seed)?,
        DataType::LargeList(_) => fold(array.as_list::<i64>().value(row).as_ref(), seed)?,
        DataType::FixedSizeList(..) => fold(array.as_fixed_size_list().value(row).as_ref(), seed)?,
        DataType::Struct(_) => {
            let mut h = seed;
            for column in array.as_struct().columns() {
                h = hash_at(column.as_ref(), row, h)?;
            }
            h
        }
        other => return exec_err!("hash: a value of type {other}"),
    })
}

/// The hash of each of `values` in order, each seeding the next.
fn fold(values: &dyn Array, seed: i32) -> Result<i32> {
    let mut h = seed;
    for i in 0..values.len() {
        h = hash_at(values, i, h)?;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    // PySpark 4.3.0's `SELECT hash(...)` of each.
    #[test]
    fn sparks_values() {
        assert_eq!(hash_bytes(b"Spark", SEED), 228_093_765);
        assert_eq!(hash_bytes(b"abc", SEED), 1_322_437_556);
        assert_eq!(hash_bytes(b"", SEED), 142_593_372);
        assert_eq!(hash_bytes("héllo wörld!".as_bytes(), SEED), -1_532_567_133);
        assert_eq!(hash_int(1, SEED), -559_580_957);
        assert_eq!(hash_long(1, SEED), -1_712_319_331);
        assert_eq!(hash_double(1.5, SEED), 1_290_763_749);
        assert_eq!(hash_double(-0.0, SEED), -1_670_924_195);
        assert_eq!(hash_double(0.0, SEED), -1_670_924_195);
        assert_eq!(hash_float(1.5, SEED), -221_251_528);
        // DATE '2024-01-02' is day 19724.
        assert_eq!(hash_int(19_724, SEED), -21_057_580);
        // TIMESTAMP '2024-01-02 03:04:05' UTC.
        assert_eq!(hash_long(1_704_164_645_000_000, SEED), 476_834_194);
        // hash('a', 1): the string's hash seeds the int's.
        assert_eq!(hash_int(1, hash_bytes(b"a", SEED)), 532_252_686);
        // hash(array(1, 2)).
        assert_eq!(hash_int(2, hash_int(1, SEED)), -222_940_379);
        // hash(1.5), a decimal(2, 1): its unscaled 15.
        assert_eq!(hash_long(15, SEED), -18_083_236);
        assert_eq!(hash_double(f64::NAN, SEED), -1_281_358_385);
        // hash(CAST(NULL AS INT), 5): the NULL leaves the seed.
        assert_eq!(hash_int(5, SEED), 1_023_896_466);
        assert_eq!(hash_int(7, SEED), 1_079_293_707);
        // X'0102FF': the last byte mixed sign-extended.
        assert_eq!(hash_bytes(&[1, 2, 0xff], SEED), 456_895_484);
        // named_struct('a', 1, 'b', 'x').
        assert_eq!(hash_bytes(b"x", hash_int(1, SEED)), -1_305_545_736);
    }

    // PySpark's hash of wide decimals (precision above 18): the unscaled value's bytes.
    #[test]
    fn sparks_wide_decimals() {
        let hash = |unscaled: i128| hash_bytes(&big_integer_bytes(unscaled), SEED);
        // CAST(12345678901234567890.5 AS DECIMAL(30, 1)), and its negative.
        assert_eq!(hash(123_456_789_012_345_678_905), 832_414_797);
        assert_eq!(hash(-123_456_789_012_345_678_905), -777_928_638);
        // CAST(1.5 AS DECIMAL(20, 1)).
        assert_eq!(hash(15), -357_711_666);
    }

    #[test]
    fn wide_decimals_hash_their_big_integer_bytes() {
        assert_eq!(big_integer_bytes(0), vec![0]);
        assert_eq!(big_integer_bytes(127), vec![0x7f]);
        assert_eq!(big_integer_bytes(128), vec![0, 0x80]);
        assert_eq!(big_integer_bytes(-1), vec![0xff]);
        assert_eq!(big_integer_bytes(-129), vec![0xff, 0x7f]);
    }
}
