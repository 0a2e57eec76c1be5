//! `CREATE TABLE` statements: the source (its connector, schema, rules and watermark) and
//! the options of the tables queries write.

use crate::sql::error::SqlError;
use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::sql::sqlparser::ast::helpers::stmt_create_table::CreateTableBuilder;
use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, Expr, Statement, TableConstraint,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde_norway::{Mapping, Value};
use sluice_engine::plan::RuleSet;

use super::insert::Insert;
use super::query::unsupported;

mod aliases;
mod computed;
mod lookup;
mod metadata;
mod sink;
mod watermark;
use super::text::unquote;
pub use lookup::Lookup;
pub use sink::SinkTable;

/// The source table of a SQL job.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceTable {
    /// Its name, which queries read `FROM`.
    pub name: String,
    /// The job-file key of its connector (`generator`, `kafka`, ...).
    pub connector: String,
    /// The connector's options, as YAML values.
    pub options: BTreeMap<String, Value>,
    /// The record format, when given.
    pub format: Option<String>,
    /// The declared columns `(name, job-file type, nullable)`.
    pub columns: Vec<(String, String, bool)>,
    /// `CHECK` constraints `(name, SQL)`, in order.
    pub checks: Vec<(String, String)>,
    /// `WATERMARK FOR column AS column - INTERVAL ...`: the event-time column and delay.
    pub watermark: Option<(String, Duration)>,
    /// Computed columns `(name, SQL)`, as Flink declares them (`ts AS ...`), in order;
    /// first those of metadata columns named otherwise than the source's column.
    pub computed: Vec<(String, String)>,
    /// Metadata columns named as the Kafka source's own (`partition`, `offset`).
    pub metadata: Vec<String>,
    /// A lookup table (`'lookup' = 'broadcast' | 'keyed' | 'follow'`): a Delta table or
    /// files read whole, which queries join (Spark's stream–static join), never read as
    /// a stream.
    pub lookup: Option<Lookup>,
}

/// A SQL job's statements, sorted out.
pub(super) struct Parsed {
    /// The source tables, in declaration order: the first is the job's main source; then
    /// the lookup tables, in declaration order.
    pub(super) sources: Vec<SourceTable>,
    pub(super) sinks: BTreeMap<String, SinkTable>,
    pub(super) inserts: Vec<Insert>,
    /// The views, by name.
    pub(super) views: super::views::Views,
}

type Failure = (String, SqlError);

