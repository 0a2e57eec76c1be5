//! Nexmark queries (`benches/nexmark/*.sql`) end to end: each writes Delta tables from the
//! built-in Nexmark generator over several epochs, and DuckDB evaluates the same queries
//! over the bids q0 wrote (`tests/python/nexmark_tool.py`): the tables must be equal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use sluice_tests::{
    demo_timeout, kill_after_commits, python_tool, run_with_timeout, serial, sluice_bin, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
/// As the issue asks: each query over 1M events against DuckDB.
const EVENTS: u64 = 1_000_000;

fn query(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../benches/nexmark")
        .join(format!("{name}.sql"))
}

fn run_query(name: &str, dir: &Path) -> Result<PathBuf> {
    run_query_file(&query(name), name, dir)
}

/// Runs the job `file`, whose table is `table`, into `dir`; returns the table's path.
fn run_query_file(file: &Path, table: &str, dir: &Path) -> Result<PathBuf> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run")
        .arg(file)
        .args(["--param", "sink=delta"])
        .arg("--set")
        .arg(format!("output.dir={}", dir.display()))
        .arg("--set")
        .arg(format!("source.nexmark.events={EVENTS}"))
        // 2,000 events/s of event time: 500 s, so that windows close while the stream
        // runs, epoch after epoch, and not only at its end.
        .args(["--set", "source.nexmark.rate=2000"])
        .args(["--set", "trigger.records-per-epoch=30000"]);
    run_with_timeout(cmd, demo_timeout())?.require_success(&format!("nexmark {table}"))?;
    Ok(dir.join("tables").join(table))
}

/// The settings of a job reading two Nexmark sources into Delta: 1M events of each, at
/// 2,000 events/s of event time, 30,000 records per epoch.
fn two_sources(cmd: &mut Command) {
    cmd.args(["--param", "sink=delta"])
        .args(["--param", &format!("events={EVENTS}")])
        .args(["--param", "rate=2000"])
        .args(["--set", "trigger.records-per-epoch=30000"]);
}

#[test]
fn nexmark_queries_match_duckdb_over_the_same_bids() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "nexmark")?;
    let tables: Vec<PathBuf> = ["q0", "q1", "q2", "q5_count", "q5", "q7", "q5_join"]
        .iter()
        .map(|q| run_query(q, &dir.join(q)))
        .collect::<Result<_>>()?;
    let test_query = |name: &str| {
        run_query_file(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("queries/{name}.sql")),
            name,
            &dir.join(name),
        )
    };
    let aggregates = test_query("aggregates")?;
    let cumulate = test_query("cumulate")?;
    let check = |q5: &Path, q7: &Path, aggregates: &Path| {
        python_tool(
            "nexmark_tool.py",
            &[
                "check".into(),
                "--q0".into(),
                tables[0].clone().into_os_string(),
                "--q1".into(),
                tables[1].clone().into_os_string(),
                "--q2".into(),
                tables[2].clone().into_os_string(),
                "--q5-count".into(),
                tables[3].clone().into_os_string(),
                "--q5".into(),
                q5.into(),
                "--q7".into(),
                q7.into(),
                "--aggregates".into(),
                aggregates.into(),
                "--cumulate".into(),
                cumulate.clone().into_os_string(),
            ],
            Duration::from_secs(300),
        )
    };
    println!("{}", check(&tables[4], &tables[5], &aggregates)?);
    // q5 as Flink writes it (a join with a cascading window), against the same oracle.
    println!("{}", check(&tables[6], &tables[5], &aggregates)?);

    // The same bids from q0's Parquet files, each job decoding only the columns it reads:
    // q0 wrote no `channel` or `url`, which the jobs declare and never read.
    let bids = dir.join("bids");
    std::fs::create_dir_all(&bids)?;
    for file in std::fs::read_dir(&tables[0])? {
        let path = file?.path();
        if path.extension().is_some_and(|e| e == "parquet") {
            std::fs::copy(&path, bids.join(path.file_name().expect("a file name")))?;
        }
    }
    let from_files = |name: &str, file: &Path| -> Result<PathBuf> {
        let sql = std::fs::read_to_string(file)?;
        let start = sql
            .find("WITH ('connector' = 'nexmark'")
            .expect("a Nexmark source");
        let end = start + sql[start..].find(");").expect("the source's end");
        let sql = format!(
            "{}WITH ('connector' = 'files', 'path' = '{}', 'format' = 'parquet'{}",
            &sql[..start],
            bids.display(),
            &sql[end..]
        );
        let job = dir.join(format!("{name}-files.sql"));
        std::fs::write(&job, sql)?;
        let out = dir.join(format!("{name}-files"));
        let mut cmd = Command::new(sluice_bin()?);
        cmd.arg("run")
            .arg(&job)
            .arg("--batch")
            .args(["--param", "sink=delta"])
            .args(["--set", "source-columns=used"])
            .arg("--set")
            .arg(format!("output.dir={}", out.display()))
            .env("SLUICE_LOG", "info");
        let run = run_with_timeout(cmd, demo_timeout())?;
        run.require_success(&format!("{name} over files"))?;
        ensure!(
            run.stderr.contains("reading ") && run.stderr.contains(" of the 10 columns of `bid`"),
            "{name}: no sign that the source read fewer columns:\n{}",
            run.stderr
        );
        Ok(out.join("tables").join(name))
    };
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let q5 = from_files("q5", &query("q5"))?;
    let q7 = from_files("q7", &query("q7"))?;
    let aggregates = from_files("aggregates", &queries.join("aggregates.sql"))?;
    println!("{}", check(&q5, &q7, &aggregates)?);
    let q5_join = from_files("q5_join", &query("q5_join"))?;
    println!("{}", check(&q5_join, &q7, &aggregates)?);
    Ok(())
}

