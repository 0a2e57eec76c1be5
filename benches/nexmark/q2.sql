-- Nexmark q2, selection: the bids on every 123rd auction (Flink writes MOD(auction, 123);
-- DataFusion's SQL has no MOD function, `%` is the same).
SET 'params.sink' = 'blackhole';
SET 'job-id' = 'nexmark-q2';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '10000000');
CREATE TABLE q2 WITH ('connector' = '${sink}');
INSERT INTO q2 SELECT auction, price FROM bid WHERE auction % 123 = 0;