/// Sorts the statements into the sources, the sink declarations and the queries.
pub(super) fn parse_all(statements: &[String]) -> Result<Parsed, Failure> {
    let mut inserts = Vec::new();
    let mut creates = Vec::new();
    let mut views = super::views::Views::new();
    // The tables read `FOR SYSTEM_TIME AS OF`, each with its statement.
    let mut system_time: Vec<(String, String)> = Vec::new();
    for s in statements {
        let head: String = s.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        let head = head.to_ascii_uppercase();
        if head.starts_with("INSERT") || head.starts_with("WITH") {
            let insert = Insert::parse(s).map_err(|e| (s.clone(), e))?;
            system_time.extend(insert.system_time.iter().map(|t| (s.clone(), t.clone())));
            inserts.push(insert);
        } else if head.starts_with("CREATE TABLE ") {
            creates.push(s.clone());
        } else if head.starts_with("CREATE TEMPORARY TABLE") {
            // Flink's temporary table: a job's tables all live as long as the job.
            let at = s.to_ascii_uppercase().find("TEMPORARY").unwrap_or_default();
            creates.push(format!(
                "{}{}",
                &s[..at],
                s[at + "TEMPORARY".len()..].trim_start()
            ));
        } else if head.starts_with("CREATE VIEW ")
            || head.starts_with("CREATE TEMPORARY VIEW")
            || head.starts_with("CREATE MATERIALIZED VIEW")
        {
            let (name, query, tables) = super::views::parse(s).map_err(|e| (s.clone(), e))?;
            system_time.extend(tables.into_iter().map(|t| (s.clone(), t)));
            if views.insert(name.clone(), query).is_some() {
                return Err((
                    s.clone(),
                    SqlError::Invalid(format!("view `{name}` is declared twice")),
                ));
            }
        } else {
            return Err((
                s.clone(),
                "`SET`, `CREATE TABLE`, `CREATE VIEW` or `INSERT INTO ... SELECT` (a query \
                 that writes nowhere does nothing in a streaming job)"
                    .into(),
            ));
        }
    }
    let targets: Vec<&str> = inserts.iter().map(|i| i.target.as_str()).collect();
    let mut sources: Vec<SourceTable> = Vec::new();
    let mut sinks = BTreeMap::new();
    for s in creates {
        let table = CreateStatement::parse(&s).map_err(|e| (s.clone(), e))?;
        if views.contains_key(&table.name) {
            return Err((
                s.clone(),
                SqlError::Invalid(format!("`{}` is both a table and a view", table.name)),
            ));
        }
        if targets.contains(&table.name.as_str()) {
            let sink = table.sink().map_err(|e| (s.clone(), e))?;
            let name = sink.name.clone();
            if sinks.insert(name.clone(), sink).is_some() {
                return Err((
                    s.clone(),
                    SqlError::Invalid(format!("table `{name}` is declared twice")),
                ));
            }
        } else if sources.iter().any(|t| t.name == table.name) {
            return Err((
                s.clone(),
                SqlError::Invalid(format!("table `{}` is declared twice", table.name)),
            ));
        } else {
            sources.push(table.source().map_err(|e| (s.clone(), e))?);
        }
    }
    // The lookup tables after the sources: the first table is the job's main source.
    sources.sort_by_key(|t| t.lookup.is_some());
    if let Some((s, table)) = system_time
        .into_iter()
        .find(|(_, t)| !sources.iter().any(|s| s.name == *t && s.lookup.is_some()))
    {
        return Err((
            s,
            unsupported(
                &format!("`{table} FOR SYSTEM_TIME AS OF ...` of a table read as a stream"),
                &format!(
                    "a lookup join reads a lookup table, declared with 'lookup' = 'broadcast' \
                     (or 'keyed', 'follow') in CREATE TABLE {table}; Flink's temporal join \
                     of a versioned stream does not run"
                ),
            ),
        ));
    }
    Ok(Parsed {
        sources,
        sinks,
        inserts,
        views,
    })
}

/// A `CREATE TABLE` taken apart.
struct CreateStatement {
    name: String,
    options: BTreeMap<String, String>,
    columns: Vec<(String, String, bool)>,
    checks: Vec<(String, String)>,
    watermark: Option<(String, Duration)>,
    computed: Vec<(String, String)>,
    metadata: Vec<metadata::Metadata>,
    /// `PRIMARY KEY (a, b) NOT ENFORCED`: a table written by INSERT is upserted by it.
    primary_key: Option<Vec<String>>,
}

