//! Column names as Spark resolves them, whatever their case: an unquoted name that is no
//! declared column as written, but is exactly one in another case (`USER_ID` for
//! `user_id`, `userid` for `userId`), is rewritten to that column's spelling before the
//! query is lowered, so that its windows, keys, watermarks and joins find it. A select
//! item that is such a name keeps the name as written, as Spark's output does (`SELECT
//! USER_ID` gives a column `USER_ID`). Names the query gives (its aliases) are left
//! alone, as are quoted names.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, SelectItem, visit_expressions_mut};

use sluice_engine::key::name_index;

use super::ddl::SourceTable;

/// Rewrites `query`'s column names to the declared spelling of `sources`' columns.
pub(super) fn resolve(query: &mut Query, sources: &[SourceTable]) {
    let declared: Vec<&str> = sources
        .iter()
        .flat_map(SourceTable::column_names)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let given = aliases(query);
    let spelled = |id: &Ident| -> Option<String> {
        if id.quote_style.is_some() || given.contains(&id.value.to_lowercase()) {
            return None;
        }
        let i = name_index(&declared, &id.value)?;
        (declared[i] != id.value).then(|| declared[i].to_owned())
    };
    // A select item that is a column keeps the name it is written with, as in Spark
    // (`SELECT USER_ID` gives a column `USER_ID`).
    let _ = super::levels::each_select(query, &mut |select| {
        for item in &mut select.projection {
            let SelectItem::UnnamedExpr(expr) = item else {
                continue;
            };
            let written = match expr {
                Expr::Identifier(id) => id,
                Expr::CompoundIdentifier(ids) if ids.len() == 2 => &ids[1],
                _ => continue,
            };
            if spelled(written).is_some() {
                let alias = written.clone();
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias,
                };
            }
        }
        Ok(())
    });
    let _ = visit_expressions_mut(query, |e| {
        match e {
            Expr::Identifier(id) => {
                if let Some(name) = spelled(id) {
                    id.value = name;
                }
            }
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                if let Some(name) = spelled(&ids[1]) {
                    ids[1].value = name;
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The names `query`'s select lists give, in lowercase.
fn aliases(query: &Query) -> BTreeSet<String> {
    let mut given = BTreeSet::new();
    let mut copy = query.clone();
    let _ = super::levels::each_select(&mut copy, &mut |select| {
        for item in &select.projection {
            if let SelectItem::ExprWithAlias { alias, .. } = item {
                given.insert(alias.value.to_lowercase());
            }
        }
        Ok(())
    });
    given
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    #[test]
    fn names_take_the_declared_spelling_unless_the_query_gives_them() {
        let source = SourceTable {
            name: "events".into(),
            connector: "generator".into(),
            options: Default::default(),
            format: None,
            columns: ["user_id", "userId", "event_time", "n", "a", "A"]
                .map(|c| (c.to_owned(), "string".to_owned(), true))
                .to_vec(),
            checks: vec![],
            watermark: None,
            computed: vec![],
            metadata: vec![],
            lookup: None,
        };
        let sql = "SELECT USER_ID, USERID, e.Event_Time, count(*) AS N, \"Event_Time\", aa \
                   FROM events e GROUP BY TUMBLE(EVENT_TIME, INTERVAL '1' MINUTE), USER_ID \
                   HAVING N > 1 AND A > 0";
        let Statement::Query(mut query) = Parser::parse_sql(&GenericDialect {}, sql)
            .unwrap()
            .remove(0)
        else {
            panic!("a query");
        };
        resolve(&mut query, &[source]);
        assert_eq!(
            query.to_string(),
            "SELECT user_id AS USER_ID, userId AS USERID, e.event_time AS Event_Time, \
             count(*) AS N, \"Event_Time\", aa \
             FROM events e GROUP BY TUMBLE(event_time, INTERVAL '1' MINUTE), user_id \
             HAVING N > 1 AND A > 0"
        );
    }
}
