-- Nexmark q1, currency conversion: bid prices from dollars to euros.
SET 'params.sink' = 'blackhole';
SET 'job-id' = 'nexmark-q1';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '10000000');
CREATE TABLE q1 WITH ('connector' = '${sink}');
INSERT INTO q1 SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid;
