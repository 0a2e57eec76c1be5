//! The columns of each source a compiled plan reads: projection pushdown.
//!
//! A source column that no sink, expression, key, event time or aggregate of the plan
//! reads need not be decoded, nor carried through the exchanges between workers. The
//! columns a stream's readers need are found from the sinks back to the sources, each
//! operator in reverse plan order:
//!
//! | operator | what it needs of its input |
//! |---|---|
//! | sink | every column |
//! | filter, rules, deduplication, Top-N | what its readers need, and the columns its predicates, rules, keys, event time or order read |
//! | projection | the columns its expressions read; with `*`, also the input columns its readers need |
//! | window | its keys, event time and aggregated columns |
//! | union, joins, epoch aggregates | every column (not narrowed) |
//!
//! A window's or deduplication's watermark clocks read their streams' event times.
//! `event_id` always counts as read. A source's coordinate columns count as read when an
//! operator may reject its rows: a row that becomes a dead letter (late, failed by an
//! expression, quarantined by a rule) keeps them, so that the whole record can be found
//! in its source, and its payload holds the columns the plan reads. Where nothing may
//! reject a source's rows (only sinks, and projections and filters no row can fail, come
//! after it) and nothing reads its coordinates, they are not built at all, not even when
//! every other column is decoded.

use std::collections::{BTreeMap, BTreeSet};

use arrow::datatypes::SchemaRef;

use super::{CompiledOperator, CompiledPlan, OperatorKind};
use crate::stream_join::StreamJoinState;
use crate::table_feed::COORDINATES;

/// The column of a row's id that dead letters copy.
const EVENT_ID: &str = "event_id";

