"""Nexmark queries, and a job's two windows, checked with DuckDB.

    nexmark_tool.py windows --silver S --sliding T --sessions U [--live-sessions L]
                            [--by-kind K]
        Rows never late: T must be 5-minute windows sliding every minute per (user_id,
        event_type) with count and sum of value, and U 10-minute-gap sessions per
        user_id with their count, both computed from S by DuckDB's plain SQL. With
        --live-sessions L, L must hold the 1-minute-gap sessions, in update mode,
        merged epoch by epoch, and its log must show MERGEs that deleted rows (sessions
        that moved their start). With --by-kind K, K must hold the UNION ALL of two
        windowed queries: 5-minute tumbling counts per user of clicks ('click') and of
        every other event type ('other'). With --expressions E, E must hold per 5-minute
        tumbling window and upper(user_id) the count of values over 50 (FILTER), the sum
        of click values (FILTER), the least value, sum / count and count * 2 + 1; with
        --narrow N, N must hold the rows with value over 10, without their value; with
        --busy B, B must hold the 5-minute windows (with Flink's window_time, the end
        less 1 ms) and users with over 3 events and a value over 50 (HAVING on
        aggregates the query does not select).
        --leaders L, L must hold the two highest DENSE_RANKs of users by events per
        5-minute window and event type, of users with over 1 event, with the rank.
        --runners-up R, R must hold ranks 2 to 4 (ROW_NUMBER) of users per 1-minute
        window and event type by events, then highest value (nulls first), then user_id.
        --legacy G, G must hold the 5-minute windows' start and Flink's rowtime (the end
        less 1 ms) per event type with their counts, written with Flink's TUMBLE_START and
        TUMBLE_ROWTIME and a GROUP BY position.
        --shifted W, W must hold 5-minute windows starting 2 minutes past (Spark's start
        time) per event type, and --shifted-hops H 3-minute windows every minute starting
        40 s past (a HOP offset of -20 s), with their counts (DuckDB's time_bucket offset);
        --spark-windows S the same as W, with the window as Spark's struct `window`.
        --stamped S, S must hold every row's value, Spark's date_format(event_time,
        'yyyy-MM-dd HH:mm') and hour(event_time), arrow_cast(value, 'Int32') (trunc) and a
        now() within --ran-between START_US,END_US with current_date() its date.

    nexmark_tool.py check --q0 T0 --q1 T1 --q2 T2 --q5-count T5 --q5 T6 --q7 T7 --aggregates TA
                          --cumulate TC
        Reads the bids q0 wrote (delta_scan) and evaluates q1 (price * 0.908), q2
        (auction % 123 = 0), the count half of q5 (bids per auction in 10 s windows
        sliding every 2 s, every window closed at the end), q5 as Flink writes it (those
        counts joined with their maximum per window) and q7 (the bids at the highest price
        of a 10 s tumbling window, within the 10 s before its end) over them with DuckDB's
        own SQL; compares each with the table sluice wrote, as multisets (q1's prices to
        1e-9 relative). TA (tests/queries/aggregates.sql) must hold, per auction and
        10-second window sliding every 4 seconds, the bids' count, count(extra), first and
        last date_time, highest price and sum of prices; TC (tests/queries/cumulate.sql),
        per auction and CUMULATE window (growing by 2 s to 10 s from each 10-second
        period's start), the bids' count and highest price. Prints a JSON report; exits 1
        on any difference.

    nexmark_tool.py joins --persons P --auctions A --q3 T3 --q8 T8 --arrivals TU
                          --arrivals-10s TW [--q3-on TO]
        Evaluates q3 and q8 with DuckDB over the people and auctions an export job wrote:
        q3 as the join with the 10-second seller bound benches/nexmark/q3.sql runs, and as
        Flink's q3 without it (T3 must equal both: the generator's sellers are recent
        people); q8 as the people who registered and opened an auction in the same
        10-second tumbling window. The export job's unions: TU (UNION ALL of the people
        and the sellers of category-10 auctions) and TW (two windowed queries, people
        and auctions per 10-second window, writing one table). TO must equal the bounded
        q3 too: it is q3 with its keys computed (CAST ... AS STRING) and its filters in ON.

    nexmark_tool.py q4 --auctions A --bids B --q4 T4
        Evaluates Flink's q4 with DuckDB over the auctions and bids an export job wrote:
        per category, the average of each auction's highest bid placed between its start
        and its expiry. T4 (merged by category epoch after epoch) must equal it, averages
        to 1e-9 relative.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import compare_loaded, connect, lit  # noqa: E402


def compare(con, name, expected_sql, table, columns, float_col=None):
    """`expected_sql` (DuckDB's own evaluation) against the Delta table's `columns`, with
    delta_checks' multiset comparison (floats to 1e-9 relative when `float_col` is set)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE ta AS {expected_sql}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE tb AS SELECT {columns} FROM delta_scan({lit(table)})")
    described = [[(r[0], r[1]) for r in con.execute(f"DESCRIBE {t}").fetchall()] for t in ("ta", "tb")]
    out = compare_loaded(con, described[0], described[1], 1e-9 if float_col else None)
    out["query"] = name
    out["ok"] = out["ok"] and out["rows_a"] > 0
    return out


# Bids per auction in 10-second windows sliding every 2 seconds (q5's counts).
HOP_COUNTS = """
    SELECT auction, count(*) AS num, starttime, starttime + INTERVAL 10 SECOND AS endtime
    FROM (
      SELECT auction,
             time_bucket(INTERVAL 2 SECOND, date_time) - k * INTERVAL 2 SECOND AS starttime
      FROM bids, range(0, 5) r(k)
    )
    GROUP BY auction, starttime
"""


# 5-minute windows starting 2 minutes past (Spark's start time), per event type.
SHIFTED = """
    SELECT time_bucket(INTERVAL 5 MINUTE, event_time, INTERVAL 2 MINUTE) AS ws,
           time_bucket(INTERVAL 5 MINUTE, event_time, INTERVAL 2 MINUTE)
             + INTERVAL 5 MINUTE AS we,
           event_type, count(*) AS n
    FROM bids GROUP BY ALL
"""


def check(args):
    con = connect()
    con.execute(f"CREATE TEMP TABLE bids AS SELECT * FROM delta_scan({lit(args.q0)})")
    reports = [
        compare(con, "q1",
                "SELECT auction, bidder, CAST(0.908 * price AS DOUBLE) AS price, date_time, extra "
                "FROM bids",
                args.q1, "auction, bidder, price, date_time, extra", float_col="price"),
        compare(con, "q2", "SELECT auction, price FROM bids WHERE auction % 123 = 0",
                args.q2, "auction, price"),
        compare(con, "q5-count",
                HOP_COUNTS,
                args.q5_count, "auction, num, starttime, endtime"),
        compare(con, "q5",
                f"""
                WITH counts AS ({HOP_COUNTS})
                SELECT AuctionBids.auction, AuctionBids.num
                FROM counts AS AuctionBids
                JOIN (SELECT max(num) AS maxn, starttime, endtime FROM counts
                      GROUP BY starttime, endtime) AS MaxBids
                  ON AuctionBids.starttime = MaxBids.starttime
                 AND AuctionBids.endtime = MaxBids.endtime
                 AND AuctionBids.num >= MaxBids.maxn
                """,
                args.q5, "auction, num"),
        compare(con, "q7",
                """
                SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
                FROM bids AS B
                JOIN (SELECT max(price) AS maxprice,
                             time_bucket(INTERVAL 10 SECOND, date_time) + INTERVAL 10 SECOND
                               AS date_time
                      FROM bids GROUP BY 2) AS B1
                  ON B.price = B1.maxprice
                WHERE B.date_time BETWEEN B1.date_time - INTERVAL 10 SECOND AND B1.date_time
                """,
                args.q7, "auction, price, bidder, date_time, extra"),
        compare(con, "aggregates",
                """
                SELECT auction, count(*) AS num, count(extra) AS extras, min(date_time) AS first_bid,
                       max(date_time) AS last_bid, max(price) AS top,
                       CAST(sum(price) AS BIGINT) AS total,
                       starttime, starttime + INTERVAL 10 SECOND AS endtime
                FROM (SELECT *, time_bucket(INTERVAL 4 SECOND, date_time) - k * INTERVAL 4 SECOND
                                AS starttime
                      FROM bids, range(0, 3) r(k))
                WHERE starttime + INTERVAL 10 SECOND > date_time
                GROUP BY auction, starttime
                """,
                args.aggregates,
                "auction, num, extras, first_bid, last_bid, top, total, starttime, endtime"),
        compare(con, "cumulate",
                """
                SELECT auction, count(*) AS num, max(price) AS top, starttime, endtime
                FROM (SELECT *, time_bucket(INTERVAL 10 SECOND, date_time) AS starttime,
                             time_bucket(INTERVAL 10 SECOND, date_time) + k * INTERVAL 2 SECOND
                               AS endtime
                      FROM bids, range(1, 6) r(k))
                WHERE endtime > date_time
                GROUP BY auction, starttime, endtime
                """,
                args.cumulate, "auction, num, top, starttime, endtime"),
    ]
    bids = con.execute("SELECT count(*) FROM bids").fetchone()[0]
    out = {"bids": bids, "queries": reports, "ok": bids > 0 and all(r["ok"] for r in reports)}
    print(json.dumps(out, default=str))
    return 0 if out["ok"] else 1


def joins(args):
    """q3 and q8 against DuckDB over the persons and auctions the export job wrote: for q3
    the bounded join it runs, and Flink's unbounded q3, which it must equal on this data;
    for q8 the window join of people and sellers."""
    con = connect()
    con.execute(f"CREATE TEMP TABLE person AS SELECT * FROM delta_scan({lit(args.persons)})")
    con.execute(f"CREATE TEMP TABLE auction AS SELECT * FROM delta_scan({lit(args.auctions)})")
    where = "A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')"
    reports = [
        compare(con, "q3 (seller at most 10 s before)",
                "SELECT P.name, P.city, P.state, A.id FROM auction A JOIN person P "
                "ON A.seller = P.id AND A.date_time BETWEEN P.date_time "
                f"AND P.date_time + INTERVAL 10 SECOND WHERE {where}",
                args.q3, "name, city, state, id"),
        compare(con, "q3 as Flink writes it",
                f"SELECT P.name, P.city, P.state, A.id FROM auction A JOIN person P "
                f"ON A.seller = P.id WHERE {where}",
                args.q3, "name, city, state, id"),
        compare(con, "q8",
                """
                SELECT P.id, P.name, P.starttime
                FROM (SELECT DISTINCT id, name,
                             time_bucket(INTERVAL 10 SECOND, date_time) AS starttime
                      FROM person) AS P
                JOIN (SELECT DISTINCT seller,
                             time_bucket(INTERVAL 10 SECOND, date_time) AS starttime
                      FROM auction) AS A
                  ON P.id = A.seller AND P.starttime = A.starttime
                """,
                args.q8, "id, name, starttime"),
        compare(con, "union all of people and category-10 sellers",
                "SELECT id, date_time, 'person' AS kind FROM person UNION ALL "
                "SELECT seller, date_time, 'auction' FROM auction WHERE category = 10",
                args.arrivals, "id, date_time, kind"),
        compare(con, "two windowed queries into one table",
                """
                SELECT time_bucket(INTERVAL 10 SECOND, date_time) AS window_start,
                       time_bucket(INTERVAL 10 SECOND, date_time) + INTERVAL 10 SECOND
                         AS window_end, kind, count(*) AS n
                FROM (SELECT date_time, 'person' AS kind FROM person UNION ALL
                      SELECT date_time, 'auction' FROM auction)
                GROUP BY ALL
                """,
                args.arrivals_10s, "window_start, window_end, kind, n"),
    ]
    if args.q3_on:
        reports.append(compare(con, "q3 with computed keys and its filters in ON",
                               "SELECT P.name, P.city, P.state, A.id FROM auction A JOIN "
                               "person P ON A.seller = P.id AND A.date_time BETWEEN "
                               f"P.date_time AND P.date_time + INTERVAL 10 SECOND WHERE {where}",
                               args.q3_on, "name, city, state, id"))
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("person", "auction")}
    out = {**counts, "queries": reports,
           "ok": all(counts.values()) and all(r["ok"] for r in reports)}
    print(json.dumps(out, default=str))
    return 0 if out["ok"] else 1


