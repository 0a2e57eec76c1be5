//! Prometheus metrics end to end: a real Prometheus (scripts/services/prometheus.sh)
//! scrapes a streaming job's `/metrics`; what it stored must equal what DuckDB reads from
//! the job's Delta tables. The deploy rules pass `promtool`, and every metric the Grafana
//! dashboard and the rules name is one the job exposes, and every panel's query returns
//! series for the job on the test Prometheus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use sluice_tests::quality_job::{
    TYPE_RULE, USER_RULE, VALUE_RULE, three_actions, user_activity_run,
};
use sluice_tests::user_activity::{checkpoint, epoch_object, marker, newest_snapshot};
use sluice_tests::{
    duckdb_count, duckdb_rows, python, run_with_timeout, serial, spawn_logged, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: u64 = 60_000;

fn env(var: &str) -> Result<String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| {
            format!("{var} is not set: run the suite with scripts/test, which starts Prometheus")
        })
}

fn deploy() -> PathBuf {
    sluice_tests::tests_dir().join("..").join("deploy")
}

/// `curl` GET of `url` with `query` URL-encoded, as text.
fn get(url: &str, query: &[(&str, &str)]) -> Result<String> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "--max-time", "10", "--get", url]);
    for (k, v) in query {
        cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    let out = run_with_timeout(cmd, Duration::from_secs(20))?;
    out.require_success(&format!("GET {url}"))?;
    Ok(out.stdout)
}

/// An instant PromQL query: `(labels, value)` per series.
fn promql(query: &str) -> Result<Vec<(BTreeMap<String, String>, f64)>> {
    promql_at(query, None)
}

/// An instant PromQL query evaluated at `at` (Unix seconds; now if `None`).
fn promql_at(query: &str, at: Option<f64>) -> Result<Vec<(BTreeMap<String, String>, f64)>> {
    let base = env("SLUICE_PROMETHEUS_URL")?;
    let at = at.map(|t| format!("{t:.3}"));
    let mut params = vec![("query", query)];
    if let Some(at) = &at {
        params.push(("time", at.as_str()));
    }
    let body: Value = serde_json::from_str(&get(&format!("{base}/api/v1/query"), &params)?)?;
    ensure!(body["status"] == "success", "{query}: {body}");
    let mut series = Vec::new();
    for s in body["data"]["result"]
        .as_array()
        .context("a vector result")?
    {
        let labels = s["metric"]
            .as_object()
            .context("labels")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        let value: f64 = s["value"][1].as_str().context("a value")?.parse()?;
        series.push((labels, value));
    }
    Ok(series)
}

/// The single value of `query`, or `None` when it has no series.
fn scalar(query: &str) -> Result<Option<f64>> {
    let series = promql(query)?;
    ensure!(series.len() <= 1, "{query}: several series: {series:?}");
    Ok(series.first().map(|(_, v)| *v))
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Registers `127.0.0.1:port` with Prometheus (file discovery) under label `run`, and waits
/// until Prometheus lists it as a target.
fn register_target(run: &str, port: u16) -> Result<()> {
    let dir = PathBuf::from(env("SLUICE_PROMETHEUS_TARGETS")?);
    let target = format!("127.0.0.1:{port}");
    let file = serde_json::json!([{ "targets": [target], "labels": { "run": run } }]);
    let tmp = dir.join(format!(".{run}.tmp"));
    std::fs::write(&tmp, file.to_string())?;
    std::fs::rename(&tmp, dir.join(format!("{run}.json")))?;
    let base = env("SLUICE_PROMETHEUS_URL")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let targets = get(&format!("{base}/api/v1/targets"), &[])?;
        if targets.contains(&format!("\"run\":\"{run}\"")) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "Prometheus did not pick up target {target} within 60 s: {targets}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Metric names that `text` (a rules file or a dashboard) uses.
fn names_used(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("sluice_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let before = start.checked_sub(1).map(|b| bytes[b]);
        if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            names.push(text[start..end].to_owned());
        }
        i = end;
    }
    names.sort();
    names.dedup();
    names
}

/// The sample names an OpenMetrics exposition declares: `<name>_total` for counters,
/// `_bucket`, `_count` and `_sum` for histograms, the name itself for gauges.
fn exposed_names(exposition: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "counter" => names.push(format!("{name}_total")),
            "histogram" => {
                for suffix in ["_bucket", "_count", "_sum"] {
                    names.push(format!("{name}{suffix}"));
                }
            }
            _ => names.push(name.to_owned()),
        }
    }
    names
}

