//! Stream–stream interval joins (outer, semi, conditions in `ON` and `WHERE`, sides
//! that are views or deduplications), joins with lookup tables, and windows over joined
//! rows, each against its oracle, clean and through kills.

use super::*;

/// A stream–stream interval join in SQL over two file sources, one file of each per
/// epoch: orders LEFT JOIN payments within [-1 min, +3 min]. An oracle computes each
/// side's watermark from its files, drops the late rows and joins the rest in plain
/// Python; the table must equal that join, null rows of unmatched orders included, and
/// the dead letters the late rows. The job is then killed three times and resumed
/// (restoring both sides' state) and must reach the same tables.
#[test]
fn a_stream_stream_left_join_matches_its_oracle_and_survives_kills() -> Result<()> {
    orders_payments_oracle(
        "sql_stream_join",
        "orders-payments",
        "INSERT INTO order_payments \
             SELECT o.id AS order_id, customer, amount, pid, paid \
             FROM orders AS o LEFT JOIN payments AS p \
               ON p.order_id = o.id \
              AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
        &["--table", "order_payments"],
    )
}

/// The same LEFT join with a condition on the payments in `ON` (`p.paid > 250`): the
/// payments that fail it match no order, so more orders come out with nulls, and they
/// are filtered before the join, whose watermark still follows every payment (the oracle
/// computes it from all of them). Killed three times and resumed.
#[test]
fn a_left_join_filtering_its_right_side_in_on_matches_its_oracle_and_survives_kills() -> Result<()>
{
    big_payments_left_join("sql_stream_join_on", "orders-big-payments", None)
}

/// The same LEFT join with a condition on the orders in `WHERE` (`o.amount > 200`) as
/// well: `WHERE` drops the orders that fail it whether they match or not, so they are
/// filtered before the join (kept out of its state), and those that come late are not
/// late rows of the join; the orders' watermark still follows every order (the oracle
/// computes it from all of them). Killed three times and resumed.
#[test]
fn a_left_join_s_where_on_its_kept_side_filters_before_the_join_and_survives_kills() -> Result<()> {
    big_payments_left_join(
        "sql_stream_join_where",
        "big-orders-big-payments",
        Some(200),
    )
}

/// `orders LEFT JOIN payments ... ON ... AND p.paid > 250`, with `WHERE o.amount > N` when
/// `amount_over` is given, against the join oracle through kills.
fn big_payments_left_join(name: &str, job_id: &str, amount_over: Option<u32>) -> Result<()> {
    let filter = amount_over.map_or_else(String::new, |n| format!(" WHERE o.amount > {n}"));
    let statements = format!(
        "INSERT INTO order_payments \
         SELECT o.id AS order_id, customer, amount, pid, paid \
         FROM orders AS o LEFT JOIN payments AS p \
           ON p.order_id = o.id AND p.paid > 250 \
          AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE\
         {filter};\n"
    );
    let mut args = vec!["--table", "order_payments", "--paid-over", "250"];
    let amount = amount_over.map(|n| n.to_string());
    if let Some(n) = &amount {
        args.extend(["--amount-over", n.as_str()]);
    }
    orders_payments_oracle(name, job_id, &statements, &args)
}

/// The same LEFT join of two views that filter and project the sources, `big_orders`
/// (`amount > 200`) and `big_payments` (`paid > 250`, with a computed column): the views'
/// filters run before the join, as the conditions of the join above do, and each side's
/// watermark still follows every row of its source (the oracle computes it from all of
/// them). Killed three times and resumed.
#[test]
fn a_left_join_of_two_filtered_views_matches_its_oracle_and_survives_kills() -> Result<()> {
    let args = [
        "--table",
        "order_payments",
        "--paid-over",
        "250",
        "--amount-over",
        "200",
    ];
    orders_payments_oracle(
        "sql_stream_join_views",
        "big-orders-big-payments-views",
        "CREATE VIEW big_orders AS SELECT id, customer, ts, amount FROM orders \
               WHERE amount > 200;\n\
             CREATE VIEW big_payments AS SELECT *, paid * 3 AS tripled FROM payments \
               WHERE paid > 250;\n\
             INSERT INTO order_payments \
             SELECT o.id AS order_id, customer, amount, pid, \
               CAST(tripled / 3 AS BIGINT) AS paid \
             FROM big_orders AS o LEFT JOIN big_payments AS p \
               ON p.order_id = o.id \
              AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
        &args,
    )
}

