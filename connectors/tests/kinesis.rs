//! The Kinesis source against a real Kinesis API (kinesalite), whose URL is in
//! `SLUICE_KINESIS_ENDPOINT` (started by `scripts/test`, or by hand:
//! `node ~/.cache/sluice-tools/kinesalite/node_modules/.bin/kinesalite --port 14567
//! --createStreamMs 50 --deleteStreamMs 50 --updateStreamMs 50 --shardLimit 100`).
//!
//! The tests drive the source the way the engine's driver does: plan an epoch
//! (`next_ranges`), keep one proposal as the logged one, read each logged range on worker
//! `i % peers`, and advance the cursors by the logged ranges.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::StreamStatus;
use sluice_checkpoints::SourceRange;
use sluice_connectors::format::{Decoder, json::JsonDecoder};
use sluice_connectors::kinesis::{
    self, Ending, KinesisSource, KinesisSourceConfig, ShardPosition, StartingPosition, Timestamp,
    put_records,
};
use sluice_engine::runtime::{Cursors, EpochSource, Planned, advance};

fn endpoint() -> String {
    std::env::var("SLUICE_KINESIS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SLUICE_KINESIS_ENDPOINT is not set: these tests need a Kinesis API server. Run them \
             through scripts/test, or start kinesalite and export \
             SLUICE_KINESIS_ENDPOINT=http://127.0.0.1:<port>"
        )
    })
}

fn config(stream: &str) -> KinesisSourceConfig {
    let mut c = KinesisSourceConfig::new(stream);
    c.endpoint = Some(endpoint());
    c.access_key_id = Some("test".into());
    c.secret_access_key = Some("test".into());
    c.region = "us-east-1".into();
    c
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("sluice-{name}-{}-{nanos}", std::process::id())
}

fn json() -> Decoder {
    Decoder::Json(JsonDecoder::try_new(schema()).unwrap())
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("n", DataType::Int64, false),
    ]))
}

