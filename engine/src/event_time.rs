//! What the event-time operators (windows and deduplication) share: a keyed timely
//! operator that gathers each epoch's rows by key group, processes epochs in order once
//! timely says they are complete, routes late rows, snapshots its state, and derives its
//! watermark from the max event time of its input, all-reduced across workers by
//! broadcast, so that every worker uses the same `W(e)` (DESIGN section 2).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, BinaryBuilder, TimestampMicrosecondArray};
use arrow::compute::{cast, max};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::core::Concatenate;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::operator::Operator;
use timely::progress::frontier::MutableAntichain;

use crate::batch::Batches;
use crate::epoch::complete_before;
use crate::error::{EngineError, Result};
use crate::key::{KeyColumns, key_pact, owned_groups};
use crate::runtime::WorkerError;
use crate::watermark::Watermark;
use crate::window::{WindowControl, WindowNote, WindowOutputs, WindowSetup};

/// The keyed state of an event-time operator, epoch by epoch.
pub(crate) trait EventTimeState {
    /// The operator's state name (its snapshot parts carry it).
    fn name(&self) -> &str;
    /// Starts an epoch: `W(e)` becomes the watermark in effect.
    fn begin_epoch(&mut self);
    /// Puts one epoch's batches of input `input` in an order that depends only on their
    /// contents.
    fn canonical_order(&self, input: usize, batches: &mut [RecordBatch]);
    /// Takes one batch of the epoch's rows of input `input`; returns its late rows (with
    /// the late columns).
    ///
    /// # Errors
    /// When a column cannot be read as its expected type.
    fn absorb(&mut self, input: usize, batch: &RecordBatch) -> Result<Option<RecordBatch>>;
    /// Ends the epoch, given each clock's global max event time in it (each input's,
    /// then each further stream's): returns the rows to emit. `flush` ends a bounded
    /// input.
    ///
    /// # Errors
    /// When building the output fails.
    fn finish_epoch(
        &mut self,
        epoch_max: &[Option<i64>],
        flush: bool,
    ) -> Result<Option<RecordBatch>>;
    /// The whole state as Arrow IPC bytes, tagged with key groups.
    ///
    /// # Errors
    /// When encoding fails.
    fn snapshot(&self, key_groups: u32) -> Result<Vec<u8>>;
    /// Restores the key groups `owned` from snapshot parts written by any number of
    /// workers.
    ///
    /// # Errors
    /// [`EngineError::Snapshot`] when a part does not match the operator.
    fn restore(&mut self, parts: &[&bytes::Bytes], owned: Range<u32>) -> Result<()>;
    /// Keys (or windows of keys) held.
    fn open_entries(&self) -> usize;
    /// The watermark bookkeeping.
    fn watermark(&self) -> &Watermark;
    /// The schema of the rows it emits.
    fn results_schema(&self) -> SchemaRef;
    /// The schema of its late rows (the first input's, for several).
    fn late_rows_schema(&self) -> SchemaRef;
}

/// One keyed input of an event-time operator.
pub(crate) struct EventTimeInput<'scope> {
    /// Its batches.
    pub(crate) stream: Stream<'scope, u64, Batches>,
    /// The key columns its rows are exchanged by (into key groups).
    pub(crate) keys: KeyColumns,
    /// Its event-time column; none for an operator that needs no watermark (an
    /// aggregate without a window).
    pub(crate) time_column: Option<String>,
    /// Its batches' schema.
    pub(crate) schema: SchemaRef,
    /// The stream whose event times set its watermark, with that stream's schema, when
    /// not the input itself (a query's source rows before its `WHERE`, where Spark and
    /// Flink observe them).
    pub(crate) watermark: Option<Watermarked<'scope>>,
    /// Further streams whose event times hold the watermark back (a union's other
    /// sources), each with its time column: clocks after every input's own.
    pub(crate) also: Vec<(Watermarked<'scope>, String)>,
}

/// A stream that sets a watermark, with its schema.
pub(crate) type Watermarked<'scope> = (Stream<'scope, u64, Batches>, SchemaRef);

impl<'scope> EventTimeInput<'scope> {
    /// `stream` (batches with `schema`), exchanged by the columns `keys`, its watermark
    /// set by its own `time_column` until [`observing`](Self::observing) says otherwise.
    ///
    /// # Errors
    /// When a key column is missing.
    pub(crate) fn new(
        stream: Stream<'scope, u64, Batches>,
        schema: &SchemaRef,
        keys: &[String],
        time_column: Option<&str>,
    ) -> Result<Self> {
        Ok(Self {
            stream,
            keys: KeyColumns::resolve(schema, keys)?,
            time_column: time_column.map(str::to_owned),
            schema: Arc::clone(schema),
            watermark: None,
            also: Vec::new(),
        })
    }

