//! An array's elements are numbered from 1 (`tags[1]` is the first), as in Flink,
//! DataFusion and DuckDB. Spark numbers them from 0, so a Spark query's
//! `split(s, ',')[0]` would read no element and give null on every row, silently: a
//! literal index 0 is refused instead, naming `[1]` and Spark's 1-based `element_at`.
//! A map's key 0 (`m[0]`) is a key, not an index, and stays.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::Expr;

/// Refuses an array index that is the literal 0 (see the [module docs](self)).
pub(super) fn refuse_index_zero(e: &Expr) -> Result<()> {
    let mut zero = false;
    e.apply(|e| {
        if let Expr::ScalarFunction(f) = e
            && f.name() == "array_element"
            && let Some(Expr::Literal(index, _)) = f.args.get(1)
            && is_zero(index)
        {
            zero = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if zero {
        return plan_err!(
            "an array index of 0: elements are numbered from 1 here (`a[1]` is the first, \
             as in Flink and DuckDB; Spark's `a[0]` is `a[1]`, or `element_at(a, 1)`)"
        );
    }
    Ok(())
}

fn is_zero(v: &ScalarValue) -> bool {
    matches!(
        v,
        ScalarValue::Int8(Some(0))
            | ScalarValue::Int16(Some(0))
            | ScalarValue::Int32(Some(0))
            | ScalarValue::Int64(Some(0))
            | ScalarValue::UInt8(Some(0))
            | ScalarValue::UInt16(Some(0))
            | ScalarValue::UInt32(Some(0))
            | ScalarValue::UInt64(Some(0))
    )
}
