//! End-to-end tests on a real Kafka-API broker (tansu, started by `scripts/test`) and a
//! real S3 API (moto): `sluice produce` writes the generator's events to a topic, `sluice
//! run` reads them into Delta, and DuckDB's Delta extension checks the tables against
//! what was produced.
//!
//! Generator partition `p` goes to Kafka partition `p` of a fresh topic, so Kafka offset
//! `o` holds generator event `(p, o)`: the accounting check's oracle is exactly the
//! produced set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use sluice_tests::{
    SplitMix64, check_accounting, check_counts, check_gold_vs_silver, delta_commit_count,
    expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin, spawn_logged, tail,
    test_seed, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const PARTITIONS: u32 = 8;

fn env(var: &str) -> Result<String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| {
            format!("{var} is not set: run the suite with scripts/test, which starts the services")
        })
}

fn brokers() -> Result<String> {
    env("SLUICE_KAFKA_BROKERS")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

fn job_file() -> PathBuf {
    sluice_tests::tests_dir()
        .join("..")
        .join("config")
        .join("kafka-events-to-delta.yaml")
}

fn s3_tool(args: &[&str]) -> Result<()> {
    python_tool("s3_tool.py", args, Duration::from_secs(300)).map(drop)
}

/// `sluice produce` of `events` generated events (seed `seed`) to `topic`.
fn produce(topic: &str, events: u64, seed: u64, rate: Option<u64>) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.args(["produce", "--brokers", &brokers()?, "--topic", topic])
        // tansu 0.6.0's sqlite engine panicked ("more or less than one row") under
        // idempotent produce with concurrent fetches; ordered acks=all avoids that path.
        .args(["--idempotence", "false"])
        .args(["--partitions", &PARTITIONS.to_string()])
        .args(["--events", &events.to_string(), "--seed", &seed.to_string()]);
    if let Some(r) = rate {
        cmd.args(["--rate", &r.to_string()]);
    }
    Ok(cmd)
}

fn create_topic(topic: &str) -> Result<()> {
    let mut cmd = produce(topic, 1, 1, None)?;
    cmd.arg("--create-only");
    run_with_timeout(cmd, Duration::from_secs(60))?.require_success("sluice produce --create-only")
}

/// The `--set` value bounding every partition at what `events` generated events fill.
fn ending_offsets(topic: &str, events: u64) -> String {
    let p = u64::from(PARTITIONS);
    let parts: Vec<String> = (0..p)
        .map(|i| format!("\"{i}\": {}", events / p + u64::from(i < events % p)))
        .collect();
    format!(
        "source.kafka.ending-offsets={{offsets: {{{topic}: {{{}}}}}}}",
        parts.join(", ")
    )
}

/// `sluice run config/kafka-events-to-delta.yaml` on `topic`, bounded at `events`.
fn job(topic: &str, events: u64, out: &str, workers: u32, extra: &[String]) -> Result<Command> {
    let mut cmd = on_topic(&["run"], topic, events, out, extra)?;
    cmd.args(["--workers", &workers.to_string()]);
    Ok(cmd)
}

/// `sluice ARGS config/kafka-events-to-delta.yaml` on `topic`, bounded at `events`.
fn on_topic(
    args: &[&str],
    topic: &str,
    events: u64,
    out: &str,
    extra: &[String],
) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.args(args).arg(job_file());
    let mut set = vec![
        format!("source.kafka.brokers={}", brokers()?),
        format!("source.kafka.topics=[{topic}]"),
        ending_offsets(topic, events),
        format!("output.dir={out}"),
        "source.kafka.max-records-per-epoch=50000".to_string(),
        "trigger.interval=200ms".to_string(),
    ];
    set.extend(extra.iter().cloned());
    for s in set {
        cmd.arg("--set").arg(s);
    }
    if out.starts_with("s3://") {
        cmd.env("AWS_ENDPOINT_URL", env("SLUICE_S3_ENDPOINT")?);
    }
    Ok(cmd)
}