    /// The input with its watermark set by the `observed` streams: one instead of the
    /// input, and one for each of `also` (the spec's, named for `operator`).
    ///
    /// # Errors
    /// When `observed` does not hold a stream for each of `also`.
    pub(crate) fn observing(
        mut self,
        operator: &str,
        observed: crate::window::Observed<'scope>,
        also: &[crate::watermark::WatermarkInput],
    ) -> Result<Self> {
        if observed.also.len() != also.len() {
            return Err(EngineError::InvalidPlan(format!(
                "`{operator}`: {} streams hold its watermark back, {} were given",
                also.len(),
                observed.also.len()
            )));
        }
        self.watermark = observed.instead;
        self.also = observed
            .also
            .into_iter()
            .zip(also)
            .map(|(stream, w)| (stream, w.time_column.clone()))
            .collect();
        Ok(self)
    }
}

/// Runs `state` over `inputs`, each exchanged by its keys into key groups; `label` names
/// the timely operator.
///
/// # Errors
/// When a time column is not in its input's schema, or a snapshot part cannot be
/// restored.
pub(crate) fn event_time_operator<'scope, S: EventTimeState + 'static>(
    inputs: Vec<EventTimeInput<'scope>>,
    mut state: S,
    setup: WindowSetup,
    label: String,
) -> Result<WindowOutputs<'scope>> {
    let results_schema = state.results_schema();
    let late_schema = state.late_rows_schema();
    let scope = inputs[0].stream.scope();
    let (maxima, n_clocks) = clocks(&inputs)?;
    let maxima = scope.concatenate(maxima);
    let owned = owned_groups(scope.index(), setup.key_groups, scope.peers());
    restore(&mut state, &setup, &owned)?;
    *setup.control.watermark.borrow_mut() = state.watermark().clone();

    let mut builder = OperatorBuilder::new(label.clone(), scope);
    let n_inputs = inputs.len();
    let mut data = Vec::with_capacity(n_inputs);
    for input in inputs {
        data.push(builder.new_input(input.stream, key_pact(&input.keys, setup.key_groups)?));
    }
    let mut maxima = builder.new_input(maxima, Pipeline);
    let (results_out, results) = builder.new_output::<Batches>();
    let (late_out, late) = builder.new_output::<Batches>();
    let (parts_out, notes) = builder.new_output::<Vec<WindowNote>>();
    let mut results_out = OutputBuilder::from(results_out);
    let mut late_out = OutputBuilder::from(late_out);
    let mut parts_out = OutputBuilder::from(parts_out);

    builder.build(move |capabilities| {
        let mut caps = capabilities;
        for cap in caps.iter_mut() {
            cap.downgrade(&setup.first_epoch);
        }
        let mut next = setup.first_epoch;
        // Each epoch's batches, per input.
        let mut stash: BTreeMap<u64, Vec<Vec<RecordBatch>>> = BTreeMap::new();
        // Each epoch's max event time, per input.
        let mut epoch_max: BTreeMap<u64, Vec<Option<i64>>> = BTreeMap::new();
        move |frontiers: &[MutableAntichain<u64>]| {
            for (i, data) in data.iter_mut().enumerate() {
                data.for_each(|cap, container| {
                    if let Some(&t) = cap.least() {
                        stash.entry(t).or_insert_with(|| vec![Vec::new(); n_inputs])[i]
                            .extend(std::mem::take(&mut container.batches));
                    }
                });
            }
            maxima.for_each(|cap, container| {
                if let Some(&t) = cap.least() {
                    let maxima = epoch_max.entry(t).or_insert_with(|| vec![None; n_clocks]);
                    for &(_, input, m) in container.iter() {
                        let e = &mut maxima[input];
                        *e = Some(e.map_or(m, |e| e.max(m)));
                    }
                }
            });
            if caps.is_empty() {
                return;
            }
            let final_epoch = setup.control.final_epoch.get();
            let frontier = frontiers
                .iter()
                .filter_map(|f| f.frontier().first().copied())
                .min();
            let limit = complete_before(frontier, final_epoch, stash.keys().last().copied(), next);
            let mut results_handle = results_out.activate();
            let mut late_handle = late_out.activate();
            let mut parts_handle = parts_out.activate();
            while next < limit {
                let e = next;
                let mut inputs = stash
                    .remove(&e)
                    .unwrap_or_else(|| vec![Vec::new(); n_inputs]);
                let flush = final_epoch == Some(e);
                let idle = setup.control.idle_max.borrow_mut().remove(&e);
                let max = with_idle(
                    epoch_max.remove(&e).unwrap_or_else(|| vec![None; n_clocks]),
                    idle,
                );
                let EpochRun {
                    results,
                    late_rows,
                    mut failures,
                } = run_epoch(&mut state, &mut inputs, &max, flush);
                if let Some(results) = results {
                    let cap = caps[0].delayed(&e);
                    results_handle
                        .session(&cap)
                        .give_container(&mut Batches::one(results));
                }
                if !late_rows.is_empty() {
                    let count: usize = late_rows.iter().map(RecordBatch::num_rows).sum();
                    let control = &setup.control;
                    control
                        .late_records
                        .set(control.late_records.get() + count as u64);
                    let cap = caps[1].delayed(&e);
                    late_handle
                        .session(&cap)
                        .give_container(&mut Batches { batches: late_rows });
                }
                match snapshot(&state, &setup, e, flush, &owned) {
                    Some(Ok(note)) => {
                        let cap = caps[2].delayed(&e);
                        parts_handle.session(&cap).give(note);
                    }
                    Some(Err(err)) => failures.push(format!("snapshot: {err}")),
                    None => {}
                }
                if !failures.is_empty() {
                    let cap = caps[2].delayed(&e);
                    let mut session = parts_handle.session(&cap);
                    for message in failures {
                        let error = WorkerError::Operator {
                            operator: label.clone(),
                            epoch: e,
                            message,
                        };
                        fail(&setup.control, error.clone());
                        session.give(WindowNote::Failed(error));
                    }
                }
                *setup.control.watermark.borrow_mut() = state.watermark().clone();
                next = e + 1;
                for cap in caps.iter_mut() {
                    cap.downgrade(&next);
                }
                if flush {
                    caps.clear();
                    break;
                }
            }
            if frontiers.iter().all(|f| f.frontier().is_empty()) && stash.is_empty() {
                caps.clear();
            }
        }
    });
    Ok(WindowOutputs {
        results,
        late,
        results_schema,
        late_schema,
        notes,
    })
}

