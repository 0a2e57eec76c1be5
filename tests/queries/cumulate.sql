-- A test query (not a Nexmark one): Flink's CUMULATE window TVF over the Nexmark bids.
-- Per auction, windows that grow by 2 seconds to 10 seconds from each 10-second period's
-- start: [s, s+2s), [s, s+4s), ..., [s, s+10s), each with its bids' count and top price.
SET 'params.sink' = 'blackhole';
SET 'job-id' = 'nexmark-cumulate';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '1000000');
CREATE TABLE cumulate WITH ('connector' = '${sink}');
INSERT INTO cumulate
SELECT auction, count(*) AS num, max(price) AS top,
       window_start AS starttime, window_end AS endtime
FROM TABLE(CUMULATE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