fn event(id: &str, n: u64) -> (String, Vec<u8>) {
    (
        format!("key-{n}"),
        format!(r#"{{"event_id":"{id}","n":{n}}}"#).into_bytes(),
    )
}

struct Admin {
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Admin {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = rt.block_on(kinesis::connect(&config("unused")));
        Self { rt, client }
    }

    fn wait_active(&self, stream: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self
                .rt
                .block_on(
                    self.client
                        .describe_stream_summary()
                        .stream_name(stream)
                        .send(),
                )
                .unwrap();
            let status = out.stream_description_summary().unwrap().stream_status();
            if *status == StreamStatus::Active {
                return;
            }
            assert!(Instant::now() < deadline, "{stream} stuck in {status:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn create(&self, stream: &str, shards: i32) {
        self.rt
            .block_on(
                self.client
                    .create_stream()
                    .stream_name(stream)
                    .shard_count(shards)
                    .send(),
            )
            .unwrap();
        self.wait_active(stream);
    }

    fn put(&self, stream: &str, events: Vec<(String, Vec<u8>)>) {
        let n = events.len() as u64;
        let report = self
            .rt
            .block_on(put_records(&self.client, stream, events))
            .unwrap();
        assert_eq!(report.records, n);
    }

    /// Splits `shard` in the middle of its hash key range.
    fn split(&self, stream: &str, shard: &str) {
        let shards = self
            .rt
            .block_on(self.client.list_shards().stream_name(stream).send())
            .unwrap();
        let range = shards
            .shards()
            .iter()
            .find(|s| s.shard_id() == shard)
            .unwrap()
            .hash_key_range()
            .unwrap()
            .clone();
        let lo: u128 = range.starting_hash_key().parse().unwrap();
        let hi: u128 = range.ending_hash_key().parse().unwrap();
        let middle = lo + (hi - lo) / 2;
        self.rt
            .block_on(
                self.client
                    .split_shard()
                    .stream_name(stream)
                    .shard_to_split(shard)
                    .new_starting_hash_key(middle.to_string())
                    .send(),
            )
            .unwrap();
        self.wait_active(stream);
    }
}

/// One read range with what it decoded to.
struct Read {
    epoch: u64,
    range: SourceRange,
    rows: RecordBatch,
    dead: RecordBatch,
}

/// Event ids of a decoded batch, checking its coordinate columns against `range`.
fn ids(read: &Read) -> Vec<String> {
    assert_eq!(read.dead.num_rows(), 0, "no dead letters expected");
    let rows = &read.rows;
    assert_eq!(rows.num_rows() as u64, read.range.len());
    let offsets = rows
        .column_by_name("offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    let expected: Vec<i64> = (read.range.start..read.range.end)
        .map(|o| o as i64)
        .collect();
    assert_eq!(offsets.values().to_vec(), expected);
    let partitions = rows
        .column_by_name("partition")
        .unwrap()
        .as_primitive::<Int32Type>();
    assert!(
        partitions
            .values()
            .iter()
            .all(|&p| p as u32 == read.range.partition)
    );
    let ids = rows.column_by_name("event_id").unwrap().as_string::<i32>();
    (0..ids.len()).map(|i| ids.value(i).to_string()).collect()
}

fn ipc_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    out
}

/// Plans one epoch with every planner, logs the proposal of planner `epoch % planners`
/// (the first one that has ranges), and reads the logged ranges round-robin on the
/// readers. Returns `None` when no planner had ranges (idle), otherwise the logged ranges
/// and whether the epoch is final.
fn epoch(
    planners: &[&KinesisSource],
    readers: &[&KinesisSource],
    epoch: u64,
    cursors: &Cursors,
    reads: &mut Vec<Read>,
) -> Option<(Vec<SourceRange>, bool)> {
    let mut proposals = Vec::new();
    for p in planners {
        proposals.push(p.next_ranges(epoch, cursors).unwrap());
    }
    let first = epoch as usize % planners.len();
    let (logger, ranges) = (0..planners.len())
        .map(|i| (first + i) % planners.len())
        .find_map(|i| match &proposals[i] {
            Planned::Ranges(r) => Some((planners[i], r.clone())),
            Planned::Exhausted => Some((planners[i], Vec::new())),
            Planned::Idle => None,
        })?;
    let partitions: Vec<u32> = ranges.iter().map(|r| r.partition).collect();
    assert!(
        partitions.windows(2).all(|w| w[0] < w[1]),
        "ranges sorted by partition: {partitions:?}"
    );
    let mut after = cursors.clone();
    advance(&mut after, &ranges);
    let last = ranges.is_empty() || logger.exhausted(&after);
    for (i, range) in ranges.iter().enumerate() {
        if range.is_empty() {
            continue;
        }
        let (rows, dead) = readers[i % readers.len()].read(range, epoch).unwrap();
        reads.push(Read {
            epoch,
            range: range.clone(),
            rows,
            dead,
        });
    }
    Some((ranges, last))
}

/// Asserts that `got` holds every id of `expected` exactly once and nothing else.
fn assert_exactly_once(got: &[String], expected: &[String]) {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for id in expected {
        *counts.entry(id).or_default() -= 1;
    }
    for id in got {
        *counts.entry(id).or_default() += 1;
    }
    let missing: Vec<_> = counts
        .iter()
        .filter(|(_, c)| **c < 0)
        .map(|(id, _)| *id)
        .collect();
    let extra: Vec<_> = counts
        .iter()
        .filter(|(_, c)| **c > 0)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && got.len() == expected.len(),
        "read {} records for {} put: {} missing (e.g. {:?}), {} read too often or not put (e.g. {:?})",
        got.len(),
        expected.len(),
        missing.len(),
        &missing[..missing.len().min(5)],
        extra.len(),
        &extra[..extra.len().min(5)],
    );
}

/// 20 000 records over two shards, read as a bounded job by two "processes" whose
/// proposals differ (different epoch sizes), then replayed by a fresh source.
#[test]
fn reads_every_record_once_and_replays_identically() {
    let admin = Admin::new();
    let stream = unique("bounded");
    admin.create(&stream, 2);
    let n = 20_000;
    let events: Vec<_> = (0..n).map(|i| event(&format!("e-{i}"), i)).collect();
    let expected: Vec<String> = (0..n).map(|i| format!("e-{i}")).collect();
    admin.put(&stream, events);

    let mut a_config = config(&stream);
    a_config.ending = Some(Ending::Latest);
    a_config.max_records_per_epoch = 3_000;
    a_config.fetch_limit = 1_000;
    let mut b_config = a_config.clone();
    b_config.max_records_per_epoch = 5_000;
    let a = KinesisSource::new(a_config.clone(), json(), "clicks").unwrap();
    let b = KinesisSource::new(b_config, json(), "clicks").unwrap();

    let mut cursors = a.initial_cursors().unwrap();
    assert_eq!(cursors.len(), 2, "{cursors:?}");
    // Records put after the start are beyond a bounded job's end.
    admin.put(
        &stream,
        (0..500)
            .map(|i| event(&format!("late-{i}"), n + i))
            .collect(),
    );

    let mut reads = Vec::new();
    let mut log: BTreeMap<u64, Vec<SourceRange>> = BTreeMap::new();
    let started = Instant::now();
    let mut e = 0;
    loop {
        assert!(e < 100, "no end after 100 epochs");
        let Some((ranges, last)) = epoch(&[&a, &b], &[&a, &b], e, &cursors, &mut reads) else {
            panic!("a bounded job with unread records went idle at epoch {e}");
        };
        let planned = ranges.iter().map(SourceRange::len).sum::<u64>();
        assert!(planned <= 5_000, "epoch {e} planned {planned}");
        advance(&mut cursors, &ranges);
        log.insert(e, ranges);
        e += 1;
        if last {
            break;
        }
    }
    let elapsed = started.elapsed();
    let got: Vec<String> = reads.iter().flat_map(ids).collect();
    let read_count = got.len();
    // Every record exactly once, and none of those put after the start.
    assert_exactly_once(&got, &expected);
    eprintln!(
        "read {read_count} records in {} epochs in {elapsed:?}",
        log.len()
    );
    assert!(a.exhausted(&cursors));
    // Another plan after the end says so.
    assert_eq!(a.next_ranges(e, &cursors).unwrap(), Planned::Exhausted);

    // A fresh source (cold cache) replays every logged range to the same bytes.
    let replayer = KinesisSource::new(a_config, json(), "clicks").unwrap();
    for read in &reads {
        let (rows, dead) = replayer.read(&read.range, read.epoch).unwrap();
        assert_eq!(ipc_bytes(&rows), ipc_bytes(&read.rows), "{:?}", read.range);
        assert_eq!(ipc_bytes(&dead), ipc_bytes(&read.dead));
        let raw = replayer.read_raw(&read.range).unwrap();
        assert_eq!(raw.len() as u64, read.range.len());
        assert_eq!(raw.source, "clicks");
        assert_eq!(raw.partition, read.range.partition);
    }
    // A range whose logged end does not match the stream is an error, not other data.
    let mut wrong = reads[0].range.clone();
    wrong.end -= 1;
    let err = replayer.read(&wrong, 0).unwrap_err();
    assert!(err.message.contains("logged"), "{}", err.message);
}

/// Reshards while the job runs (a split, and a merge of one child with its neighbour):
/// every record is read exactly once, and no child's record is read before all its
/// parents are finished. The cursors of each epoch are recovered from the last logged
/// epoch alone (as a restart does), and the source is replaced after each reshard.
#[test]
fn reads_children_after_their_parents_finish() {
    let admin = Admin::new();
    let stream = unique("reshard");
    admin.create(&stream, 2);
    let mut expected = Vec::new();
    let mut put = |prefix: &str, base: u64| {
        let events: Vec<_> = (0..3_000)
            .map(|i| event(&format!("{prefix}-{i}"), base + i))
            .collect();
        expected.extend((0..3_000).map(|i| format!("{prefix}-{i}")));
        admin.put(&stream, events);
    };
    put("a", 0);

    let mut c = config(&stream);
    c.max_records_per_epoch = 1_000;
    c.fetch_limit = 300;
    let new_source = || KinesisSource::new(c.clone(), json(), "clicks").unwrap();
    let mut source = new_source();
    assert!(source.initial_cursors().unwrap().is_empty());
    let mut reads = Vec::new();
    let mut log: BTreeMap<u64, Vec<SourceRange>> = BTreeMap::new();
    // Runs `epochs` logged epochs, or (with `None`) until everything put was read and the
    // source stays idle.
    let mut run = |source: &KinesisSource, epochs: Option<u64>, total: usize| {
        let mut idle = 0;
        let mut ran = 0;
        let mut progress = Instant::now();
        while epochs.map_or(idle < 3, |n| ran < n) {
            let e = log.len() as u64;
            assert!(e < 300, "not done after 300 epochs");
            // Recover the cursors from the last logged epoch only, as a restart does.
            let mut cursors = Cursors::new();
            if e > 0 {
                advance(&mut cursors, &log[&(e - 1)]);
            }
            match epoch(&[source], &[source], e, &cursors, &mut reads) {
                Some((ranges, last)) => {
                    assert!(!last, "an unbounded job never ends");
                    log.insert(e, ranges);
                    ran += 1;
                    idle = 0;
                    progress = Instant::now();
                }
                None => {
                    let read: usize = reads.iter().map(|r| r.rows.num_rows()).sum();
                    assert!(epochs.is_none(), "idle with records to read ({read} read)");
                    if read >= total {
                        idle += 1;
                    } else {
                        assert!(
                            progress.elapsed() < Duration::from_secs(30),
                            "idle for 30 s with {} of {total} records read",
                            read
                        );
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
    };

    // One epoch before resharding: shards 0 and 1 keep unread records. Closing a shard
    // well after its last record (over a second, here) makes kinesalite answer an empty
    // page with a next iterator before the one without.
    run(&source, Some(1), 0);
    std::thread::sleep(Duration::from_millis(1_500));
    admin.split(&stream, "shardId-000000000000");
    // Shard 3 (the upper half of 0) and shard 1 are adjacent: merge them into 4, which
    // then waits for 1 and for 3, which waits for 0.
    admin
        .rt
        .block_on(
            admin
                .client
                .merge_shards()
                .stream_name(&stream)
                .shard_to_merge("shardId-000000000003")
                .adjacent_shard_to_merge("shardId-000000000001")
                .send(),
        )
        .unwrap();
    admin.wait_active(&stream);
    put("b", 10_000);
    source = new_source();
    run(&source, None, expected.len());

    let got: Vec<String> = reads.iter().flat_map(ids).collect();
    assert_exactly_once(&got, &expected);

    // Each shard's ranges are contiguous (nothing re-read after a shard left the list).
    for p in 0..5 {
        let mut next = 0;
        for ranges in log.values() {
            for r in ranges.iter().filter(|r| r.partition == p) {
                assert_eq!(r.start, next, "shard {p} ranges are contiguous");
                next = r.end;
            }
        }
    }
    // Lineage: a shard is finished in one epoch; no record of it is read later; its
    // children's first records come in later epochs.
    let finished_at = |p: u32| {
        log.iter()
            .find_map(|(e, ranges)| {
                ranges.iter().find_map(|r| {
                    let end = ShardPosition::parse(r.end_position.as_deref()).unwrap();
                    (r.partition == p && end.finished).then_some(*e)
                })
            })
            .unwrap_or_else(|| panic!("shard {p} was never finished"))
    };
    let first_read = |p: u32| {
        reads
            .iter()
            .filter(|r| r.range.partition == p)
            .map(|r| r.epoch)
            .min()
    };
    let shards = admin
        .rt
        .block_on(admin.client.list_shards().stream_name(&stream).send())
        .unwrap();
    let mut children = 0;
    let mut summary = Vec::new();
    for shard in shards.shards() {
        let p = kinesis::shard_partition(shard.shard_id()).unwrap();
        let parents: Vec<u32> = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
            .into_iter()
            .flatten()
            .map(|id| kinesis::shard_partition(id).unwrap())
            .collect();
        for &parent in &parents {
            let done = finished_at(parent);
            assert!(
                reads
                    .iter()
                    .filter(|r| r.range.partition == parent)
                    .all(|r| r.epoch <= done)
            );
            // 3 was closed right after it opened: it has no records.
            assert!(
                first_read(p).is_none_or(|first| first > done),
                "shard {p} read in epoch {:?}, its parent {parent} finished in {done}",
                first_read(p)
            );
        }
        children += usize::from(!parents.is_empty());
        summary.push(format!("{p}<-{parents:?} first read {:?}", first_read(p)));
    }
    assert_eq!(children, 3, "2 and 3 from the split, 4 from the merge");
    for p in [0, 1, 2, 4] {
        assert!(first_read(p).is_some(), "shard {p} got records");
    }
    eprintln!(
        "reshard: {} epochs; finished: 0@{} 1@{} 3@{}; {}",
        log.len(),
        finished_at(0),
        finished_at(1),
        finished_at(3),
        summary.join(", ")
    );
}

/// Runs `source` from `cursors` until it is idle after reading `want` records; returns
/// the event ids read.
fn drain(source: &KinesisSource, cursors: &mut Cursors, want: usize) -> Vec<String> {
    let mut reads = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut e = 0;
    loop {
        assert!(Instant::now() < deadline, "not done in 30 s");
        match epoch(&[source], &[source], e, cursors, &mut reads) {
            Some((ranges, _)) => {
                advance(cursors, &ranges);
                e += 1;
            }
            None if reads.iter().map(|r| r.rows.num_rows()).sum::<usize>() >= want => break,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    reads.iter().flat_map(ids).collect()
}

/// `latest` is resolved once into a concrete position, and `at-timestamp` starts at the
/// first record that arrived at or after the time.
#[test]
fn starting_positions_skip_older_records() {
    let admin = Admin::new();
    let stream = unique("starting");
    admin.create(&stream, 1);
    admin.put(
        &stream,
        (0..100).map(|i| event(&format!("old-{i}"), i)).collect(),
    );
    std::thread::sleep(Duration::from_millis(1_100));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    std::thread::sleep(Duration::from_millis(100));

    let mut latest = config(&stream);
    latest.starting_position = StartingPosition::Latest;
    let source = KinesisSource::new(latest.clone(), json(), "clicks").unwrap();
    let initial = source.initial_cursors().unwrap();
    let position = initial.values().next().unwrap().position.clone();
    assert!(
        position
            .as_deref()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())),
        "latest resolves to the last sequence number: {position:?}"
    );
    let new: Vec<String> = (0..100).map(|i| format!("new-{i}")).collect();
    admin.put(
        &stream,
        (0..100)
            .map(|i| event(&format!("new-{i}"), 100 + i))
            .collect(),
    );
    assert_exactly_once(&drain(&source, &mut initial.clone(), 100), &new);
    // The resolved position is concrete: another source starting from it later reads the
    // same records (a LATEST iterator would now read nothing).
    let again = KinesisSource::new(latest, json(), "clicks").unwrap();
    assert_exactly_once(&drain(&again, &mut initial.clone(), 100), &new);

    let mut at = config(&stream);
    at.starting_position = StartingPosition::AtTimestamp;
    at.starting_timestamp = Some(Timestamp::Millis(since));
    let source = KinesisSource::new(at, json(), "clicks").unwrap();
    let mut cursors = source.initial_cursors().unwrap();
    assert!(cursors.is_empty());
    assert_exactly_once(&drain(&source, &mut cursors, 100), &new);
}

/// A stream that does not exist, or an endpoint that does not answer: one clear line,
/// quickly, and not retryable.
#[test]
fn missing_streams_and_endpoints_fail_clearly() {
    let stream = unique("missing");
    let source = KinesisSource::new(config(&stream), json(), "clicks").unwrap();
    let started = Instant::now();
    let err = source.initial_cursors().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        err.message,
        format!("Kinesis stream `{stream}` does not exist at {}", endpoint())
    );
    assert!(!err.retryable);
    let err = source.next_ranges(0, &Cursors::new()).unwrap_err();
    assert!(err.message.contains(&stream), "{}", err.message);

    let admin = Admin::new();
    let err = admin
        .rt
        .block_on(put_records(&admin.client, &stream, vec![event("x", 1)]))
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    // Nothing listens on port 9 of loopback.
    let mut unreachable = config(&stream);
    unreachable.endpoint = Some("http://127.0.0.1:9".into());
    let source = KinesisSource::new(unreachable, json(), "clicks").unwrap();
    let started = Instant::now();
    let err = source.initial_cursors().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        err.message
            .starts_with("cannot reach Kinesis at http://127.0.0.1:9: "),
        "{}",
        err.message
    );
    assert!(!err.message.contains('\n'));
    assert!(!err.retryable);
}
