//! Avro's and Parquet's decimal bytes. Text and integers are read into decimals by
//! [`sluice_engine::decimal`].

/// A big-endian two's complement integer of at most 16 bytes (Avro's and Parquet's
/// decimals).
pub(crate) fn from_be_bytes(bytes: &[u8]) -> i128 {
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    i128::from_be_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_bytes_sign_extend() {
        assert_eq!(from_be_bytes(&[0x01, 0x00]), 256);
        assert_eq!(from_be_bytes(&[0xff, 0x38]), -200);
        assert_eq!(from_be_bytes(&[]), 0);
    }
}
