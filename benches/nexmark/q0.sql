-- Nexmark q0, pass-through: every bid, as Flink's Nexmark writes it.
-- `--param sink=delta` writes the Delta table q0 instead of dropping the rows.
SET 'params.sink' = 'blackhole';
SET 'job-id' = 'nexmark-q0';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE bid (
  auction BIGINT NOT NULL, bidder BIGINT NOT NULL, price BIGINT NOT NULL,
  channel STRING NOT NULL, url STRING NOT NULL, date_time TIMESTAMP NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'bid', 'events' = '10000000');
CREATE TABLE q0 WITH ('connector' = '${sink}');
INSERT INTO q0 SELECT auction, bidder, price, date_time, extra FROM bid;
