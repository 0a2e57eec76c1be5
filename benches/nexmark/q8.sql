-- Nexmark q8, monitor new users: the people who registered and opened an auction in the
-- same 10-second window. As Flink writes it: a window join of two windowed subqueries,
-- people and sellers per tumbling window, on the person, the seller and the window.
SET 'params.sink' = 'blackhole';
SET 'params.events' = '10000000';
SET 'params.rate' = '10000000';
SET 'job-id' = 'nexmark-q8';
SET 'trigger.records-per-epoch' = '1000000';
CREATE TABLE person (
  id BIGINT NOT NULL, name STRING NOT NULL, email_address STRING NOT NULL,
  credit_card STRING NOT NULL, city STRING NOT NULL, state STRING NOT NULL,
  date_time TIMESTAMP NOT NULL, extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'person', 'events' = '${events}',
        'rate' = '${rate}');
CREATE TABLE auction (
  id BIGINT NOT NULL, item_name STRING NOT NULL, description STRING NOT NULL,
  initial_bid BIGINT NOT NULL, reserve BIGINT NOT NULL, date_time TIMESTAMP NOT NULL,
  expires TIMESTAMP NOT NULL, seller BIGINT NOT NULL, category BIGINT NOT NULL,
  extra STRING NOT NULL,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'kind' = 'auction', 'events' = '${events}',
        'rate' = '${rate}');
CREATE TABLE q8 WITH ('connector' = '${sink}');
INSERT INTO q8
SELECT P.id, P.name, P.starttime
FROM (
  SELECT id, name, window_start AS starttime, window_end AS endtime
  FROM person
  GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), id, name
) AS P
JOIN (
  SELECT seller, window_start AS starttime, window_end AS endtime
  FROM auction
  GROUP BY TUMBLE(date_time, INTERVAL '10' SECOND), seller
) AS A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