#[test]
fn deploy_rules_pass_promtool() -> Result<()> {
    let promtool = env("SLUICE_PROMTOOL")?;
    let dir = deploy().join("prometheus");
    for args in [
        vec!["check", "rules", "rules.yml"],
        vec!["test", "rules", "rules_test.yml"],
    ] {
        let mut cmd = Command::new(&promtool);
        cmd.current_dir(&dir).args(&args);
        let out = run_with_timeout(cmd, Duration::from_secs(60))?;
        out.require_success(&format!("promtool {}", args.join(" ")))?;
        ensure!(out.stdout.contains("SUCCESS"), "promtool: {}", out.stdout);
    }
    Ok(())
}

/// Runs the user-activity job as a stream of 6 epochs with three quality rules, scraped by
/// Prometheus every second, and compares what Prometheus stored with the tables.
#[test]
fn prometheus_figures_equal_the_tables() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "metrics")?;
    let out = dir.join("out");
    let port = free_port()?;
    let run = format!("metrics-{}-{port}", std::process::id());
    register_target(&run, port)?;
    let events_per_epoch = format!("trigger.records-per-epoch={}", EVENTS / 6);
    // An epoch a second: the backlog (source lag > 0) lasts about 5 s, several of
    // Prometheus's 1 s scrapes, however fast the machine runs the epochs (on a fresh
    // machine a run of ~1 s once fell between two scrapes).
    let mut cmd = user_activity_run(
        &out,
        EVENTS,
        &three_actions(),
        &[
            &events_per_epoch,
            "trigger.interval=1s",
            "quality.report=true",
        ],
    )?;
    cmd.args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-linger", "20s"]);
    let log = dir.join("run.log");
    let mut child = spawn_logged(cmd, &log)?;
    let result = watch(port, &mut child, &log);
    // The job lingers 20 s after its run: Prometheus scrapes its final figures every second.
    // A few seconds in, every series holds them: the moment the dashboard is evaluated at.
    std::thread::sleep(Duration::from_secs(4));
    let lingering_at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let status = child.wait()?;
    let exposition = result?;
    ensure!(status.success(), "sluice run failed: {}", read(&log));

    // What the job exposes covers what the dashboard and the rules query.
    let exposed = exposed_names(&exposition);
    for file in [
        deploy().join("grafana").join("sluice.json"),
        deploy().join("prometheus").join("rules.yml"),
    ] {
        let used = names_used(&read(&file));
        ensure!(!used.is_empty(), "{} names no metric", file.display());
        let missing: Vec<&String> = used.iter().filter(|n| !exposed.contains(n)).collect();
        ensure!(
            missing.is_empty(),
            "{} uses metrics the job does not expose: {missing:?}",
            file.display()
        );
    }

    let sel = format!("run=\"{run}\"");
    // Every panel's query, for this run, returns series on the test Prometheus.
    let dashboard: Value =
        serde_json::from_str(&read(&deploy().join("grafana").join("sluice.json")))?;
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().context("panels")? {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .with_context(|| format!("panel `{title}`: a target without expr"))?
                .replace("job=~\"$job\"", &sel);
            ensure!(
                !expr.contains('$'),
                "panel `{title}`: an unexpected variable in `{expr}`"
            );
            let series = promql_at(&expr, Some(lingering_at))?;
            ensure!(
                !series.is_empty(),
                "panel `{title}`: `{expr}` returns no series for the run"
            );
            queries += 1;
        }
    }
    ensure!(queries >= 17, "only {queries} panel queries found");
    let last = |metric: &str, labels: &str| -> Result<Option<f64>> {
        let labels = if labels.is_empty() {
            sel.clone()
        } else {
            format!("{sel}, {labels}")
        };
        scalar(&format!("last_over_time({metric}{{{labels}}}[30m])"))
    };
    let tables = out.join("tables");
    let scan = |table: &str| format!("delta_scan('{}')", tables.join(table).display());

    // Reads: every generated record.
    let read_total = last("sluice_source_records_total", "")?;
    ensure!(
        read_total == Some(EVENTS as f64),
        "records read {read_total:?}, generated {EVENTS}"
    );
    // Committed rows per table, against DuckDB's counts.
    for table in [
        "bronze",
        "silver",
        "gold_user_activity",
        "dlq",
        "quality_report",
    ] {
        let rows = duckdb_count(&format!("SELECT count(*) FROM {}", scan(table)))?;
        let metric = last(
            "sluice_sink_committed_rows_total",
            &format!("table=\"{table}\""),
        )?;
        ensure!(
            metric == Some(rows as f64),
            "{table}: Prometheus has {metric:?} committed rows, DuckDB counts {rows}"
        );
        if table != "quality_report" {
            let written = last(
                "sluice_sink_written_rows_total",
                &format!("table=\"{table}\""),
            )?;
            ensure!(
                written == Some(rows as f64),
                "{table}: {written:?} rows written, {rows} in the table"
            );
        }
    }
    // Dead letters by reason.
    let reasons = duckdb_rows(&format!(
        "SELECT reason, count(*) FROM {} GROUP BY reason ORDER BY reason",
        scan("dlq")
    ))?;
    ensure!(
        reasons.len() >= 2,
        "expected several dead-letter reasons: {reasons:?}"
    );
    let stored = promql(&format!(
        "last_over_time(sluice_dead_letter_rows_total{{{sel}}}[30m])"
    ))?;
    let stored: BTreeMap<String, f64> = stored
        .into_iter()
        .map(|(labels, v)| (labels.get("reason").cloned().unwrap_or_default(), v))
        .collect();
    let expected: BTreeMap<String, f64> = reasons
        .iter()
        .map(|r| Ok((r[0].clone(), r[1].trim().parse::<f64>()?)))
        .collect::<Result<_>>()?;
    ensure!(
        stored == expected,
        "dead letters by reason: Prometheus {stored:?}, DuckDB {expected:?}"
    );
    // Quality: violations per rule and the user_id nulls, against the report and bronze.
    let checked = last("sluice_quality_checked_rows_total", "")?;
    let bronze = duckdb_count(&format!("SELECT count(*) FROM {}", scan("bronze")))?;
    ensure!(
        checked == Some(bronze as f64),
        "quality gate checked {checked:?} rows, bronze holds {bronze}"
    );
    for (rule, action, predicate) in [
        ("user_present", "warn", USER_RULE),
        ("value_ok", "drop", VALUE_RULE),
        ("type_known", "quarantine", TYPE_RULE),
    ] {
        let broken = duckdb_count(&format!(
            "SELECT count(*) FROM {} WHERE ({predicate}) IS NOT TRUE",
            scan("bronze")
        ))?;
        ensure!(broken > 0, "the generator made no rows breaking {rule}");
        let metric = last(
            "sluice_quality_rule_violations_total",
            &format!("rule=\"{rule}\", action=\"{action}\""),
        )?;
        ensure!(
            metric == Some(broken as f64),
            "rule {rule}: Prometheus {metric:?}, DuckDB {broken}"
        );
    }
    let nulls = duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE user_id IS NULL",
        scan("bronze")
    ))?;
    let metric = last("sluice_quality_column_nulls_total", "column=\"user_id\"")?;
    ensure!(
        metric == Some(nulls as f64),
        "user_id nulls: Prometheus {metric:?}, DuckDB {nulls}"
    );
    // Epochs: every started epoch committed, each timed once.
    let epochs = duckdb_count(&format!(
        "SELECT count(DISTINCT epoch) FROM {}",
        scan("quality_report")
    ))?;
    let committed_epoch =
        last("sluice_engine_committed_epoch", "")?.context("no committed epoch")?;
    let started_epoch = last("sluice_engine_started_epoch", "")?;
    ensure!(
        started_epoch == Some(committed_epoch),
        "last epoch started {started_epoch:?}, last committed {committed_epoch}"
    );
    let committed = last("sluice_engine_epochs_committed_total", "")?;
    let timed = last("sluice_engine_epoch_duration_seconds_count", "")?;
    ensure!(
        epochs >= 6,
        "expected at least 6 epochs, the report has {epochs}"
    );
    ensure!(
        committed == Some(committed_epoch + 1.0) && timed == committed,
        "epochs committed {committed:?}, timed {timed:?}, last committed epoch {committed_epoch}"
    );
    ensure!(
        committed_epoch + 1.0 >= epochs as f64,
        "last committed epoch {committed_epoch}, the report has {epochs} epochs"
    );
    // Epoch phases: every committed epoch was planned, processed and committed once (one
    // process, one planner); reading is timed per worker, so at least once per epoch.
    for phase in ["plan", "process", "commit"] {
        let count = last(
            "sluice_engine_epoch_phase_duration_seconds_count",
            &format!("phase=\"{phase}\""),
        )?;
        ensure!(
            count == committed,
            "phase {phase} timed {count:?} times, {committed:?} epochs committed"
        );
    }
    let reads = last(
        "sluice_engine_epoch_phase_duration_seconds_count",
        "phase=\"read\"",
    )?
    .context("no read phase timed")?;
    let committed = committed.context("no epoch committed")?;
    ensure!(
        reads >= committed && reads % committed == 0.0,
        "read phase timed {reads} times: one per worker and epoch expected ({committed} epochs)"
    );
    // State size: the window's parts in the last snapshot, as the files on disk say.
    let snapshot = newest_snapshot(&out)?.context("no snapshot committed")?;
    let marker = marker(&out, snapshot)?.context("the snapshot's marker")?;
    let mut on_disk = 0u64;
    let mut parts = 0u64;
    for part in marker["state"].as_array().into_iter().flatten() {
        let (operator, name) = (part["operator"].as_str(), part["part"].as_str());
        let path = checkpoint(&out)
            .join("state")
            .join(format!("{snapshot:020}"))
            .join(operator.context("a part's operator")?)
            .join(name.context("a part's name")?);
        on_disk += std::fs::metadata(&path)
            .with_context(|| format!("listed part {}", path.display()))?
            .len();
        parts += 1;
    }
    let keys = last("sluice_state_snapshot_keys", "operator=\"user_activity\"")?;
    let entries = ipc_rows(&marker, &out, snapshot)?;
    ensure!(
        keys == Some(entries as f64),
        "state entries of the last snapshot: Prometheus {keys:?}, its parts hold {entries} rows"
    );
    let most_keys = scalar(&format!(
        "max(max_over_time(sluice_state_snapshot_keys{{{sel}}}[30m]))"
    ))?;
    ensure!(
        most_keys.is_some_and(|k| k > 0.0),
        "no snapshot ever reported open window entries: {most_keys:?}"
    );
    // Lag: the generator's partitions had a backlog while the job ran, none at its end.
    let lag_now = scalar(&format!(
        "max(last_over_time(sluice_source_lag_records{{{sel}}}[30m]))"
    ))?;
    let lag_most = scalar(&format!(
        "max(max_over_time(sluice_source_lag_records{{{sel}}}[30m]))"
    ))?;
    ensure!(
        lag_now == Some(0.0) && lag_most.is_some_and(|l| l > 0.0),
        "source lag in records: {lag_now:?} at the end, at most {lag_most:?} (0 and > 0 expected)"
    );
    // Freshness: gold is complete through the watermark its last epoch was logged with,
    // which trails the newest event time by at least the 10-minute delay.
    let complete = last(
        "sluice_sink_complete_through_seconds",
        "table=\"gold_user_activity\"",
    )?
    .context("no complete-through time for gold")?;
    let logged = epoch_object(&out, "offsets", committed_epoch as u64)?
        .context("the last committed epoch's offsets entry")?;
    let watermark_ms = logged["watermark_ms"]
        .as_i64()
        .context("the last epoch's logged watermark")?;
    ensure!(
        (complete - watermark_ms as f64 / 1000.0).abs() < 1e-6,
        "gold complete through {complete}, the last epoch was logged with watermark {watermark_ms} ms"
    );
    let newest = duckdb_count(&format!(
        "SELECT epoch_ms(max(event_time)) FROM {}",
        scan("silver")
    ))?;
    ensure!(
        complete <= newest as f64 / 1000.0 - 600.0,
        "gold complete through {complete}, but the newest event is at {} s (10-minute delay)",
        newest as f64 / 1000.0
    );
    let bytes = last("sluice_state_snapshot_bytes", "operator=\"user_activity\"")?;
    let count = last("sluice_state_snapshot_parts", "operator=\"user_activity\"")?;
    ensure!(
        parts > 0 && bytes == Some(on_disk as f64) && count == Some(parts as f64),
        "state of the last snapshot (epoch {snapshot}): Prometheus {bytes:?} bytes in {count:?} \
         parts, the listed files hold {on_disk} bytes in {parts}"
    );
    Ok(())
}