impl CompiledPlan {
    /// For each source whose rows the plan reads only in part, the columns it reads, in
    /// the source schema's order (`event_id` included, and its coordinate columns when an
    /// operator may reject its rows). With `whole`, every column but the coordinates counts
    /// as read (`source-columns: all`): only the coordinates nothing needs are left out.
    /// Sources read whole are left out.
    pub fn source_reads(&self, whole: bool) -> BTreeMap<String, Vec<String>> {
        let Backwards {
            mut needs,
            rejected: mut located,
            ..
        } = self.read_backwards();
        // `watermark.max-future` bounds the main source's event time as rows are read, and
        // makes dead letters of those beyond the bound.
        for (_, time) in self.plan.event_time_operators() {
            if let Some(time) = time {
                needs.add(&self.plan.source, [time]);
            }
            located.insert(self.plan.source.clone());
        }
        // A source's own coordinates; the upstream ones are a sluice-written table's data.
        let own = &COORDINATES[..3];
        let mut reads = BTreeMap::new();
        for source in self.plan.sources() {
            let schema = &self.schemas[source];
            let needed = needs.take(source);
            let located =
                located.contains(source) || COORDINATES.iter().any(|c| needed.contains(*c));
            let columns: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| f.name())
                .filter(|n| {
                    (located && COORDINATES.contains(&n.as_str()))
                        || (!own.contains(&n.as_str())
                            && (whole
                                || needed.contains(&n.to_lowercase())
                                || n.as_str() == EVENT_ID))
                })
                .cloned()
                .collect();
            if columns.len() < schema.fields().len() {
                reads.insert(source.to_owned(), columns);
            }
        }
        reads
    }

    /// For each stream join some of whose output columns nothing after it reads, the
    /// columns that are read, in lowercase, by operator name: its state need not hold the
    /// others ([`StreamJoinState::narrowed`](crate::stream_join::StreamJoinState::narrowed)).
    pub(crate) fn stream_join_reads(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.read_backwards().joins
    }

    /// What the sinks and operators read, walking the plan back from its sinks: what each
    /// source is read for, what is read of each stream join's output (by operator name,
    /// for those some of whose columns nothing reads), and which streams' rows an operator
    /// after them may reject.
    ///
    /// A join's rows that an operator after it may reject (a failing expression, a
    /// rule, a late row) become dead letters located by their sides' coordinates: those
    /// are then read too. Only projections and filters whose expressions no row can fail
    /// ([`SqlExpr::cannot_fail`](crate::expr::SqlExpr::cannot_fail)), and sinks, reject
    /// nothing.
    fn read_backwards(&self) -> Backwards {
        let mut needs = Needs::default();
        for sink in &self.plan.sinks {
            if let Some(schema) = self.schemas.get(&sink.input) {
                needs.all(&sink.input, schema);
            }
        }
        // The streams some of whose rows an operator after them may reject.
        let mut rejected = BTreeSet::new();
        let mut joins = BTreeMap::new();
        for (op, compiled) in self.plan.operators.iter().zip(&self.operators).rev() {
            let mut output = needs.take(&op.name);
            let input = &self.schemas[&op.input];
            let rejected_after = rejected.contains(&op.name);
            let rejects = match compiled {
                CompiledOperator::Project(projection) => projection.can_reject(),
                CompiledOperator::Filter(predicate) => !predicate.cannot_fail(),
                CompiledOperator::Unnest(_) | CompiledOperator::WindowAssign(_) => false,
                _ => true,
            };
            if rejects || rejected_after {
                rejected.insert(op.input.clone());
                rejected.extend(other_row_inputs(&op.kind).map(str::to_owned));
            }
            if let CompiledOperator::StreamJoin { spec, .. } = compiled {
                if rejected_after {
                    for prefix in [&spec.left_prefix, &spec.right_prefix] {
                        output.extend(
                            COORDINATES
                                .iter()
                                .map(|c| format!("{prefix}{c}").to_lowercase()),
                        );
                    }
                }
                let all = column_names(&self.schemas[&op.name]);
                if !all.is_subset(&output) {
                    joins.insert(op.name.clone(), output.clone());
                }
            }
            self.operator_needs(op, compiled, input, output, &mut needs);
        }
        Backwards {
            needs,
            joins,
            rejected,
        }
    }

    /// For each stream join, a line saying which columns of each side its state holds
    /// (`sluice explain --check`).
    ///
    /// # Errors
    /// When a join does not fit its inputs' schemas (it then does not compile either).
    pub fn stream_join_holdings(&self) -> crate::error::Result<Vec<String>> {
        let mut lines = Vec::new();
        for (op, compiled) in self.plan.operators.iter().zip(&self.operators) {
            let CompiledOperator::StreamJoin {
                spec,
                left,
                right,
                read,
            } = compiled
            else {
                continue;
            };
            let state = match read {
                Some(read) => StreamJoinState::narrowed(spec.clone(), left, right, read)?,
                None => StreamJoinState::new(spec.clone(), left, right)?,
            };
            let [l, r] = state.held();
            lines.push(format!(
                "state `{}` holds, of `{}`: {}; of `{}`: {}",
                spec.name,
                op.input,
                l.join(", "),
                spec.right,
                r.join(", ")
            ));
        }
        Ok(lines)
    }

    /// Adds what `op` needs of its input streams, given that its readers need `output` of
    /// its output.
    fn operator_needs(
        &self,
        op: &super::Operator,
        compiled: &CompiledOperator,
        input: &SchemaRef,
        output: BTreeSet<String>,
        needs: &mut Needs,
    ) {
        let stream = op.input.as_str();
        match (&op.kind, compiled) {
            (OperatorKind::Filter { .. }, CompiledOperator::Filter(predicate)) => {
                needs.add(stream, output);
                needs.add(stream, predicate.columns());
            }
            (OperatorKind::Rules(set), CompiledOperator::Rules(rules)) => {
                needs.add(stream, output);
                for rule in rules {
                    if let crate::stateless::Check::Sql(e) = &rule.check {
                        needs.add(stream, e.columns());
                    }
                }
                for key_rule in &set.key_rules {
                    needs.add(stream, key_rule.keys.iter().cloned());
                }
            }
            (
                OperatorKind::Project {
                    keep_input,
                    keep_coordinates,
                    ..
                },
                CompiledOperator::Project(projection),
            ) => {
                // Names of computed columns read by later ones are not input columns: kept
                // only where the input has the name.
                let read = projection.columns_read();
                let names = column_names(input);
                needs.add(
                    stream,
                    read.into_iter()
                        .filter(|c| names.contains(&c.to_lowercase())),
                );
                if *keep_input {
                    needs.add(stream, output.into_iter().filter(|c| names.contains(c)));
                } else if *keep_coordinates {
                    needs.add(stream, COORDINATES.iter().map(|c| (*c).to_owned()));
                }
            }
            (OperatorKind::Window(spec), _) => {
                needs.add(stream, spec.keys.iter().cloned());
                needs.add(
                    stream,
                    spec.aggregates.iter().filter_map(|a| a.column.clone()),
                );
                needs.add(stream, spec.gap_column.iter().cloned());
                if !spec.time_column.is_empty() {
                    needs.add(
                        spec.watermark_from.as_deref().unwrap_or(stream),
                        [&spec.time_column],
                    );
                    needs.add(stream, [&spec.time_column]);
                }
                for also in &spec.watermark_also {
                    needs.add(&also.stream, [&also.time_column]);
                }
            }
            (OperatorKind::WindowTopN(spec), _) => {
                needs.all(stream, input);
                needs.add(
                    spec.watermark_from.as_deref().unwrap_or(stream),
                    [&spec.time_column],
                );
            }
            (OperatorKind::Dedup(spec), _) => {
                needs.add(stream, output);
                needs.add(stream, spec.keys.iter().cloned());
                needs.add(stream, [&spec.time_column]);
                needs.add(
                    spec.watermark_from.as_deref().unwrap_or(stream),
                    [&spec.time_column],
                );
                for also in &spec.watermark_also {
                    needs.add(&also.stream, [&also.time_column]);
                }
            }
            (OperatorKind::TopN(spec), _) => {
                needs.add(stream, output);
                needs.add(stream, spec.partition_by.iter().cloned());
                needs.add(stream, spec.order_by.iter().map(|k| k.column.clone()));
                if spec.ranking == crate::top_n::Ranking::RowNumber {
                    // The rest of the row breaks ties.
                    needs.all(stream, input);
                }
            }
            (OperatorKind::StreamJoin(spec), CompiledOperator::StreamJoin { left, right, .. }) => {
                // What its state holds of each side, given what is read of its output, and
                // the coordinates that locate a late row.
                let held = StreamJoinState::new(spec.clone(), left, right)
                    .map(|state| state.held_columns(&output));
                match held {
                    Ok([l, r]) => {
                        let coordinates = COORDINATES.iter().map(|c| (*c).to_owned());
                        needs.add(stream, l.into_iter().chain(coordinates.clone()));
                        needs.add(&spec.right, r.into_iter().chain(coordinates));
                    }
                    Err(_) => {
                        needs.all(stream, input);
                        needs.all(&spec.right, &self.schemas[&spec.right]);
                    }
                }
                if let Some(from) = &spec.left_watermark_from {
                    needs.add(from, [&spec.left_time]);
                }
                if let Some(from) = &spec.right_watermark_from {
                    needs.add(from, [&spec.right_time]);
                }
            }
            (OperatorKind::Unnest(spec), _) => {
                // What it adds (the element, a position) is no column of its input.
                let names = column_names(input);
                needs.add(stream, output.into_iter().filter(|c| names.contains(c)));
                needs.add(stream, [&spec.column]);
            }
            (OperatorKind::WindowAssign(spec), _) => {
                // What it adds (the window's columns) is no column of its input.
                let names = column_names(input);
                needs.add(stream, output.into_iter().filter(|c| names.contains(c)));
                needs.add(stream, [&spec.time_column]);
            }
            (OperatorKind::Union { others }, _) => {
                needs.all(stream, input);
                for other in others {
                    needs.all(other, &self.schemas[other]);
                }
            }
            // Joins with tables and epoch aggregates read their input whole.
            _ => needs.all(stream, input),
        }
    }
}

