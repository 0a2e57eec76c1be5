//! Generating Nexmark rows as Arrow columns, with no text format in between.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::record_batch::RecordBatch;

use super::{
    AUCTIONS_PER_BLOCK, BLOCK, FIRST_ID, Kind, NexmarkConfig, PERSONS_PER_BLOCK, SOURCE_NAME,
    schema,
};
use crate::format::coordinate_columns;
use crate::generator::SeededRng;

const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// Event streams of the RNG, so that kinds never share draws.
const PERSON_STREAM: u64 = 1;
const AUCTION_STREAM: u64 = 2;
const BID_STREAM: u64 = 3;

/// People created by events `0..=n`.
fn persons_through(n: u64) -> u64 {
    (n / BLOCK) * PERSONS_PER_BLOCK + 1
}

/// Auctions created by events `0..=n`.
fn auctions_through(n: u64) -> u64 {
    (n / BLOCK) * AUCTIONS_PER_BLOCK + (n % BLOCK).min(AUCTIONS_PER_BLOCK)
}

/// The id of one of the `recent` newest among `count` (ids from `FIRST_ID`).
fn recent_id(rng: &mut SeededRng, count: u64, recent: u64) -> i64 {
    let count = count.max(1);
    let back = rng.below(recent.min(count));
    FIRST_ID + (count - 1 - back) as i64
}

/// A price in cents, log-uniform from $1 to $1M.
fn price(rng: &mut SeededRng) -> i64 {
    (10f64.powf(rng.unit() * 6.0) * 100.0).round() as i64
}

fn extra(rng: &mut SeededRng, out: &mut StringBuilder) {
    // The benchmark pads rows to an average size; a short varying tag does here.
    let len = 8 + rng.below(16) as usize;
    let s: String = (0..len)
        .map(|_| char::from(b'a' + rng.below(26) as u8))
        .collect();
    out.append_value(s);
}

