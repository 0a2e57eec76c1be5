//! Spark SQL's functions, written as DataFusion runs them, so that an expression copied
//! from a Spark job means what it meant there:
//!
//! | Spark | runs as |
//! |---|---|
//! | `date_format(ts, 'yyyy-MM-dd HH:mm')` | `to_char(ts, '%Y-%m-%d %H:%M')` |
//! | `to_date(s, 'dd/MM/yyyy')`, `to_timestamp(s, fmt)`, `unix_timestamp(s, fmt)` | the same, the format as chrono's |
//! | `if(c, a, b)` | `CASE WHEN c THEN a ELSE b END` |
//! | `year(ts)`, `quarter`, `month`, `day`, `dayofmonth`, `dayofyear`, `hour`, `minute`, `second`, `weekofyear` | `CAST(date_part('year', ts) AS INT)`, ... |
//! | `dayofweek(ts)` (1 is Sunday) | `CAST(date_part('dow', ts) AS INT) + 1` |
//! | `unix_timestamp()`, `unix_timestamp(ts)` | `CAST(to_unixtime(...) AS BIGINT)`, of `now()` without an argument |
//! | `datediff(end, start)` | days from `start`'s date to `end`'s |
//! | `date_add(d, n)`, `date_sub(d, n)` | the date `n` days after (before) `d`'s |
//! | `regexp_extract(s, 'p', i)` | group `i` of the first match (0: the whole match), `''` when none |
//! | `split(s, ',')`, `split(s, '\\|')` | `string_to_array(s, ',')` (`['']` of `''`, as in Spark) |
//! | `split(s, '\\s+')`, `split(s, ',', 2)` | `spark_split(s, '\\s+', -1)`: by a regex, at most `limit` parts (the `split` module) |
//! | `regexp_replace(s, 'p', 'r')` | `regexp_replace(s, 'p', 'r', 'g')`: every match replaced, as Spark and Flink do (DataFusion's replaces the first) |
//! | `initcap(s)` | `spark_initcap(s)`: words delimited by spaces only (the `initcap` module) |
//! | `log(x)`, `isnan(x)`, `struct(a, b)`, `EXTRACT(DOW FROM ts)`, `sign`, `lcase`, `isnull`, `sort_array`, `timestamp_seconds`, ... | as Spark means them (the `aliases` module) |
//! | `s RLIKE 'p'`, `s REGEXP 'p'` | `regexp_like(s, 'p')`: the regex matches anywhere in `s` |
//! | `array(a, b)`, `map(k1, v1, k2, v2)` | `make_array(a, b)`, `make_map(k1, v1, k2, v2)` |
//! | `sha2(s, 256)` (224, 384, 512; 0 is 256) | `encode(sha256(s), 'hex')`: lowercase hexadecimal text, as Spark's |
//! | `pmod`, `sha1`, `crc32`, `xxhash64`, `next_day`, `last_day`, `add_months`, `parse_url`, ... | Spark's own, from `datafusion-spark`, where DataFusion has no function of the name (the `catalog` module) |
//! | `element_at(a, i)`, `try_element_at(a, i)`, `element_at(m, k)` | Spark's (the `element_at` module): from 1, negative from the end, beyond the array a failed row (NULL under `try_`); a map's value (DataFusion's `element_at` gives a list of it) |
//! | `hash(a, b, ...)` | Spark's Murmur3 hash, seed 42, bit for bit (the `hash` module) |
//! | `bround`, `months_between`, `format_number(x, d)` | Spark's (the `rounding`, `months_between` and `format_number` modules) |
//! | `size(a)` | `CAST(cardinality(a) AS INT)`: NULL of NULL, as Spark 4 (ANSI) gives |
//! | `from_unixtime(secs[, 'yyyy-MM-dd'])` | `to_char` of the whole seconds (a double is cut off, as Spark casts it): text, as Spark's and Flink's, not DataFusion's timestamp |
//! | Flink's `TO_TIMESTAMP_LTZ(epoch, 3)` (precision 0, 3, 6 or 9) | the UTC timestamp of the epoch's seconds, milliseconds, ... |
//! | Flink's `PROCTIME()` | `now()`: the processing time, read once per batch |
//! | `substring(s, 0, 3)`, `substring(s, -3)`, `substring(s, 2, -1)` | `substr` from the first character, 3 from the end, of nothing (DataFusion's, as Postgres's, counts 0 and negative positions before the first character, and refuses a negative length) |
//!
//! Column names resolve as in Spark, whatever their case: an unquoted `userId` (or
//! `USERID`) reads the column `userId`, which DataFusion alone would look for as `userid`.
//! A name of one column as written, or of exactly one column in another case, is that
//! column; a name DataFusion resolves (the column of its lowercase) is left to it.
//!
//! A format is read as Java's (Spark's) unless it holds a `%`, which makes it chrono's
//! (DataFusion's own): `date_format(ts, '%Y')` still works. A Java pattern letter with no
//! chrono equivalent is refused, naming it. Other Spark functions DataFusion lacks are
//! refused when the expression is compiled, as unknown functions; `get_json_object` is the
//! `json` module's, `from_json` the `from_json` module's.

