//! Flink's lookup-join clause, `JOIN customers FOR SYSTEM_TIME AS OF o.proc_time AS c`:
//! the table as of the row's processing time, which is what a lookup table gives (its
//! version when the job starts, or, followed, when the epoch is planned). The SQL parser
//! does not take the clause, so it is taken out of the text first, and the tables it
//! named are checked to be lookup tables: on a table read as a stream it would be
//! Flink's temporal join of a versioned table, which does not run.

use std::sync::LazyLock;

use regex::Regex;

/// The clause after a table name: `FOR SYSTEM_TIME AS OF` a column (`o.proc_time`) or a
/// call without arguments (`PROCTIME()`).
static CLAUSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)([A-Za-z_][\w.]*|"[^"]+"|`[^`]+`)\s+FOR\s+SYSTEM_TIME\s+AS\s+OF\s+(?:[A-Za-z_]\w*\s*\(\s*\)|[A-Za-z_][\w.]*)"#,
    )
    .expect("a valid pattern")
});

/// `statement` without its `FOR SYSTEM_TIME AS OF ...` clauses (outside quoted text), and
/// the tables they followed, in order.
pub(super) fn strip(statement: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(statement.len());
    let mut tables = Vec::new();
    let mut last = 0;
    for found in CLAUSE.captures_iter(statement) {
        let (Some(whole), Some(table)) = (found.get(0), found.get(1)) else {
            continue;
        };
        // Inside a string literal (an odd number of quotes before it): left alone.
        if statement[..whole.start()].matches('\'').count() % 2 == 1 {
            continue;
        }
        out.push_str(&statement[last..table.end()]);
        last = whole.end();
        tables.push(table.as_str().trim_matches(['"', '`']).to_owned());
    }
    out.push_str(&statement[last..]);
    (out, tables)
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn the_clause_leaves_the_text_and_names_its_table() {
        let (text, tables) = strip(
            "INSERT INTO t SELECT o.id, c.tier FROM orders AS o JOIN customers \
             FOR SYSTEM_TIME AS OF o.proc_time AS c ON o.customer = c.name \
             LEFT JOIN `regions` for system_time as of PROCTIME() r ON r.id = o.region \
             WHERE o.note <> 'x FOR SYSTEM_TIME AS OF y'",
        );
        assert_eq!(
            text,
            "INSERT INTO t SELECT o.id, c.tier FROM orders AS o JOIN customers AS c ON \
             o.customer = c.name LEFT JOIN `regions` r ON r.id = o.region WHERE o.note <> \
             'x FOR SYSTEM_TIME AS OF y'"
        );
        assert_eq!(tables, ["customers", "regions"]);
        assert_eq!(strip("SELECT 1").1, Vec::<String>::new());
    }
}
