//! Window functions against their oracles: window TVFs, their rankings and joins,
//! per-row session gaps (`window_assign_tool.py`), approximate percentiles and cascading
//! windows (`percentile_tool.py`).

use super::*;

/// Flink's window TVFs whose rows no aggregate follows: each row once per window
/// containing its event time (`TUMBLE` from an offset, `HOP` under a `WHERE`, `CUMULATE`),
/// with `window_start`, `window_end` and `window_time`; and those rows ranked per window
/// (Flink's window Top-N with `ROW_NUMBER` and `RANK`, and window deduplication), kept
/// until the watermark closes the window; and sessions whose gap each row sets (Spark's
/// `session_window(ts, CASE ... END)`); and Flink's window join of the TVF's rows with
/// themselves, inner and LEFT on a dearer price (the dearest row comes out alone); and a
/// ranking and a window join over the TVF of a view that filters and projects the table
/// (whose watermark follows every row of the table). Event
/// times go back and forth (no row is late for an assignment, which keeps no state), a
/// few rows minutes behind (late for a ranking: dead letters). An oracle tries every window start near each row's time by
/// brute force, computes the watermark itself and ranks each window's rows, and DuckDB's
/// Delta reader reads the tables, clean and through three kills.
#[test]
fn window_tvf_rows_are_assigned_and_ranked_per_window_through_kills() -> Result<()> {
    tool_oracle(
        "window_assign_tool.py",
        "sql_window_assign",
        11,
        "SET 'job-id' = 'assign';\n\
             CREATE TABLE events (id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, price BIGINT, \
               kind STRING, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) {files};\n\
             INSERT INTO tumbled SELECT id, window_start, window_end, window_time \
               FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, \
                 INTERVAL '15' SECOND));\n\
             INSERT INTO hopped SELECT e.id, e.price, window_start, window_end \
               FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '2' MINUTE, \
                 INTERVAL '5' MINUTE)) AS e WHERE e.price > 50;\n\
             INSERT INTO cumulated SELECT id, window_start, window_end \
               FROM TABLE(CUMULATE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, \
                 INTERVAL '3' MINUTE));\n\
             INSERT INTO top2 SELECT id, price, window_start, window_end, rn FROM ( \
               SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end \
                 ORDER BY price DESC) AS rn \
               FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) \
             WHERE rn <= 2;\n\
             INSERT INTO ranked SELECT id, kind, price, window_start, rk FROM ( \
               SELECT *, RANK() OVER (PARTITION BY window_start, window_end, kind \
                 ORDER BY price DESC) AS rk \
               FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, \
                 INTERVAL '2' MINUTE))) \
             WHERE rk <= 2;\n\
             INSERT INTO firsts SELECT id, kind, window_start FROM ( \
               SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, kind \
                 ORDER BY ts) AS rownum \
               FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) \
             WHERE rownum = 1;\n\
             INSERT INTO gapped SELECT kind, window_start, window_end, count(*) AS n \
               FROM events GROUP BY session_window(ts, CASE WHEN price >= 80 \
                 THEN '3 minutes' ELSE '40 seconds' END), kind;\n\
             INSERT INTO pairs SELECT L.id AS left_id, R.id AS right_id, L.window_start AS ws \
               FROM (SELECT * FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
                 INTERVAL '1' MINUTE))) AS L \
               JOIN (SELECT * FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
                 INTERVAL '1' MINUTE))) AS R \
               ON L.kind = R.kind AND L.window_start = R.window_start \
                 AND L.window_end = R.window_end;\n\
             INSERT INTO dearer SELECT L.id AS left_id, R.id AS right_id, \
                 L.window_start AS ws \
               FROM (SELECT * FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
                 INTERVAL '1' MINUTE))) AS L \
               LEFT JOIN (SELECT * FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
                 INTERVAL '1' MINUTE))) AS R \
               ON L.kind = R.kind AND L.window_start = R.window_start \
                 AND L.window_end = R.window_end AND R.price > L.price;\n\
             CREATE VIEW cheap AS SELECT id, ts, kind, price * 10 AS deci FROM events \
               WHERE price < 60;\n\
             INSERT INTO cheap_top2 SELECT id, deci, window_start, rn FROM ( \
               SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end \
                 ORDER BY deci DESC) AS rn \
               FROM TABLE(TUMBLE(TABLE cheap, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) \
             WHERE rn <= 2;\n\
             INSERT INTO cheap_pairs SELECT L.id AS left_id, R.id AS right_id, \
                 L.window_start AS ws \
               FROM (SELECT * FROM TABLE(TUMBLE(TABLE cheap, DESCRIPTOR(ts), \
                 INTERVAL '1' MINUTE))) AS L \
               JOIN (SELECT * FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
                 INTERVAL '1' MINUTE))) AS R \
               ON L.kind = R.kind AND L.window_start = R.window_start \
                 AND L.window_end = R.window_end;\n",
    )
}