/// The LEFT join of a view deduplicating the orders per customer (Flink's `ROW_NUMBER()
/// OVER (PARTITION BY customer ORDER BY ts) = 1`) with the payments: each customer's
/// first order within the watermark is joined, its event time the order's; the
/// deduplication's late orders are the dead letters, and no first order is late for the
/// join. An oracle deduplicates and joins in plain Python; killed three times and
/// resumed.
#[test]
fn a_left_join_of_a_deduplicated_view_matches_its_oracle_and_survives_kills() -> Result<()> {
    let args = ["--table", "order_payments", "--first-per-customer"];
    orders_payments_oracle(
        "sql_stream_join_dedup",
        "first-orders-payments",
        "CREATE VIEW first_orders AS SELECT * FROM (SELECT *, ROW_NUMBER() OVER \
               (PARTITION BY customer ORDER BY ts) AS rn FROM orders) WHERE rn = 1;\n\
             INSERT INTO order_payments \
             SELECT o.id AS order_id, customer, amount, pid, paid \
             FROM first_orders AS o LEFT JOIN payments AS p \
               ON p.order_id = o.id \
              AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
        &args,
    )
}

/// A stream joined with lookup tables, Spark's stream–static join: the orders with a
/// Delta table of customers (written first by a job of its own), read whole on every
/// worker (LEFT JOIN, and LEFT ANTI JOIN for the orders of no customer) and spread by key
/// (an INNER JOIN whose rows a 1-minute window counts per tier, the orders' event time
/// and watermark going on through the join); the LEFT ANTI JOIN is written as Flink's
/// lookup join (`FOR SYSTEM_TIME AS OF o.ts`). The customers' key is named otherwise
/// (`o.customer = c.name`), and one customer has two rows. Conditions of `ON` besides the
/// keys choose the table's rows (a LEFT join's on the table alone) or filter the joined
/// rows (an INNER join's on the stream, and on both sides). The customers' `id`, named
/// like the orders', is read qualified (`c.id`). An oracle joins and windows
/// in plain Python; the job is killed three times and resumed.
#[test]
fn a_stream_joined_with_lookup_tables_matches_its_oracle_and_survives_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_lookup_join")?;
    write_input_with("lookup_tool.py", &dir, "write", 3)?;
    // The customers' Delta table.
    let dim = dir.join("dim.sql");
    std::fs::write(
        &dim,
        format!(
            "SET 'job-id' = 'customers';\n\
             CREATE TABLE customers_in (name STRING, tier STRING, credit BIGINT, id BIGINT) {};\n\
             INSERT INTO customers SELECT * FROM customers_in;\n",
            one_file_per_epoch(&dir.join("customers"))
        ),
    )?;
    run_sql_job(&dim, &dir.join("dim"), "the customers' job")?;
    let customers = dir.join("dim").join("tables").join("customers");
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'orders-customers';\n\
             CREATE TABLE orders (id BIGINT NOT NULL, customer STRING NOT NULL, \
               ts TIMESTAMP NOT NULL, amount BIGINT NOT NULL, \
               WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) {};\n\
             CREATE TABLE customers (name STRING, tier STRING, credit BIGINT, id BIGINT) WITH \
               ('connector' = 'delta', 'path' = '{path}', 'lookup' = 'broadcast');\n\
             CREATE TABLE customers_by_key (name STRING, tier STRING, credit BIGINT, id BIGINT) WITH \
               ('connector' = 'delta', 'path' = '{path}', 'lookup' = 'keyed');\n\
             INSERT INTO enriched SELECT o.id, o.customer, o.amount, c.tier \
               FROM orders AS o LEFT JOIN customers AS c ON o.customer = c.name;\n\
             INSERT INTO strangers SELECT o.id \
               FROM orders AS o LEFT ANTI JOIN customers FOR SYSTEM_TIME AS OF o.ts AS c \
               ON o.customer = c.name;\n\
             INSERT INTO tier_minutes SELECT window_start, k.tier, count(*) AS n, \
               sum(o.amount) AS total \
             FROM orders AS o JOIN customers_by_key AS k ON k.name = o.customer \
             GROUP BY TUMBLE(o.ts, INTERVAL '1' MINUTE), k.tier;\n\
             INSERT INTO rich_gold SELECT o.id, c.credit FROM orders AS o \
               LEFT JOIN customers AS c \
               ON o.customer = c.name AND c.tier = 'gold' AND (c.credit > 850);\n\
             INSERT INTO big_orders SELECT o.id, k.tier FROM orders AS o \
               JOIN customers_by_key AS k \
               ON k.name = o.customer AND o.amount > 200 AND k.credit > o.amount;\n\
             INSERT INTO numbered SELECT o.id, c.id AS number FROM orders AS o \
               JOIN customers AS c ON o.customer = c.name AND c.id > 2 \
               WHERE c.id * 100 < o.id;\n\
             INSERT INTO big_tiers SELECT o.id, c.tier FROM orders AS o \
               LEFT JOIN customers AS c ON o.customer = c.name AND o.amount > 300;\n\
             INSERT INTO unmatched_big SELECT o.id FROM orders AS o \
               LEFT ANTI JOIN customers AS c ON o.customer = c.name AND o.amount > 300;\n",
            one_file_per_epoch(&dir.join("orders")),
            path = customers.display()
        ),
    )?;
    against_tool_through_kills("lookup_tool.py", &dir, &job, 2, "check", &[])
}

