//! Helpers for sluice's end-to-end tests.
//!
//! The tests run the real `sluice` binary and check what it wrote with an
//! independent reader: `tests/python/delta_checks.py`, which reads the Delta
//! tables through DuckDB's own Delta extension.
//!
//! Two environment variables wire the tests to their tools; `scripts/test` sets
//! both:
//! - `SLUICE_BIN`: the `sluice` binary to test (`$CARGO_TARGET_DIR/debug/sluice`);
//! - `SLUICE_PYTHON`: a Python with `duckdb==1.4.4` and `duckdb-ext-delta`.
//!
//! A missing tool is an error that says how to fix it: these tests never skip.
//!
//! Optional knobs:
//! - `SLUICE_TEST_TIMEOUT_SECS`: timeout of one `sluice demo` run (default 900);
//! - `SLUICE_TEST_SEED`: seed of the crash test's kill schedule.

#![warn(missing_docs)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};

/// How to set the tools up, quoted in every "tool missing" error.
const HOW_TO_FIX: &str = "run the suite with `scripts/test`, which installs the Python venv, \
builds the binary and exports SLUICE_BIN and SLUICE_PYTHON; or set them by hand: \
`cargo build -p sluice && export SLUICE_BIN=$CARGO_TARGET_DIR/debug/sluice \
SLUICE_PYTHON=$HOME/.cache/sluice-venv/bin/python`";

mod checks;
pub mod proxy;
pub mod quality_job;
pub mod sql_job;
pub mod user_activity;

pub use checks::*;

/// The table names that `sluice demo` writes under `DIR/tables/`.
pub const DEMO_TABLES: [&str; 4] = ["bronze", "silver", "gold_user_activity", "dlq"];

// ------------------------------------------------------------------------- tools

/// The `sluice` binary under test, from `SLUICE_BIN`.
///
/// # Errors
/// When `SLUICE_BIN` is unset or does not name an existing file; the message says how
/// to fix it.
pub fn sluice_bin() -> Result<PathBuf> {
    tool_from_env("SLUICE_BIN", "the sluice binary")
}

/// The Python that runs `delta_checks.py`, from `SLUICE_PYTHON`.
///
/// # Errors
/// When `SLUICE_PYTHON` is unset or does not name an existing file.
pub fn python() -> Result<PathBuf> {
    tool_from_env("SLUICE_PYTHON", "a Python with duckdb and duckdb-ext-delta")
}

fn tool_from_env(var: &str, what: &str) -> Result<PathBuf> {
    let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        bail!("{var} is not set: it must point at {what}. Fix: {HOW_TO_FIX}");
    };
    let path = PathBuf::from(value);
    ensure!(
        path.is_file(),
        "{var}={} does not exist: it must point at {what}. Fix: {HOW_TO_FIX}",
        path.display()
    );
    Ok(path)
}

/// The `tests/` folder of the checkout under test.
///
/// Read at run time (`cargo test` sets `CARGO_MANIFEST_DIR` for test processes): a build
/// cache shared between checkouts may hold a test binary compiled in another checkout,
/// whose compile-time path would point there.
pub fn tests_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("python").is_dir())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// `tests/python/delta_checks.py`.
pub fn delta_checks_script() -> PathBuf {
    tests_dir().join("python").join("delta_checks.py")
}