/// Restores this worker's key groups `owned` of `state` from the snapshot parts of
/// `setup` that are its operator's and overlap them.
///
/// # Errors
/// When a part cannot be restored.
fn restore<S: EventTimeState>(
    state: &mut S,
    setup: &WindowSetup,
    owned: &std::ops::Range<u32>,
) -> Result<()> {
    if setup.restore.is_empty() {
        return Ok(());
    }
    let mine: Vec<&bytes::Bytes> = setup
        .restore
        .iter()
        .filter(|(part, _)| part.operator == state.name() && part.overlaps(owned))
        .map(|(_, bytes)| bytes)
        .collect();
    state.restore(&mine, owned.clone())
}

/// The snapshot of `state` (this worker's key groups `owned`) that epoch `e` takes: on
/// the final epoch (`flush`) and every `snapshot_every`th; `None` when it takes none or
/// the job takes no snapshots.
fn snapshot<S: EventTimeState>(
    state: &S,
    setup: &WindowSetup,
    e: u64,
    flush: bool,
    owned: &std::ops::Range<u32>,
) -> Option<Result<WindowNote>> {
    let due = flush || (setup.snapshot_every > 0 && e.is_multiple_of(setup.snapshot_every));
    let namer = setup.snapshots.as_ref().filter(|_| due)?;
    Some(state.snapshot(setup.key_groups).map(|bytes| {
        let part = namer(
            owned.clone(),
            bytes.len() as u64,
            state.open_entries() as u64,
        );
        WindowNote::Snapshot(part, bytes)
    }))
}