use std::ops::ControlFlow;

/// The type of a timestamp column, as `arrow_cast` names it.
const UTC_MICROS: &str = "Timestamp(Microsecond, Some(\"UTC\"))";

use datafusion::sql::sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{initcap, split};

/// `sql` with Spark's functions written as DataFusion's and its column names resolved
/// among `columns`; `None` when nothing changed (or it does not parse, which the compiler
/// then reports).
///
/// # Errors
/// A Spark format that has no chrono equivalent, or a call with the wrong arguments.
pub(super) fn rewrite(sql: &str, columns: &[&str]) -> Result<Option<String>, String> {
    let Ok(mut expr) = Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
    else {
        return Ok(None);
    };
    let mut changed = false;
    let mut failure = None;
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::Identifier(id) = e
            && let Some(column) = column_named(id, columns)
        {
            *e = Expr::Identifier(ast::Ident::with_quote('"', column));
            changed = true;
            return ControlFlow::Continue(());
        }
        match spark_call(e) {
            Ok(Some(rewritten)) => {
                *e = rewritten;
                changed = true;
            }
            Ok(None) => {}
            Err(message) => {
                failure.get_or_insert(message);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if let Some(message) = failure {
        return Err(message);
    }
    Ok(changed.then(|| expr.to_string()))
}

/// The column an unquoted name means when DataFusion would not find it: the column of
/// that name as written, or the one column of that name in another case.
fn column_named<'a>(id: &ast::Ident, columns: &[&'a str]) -> Option<&'a str> {
    if id.quote_style.is_some() {
        return None;
    }
    if columns.contains(&id.value.to_lowercase().as_str()) {
        return None;
    }
    crate::key::name_index(columns, &id.value).map(|i| columns[i])
}

/// The DataFusion form of `e` when it is a call of one of Spark's functions.
fn spark_call(e: &Expr) -> Result<Option<Expr>, String> {
    // Spark's `s RLIKE 'p'` (and `REGEXP`): whether the regex matches anywhere in `s`.
    if let Expr::RLike {
        negated,
        expr,
        pattern,
        ..
    } = e
    {
        let not = if *negated { "NOT " } else { "" };
        return parsed(e, &format!("{not}regexp_like({expr}, {pattern})")).map(Some);
    }
    // `SUBSTRING(s, p, n)` (and `FROM p FOR n`) is an expression of its own.
    if let Expr::Substring {
        expr,
        substring_from: Some(position),
        substring_for,
        ..
    } = e
    {
        let length = substring_for.as_ref().map(ToString::to_string);
        return spark_substring(&expr.to_string(), &position.to_string(), length.as_ref())
            .map(|sql| parsed(e, &sql))
            .transpose();
    }
    if let Some(sql) = aliases::expression(e) {
        return parsed(e, &sql).map(Some);
    }
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let [name] = f.name.0.as_slice() else {
        return Ok(None);
    };
    let Some(name) = name.as_ident().map(|i| i.value.to_ascii_lowercase()) else {
        return Ok(None);
    };
    let FunctionArguments::List(list) = &f.args else {
        return Ok(None);
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() || f.over.is_some() {
        return Ok(None);
    }
    let args: Option<Vec<String>> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.to_string()),
            _ => None,
        })
        .collect();
    let Some(args) = args else {
        return Ok(None);
    };
    let wrong = |expected: &str| format!("`{e}`: Spark's {name} takes {expected}");
    let groups: [Group; 5] = [date_call, epoch_call, text_call, hash_call, aliases::call];
    for group in groups {
        if let Some(sql) = group(&name, &args, &wrong)? {
            return parsed(e, &sql).map(Some);
        }
    }
    Ok(None)
}

/// A group of functions' rewriting: the call's name and arguments (as SQL), and what
/// to say when they do not fit.
type Group = fn(&str, &[String], &dyn Fn(&str) -> String) -> Rewritten;

