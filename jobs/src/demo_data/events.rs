//! The events dataset: the generator's demo events (the stream `sluice demo` reads) as
//! JSON-lines files, for file-source jobs and for baselines that read the same bytes.
//!
//! The global ordinals `0..events` are cut into `files` contiguous runs, in ordinal order
//! (that is, in nominal event-time order, as they would arrive): file `k` holds ordinals
//! `[k * events / files, (k + 1) * events / files)`, ordinal `o` being the event at
//! partition `o % partitions`, offset `o / partitions`. Every line is exactly the payload
//! the generator source yields for that event, malformed ones included.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use clap::Args;
use sluice_connectors::generator::{Event, GeneratorConfig};

/// Flags of `sluice demo-data events`.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Output directory; files are named `events-NNNNN.json`.
    #[arg(long)]
    dir: PathBuf,
    /// Events, over all files.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Number of files.
    #[arg(long, default_value_t = 10)]
    files: u64,
    /// Generator seed (the demo's is 42).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Generator partitions (the demo's is 4).
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Replace existing `events-*.json` files in the directory.
    #[arg(long)]
    force: bool,
}

/// Writes the files and prints a one-line summary.
pub fn write_events(args: &EventsArgs) -> Result<()> {
    ensure!(args.files >= 1, "--files must be at least 1");
    let config = GeneratorConfig {
        seed: args.seed,
        partitions: args.partitions,
        events: args.events,
        ..GeneratorConfig::default()
    };
    config.validate()?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    remove_old(&args.dir, args.force)?;
    let mut bytes = 0u64;
    let mut line = Vec::with_capacity(256);
    for k in 0..args.files {
        let first = run_start(k, args.events, args.files);
        let end = run_start(k + 1, args.events, args.files);
        let path = args.dir.join(format!("events-{k:05}.json"));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        for ordinal in first..end {
            let partitions = u64::from(config.partitions);
            let partition = u32::try_from(ordinal % partitions)?;
            line.clear();
            Event::generate(&config, partition, ordinal / partitions).write_json(&mut line);
            line.push(b'\n');
            out.write_all(&line)
                .with_context(|| format!("writing {}", path.display()))?;
            bytes += line.len() as u64;
        }
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "wrote {} events in {} files ({:.1} MB) under {}",
        args.events,
        args.files,
        bytes as f64 / 1e6,
        args.dir.display()
    );
    Ok(())
}

/// First ordinal of run `k` of `files` over `events`.
fn run_start(k: u64, events: u64, files: u64) -> u64 {
    u64::try_from(u128::from(k) * u128::from(events) / u128::from(files)).unwrap_or(events)
}

/// Refuses to mix with an earlier dataset unless `force`, which removes its files.
fn remove_old(dir: &Path, force: bool) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("events-") && name.ends_with(".json") {
            ensure!(
                force,
                "{} already holds events files (pass --force to replace them)",
                dir.display()
            );
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_every_ordinal_once() {
        for (events, files) in [(10, 3), (1_000_000, 10), (7, 10), (0, 2)] {
            let mut next = 0;
            for k in 0..files {
                assert_eq!(run_start(k, events, files), next);
                next = run_start(k + 1, events, files);
                assert!(next >= run_start(k, events, files));
            }
            assert_eq!(next, events, "{events} events in {files} files");
        }
    }
}
