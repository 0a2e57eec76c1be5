//! `sluice demo-data`: writes demo input datasets to local directories.
//!
//! `sluice demo-data batch` writes the batch-etl dataset (spec: `batch-etl.md`, "Dataset"):
//!
//! - `D/sales/process_date=YYYY-MM-DD/part-NNNNN.parquet`: `--rows` sales rows over `--days`
//!   consecutive dates, each day cut into files of at most `--rows-per-file` rows;
//! - `D/customers/`: a Delta table of `clamp(rows / 100, 100, 100_000)` customers, written in
//!   one commit by sluice's own Delta writer;
//! - `D/products/products.json`: 1000 products as JSON lines.
//!
//! `sluice demo-data events` writes the demo's generated events as JSON-lines files
//! ([`events`]).
//!
//! Every row is a pure function of the seed and its id (a splitmix64 stream per row, as the
//! event generator draws its events), so the values depend only on `(rows, seed, days,
//! start-date)`: neither `--rows-per-file` nor thread timing changes them. Sales files are
//! written in parallel, in batches of [`BATCH_ROWS`] rows, so memory stays bounded.

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, TimestampMicrosecondArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use sluice_connectors::generator::SeededRng;

mod dimensions;
mod events;

use dimensions::{customers_batch, write_customers, write_products};
use events::{EventsArgs, write_events};

/// Rows per generated Arrow batch (and the unit of progress).
const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group: a few batches, so a writer buffers a few MiB at most.
const ROW_GROUP_ROWS: usize = 4 * BATCH_ROWS;
/// Number of products (all exist; sales draw product ids from `1..=PRODUCTS`).
const PRODUCTS: u64 = 1000;
/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;
/// Show a progress bar from this many sales rows on (when stderr is a terminal).
const PROGRESS_ROWS: u64 = 1_000_000;

/// Separate random streams, so sales, customers and products draw independently (the
/// others are in [`dimensions`]).
const SALES_STREAM: u64 = 1;

/// Flags of `sluice demo-data`.
#[derive(Debug, Args)]
pub struct DemoDataArgs {
    #[command(subcommand)]
    dataset: Dataset,
}

/// The datasets `sluice demo-data` can write.
#[derive(Debug, Subcommand)]
enum Dataset {
    /// The batch-etl dataset: partitioned Parquet sales, a Delta customers table and a
    /// JSON-lines products file.
    Batch(BatchArgs),
    /// The demo's generated events (as `sluice demo` reads them) in JSON-lines files, in
    /// arrival order, malformed and late events included.
    Events(EventsArgs),
}

/// Flags of `sluice demo-data batch`.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// Output directory: D/sales, D/customers and D/products.
    #[arg(long)]
    dir: PathBuf,
    /// Sales rows, over all days.
    #[arg(long)]
    rows: u64,
    /// Seed: the same flags (except --rows-per-file) give the same row values.
    #[arg(long)]
    seed: u64,
    /// Consecutive dates the rows are spread over (the remainder goes to the last day).
    #[arg(long, default_value_t = 2)]
    days: u32,
    /// First date (YYYY-MM-DD).
    #[arg(long, default_value = "2024-01-01")]
    start_date: NaiveDate,
    /// Largest sales file, in rows.
    #[arg(long, default_value_t = 1_000_000)]
    rows_per_file: u64,
    /// Replace an existing dataset: removes D/sales, D/customers and D/products first.
    #[arg(long)]
    force: bool,
}

/// Writes the chosen dataset and prints a summary.
pub fn run(args: DemoDataArgs) -> Result<()> {
    match args.dataset {
        Dataset::Batch(args) => {
            let summary = write_batch(&args)?;
            summary.print();
            Ok(())
        }
        Dataset::Events(args) => write_events(&args),
    }
}

/// One sales file to write: `rows` rows from transaction id `first_id` on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SalesFile {
    /// Index of the day in the layout.
    day: usize,
    /// Part number within the day.
    part: u32,
    first_id: u64,
    rows: u64,
}

/// One day of sales.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Day {
    date: NaiveDate,
    /// First transaction id of the day.
    first_id: u64,
    rows: u64,
}

/// Where every sales row goes: days in order, and the files of each day.
#[derive(Debug)]
struct Layout {
    days: Vec<Day>,
    files: Vec<SalesFile>,
}

