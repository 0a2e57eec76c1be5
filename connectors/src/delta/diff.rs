//! `sluice table diff A B [--key cols]`: the rows only in A and only in B, as multisets (a
//! row twice in A and once in B is once "only in A"), or, with key columns, the keys only
//! in one table and the keys whose rows differ. Values compare exactly (floats too; a
//! null equals a null). Runs in DataFusion over both tables' current versions.

use arrow::record_batch::RecordBatch;
use deltalake::DeltaTableError;
use deltalake::datafusion::prelude::SessionContext;
use serde::Serialize;

use super::error::{DeltaError, Result};
use super::maintenance::open_table;

/// What differs between two tables.
#[derive(Clone, Debug, Serialize)]
pub struct TableDiff {
    /// Table A's location and version.
    pub a: (String, i64),
    /// Table B's location and version.
    pub b: (String, i64),
    /// The columns compared: those of A that B has too, in A's order.
    pub columns: Vec<String>,
    /// Columns only in A, and only in B (not compared).
    pub only_columns: (Vec<String>, Vec<String>),
    /// The key columns, if any.
    pub keys: Vec<String>,
    /// Rows (or, with keys, rows of keys) only in A.
    pub only_in_a: u64,
    /// Rows (or, with keys, rows of keys) only in B.
    pub only_in_b: u64,
    /// With keys: keys present in both whose rows differ.
    pub changed: u64,
    /// Up to `sample` rows of each, as JSON objects (changed rows carry `a.` and `b.`
    /// columns).
    pub samples: DiffSamples,
}

/// Sample rows of a [`TableDiff`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct DiffSamples {
    /// Rows only in A.
    pub only_in_a: Vec<serde_json::Value>,
    /// Rows only in B.
    pub only_in_b: Vec<serde_json::Value>,
    /// Keys whose rows differ, with both sides.
    pub changed: Vec<serde_json::Value>,
}