/// Timeout of one `sluice demo` run: `SLUICE_TEST_TIMEOUT_SECS`, default 900 s.
pub fn demo_timeout() -> Duration {
    let secs = std::env::var("SLUICE_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(900);
    Duration::from_secs(secs)
}

/// A lock that serialises the heavy end-to-end tests of one test binary.
///
/// The machine has 2 cores and every demo run uses them all; running two at once
/// only makes both slower and the crash test's timing less varied. A test that
/// panicked while holding the lock does not poison it for the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A fresh, empty work folder `<base>/<name>`, kept after the test for inspection.
///
/// Pass `env!("CARGO_TARGET_TMPDIR")` as `base` from an integration test: the
/// folder then lives in the target dir, outside the clone, and the next run of
/// the same test wipes it.
///
/// # Errors
/// When the folder cannot be removed or created.
pub fn work_dir(base: &str, name: &str) -> Result<PathBuf> {
    let dir = Path::new(base).join("e2e").join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

// ------------------------------------------------------------------------- demo

/// The arguments of one `sluice demo` run. `None` leaves a flag at the CLI's default.
#[derive(Clone, Debug, Default)]
pub struct Demo {
    /// `--events N`
    pub events: Option<u64>,
    /// `--partitions P`
    pub partitions: Option<u32>,
    /// `--seed S`
    pub seed: Option<u64>,
    /// `--epoch-events K`
    pub epoch_events: Option<u64>,
    /// `--batch`
    pub batch: bool,
    /// `--late-fraction F`
    pub late_fraction: Option<f64>,
    /// `--malformed-fraction F`
    pub malformed_fraction: Option<f64>,
    /// `--violation-fraction F`
    pub violation_fraction: Option<f64>,
    /// `--skew DURATION` (humantime, e.g. `2m`)
    pub skew: Option<String>,
    /// `--workers W`
    pub workers: Option<u32>,
    /// `--checkpoint-every N`
    pub checkpoint_every: Option<u64>,
}

impl Demo {
    /// A demo of `events` events over `partitions` partitions, epochs of
    /// `epoch_events`, seed `seed`; everything else at the CLI's defaults.
    pub fn new(events: u64, partitions: u32, epoch_events: u64, seed: u64) -> Self {
        Demo {
            events: Some(events),
            partitions: Some(partitions),
            epoch_events: Some(epoch_events),
            seed: Some(seed),
            ..Demo::default()
        }
    }

    /// The same demo with `--workers w`.
    pub fn with_workers(&self, w: u32) -> Self {
        Demo {
            workers: Some(w),
            ..self.clone()
        }
    }

    /// The events and partitions, needed by the accounting check.
    ///
    /// # Errors
    /// When either was left at the CLI's default (the tests must know them).
    pub fn events_and_partitions(&self) -> Result<(u64, u32)> {
        match (self.events, self.partitions) {
            (Some(n), Some(p)) => Ok((n, p)),
            _ => bail!("set Demo::events and Demo::partitions to use the accounting check"),
        }
    }

    /// The command line after `sluice`, for `dir`.
    pub fn args(&self, dir: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["demo".into(), "--dir".into(), dir.into()];
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                a.push(name.into());
                a.push(v.into());
            }
        };
        flag("--events", self.events.map(|v| v.to_string()));
        flag("--partitions", self.partitions.map(|v| v.to_string()));
        flag("--seed", self.seed.map(|v| v.to_string()));
        flag("--epoch-events", self.epoch_events.map(|v| v.to_string()));
        flag("--late-fraction", self.late_fraction.map(|v| v.to_string()));
        flag(
            "--malformed-fraction",
            self.malformed_fraction.map(|v| v.to_string()),
        );
        flag(
            "--violation-fraction",
            self.violation_fraction.map(|v| v.to_string()),
        );
        flag("--skew", self.skew.clone());
        flag("--workers", self.workers.map(|v| v.to_string()));
        flag(
            "--checkpoint-every",
            self.checkpoint_every.map(|v| v.to_string()),
        );
        if self.batch {
            a.push("--batch".into());
        }
        a
    }

    /// The full command, as a string to print and paste.
    pub fn display(&self, dir: &Path) -> String {
        let mut s = String::from("sluice");
        for a in self.args(dir) {
            let _ = write!(s, " {}", a.to_string_lossy());
        }
        s
    }

    /// A `Command` for this demo, not yet started.
    ///
    /// # Errors
    /// When `SLUICE_BIN` is not usable.
    pub fn command(&self, dir: &Path) -> Result<Command> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.args(self.args(dir));
        // Keep logs readable and bounded; a test can still override RUST_LOG.
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        Ok(cmd)
    }

    /// Runs the demo to completion into `dir` and requires exit status 0.
    ///
    /// # Errors
    /// When it fails, times out ([`demo_timeout`]) or cannot start; the error holds
    /// the command and the tail of its output.
    pub fn run(&self, dir: &Path) -> Result<RunOutput> {
        println!("$ {}", self.display(dir));
        let started = Instant::now();
        let out = run_with_timeout(self.command(dir)?, demo_timeout())
            .with_context(|| format!("running `{}`", self.display(dir)))?;
        println!("  finished in {:.1?}", started.elapsed());
        out.require_success(&self.display(dir))?;
        Ok(out)
    }
}

