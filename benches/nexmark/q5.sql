-- Nexmark q5, hot items: the auctions with the most bids in each 10-second window sliding
-- every 2 seconds (ties all kept). Flink's q5 joins the bid counts with their maximum per
-- window; this q5 writes that as Flink's window Top-N, RANK() per window kept at 1, which
-- keeps the same rows (the test checks it against DuckDB's evaluation of Flink's join).
-- The counts use Flink's windowing TVF, as Flink's q5 does.
SET 'params.sink' = 'blackhole';
SET 'job-id' = 'nexmark-q5';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '10000000');
CREATE TABLE q5 WITH ('connector' = '${sink}');
INSERT INTO q5
SELECT auction, num FROM (
  SELECT *, RANK() OVER (PARTITION BY starttime, endtime ORDER BY num DESC) AS rk
  FROM (
    SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end
  )
) WHERE rk <= 1;
