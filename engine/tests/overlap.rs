//! Overlapping epochs, checked against the clock and against a run without overlap.
//!
//! Every table commit here takes 150 ms (a slow object store). With
//! `max_epochs_in_flight = 3`, epoch `e + 1` must be read while epoch `e` is still being
//! committed; with 1, never. Either way commits run once per epoch and table, in epoch
//! order, and every table holds the same rows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::{CheckpointStore, SourceRange};
use sluice_engine::plan::{CompiledPlan, PlanBuilder, StaticInputs};
use sluice_engine::runtime::{
    CommitReport, ConnectorFailure, Cursors, DeadLetters, EpochSource, Planned, RunOptions,
    TableSink, run,
};
use sluice_engine::window::{AggregateFn, WindowKind, WindowSpec};

const EPOCHS: u64 = 8;
const ROWS: u64 = 2_000;
const COMMIT: Duration = Duration::from_millis(150);

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("v", DataType::Int64, false),
    ]))
}

/// What happened when, shared by the source and the sinks of one run.
#[derive(Default)]
struct Clock {
    /// When each epoch's first range read began.
    reads: BTreeMap<u64, Instant>,
    /// Every commit: (table, epoch, began, ended).
    commits: Vec<(String, u64, Instant, Instant)>,
}

type Shared = Arc<Mutex<Clock>>;

/// One partition of `EPOCHS * ROWS` rows with rising event times, `ROWS` per epoch.
struct Rows {
    clock: Shared,
}

impl EpochSource for Rows {
    fn name(&self) -> &str {
        "rows"
    }

    fn next_ranges(&self, _epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        Ok(next_ranges("rows", 1, cursors))
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        exhausted("rows", cursors)
    }

    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        self.clock
            .lock()
            .unwrap()
            .reads
            .entry(epoch)
            .or_insert_with(Instant::now);
        rows(range, |i| format!("k{}", i % 7), 20_000_000)
    }
}

/// The next `ROWS` of each of `partitions` partitions of the source `name`, all at the
/// offset partition 0 is at, until `EPOCHS * ROWS`.
fn next_ranges(name: &str, partitions: u32, cursors: &Cursors) -> Planned {
    let at = cursors.get(&(name.into(), 0)).map_or(0, |c| c.offset);
    if at >= EPOCHS * ROWS {
        return Planned::Exhausted;
    }
    Planned::Ranges(
        (0..partitions)
            .map(|p| SourceRange::offsets(name, p, at, at + ROWS))
            .collect(),
    )
}

/// Whether the source `name` has read its `EPOCHS * ROWS` rows.
fn exhausted(name: &str, cursors: &Cursors) -> bool {
    cursors
        .get(&(name.into(), 0))
        .is_some_and(|c| c.offset >= EPOCHS * ROWS)
}

/// The rows of `range`, offset `i` keyed `key(i)` at `i * step` µs with value `i`, and no
/// dead letters.
fn rows(
    range: &SourceRange,
    key: impl Fn(i64) -> String,
    step: i64,
) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
    let offsets = range.start as i64..range.end as i64;
    let rows = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(offsets.clone().map(key))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                offsets.clone().map(|i| i * step),
            )),
            Arc::new(Int64Array::from_iter_values(offsets)),
        ],
    )
    .map_err(|e| ConnectorFailure::new(e.to_string(), false))?;
    Ok((rows, RecordBatch::new_empty(schema())))
}

/// A table kept in memory whose commits take [`COMMIT`] and are recorded on the clock.
struct SlowTable {
    name: String,
    clock: Shared,
    /// Rows written, by file note.
    files: Mutex<BTreeMap<String, RecordBatch>>,
    /// Committed rows by epoch.
    rows: Mutex<BTreeMap<u64, Vec<RecordBatch>>>,
}

