-- The first half of Nexmark q5 (hot items): bids per auction in 10-second windows
-- sliding every 2 seconds, for scale beside q5.sql, which then keeps each window's top
-- auctions.
SET 'params.sink' = 'blackhole';
SET 'job-id' = 'nexmark-q5-count';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '10000000');
CREATE TABLE q5_count WITH ('connector' = '${sink}');
INSERT INTO q5_count
SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