/// The clocks of an event-time operator's watermark: one per input with a time column
/// (observing its watermark stream, or its own rows), then one per further stream that
/// holds the watermark back. Returns each clock's maxima and how many clocks there are
/// (the inputs count whether they have a time column or not).
///
/// # Errors
/// When a time column is not in its stream's schema.
fn clocks<'scope>(inputs: &[EventTimeInput<'scope>]) -> Result<(Vec<Clock<'scope>>, usize)> {
    let mut maxima = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let Some(time_column) = &input.time_column else {
            continue;
        };
        let (observed, schema) = input
            .watermark
            .clone()
            .unwrap_or_else(|| (input.stream.clone(), Arc::clone(&input.schema)));
        maxima.push(observe_max(observed, i, time_column, &schema)?);
    }
    let mut n_clocks = inputs.len();
    for ((stream, schema), time_column) in inputs.iter().flat_map(|i| &i.also) {
        maxima.push(observe_max(stream.clone(), n_clocks, time_column, schema)?);
        n_clocks += 1;
    }
    Ok((maxima, n_clocks))
}

/// Each clock's max event time in an epoch, with an idle epoch's event time (the
/// wall-clock time that passed, `watermark.idle-timeout`) counted in.
fn with_idle(max: Vec<Option<i64>>, idle: Option<i64>) -> Vec<Option<i64>> {
    max.into_iter()
        .map(|m| match (m, idle) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        })
        .collect()
}

/// What one epoch of an event-time state produced.
struct EpochRun {
    /// Its results (closed windows, joined rows), if any.
    results: Option<RecordBatch>,
    /// Its rows later than the watermark.
    late_rows: Vec<RecordBatch>,
    /// What failed; the epoch must not commit.
    failures: Vec<String>,
}

/// Runs an epoch's batches (`inputs`, per input) through `state` in their canonical order,
/// then finishes the epoch at the clocks' maxima `max` (`flush` on the final epoch).
fn run_epoch<S: EventTimeState>(
    state: &mut S,
    inputs: &mut [Vec<RecordBatch>],
    max: &[Option<i64>],
    flush: bool,
) -> EpochRun {
    state.begin_epoch();
    let mut late_rows = Vec::new();
    let mut failures = Vec::new();
    for (input, batches) in inputs.iter_mut().enumerate() {
        state.canonical_order(input, batches);
        for batch in batches.iter() {
            match state.absorb(input, batch) {
                Ok(Some(late)) => late_rows.push(late),
                Ok(None) => {}
                Err(err) => failures.push(err.to_string()),
            }
        }
    }
    let results = state.finish_epoch(max, flush).unwrap_or_else(|err| {
        failures.push(err.to_string());
        None
    });
    EpochRun {
        results,
        late_rows,
        failures,
    }
}

fn fail(control: &WindowControl, error: WorkerError) {
    tracing::error!(%error, "event-time operator failed");
    control.failure.borrow_mut().get_or_insert(error);
}

/// A worker's max event time in an epoch, for one worker: `(to worker, input, max)`.
type Maximum = (u64, usize, i64);

/// The maxima of one clock, every worker's, sent to every worker.
type Clock<'scope> = Stream<'scope, u64, Vec<Maximum>>;

/// Each worker's max event time per epoch of input `which`, sent to every worker (an
/// all-reduce by broadcast) as `(worker, input, max)`: every event-time operator then
/// derives the same watermark.
fn observe_max<'scope>(
    stream: Stream<'scope, u64, Batches>,
    which: usize,
    time_column: &str,
    schema: &SchemaRef,
) -> Result<Stream<'scope, u64, Vec<Maximum>>> {
    let index = crate::key::column_index(schema, time_column)?;
    let peers = stream.scope().peers() as u64;
    let local = stream.unary::<CapacityContainerBuilder<Vec<Maximum>>, _, _, _>(
        Pipeline,
        "ObserveMaxEventTime",
        move |_, _| {
            move |input, output| {
                input.for_each(|cap, container| {
                    let mut best: Option<i64> = None;
                    for batch in &container.batches {
                        let Ok(times) = as_micros(batch.column(index)) else {
                            continue;
                        };
                        if let Some(m) = max(&times) {
                            best = Some(best.map_or(m, |b| b.max(m)));
                        }
                    }
                    if let Some(m) = best {
                        let mut session = output.session(&cap);
                        for peer in 0..peers {
                            session.give((peer, which, m));
                        }
                    }
                });
            }
        },
    );
    Ok(
        local.unary::<CapacityContainerBuilder<Vec<Maximum>>, _, _, _>(
            Exchange::new(|x: &Maximum| x.0),
            "AllReduceMaxEventTime",
            |_, _| {
                move |input, output| {
                    input.for_each(|cap, container| {
                        output.session(&cap).give_container(container);
                    })
                }
            },
        ),
    )
}