impl CreateStatement {
    fn parse(statement: &str) -> Result<Self, SqlError> {
        let (body, options) = split_with(statement)?;
        let (body, watermark) = watermark::split(&body)?;
        let (body, computed) = computed::split(&body)?;
        let (body, metadata) = metadata::split(&body)?;
        let body = flink_nested_types(&body);
        let statements = Parser::parse_sql(&GenericDialect {}, &body)
            .map_err(|e| SqlError::Invalid(format!("a CREATE TABLE statement: {e}")))?;
        let [
            Statement::CreateTable(
                create @ CreateTable {
                    name,
                    columns,
                    constraints,
                    if_not_exists,
                    ..
                },
            ),
        ] = statements.as_slice()
        else {
            return Err("one CREATE TABLE statement".into());
        };
        // Any clause but the columns and constraints (PARTITIONED BY, AS SELECT, LIKE,
        // a comment, ...) would be ignored: the statement must print as those alone do.
        let plain = CreateTableBuilder::new(name.clone())
            .columns(columns.clone())
            .constraints(constraints.clone())
            .if_not_exists(*if_not_exists)
            .build();
        if plain.to_string() != create.to_string() {
            return Err(SqlError::Invalid(format!(
                "`{create}`: CREATE TABLE takes columns, CHECK constraints, a WATERMARK and \
                 WITH (...) options; its other clauses are not run (a table's partitions are \
                 `'partition-by'` in WITH, and a query's rows go to it with INSERT INTO)"
            )));
        }
        let mut checks = Vec::new();
        let mut primary_key: Option<Vec<String>> = None;
        let columns = columns
            .iter()
            .map(|c| {
                let mut nullable = true;
                for option in &c.options {
                    match &option.option {
                        ColumnOption::NotNull => nullable = false,
                        ColumnOption::PrimaryKey(_) if primary_key.is_none() => {
                            primary_key = Some(vec![c.name.value.clone()]);
                        }
                        ColumnOption::Null | ColumnOption::Comment(_) => {}
                        // A column's CHECK is a rule as a table's is, named after it.
                        ColumnOption::Check(check) => checks.push((
                            check.name.as_ref().map_or_else(
                                || format!("{}_check", c.name.value),
                                |n| n.value.clone(),
                            ),
                            check.expr.to_string(),
                        )),
                        other => {
                            return Err(SqlError::Invalid(format!(
                                "`{} {other}`: a column takes NOT NULL, NULL, CHECK (...) and \
                                 COMMENT; a default, key or generated value is not applied",
                                c.name
                            )));
                        }
                    }
                }
                Ok((
                    c.name.value.clone(),
                    field_type(&c.data_type.to_string())?,
                    nullable,
                ))
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        for (i, (column, _, _)) in columns.iter().enumerate() {
            if columns[..i].iter().any(|(c, _, _)| c == column)
                || computed.iter().any(|(c, _)| c == column)
                || metadata.iter().any(|m| &m.name == column)
            {
                return Err(SqlError::Invalid(format!(
                    "column `{column}` is declared twice"
                )));
            }
        }
        let computed = metadata::computed(&metadata)
            .into_iter()
            .chain(computed)
            .collect::<Vec<_>>();
        for (i, constraint) in constraints.iter().enumerate() {
            let check = match constraint {
                TableConstraint::Check(check) => check,
                TableConstraint::PrimaryKey(key) if primary_key.is_none() => {
                    primary_key = Some(
                        key.columns
                            .iter()
                            .map(|c| match &c.column.expr {
                                Expr::Identifier(id) => Ok(id.value.clone()),
                                other => Err(SqlError::Invalid(format!(
                                    "`{constraint}`: `{other}` is not a column name"
                                ))),
                            })
                            .collect::<Result<_, _>>()?,
                    );
                    continue;
                }
                _ => {
                    return Err(SqlError::Invalid(format!(
                        "`{constraint}`: a table takes CHECK constraints (a source's \
                         data-quality rules) and one PRIMARY KEY (a written table's upsert \
                         key) only"
                    )));
                }
            };
            let name = check
                .name
                .as_ref()
                .map_or_else(|| format!("check_{}", i + 1), |n| n.value.clone());
            checks.push((name, check.expr.to_string()));
        }
        let watermark = watermark
            .map(|w| watermark::of(&w, &columns, &computed))
            .transpose()?;
        Ok(Self {
            name: name.to_string(),
            options,
            columns,
            checks,
            watermark,
            computed,
            metadata,
            primary_key,
        })
    }

    fn source(mut self) -> Result<SourceTable, SqlError> {
        if let Some(key) = &self.primary_key {
            return Err(SqlError::Invalid(format!(
                "PRIMARY KEY ({}) on a source table: its rows are read as they come (an \
                 upsert or change stream keyed by it is not read); leave the key out",
                key.join(", ")
            )));
        }
        let lookup = lookup::of(&mut self)?;
        let connector = self.options.remove("connector").ok_or_else(|| {
            "a `'connector'` option: generator, kafka, kinesis, files, delta-source or nexmark"
                .to_owned()
        })?;
        let connector = match connector.as_str() {
            "generator" | "kafka" | "kinesis" | "files" | "nexmark" => connector,
            // Flink's name of its file source.
            "filesystem" => "files".to_owned(),
            "delta-source" | "delta" => "delta".to_owned(),
            other => {
                return Err(SqlError::Invalid(format!(
                    "connector `{other}`: generator, kafka, kinesis, files, delta-source or nexmark"
                )));
            }
        };
        self.options = aliases::translate(&connector, std::mem::take(&mut self.options))?;
        // A file source's format is the files' (`files.format`); the others' is the
        // records' (`source.format`).
        let format = if connector == "files" {
            None
        } else {
            self.options.remove("format")
        };
        let mut options: BTreeMap<String, Value> = self
            .options
            .into_iter()
            .map(|(k, v)| {
                let value = serde_norway::from_str(&v).unwrap_or(Value::String(v));
                (k, value)
            })
            .collect();
        metadata::read(&connector, &self.metadata, &mut options)?;
        Ok(SourceTable {
            name: self.name,
            connector,
            options,
            format,
            columns: self.columns,
            checks: self.checks,
            watermark: self.watermark,
            computed: self.computed,
            metadata: metadata::as_they_are(&self.metadata),
            lookup,
        })
    }
}

impl SourceTable {
    /// Writes the source's settings into the job's settings document `doc`, and the
    /// defaults of what the statements did not set.
    pub(super) fn settings(&self, doc: &mut Mapping) {
        merge(doc, "source", Value::Mapping(self.source_mapping()));
        let job_id = doc
            .get("job-id")
            .and_then(Value::as_str)
            .unwrap_or("sql-job")
            .to_owned();
        defaults(doc, &job_id);
    }

    /// The source's settings, as a job file's `source` holds them.
    pub(super) fn source_mapping(&self) -> Mapping {
        let mut source = Mapping::new();
        let options: Mapping = self
            .options
            .iter()
            .map(|(k, v)| (Value::String(k.clone()), v.clone()))
            .collect();
        source.insert(self.connector.as_str().into(), Value::Mapping(options));
        if let Some(format) = &self.format {
            source.insert("format".into(), format.as_str().into());
        }
        if !self.columns.is_empty() {
            let fields = self
                .columns
                .iter()
                .map(|(name, ty, nullable)| {
                    let mut f = Mapping::new();
                    f.insert("name".into(), name.as_str().into());
                    f.insert("type".into(), ty.as_str().into());
                    f.insert("nullable".into(), (*nullable).into());
                    Value::Mapping(f)
                })
                .collect();
            source.insert("schema".into(), Value::Sequence(fields));
        }
        source
    }
}

/// Writes into the job's settings `doc` the defaults of what the statements did not set.
fn defaults(doc: &mut Mapping, job_id: &str) {
    let output = entry(doc, "output");
    if !output.contains_key("dir") {
        output.insert("dir".into(), format!("sluice-{job_id}").into());
    }
    let tables = entry(output, "tables");
    for (key, default) in [
        ("silver", Value::from("")),
        ("gold", Value::from("")),
        ("dead-letters", Value::from("dead_letters")),
        ("bronze", Value::Null),
    ] {
        if !tables.contains_key(key) {
            tables.insert(key.into(), default);
        }
    }
}

impl SourceTable {
    /// The stream the queries read: the rows that pass the `CHECK` rules, or the source's.
    pub(super) fn checked_stream(&self) -> String {
        if self.checks.is_empty() {
            self.computed_stream()
        } else {
            format!("{}/checked", self.name)
        }
    }

    /// The stream of the source's rows with its computed columns: what its `CHECK`
    /// rules read (the source's own stream when it has none).
    pub(super) fn computed_stream(&self) -> String {
        if self.computed.is_empty() {
            self.name.clone()
        } else {
            format!("{}/computed", self.name)
        }
    }

    /// The names of the table's columns: the declared ones, then the computed ones.
    pub(super) fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .map(|(name, _, _)| name.as_str())
            .chain(self.computed.iter().map(|(name, _)| name.as_str()))
            .chain(self.metadata.iter().map(String::as_str))
    }

    /// The `CHECK` constraints as data-quality rules.
    pub(super) fn rule_set(&self) -> Option<RuleSet> {
        (!self.checks.is_empty()).then(|| RuleSet {
            rules: self.checks.clone(),
            ..RuleSet::default()
        })
    }
}

/// `doc[key]` as a mapping, created when absent.
fn entry<'a>(doc: &'a mut Mapping, key: &str) -> &'a mut Mapping {
    if !matches!(doc.get(key), Some(Value::Mapping(_))) {
        doc.insert(key.into(), Value::Mapping(Mapping::new()));
    }
    match doc.get_mut(key) {
        Some(Value::Mapping(m)) => m,
        _ => unreachable!("inserted above"),
    }
}