impl SlowTable {
    fn new(name: &str, clock: &Shared) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            clock: Arc::clone(clock),
            files: Mutex::default(),
            rows: Mutex::default(),
        })
    }

    /// The committed rows, as sorted text lines (a multiset).
    fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for batch in self.rows.lock().unwrap().values().flatten() {
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        arrow::util::display::array_value_to_string(c, row).unwrap_or_default()
                    })
                    .collect();
                lines.push(cells.join(","));
            }
        }
        lines.sort();
        lines
    }
}

impl TableSink for SlowTable {
    fn name(&self) -> &str {
        &self.name
    }

    fn committed_epoch(&self) -> Result<Option<u64>, ConnectorFailure> {
        Ok(self.rows.lock().unwrap().keys().last().copied())
    }

    fn write(&self, epoch: u64, batches: &[RecordBatch]) -> Result<Vec<String>, ConnectorFailure> {
        let mut files = self.files.lock().unwrap();
        let mut notes = Vec::new();
        for batch in batches {
            let note = format!("{epoch}-{}", files.len());
            files.insert(note.clone(), batch.clone());
            notes.push(note);
        }
        Ok(notes)
    }

    fn commit(&self, epoch: u64, files: Vec<String>) -> Result<CommitReport, ConnectorFailure> {
        let began = Instant::now();
        std::thread::sleep(COMMIT);
        let batches: Vec<RecordBatch> = {
            let mut written = self.files.lock().unwrap();
            files.iter().filter_map(|f| written.remove(f)).collect()
        };
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let previous = self.rows.lock().unwrap().insert(epoch, batches);
        assert!(
            previous.is_none(),
            "{} committed epoch {epoch} twice",
            self.name
        );
        self.clock
            .lock()
            .unwrap()
            .commits
            .push((self.name.clone(), epoch, began, Instant::now()));
        Ok(CommitReport {
            rows,
            files: files.len() as u64,
            ..CommitReport::default()
        })
    }
}

/// Dead letters as they come (this input has none).
struct AsIs;

impl DeadLetters for AsIs {
    fn rejected(&self, batch: &RecordBatch, _: u64) -> Result<RecordBatch, ConnectorFailure> {
        Ok(batch.clone())
    }

    fn late(&self, batch: &RecordBatch, _: u64) -> Result<RecordBatch, ConnectorFailure> {
        Ok(batch.clone())
    }
}

struct Outcome {
    clock: Clock,
    silver: Vec<String>,
    gold: Vec<String>,
}

fn run_with(max_epochs_in_flight: usize) -> Outcome {
    let hourly = WindowKind::Tumbling {
        size: Duration::from_secs(3600),
    };
    let window = WindowSpec::new("per_key", hourly, "ts")
        .with_keys(["k"])
        .with_aggregate("n", AggregateFn::Count, None)
        .with_aggregate("total", AggregateFn::Sum, Some("v"))
        .with_delay(Duration::from_secs(600));
    let plan = PlanBuilder::new("overlap", "rows")
        .key_groups(16)
        .window("per_key", "rows", window)
        .sink("silver", "rows")
        .sink("gold", "per_key")
        .dead_letters("dead_letters")
        .build()
        .expect("a valid plan");
    let compiled =
        CompiledPlan::compile(plan, &schema(), &StaticInputs::default()).expect("plan compiles");
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let clock: Shared = Arc::default();
    let silver = SlowTable::new("silver", &clock);
    let gold = SlowTable::new("gold", &clock);
    let dead = SlowTable::new("dead_letters", &clock);
    let checkpoints =
        CheckpointStore::open(dir.path().to_str().unwrap(), "overlap").expect("checkpoint store");
    let options = RunOptions {
        snapshot_every: 2,
        keep_snapshots: 2,
        idle_poll: Duration::from_millis(10),
        max_epochs_in_flight,
        ..RunOptions::new(2, checkpoints, runtime.handle().clone())
    };
    let sinks: BTreeMap<String, Arc<dyn TableSink>> = BTreeMap::from([
        ("silver".to_owned(), silver.clone() as Arc<dyn TableSink>),
        ("gold".to_owned(), gold.clone()),
        ("dead_letters".to_owned(), dead.clone()),
    ]);
    let source = Arc::new(Rows {
        clock: Arc::clone(&clock),
    });
    let summary = run(compiled, source, sinks, Arc::new(AsIs), options).expect("the run");
    assert_eq!(summary.last_epoch, Some(EPOCHS - 1));
    let clock = std::mem::take(&mut *clock.lock().unwrap());
    Outcome {
        clock,
        silver: silver.lines(),
        gold: gold.lines(),
    }
}