def sessions(gap):
    """Sessions of `gap` (a DuckDB interval) per user_id with their count, by sort and sweep."""
    return SESSIONS.replace("INTERVAL 10 MINUTE", gap)


# 10-minute-gap sessions per user_id with their count, by sort and sweep.
SESSIONS = """
                WITH ordered AS (
                  SELECT user_id, event_time,
                         CASE WHEN event_time - lag(event_time) OVER w < INTERVAL 10 MINUTE
                              THEN 0 ELSE 1 END AS starts
                  FROM bids WINDOW w AS (PARTITION BY user_id ORDER BY event_time)
                ), numbered AS (
                  SELECT *, sum(starts) OVER (PARTITION BY user_id ORDER BY event_time
                                              ROWS UNBOUNDED PRECEDING) AS session
                  FROM ordered
                )
                SELECT user_id, min(event_time) AS session_start,
                       max(event_time) + INTERVAL 10 MINUTE AS session_end, count(*) AS n
                FROM numbered GROUP BY user_id, session
                """


def rows_deleted(table):
    """The rows the table's MERGE commits deleted, from their commitInfo metrics."""
    log = os.path.join(table, "_delta_log")
    deleted = 0
    for name in sorted(os.listdir(log)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(log, name)) as f:
            for line in f:
                info = json.loads(line).get("commitInfo")
                if info and info.get("operation") == "MERGE":
                    metrics = info.get("operationMetrics", {})
                    # delta-rs names its metrics in snake case, Spark in camel case.
                    deleted += int(metrics.get("num_target_rows_deleted",
                                               metrics.get("numTargetRowsDeleted", 0)))
    return deleted