/// What [`CompiledPlan::read_backwards`] finds.
struct Backwards {
    /// What each source is read for.
    needs: Needs,
    /// What is read of each stream join's output, for those some of whose columns nothing
    /// reads.
    joins: BTreeMap<String, BTreeSet<String>>,
    /// The streams some of whose rows an operator after them may reject.
    rejected: BTreeSet<String>,
}

/// The streams besides its input whose rows an operator takes in: a stream join's right
/// side, a union's other inputs.
fn other_row_inputs(kind: &OperatorKind) -> impl Iterator<Item = &str> {
    let others: &[String] = match kind {
        OperatorKind::StreamJoin(spec) => std::slice::from_ref(&spec.right),
        OperatorKind::Union { others } => others,
        _ => &[],
    };
    others.iter().map(String::as_str)
}

/// The names of `schema`'s columns, in lowercase as [`Needs`] holds them.
fn column_names(schema: &SchemaRef) -> BTreeSet<String> {
    schema
        .fields()
        .iter()
        .map(|f| f.name().to_lowercase())
        .collect()
}

/// The columns each stream's readers need, by stream name, in lowercase: a plan may name a
/// column in another case than its schema (names resolve whatever their case).
#[derive(Default)]
struct Needs(BTreeMap<String, BTreeSet<String>>);