/// q3 and q8, stream–stream joins of two Nexmark sources (auctions and people from the
/// same generated stream), against DuckDB's evaluation over the same auctions and people,
/// exported by a job reading both sources: q3 with its 10-second seller bound and as Flink
/// writes it, without; q8, the window join of two windowed subqueries.
#[test]
fn nexmark_q3_and_q8_join_auctions_with_people_as_duckdb_does() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "nexmark_q3")?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(query("q3"));
    two_sources(&mut cmd);
    cmd.arg("--set")
        .arg(format!("output.dir={}", dir.join("q3").display()));
    run_with_timeout(cmd, demo_timeout())?.require_success("nexmark q3")?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(query("q8"));
    two_sources(&mut cmd);
    cmd.arg("--set")
        .arg(format!("output.dir={}", dir.join("q8").display()));
    run_with_timeout(cmd, demo_timeout())?.require_success("nexmark q8")?;

    // The same people and auctions, written out by a job of the same two sources.
    let q3 = std::fs::read_to_string(query("q3"))?;
    let export = q3[..q3.find("CREATE TABLE q3").expect("q3 declares its table")]
        .replace("'nexmark-q3'", "'nexmark-q3-export'")
        + "INSERT INTO people SELECT id, name, city, state, date_time FROM person;\n\
           INSERT INTO auctions SELECT id, seller, category, date_time FROM auction;\n"
        // Unions: of two sources' rows, and of two windowed queries writing one table.
        + "INSERT INTO arrivals SELECT id, date_time, 'person' AS kind FROM person \
             UNION ALL SELECT seller AS id, date_time, 'auction' AS kind FROM auction \
             WHERE category = 10;\n\
           INSERT INTO arrivals_10s SELECT window_start, window_end, 'person' AS kind, \
             count(*) AS n FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(date_time), \
             INTERVAL '10' SECOND)) GROUP BY window_start, window_end;\n\
           INSERT INTO arrivals_10s SELECT window_start, window_end, 'auction' AS kind, \
             count(*) AS n FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(date_time), \
             INTERVAL '10' SECOND)) GROUP BY window_start, window_end;\n"
        // q3 with its keys computed (as text) and its filters in ON.
        + "INSERT INTO q3_on SELECT P.name, P.city, P.state, A.id \
             FROM auction AS A INNER JOIN person AS P \
             ON CAST(A.seller AS STRING) = CAST(P.id AS STRING) \
             AND A.date_time BETWEEN P.date_time AND P.date_time + INTERVAL '10' SECOND \
             AND A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');\n";
    let export_file = dir.join("export.sql");
    std::fs::write(&export_file, export)?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(&export_file);
    two_sources(&mut cmd);
    cmd.arg("--set")
        .arg(format!("output.dir={}", dir.join("export").display()));
    run_with_timeout(cmd, demo_timeout())?.require_success("the export of people and auctions")?;

    let tables = |d: &str, t: &str| dir.join(d).join("tables").join(t).into_os_string();
    let report = python_tool(
        "nexmark_tool.py",
        &[
            "joins".into(),
            "--persons".into(),
            tables("export", "people"),
            "--auctions".into(),
            tables("export", "auctions"),
            "--q3".into(),
            tables("q3", "q3"),
            "--q8".into(),
            tables("q8", "q8"),
            "--arrivals".into(),
            tables("export", "arrivals"),
            "--arrivals-10s".into(),
            tables("export", "arrivals_10s"),
            "--q3-on".into(),
            tables("export", "q3_on"),
        ],
        Duration::from_secs(300),
    )?;
    println!("{report}");
    Ok(())
}

