//! Column types against their oracles: decimals (`decimal_tool.py`, Python's `decimal`),
//! and arrays, maps and structs unnested (`unnest_tool.py`).

use super::*;

/// DECIMAL(10, 2) prices, written as JSON numbers and quoted numbers with up to four places
/// (some in exponent form), read as Spark's CAST reads them (rounded half up), computed
/// on (`price * 3`) and aggregated exactly in one-minute windows: `sum` a DECIMAL(20, 2),
/// `avg` a DECIMAL(14, 6) rounded half up, `min` and `max` DECIMAL(10, 2). Prices that are
/// no number or do not fit are dead letters naming the column. Balances declared
/// DECIMAL(38, 10), past the 18 digits the moments keep, are aggregated in 128 bits (a
/// sum past 38 digits NULL, as in Spark). An oracle computes every
/// table with Python's `decimal` module, and DuckDB's Delta reader reads ours, clean and
/// through three kills.
#[test]
fn decimal_prices_are_read_computed_and_aggregated_exactly() -> Result<()> {
    tool_oracle(
        "decimal_tool.py",
        "sql_decimals",
        5,
        "SET 'job-id' = 'decimals';\n\
             CREATE TABLE events (id BIGINT NOT NULL, sensor STRING NOT NULL, \
               ts TIMESTAMP NOT NULL, price DECIMAL(10, 2), balance DECIMAL(38, 10), \
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) {files};\n\
             INSERT INTO priced SELECT id, price, price * 3 AS tripled FROM events;\n\
             INSERT INTO per_minute SELECT window_start, window_end, sensor, count(*) AS n, \
               count(price) AS priced, sum(price) AS total, avg(price) AS mean, \
               min(price) AS lo, max(price) AS hi FROM events \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), sensor;\n\
             INSERT INTO wide_minute SELECT window_start, window_end, sensor, \
               count(balance) AS n, sum(balance) AS total, avg(balance) AS mean, \
               min(balance) AS lo, max(balance) AS hi FROM events \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), sensor;\n",
    )
}

/// One row per tag of comma-separated text: Spark's `explode(split(tags, ','))` and
/// `explode_outer`, and Flink's `CROSS JOIN UNNEST` aggregated in one-minute windows; and
/// one row per element of JSON arrays declared `ARRAY<STRING>` and
/// `ARRAY<STRUCT<sku STRING, qty INT>>` (a value that is no array is a dead letter), with
/// their positions (`posexplode` from 0, `WITH ORDINALITY` from 1), and of a JSON object
/// declared `MAP<STRING, BIGINT>` (its keys exploded, a key's value read); the structs'
/// fields as columns (Spark's `inline`, Flink's `UNNEST ... AS i (s, q, n)`); and of JSON text
/// parsed by `from_json` (text that is no JSON fails its row: a dead letter); and the
/// text split by the regex `,+` into at most 3 parts; and of a JSON array of objects
/// holding a timestamp (RFC 3339 text with or without an offset, or epoch milliseconds),
/// a date and a decimal (a value that is no timestamp is a dead letter). An oracle splits
/// the same text with Python's `str.split` and `re.split` (an empty text is one empty tag,
/// as in Spark; a null one gives no row, or one null row when outer), walks the same
/// arrays (reading timestamps with Python's `datetime`, decimals with its `decimal`), and
/// DuckDB's Delta reader reads the tables, clean and through three kills.
#[test]
fn exploded_and_unnested_tags_match_their_oracle_through_kills() -> Result<()> {
    tool_oracle(
        "unnest_tool.py",
        "sql_unnest",
        3,
        "SET 'job-id' = 'unnest';\n\
             CREATE TABLE events (id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, tags STRING, \
               labels ARRAY<STRING>, items ARRAY<STRUCT<sku STRING, qty INT>>, \
               attrs MAP<STRING, BIGINT>, labels_text STRING, items_text STRING, \
               visits ARRAY<STRUCT<at TIMESTAMP, day DATE, amount DECIMAL(8, 2)>>, \
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) {files};\n\
             INSERT INTO tagged SELECT id, explode(split(tags, ',')) AS tag FROM events;\n\
             INSERT INTO all_tags SELECT id, explode_outer(split(tags, ',')) AS tag \
               FROM events;\n\
             INSERT INTO per_tag SELECT window_start, window_end, tag, count(*) AS n \
               FROM (SELECT e.ts, u.tag FROM events AS e \
                     CROSS JOIN UNNEST(split(e.tags, ',')) AS u (tag)) \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), tag;\n\
             INSERT INTO labelled SELECT id, explode(labels) AS label FROM events;\n\
             INSERT INTO item_rows SELECT id, item['sku'] AS sku, item['qty'] AS qty \
               FROM events CROSS JOIN UNNEST(items) AS i (item);\n\
             INSERT INTO positioned SELECT id, posexplode(labels) FROM events;\n\
             INSERT INTO ordinals SELECT id, item['sku'] AS sku, n \
               FROM events CROSS JOIN UNNEST(items) WITH ORDINALITY AS i (item, n);\n\
             INSERT INTO attr_keys SELECT id, explode(map_keys(attrs)) AS k FROM events;\n\
             INSERT INTO attr_red SELECT id, attrs['red'] AS red FROM events;\n\
             INSERT INTO text_labels SELECT id, \
               explode(from_json(labels_text, 'ARRAY<STRING>')) AS label FROM events;\n\
             INSERT INTO runs SELECT id, posexplode(split(tags, ',+', 3)) FROM events;\n\
             INSERT INTO visit_rows SELECT id, v.at AS at, v.day AS day, v.amount AS amount \
               FROM events CROSS JOIN UNNEST(visits) AS u (v);\n\
             INSERT INTO inlined SELECT id, inline(items) FROM events;\n\
             INSERT INTO inlined_text SELECT id, \
               inline(from_json(items_text, 'ARRAY<STRUCT<sku: STRING, qty: INT>>')) \
               FROM events;\n\
             INSERT INTO item_fields SELECT id, s, q, n FROM events \
               LEFT JOIN UNNEST(items) WITH ORDINALITY AS i (s, q, n) ON TRUE;\n",
    )
}
