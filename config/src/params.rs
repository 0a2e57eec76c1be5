//! Job parameters: a `params` mapping of defaults in the job file, `${name}` references in
//! any string value, and `--param name=value` on the command line.
//!
//! ```
//! use sluice_config::{JobConfig, Override};
//! let yaml = sluice_config::USER_ACTIVITY_YAML.replace(
//!     "job-id: user-activity",
//!     "params: { day: '2024-01-01' }\njob-id: user-activity-${day}",
//! );
//! let job = JobConfig::from_yaml_with(&yaml, "job.yaml", &[]).unwrap();
//! assert_eq!(job.job_id, "user-activity-2024-01-01");
//! let set = [Override::param("day=2024-01-02").unwrap()];
//! let job = JobConfig::from_yaml_with(&yaml, "job.yaml", &set).unwrap();
//! assert_eq!(job.job_id, "user-activity-2024-01-02");
//! ```

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::error::{ConfigError, Result};

/// The key of the parameters mapping.
pub const PARAMS: &str = "params";

/// Replaces `${name}` in every string of `root` (outside `params`) with the parameter's
/// value; `$${` stays a literal `${`. Returns whether anything was replaced.
///
/// # Errors
/// [`ConfigError::Invalid`] for a reference to an undeclared parameter, naming it and
/// the declared ones, or a parameter that is not a scalar.
pub fn substitute(root: &mut Value, file: &str) -> Result<bool> {
    let params = declared(root, file)?;
    let mut changed = false;
    if let Value::Mapping(map) = root {
        for (key, value) in map.iter_mut() {
            if key.as_str() == Some(PARAMS) {
                continue;
            }
            changed |= walk(value, &params, file, key.as_str().unwrap_or("?"))?;
        }
    }
    Ok(changed)
}

fn declared(root: &Value, file: &str) -> Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let Some(Value::Mapping(map)) = root.get(PARAMS) else {
        return Ok(params);
    };
    for (key, value) in map {
        let name = key.as_str().unwrap_or_default().to_string();
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(ConfigError::Invalid {
                    file: file.to_string(),
                    key: format!("{PARAMS}.{name}"),
                    expected: "a text, number or boolean".into(),
                });
            }
        };
        params.insert(name, text);
    }
    Ok(params)
}

fn walk(
    value: &mut Value,
    params: &BTreeMap<String, String>,
    file: &str,
    path: &str,
) -> Result<bool> {
    match value {
        Value::String(s) if s.contains("${") => {
            *s = expand(s, params).map_err(|name| ConfigError::Invalid {
                file: file.to_string(),
                key: path.to_string(),
                expected: format!(
                    "a declared parameter in `${{{name}}}` (declared: {}); declare it under \
                     `params:` or pass --param {name}=VALUE",
                    if params.is_empty() {
                        "none".to_string()
                    } else {
                        params.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            })?;
            Ok(true)
        }
        Value::Mapping(map) => {
            let mut changed = false;
            for (key, item) in map.iter_mut() {
                let here = format!("{path}.{}", key.as_str().unwrap_or("?"));
                changed |= walk(item, params, file, &here)?;
            }
            Ok(changed)
        }
        Value::Sequence(items) => {
            let mut changed = false;
            for (i, item) in items.iter_mut().enumerate() {
                changed |= walk(item, params, file, &format!("{path}.{i}"))?;
            }
            Ok(changed)
        }
        _ => Ok(false),
    }
}

/// Expands the references in `text`; `Err` names an undeclared parameter.
fn expand(text: &str, params: &BTreeMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if at > 0 && rest[..at].ends_with('$') {
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find('}') else {
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let name = &rest[at + 2..at + end];
        out.push_str(params.get(name).ok_or_else(|| name.to_string())?);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_references_and_escapes() {
        let params = BTreeMap::from([("d".to_string(), "2024-01-01".to_string())]);
        assert_eq!(expand("x = '${d}'", &params).unwrap(), "x = '2024-01-01'");
        assert_eq!(
            expand("$${d} and ${d}", &params).unwrap(),
            "${d} and 2024-01-01"
        );
        assert_eq!(expand("${nope}", &params).unwrap_err(), "nope");
    }

    #[test]
    fn an_undeclared_parameter_is_a_clear_error() {
        let mut value: Value = serde_norway::from_str("params: { a: 1 }\njob-id: j-${b}").unwrap();
        let err = substitute(&mut value, "job.yaml").unwrap_err().to_string();
        assert!(
            err.contains("${b}") && err.contains("declared: a") && err.contains("--param b="),
            "{err}"
        );
    }
}