/// q4, an aggregate (the average per category) over an aggregate without a window (each
/// auction's highest bid between its start and expiry) over a join whose upper bound is a
/// column (the auction's expiry): its table, merged by category epoch after epoch, against
/// DuckDB's evaluation of Flink's q4 over the auctions and bids of the same generated
/// stream, exported by a job reading both sources.
#[test]
fn nexmark_q4_averages_each_categorys_closing_prices_as_duckdb_does() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "nexmark_q4")?;
    let q4_run = |out: &Path| -> Result<Command> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.arg("run").arg(query("q4"));
        two_sources(&mut cmd);
        cmd.arg("--set")
            .arg(format!("output.dir={}", out.display()))
            .args(["--set", "checkpoint.every=2"]);
        Ok(cmd)
    };
    let run = run_with_timeout(q4_run(&dir.join("q4"))?, demo_timeout())?;
    run.require_success("nexmark q4")?;
    // Many epochs, so that auctions' highest bids change from epoch to epoch and the
    // average takes old ones back out.
    let epochs: u64 = run
        .stdout
        .split(" epochs (")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(epochs >= 10, "q4 ran {epochs} epochs: {}", run.stdout);

    // The same job killed (`kill -9`) three times while it commits, and resumed: the
    // join's and both aggregates' state come back from snapshots, and the epochs after
    // them are replayed.
    let crashed = dir.join("crashed");
    let kills = kill_after_commits(
        || q4_run(&crashed),
        &crashed,
        3,
        |attempt| 5 * attempt + 4,
        |_| Duration::ZERO,
    )?;
    ensure!(kills == 3, "only {kills} kills landed before q4 finished");
    run_with_timeout(q4_run(&crashed)?, demo_timeout())?.require_success("the resumed q4")?;

    let q4 = std::fs::read_to_string(query("q4"))?;
    let export = q4[..q4.find("CREATE TABLE q4").expect("q4 declares its table")]
        .replace("'nexmark-q4'", "'nexmark-q4-export'")
        + "INSERT INTO auctions SELECT id, category, date_time, expires FROM auction;\n\
           INSERT INTO bids SELECT auction, price, date_time FROM bid;\n";
    let export_file = dir.join("export.sql");
    std::fs::write(&export_file, export)?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(&export_file);
    two_sources(&mut cmd);
    cmd.arg("--set")
        .arg(format!("output.dir={}", dir.join("export").display()));
    run_with_timeout(cmd, demo_timeout())?.require_success("the export of auctions and bids")?;

    let tables = |d: &str, t: &str| dir.join(d).join("tables").join(t).into_os_string();
    for run in ["q4", "crashed"] {
        let report = python_tool(
            "nexmark_tool.py",
            &[
                "q4".into(),
                "--auctions".into(),
                tables("export", "auctions"),
                "--bids".into(),
                tables("export", "bids"),
                "--q4".into(),
                tables(run, "q4"),
            ],
            Duration::from_secs(300),
        )?;
        println!("{run}: {report}");
    }
    Ok(())
}