fn wait(child: &mut Child, what: &str, log: &Path, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            ensure!(
                status.success(),
                "{what} failed with {status}\n{}",
                log_tail(log)
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "{what} did not finish within {timeout:?}\n{}",
                log_tail(log)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    format!("--- {} (tail) ---\n{}", log.display(), tail(&text, 40))
}

/// `sluice replay --from-time T` goes by Kafka record timestamps. 40,000 events are
/// produced in two phases, offsets 0..2500 of every partition, then (after T) 2500..5000,
/// and the job reads them 1,000 records per partition per epoch. The replay must start at
/// the first epoch whose logged ranges reach offset 2500 (read from the checkpoint's
/// offsets log, not from the replay), at epoch 0 for a time before every record, and be
/// refused for a time after every record.
#[test]
fn a_replay_from_a_time_starts_at_the_first_epoch_reading_records_stamped_then() -> Result<()> {
    let _serial = serial();
    const EVENTS: u64 = 40_000;
    const SPLIT: u64 = 2_500;
    let dir = work_dir(TMP, "kafka_replay_time")?;
    let topic = unique("replay-time");
    create_topic(&topic)?;
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let mut first = produce(&topic, EVENTS, 7, None)?;
    first.args(["--until-offset", &SPLIT.to_string()]);
    run_with_timeout(first, Duration::from_secs(120))?.require_success("first phase")?;
    thread::sleep(Duration::from_millis(1500));
    let at = chrono::Utc::now();
    thread::sleep(Duration::from_millis(1500));
    let mut second = produce(&topic, EVENTS, 7, None)?;
    second.args(["--from-offset", &SPLIT.to_string()]);
    run_with_timeout(second, Duration::from_secs(120))?.require_success("second phase")?;

    let out = dir.join("out").display().to_string();
    let per_epoch = vec![format!(
        "source.kafka.max-records-per-epoch={}",
        1_000 * PARTITIONS
    )];
    let log = dir.join("job.log");
    let mut run = spawn_logged(job(&topic, EVENTS, &out, 1, &per_epoch)?, &log)?;
    wait(&mut run, "sluice run", &log, Duration::from_secs(600))?;

    // The oracle: the first epoch whose logged ranges reach offset SPLIT.
    let offsets = dir.join("out/checkpoints/kafka-user-events/offsets");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&offsets)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.sort();
    let mut expected = None;
    for file in &files {
        let entry: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        let reaches = entry["ranges"]
            .as_array()
            .context("ranges")?
            .iter()
            .any(|r| r["end"].as_u64().is_some_and(|end| end > SPLIT));
        if reaches {
            expected = entry["epoch"].as_u64();
            break;
        }
    }
    let expected = expected.context("no epoch read the second phase")?;
    ensure!(
        expected > 0,
        "the first epoch already read the second phase"
    );

    let replay = |time: &chrono::DateTime<chrono::Utc>| -> Result<sluice_tests::RunOutput> {
        let time = time.to_rfc3339();
        let args = ["replay", "--from-time", time.as_str(), "--dry-run"];
        run_with_timeout(
            on_topic(&args, &topic, EVENTS, &out, &per_epoch)?,
            Duration::from_secs(120),
        )
    };
    let found = replay(&at)?;
    found.require_success("replay --from-time --dry-run")?;
    ensure!(
        found.stdout.contains(&format!(
            "is epoch {expected}: the first that read a Kafka record"
        )),
        "the second phase begins in epoch {expected}:\n{}",
        found.stdout
    );
    let from_start = replay(&before)?;
    from_start.require_success("replay --from-time before every record")?;
    ensure!(
        from_start
            .stdout
            .contains("is epoch 0: the first that read"),
        "{}",
        from_start.stdout
    );
    let later = replay(&(chrono::Utc::now() + chrono::Duration::seconds(60)))?;
    ensure!(
        !later.status.success() && later.stderr.contains("stamped at or after"),
        "a time after every record must be refused:\n{}{}",
        later.stdout,
        later.stderr
    );
    Ok(())
}

