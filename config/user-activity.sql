-- The user-activity medallion pipeline of config/user-activity.yaml (what `sluice demo`
-- runs), written in SQL. Run it with `sluice run config/user-activity.sql`; `--set` and
-- `--param` work as for YAML jobs (`--set source.generator.events=100000`).
SET 'job-id' = 'user-activity-sql';
SET 'output.dir' = 'sluice-demo-sql';
SET 'output.tables.dead-letters' = 'dlq';
SET 'trigger.records-per-epoch' = '100000';
SET 'checkpoint.every' = '5';
SET 'checkpoint.keep' = '3';

-- The source: the built-in generator's JSON events. CHECK constraints are the
-- data-quality rules (violations go to the dead-letter table as `rule:<name>`), and the
-- watermark trails the newest event time by 10 minutes.
CREATE TABLE events (
  event_id STRING NOT NULL,
  user_id STRING,
  event_type STRING,
  event_time TIMESTAMP NOT NULL,
  value DOUBLE,
  CONSTRAINT user_id_not_null CHECK (user_id IS NOT NULL),
  CONSTRAINT value_non_negative CHECK (value >= 0),
  CONSTRAINT event_type_known CHECK (event_type IN ('click', 'view', 'add_to_cart', 'purchase', 'search')),
  WATERMARK FOR event_time AS event_time - INTERVAL '10' MINUTE
) WITH (
  'connector' = 'generator',
  'seed' = '42',
  'partitions' = '4',
  'events' = '1000000',
  'format' = 'json'
);

CREATE TABLE silver WITH ('connector' = 'delta', 'partition-by' = 'event_date');

-- Silver: the rows that pass the rules, with their date.
INSERT INTO silver
SELECT *, CAST(event_time AS DATE) AS event_date
FROM events;

-- Gold: 5-minute windows sliding every minute, per user and event type, emitted once the
-- watermark passes their end; late rows go to the dead-letter table.
INSERT INTO gold_user_activity
SELECT window_start, window_end, user_id, event_type,
       count(*) AS event_count, sum(value) AS total_value, avg(value) AS avg_value
FROM events
GROUP BY HOP(event_time, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE), user_id, event_type;