/// A timestamp column as microseconds since the Unix epoch (no time zone).
///
/// # Errors
/// When the column is not a timestamp.
pub(crate) fn as_micros(column: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    let times = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    Ok(times
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("cast to timestamp(us)")
        .clone())
}

/// Encodes a snapshot: `fields` and `columns` (one row per entry, the first two columns
/// being `key_group` and `key`), with the operator's name, the key groups and the
/// watermark in the schema metadata.
///
/// # Errors
/// When encoding fails.
pub(crate) fn encode_snapshot<W: serde::Serialize>(
    operator: &str,
    key_groups: u32,
    watermark: &W,
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
) -> Result<Vec<u8>> {
    let size: usize = columns.iter().map(|c| c.get_array_memory_size()).sum();
    let mut writer = SnapshotWriter::new(operator, key_groups, watermark, fields, size)?;
    writer.write(columns)?;
    writer.finish()
}

/// Entries per batch of a snapshot written by [`SnapshotWriter`].
pub(crate) const SNAPSHOT_BATCH_ROWS: usize = 1 << 16;

/// `entries` in batches of [`SNAPSHOT_BATCH_ROWS`]; none is one empty batch (a snapshot
/// of an empty state holds one, as it always did).
pub(crate) fn snapshot_batches<T>(entries: &[T]) -> impl Iterator<Item = &[T]> {
    let empty: &[T] = &[];
    entries
        .chunks(SNAPSHOT_BATCH_ROWS)
        .chain(entries.is_empty().then_some(empty))
}

/// Writes a snapshot's entries batch by batch into one Arrow IPC stream, so that a large
/// state is encoded through one small batch at a time rather than whole columns of it
/// (each a copy of the state in fresh memory).
pub(crate) struct SnapshotWriter {
    schema: SchemaRef,
    writer: StreamWriter<Vec<u8>>,
}

impl SnapshotWriter {
    /// A stream of `fields`, with the operator's name, the key groups and the watermark in
    /// the schema metadata, its buffer sized for `size` bytes of columns.
    ///
    /// # Errors
    /// When the watermark or the schema cannot be encoded.
    pub(crate) fn new<W: serde::Serialize>(
        operator: &str,
        key_groups: u32,
        watermark: &W,
        fields: Vec<Field>,
        size: usize,
    ) -> Result<Self> {
        Self::with_metadata(operator, key_groups, watermark, fields, size, Vec::new())
    }

    /// As [`new`](Self::new), with the operator's own `metadata` entries in the schema
    /// metadata too.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub(crate) fn with_metadata<W: serde::Serialize>(
        operator: &str,
        key_groups: u32,
        watermark: &W,
        fields: Vec<Field>,
        size: usize,
        metadata: Vec<(&str, String)>,
    ) -> Result<Self> {
        let mut metadata: HashMap<String, String> = metadata
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        metadata.insert("operator".to_string(), operator.to_owned());
        metadata.insert("key_groups".to_string(), key_groups.to_string());
        metadata.insert(
            "watermark".to_string(),
            serde_json::to_string(watermark).map_err(|e| EngineError::Snapshot(e.to_string()))?,
        );
        let schema = Arc::new(Schema::new(fields).with_metadata(metadata));
        // Sized up front: a large state would otherwise be copied as the buffer doubles.
        let out = Vec::with_capacity(size + 4096);
        let writer = StreamWriter::try_new(out, &schema)?;
        Ok(Self { schema, writer })
    }

    /// Appends one batch of entries.
    ///
    /// # Errors
    /// When the columns do not match the fields, or encoding fails.
    pub(crate) fn write(&mut self, columns: Vec<ArrayRef>) -> Result<()> {
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        self.writer.write(&batch)?;
        Ok(())
    }

    /// The encoded stream.
    ///
    /// # Errors
    /// When ending the stream fails.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        self.writer.finish()?;
        Ok(self.writer.into_inner()?)
    }
}

/// A binary column of `values`, its buffers sized once from their total length: built by
/// appending, a snapshot's column of millions of rows grew by reallocation, each copy into
/// fresh pages the kernel zeroes (30% of Nexmark q7's samples).
pub(crate) fn binary_column<'a, I>(values: I) -> BinaryArray
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    // No value is null, so the builder makes no null buffer.
    nullable_binary_column(values.map(Some))
}