/// Merges `value` into `doc[key]`, keeping what `doc` already has (a `SET` wins).
fn merge(doc: &mut Mapping, key: &str, value: Value) {
    match (doc.get_mut(key), value) {
        (Some(Value::Mapping(existing)), Value::Mapping(new)) => {
            for (k, v) in new {
                match existing.get_mut(&k) {
                    Some(Value::Mapping(_)) => {
                        let k = k.as_str().unwrap_or_default().to_owned();
                        merge(existing, &k, v);
                    }
                    Some(_) => {}
                    None => {
                        existing.insert(k, v);
                    }
                }
            }
        }
        (Some(_), _) => {}
        (None, value) => {
            doc.insert(key.into(), value);
        }
    }
}

/// Flink's `ROW<a INT>` and `MAP<K, V>` as the SQL parser reads them: `STRUCT<a INT>` and
/// `MAP(K, V)` (outside quotes).
fn flink_nested_types(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    // For each `MAP<` open, whether its `<` became `(`; other `<` push false.
    let mut opened: Vec<bool> = Vec::new();
    let mut quote = None;
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        let upper = rest.get(..4).map(str::to_ascii_uppercase);
        let word_start = !out.ends_with(|p: char| p.is_ascii_alphanumeric() || p == '_');
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, _) if word_start && upper.as_deref() == Some("ROW<") => {
                out.push_str("STRUCT<");
                opened.push(false);
                rest = &rest[4..];
                continue;
            }
            (None, _) if word_start && upper.as_deref() == Some("MAP<") => {
                out.push_str("MAP(");
                opened.push(true);
                rest = &rest[4..];
                continue;
            }
            (None, '<') => opened.push(false),
            (None, '>') if opened.last() == Some(&true) => {
                opened.pop();
                out.push(')');
                rest = &rest[1..];
                continue;
            }
            (None, '>') => {
                opened.pop();
            }
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The job-file type of a SQL column type.
fn field_type(sql: &str) -> Result<String, SqlError> {
    let upper = sql.to_ascii_uppercase();
    let base = upper.split(['(', ' ', '<']).next().unwrap_or_default();
    if upper.split_whitespace().any(|w| w == "UNSIGNED") {
        return Err(SqlError::Invalid(format!(
            "column type `{sql}`: unsigned integers are not read; declare BIGINT (or DOUBLE \
             for values above 2^63)"
        )));
    }
    // A type without parameters by its first word (`TIMESTAMP(3) WITH LOCAL TIME ZONE`,
    // `DOUBLE PRECISION`); the others parsed whole.
    if let Some(scalar) = crate::FieldType::scalar(base) {
        return Ok(scalar.to_string());
    }
    match base {
        "ARRAY" | "STRUCT" | "MAP" | "DECIMAL" | "NUMERIC" | "DEC" => {
            crate::FieldType::try_from(sql.to_owned())
                .map(|field| field.to_string())
                .map_err(|e| SqlError::Invalid(format!("column type `{sql}`: {e}")))
        }
        _ => Err(SqlError::Invalid(format!(
            "column type `{sql}`: STRING, BIGINT, INT (SMALLINT and TINYINT are read as INT), \
             DOUBLE, BOOLEAN, TIMESTAMP, DATE, DECIMAL(precision, scale), ARRAY<type> or \
             STRUCT<name type, ...>"
        ))),
    }
}

