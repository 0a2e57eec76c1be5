-- Nexmark q7, highest bid: the bids whose price is the highest of a 10-second window,
-- among the bids of the 10 seconds before that window's end. As Flink writes it: a join of
-- the bids with their maximum price per tumbling window, bounded in WHERE. The windows'
-- rows are a stream whose event time is the window's end; the join keeps each bid until
-- every window that could match it has closed.
SET 'params.sink' = 'blackhole';
SET 'params.events' = '10000000';
SET 'job-id' = 'nexmark-q7';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '${events}');
CREATE TABLE q7 WITH ('connector' = '${sink}');
INSERT INTO q7
SELECT B.auction, B.price, B.bidder, B.date_time, B.extra
FROM bid AS B
JOIN (
  SELECT max(price) AS maxprice, window_end AS date_time
  FROM bid
  GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND)
) AS B1
ON B.price = B1.maxprice
WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time;