/// 1M events (malformed, rule-breaking and late ones included) over 8 partitions, produced
/// while the job runs with 2 workers, into Delta tables on S3. DuckDB then finds every
/// produced record exactly once, and gold equal to windows recomputed from silver.
#[test]
fn kafka_to_delta_on_s3_while_producing_matches_what_was_produced() -> Result<()> {
    let _serial = serial();
    const EVENTS: u64 = 1_000_000;
    let dir = work_dir(TMP, "kafka_to_s3")?;
    let topic = unique("events");
    let bucket = unique("sluice-e2e");
    s3_tool(&["mkbucket", &bucket])?;
    create_topic(&topic)?;
    let producer_log = dir.join("produce.log");
    let job_log = dir.join("job.log");
    let mut producer = spawn_logged(produce(&topic, EVENTS, 42, None)?, &producer_log)?;
    let out = format!("s3://{bucket}/user-events");
    let started = Instant::now();
    let mut run = spawn_logged(job(&topic, EVENTS, &out, 2, &[])?, &job_log)?;
    // The job must be reading while the producer still writes.
    let producer_done = loop {
        if let Some(status) = producer.try_wait()? {
            ensure!(
                status.success(),
                "producer failed\n{}",
                log_tail(&producer_log)
            );
            break started.elapsed();
        }
        if let Some(status) = run.try_wait()? {
            bail!(
                "the job ended ({status}) before the producer\n{}",
                log_tail(&job_log)
            );
        }
        thread::sleep(Duration::from_millis(50));
    };
    wait(&mut run, "sluice run", &job_log, Duration::from_secs(1200))?;
    println!(
        "producer finished after {producer_done:?}, job after {:?}",
        started.elapsed()
    );
    s3_tool(&[
        "download",
        &bucket,
        "user-events",
        &dir.display().to_string(),
    ])?;
    let accounting = check_accounting(&dir, EVENTS, PARTITIONS)?;
    println!("accounting: {}", accounting["counts"]);
    let gold = check_gold_vs_silver(&dir)?;
    println!("gold vs silver: {gold}");
    Ok(())
}

/// kill -9 the job again and again while a producer writes; the final tables hold every
/// produced record exactly once and gold agrees with silver.
#[test]
fn kafka_crash_and_restart_is_exactly_once() -> Result<()> {
    let _serial = serial();
    const EVENTS: u64 = 120_000;
    const KILLS: usize = 5;
    let seed = test_seed(0x0C0F_FEE5);
    println!("kill schedule seed: {seed} (SLUICE_TEST_SEED={seed} replays it)");
    let mut rng = SplitMix64::new(seed);
    let dir = work_dir(TMP, "kafka_crash")?;
    let topic = unique("crash");
    create_topic(&topic)?;
    let producer_log = dir.join("produce.log");
    let job_log = dir.join("job.log");
    // About 12 s of production, so kills land while data still arrives.
    let mut producer = spawn_logged(produce(&topic, EVENTS, 9, Some(10_000))?, &producer_log)?;
    let out = dir.join("out");
    let out_text = out.display().to_string();
    let extra = [
        "source.kafka.max-records-per-epoch=4000".to_string(),
        "checkpoint.every=2".to_string(),
    ];
    let mut kills = 0;
    while kills < KILLS {
        let before = delta_commit_count(&out);
        let mut child = spawn_logged(job(&topic, EVENTS, &out_text, 2, &extra)?, &job_log)?;
        let started = Instant::now();
        let after_commit = rng.chance(1, 2);
        let delay = Duration::from_millis(rng.range(1200, 3500));
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the job ended ({status}) before kill {kills}; produce more events\n{}",
                    log_tail(&job_log)
                );
            }
            ensure!(
                started.elapsed() < Duration::from_secs(300),
                "no progress\n{}",
                log_tail(&job_log)
            );
            let due = if after_commit {
                delta_commit_count(&out) > before
            } else {
                started.elapsed() >= delay
            };
            if due {
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
        child.kill()?;
        child.wait()?;
        kills += 1;
        println!(
            "kill {kills} ({}) after {:?}; commits {before} -> {}",
            if after_commit {
                "right after a commit"
            } else {
                "after a delay"
            },
            started.elapsed(),
            delta_commit_count(&out)
        );
    }
    let mut run = spawn_logged(job(&topic, EVENTS, &out_text, 2, &extra)?, &job_log)?;
    wait(&mut run, "final resume", &job_log, Duration::from_secs(900))?;
    wait(
        &mut producer,
        "producer",
        &producer_log,
        Duration::from_secs(60),
    )?;
    check_accounting(&out, EVENTS, PARTITIONS)?;
    check_gold_vs_silver(&out)?;
    Ok(())
}