/// Exact `count(DISTINCT ...)`, `sum(DISTINCT ...)` and `avg(DISTINCT ...)` per window,
/// as Flink computes them (Spark refuses distinct aggregates on streams), and Spark's
/// `max_by` and `min_by` (the ids of the dearest and cheapest rows, the price of a
/// session's last row; prices tie often), `collect_list` (a session's prices in
/// event-time order), `count_if`, `bool_and` and `bool_or`: over HOP
/// windows of 3 minutes every minute (a column, and expressions of it, integers and
/// doubles), and over sessions (the mean of distinct decimals), of events whose prices
/// repeat; and a filter over the HOP windows' counts in a subquery, and an aggregate
/// without a window over them (in update mode); and Flink's "keep the last row"
/// deduplication (`ROW_NUMBER() ... ORDER BY ts DESC`), each price's latest row, and a
/// `SELECT DISTINCT`, in update mode; and two tables that declare their columns (the
/// query's by position or by a column list, cast to the declared types, a `NOT NULL`
/// column's nulls and the values that do not cast sent to the dead letters at their
/// source coordinates), and two upserted by their `PRIMARY KEY`, as Flink's sinks are (an
/// aggregate without a window, and the last row of each key renamed); and the largest
/// count of each HOP window, grouped by the counts' window start and end as Flink's
/// Nexmark q5 groups them (a cascading window). An oracle keeps
/// each window's set of values, computes the watermark itself and decides lateness per
/// window; the late rows are dead letters with how many windows they missed. DuckDB's
/// Delta reader reads the tables, clean and through three kills.
#[test]
fn exact_distinct_counts_per_window_match_their_oracle_through_kills() -> Result<()> {
    tool_oracle(
        "distinct_tool.py",
        "sql_distinct",
        17,
        "SET 'job-id' = 'distinct';\n\
             CREATE TABLE events (id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, price BIGINT, \
               kind STRING, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) {files};\n\
             INSERT INTO hop_distinct SELECT window_start, kind, count(*) AS n, \
               count(DISTINCT price) AS prices, count(DISTINCT price % 7) AS residues, \
               sum(DISTINCT price) AS price_sum, avg(DISTINCT price * 0.5) AS half_mean, \
               max_by(id, price) AS top_id, arg_min(id, price) AS low_id, \
               count_if(price > 50) AS dear, bool_and(price % 2 = 0) AS all_even, \
               bool_or(price > 90) AS any_top \
             FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, \
               INTERVAL '3' MINUTE)) \
             GROUP BY window_start, window_end, kind;\n\
             INSERT INTO session_distinct SELECT kind, window_start, window_end, \
               count(*) AS n, count(DISTINCT price) AS prices, \
               avg(DISTINCT CAST(price AS DECIMAL(10, 2))) AS dec_mean, \
               collect_set(price) AS price_set, max_by(price, ts) AS last_price, \
               collect_list(price) AS price_list \
             FROM events GROUP BY session_window(ts, '40 seconds'), kind;\n\
             INSERT INTO busy SELECT kind, window_start, n FROM (SELECT window_start, kind, \
               count(*) AS n FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), \
               INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)) \
               GROUP BY window_start, window_end, kind) WHERE n > 5;\n\
             CREATE TABLE kind_totals WITH ('output-mode' = 'update');\n\
             INSERT INTO kind_totals SELECT kind, sum(n) AS total, count(*) AS windows \
               FROM (SELECT window_start, kind, count(*) AS n FROM TABLE(HOP(TABLE events, \
               DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)) \
               GROUP BY window_start, window_end, kind) GROUP BY kind;\n\
             CREATE TABLE latest_price WITH ('output-mode' = 'update');\n\
             INSERT INTO latest_price SELECT price, id, kind, ts FROM (SELECT *, \
               ROW_NUMBER() OVER (PARTITION BY price ORDER BY ts DESC) AS rn FROM events) \
             WHERE rn = 1;\n\
             CREATE TABLE kinds_seen WITH ('output-mode' = 'update');\n\
             INSERT INTO kinds_seen SELECT DISTINCT kind, price % 4 AS r FROM events;\n\
             CREATE TABLE typed_rows (ident STRING, tenth INT NOT NULL, code INT, k STRING) \
               WITH ('connector' = 'delta');\n\
             INSERT INTO typed_rows SELECT id, NULLIF(price % 10, 0), \
               CASE WHEN price > 95 THEN 'x' ELSE CAST(price AS STRING) END, kind \
               FROM events;\n\
             CREATE TABLE typed_hops (w TIMESTAMP, k STRING NOT NULL, n INT, total BIGINT) \
               WITH ('connector' = 'delta');\n\
             INSERT INTO typed_hops (total, k, w) SELECT sum(price), kind, window_start \
               FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, \
                 INTERVAL '3' MINUTE)) \
               GROUP BY window_start, window_end, kind;\n\
             CREATE TABLE kind_counts (k STRING, n BIGINT, PRIMARY KEY (k) NOT ENFORCED) \
               WITH ('connector' = 'delta');\n\
             INSERT INTO kind_counts SELECT kind, count(*) FROM events GROUP BY kind;\n\
             CREATE TABLE price_last (p BIGINT, ident BIGINT, PRIMARY KEY (p) NOT ENFORCED) \
               WITH ('connector' = 'delta');\n\
             INSERT INTO price_last SELECT price, id FROM (SELECT *, ROW_NUMBER() OVER \
               (PARTITION BY price ORDER BY ts DESC) AS rn FROM events) WHERE rn = 1;\n\
             INSERT INTO hop_top SELECT max(c.n) AS top, c.ws, c.we FROM (SELECT count(*) AS n, \
               window_start AS ws, window_end AS we FROM TABLE(HOP(TABLE events, \
               DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '3' MINUTE)) \
               GROUP BY kind, window_start, window_end) AS c GROUP BY c.ws, c.we;\n",
    )
}