impl Layout {
    /// `rows` split evenly over `days` dates from `start` (the remainder to the last), each
    /// day cut into files of at most `rows_per_file` rows.
    fn new(rows: u64, days: u32, start: NaiveDate, rows_per_file: u64) -> Result<Self> {
        anyhow::ensure!(days >= 1, "--days must be at least 1");
        anyhow::ensure!(rows_per_file >= 1, "--rows-per-file must be at least 1");
        anyhow::ensure!(
            rows >= u64::from(days),
            "--rows {rows} is fewer than --days {days}: every day needs a row"
        );
        let per_day = rows / u64::from(days);
        let mut out = Self {
            days: Vec::new(),
            files: Vec::new(),
        };
        let mut date = start;
        let mut next_id = 1;
        for d in 0..days {
            let day_rows = if d + 1 == days {
                rows - per_day * u64::from(days - 1)
            } else {
                per_day
            };
            let mut part = 0u32;
            let mut offset = 0;
            while offset < day_rows {
                let file_rows = rows_per_file.min(day_rows - offset);
                out.files.push(SalesFile {
                    day: out.days.len(),
                    part,
                    first_id: next_id + offset,
                    rows: file_rows,
                });
                part += 1;
                offset += file_rows;
            }
            out.days.push(Day {
                date,
                first_id: next_id,
                rows: day_rows,
            });
            next_id += day_rows;
            if d + 1 < days {
                date = date
                    .succ_opt()
                    .with_context(|| format!("--days {days} from {start} runs past year 9999"))?;
            }
        }
        Ok(out)
    }

    /// The directory of day `day` under the sales directory.
    fn day_dir(&self, sales: &Path, day: usize) -> PathBuf {
        sales.join(format!("process_date={}", self.days[day].date))
    }
}

