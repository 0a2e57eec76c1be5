//! Spark's aggregates that are another aggregate written differently, rewritten to it
//! before a query is lowered:
//!
//! | Spark | rewritten to |
//! |---|---|
//! | `count_if(c)` | `count(*) FILTER (WHERE c)` |
//! | `bool_and(c)`, `every(c)` | `min(CAST(c AS INT)) = 1` |
//! | `bool_or(c)` | `max(CAST(c AS INT)) = 1` |
//!
//! Each counts or reads the rows where `c` is true, as Spark does: a null `c` is skipped,
//! and `bool_and` / `bool_or` of no non-null `c` is null. A select item that is the call
//! alone keeps the call's text as its name (`count_if(value > 10)`), as Spark names it.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query, SelectItem, SetExpr, Value,
    visit_expressions_mut,
};

use super::query::function_args;

/// Rewrites the Spark aggregates of `query` (see the [module docs](self)).
pub(super) fn rewrite(query: &mut Query) {
    if let SetExpr::Select(select) = query.body.as_mut() {
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) = item
                && rewritten(e).is_some()
            {
                let alias = Ident::with_quote('"', e.to_string());
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias,
                };
            }
        }
    }
    let _ = visit_expressions_mut(query, |e: &mut Expr| {
        if let Some(new) = rewritten(e) {
            *e = new;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `e` rewritten, when it is one of the module's aggregates with one argument.
fn rewritten(e: &Expr) -> Option<Expr> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let args = function_args(&f.args);
    let [FunctionArgExpr::Expr(c)] = args.as_slice() else {
        return None;
    };
    let c = Expr::Nested(Box::new(c.clone()));
    match name.as_str() {
        "count_if" => {
            let filter = match f.filter.as_deref() {
                Some(given) => Expr::BinaryOp {
                    left: Box::new(c),
                    op: BinaryOperator::And,
                    right: Box::new(Expr::Nested(Box::new(given.clone()))),
                },
                None => c,
            };
            let mut count = call("count", FunctionArgExpr::Wildcard);
            count.filter = Some(Box::new(filter));
            Some(Expr::Function(count))
        }
        "bool_and" | "every" | "bool_or" => {
            let of = if name == "bool_or" { "max" } else { "min" };
            let int = Expr::Cast {
                kind: CastKind::Cast,
                array: false,
                expr: Box::new(c),
                data_type: DataType::Int(None),
                format: None,
            };
            let mut aggregate = call(of, FunctionArgExpr::Expr(int));
            aggregate.filter = f.filter.clone();
            Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::Function(aggregate)),
                op: BinaryOperator::Eq,
                right: Box::new(Expr::value(Value::Number("1".into(), false))),
            })))
        }
        _ => None,
    }
}

/// The call `name(arg)`.
fn call(name: &str, arg: FunctionArgExpr) -> Function {
    Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(arg)],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn rewrite_sql(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
        let datafusion::sql::sqlparser::ast::Statement::Query(query) = &mut statements[0] else {
            panic!("not a query");
        };
        rewrite(query);
        query.to_string()
    }

    #[test]
    fn spark_aggregates_become_the_aggregates_they_are() {
        assert_eq!(
            rewrite_sql("SELECT k, count_if(v > 1) AS n FROM t GROUP BY k"),
            "SELECT k, count(*) FILTER (WHERE (v > 1)) AS n FROM t GROUP BY k"
        );
        assert_eq!(
            rewrite_sql("SELECT count_if(v > 1) FILTER (WHERE k = 'a') AS n FROM t"),
            "SELECT count(*) FILTER (WHERE (v > 1) AND (k = 'a')) AS n FROM t"
        );
        assert_eq!(
            rewrite_sql("SELECT bool_and(v > 1) AS a, every(w) AS e, bool_or(v > 1) AS o FROM t"),
            "SELECT (min(CAST((v > 1) AS INT)) = 1) AS a, (min(CAST((w) AS INT)) = 1) AS e, \
             (max(CAST((v > 1) AS INT)) = 1) AS o FROM t"
        );
        // Unnamed, the call's text names the column; in a subquery, and inside an
        // expression, it is rewritten too.
        assert_eq!(
            rewrite_sql("SELECT count_if(v > 1) FROM (SELECT k FROM t WHERE bool_or(x) IS NULL)"),
            "SELECT count(*) FILTER (WHERE (v > 1)) AS \"count_if(v > 1)\" FROM \
             (SELECT k FROM t WHERE (max(CAST((x) AS INT)) = 1) IS NULL)"
        );
        // Other calls, and calls of several arguments, stay.
        assert_eq!(
            rewrite_sql("SELECT count(v), count_if(a, b) FROM t"),
            "SELECT count(v), count_if(a, b) FROM t"
        );
    }
}