#[test]
fn bad_settings_fail_with_one_clear_line() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "kafka_bad_settings")?;
    let topic = unique("bad");
    create_topic(&topic)?;
    let local = dir.join("out").display().to_string();
    let fast = "source.kafka.request-timeout=3s".to_string();

    let mut cmd = job(&topic, 10, &local, 1, std::slice::from_ref(&fast))?;
    cmd.args(["--set", "source.kafka.brokers=127.0.0.1:1"]);
    expect_clean_failure("wrong broker address", cmd, &["127.0.0.1:1"])?;

    let mut cmd = job(&topic, 10, &local, 1, std::slice::from_ref(&fast))?;
    cmd.args(["--set", "source.kafka.topics=[no-such-topic-e2e]"]);
    expect_clean_failure("unknown topic", cmd, &["no-such-topic-e2e"])?;

    let mut cmd = job(&topic, 10, &local, 1, std::slice::from_ref(&fast))?;
    cmd.args(["--set", "source.kafka.properties={security.protocol: SASL_PLAINTEXT, sasl.mechanism: NOT-A-MECHANISM, sasl.username: u, sasl.password: hunter2}"]);
    let out = run_with_timeout(cmd, Duration::from_secs(120))?;
    ensure!(
        !out.stderr.contains("hunter2"),
        "the password was printed:\n{}",
        out.stderr
    );
    let mut cmd = job(&topic, 10, &local, 1, std::slice::from_ref(&fast))?;
    cmd.args(["--set", "source.kafka.properties={security.protocol: SASL_PLAINTEXT, sasl.mechanism: NOT-A-MECHANISM, sasl.username: u, sasl.password: hunter2}"]);
    expect_clean_failure(
        "bad security settings",
        cmd,
        &["SASL mechanism", "NOT-A-MECHANISM"],
    )?;

    let bucket = unique("no-such-bucket");
    let cmd = job(
        &topic,
        10,
        &format!("s3://{bucket}/x"),
        1,
        std::slice::from_ref(&fast),
    )?;
    expect_clean_failure("missing bucket", cmd, &[&bucket])?;

    let mut cmd = job(&topic, 10, &local, 1, &[fast])?;
    cmd.args(["--set", "trigger.interval=soon"]);
    expect_clean_failure("bad override value", cmd, &["trigger"])?;
    Ok(())
}

/// Messages in `topic`, read by `sluice consume-rate`.
fn topic_count(topic: &str) -> Result<u64> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.args(["consume-rate", "--brokers", &brokers()?, "--topic", topic]);
    let out = run_with_timeout(cmd, Duration::from_secs(300))?;
    out.require_success("sluice consume-rate")?;
    let n = out
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .with_context(|| format!("unexpected consume-rate output: {}", out.stdout))?;
    Ok(n)
}

/// Gold rows and dead letters published to Kafka topics equal the Delta tables' rows
/// (a crash-free run, so at-least-once delivers exactly once here).
#[test]
fn tables_published_to_kafka_match_the_delta_tables() -> Result<()> {
    let _serial = serial();
    const EVENTS: u64 = 20_000;
    let dir = work_dir(TMP, "kafka_publish")?;
    let topic = unique("pub");
    create_topic(&topic)?;
    run_with_timeout(produce(&topic, EVENTS, 5, None)?, Duration::from_secs(300))?
        .require_success("sluice produce")?;
    let out = dir.join("out");
    let publish = format!(
        "output.kafka={{brokers: \"{}\", idempotence: false, topics: {{gold: {topic}-gold, dead-letters: {topic}-dlq}}}}",
        brokers()?
    );
    run_with_timeout(
        job(&topic, EVENTS, &out.display().to_string(), 2, &[publish])?,
        Duration::from_secs(600),
    )?
    .require_success("sluice run with output.kafka")?;
    let counts = check_counts(&out)?;
    let rows = |t: &str| counts["tables"][t].as_u64().unwrap_or(u64::MAX);
    let (gold, dlq) = (rows("gold_user_activity"), rows("dlq"));
    ensure!(
        gold > 0 && dlq > 0,
        "expected gold rows and dead letters: {counts}"
    );
    let (gold_msgs, dlq_msgs) = (
        topic_count(&format!("{topic}-gold"))?,
        topic_count(&format!("{topic}-dlq"))?,
    );
    ensure!(
        (gold_msgs, dlq_msgs) == (gold, dlq),
        "topics hold {gold_msgs} gold and {dlq_msgs} dead-letter messages; tables hold {gold} and {dlq} rows"
    );
    Ok(())
}