/// A rewriting's SQL, `None` when the call is none of a group's (or needs none); an
/// error names what the call takes.
type Rewritten = Result<Option<String>, String>;

/// Spark's date and time functions.
fn date_call(name: &str, args: &[String], wrong: &dyn Fn(&str) -> String) -> Rewritten {
    Ok(Some(match (name, args) {
        ("date_format", [ts, format]) => match java_format(format, false)? {
            Some(chrono) => format!("to_char({ts}, {chrono})"),
            None => return Ok(None),
        },
        ("date_format", _) => return Err(wrong("a timestamp and a format")),
        ("to_date" | "to_timestamp", [value, formats @ ..]) if !formats.is_empty() => {
            let mut translated = false;
            let mut out = vec![value.clone()];
            for format in formats {
                match java_format(format, true)? {
                    Some(chrono) => {
                        translated = true;
                        out.push(chrono);
                    }
                    None => out.push(format.clone()),
                }
            }
            if !translated {
                return Ok(None);
            }
            format!("{name}({})", out.join(", "))
        }
        (
            "year" | "quarter" | "month" | "day" | "dayofmonth" | "dayofyear" | "hour" | "minute"
            | "second" | "weekofyear",
            [value],
        ) => {
            let part = match name {
                "dayofmonth" => "day",
                "dayofyear" => "doy",
                "weekofyear" => "week",
                other => other,
            };
            format!("CAST(date_part('{part}', {value}) AS INT)")
        }
        ("dayofweek", [value]) => format!("(CAST(date_part('dow', {value}) AS INT) + 1)"),
        (
            "year" | "quarter" | "month" | "day" | "dayofmonth" | "dayofyear" | "hour" | "minute"
            | "second" | "weekofyear" | "dayofweek",
            _,
        ) => return Err(wrong("one date or timestamp")),
        ("datediff", [end, start]) => {
            format!("(CAST(CAST({end} AS DATE) AS INT) - CAST(CAST({start} AS DATE) AS INT))")
        }
        ("datediff", _) => return Err(wrong("an end and a start date")),
        ("date_add" | "date_sub", [date, days]) => {
            let op = if name == "date_add" { '+' } else { '-' };
            format!("CAST(CAST(CAST({date} AS DATE) AS INT) {op} ({days}) AS DATE)")
        }
        ("date_add" | "date_sub", _) => return Err(wrong("a date and a number of days")),
        _ => return Ok(None),
    }))
}

/// Spark's `sha2(value, bits)`: the SHA-2 digest of `bits` (224, 256, 384 or 512; 0 is
/// 256) as lowercase hexadecimal text, where DataFusion's `sha256` gives bytes. (`md5`
/// is DataFusion's own, text already.)
fn hash_call(name: &str, args: &[String], wrong: &dyn Fn(&str) -> String) -> Rewritten {
    Ok(Some(match (name, args) {
        ("sha2", [value, bits]) => {
            let function = match bits.as_str() {
                "0" | "256" => "sha256",
                "224" => "sha224",
                "384" => "sha384",
                "512" => "sha512",
                _ => return Err(wrong("a value and a bit length of 224, 256, 384 or 512")),
            };
            format!("encode({function}({value}), 'hex')")
        }
        ("sha2", _) => return Err(wrong("a value and a bit length")),
        _ => return Ok(None),
    }))
}

/// Conversions between epochs and timestamps: Spark's `unix_timestamp` and
/// `from_unixtime`, Flink's `TO_TIMESTAMP_LTZ` and `PROCTIME()`.
fn epoch_call(name: &str, args: &[String], wrong: &dyn Fn(&str) -> String) -> Rewritten {
    Ok(Some(match (name, args) {
        ("unix_timestamp", []) => "CAST(to_unixtime(now()) AS BIGINT)".to_owned(),
        ("unix_timestamp", [value]) => format!("CAST(to_unixtime({value}) AS BIGINT)"),
        ("unix_timestamp", [value, format]) => {
            let format = java_format(format, true)?.unwrap_or_else(|| format.clone());
            format!("CAST(to_unixtime({value}, {format}) AS BIGINT)")
        }
        ("unix_timestamp", _) => return Err(wrong("at most a value and a format")),
        // Flink's epoch to timestamp (precision 3, milliseconds, by default), in UTC.
        ("to_timestamp_ltz", [value, rest @ ..]) if rest.len() <= 1 => {
            let unit = match rest.first().map(String::as_str) {
                None | Some("3") => "millis",
                Some("0") => "seconds",
                Some("6") => "micros",
                Some("9") => "nanos",
                Some(_) => return Err(wrong("an epoch number and a precision of 0, 3, 6 or 9")),
            };
            format!("arrow_cast(to_timestamp_{unit}({value}), '{UTC_MICROS}')")
        }
        ("to_timestamp_ltz", _) => return Err(wrong("an epoch number and a precision")),
        // Flink's processing time: the time of the batch's evaluation, as `now()`.
        ("proctime", []) => "now()".to_owned(),
        // Text, as Spark's and Flink's: a fraction of a second (`ms / 1000`, a double) is
        // cut off, as Spark casts it.
        ("from_unixtime", [value, format @ ..]) if format.len() <= 1 => {
            let chrono = match format.first() {
                None => "'%Y-%m-%d %H:%M:%S'".to_owned(),
                Some(format) => java_format(format, false)?.unwrap_or_else(|| format.clone()),
            };
            format!("to_char(to_timestamp_seconds(CAST({value} AS BIGINT)), {chrono})")
        }
        ("from_unixtime", _) => return Err(wrong("epoch seconds and a format")),
        _ => return Ok(None),
    }))
}