impl Needs {
    fn add<S: Into<String>>(&mut self, stream: &str, columns: impl IntoIterator<Item = S>) {
        self.0
            .entry(stream.to_owned())
            .or_default()
            .extend(columns.into_iter().map(|c| c.into().to_lowercase()));
    }

    fn all(&mut self, stream: &str, schema: &SchemaRef) {
        self.add(stream, column_names(schema));
    }

    /// What the readers of `stream` need, all of them being known: every reader of a
    /// stream comes after it in the plan.
    fn take(&mut self, stream: &str) -> BTreeSet<String> {
        self.0.remove(stream).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;
    use crate::dedup::DedupSpec;
    use crate::plan::{Plan, PlanBuilder, StaticInputs};
    use crate::window::{AggregateFn, WindowKind, WindowSpec};

    fn schema() -> SchemaRef {
        let text = |n: &str| Field::new(n, DataType::Utf8, true);
        Arc::new(Schema::new(vec![
            text("user_id"),
            Field::new("value", DataType::Int64, true),
            text("url"),
            text("country"),
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            text("source"),
            Field::new("partition", DataType::Int32, true),
            Field::new("offset", DataType::Int64, true),
        ]))
    }

    fn per_user() -> WindowSpec {
        let minute = WindowKind::Tumbling {
            size: Duration::from_secs(60),
        };
        WindowSpec::new("per_user", minute, "event_time")
            .with_keys(["user_id"])
            .with_aggregate("total", AggregateFn::Sum, Some("value"))
    }

    fn compiled(plan: PlanBuilder) -> CompiledPlan {
        let plan: Plan = plan.dead_letters("dlq").build().expect("a valid plan");
        CompiledPlan::compile(plan, &schema(), &StaticInputs::default()).expect("compiles")
    }

    fn reads(plan: PlanBuilder) -> Option<Vec<String>> {
        compiled(plan).source_reads(false).remove("events")
    }

    fn names(columns: &[&str]) -> Option<Vec<String>> {
        Some(columns.iter().map(|c| (*c).to_owned()).collect())
    }

    #[test]
    fn a_window_reads_its_keys_time_aggregates_and_the_filter_s_columns() {
        let plan = PlanBuilder::new("clicks", "events")
            .filter("valid", "events", "country = 'FR'")
            .window("per_user", "valid", per_user())
            .sink("gold", "per_user");
        assert_eq!(
            reads(plan),
            names(&[
                "user_id",
                "value",
                "country",
                "event_time",
                "source",
                "partition",
                "offset"
            ])
        );
    }

    #[test]
    fn a_source_a_sink_writes_is_read_whole() {
        let plan = PlanBuilder::new("clicks", "events")
            .window("per_user", "events", per_user())
            .sink("bronze", "events")
            .sink("gold", "per_user");
        assert_eq!(reads(plan), None);
        let star = PlanBuilder::new("clicks", "events")
            .project("wide", "events", true, &[("cents", "value * 100")])
            .sink("silver", "wide");
        assert_eq!(reads(star), None);
    }

    #[test]
    fn a_projection_reads_what_its_expressions_read() {
        let plan = PlanBuilder::new("clicks", "events")
            .project(
                "lengths",
                "events",
                false,
                &[("n", "length(url)"), ("twice", "n * 2")],
            )
            .sink("silver", "lengths");
        assert_eq!(
            reads(plan),
            names(&["url", "source", "partition", "offset"])
        );
    }

    #[test]
    fn an_unnest_reads_its_array_and_what_is_read_of_its_other_columns() {
        let spec = crate::unnest::UnnestSpec {
            column: "parts".into(),
            element: "part".into(),
            outer: false,
            position: Some(crate::unnest::Position {
                name: "pos".into(),
                first: 0,
            }),
            fields: None,
        };
        let plan = PlanBuilder::new("clicks", "events")
            .project(
                "split",
                "events",
                true,
                &[("parts", "string_to_array(url, '/')")],
            )
            .unnest("parts", "split", spec)
            .project(
                "picked",
                "parts",
                false,
                &[("user_id", "user_id"), ("part", "part"), ("pos", "pos")],
            )
            .sink("silver", "picked");
        // Not `part` or `pos`, which the unnest adds; the coordinates, as the array's
        // expression may fail.
        assert_eq!(
            reads(plan),
            names(&["user_id", "url", "source", "partition", "offset"])
        );
    }

    #[test]
    fn coordinates_are_read_only_where_a_row_may_be_rejected() {
        let picks = |extra: (&'static str, &'static str)| {
            PlanBuilder::new("clicks", "events")
                .project(
                    "picked",
                    "events",
                    false,
                    &[("u", "user_id"), ("v", "value"), ("one", "1"), extra],
                )
                .sink("silver", "picked")
        };
        // Bare columns and constants reject no row: no coordinates, even when every
        // other column is decoded.
        let bare = compiled(picks(("c", "country")));
        assert_eq!(
            bare.source_reads(false).remove("events"),
            names(&["user_id", "value", "country"])
        );
        assert_eq!(
            bare.source_reads(true).remove("events"),
            names(&["user_id", "value", "url", "country", "event_time"])
        );
        // Reading a coordinate reads all three.
        assert_eq!(
            reads(picks(("at", "\"offset\""))),
            names(&["user_id", "value", "source", "partition", "offset"])
        );
        // An expression a row may fail on keeps them, to locate its dead letters.
        let failing = compiled(picks(("n", "CAST(country AS BIGINT)")));
        assert_eq!(
            failing.source_reads(false).remove("events"),
            names(&[
                "user_id",
                "value",
                "country",
                "source",
                "partition",
                "offset"
            ])
        );
        assert_eq!(failing.source_reads(true).remove("events"), None);
        // So does a window after the projection, for its late rows.
        let windowed = PlanBuilder::new("clicks", "events")
            .project(
                "picked",
                "events",
                false,
                &[
                    ("user_id", "user_id"),
                    ("value", "value"),
                    ("event_time", "event_time"),
                ],
            )
            .window("per_user", "picked", per_user())
            .sink("gold", "per_user");
        assert_eq!(
            reads(windowed),
            names(&[
                "user_id",
                "value",
                "event_time",
                "source",
                "partition",
                "offset"
            ])
        );
    }

    #[test]
    fn a_deduplication_passes_on_what_its_readers_read() {
        let dedup = DedupSpec::new("once", ["user_id"], "event_time", Duration::from_secs(60));
        let plan = PlanBuilder::new("clicks", "events")
            .dedup("once", "events", dedup)
            .project("urls", "once", false, &[("u", "upper(url)")])
            .sink("silver", "urls");
        assert_eq!(
            reads(plan),
            names(&[
                "user_id",
                "url",
                "event_time",
                "source",
                "partition",
                "offset"
            ])
        );
    }

    /// A join of the events with themselves (`clicks`) by user within a minute, of whose
    /// output only the left URL is read: its state holds the keys, the times and that URL,
    /// and the source is read for nothing else.
    #[test]
    fn a_stream_join_holds_only_what_it_and_its_readers_read() {
        let spec = crate::stream_join::StreamJoinSpec {
            name: "pairs".into(),
            right: "clicks".into(),
            left_keys: vec!["user_id".into()],
            right_keys: vec!["user_id".into()],
            left_time: "event_time".into(),
            right_time: "event_time".into(),
            max_offset_us: 60_000_000,
            left_prefix: "l.".into(),
            right_prefix: "r.".into(),
            ..Default::default()
        };
        let plan = PlanBuilder::new("clicks", "events")
            .project("clicks", "events", true, &[])
            .stream_join("pairs", "events", spec.clone())
            .project("urls", "pairs", false, &[("url", "\"l.url\"")])
            .sink("silver", "urls");
        let joined = compiled(plan);
        assert_eq!(
            joined.stream_join_reads().get("pairs"),
            Some(&BTreeSet::from(["l.url".to_owned()]))
        );
        let held: Vec<&str> = joined.schemas["pairs"]
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            held,
            [
                "l.user_id",
                "l.url",
                "l.event_time",
                "r.user_id",
                "r.event_time"
            ]
        );
        assert_eq!(
            joined.stream_join_holdings().expect("compiles"),
            [
                "state `pairs` holds, of `events`: user_id, url, event_time; of `clicks`: \
              user_id, event_time"
            ]
        );
        assert_eq!(
            joined.source_reads(false).remove("events"),
            names(&[
                "user_id",
                "url",
                "event_time",
                "source",
                "partition",
                "offset"
            ])
        );
        // A projection after the join that may fail on a row: the row would be a dead
        // letter located by its sides' coordinates, which the join then holds; so it does
        // when a filter comes between.
        let failing = |between: bool| {
            let mut plan = PlanBuilder::new("clicks", "events")
                .project("clicks", "events", true, &[])
                .stream_join("pairs", "events", spec.clone());
            let mut input = "pairs";
            if between {
                plan = plan.filter("valid", "pairs", "\"l.value\" > 0");
                input = "valid";
            }
            let plan = plan
                .project(
                    "ratios",
                    input,
                    false,
                    &[("ratio", "\"l.value\" / \"r.value\"")],
                )
                .sink("silver", "ratios");
            compiled(plan).stream_join_reads().remove("pairs")
        };
        let mut located = BTreeSet::from(["l.value".to_owned(), "r.value".to_owned()]);
        for p in ["l.", "r."] {
            located.extend(["source", "partition", "offset"].map(|c| format!("{p}{c}")));
        }
        for between in [false, true] {
            let read = failing(between).expect("narrowed");
            assert!(read.is_superset(&located), "{between}: {read:?}");
        }
    }