/// A nullable binary column of `values`, sized once as [`binary_column`] is.
pub(crate) fn nullable_binary_column<'a, I>(values: I) -> BinaryArray
where
    I: Iterator<Item = Option<&'a [u8]>> + Clone,
{
    let (rows, bytes) = values.clone().fold((0, 0), |(rows, bytes), v| {
        (rows + 1, bytes + v.map_or(0, <[u8]>::len))
    });
    let mut builder = BinaryBuilder::with_capacity(rows, bytes);
    for v in values {
        builder.append_option(v);
    }
    builder.finish()
}

/// Decodes snapshot parts of `operator`: the watermark of the last part (every part
/// holds the same) and every part's batches.
///
/// # Errors
/// [`EngineError::Snapshot`] when a part belongs to another operator or lacks its
/// watermark.
pub(crate) fn decode_snapshots<W: serde::de::DeserializeOwned>(
    operator: &str,
    parts: &[impl AsRef<[u8]>],
) -> Result<(Option<W>, Vec<RecordBatch>)> {
    let mut watermark = None;
    let mut batches = Vec::new();
    for part in parts {
        let reader = StreamReader::try_new(part.as_ref(), None)?;
        let schema = reader.schema();
        let meta = schema.metadata();
        if meta.get("operator").map(String::as_str) != Some(operator) {
            return Err(EngineError::Snapshot(format!(
                "part belongs to operator {:?}, expected {operator}",
                meta.get("operator"),
            )));
        }
        let restored: W = serde_json::from_str(
            meta.get("watermark")
                .ok_or_else(|| EngineError::Snapshot("missing watermark".into()))?,
        )
        .map_err(|e| EngineError::Snapshot(e.to_string()))?;
        watermark = Some(restored);
        for batch in reader {
            batches.push(batch?);
        }
    }
    Ok((watermark, batches))
}

/// The index of the event-time column `time` of `schema`, which must be a timestamp.
///
/// # Errors
/// When it is missing or not a timestamp.
pub(crate) fn time_index(schema: &SchemaRef, time: &str) -> Result<usize> {
    let index = crate::key::column_index(schema, time)?;
    let data_type = schema.field(index).data_type();
    if !matches!(data_type, DataType::Timestamp(_, _)) {
        return Err(EngineError::InvalidPlan(format!(
            "event-time column `{time}` must be a timestamp, it is {data_type}"
        )));
    }
    Ok(index)
}

/// A row converter of all the columns of `schema`: whole rows, in their sort order.
///
/// # Errors
/// A column type rows cannot encode.
pub(crate) fn whole_rows(schema: &SchemaRef) -> Result<arrow::row::RowConverter> {
    Ok(arrow::row::RowConverter::new(
        schema
            .fields()
            .iter()
            .map(|f| arrow::row::SortField::new(f.data_type().clone()))
            .collect(),
    )?)
}

/// The schema of late rows: the input's columns, then `windows_missed` (Int32) and
/// `late_watermark` (the threshold they were tested against).
pub(crate) fn late_schema(input: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("windows_missed", DataType::Int32, false));
    fields.push(Field::new(
        "late_watermark",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    Arc::new(Schema::new(fields))
}

/// The rows `rows` of `batch`, each with how many windows it missed, tested against
/// `bound`, in `schema` (from [`late_schema`]); `None` when there are none.
///
/// # Errors
/// When the rows cannot be taken.
pub(crate) fn late_rows(
    batch: &RecordBatch,
    rows: Vec<u32>,
    missed: Vec<i32>,
    bound: Option<i64>,
    schema: &SchemaRef,
) -> Result<Option<RecordBatch>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let late = arrow::compute::take_record_batch(batch, &arrow::array::UInt32Array::from(rows))?;
    let watermark =
        TimestampMicrosecondArray::from(vec![bound; late.num_rows()]).with_timezone("UTC");
    let mut columns = late.columns().to_vec();
    columns.push(Arc::new(arrow::array::Int32Array::from(missed)));
    columns.push(Arc::new(watermark));
    Ok(Some(RecordBatch::try_new(Arc::clone(schema), columns)?))
}

/// Puts one epoch's batches in an order that depends only on their contents (their row
/// counts and event times), not on the order in which other workers' batches arrived.
pub(crate) fn canonical_order(batches: &mut [RecordBatch], time_index: usize) {
    batches.sort_by_cached_key(|batch| {
        let times = batch.column(time_index).to_data();
        let mut hash = xxhash_rust::xxh3::Xxh3::new();
        for buffer in times.buffers() {
            hash.update(buffer.as_slice());
        }
        (batch.num_rows(), hash.digest(), times.offset())
    });
}