/// `if`, `regexp_extract` and `substring`.
fn text_call(name: &str, args: &[String], wrong: &dyn Fn(&str) -> String) -> Rewritten {
    Ok(Some(match (name, args) {
        ("if", [condition, then, otherwise]) => {
            format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END")
        }
        ("if", _) => return Err(wrong("a condition and two values")),
        ("regexp_extract", [value, pattern, rest @ ..]) if rest.len() <= 1 => {
            let Some(pattern) = string_literal(pattern) else {
                return Err(wrong("a pattern that is a string literal"));
            };
            let group = match rest {
                [] => 1,
                [group] => group
                    .parse::<usize>()
                    .map_err(|_| wrong("a group number that is a literal"))?,
                _ => unreachable!("at most one"),
            };
            // The whole pattern in a group of its own: Spark's group i is its i + 1.
            let wrapped = quote(&format!("({pattern})"));
            format!(
                "CASE WHEN {value} IS NULL THEN NULL \
                 ELSE coalesce(regexp_match({value}, {wrapped})[{}], '') END",
                group + 1
            )
        }
        ("regexp_extract", _) => return Err(wrong("a string, a pattern and a group number")),
        // Spark's (and Flink's) replace every match; DataFusion's, as Postgres's, the first
        // only unless told `'g'`.
        ("regexp_replace", [value, pattern, replacement]) => {
            format!("regexp_replace({value}, {pattern}, {replacement}, 'g')")
        }
        ("initcap", [value]) => format!("{}({value})", initcap::NAME),
        ("split", [value, pattern, limit @ ..]) if limit.len() <= 1 => {
            let pattern = string_literal(pattern)
                .ok_or_else(|| wrong("a regex that is a string literal, such as ',' or '\\s+'"))?;
            match (plain_delimiter(&pattern), limit) {
                // Spark splits empty text into one empty string.
                (Some(delimiter), []) => format!(
                    "CASE WHEN {value} = '' THEN make_array('') \
                     ELSE string_to_array({value}, {}) END",
                    quote(&delimiter)
                ),
                _ => format!(
                    "{}({value}, {}, CAST({} AS BIGINT))",
                    split::NAME,
                    quote(&pattern.replace("\\\\", "\\")),
                    limit.first().map_or("-1", String::as_str)
                ),
            }
        }
        ("split", _) => return Err(wrong("a text, a regex and an optional limit")),
        // Spark's constructors of arrays and maps of their arguments.
        ("array", values) => format!("make_array({})", values.join(", ")),
        ("map", pairs) if pairs.len() % 2 == 0 => format!("make_map({})", pairs.join(", ")),
        ("map", _) => return Err(wrong("keys and values, in pairs")),
        // Spark 4's (ANSI) size: NULL of NULL, as an INT.
        ("size", [array]) => format!("CAST(cardinality({array}) AS INT)"),
        ("size", _) => return Err(wrong("one array or map")),
        ("substring" | "substr", [text, position, rest @ ..]) if rest.len() <= 1 => {
            match spark_substring(text, position, rest.first()) {
                Some(sql) => sql,
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    }))
}

/// The text a Spark `split` pattern (a Java regex in a Spark SQL literal, whose `\\`
/// is one backslash) matches, when it is plain text: characters, and regex operators
/// escaped with a backslash (`\\|`, `\\.`); `None` for an empty pattern or one with
/// an operator.
fn plain_delimiter(pattern: &str) -> Option<String> {
    let pattern = pattern.replace("\\\\", "\\");
    let mut delimiter = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next()?;
                if escaped.is_alphanumeric() {
                    return None; // \d, \s, ...: a class, not a character.
                }
                delimiter.push(escaped);
            }
            '.' | '|' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return None;
            }
            c => delimiter.push(c),
        }
    }
    (!delimiter.is_empty()).then_some(delimiter)
}