/// Days since 1970-01-01.
fn epoch_days(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// `clamp(rows / 100, 100, 100_000)`.
fn customer_count(rows: u64) -> u64 {
    (rows / 100).clamp(100, 100_000)
}

/// The Arrow schema of the sales files.
fn sales_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("transaction_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("product_id", DataType::Int64, false),
        Field::new("quantity", DataType::Int32, false),
        Field::new("unit_price", DataType::Float64, true),
        Field::new(
            "sale_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// A validity buffer, or none when every value is present.
fn nulls(valid: Vec<bool>) -> Option<NullBuffer> {
    valid.iter().any(|v| !v).then(|| NullBuffer::from(valid))
}

/// Draws the sales rows with ids `first_id..first_id + rows`, all on `day_start_us`'s day.
///
/// Every row makes the same eight draws in the same order, so the rates only decide nulls
/// and bad values and never shift the other columns.
fn sales_batch(
    schema: &SchemaRef,
    seed: u64,
    customer_ids: u64,
    day_start_us: i64,
    first_id: u64,
    rows: usize,
) -> Result<RecordBatch> {
    let mut transaction_id = Vec::with_capacity(rows);
    let mut customer_id = Vec::with_capacity(rows);
    let mut customer_valid = Vec::with_capacity(rows);
    let mut product_id = Vec::with_capacity(rows);
    let mut quantity = Vec::with_capacity(rows);
    let mut unit_price = Vec::with_capacity(rows);
    let mut price_valid = Vec::with_capacity(rows);
    let mut sale_time = Vec::with_capacity(rows);
    for id in first_id..first_id + rows as u64 {
        let mut rng = SeededRng::new(seed, SALES_STREAM, id);
        let customer_null = rng.below(1000) < 5; // 0.5%
        let customer = rng.below(customer_ids) + 1;
        let product = rng.below(PRODUCTS) + 1;
        let quantity_bad = rng.below(1000) < 2; // 0.2%
        let q = rng.below(10) as i32;
        let price_null = rng.below(1000) < 1; // 0.1%
        let cents = 100 + rng.below(50_000 - 100 + 1);
        let offset = rng.below(DAY_US as u64) as i64;

        transaction_id.push(id as i64);
        customer_id.push(if customer_null { 0 } else { customer as i64 });
        customer_valid.push(!customer_null);
        product_id.push(product as i64);
        // A bad row gets 0 or -1 (q is uniform over 0..10, so its parity is a fair coin).
        quantity.push(if quantity_bad { -(q % 2) } else { q + 1 });
        unit_price.push(if price_null {
            0.0
        } else {
            cents as f64 / 100.0
        });
        price_valid.push(!price_null);
        sale_time.push(day_start_us + offset);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::new(transaction_id.into(), None)),
        Arc::new(Int64Array::new(customer_id.into(), nulls(customer_valid))),
        Arc::new(Int64Array::new(product_id.into(), None)),
        Arc::new(Int32Array::new(quantity.into(), None)),
        Arc::new(Float64Array::new(unit_price.into(), nulls(price_valid))),
        Arc::new(TimestampMicrosecondArray::new(sale_time.into(), None).with_timezone("UTC")),
    ];
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Parquet settings of the sales files.
fn parquet_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Unique ids and microsecond times never fit a dictionary; skip the attempt.
        .set_column_dictionary_enabled(ColumnPath::from("transaction_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("sale_time"), false)
        .build()
}

/// What the generator needs to write any sales file.
struct SalesContext<'a> {
    layout: &'a Layout,
    sales_dir: &'a Path,
    schema: SchemaRef,
    seed: u64,
    customer_ids: u64,
    progress: Option<&'a ProgressBar>,
}

impl SalesContext<'_> {
    /// Writes one sales file, batch by batch.
    fn write_file(&self, file: &SalesFile) -> Result<()> {
        let day = &self.layout.days[file.day];
        let path = self
            .layout
            .day_dir(self.sales_dir, file.day)
            .join(format!("part-{:05}.parquet", file.part));
        let out = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = ArrowWriter::try_new(
            BufWriter::new(out),
            Arc::clone(&self.schema),
            Some(parquet_properties()),
        )?;
        let day_start_us = epoch_days(day.date) * DAY_US;
        let end = file.first_id + file.rows;
        let mut id = file.first_id;
        while id < end {
            let rows = (end - id).min(BATCH_ROWS as u64);
            let batch = sales_batch(
                &self.schema,
                self.seed,
                self.customer_ids,
                day_start_us,
                id,
                rows as usize,
            )?;
            writer
                .write(&batch)
                .with_context(|| format!("writing {}", path.display()))?;
            if let Some(bar) = self.progress {
                bar.inc(rows);
            }
            id += rows;
        }
        writer
            .close()
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Writes every file of the layout on up to `threads` threads. Files are handed out in
    /// order; each is a pure function of its ids, so which thread writes it does not matter.
    fn write_all(&self, threads: usize) -> Result<()> {
        let next = AtomicUsize::new(0);
        let work = || -> Result<()> {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = self.layout.files.get(i) else {
                    return Ok(());
                };
                self.write_file(file)?;
            }
        };
        std::thread::scope(|scope| {
            let handles = (0..threads)
                .map(|t| {
                    std::thread::Builder::new()
                        .name(format!("demo-data-sales-{t}"))
                        .spawn_scoped(scope, work)
                })
                .collect::<std::io::Result<Vec<_>>>()?;
            for handle in handles {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a sales writer thread panicked"))??;
            }
            Ok(())
        })
    }
}

/// What [`write_batch`] wrote.
#[derive(Debug)]
struct BatchSummary {
    dir: PathBuf,
    days: Vec<(NaiveDate, u64, usize)>,
    customers: u64,
    customer_ids: u64,
    products: u64,
    elapsed: std::time::Duration,
}

impl BatchSummary {
    fn print(&self) {
        let rows: u64 = self.days.iter().map(|d| d.1).sum();
        let files: usize = self.days.iter().map(|d| d.2).sum();
        crate::output::outln!(
            "wrote the batch-etl dataset to {} in {:.2}s",
            self.dir.display(),
            self.elapsed.as_secs_f64()
        );
        crate::output::outln!("  sales: {rows} rows in {files} Parquet files");
        for (date, rows, files) in &self.days {
            let s = if *files == 1 { "" } else { "s" };
            crate::output::outln!("    process_date={date}: {rows} rows, {files} file{s}");
        }
        crate::output::outln!(
            "  customers: {} rows (Delta table; sales customer ids 1..={})",
            self.customers,
            self.customer_ids
        );
        crate::output::outln!(
            "  products: {} rows (products/products.json)",
            self.products
        );
    }
}

/// Removes `D/sales`, `D/customers` and `D/products` with `force`, else fails if any exists.
fn clear(dir: &Path, force: bool) -> Result<()> {
    for name in ["customers", "sales", "products"] {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        anyhow::ensure!(
            force,
            "{} already exists; pass --force to replace the dataset \
             (removes sales, customers and products under {})",
            path.display(),
            dir.display()
        );
        std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// Writes the batch-etl dataset under `args.dir`.
fn write_batch(args: &BatchArgs) -> Result<BatchSummary> {
    let started = Instant::now();
    let layout = Layout::new(args.rows, args.days, args.start_date, args.rows_per_file)?;
    let dir =
        std::path::absolute(&args.dir).with_context(|| format!("--dir {}", args.dir.display()))?;
    clear(&dir, args.force)?;

    let customers = customer_count(args.rows);
    // ceil(C * 1.02): about 2% of non-null sales customer ids have no customer.
    let customer_ids = (customers * 102).div_ceil(100);

    let products_dir = dir.join("products");
    std::fs::create_dir_all(&products_dir)
        .with_context(|| format!("creating {}", products_dir.display()))?;
    write_products(&products_dir.join("products.json"), args.seed)?;

    let sales_dir = dir.join("sales");
    for day in 0..layout.days.len() {
        let path = layout.day_dir(&sales_dir, day);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    let progress = (args.rows >= PROGRESS_ROWS && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(args.rows);
        bar.set_style(
            ProgressStyle::with_template(
                "sales [{bar:30}] {pos}/{len} rows ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(layout.files.len());
    SalesContext {
        layout: &layout,
        sales_dir: &sales_dir,
        schema: sales_schema(),
        seed: args.seed,
        customer_ids,
        progress: progress.as_ref(),
    }
    .write_all(threads)?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    // Last, so a dataset with a customers table is complete.
    write_customers(
        &dir.join("customers"),
        customers_batch(args.seed, customers, args.start_date)?,
    )?;

    let days = layout
        .days
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let files = layout.files.iter().filter(|f| f.day == i).count();
            (day.date, day.rows, files)
        })
        .collect();
    Ok(BatchSummary {
        dir,
        days,
        customers,
        customer_ids,
        products: PRODUCTS,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn args(dir: &Path, rows: u64, rows_per_file: u64) -> BatchArgs {
        BatchArgs {
            dir: dir.to_path_buf(),
            rows,
            seed: 7,
            days: 3,
            start_date: NaiveDate::from_ymd_opt(2024, 1, 30).unwrap(),
            rows_per_file,
            force: false,
        }
    }

    /// Every sales row, in date and part order, as one batch; and the files per day.
    fn read_sales(dir: &Path) -> (RecordBatch, Vec<(String, usize, usize)>) {
        let mut day_dirs: Vec<PathBuf> = std::fs::read_dir(dir.join("sales"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        day_dirs.sort();
        let mut batches = Vec::new();
        let mut days = Vec::new();
        for day_dir in day_dirs {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&day_dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            let mut rows = 0;
            for file in &files {
                let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(file).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
                for batch in reader {
                    let batch = batch.unwrap();
                    rows += batch.num_rows();
                    batches.push(batch);
                }
            }
            let name = day_dir.file_name().unwrap().to_string_lossy().into_owned();
            days.push((name, rows, files.len()));
        }
        let all = arrow::compute::concat_batches(&sales_schema(), &batches).unwrap();
        (all, days)
    }

    #[test]
    fn layout_splits_days_and_files() {
        let start = NaiveDate::from_ymd_opt(2024, 2, 28).unwrap();
        let layout = Layout::new(10, 3, start, 2).unwrap();
        let days: Vec<_> = layout
            .days
            .iter()
            .map(|d| (d.date.to_string(), d.first_id, d.rows))
            .collect();
        assert_eq!(
            days,
            [
                ("2024-02-28".to_string(), 1, 3),
                ("2024-02-29".to_string(), 4, 3),
                ("2024-03-01".to_string(), 7, 4),
            ]
        );
        let files: Vec<_> = layout
            .files
            .iter()
            .map(|f| (f.day, f.part, f.first_id, f.rows))
            .collect();
        assert_eq!(
            files,
            [
                (0, 0, 1, 2),
                (0, 1, 3, 1),
                (1, 0, 4, 2),
                (1, 1, 6, 1),
                (2, 0, 7, 2),
                (2, 1, 9, 2)
            ]
        );
        assert!(Layout::new(2, 3, start, 2).is_err());
    }

    #[test]
    fn dataset_has_the_specified_shape() {
        let tmp = tempfile::tempdir().unwrap();
        let n = 100_000;
        let summary = write_batch(&args(tmp.path(), n, 15_000)).unwrap();
        assert_eq!(summary.customers, 1000);
        assert_eq!(summary.customer_ids, 1020);

        let (sales, days) = read_sales(tmp.path());
        assert_eq!(
            days,
            [
                ("process_date=2024-01-30".to_string(), 33_333, 3),
                ("process_date=2024-01-31".to_string(), 33_333, 3),
                ("process_date=2024-02-01".to_string(), 33_334, 3),
            ]
        );
        let ids = sales.column(0).as_primitive::<Int64Type>();
        assert!(ids.values().iter().copied().eq(1..=n as i64));

        let customer = sales.column(1).as_primitive::<Int64Type>();
        let null_customers = customer.null_count();
        assert!((300..=700).contains(&null_customers), "{null_customers}");
        let max_customer = customer.iter().flatten().max().unwrap();
        assert_eq!(max_customer, 1020);
        let unknown = customer.iter().flatten().filter(|&c| c > 1000).count();
        assert!((1500..=2500).contains(&unknown), "{unknown}");

        let quantity = sales.column(3).as_primitive::<Int32Type>();
        let bad = quantity.values().iter().filter(|&&q| q <= 0).count();
        assert!((120..=280).contains(&bad), "{bad}");
        assert!(quantity.values().iter().all(|q| (-1..=10).contains(q)));

        let price = sales.column(4).as_primitive::<Float64Type>();
        assert!(
            (50..=150).contains(&price.null_count()),
            "{}",
            price.null_count()
        );
        assert!(
            price
                .iter()
                .flatten()
                .all(|p| (1.0..=500.0).contains(&p) && (p * 100.0).round() / 100.0 == p)
        );

        let times = sales
            .column(5)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let day0 = epoch_days(NaiveDate::from_ymd_opt(2024, 1, 30).unwrap()) * DAY_US;
        assert!(
            times.values()[..33_333]
                .iter()
                .all(|&t| (day0..day0 + DAY_US).contains(&t))
        );
        assert_eq!(
            sales.schema().field(5).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );

        let products = std::fs::read_to_string(tmp.path().join("products/products.json")).unwrap();
        assert_eq!(products.lines().count(), 1000);
        let first: serde_json::Value =
            serde_json::from_str(products.lines().next().unwrap()).unwrap();
        assert_eq!(first["product_name"], "Product 1");
        assert!(tmp.path().join("customers/_delta_log").is_dir());

        // A second run refuses to overwrite, unless forced.
        let err = write_batch(&args(tmp.path(), n, 15_000)).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        let mut forced = args(tmp.path(), 1000, 15_000);
        forced.force = true;
        write_batch(&forced).unwrap();
        assert_eq!(read_sales(tmp.path()).0.num_rows(), 1000);
    }

    #[test]
    fn same_flags_give_the_same_rows_whatever_the_file_size() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_batch(&args(a.path(), 20_000, 1_000_000)).unwrap();
        write_batch(&args(b.path(), 20_000, 3_000)).unwrap();
        let (sales_a, days_a) = read_sales(a.path());
        let (sales_b, days_b) = read_sales(b.path());
        assert_eq!(sales_a, sales_b);
        assert_eq!(days_a.iter().map(|d| d.2).collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(days_b.iter().map(|d| d.2).collect::<Vec<_>>(), [3, 3, 3]);
        let products = |d: &Path| std::fs::read(d.join("products/products.json")).unwrap();
        assert_eq!(products(a.path()), products(b.path()));
        assert_eq!(
            customers_batch(7, 200, NaiveDate::default()).unwrap(),
            customers_batch(7, 200, NaiveDate::default()).unwrap()
        );

        let c = tempfile::tempdir().unwrap();
        let mut other_seed = args(c.path(), 20_000, 1_000_000);
        other_seed.seed = 8;
        write_batch(&other_seed).unwrap();
        assert_ne!(read_sales(c.path()).0, sales_a);
    }
}
