//! The user-activity job (`config/user-activity.yaml`) with data-quality rules, as the
//! quality and metrics tests run it.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::{sluice_bin, tests_dir};

/// A `warn` rule: the user is known.
pub const USER_RULE: &str = "user_id IS NOT NULL";
/// A `drop` rule: the value is not negative.
pub const VALUE_RULE: &str = "value >= 0";
/// A `quarantine` rule: the event type is one the generator means to produce.
pub const TYPE_RULE: &str = "event_type IN ('click', 'view', 'add_to_cart', 'purchase', 'search')";

/// The three rules above as a `rules` override: `user_present` (warn), `value_ok` (drop)
/// and `type_known` (quarantine).
pub fn three_actions() -> String {
    format!(
        "[{{name: user_present, check: \"{USER_RULE}\", action: warn}}, \
         {{name: value_ok, check: \"{VALUE_RULE}\", action: drop}}, \
         {{name: type_known, check: \"{TYPE_RULE}\", action: quarantine}}]"
    )
}

/// `sluice run config/user-activity.yaml` into `out` on `events` generated events with
/// `rules`, plus `--set` of each of `sets`.
///
/// # Errors
/// When `SLUICE_BIN` is not set.
pub fn user_activity_run(out: &Path, events: u64, rules: &str, sets: &[&str]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run")
        .arg(
            tests_dir()
                .join("..")
                .join("config")
                .join("user-activity.yaml"),
        )
        .args(["--set", &format!("output.dir={}", out.display())])
        .args(["--set", &format!("source.generator.events={events}")])
        .args(["--set", &format!("rules={rules}")]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    Ok(cmd)
}