/// Waits until the job has finished and lingers, then fetches its final exposition.
fn watch(port: u16, child: &mut std::process::Child, log: &Path) -> Result<String> {
    let deadline = Instant::now() + sluice_tests::demo_timeout();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "sluice run exited ({status}) without lingering:\n{}",
                sluice_tests::tail(&read(log), 40)
            );
        }
        ensure!(
            Instant::now() < deadline,
            "sluice run did not finish in time:\n{}",
            sluice_tests::tail(&read(log), 40)
        );
        if read(log).contains("serving the final metrics") {
            return get(&format!("http://127.0.0.1:{port}/metrics"), &[]);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Rows in the Arrow IPC stream parts `marker` lists for `snapshot`, read by pyarrow.
fn ipc_rows(marker: &Value, out: &Path, snapshot: u64) -> Result<u64> {
    let mut paths = Vec::new();
    for part in marker["state"].as_array().into_iter().flatten() {
        paths.push(
            checkpoint(out)
                .join("state")
                .join(format!("{snapshot:020}"))
                .join(part["operator"].as_str().context("a part's operator")?)
                .join(part["part"].as_str().context("a part's name")?),
        );
    }
    let mut cmd = Command::new(python()?);
    cmd.arg("-c")
        .arg(
            "import sys, pyarrow.ipc as ipc\n\
             print(sum(ipc.open_stream(open(p, 'rb')).read_all().num_rows for p in sys.argv[1:]))",
        )
        .args(&paths);
    let run = run_with_timeout(cmd, Duration::from_secs(60))?;
    run.require_success("counting snapshot rows with pyarrow")?;
    Ok(run.stdout.trim().parse()?)
}