/// Splits off the `WITH (...)` after the column list: `(statement, options)`.
fn split_with(statement: &str) -> Result<(String, BTreeMap<String, String>), SqlError> {
    let mut depth = 0usize;
    let mut in_quote = false;
    let bytes: Vec<char> = statement.chars().collect();
    let mut with_at = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_quote {
            in_quote = c != '\'';
        } else if c == '\'' {
            in_quote = true;
        } else if c == '(' {
            depth += 1;
        } else if c == ')' {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && bytes[i..].len() >= 4 {
            let word: String = bytes[i..i + 4].iter().collect();
            let before = i == 0 || !bytes[i - 1].is_alphanumeric();
            let after = bytes
                .get(i + 4)
                .is_none_or(|c| !c.is_alphanumeric() && *c != '_');
            if before && after && word.eq_ignore_ascii_case("with") {
                with_at = Some(i);
                break;
            }
        }
        i += 1;
    }
    let Some(at) = with_at else {
        return Ok((statement.to_owned(), BTreeMap::new()));
    };
    let body: String = bytes[..at].iter().collect();
    let rest: String = bytes[at + 4..].iter().collect();
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or("WITH ('key' = 'value', ...)")?;
    let mut options = BTreeMap::new();
    for pair in split_top_level(inner) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| SqlError::Invalid(format!("`{pair}`: 'key' = 'value'")))?;
        let key = unquote(key.trim());
        if options.insert(key.clone(), unquote(value.trim())).is_some() {
            return Err(SqlError::Invalid(format!(
                "WITH (...): the option '{key}' is given twice"
            )));
        }
    }
    Ok((body, options))
}