/// The LEFT join with a condition on its kept side, the orders, in `ON` (`o.amount > 200`):
/// an order that fails it matches no payment, but still comes out once with nulls, as SQL
/// has it (a `WHERE` would drop it). Its keys are null before the join, so it waits in
/// the join's state and leaves unmatched when the watermark passes it. Killed three times
/// and resumed.
#[test]
fn a_left_join_s_on_condition_on_its_kept_side_keeps_the_failing_rows_unmatched() -> Result<()> {
    let args = ["--table", "order_payments", "--on-amount-over", "200"];
    orders_payments_oracle(
        "sql_stream_join_on_kept",
        "orders-gated",
        "INSERT INTO order_payments \
             SELECT o.id AS order_id, customer, amount, pid, paid \
             FROM orders AS o LEFT JOIN payments AS p \
               ON p.order_id = o.id AND o.amount > 200 \
              AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
        &args,
    )
}

/// The LEFT join with a condition on both sides in `ON` (`p.paid < o.amount`): the join
/// evaluates it over its candidate pairs, so a payment that fails it does not match its
/// order, and an order none of whose payments passes comes out once with nulls (a
/// `WHERE` would drop it). Killed three times and resumed.
#[test]
fn a_left_join_s_on_condition_on_both_sides_decides_which_pairs_match() -> Result<()> {
    let args = ["--table", "order_payments", "--paid-under-amount"];
    orders_payments_oracle(
        "sql_stream_join_on_pair",
        "orders-paid-under",
        "INSERT INTO order_payments \
             SELECT o.id AS order_id, customer, amount, pid, paid \
             FROM orders AS o LEFT JOIN payments AS p \
               ON p.order_id = o.id AND p.paid < o.amount \
              AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
        &args,
    )
}