/// The rows of `kind` among events at offsets `start..end` of `partition`.
pub fn rows(
    config: &NexmarkConfig,
    kind: Kind,
    partition: u32,
    start: u64,
    end: u64,
) -> RecordBatch {
    let partitions = u64::from(config.partitions.max(1));
    let micros_per_event = 1_000_000.0 / config.rate.max(1) as f64;
    let first_us = config.first_event_ms * 1000;
    let mut offsets = Vec::new();
    let mut longs: Vec<Int64Builder> = (0..5).map(|_| Int64Builder::new()).collect();
    let mut texts: Vec<StringBuilder> = (0..6).map(|_| StringBuilder::new()).collect();
    let mut times: Vec<TimestampMicrosecondBuilder> = (0..2)
        .map(|_| TimestampMicrosecondBuilder::new().with_timezone("UTC"))
        .collect();
    for offset in start..end {
        let n = offset * partitions + u64::from(partition);
        if config.kind_of(n) != kind {
            continue;
        }
        offsets.push(offset as i64);
        let time = first_us + (n as f64 * micros_per_event) as i64;
        match kind {
            Kind::Person => {
                let mut rng = SeededRng::new(config.seed, PERSON_STREAM, n);
                let id = FIRST_ID + (persons_through(n) - 1) as i64;
                longs[0].append_value(id);
                let first = FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize];
                let last = LAST_NAMES[rng.below(LAST_NAMES.len() as u64) as usize];
                texts[0].append_value(format!("{first} {last}"));
                texts[1].append_value(format!("{}@{}.com", first.to_lowercase(), id));
                texts[2].append_value(format!(
                    "{:04} {:04} {:04} {:04}",
                    rng.below(10_000),
                    rng.below(10_000),
                    rng.below(10_000),
                    rng.below(10_000)
                ));
                texts[3].append_value(CITIES[rng.below(CITIES.len() as u64) as usize]);
                texts[4].append_value(STATES[rng.below(STATES.len() as u64) as usize]);
                times[0].append_value(time);
                extra(&mut rng, &mut texts[5]);
            }
            Kind::Auction => {
                let mut rng = SeededRng::new(config.seed, AUCTION_STREAM, n);
                let id = FIRST_ID + (auctions_through(n) - 1) as i64;
                longs[0].append_value(id);
                texts[0].append_value(format!("item-{}", rng.below(10_000)));
                texts[1].append_value(format!("description-{}", rng.below(1_000)));
                let initial = price(&mut rng);
                longs[1].append_value(initial);
                longs[2].append_value(initial + price(&mut rng));
                times[0].append_value(time);
                // Auctions last from 2 seconds to 2 minutes of event time.
                times[1].append_value(time + 2_000_000 + rng.below(118_000_000) as i64);
                longs[3].append_value(recent_id(&mut rng, persons_through(n), config.recent));
                longs[4].append_value(10 + rng.below(5) as i64);
                extra(&mut rng, &mut texts[2]);
            }
            Kind::Bid => {
                let mut rng = SeededRng::new(config.seed, BID_STREAM, n);
                let auctions = auctions_through(n);
                let persons = persons_through(n);
                // Hot: the newest auction and person; otherwise a recent one.
                let hot = rng.below(config.hot_ratio) != 0;
                let auction = if hot {
                    FIRST_ID + (auctions.max(1) - 1) as i64
                } else {
                    recent_id(&mut rng, auctions, config.recent)
                };
                let bidder = if rng.below(config.hot_ratio) != 0 {
                    FIRST_ID + (persons - 1) as i64
                } else {
                    recent_id(&mut rng, persons, config.recent)
                };
                longs[0].append_value(auction);
                longs[1].append_value(bidder);
                longs[2].append_value(price(&mut rng));
                let channel = rng.below(CHANNELS.len() as u64) as usize;
                texts[0].append_value(CHANNELS[channel]);
                texts[1].append_value(format!(
                    "https://www.nexmark.com/{}/item.htm?query=1&channel_id={}",
                    CHANNELS[channel].to_lowercase(),
                    rng.below(1_000)
                ));
                times[0].append_value(time);
                extra(&mut rng, &mut texts[2]);
            }
        }
    }
    let mut l = longs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef);
    let mut t = texts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef);
    let mut d = times.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef);
    let next = |it: &mut dyn Iterator<Item = ArrayRef>| it.next().expect("enough builders");
    let columns: Vec<ArrayRef> = match kind {
        Kind::Person => vec![
            next(&mut l),
            next(&mut t),
            next(&mut t),
            next(&mut t),
            next(&mut t),
            next(&mut t),
            next(&mut d),
            next(&mut t),
        ],
        Kind::Auction => {
            let (id, initial, reserve, seller, category) = (
                next(&mut l),
                next(&mut l),
                next(&mut l),
                next(&mut l),
                next(&mut l),
            );
            let (item, description, extra) = (next(&mut t), next(&mut t), next(&mut t));
            let (date_time, expires) = (next(&mut d), next(&mut d));
            vec![
                id,
                item,
                description,
                initial,
                reserve,
                date_time,
                expires,
                seller,
                category,
                extra,
            ]
        }
        Kind::Bid => {
            let (auction, bidder, price) = (next(&mut l), next(&mut l), next(&mut l));
            let (channel, url, extra) = (next(&mut t), next(&mut t), next(&mut t));
            vec![auction, bidder, price, channel, url, next(&mut d), extra]
        }
    };
    let mut columns = columns;
    columns.extend(coordinate_columns(SOURCE_NAME, partition, offsets));
    RecordBatch::try_new(schema(kind), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;

    use super::*;

    #[test]
    fn proportions_and_ids_follow_the_benchmark() {
        let config = NexmarkConfig {
            partitions: 1,
            events: 5_000,
            ..NexmarkConfig::default()
        };
        let count = |kind| rows(&config, kind, 0, 0, 5_000).num_rows();
        assert_eq!(count(Kind::Person), 100);
        assert_eq!(count(Kind::Auction), 300);
        assert_eq!(count(Kind::Bid), 4_600);
        let auctions = rows(&config, Kind::Auction, 0, 0, 5_000);
        let ids: &Int64Array = auctions.column(0).as_primitive::<Int64Type>();
        let expected: Vec<i64> = (1000..1300).collect();
        assert_eq!(
            ids.values().to_vec(),
            expected,
            "auction ids are dense, in order"
        );
        let bids = rows(&config, Kind::Bid, 0, 0, 5_000);
        let auction = bids.column(0).as_primitive::<Int64Type>();
        assert!(auction.values().iter().all(|&a| (1000..1300).contains(&a)));
        let prices = bids.column(2).as_primitive::<Int64Type>();
        assert!(
            prices
                .values()
                .iter()
                .all(|&p| (100..=100_000_000).contains(&p))
        );
    }

    #[test]
    fn a_row_depends_only_on_its_event_number() {
        let one = NexmarkConfig {
            partitions: 1,
            ..NexmarkConfig::default()
        };
        let two = NexmarkConfig {
            partitions: 2,
            ..NexmarkConfig::default()
        };
        // Event 11 is offset 11 of the single partition and offset 5 of partition 1 of two.
        let a = rows(&one, Kind::Bid, 0, 11, 12);
        let b = rows(&two, Kind::Bid, 1, 5, 6);
        for c in 0..7 {
            assert_eq!(a.column(c), b.column(c), "column {c}");
        }
    }
}
