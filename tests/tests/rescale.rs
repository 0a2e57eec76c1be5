//! Restarts with another worker or process count keep exactly-once (DESIGN section 3):
//! window state is restored by key group from exactly the parts that the snapshot's commit
//! marker lists, never from parts that a crashed run left in the same folder.
//!
//! The job is `config/user-activity.yaml` (sliding windows, so gold depends on restored
//! state), killed with SIGKILL; every run is checked against a clean run by DuckDB.

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use sluice_tests::user_activity::JOB_ID;
use sluice_tests::user_activity::{
    Layout, checkpoint, clean_run, compare_with_clean, epochs, kill_all, log_tail, marker,
    newest_snapshot, run_to_end, spawn, state_parts,
};
use sluice_tests::{SplitMix64, run_with_timeout, serial, sluice_bin, test_seed, work_dir};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
fn sluice(args: &[&str]) -> Result<std::process::Command> {
    let mut cmd = std::process::Command::new(sluice_bin()?);
    cmd.args(args);
    Ok(cmd)
}

fn checkpoints_dir(out: &std::path::Path) -> String {
    out.join("checkpoints").display().to_string()
}

// ------------------------------------------------------------------------ the tests

/// The scenario: a crash leaves a snapshot epoch's parts written by 2 workers but
/// no commit marker; a restart with 3 workers commits that epoch with its own parts, and is
/// killed before the next snapshot; a last restart with 1 worker restores from the folder
/// that now holds both runs' parts. Restoring all of them counted rows twice.
#[test]
fn a_crashed_runs_parts_are_not_restored_after_a_rescale() -> Result<()> {
    let _serial = serial();
    let clean = clean_run(TMP, "rescale/scenario-clean")?;
    const ATTEMPTS: usize = 8;
    for attempt in 0..ATTEMPTS {
        let out = work_dir(TMP, "rescale/scenario")?;
        let log = out.with_extension("log");
        let two = Layout::new(1, 2);
        // Run A, 2 workers: kill it once some snapshot epoch e >= 2 has both its parts and
        // no marker yet.
        let mut a = spawn(&out, two, &log)?;
        let started = Instant::now();
        let mut target = None;
        while started.elapsed() < Duration::from_secs(300) {
            if a[0].try_wait()?.is_some() {
                break;
            }
            let pending = epochs(&out, "state").into_iter().find(|&e| {
                e >= 2
                    && state_parts(&out, e).len() == 2
                    && !checkpoint(&out)
                        .join("commits")
                        .join(format!("{e:020}"))
                        .exists()
            });
            if let Some(e) = pending {
                kill_all(&mut a)?;
                target = Some(e);
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        kill_all(&mut a)?;
        let Some(e) = target else {
            println!("attempt {attempt}: run A ended before a pending snapshot was seen");
            continue;
        };
        if marker(&out, e)?.is_some() {
            println!("attempt {attempt}: epoch {e}'s marker landed before the kill; again");
            continue;
        }
        let parts_a = state_parts(&out, e);
        println!("attempt {attempt}: killed run A with epoch {e}'s parts {parts_a:?} unmarked");

        // Run B, 3 workers: kill it as soon as it has marked e (before e + 2's snapshot).
        let three = Layout::new(1, 3);
        let mut b = spawn(&out, three, &log)?;
        let started = Instant::now();
        while marker(&out, e)?.is_none() && started.elapsed() < Duration::from_secs(300) {
            if b[0].try_wait()?.is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        kill_all(&mut b)?;
        ensure!(
            marker(&out, e)?.is_some(),
            "run B ended without committing epoch {e}\n{}",
            log_tail(&log, three)
        );
        if newest_snapshot(&out)? != Some(e) {
            println!(
                "attempt {attempt}: run B got past epoch {e}'s snapshot before the kill; again"
            );
            continue;
        }
        let parts = state_parts(&out, e);
        if parts.len() == 3 && parts.is_disjoint(&parts_a) {
            // Run B's retention, right after its commit, deletes the parts its marker does
            // not list, run A's among them, when the kill comes a little late: the folder
            // then no longer holds what this scenario restores from.
            println!(
                "attempt {attempt}: run B's retention removed run A's parts before the kill; again"
            );
            continue;
        }
        ensure!(
            parts.len() == 5 && parts.is_superset(&parts_a),
            "epoch {e} should hold run A's 2 parts and run B's 3, found {parts:?}"
        );
        println!("run B committed epoch {e}; its folder holds {parts:?}");

        // The inspection command shows the snapshot as its marker lists it: run B's parts.
        let shown =
            sluice(&["checkpoints", &checkpoints_dir(&out), "--job-id", JOB_ID]).map(|mut c| {
                c.args(["show", &e.to_string()]);
                c
            })?;
        let shown = run_with_timeout(shown, Duration::from_secs(60))?;
        shown.require_success("sluice checkpoints ... show")?;
        ensure!(
            shown
                .stdout
                .contains(&format!("epoch {e}: committed, snapshot"))
                && shown.stdout.contains("in 3 parts"),
            "`checkpoints show {e}` should show run B's 3 listed parts:\n{}",
            shown.stdout
        );

        // Run C, 1 worker, restores from e and runs to the end.
        run_to_end(&out, Layout::new(1, 1), &log)?;
        return compare_with_clean(&clean, &out);
    }
    bail!("no attempt of {ATTEMPTS} caught a snapshot between its parts and its marker")
}

/// Random SIGKILLs with the layout changing at every restart (1 to 3 workers, 1 or 2
/// processes); the tables equal a clean run's.
#[test]
fn random_kills_with_changing_workers_and_processes_equal_a_clean_run() -> Result<()> {
    let _serial = serial();
    const MIN_KILLS: usize = 4;
    let seed = test_seed(0x0005_CA1E_D0C5);
    println!("kill schedule seed: {seed} (set SLUICE_TEST_SEED={seed} to replay it)");
    let mut rng = SplitMix64::new(seed);
    let layouts = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
        .map(|(processes, workers)| Layout::new(processes, workers));

    let clean = clean_run(TMP, "rescale/random-clean")?;
    let out = work_dir(TMP, "rescale/random")?;
    let log = out.with_extension("log");
    let mut kills = 0;
    let mut previous = None;
    let mut used = BTreeSet::new();
    for attempt in 0..MIN_KILLS + 4 {
        let layout = loop {
            let l = layouts[rng.range(0, layouts.len() as u64 - 1) as usize];
            if Some(l) != previous {
                break l;
            }
        };
        previous = Some(layout);
        let commits_before = epochs(&out, "commits").len();
        let after_commit = rng.chance(1, 2);
        let delay = Duration::from_millis(rng.range(100, 1500));
        let mut children = spawn(&out, layout, &log)?;
        let started = Instant::now();
        loop {
            if children
                .iter_mut()
                .all(|c| matches!(c.try_wait(), Ok(Some(_))))
            {
                break;
            }
            let due = if after_commit {
                epochs(&out, "commits").len() > commits_before
            } else {
                started.elapsed() >= delay
            };
            if due || started.elapsed() > Duration::from_secs(300) {
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
        if kill_all(&mut children)? {
            kills += 1;
            used.insert((layout.processes, layout.workers));
            println!(
                "attempt {attempt}: {layout:?} killed after {:?}; commits {commits_before} -> {}",
                started.elapsed(),
                epochs(&out, "commits").len()
            );
        } else {
            let failed: Vec<String> = children
                .iter_mut()
                .filter_map(|c| c.wait().ok())
                .filter(|s| !s.success())
                .map(|s| s.to_string())
                .collect();
            ensure!(
                failed.is_empty(),
                "attempt {attempt}: {layout:?} failed before the kill: {failed:?}\n{}",
                log_tail(&log, layout)
            );
            println!("attempt {attempt}: {layout:?} finished before the kill");
            break;
        }
    }
    ensure!(
        kills >= MIN_KILLS,
        "only {kills} kills landed before the job finished; raise EVENTS"
    );
    let last = layouts
        .into_iter()
        .find(|&l| Some(l) != previous)
        .expect("several layouts");
    run_to_end(&out, last, &log)?;
    println!("{kills} kills across layouts {used:?}, then {last:?} to the end");
    compare_with_clean(&clean, &out)
}