# A 5-minute tumbling window's bounds, as DuckDB computes them.
TUMBLE_5 = ("time_bucket(INTERVAL 5 MINUTE, event_time) AS window_start, "
            "time_bucket(INTERVAL 5 MINUTE, event_time) + INTERVAL 5 MINUTE AS window_end,")


def windows(args):
    """Two windows over rows that are never late: plain GROUP BYs over silver."""
    con = connect()
    con.execute(f"CREATE TEMP TABLE bids AS SELECT * FROM delta_scan({lit(args.silver)})")
    reports = [
        compare(con, "sliding",
                """
                SELECT starttime AS window_start, starttime + INTERVAL 5 MINUTE AS window_end,
                       user_id, event_type, count(*) AS n, sum(value) AS total
                FROM (SELECT *, time_bucket(INTERVAL 1 MINUTE, event_time) - k * INTERVAL 1 MINUTE
                                AS starttime
                      FROM bids, range(0, 5) r(k))
                GROUP BY ALL
                """,
                args.sliding, "window_start, window_end, user_id, event_type, n, total",
                float_col="total"),
        compare(con, "sessions", SESSIONS,
                args.sessions, "user_id, session_start, session_end, n"),
    ]
    if args.live_sessions:
        live = compare(con, "live_sessions", sessions("INTERVAL 1 MINUTE"), args.live_sessions,
                       "user_id, session_start, session_end, n")
        live["rows_deleted_by_merges"] = rows_deleted(args.live_sessions)
        live["ok"] = live["ok"] and live["rows_deleted_by_merges"] > 0
        reports.append(live)
    if args.by_kind:
        reports.append(compare(con, "by_kind (UNION ALL of two windowed queries)",
                               f"""
                               SELECT {TUMBLE_5}
                                      user_id,
                                      CASE WHEN event_type = 'click' THEN 'click' ELSE 'other'
                                      END AS kind,
                                      count(*) AS n
                               FROM bids WHERE event_type IS NOT NULL
                               GROUP BY ALL
                               """,
                               args.by_kind, "window_start, window_end, user_id, kind, n"))
    if args.expressions:
        reports.append(compare(con, "expressions (FILTER, GROUP BY upper(), sum / count)",
                               f"""
                               SELECT {TUMBLE_5}
                                      upper(user_id) AS who,
                                      count(*) FILTER (WHERE value > 50) AS big,
                                      sum(value) FILTER (WHERE event_type = 'click') AS clicks,
                                      min(value) AS low,
                                      sum(value) / count(*) AS mean,
                                      count(*) AS n,
                                      count(*) * 2 + 1 AS odd
                               FROM bids
                               GROUP BY ALL
                               """,
                               args.expressions,
                               "window_start, window_end, who, big, clicks, low, mean, n, odd",
                               float_col="mean"))
    if args.narrow:
        reports.append(compare(con, "narrow (* EXCEPT (value), WHERE events.value > 10)",
                               "SELECT * EXCLUDE (value) FROM bids WHERE value > 10",
                               args.narrow, "*"))
    if args.busy:
        reports.append(compare(con, "busy (HAVING over aggregates not selected)",
                               f"""
                               SELECT {TUMBLE_5}
                                      time_bucket(INTERVAL 5 MINUTE, event_time)
                                        + INTERVAL 5 MINUTE - INTERVAL 1 MILLISECOND
                                        AS window_time,
                                      user_id
                               FROM bids
                               GROUP BY ALL
                               HAVING count(*) > 3 AND max(value) > 50
                               """,
                               args.busy, "window_start, window_end, window_time, user_id"))
    if args.leaders:
        reports.append(compare(con, "leaders (DENSE_RANK per window and event type, WHERE "
                               "before the ranking, the rank selected)",
                               f"""
                               SELECT * FROM (
                                 SELECT window_start, window_end, event_type, user_id,
                                        n AS events,
                                        DENSE_RANK() OVER (PARTITION BY window_start,
                                          window_end, event_type ORDER BY n DESC) AS rk
                                 FROM (SELECT {TUMBLE_5} event_type, user_id, count(*) AS n
                                       FROM bids GROUP BY ALL)
                                 WHERE n > 1)
                               WHERE rk <= 2
                               """,
                               args.leaders,
                               "window_start, window_end, event_type, user_id, events, rk"))
    if args.runners_up:
        reports.append(compare(con, "runners_up (ROW_NUMBER by three columns, ranks 2 to 4)",
                               """
                               SELECT ws, event_type, user_id, n, best, rn FROM (
                                 SELECT *, ROW_NUMBER() OVER (PARTITION BY ws, we, event_type
                                   ORDER BY n DESC, best DESC NULLS FIRST, user_id NULLS LAST)
                                   AS rn
                                 FROM (SELECT time_bucket(INTERVAL 1 MINUTE, event_time) AS ws,
                                              time_bucket(INTERVAL 1 MINUTE, event_time)
                                                + INTERVAL 1 MINUTE AS we,
                                              event_type, user_id, count(*) AS n,
                                              max(value) AS best
                                       FROM bids GROUP BY ALL))
                               WHERE rn BETWEEN 2 AND 4
                               """,
                               args.runners_up, "ws, event_type, user_id, n, best, rn"))
    if args.legacy:
        reports.append(compare(con, "legacy (TUMBLE_START, TUMBLE_ROWTIME, GROUP BY 3)",
                               """
                               SELECT time_bucket(INTERVAL 5 MINUTE, event_time) AS ws,
                                      time_bucket(INTERVAL 5 MINUTE, event_time)
                                        + INTERVAL 5 MINUTE - INTERVAL 1 MILLISECOND AS wt,
                                      event_type, count(*) AS n
                               FROM bids GROUP BY ALL
                               """,
                               args.legacy, "ws, wt, event_type, n"))
    if args.shifted:
        reports.append(compare(con, "shifted (Spark's window() with a start time of 2 minutes)",
                               SHIFTED, args.shifted, "ws, we, event_type, n"))
    if args.spark_windows:
        # Spark's `SELECT window`: a struct of the window's start and end.
        reports.append(compare(con, "spark_windows (Spark's window struct column)",
                               SHIFTED, args.spark_windows,
                               '"window"[\'start\'] AS ws, "window"[\'end\'] AS we, '
                               "event_type, n"))
    if args.shifted_hops:
        # 3-minute windows every minute starting 40 s past each minute (an offset of -20 s):
        # each row is in the three whose start is at most 2 minutes before its slot's.
        reports.append(compare(con, "shifted_hops (HOP with an offset of -20 seconds)",
                               """
                               SELECT s AS window_start, s + INTERVAL 3 MINUTE AS window_end,
                                      count(*) AS n
                               FROM (SELECT time_bucket(INTERVAL 1 MINUTE, event_time,
                                                        INTERVAL 40 SECOND)
                                              - k * INTERVAL 1 MINUTE AS s
                                     FROM bids, range(0, 3) r(k))
                               GROUP BY ALL
                               """,
                               args.shifted_hops, "window_start, window_end, n"))
    if args.stamped:
        # now() and current_date() are the clock when each batch is evaluated: within the
        # run, and the run's dates; arrow_cast(value, 'Int32') truncates as Arrow casts.
        start_us, end_us = (int(t) for t in args.ran_between.split(","))
        stamped = compare(con, "stamped (arrow_cast, Spark's date_format and hour)",
                          "SELECT event_id, value, CAST(trunc(value) AS INTEGER) AS whole, "
                          "strftime(event_time, '%Y-%m-%d %H:%M') AS minute_text, "
                          "CAST(hour(event_time) AS INTEGER) AS hr FROM bids",
                          args.stamped, "event_id, value, whole, minute_text, hr")
        seen = con.execute(f"""
            SELECT count(*), count(seen), min(epoch_us(seen)), max(epoch_us(seen)),
                   count(*) FILTER (WHERE day <> CAST(seen AS DATE))
            FROM delta_scan({lit(args.stamped)})""").fetchone()
        stamped["seen"] = {"rows": seen[0], "non_null": seen[1], "first_us": seen[2],
                           "last_us": seen[3], "run_us": [start_us, end_us],
                           "day_not_seen_date": seen[4]}
        stamped["ok"] = (stamped["ok"] and seen[0] == seen[1] > 0
                         and start_us <= seen[2] <= seen[3] <= end_us and seen[4] == 0)
        reports.append(stamped)
    rows = con.execute("SELECT count(*) FROM bids").fetchone()[0]
    out = {"silver_rows": rows, "queries": reports, "ok": rows > 0 and all(r["ok"] for r in reports)}
    print(json.dumps(out, default=str))
    return 0 if out["ok"] else 1


