//! Joins end to end, broadcast and keyed (a shuffle hash join of two bounded inputs): sales
//! files joined with a customers Parquet table (left, inner, left-anti; one customer
//! listed twice, null and unknown keys) and a products JSON table (inner), checked against
//! the same joins computed by DuckDB from the raw files; the products table's rows that do
//! not decode must be in the dead-letter table.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use sluice_tests::{
    expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

fn tool(args: &[&str]) -> Result<String> {
    python_tool("join_tool.py", args, Duration::from_secs(120))
}

fn job(dir: &Path, kind: &str, strategy: &str) -> Result<std::path::PathBuf> {
    let products = if kind == "left-anti" {
        String::new()
    } else {
        "  - name: products\n    table:\n      files: { path: data/products, format: json }\n      \
         schema:\n        - { name: product_id, type: long, nullable: false }\n        \
         - { name: category, type: string }\n    on: [product_id]\n    kind: inner\n    \
         strategy: STRATEGY\n"
            .replace("STRATEGY", strategy)
    };
    let columns = if kind == "left-anti" {
        ""
    } else {
        "    columns: [tier, region]\n"
    };
    let text = format!(
        "job-id: joins-{kind}-{strategy}\nsource:\n  files: {{ path: data/sales, format: json, bounded: true }}\n  schema:\n    \
         - {{ name: sale_id, type: long, nullable: false }}\n    - {{ name: customer_id, type: long }}\n    \
         - {{ name: product_id, type: long }}\n    - {{ name: amount, type: double }}\n\
         joins:\n  - name: customers\n    table: {{ files: {{ path: data/customers, format: parquet }} }}\n    \
         on: [customer_id]\n    kind: {kind}\n    strategy: {strategy}\n{columns}{products}output:\n  \
         dir: out-{kind}-{strategy}\n"
    );
    let path = dir.join(format!("job-{kind}-{strategy}.yaml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

#[test]
fn left_inner_and_anti_joins_equal_duckdb() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "joins")?;
    tool(&[
        "data",
        "--dir",
        &dir.join("data").display().to_string(),
        "--seed",
        "5",
    ])?;
    for strategy in ["broadcast", "keyed"] {
        for kind in ["left", "inner", "left-anti"] {
            let mut cmd = Command::new(sluice_bin()?);
            cmd.current_dir(&dir)
                .arg("run")
                .arg(job(&dir, kind, strategy)?)
                .args(["--workers", "2"]);
            run_with_timeout(cmd, Duration::from_secs(600))?
                .require_success(&format!("sluice run ({kind}, {strategy})"))?;
            let report = tool(&[
                "check",
                "--dir",
                &dir.join("data").display().to_string(),
                "--tables",
                &dir.join(format!("out-{kind}-{strategy}/tables"))
                    .display()
                    .to_string(),
                "--kind",
                kind,
            ])?;
            eprintln!("{strategy}: {}", report.trim());
        }
    }
    // A key the table lacks is one clear error.
    let bad = dir.join("job-bad.yaml");
    let text = std::fs::read_to_string(job(&dir, "left", "keyed")?)?
        .replace("on: [customer_id]", "on: [client]");
    std::fs::write(&bad, text)?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(&dir).arg("run").arg(&bad);
    expect_clean_failure(
        "an unknown join key",
        cmd,
        &["join `customers`", "\"client\""],
    )
}
