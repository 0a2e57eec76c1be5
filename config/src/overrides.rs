//! Overriding settings from the command line (`--set key.path=value`) or the environment
//! (`SLUICE__KEY__PATH=value`).
//!
//! A key path is the YAML keys joined by dots; list items are numbers
//! (`rules.0.check`), and the index just past the end appends an item (`rules.3=...` on a
//! list of three). Values are YAML scalars or flow collections (`true`, `8`, `1s`,
//! `[a, b]`, `{ timestamp: 1700000000000 }`). Missing mappings on the path are created.
//!
//! ```
//! use sluice_config::{JobConfig, Override, USER_ACTIVITY_YAML};
//! let set = [Override::parse("source.generator.events=1000").unwrap()];
//! let job = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "demo", &set).unwrap();
//! assert_eq!(job.source.generator.unwrap().events, 1000);
//! ```

use serde_norway::{Mapping, Value};

use crate::error::{ConfigError, Result};

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "SLUICE__";

/// One `key.path=value` override and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The key path, e.g. `source.kafka.brokers`.
    pub key: String,
    /// The value, as YAML.
    pub value: String,
    /// Where it came from (`--set`, or the environment variable).
    pub origin: String,
}

impl Override {
    /// Parses `key.path=value`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when there is no `=` or the key is empty.
    pub fn parse(text: &str) -> Result<Self> {
        let (key, value) = text.split_once('=').ok_or_else(|| ConfigError::Invalid {
            file: "--set".into(),
            key: text.into(),
            expected: "key.path=value".into(),
        })?;
        if key.trim().is_empty() {
            return Err(ConfigError::Invalid {
                file: "--set".into(),
                key: text.into(),
                expected: "a key path before `=`".into(),
            });
        }
        Ok(Self {
            key: key.trim().to_string(),
            value: value.to_string(),
            origin: "--set".into(),
        })
    }

    /// Parses `--param name=value`: sets `params.<name>` to the value as text.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when there is no `=` or the name is empty.
    pub fn param(text: &str) -> Result<Self> {
        let (name, value) = text.split_once('=').ok_or_else(|| ConfigError::Invalid {
            file: "--param".into(),
            key: text.into(),
            expected: "name=value".into(),
        })?;
        if name.trim().is_empty() {
            return Err(ConfigError::Invalid {
                file: "--param".into(),
                key: text.into(),
                expected: "a parameter name before `=`".into(),
            });
        }
        Ok(Self {
            key: format!("{}.{}", crate::params::PARAMS, name.trim()),
            value: format!("'{}'", value.replace('\'', "''")),
            origin: "--param".into(),
        })
    }

    /// The overrides in `vars` (e.g. `std::env::vars()`): `SLUICE__SOURCE__KAFKA__BROKERS`
    /// sets `source.kafka.brokers`; a single `_` inside a key becomes `-`.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Self> {
        let mut found: Vec<Self> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                let key = rest
                    .split("__")
                    .map(|part| part.to_ascii_lowercase().replace('_', "-"))
                    .collect::<Vec<_>>()
                    .join(".");
                (!key.is_empty()).then_some(Self {
                    key,
                    value,
                    origin: name,
                })
            })
            .collect();
        found.sort_by(|a, b| a.origin.cmp(&b.origin));
        found
    }

    /// Applies the override to a parsed job file.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key when the value is not YAML or the path
    /// runs through something that is not a mapping or list.
    pub fn apply(&self, root: &mut Value, file: &str) -> Result<()> {
        let invalid = |expected: String| ConfigError::Invalid {
            file: format!("{file} (override {})", self.origin),
            key: self.key.clone(),
            expected,
        };
        let value: Value = if self.value.trim().is_empty() {
            Value::String(String::new())
        } else {
            serde_norway::from_str(&self.value)
                .map_err(|e| invalid(format!("a YAML value ({e})")))?
        };
        let parts: Vec<&str> = self.key.split('.').collect();
        let mut node = root;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let here = parts[..=i].join(".");
            if node.is_null() {
                *node = Value::Mapping(Mapping::new());
            }
            node = match node {
                Value::Mapping(map) => {
                    let key = Value::String((*part).to_string());
                    if last {
                        map.insert(key, value);
                        return Ok(());
                    }
                    map.entry(key).or_insert(Value::Null)
                }
                Value::Sequence(items) => {
                    let index: usize = part
                        .parse()
                        .map_err(|_| invalid(format!("a list index at `{here}`")))?;
                    let len = items.len();
                    if index == len {
                        // The next index appends an item.
                        items.push(Value::Null);
                    }
                    let item = items.get_mut(index).ok_or_else(|| {
                        invalid(format!(
                            "an index of at most {len} at `{here}` (the list has {len} items; \
                             index {len} appends one)"
                        ))
                    })?;
                    if last {
                        *item = value;
                        return Ok(());
                    }
                    item
                }
                _ => return Err(invalid(format!("a mapping at `{}`", parts[..i].join(".")))),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobConfig, USER_ACTIVITY_YAML};

    #[test]
    fn set_changes_nested_keys_and_list_items() {
        let set = [
            Override::parse("trigger.interval=1s").unwrap(),
            Override::parse("rules.0.check=user_id <> ''").unwrap(),
            Override::parse("workers=3").unwrap(),
        ];
        let job = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "demo", &set).unwrap();
        assert_eq!(
            job.trigger.interval,
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(job.rules[0].check, "user_id <> ''");
        assert_eq!(job.workers, 3);
    }

    #[test]
    fn the_next_list_index_appends_and_a_later_one_is_an_error() {
        let rules = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "demo", &[])
            .unwrap()
            .rules
            .len();
        let append = [Override::parse(&format!(
            "rules.{rules}={{name: user_unique, unique: [user_id], action: warn}}"
        ))
        .unwrap()];
        let job = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "demo", &append).unwrap();
        assert_eq!(job.rules.len(), rules + 1);
        assert_eq!(job.rules[rules].name, "user_unique");
        assert_eq!(job.rules[rules].unique, vec!["user_id".to_string()]);
        let gap = [Override::parse(&format!("rules.{}.name=x", rules + 1)).unwrap()];
        let e = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "demo", &gap)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("an index of at most {rules}")) && e.contains("appends one"),
            "{e}"
        );
    }

    #[test]
    fn env_names_map_to_kebab_keys() {
        let vars = vec![
            (
                "SLUICE__TRIGGER__RECORDS_PER_EPOCH".to_string(),
                "500".to_string(),
            ),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let found = Override::from_env(vars);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "trigger.records-per-epoch");
        let job = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "demo", &found).unwrap();
        assert_eq!(job.trigger.records_per_epoch, 500);
    }

    #[test]
    fn bad_overrides_name_the_key() {
        let err = Override::parse("no-equals").unwrap_err().to_string();
        assert!(err.contains("key.path=value"), "{err}");
        let set = [Override::parse("job-id.x=1").unwrap()];
        let err = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "f.yaml", &set)
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.yaml") && err.contains("job-id.x"), "{err}");
        let set = [Override::parse("trigger.records-per-epoch=lots").unwrap()];
        let err = JobConfig::from_yaml_with(USER_ACTIVITY_YAML, "f.yaml", &set)
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.yaml") && err.contains("records"), "{err}");
    }
}
