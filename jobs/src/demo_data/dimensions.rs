//! The dimension tables of the batch-etl dataset: customers (a Delta table) and products
//! (JSON lines).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use sluice_connectors::delta::DeltaTableSink;
use sluice_connectors::generator::SeededRng;
use sluice_engine::runtime::TableSink;

use super::{PRODUCTS, epoch_days};

/// The writer's app id in the customers table's txn action.
const CUSTOMERS_APP_ID: &str = "sluice-demo-data/customers";
const CUSTOMERS_STREAM: u64 = 2;
const PRODUCTS_STREAM: u64 = 3;
const TIERS: [&str; 3] = ["premium", "standard", "basic"];
const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
const CATEGORIES: [&str; 6] = ["electronics", "clothing", "home", "sports", "books", "toys"];

/// The Arrow schema of the customers table.
fn customers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new("customer_name", DataType::Utf8, true),
        Field::new("customer_tier", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("signup_date", DataType::Date32, true),
    ]))
}

/// The customers `1..=count`.
pub(super) fn customers_batch(seed: u64, count: u64, start: NaiveDate) -> Result<RecordBatch> {
    let start_day = epoch_days(start);
    let mut names = Vec::with_capacity(count as usize);
    let mut tiers = Vec::with_capacity(count as usize);
    let mut regions = Vec::with_capacity(count as usize);
    let mut signups = Vec::with_capacity(count as usize);
    for id in 1..=count {
        let mut rng = SeededRng::new(seed, CUSTOMERS_STREAM, id);
        let tier = match rng.below(100) {
            0..20 => TIERS[0],
            20..70 => TIERS[1],
            _ => TIERS[2],
        };
        let region = REGIONS[rng.below(REGIONS.len() as u64) as usize];
        // Signed up within the three years before the first sales date.
        let signup = start_day - 1 - rng.below(3 * 365) as i64;
        names.push(format!("Customer {id}"));
        tiers.push(tier);
        regions.push(region);
        signups.push(i32::try_from(signup).context("signup date out of range")?);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(1..=count as i64)),
        Arc::new(StringArray::from(names)),
        Arc::new(StringArray::from(tiers)),
        Arc::new(StringArray::from(regions)),
        Arc::new(Date32Array::from(signups)),
    ];
    Ok(RecordBatch::try_new(customers_schema(), columns)?)
}

/// One line of products.json.
#[derive(serde::Serialize)]
pub(super) struct Product {
    product_id: u64,
    product_name: String,
    product_category: &'static str,
    list_price: f64,
}

/// Writes the products as JSON lines.
pub(super) fn write_products(path: &Path, seed: u64) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for id in 1..=PRODUCTS {
        let mut rng = SeededRng::new(seed, PRODUCTS_STREAM, id);
        let category = CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize];
        let cents = 100 + rng.below(50_000 - 100 + 1);
        let product = Product {
            product_id: id,
            product_name: format!("Product {id}"),
            product_category: category,
            list_price: cents as f64 / 100.0,
        };
        serde_json::to_writer(&mut out, &product)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes the customers as a new Delta table at `location` (an absolute local path).
pub(super) fn write_customers(location: &Path, batch: RecordBatch) -> Result<()> {
    let location = location
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", location.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("demo-data-delta")
        .enable_all()
        .build()?;
    let sink = DeltaTableSink::open(
        runtime.handle(),
        location,
        CUSTOMERS_APP_ID,
        customers_schema(),
        Vec::new(),
    )
    .with_context(|| format!("opening the Delta table {location}"))?;
    let files = sink
        .write(1, &[batch])
        .with_context(|| format!("writing {location}"))?;
    sink.commit(1, files)
        .with_context(|| format!("committing {location}"))?;
    Ok(())
}