/// Epochs whose successor started reading before their last commit ended.
fn overlapped(clock: &Clock) -> Vec<u64> {
    let mut last_commit_end: BTreeMap<u64, Instant> = BTreeMap::new();
    for (_, epoch, _, ended) in &clock.commits {
        let end = last_commit_end.entry(*epoch).or_insert(*ended);
        *end = (*end).max(*ended);
    }
    last_commit_end
        .iter()
        .filter(|&(epoch, ended)| {
            clock
                .reads
                .get(&(epoch + 1))
                .is_some_and(|read| read < ended)
        })
        .map(|(epoch, _)| *epoch)
        .collect()
}

fn assert_commits_in_order(clock: &Clock) {
    let mut by_table: BTreeMap<&str, Vec<(u64, Instant, Instant)>> = BTreeMap::new();
    for (table, epoch, began, ended) in &clock.commits {
        by_table
            .entry(table)
            .or_default()
            .push((*epoch, *began, *ended));
    }
    assert_eq!(by_table.len(), 3, "every table commits");
    for (table, commits) in by_table {
        let epochs: Vec<u64> = commits.iter().map(|c| c.0).collect();
        assert_eq!(epochs, (0..EPOCHS).collect::<Vec<_>>(), "{table}'s commits");
        for pair in commits.windows(2) {
            assert!(
                pair[1].1 >= pair[0].2,
                "{table}: epoch {} began before {} ended",
                pair[1].0,
                pair[0].0
            );
        }
    }
    // Within an epoch, the tables commit one after another, never two epochs at once.
    let mut all: Vec<&(String, u64, Instant, Instant)> = clock.commits.iter().collect();
    all.sort_by_key(|c| c.2);
    let order: Vec<u64> = all.iter().map(|c| c.1).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "commits across tables follow epoch order");
}

#[test]
fn later_epochs_are_read_while_earlier_ones_commit_and_the_tables_do_not_change() {
    let serial = run_with(1);
    let overlapping = run_with(3);
    assert_commits_in_order(&serial.clock);
    assert_commits_in_order(&overlapping.clock);

    assert_eq!(
        overlapped(&serial.clock),
        Vec::<u64>::new(),
        "with one epoch in flight, no epoch is read before the previous one commits"
    );
    let overlapped_epochs = overlapped(&overlapping.clock);
    assert!(
        overlapped_epochs.len() >= (EPOCHS as usize) / 2,
        "with three epochs in flight, most epochs should be read while the previous one \
         commits; only {overlapped_epochs:?} were"
    );

    assert_eq!(serial.silver.len(), (EPOCHS * ROWS) as usize);
    assert_eq!(serial.silver, overlapping.silver, "silver differs");
    assert!(!serial.gold.is_empty());
    assert_eq!(serial.gold, overlapping.gold, "gold differs");
    // The final windows count every row once: 7 keys, each row in one window.
    let counted: i64 = gold_counts(&overlapping.gold).iter().sum();
    assert_eq!(counted, (EPOCHS * ROWS) as i64);
}

/// The `n` column of gold lines `k,window_start,window_end,n,total`.
fn gold_counts(lines: &[String]) -> Vec<i64> {
    lines
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cells[cells.len() - 2].parse().expect("a count")
        })
        .collect()
}