// ------------------------------------------------------------------------- processes

/// What a finished process printed.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl RunOutput {
    /// Requires exit status 0.
    ///
    /// # Errors
    /// Otherwise, with the status and the tail of stdout and stderr.
    pub fn require_success(&self, what: &str) -> Result<()> {
        ensure!(
            self.status.success(),
            "`{what}` exited with {}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.status,
            tail(&self.stdout, 60),
            tail(&self.stderr, 60)
        );
        Ok(())
    }
}

/// The last `lines` lines of `s`.
pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Runs `cmd` with piped output, killing it after `timeout`.
///
/// # Errors
/// When it cannot start, or on timeout (with the output so far).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<RunOutput> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(status) => Ok(RunOutput {
            status,
            stdout,
            stderr,
        }),
        None => Err(anyhow!(
            "timed out after {timeout:?} (raise SLUICE_TEST_TIMEOUT_SECS if the machine is slow)\n\
             --- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            tail(&stdout, 60),
            tail(&stderr, 60)
        )),
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Starts `cmd` with stdout and stderr appended to `log`, for runs that a test
/// kills on purpose.
///
/// # Errors
/// When the log cannot be opened or the process cannot start.
pub fn spawn_logged(mut cmd: Command, log: &Path) -> Result<Child> {
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    cmd.spawn().with_context(|| format!("starting {cmd:?}"))
}

// ------------------------------------------------------------------------- delta files

/// Number of Delta commits (`_delta_log/<n>.json` files) across all tables under
/// `DIR/tables/`; 0 when there are none yet.
pub fn delta_commit_count(dir: &Path) -> usize {
    let Ok(tables) = fs::read_dir(dir.join("tables")) else {
        return 0;
    };
    tables
        .flatten()
        .filter_map(|t| fs::read_dir(t.path().join("_delta_log")).ok())
        .flat_map(|log| log.flatten())
        .filter(|f| is_commit_file(&f.file_name().to_string_lossy()))
        .count()
}

/// The latest Delta version of each table under `DIR/tables/`, sorted by table.
///
/// # Errors
/// When `DIR/tables` cannot be read.
pub fn delta_versions(dir: &Path) -> Result<Vec<(String, Option<u64>)>> {
    let root = dir.join("tables");
    let mut out = Vec::new();
    for t in fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))? {
        let t = t?;
        let log = t.path().join("_delta_log");
        if !log.is_dir() {
            continue;
        }
        let latest = fs::read_dir(&log)?
            .flatten()
            .filter_map(|f| {
                let name = f.file_name().to_string_lossy().into_owned();
                if is_commit_file(&name) {
                    name.trim_end_matches(".json").parse::<u64>().ok()
                } else {
                    None
                }
            })
            .max();
        out.push((t.file_name().to_string_lossy().into_owned(), latest));
    }
    out.sort();
    Ok(out)
}

fn is_commit_file(name: &str) -> bool {
    name.strip_suffix(".json")
        .is_some_and(|stem| !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
}

/// Copies a folder tree (files and folders only).
///
/// # Errors
/// On any I/O error.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------- randomness

/// A small seeded generator (SplitMix64) for test schedules; no dependency needed.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }
}

