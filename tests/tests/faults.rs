//! Failures as data: a run that fails mid-epoch stops with one `error:` line naming the
//! cause, commits nothing of the failed epoch, and the same command resumes it, once the
//! fault is gone, to tables equal to a clean run's.
//!
//! The disk-full test mounts a small tmpfs (it needs root, as `scripts/test` runs in CI);
//! without the privilege it fails, saying so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sluice_tests::user_activity::{Layout, clean_run, compare_with_clean, epochs, job, run_to_end};
use sluice_tests::{run_with_timeout, serial, tail, work_dir};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, bytes: u64) -> Result<Self> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir)
            .status()
            .context("running mount")?;
        ensure!(
            status.success(),
            "mounting a {bytes}-byte tmpfs at {} failed ({status}): this test needs root (or \
             CAP_SYS_ADMIN), as scripts/test has in CI",
            dir.display()
        );
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, bytes: u64) -> Result<()> {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}")])
            .arg(&self.0)
            .status()?;
        ensure!(status.success(), "resizing the tmpfs failed: {status}");
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        match entry.metadata() {
            Ok(m) if m.is_dir() => total += tree_bytes(&path),
            Ok(m) => total += m.len(),
            Err(_) => {}
        }
    }
    total
}

#[test]
fn a_full_disk_stops_the_job_cleanly_and_it_resumes_exactly() -> Result<()> {
    let _serial = serial();
    let clean = clean_run(TMP, "faults/disk-clean")?;
    let needed = tree_bytes(&clean);
    let dir = work_dir(TMP, "faults/disk")?;
    // Room for about half of what the job writes: it fills up mid-run.
    let disk = Tmpfs::mount(&dir, needed / 2)?;
    let out = dir.join("out");
    let run = run_with_timeout(job(&out, 2)?, Duration::from_secs(600))?;
    let committed = epochs(&out, "commits");
    println!(
        "full disk ({} of the {needed} bytes a run writes): {}, {} epochs committed",
        needed / 2,
        run.status,
        committed.len()
    );
    ensure!(
        !run.status.success(),
        "the run succeeded on a disk half the size it needs"
    );
    ensure!(
        !committed.is_empty(),
        "the disk filled before the first commit: the test wants a failure mid-run"
    );
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    ensure!(
        errors.len() == 1
            && errors[0].contains("No space left on device")
            && !run.stderr.contains("panicked"),
        "want one `error:` line naming the full disk and no panic, got:\n{}",
        tail(&run.stderr, 30)
    );
    println!("{}", errors[0]);

    // The disk is freed: the same command resumes to the clean run's tables.
    disk.resize(needed * 4)?;
    run_to_end(&out, Layout::new(1, 2), &dir.join("resume.log"))?;
    compare_with_clean(&clean, &out)
}