/// Two partitions of `EPOCHS * ROWS` rows each, `ROWS` of each per epoch: worker 0 reads
/// partition 0, worker 1 partition 1. Worker 0's read of epoch 0 holds on until worker 1
/// has begun reading epoch 1, or `patience` has passed.
struct Pair {
    patience: Duration,
    /// The (epoch, partition) reads begun.
    begun: Mutex<Vec<(u64, u32)>>,
    /// Whether worker 1 began epoch 1 before worker 0 finished reading epoch 0.
    overtaken: Mutex<Option<bool>>,
}

impl Pair {
    fn began(&self, epoch: u64, partition: u32) -> bool {
        self.begun.lock().unwrap().contains(&(epoch, partition))
    }
}

impl EpochSource for Pair {
    fn name(&self) -> &str {
        "pair"
    }

    fn next_ranges(&self, _epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        Ok(next_ranges("pair", 2, cursors))
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        exhausted("pair", cursors)
    }

    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        self.begun.lock().unwrap().push((epoch, range.partition));
        if (epoch, range.partition) == (0, 0) {
            let since = Instant::now();
            while !self.began(1, 1) && since.elapsed() < self.patience {
                std::thread::sleep(Duration::from_millis(2));
            }
            *self.overtaken.lock().unwrap() = Some(self.began(1, 1));
        }
        let partition = range.partition;
        rows(range, |_| format!("p{partition}"), 1_000_000)
    }
}

/// A run of the pair into one table, without event-time operators: whether worker 1
/// overtook worker 0, and the table's rows.
fn run_pair(max_epochs_in_flight: usize, patience: Duration) -> (bool, Vec<String>) {
    let plan = PlanBuilder::new("ahead", "pair")
        .key_groups(16)
        .sink("copy", "pair")
        .dead_letters("dead_letters")
        .build()
        .expect("a valid plan");
    let compiled =
        CompiledPlan::compile(plan, &schema(), &StaticInputs::default()).expect("plan compiles");
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let clock: Shared = Arc::default();
    let copy = SlowTable::new("copy", &clock);
    let dead = SlowTable::new("dead_letters", &clock);
    let checkpoints =
        CheckpointStore::open(dir.path().to_str().unwrap(), "ahead").expect("checkpoint store");
    let options = RunOptions {
        idle_poll: Duration::from_millis(10),
        max_epochs_in_flight,
        ..RunOptions::new(2, checkpoints, runtime.handle().clone())
    };
    let sinks: BTreeMap<String, Arc<dyn TableSink>> = BTreeMap::from([
        ("copy".to_owned(), copy.clone() as Arc<dyn TableSink>),
        ("dead_letters".to_owned(), dead as Arc<dyn TableSink>),
    ]);
    let source = Arc::new(Pair {
        patience,
        begun: Mutex::default(),
        overtaken: Mutex::default(),
    });
    let summary = run(compiled, source.clone(), sinks, Arc::new(AsIs), options).expect("the run");
    assert_eq!(summary.last_epoch, Some(EPOCHS - 1));
    let overtaken = source.overtaken.lock().unwrap().expect("epoch 0 was read");
    (overtaken, copy.lines())
}

#[test]
fn other_workers_read_the_next_epoch_while_worker_0_still_reads_this_one() {
    // Worker 0 plans epoch 1 before reading its share of epoch 0, so worker 1 can go on.
    let (overtaken, ahead) = run_pair(3, Duration::from_secs(10));
    assert!(
        overtaken,
        "worker 1 did not begin epoch 1 within 10 s while worker 0 read epoch 0"
    );
    // With one epoch in flight, epoch 1 waits for epoch 0's commit: no planning ahead.
    let (overtaken, serial) = run_pair(1, Duration::from_secs(1));
    assert!(!overtaken, "epoch 1 was planned before epoch 0 committed");
    assert_eq!(ahead.len(), (2 * EPOCHS * ROWS) as usize);
    assert_eq!(ahead, serial, "planning ahead changed the table");
}