/// The seed of a test schedule: `SLUICE_TEST_SEED` when set, else `default`.
pub fn test_seed(default: u64) -> u64 {
    std::env::var("SLUICE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Runs `sluice run` with a bad setting: it must exit non-zero within 60 s, with one
/// `error:` line containing every needle, and no panic.
///
/// # Errors
/// When any of that does not hold.
pub fn expect_clean_failure(what: &str, cmd: Command, needles: &[&str]) -> Result<()> {
    let started = Instant::now();
    let out = run_with_timeout(cmd, Duration::from_secs(120))?;
    let took = started.elapsed();
    ensure!(
        !out.status.success(),
        "{what}: the job succeeded\n{}",
        out.stderr
    );
    ensure!(
        !out.stderr.contains("panicked"),
        "{what}: the job panicked\n{}",
        out.stderr
    );
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    ensure!(
        errors.len() == 1,
        "{what}: expected one error line, got:\n{}",
        out.stderr
    );
    for n in needles {
        ensure!(
            errors[0].contains(n),
            "{what}: the error does not mention `{n}`: {}",
            errors[0]
        );
    }
    ensure!(
        took < Duration::from_secs(60),
        "{what}: took {took:?} to fail"
    );
    println!("{what}: {} ({took:?})", errors[0]);
    Ok(())
}

/// The S3 endpoint (moto) that `scripts/test` started, from `SLUICE_S3_ENDPOINT`.
///
/// # Errors
/// When it is not set.
pub fn s3_endpoint() -> Result<String> {
    std::env::var("SLUICE_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow::anyhow!("SLUICE_S3_ENDPOINT is not set: run with scripts/test"))
}

/// Waits for `child` to exit, killing it after `timeout`; `what` names it in the error.
///
/// # Errors
/// When it does not exit in time, or cannot be waited for.
pub fn wait_exit(
    child: &mut std::process::Child,
    timeout: Duration,
    what: &str,
) -> Result<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            anyhow::bail!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `command` (a job writing under `dir`) `attempts` times; each time, once more
/// than `commits(attempt)` Delta commits appeared since it started and `delay(attempt)`
/// passed, kills it (`kill -9`) if it still runs. Returns how many kills landed.
pub fn kill_after_commits(
    command: impl Fn() -> Result<Command>,
    dir: &Path,
    attempts: usize,
    commits: impl Fn(usize) -> usize,
    delay: impl Fn(usize) -> Duration,
) -> Result<usize> {
    let log = dir.with_extension("log");
    let mut kills = 0;
    for attempt in 0..attempts {
        let before = delta_commit_count(dir);
        let mut child = spawn_logged(command()?, &log)?;
        let deadline = Instant::now() + demo_timeout();
        while child.try_wait()?.is_none() {
            ensure!(Instant::now() < deadline, "attempt {attempt}: no progress");
            if delta_commit_count(dir) > before + commits(attempt) {
                std::thread::sleep(delay(attempt));
                if child.try_wait()?.is_none() {
                    child.kill()?; // SIGKILL
                    child.wait()?;
                    kills += 1;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    Ok(kills)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_args_have_every_flag_set() {
        let d = Demo {
            batch: true,
            late_fraction: Some(0.0),
            skew: Some("2m".into()),
            checkpoint_every: Some(3),
            ..Demo::new(100, 4, 10, 7).with_workers(2)
        };
        assert_eq!(
            d.display(Path::new("/x")),
            "sluice demo --dir /x --events 100 --partitions 4 --seed 7 --epoch-events 10 \
             --late-fraction 0 --skew 2m --workers 2 --checkpoint-every 3 --batch"
        );
    }

    #[test]
    fn commit_files_are_numbered_json() {
        assert!(is_commit_file("00000000000000000003.json"));
        assert!(!is_commit_file("00000000000000000003.checkpoint.parquet"));
        assert!(!is_commit_file("_last_checkpoint"));
        assert!(!is_commit_file(".json"));
    }

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for _ in 0..100 {
            let x = a.range(50, 400);
            assert_eq!(x, b.range(50, 400));
            assert!((50..=400).contains(&x));
        }
    }

    #[test]
    fn missing_tool_error_says_how_to_fix() {
        let err = tool_from_env("SLUICE_TESTS_SURELY_UNSET_VAR", "x").unwrap_err();
        assert!(err.to_string().contains("scripts/test"), "{err}");
    }
}