    #[test]
    fn the_narrowed_plan_compiles_and_writes_the_same_columns() {
        let mut plan = PlanBuilder::new("clicks", "events")
            .filter("valid", "events", "country = 'FR'")
            .window("per_user", "valid", per_user())
            .sink("gold", "per_user");
        // A projection dropping a column that is then never decoded.
        plan = plan
            .operator(
                "no_url",
                "events",
                OperatorKind::Project {
                    columns: Vec::new(),
                    keep_input: true,
                    drop: vec!["url".into()],
                    keep_coordinates: false,
                },
            )
            .project("values", "no_url", false, &[("v", "value + 1")])
            .sink("silver", "values");
        let whole = compiled(plan);
        let columns = whole
            .source_reads(false)
            .remove("events")
            .expect("narrowed");
        assert!(!columns.contains(&"url".to_owned()));
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let indices: Vec<usize> = names
            .iter()
            .map(|c| schema().index_of(c).expect("a source column"))
            .collect();
        let narrow = Arc::new(schema().project(&indices).expect("projects"));
        let before = [
            Arc::clone(whole.sink_schema("gold").expect("gold")),
            Arc::clone(whole.sink_schema("silver").expect("silver")),
        ];
        let sources = BTreeMap::from([("events".to_owned(), narrow)]);
        let narrowed = whole
            .narrowed(&sources, &StaticInputs::default())
            .expect("the narrowed plan compiles");
        assert_eq!(narrowed.sink_schema("gold"), Some(&before[0]));
        assert_eq!(narrowed.sink_schema("silver"), Some(&before[1]));
        assert_eq!(narrowed.source_reads(false), BTreeMap::new());
    }
}