def q4(args):
    """q4 against DuckDB over the auctions and bids the export job wrote."""
    con = connect()
    con.execute(f"CREATE TEMP TABLE auction AS SELECT * FROM delta_scan({lit(args.auctions)})")
    con.execute(f"CREATE TEMP TABLE bid AS SELECT * FROM delta_scan({lit(args.bids)})")
    reports = [
        compare(con, "q4",
                """
                SELECT Q.category AS id, CAST(avg(Q.final) AS DOUBLE) AS final
                FROM (
                  SELECT max(B.price) AS final, A.category
                  FROM auction A, bid B
                  WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
                  GROUP BY A.id, A.category
                ) Q
                GROUP BY Q.category
                """,
                args.q4, "id, final", float_col="final"),
    ]
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("auction", "bid")}
    out = {**counts, "queries": reports,
           "ok": all(counts.values()) and all(r["ok"] for r in reports)}
    print(json.dumps(out, default=str))
    return 0 if out["ok"] else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("windows")
    w.add_argument("--silver", required=True)
    w.add_argument("--sliding", required=True)
    w.add_argument("--sessions", required=True)
    w.add_argument("--live-sessions")
    w.add_argument("--by-kind")
    w.add_argument("--expressions")
    w.add_argument("--narrow")
    w.add_argument("--busy")
    w.add_argument("--leaders")
    w.add_argument("--runners-up")
    w.add_argument("--legacy")
    w.add_argument("--shifted")
    w.add_argument("--shifted-hops")
    w.add_argument("--spark-windows")
    w.add_argument("--stamped")
    w.add_argument("--ran-between", help="START_US,END_US: the run's wall clock")
    w.set_defaults(func=windows)
    c = sub.add_parser("check")
    c.add_argument("--q0", required=True)
    c.add_argument("--q1", required=True)
    c.add_argument("--q2", required=True)
    c.add_argument("--q5-count", required=True)
    c.add_argument("--q5", required=True)
    c.add_argument("--q7", required=True)
    c.add_argument("--aggregates", required=True)
    c.add_argument("--cumulate", required=True)
    c.set_defaults(func=check)
    j = sub.add_parser("joins")
    j.add_argument("--persons", required=True)
    j.add_argument("--auctions", required=True)
    j.add_argument("--q3", required=True)
    j.add_argument("--q8", required=True)
    j.add_argument("--arrivals", required=True)
    j.add_argument("--arrivals-10s", required=True)
    j.add_argument("--q3-on")
    j.set_defaults(func=joins)
    f = sub.add_parser("q4")
    f.add_argument("--auctions", required=True)
    f.add_argument("--bids", required=True)
    f.add_argument("--q4", required=True)
    f.set_defaults(func=q4)
    args = ap.parse_args()
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