/// A LEFT SEMI JOIN (Spark's stream–stream semi join): each order that matches at least
/// one payment comes out once, with its own columns, in the epoch of its first match,
/// however many payments it matches (the key, `order_id % 200`, gives many orders
/// several, some in later epochs); a payment's condition in `ON` (`p.paid > 100`) filters
/// the payments first. Killed three times and resumed: an order already emitted is not
/// emitted again after a restore.
#[test]
fn a_left_semi_join_emits_each_matching_row_once_and_survives_kills() -> Result<()> {
    let args = [
        "--table",
        "order_payments",
        "--semi",
        "--paid-over",
        "100",
        "--key-mod",
        "200",
    ];
    orders_payments_oracle(
        "sql_stream_join_semi",
        "orders-with-payments",
        "INSERT INTO order_payments \
             SELECT o.id AS order_id, customer, amount \
             FROM orders AS o LEFT SEMI JOIN payments AS p \
               ON p.order_id % 200 = o.id % 200 AND p.paid > 100 \
              AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
        &args,
    )
}

/// The watermark of a side filtered in `ON` is its source's, not its filtered rows': in
/// epoch 0 a payment that fails `p.paid > 100` moves the payments' watermark to 00:09,
/// which epoch 1 uses (order 1 leaves the join unmatched) and epoch 2 holds rows to; in
/// epoch 2 the only payment that passes (00:01) is late by it, a dead letter, as Spark
/// (which observes event time at the source) has it. Had the watermark followed the
/// filtered rows (none before epoch 2), the payment would have joined order 1.
#[test]
fn a_side_filtered_in_on_keeps_its_source_s_watermark() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_join_on_watermark")?;
    let write = |side: &str, epoch: u32, rows: &[&str]| -> Result<()> {
        let side = dir.join(side);
        std::fs::create_dir_all(&side)?;
        std::fs::write(side.join(format!("{epoch}.json")), rows.join("\n") + "\n")?;
        Ok(())
    };
    let at = |hms: &str| format!("2026-01-01T{hms}Z");
    let order = |id: u32, t: &str| {
        format!(
            r#"{{"id":{id},"customer":"c{id}","ts":"{}","amount":{id}}}"#,
            at(t)
        )
    };
    let payment = |pid: u32, order: u32, t: &str, paid: u32| {
        format!(
            r#"{{"pid":{pid},"order_id":{order},"ts":"{}","paid":{paid}}}"#,
            at(t)
        )
    };
    write("orders", 0, &[&order(1, "00:00:00"), &order(2, "00:10:00")])?;
    write("orders", 1, &[&order(3, "00:10:05")])?;
    write("orders", 2, &[&order(4, "00:10:10")])?;
    write(
        "payments",
        0,
        &[
            &payment(10, 1, "00:00:30", 10),
            &payment(11, 99, "00:10:00", 5),
        ],
    )?;
    write("payments", 1, &[&payment(13, 98, "00:10:05", 1)])?;
    write("payments", 2, &[&payment(12, 1, "00:01:00", 500)])?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'on-watermark';\n\
             {}INSERT INTO order_payments SELECT o.id AS order_id, pid, paid \
             FROM orders AS o LEFT JOIN payments AS p ON p.order_id = o.id AND p.paid > 100 \
             AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
            orders_and_payments(&dir)
        ),
    )?;
    let out = dir.join("out");
    run_sql_job(&job, &out, "the join")?;
    let table = |name: &str| table_scan(&out, name);
    let rows = duckdb_rows(&format!(
        "SELECT order_id, coalesce(CAST(pid AS VARCHAR), '-') FROM {} ORDER BY order_id",
        table("order_payments")
    ))?;
    ensure!(
        rows == [["1", "-"], ["2", "-"], ["3", "-"], ["4", "-"]],
        "every order unmatched, payment 12 being late: {rows:?}"
    );
    let late = duckdb_rows(&format!(
        "SELECT reason, json_extract(payload, '$.pid') FROM {}",
        table("dead_letters")
    ))?;
    ensure!(
        late == [["late", "12"]],
        "payment 12 late, and nothing else a dead letter: {late:?}"
    );
    Ok(())
}