/// Spark's `percentile_approx` (and `approx_percentile`) over one-minute windows: the
/// median and 99th percentile of log-normal latencies (doubles, some negative, some
/// null) and the 90th of integer byte counts (an integer, as in Spark). An oracle sorts
/// each window's values and takes the value of rank ⌊q (n - 1)⌋; every estimate must be
/// within 1 % of it (the sketch's guarantee); and Flink's cascading windows, 5-minute
/// windows over the rows of a view of 1-minute ones, equal to the 5-minute windows
/// counted directly; clean and through three kills, read by DuckDB's Delta reader.
#[test]
fn approximate_percentiles_are_within_one_percent_of_the_exact_ones_through_kills() -> Result<()> {
    tool_oracle(
        "percentile_tool.py",
        "sql_percentiles",
        13,
        "SET 'job-id' = 'percentiles';\n\
             CREATE TABLE events (id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, sensor STRING, \
               latency_ms DOUBLE, bytes BIGINT, \
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) {files};\n\
             INSERT INTO pcts SELECT window_start, sensor, count(*) AS n, \
               percentile_approx(latency_ms, 0.5) AS p50, \
               approx_percentile(latency_ms, 0.99) AS p99, \
               percentile_approx(bytes, 0.9) AS b90, \
               percentile_approx(latency_ms, array(0.5, 0.99)) AS both \
             FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), sensor;\n\
             CREATE VIEW minutes AS SELECT window_time AS rowtime, sensor, count(*) AS n, \
               sum(bytes) AS total \
             FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) \
             GROUP BY window_start, window_end, window_time, sensor;\n\
             INSERT INTO five SELECT window_start, sensor, sum(n) AS n, sum(total) AS total \
             FROM TABLE(TUMBLE(TABLE minutes, DESCRIPTOR(rowtime), INTERVAL '5' MINUTE)) \
             GROUP BY window_start, window_end, sensor;\n",
    )
}