/// `sql`, the rewriting of `e`, parsed.
fn parsed(e: &Expr, sql: &str) -> Result<Expr, String> {
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|err| format!("`{e}` as `{sql}`: {err}"))
}

/// Spark's `substring(text, position[, length])` as DataFusion's `substr`; `None` when
/// they agree (a positive position, no negative length). Spark counts a position of 0 as
/// 1 and a negative one from the end, and takes nothing for a negative length;
/// DataFusion, as Postgres, counts 0 and negative positions before the first character,
/// and refuses a negative length.
fn spark_substring(text: &str, position: &str, length: Option<&String>) -> Option<String> {
    let start = match position.parse::<i64>() {
        Ok(p) if p > 0 => position.to_owned(),
        Ok(0) => "1".to_owned(),
        Ok(_) => format!("(char_length({text}) + {position} + 1)"),
        Err(_) => format!(
            "CASE WHEN {position} > 0 THEN {position} WHEN {position} = 0 THEN 1 \
             ELSE char_length({text}) + {position} + 1 END"
        ),
    };
    let new_length = length.map(|l| match l.parse::<i64>() {
        Ok(n) if n >= 0 => l.clone(),
        Ok(_) => "0".to_owned(),
        Err(_) => format!("greatest({l}, 0)"),
    });
    if start == position && new_length.as_ref() == length {
        return None;
    }
    Some(match new_length {
        Some(length) => format!("substr({text}, {start}, {length})"),
        None => format!("substr({text}, {start})"),
    })
}

/// The text of a SQL string literal.
fn string_literal(sql: &str) -> Option<String> {
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    match parsed {
        Expr::Value(v) => match v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// A SQL string literal of `text`.
fn quote(text: &str) -> String {
    ast::Value::SingleQuotedString(text.to_owned()).to_string()
}

/// A format argument, a string literal in Java's pattern language (no `%`), as a chrono
/// format literal; `None` when it is not a literal or is chrono's already. `parsing`
/// writes numbers padded, which chrono's parser reads with or without their zeros.
fn java_format(sql: &str, parsing: bool) -> Result<Option<String>, String> {
    let Some(pattern) = string_literal(sql) else {
        return Ok(None);
    };
    if pattern.contains('%') {
        return Ok(None);
    }
    chrono_pattern(&pattern, parsing).map(|p| Some(quote(&p)))
}

/// Java's (Spark's) date-time pattern `java` in chrono's `strftime` language.
///
/// # Errors
/// A pattern letter, or a run of one, that chrono has no equivalent of.
pub(super) fn chrono_pattern(java: &str, parsing: bool) -> Result<String, String> {
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted text; '' is a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let unpadded = |padded: &'static str, bare: &'static str| {
            if n == 1 && !parsing { bare } else { padded }
        };
        let chrono = match (c, n) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M' | 'L', 1 | 2) => unpadded("%m", "%-m"),
            ('M' | 'L', 3) => "%b",
            ('M' | 'L', _) => "%B",
            ('d', 1 | 2) => unpadded("%d", "%-d"),
            ('D', 1..=3) => unpadded("%j", "%-j"),
            ('H', 1 | 2) => unpadded("%H", "%-H"),
            ('h', 1 | 2) => unpadded("%I", "%-I"),
            ('m', 1 | 2) => unpadded("%M", "%-M"),
            ('s', 1 | 2) => unpadded("%S", "%-S"),
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('a', 1) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('X' | 'x', 1 | 2) | ('Z', 1..=3) => "%z",
            ('X' | 'x', 3) | ('Z', 5) => "%:z",
            ('z', 1..=3) => "%Z",
            _ => {
                let run: String = std::iter::repeat_n(c, n).collect();
                return Err(format!(
                    "the date-time pattern `{java}`: `{run}` has no equivalent here; use \
                     y, M, d, D, H, h, m, s, SSS (or 6 or 9 S), a, E, X, Z or z, or write \
                     the format as chrono's (`%Y-%m-%d`)"
                ));
            }
        };
        out.push_str(chrono);
        i += n;
    }
    Ok(out)
}

/// Appends a literal character of a pattern, `%` escaped.
fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

mod aliases;
pub(super) mod catalog;
#[cfg(test)]
mod tests;