/// Takes the entries `pick` recognizes (the `WATERMARK`, computed and metadata columns)
/// out of `statement`'s column list, in order: the statement without them, and what
/// `pick` made of each.
///
/// # Errors
/// An unclosed column list, or what `pick` refuses.
fn take_entries<T>(
    statement: &str,
    mut pick: impl FnMut(&str) -> Result<Option<T>, SqlError>,
) -> Result<(String, Vec<T>), SqlError> {
    let Some(open) = statement.find('(') else {
        return Ok((statement.to_owned(), Vec::new()));
    };
    let close = statement
        .rfind(')')
        .ok_or("a closing `)` of the column list")?;
    let mut taken = Vec::new();
    let mut rest = Vec::new();
    for entry in split_top_level(&statement[open + 1..close]) {
        match pick(&entry)? {
            Some(t) => taken.push(t),
            None => rest.push(entry),
        }
    }
    if taken.is_empty() {
        return Ok((statement.to_owned(), taken));
    }
    let body = format!(
        "{}({}){}",
        &statement[..open],
        rest.join(", "),
        &statement[close + 1..]
    );
    Ok((body, taken))
}

/// `text` split at commas outside quotes and parentheses, trimmed, empty parts dropped.
fn split_top_level(text: &str) -> Vec<String> {
    let (mut parts, mut current) = (Vec::new(), String::new());
    let (mut depth, mut in_quote) = (0usize, false);
    for c in text.chars() {
        match c {
            '\'' => in_quote = !in_quote,
            '(' if !in_quote => depth += 1,
            ')' if !in_quote => depth = depth.saturating_sub(1),
            ',' if !in_quote && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests;