impl TableDiff {
    /// Whether the tables hold the same rows (in the compared columns).
    pub fn is_empty(&self) -> bool {
        self.only_in_a == 0 && self.only_in_b == 0 && self.changed == 0
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Compares the current versions of the tables at `a` and `b`; see the [module docs](self).
///
/// # Errors
/// A missing table, a key column that is not in both, or a failed query.
pub async fn diff(a: &str, b: &str, keys: &[String], sample: usize) -> Result<TableDiff> {
    let (ta, tb) = (open_table(a).await?, open_table(b).await?);
    let version = |t: &deltalake::DeltaTable| t.version().map_or(-1, |v| v as i64);
    let ctx = SessionContext::new();
    let fail = |what: &str, e: deltalake::datafusion::error::DataFusionError| {
        DeltaError::delta(
            a,
            "comparing tables",
            DeltaTableError::Generic(format!("{what}: {e}")),
        )
    };
    let names = |t: &deltalake::DeltaTable, at: &str| -> Result<Vec<String>> {
        let snapshot = t
            .snapshot()
            .map_err(|e| DeltaError::delta(at, "reading the schema", e))?;
        Ok(snapshot
            .schema()
            .fields()
            .map(|f| f.name().clone())
            .collect())
    };
    let (cols_a, cols_b) = (names(&ta, a)?, names(&tb, b)?);
    for (table, provider) in [("a", &ta), ("b", &tb)] {
        let provider = provider.table_provider().await.map_err(|e| {
            DeltaError::delta(if table == "a" { a } else { b }, "reading", e.into())
        })?;
        ctx.register_table(table, provider)
            .map_err(|e| fail("registering", e))?;
    }
    let columns: Vec<String> = cols_a
        .iter()
        .filter(|c| cols_b.contains(c))
        .cloned()
        .collect();
    let only_columns = (
        cols_a
            .iter()
            .filter(|c| !cols_b.contains(c))
            .cloned()
            .collect(),
        cols_b
            .iter()
            .filter(|c| !cols_a.contains(c))
            .cloned()
            .collect(),
    );
    for key in keys {
        if !columns.contains(key) {
            return Err(DeltaError::schema(
                a,
                format!("key column `{key}` is not a column of both tables"),
            ));
        }
    }
    let query = Query { ctx, location: a };
    let order = list("", &columns);
    let mut samples = DiffSamples::default();
    // Each side's surplus: as multisets, per distinct row how many more copies it has; by
    // key, the rows of keys the other side lacks.
    let (total, side) = if keys.is_empty() {
        (
            "sum(surplus)",
            surplus_query as fn(&str, &str, &[String]) -> String,
        )
    } else {
        (
            "count(*)",
            missing_query as fn(&str, &str, &[String]) -> String,
        )
    };
    let cols: &[String] = if keys.is_empty() { &columns } else { keys };
    let only_in_a;
    let only_in_b;
    (only_in_a, samples.only_in_a) = query
        .side(&side("a", "b", cols), total, &order, sample)
        .await?;
    (only_in_b, samples.only_in_b) = query
        .side(&side("b", "a", cols), total, &order, sample)
        .await?;
    let mut changed = 0;
    if !keys.is_empty() {
        let rest: Vec<String> = columns
            .iter()
            .filter(|c| !keys.contains(c))
            .cloned()
            .collect();
        (changed, samples.changed) = query
            .side(
                &changed_query(keys, &rest),
                "count(*)",
                &list("", keys),
                sample,
            )
            .await?;
    }
    Ok(TableDiff {
        a: (a.to_owned(), version(&ta)),
        b: (b.to_owned(), version(&tb)),
        columns,
        only_columns,
        keys: keys.to_vec(),
        only_in_a,
        only_in_b,
        changed,
        samples,
    })
}

/// `cols` quoted and prefixed, comma-separated.
fn list(prefix: &str, cols: &[String]) -> String {
    cols.iter()
        .map(|c| format!("{prefix}{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `l` and `r` agree on `cols` (nulls equal).
fn same(l: &str, r: &str, cols: &[String]) -> String {
    cols.iter()
        .map(|c| format!("({l}.{q} IS NOT DISTINCT FROM {r}.{q})", q = quote(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Per distinct row of `l` (over `cols`), how many more copies it has than `r`.
fn surplus_query(l: &str, r: &str, cols: &[String]) -> String {
    let all = list("", cols);
    format!(
        "WITH cl AS (SELECT {all}, count(*) AS n FROM {l} GROUP BY {all}), \
         cr AS (SELECT {all}, count(*) AS n FROM {r} GROUP BY {all}) \
         SELECT {picked}, cl.n - coalesce(cr.n, 0) AS surplus FROM cl LEFT JOIN cr ON {on} \
         WHERE cl.n > coalesce(cr.n, 0)",
        picked = list("cl.", cols),
        on = same("cl", "cr", cols),
    )
}

/// The rows of `l` whose `keys` `r` does not have.
fn missing_query(l: &str, r: &str, keys: &[String]) -> String {
    format!(
        "SELECT {l}.* FROM {l} LEFT JOIN (SELECT DISTINCT {}, true AS present FROM {r}) k \
         ON {} WHERE k.present IS NULL",
        list("", keys),
        same(l, "k", keys),
    )
}

/// Keys in both tables whose `rest` columns differ, with both sides' values.
fn changed_query(keys: &[String], rest: &[String]) -> String {
    let differs = if rest.is_empty() {
        "false".to_owned()
    } else {
        rest.iter()
            .map(|c| format!("(a.{q} IS DISTINCT FROM b.{q})", q = quote(c)))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let both: Vec<String> = keys
        .iter()
        .map(|k| format!("a.{q} AS {q}", q = quote(k)))
        .chain(rest.iter().flat_map(|c| {
            [
                format!("a.{q} AS {}", quote(&format!("a.{c}")), q = quote(c)),
                format!("b.{q} AS {}", quote(&format!("b.{c}")), q = quote(c)),
            ]
        }))
        .collect();
    format!(
        "SELECT {} FROM a JOIN b ON {} WHERE {differs}",
        both.join(", "),
        same("a", "b", keys)
    )
}

/// Both tables registered as `a` and `b`.
struct Query<'a> {
    ctx: SessionContext,
    /// For errors.
    location: &'a str,
}

impl Query<'_> {
    async fn run(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let fail = |what: &str, e: deltalake::datafusion::error::DataFusionError| {
            DeltaError::delta(
                self.location,
                "comparing tables",
                DeltaTableError::Generic(format!("{what}: {e}")),
            )
        };
        let df = self.ctx.sql(sql).await.map_err(|e| fail("planning", e))?;
        df.collect().await.map_err(|e| fail("running", e))
    }

    /// `total` (an aggregate) over the rows of `q`, and `sample` of them in `order`.
    async fn side(
        &self,
        q: &str,
        total: &str,
        order: &str,
        sample: usize,
    ) -> Result<(u64, Vec<serde_json::Value>)> {
        let counted = self
            .run(&format!(
                "SELECT CAST(coalesce({total}, 0) AS BIGINT) FROM ({q})"
            ))
            .await?;
        let n = counted
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .map(|a| a.value(0))
            })
            .map_or(0, |n| u64::try_from(n).unwrap_or(0));
        let rows = self
            .run(&format!(
                "SELECT * FROM ({q}) ORDER BY {order} LIMIT {sample}"
            ))
            .await?;
        Ok((n, to_json(&rows)?))
    }
}

/// Rows as JSON objects.
fn to_json(batches: &[RecordBatch]) -> Result<Vec<serde_json::Value>> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .and_then(|()| writer.finish())
        .map_err(|e| DeltaError::internal("diff", format!("rendering rows: {e}")))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| DeltaError::internal("diff", format!("rendering rows: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::delta::DeltaSink;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    async fn table(dir: &std::path::Path, name: &str, rows: &[(i64, &str)]) -> String {
        let location = dir.join(name).display().to_string();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ]));
        let sink = DeltaSink::open(&location, "test/t", schema.clone(), vec![])
            .await
            .unwrap();
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap();
        let files = sink.write_files(&[batch]).await.unwrap();
        sink.commit_epoch(0, files).await.unwrap();
        location
    }

    #[tokio::test]
    async fn rows_and_keys_only_on_one_side_and_changed_rows() {
        let dir = tempfile::tempdir().unwrap();
        let a = table(dir.path(), "a", &[(1, "x"), (2, "y"), (2, "y"), (3, "z")]).await;
        let b = table(dir.path(), "b", &[(1, "x"), (2, "y"), (3, "Z"), (4, "w")]).await;

        let d = diff(&a, &b, &[], 10).await.unwrap();
        // As multisets: A has (2,y) once more and (3,z); B has (3,Z) and (4,w).
        assert_eq!((d.only_in_a, d.only_in_b, d.changed), (2, 2, 0), "{d:?}");
        assert_eq!(d.samples.only_in_a.len(), 2);
        assert_eq!(d.samples.only_in_b[1]["v"], "w");

        let d = diff(&a, &b, &["id".to_string()], 10).await.unwrap();
        assert_eq!((d.only_in_a, d.only_in_b, d.changed), (0, 1, 1), "{d:?}");
        assert_eq!(d.samples.changed[0]["a.v"], "z");
        assert_eq!(d.samples.changed[0]["b.v"], "Z");

        let same = diff(&a, &a, &[], 10).await.unwrap();
        assert!(same.is_empty(), "{same:?}");
        let e = diff(&a, &b, &["nope".to_string()], 10).await.unwrap_err();
        assert!(e.to_string().contains("key column `nope`"), "{e}");
    }
}
