//! The plan's Rust API end to end: `jobs/examples/demo_pipeline.rs` builds the demo
//! pipeline with `PlanBuilder` and runs it in its own binary; its tables must be exactly
//! those of `sluice demo` (the YAML job), read back by DuckDB.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use sluice_tests::{
    Demo, check_counts, demo_timeout, json_u64, run_with_timeout, same_tables_without, serial,
    sluice_bin, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

/// The example binary, built beside `SLUICE_BIN` (`cargo build --all-targets`).
fn example_bin() -> Result<PathBuf> {
    let bin = sluice_bin()?;
    let example = bin
        .parent()
        .context("SLUICE_BIN has a folder")?
        .join("examples")
        .join("demo_pipeline");
    ensure!(
        example.is_file(),
        "{} is missing: build it with `cargo build --workspace --all-targets` (scripts/test does)",
        example.display()
    );
    Ok(example)
}

#[test]
fn the_rust_api_example_writes_the_demo_s_tables() -> Result<()> {
    let _serial = serial();
    let yaml = work_dir(TMP, "plan_api_yaml")?;
    let rust = work_dir(TMP, "plan_api_rust")?;
    Demo::new(40_000, 4, 4_000, 42).run(&yaml)?;
    let mut cmd = Command::new(example_bin()?);
    cmd.arg(&rust).arg("40000").arg("4000");
    let out = run_with_timeout(cmd, demo_timeout())?;
    out.require_success("examples/demo_pipeline")?;
    let counts = check_counts(&rust)?;
    println!("the example's counts: {counts}");
    ensure!(
        json_u64(&counts, "/tables/gold_user_activity") > 0 && json_u64(&counts, "/tables/dlq") > 0,
        "the example wrote no gold or no dead letters: {counts}"
    );
    // Late rows' payload is the window's input row: with the silver columns in the YAML
    // job, the source's columns in the others; every other column must match.
    let same = same_tables_without(
        &yaml,
        &rust,
        &["silver", "gold_user_activity", "dlq"],
        Some(1e-9),
        &["payload"],
    )?
    .require_ok()?;
    println!("same tables: {same}");
    Ok(())
}