/// The lag gauges of every partition of a scrape: `(partition, records, seconds)`.
type LagScrape = std::collections::BTreeMap<String, (f64, f64)>;

/// Parses the `sluice_source_lag_records` and `sluice_source_lag_seconds` series of a
/// Prometheus exposition, by partition label.
fn lag_of(exposition: &str) -> LagScrape {
    let mut lags = LagScrape::new();
    for line in exposition.lines() {
        let (which, rest) = if let Some(rest) = line.strip_prefix("sluice_source_lag_records{") {
            (0, rest)
        } else if let Some(rest) = line.strip_prefix("sluice_source_lag_seconds{") {
            (1, rest)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let Some(partition) = labels
            .split(',')
            .find_map(|l| l.strip_prefix("partition=\""))
            .map(|p| p.trim_end_matches('"').to_owned())
        else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap_or(f64::NAN);
        let entry = lags.entry(partition).or_insert((f64::NAN, f64::NAN));
        if which == 0 {
            entry.0 = value;
        } else {
            entry.1 = value;
        }
    }
    lags
}

/// A GET of `http://addr/metrics` with curl, `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "2"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The lag metrics against the broker: 40,000 events are produced to 8 partitions
/// (5,000 each) before the job starts, and the job reads 1,000 records per epoch. While
/// it runs, every partition's lag in records must stay within what the broker holds for
/// it, the total must shrink and never grow (nothing more is produced) and be above 0
/// with records waiting (the lag in seconds then too); once everything is read, every
/// partition's lag must be 0 records and 0 seconds.
#[test]
fn kafka_lag_metrics_count_down_to_zero_as_the_backlog_is_read() -> Result<()> {
    let _serial = serial();
    const EVENTS: u64 = 40_000;
    let dir = work_dir(TMP, "kafka_lag")?;
    let topic = unique("lag");
    create_topic(&topic)?;
    run_with_timeout(produce(&topic, EVENTS, 9, None)?, Duration::from_secs(300))?
        .require_success("sluice produce")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let extra = [
        "source.kafka.max-records-per-epoch=1000".to_owned(),
        "trigger.interval=100ms".to_owned(),
        format!("metrics.listen=127.0.0.1:{port}"),
        "metrics.linger=4s".to_owned(),
    ];
    let log = dir.join("job.log");
    let out = dir.join("out").display().to_string();
    let mut run = spawn_logged(job(&topic, EVENTS, &out, 1, &extra)?, &log)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut scrapes: Vec<LagScrape> = Vec::new();
    while run.try_wait()?.is_none() {
        ensure!(
            Instant::now() < deadline,
            "the job did not finish\n{}",
            log_tail(&log)
        );
        if let Some(text) = scrape(port) {
            let lags = lag_of(&text);
            if !lags.is_empty() {
                scrapes.push(lags);
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    wait(&mut run, "sluice run", &log, Duration::from_secs(10))?;
    let per_partition = (EVENTS / u64::from(PARTITIONS)) as f64;
    let totals: Vec<f64> = scrapes
        .iter()
        .map(|s| s.values().map(|v| v.0).sum())
        .collect();
    let mut steps = totals.clone();
    steps.dedup();
    println!(
        "{} scrapes; the total lag in records went {steps:?}",
        scrapes.len()
    );
    let last = scrapes.last().context("no scrape showed the lag metrics")?;
    ensure!(
        last.len() == PARTITIONS as usize && last.values().all(|&(r, s)| r == 0.0 && s == 0.0),
        "once everything is read, every partition's lag must be 0: {last:?}"
    );
    for s in &scrapes {
        ensure!(
            s.values().all(|&(r, _)| (0.0..=per_partition).contains(&r)),
            "a partition's lag outside 0..={per_partition}, what the broker holds: {s:?}"
        );
    }
    ensure!(
        totals.windows(2).all(|w| w[1] <= w[0]),
        "the lag grew although nothing more was produced: {totals:?}"
    );
    ensure!(
        scrapes
            .iter()
            .any(|s| s.values().any(|&(r, sec)| r > 0.0 && sec > 0.0)),
        "no scrape saw records waiting with a lag in seconds above 0"
    );
    ensure!(
        totals.iter().any(|&t| t > 0.0 && t < EVENTS as f64),
        "no scrape saw the job part way through the backlog: {totals:?}"
    );
    Ok(())
}

/// `sluice run JOB.sql` over `topic`, bounded at `events`, with `source-columns`
/// `columns`; its log.
fn run_sql_on_topic(
    job: &Path,
    topic: &str,
    events: u64,
    out: &Path,
    columns: &str,
) -> Result<String> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(job).env("SLUICE_LOG", "info");
    for set in [
        format!("source.kafka.brokers={}", brokers()?),
        format!("source.kafka.topics=[{topic}]"),
        ending_offsets(topic, events),
        format!("output.dir={}", out.display()),
        format!("source-columns={columns}"),
    ] {
        cmd.arg("--set").arg(set);
    }
    let run = run_with_timeout(cmd, Duration::from_secs(300))?;
    let log = format!("{}{}", run.stdout, run.stderr);
    run.require_success(&format!("the SQL job with source-columns={columns}"))?;
    Ok(log)
}

/// With `source-columns = used`, Kafka's JSON messages are decoded into the columns the
/// job reads only. `event_type` is declared BIGINT, which no produced value is: decoded,
/// it makes each message a dead letter. The job never reads it, and with `used` its rows
/// must equal those of a job that declares only the columns it reads (a message missing
/// an unread NOT NULL `event_time` is a row too, as the README says).
#[test]
fn kafka_json_decodes_only_the_columns_a_job_reads() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "kafka_used_columns")?;
    let topic = unique("used-columns");
    let events = 4_000;
    run_with_timeout(produce(&topic, events, 11, None)?, Duration::from_secs(120))?
        .require_success("sluice produce")?;
    let job = |name: &str, columns: &str| -> Result<PathBuf> {
        let path = dir.join(format!("{name}.sql"));
        std::fs::write(
            &path,
            format!(
                "SET 'job-id' = 'used-columns';\n\
                 CREATE TABLE events ({columns}) WITH ('connector' = 'kafka', \
                   'starting-offsets' = 'earliest', 'format' = 'json');\n\
                 INSERT INTO picked SELECT event_id, user_id, value FROM events;\n"
            ),
        )?;
        Ok(path)
    };
    let wrong = job(
        "wrong",
        "event_id STRING NOT NULL, user_id STRING, event_type BIGINT, \
         event_time TIMESTAMP NOT NULL, value DOUBLE, \
         WATERMARK FOR event_time AS event_time - INTERVAL '10' MINUTE",
    )?;
    let read = job(
        "read",
        "event_id STRING NOT NULL, user_id STRING, value DOUBLE",
    )?;
    let (used, all, oracle) = (dir.join("used"), dir.join("all"), dir.join("oracle"));
    let log = run_sql_on_topic(&wrong, &topic, events, &used, "used")?;
    // The three columns selected: no coordinates, as nothing after the source can
    // reject a row.
    ensure!(
        log.contains("reading 3 of the 8 columns of `events`"),
        "no narrowing in the log:\n{}",
        tail(&log, 20)
    );
    run_sql_on_topic(&wrong, &topic, events, &all, "all")?;
    run_sql_on_topic(&read, &topic, events, &oracle, "all")?;
    let table = sluice_tests::sql_job::table_scan;
    let count = |out: &Path, name: &str| {
        sluice_tests::duckdb_count(&format!("SELECT count(*) FROM {}", table(out, name)))
    };
    let rows = [
        count(&used, "picked")?,
        count(&all, "picked")?,
        count(&oracle, "picked")?,
    ];
    let dead = [
        count(&used, "dead_letters")?,
        count(&all, "dead_letters")?,
        count(&oracle, "dead_letters")?,
    ];
    println!("picked rows (used, all, oracle): {rows:?}; dead letters: {dead:?}");
    ensure!(
        rows[2] > events / 2 && rows[1] < rows[2] / 10,
        "decoding event_type as BIGINT should refuse most messages: {rows:?}"
    );
    let differ = sluice_tests::duckdb_count(&format!(
        "SELECT count(*) FROM ((SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) \
         UNION ALL (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}))",
        a = table(&used, "picked"),
        b = table(&oracle, "picked"),
    ))?;
    ensure!(
        rows[0] == rows[2] && dead[0] == dead[2] && differ == 0,
        "with `used`, the rows should be the oracle's: {rows:?}, dead letters {dead:?}, \
         {differ} rows differ"
    );
    Ok(())
}

/// A source table declared as Flink declares it (`'topic'`,
/// `'properties.bootstrap.servers'`, `'scan.startup.mode'`, `'scan.bounded.mode'`,
/// `'value.format'`, a `TIMESTAMP(3)` column), with no sluice option nor `--set`, reads the
/// topic from its start to its end when the job starts: every produced message is a row,
/// or a dead letter (the generator's malformed messages).
#[test]
fn a_flink_style_kafka_table_reads_the_topic_as_flink_would() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "kafka_flink_ddl")?;
    let topic = unique("flink-ddl");
    let events = 3_000;
    let produced_from = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    run_with_timeout(produce(&topic, events, 5, None)?, Duration::from_secs(120))?
        .require_success("sluice produce")?;
    let job = dir.join("flink.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'flink-ddl';\n\
             CREATE TABLE events (event_id STRING NOT NULL, user_id STRING, \
               event_time TIMESTAMP(3) NOT NULL, `value` DOUBLE, \
               ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp', \
               `partition` INT METADATA VIRTUAL, topic STRING METADATA VIRTUAL) WITH ( \
               'connector' = 'kafka', 'topic' = '{topic}', \
               'properties.bootstrap.servers' = '{}', 'properties.group.id' = 'flink-ddl', \
               'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', \
               'value.format' = 'json');\n\
             INSERT INTO picked SELECT event_id, user_id, event_time, ts, \
               `partition` AS part, topic FROM events;\n",
            brokers()?
        ),
    )?;
    let out = dir.join("out");
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run")
        .arg(&job)
        .arg("--set")
        .arg(format!("output.dir={}", out.display()));
    run_with_timeout(cmd, Duration::from_secs(300))?.require_success("the Flink-style job")?;
    let table = |name: &str| sluice_tests::sql_job::table_scan(&out, name);
    let rows = sluice_tests::duckdb_count(&format!(
        "SELECT count(DISTINCT event_id) FROM {}",
        table("picked")
    ))?;
    let dead = sluice_tests::duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE reason = 'parse_error'",
        table("dead_letters")
    ))?;
    ensure!(
        rows + dead == events && rows > events * 99 / 100,
        "every produced message a row or a dead letter: {rows} rows and {dead} dead letters \
         of {events}"
    );
    // The metadata columns: each record's timestamp (the producer's, while it ran), its
    // partition and its topic.
    let produced_to = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let metadata = sluice_tests::duckdb_rows(&format!(
        "SELECT count(*) FILTER (WHERE ts IS NULL OR epoch_ms(ts) < {produced_from} \
           OR epoch_ms(ts) > {produced_to}), count(DISTINCT part), min(part), max(part), \
           count(DISTINCT topic), min(topic) FROM {}",
        table("picked")
    ))?;
    ensure!(
        metadata
            == [[
                "0".to_owned(),
                PARTITIONS.to_string(),
                "0".to_owned(),
                (PARTITIONS - 1).to_string(),
                "1".to_owned(),
                topic.clone()
            ]],
        "Kafka timestamps between {produced_from} and {produced_to} ms, each of the \
         {PARTITIONS} partitions, the topic: {metadata:?}"
    );
    Ok(())
}