/// Windows over a stream–stream join's rows: over the order's time per customer (an
/// inner join), and over the payment's time (a RIGHT join, whose unmatched payments come
/// out once the watermark passes them). Each window's watermark is the join's (the least
/// of the two sides') less the join's bound on that side, so no row the join emits is
/// ever late for it. The oracle joins the rows that were not late for the join and
/// windows the pairs; the dead letters must be the join's late rows only. Killed three
/// times and resumed.
#[test]
fn windows_over_a_join_s_rows_match_their_oracle_and_survive_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_join_windows")?;
    write_input(&dir, "write-join", 4)?;
    let job = dir.join("job.sql");
    let join = "FROM orders AS o JOIN payments AS p ON p.order_id = o.id \
                AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE";
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'orders-payments-windows';\n\
             {}INSERT INTO per_customer SELECT window_start, window_end, o.customer, \
               count(*) AS n, sum(paid) AS paid {join} \
             GROUP BY TUMBLE(o.ts, INTERVAL '1' MINUTE), o.customer;\n\
             INSERT INTO by_payment_time SELECT window_start, window_end, count(*) AS n, \
               sum(amount) AS amount {} GROUP BY TUMBLE(p.ts, INTERVAL '1' MINUTE);\n",
            orders_and_payments(&dir),
            join.replace(" JOIN ", " RIGHT JOIN ")
        ),
    )?;
    against_oracle_through_kills(
        &dir,
        &job,
        2,
        "check-join-windows",
        &["--table", "per_customer", "--table2", "by_payment_time"],
    )
}

/// Bad input after a stream–stream join goes to the dead letters: a query whose cast
/// fails on every joined row must not stop the job. Its rows reach the dead-letter
/// table with the left row's coordinates, as many as the same join gives a query that
/// succeeds.
#[test]
fn rows_an_expression_fails_on_after_a_join_become_dead_letters() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_join_bad_rows")?;
    write_input(&dir, "write-join", 8)?;
    let job = dir.join("job.sql");
    let join = "FROM orders AS o JOIN payments AS p ON p.order_id = o.id \
                AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE";
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'join-bad-rows';\n\
             {}INSERT INTO pairs SELECT o.id AS id, pid {join};\n\
             INSERT INTO bad SELECT o.id AS id, CAST(customer AS INT) AS c {join};\n",
            orders_and_payments(&dir)
        ),
    )?;
    let out = dir.join("out");
    run_sql_job(&job, &out, "the job whose cast fails after a join")?;
    let table = |t: &str| table_scan(&out, t);
    let rows = duckdb_rows(&format!(
        "SELECT (SELECT count(*) FROM {pairs}), (SELECT count(*) FROM {bad}), \
         (SELECT count(*) FROM {dlq} WHERE reason LIKE 'error:%'), \
         (SELECT count(*) FROM {dlq} WHERE reason LIKE 'error:bad/%' \
            AND error LIKE '%Cannot cast%' AND source LIKE 'part-%' AND \"offset\" >= 0)",
        pairs = table("pairs"),
        bad = table("bad"),
        dlq = table("dead_letters")
    ))?;
    let counts: Vec<u64> = rows[0].iter().map(|v| v.parse().unwrap_or(0)).collect();
    ensure!(
        counts[0] > 0 && counts[1] == 0 && counts[2] == counts[0] && counts[3] == counts[0],
        "pairs, rows of the failing query, its dead letters, those naming the query's \
         operator and the cast, with the left row's coordinates: {counts:?}"
    );
    Ok(())
}

/// Runs `statements` over `event_time_tool.py write-join`'s orders and payments (the job
/// `job_id`, under `dir/<name>`), clean and through three kills, each time against the
/// join oracle `check-join` with `args`.
fn orders_payments_oracle(name: &str, job_id: &str, statements: &str, args: &[&str]) -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, name)?;
    write_input(&dir, "write-join", 3)?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = '{job_id}';\n{}{statements}",
            orders_and_payments(&dir)
        ),
    )?;
    against_oracle_through_kills(&dir, &job, 2, "check-join", args)
}
