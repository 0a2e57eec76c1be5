//! Rows whose evaluation fails, told apart from the other rows of their batch.
//!
//! A projection, a filter or a broadcast join evaluates a whole batch at once, so one bad
//! row (a cast of `'abc'` to INT, an integer divided by zero) fails the evaluation. The
//! batch is then split in halves, and each half evaluated again, until every failing row
//! is alone: the other rows go on, and each failing row goes to the dead letters with its
//! own error (reason `error:<operator>`, the error's text in `error`). Before, the whole batch did. k bad rows among n cost about
//! 2k·log2(n) more evaluations; a batch that evaluates costs nothing more. A batch whose
//! rows nearly all fail would cost two evaluations per row: after [`BUDGET`] evaluations
//! of one batch, a failing part is rejected whole. An expression that reads the clock
//! reads it again in each evaluation of a part.

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;

use super::with_error;
use crate::error::Result;

/// The evaluations of parts one batch may take before a failing part is rejected whole.
pub(crate) const BUDGET: usize = 2048;

/// `f` over `batch`: `(passed, rejected)`, the rejected rows (each failing row alone)
/// with `reason` and `error` columns, as [`with_error`] of `operator` writes them.
///
/// # Errors
/// When a batch of one row fails (it is rejected whole by the caller), or the parts
/// cannot be put back together.
pub(crate) fn isolating<F>(
    operator: &str,
    f: &mut F,
    batch: &RecordBatch,
) -> Result<(RecordBatch, Option<RecordBatch>)>
where
    F: FnMut(&RecordBatch) -> Result<RecordBatch>,
{
    let err = match f(batch) {
        Ok(out) => return Ok((out, None)),
        Err(err) => err,
    };
    if batch.num_rows() <= 1 {
        return Err(err);
    }
    let mut parts = Parts {
        operator,
        passed: Vec::new(),
        rejected: Vec::new(),
        budget: BUDGET,
    };
    parts.halves(f, batch)?;
    let passed = match parts.passed.first() {
        Some(first) => concat_batches(&first.schema(), &parts.passed)?,
        None => RecordBatch::new_empty(batch.schema()),
    };
    let rejected = match parts.rejected.first() {
        Some(first) => Some(concat_batches(&first.schema(), &parts.rejected)?),
        None => None,
    };
    Ok((passed, rejected))
}

/// The parts of a failing batch evaluated so far, in order, and the evaluations left.
struct Parts<'a> {
    /// The operator whose rows they are.
    operator: &'a str,
    passed: Vec<RecordBatch>,
    rejected: Vec<RecordBatch>,
    budget: usize,
}

impl Parts<'_> {
    /// Evaluates each half of `batch` (of two rows or more), in order.
    fn halves<F>(&mut self, f: &mut F, batch: &RecordBatch) -> Result<()>
    where
        F: FnMut(&RecordBatch) -> Result<RecordBatch>,
    {
        let mid = batch.num_rows() / 2;
        self.part(f, &batch.slice(0, mid))?;
        self.part(f, &batch.slice(mid, batch.num_rows() - mid))
    }

    fn part<F>(&mut self, f: &mut F, batch: &RecordBatch) -> Result<()>
    where
        F: FnMut(&RecordBatch) -> Result<RecordBatch>,
    {
        self.budget = self.budget.saturating_sub(1);
        match f(batch) {
            Ok(out) => self.passed.push(out),
            Err(err) if batch.num_rows() <= 1 || self.budget == 0 => {
                self.rejected.push(with_error(batch, self.operator, &err)?);
            }
            Err(_) => self.halves(f, batch)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;
    use crate::expr::SqlExpr;

    #[test]
    fn only_the_rows_that_fail_are_rejected_each_with_its_error() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let values: Vec<i64> = (0..1000)
            .map(|i| if i % 250 == 7 { 0 } else { i + 1 })
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(values.clone())) as ArrayRef],
        )
        .unwrap();
        let expr = SqlExpr::compile("1000 / v", &schema).unwrap();
        let evaluations = std::cell::Cell::new(0);
        let mut f = |b: &RecordBatch| {
            evaluations.set(evaluations.get() + 1);
            let out = expr.evaluate(b)?;
            Ok(RecordBatch::try_from_iter(vec![
                ("v", Arc::clone(b.column(0))),
                ("q", out),
            ])?)
        };
        let (passed, rejected) = isolating("q/cents", &mut f, &batch).unwrap();
        let rejected = rejected.unwrap();
        assert_eq!((passed.num_rows(), rejected.num_rows()), (996, 4));
        // The rows that passed, in their order; the rejected ones, each with its reason.
        let kept: Vec<i64> = passed
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        let want: Vec<i64> = values.iter().copied().filter(|&v| v != 0).collect();
        assert_eq!(kept, want);
        let reasons = rejected
            .column_by_name("reason")
            .unwrap()
            .as_string::<i32>();
        assert!(
            reasons.iter().all(|r| r == Some("error:q/cents")),
            "{reasons:?}"
        );
        let errors = rejected.column_by_name("error").unwrap().as_string::<i32>();
        assert!(
            errors
                .iter()
                .all(|e| e.is_some_and(|e| e.contains("division by zero"))),
            "{errors:?}"
        );
        assert!(evaluations.get() < 100, "{} evaluations", evaluations.get());
        // A batch that evaluates is evaluated once.
        evaluations.set(0);
        let good = batch.slice(0, 5);
        let (passed, rejected) = isolating("q/cents", &mut f, &good).unwrap();
        assert_eq!((passed.num_rows(), rejected.is_none()), (5, true));
        assert_eq!(evaluations.get(), 1);
        // One row that fails is the caller's to reject.
        assert!(isolating("q/cents", &mut f, &batch.slice(7, 1)).is_err());
        // A batch whose rows all fail takes at most the budget of evaluations
        let zeros = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![0; 10_000])) as ArrayRef],
        )
        .unwrap();
        evaluations.set(0);
        let (passed, rejected) = isolating("q/cents", &mut f, &zeros).unwrap();
        assert_eq!(
            (passed.num_rows(), rejected.unwrap().num_rows()),
            (0, 10_000)
        );
        // (and one for each part still waiting on the way down, 14 for 10,000 rows).
        assert!(evaluations.get() <= BUDGET + 15, "{}", evaluations.get());
    }
}
