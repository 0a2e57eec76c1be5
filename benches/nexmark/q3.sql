-- Nexmark q3, local item suggestion: the sellers in Oregon, Idaho or California of the
-- auctions in category 10, from a stream-stream join of auctions with their sellers.
-- Flink's q3 keeps every person in state forever; a stream-stream join here evicts state
-- by the watermark, which needs event-time bounds, so this q3 joins an auction with its
-- seller when the seller registered at most 10 seconds of event time before it. The
-- generator draws sellers among the 100 newest people (5,000 events, half a millisecond
-- at its default rate), so the bound keeps every pair Flink's q3 finds; the test checks
-- both against DuckDB.
SET 'params.sink' = 'blackhole';
SET 'params.events' = '10000000';
SET 'params.rate' = '10000000';
SET 'job-id' = 'nexmark-q3';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE auction (
  id BIGINT NOT NULL, item_name STRING NOT NULL, description STRING NOT NULL,
  initial_bid BIGINT NOT NULL, reserve BIGINT NOT NULL, date_time TIMESTAMP NOT NULL,
  expires TIMESTAMP NOT NULL, seller BIGINT NOT NULL, category BIGINT NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'auction', 'events' = '${events}',
        'rate' = '${rate}');
CREATE TABLE person (
  id BIGINT NOT NULL, name STRING NOT NULL, email_address STRING NOT NULL,
  credit_card STRING NOT NULL, city STRING NOT NULL, state STRING NOT NULL,
  date_time TIMESTAMP NOT NULL, extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'person', 'events' = '${events}',
        'rate' = '${rate}');
CREATE TABLE q3 WITH ('connector' = '${sink}');
INSERT INTO q3
SELECT P.name, P.city, P.state, A.id
FROM auction AS A INNER JOIN person AS P
  ON A.seller = P.id
 AND A.date_time BETWEEN P.date_time AND P.date_time + INTERVAL '10' SECOND
WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
