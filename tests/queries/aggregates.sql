-- A test query (not a Nexmark one): every kind of aggregate input over the Nexmark bids,
-- in 10-second windows sliding every 4 seconds. The size is no multiple of the slide, so
-- the windows share 2-second panes, each bid in two or three windows. count(extra) counts
-- a text column's values; min and max of date_time are timestamps.
SET 'params.sink' = 'blackhole';
SET 'job-id' = 'nexmark-aggregates';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '1000000');
CREATE TABLE aggregates WITH ('connector' = '${sink}');
INSERT INTO aggregates
SELECT auction, count(*) AS num, count(extra) AS extras, min(date_time) AS first_bid,
       max(date_time) AS last_bid, max(price) AS top, sum(price) AS total,
       window_start AS starttime, window_end AS endtime
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '4' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
