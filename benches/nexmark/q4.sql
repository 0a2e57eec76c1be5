-- Nexmark q4, average price for a category: the average, per category, of the closing
-- (highest) bid of each auction, counting the bids placed between the auction's start and
-- its expiry. As Flink writes it, with the output columns named (`id`, `final`, as
-- Flink's q4 table names them) and `date_time` for Flink's `dateTime`. The join keeps each auction until the watermark passes its expiry; the
-- inner aggregate has no window, so each epoch it updates the auctions whose highest bid
-- changed, retracting their old one from the outer average; the table holds the current
-- average per category, merged by category each epoch.
SET 'params.sink' = 'blackhole';
SET 'params.events' = '10000000';
SET 'params.rate' = '10000000';
SET 'job-id' = 'nexmark-q4';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE auction (
  id BIGINT NOT NULL, item_name STRING NOT NULL, description STRING NOT NULL,
  initial_bid BIGINT NOT NULL, reserve BIGINT NOT NULL, date_time TIMESTAMP NOT NULL,
  expires TIMESTAMP NOT NULL, seller BIGINT NOT NULL, category BIGINT NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'auction', 'events' = '${events}',
        'rate' = '${rate}');
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '${events}',
        'rate' = '${rate}');
CREATE TABLE q4 WITH ('connector' = '${sink}', 'output-mode' = 'update');
INSERT INTO q4
SELECT Q.category AS id, AVG(Q.final) AS final
FROM (
  SELECT MAX(B.price) AS final, A.category
  FROM auction A, bid B
  WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
  GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
