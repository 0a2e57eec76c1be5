//! The state layout of a plan: what shapes the state each stateful operator keeps (its
//! keys and their types, its window, its aggregates, the columns of the rows it holds),
//! recorded in the job's metadata so that a changed plan can be checked against the
//! checkpoint before any state is restored (`sluice replay` with an edited job file).
//!
//! A layout maps each state name to properties, each a text the engine writes: equal
//! texts mean the snapshot reads back as the new plan expects. Comparing an old layout
//! with a new one ([`StateLayout::differences`]) names every property that changed and
//! every stateful operator the new plan adds (its state would start empty while the
//! operators around it hold history). An operator the new plan drops is no difference:
//! its state is left behind ([`StateLayout::dropped`]).
//!
//! ```
//! use sluice_checkpoints::StateLayout;
//!
//! let old = StateLayout::default().with("gold", "keys", "user_id Utf8");
//! let new = StateLayout::default().with("gold", "keys", "user_id Int64");
//! assert_eq!(
//!     old.differences(&new),
//!     vec!["`gold`: keys was `user_id Utf8`, is `user_id Int64`".to_string()]
//! );
//! assert!(old.differences(&old).is_empty());
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Each stateful operator's state name and the properties that shape its state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StateLayout {
    /// State name → property → value.
    pub operators: BTreeMap<String, BTreeMap<String, String>>,
}

impl StateLayout {
    /// This layout with `property` of `operator` set to `value`.
    #[must_use]
    pub fn with(mut self, operator: &str, property: &str, value: impl Into<String>) -> Self {
        self.operators
            .entry(operator.to_owned())
            .or_default()
            .insert(property.to_owned(), value.into());
        self
    }

    /// What keeps the state of `self` (a checkpoint's) from being restored under `new`:
    /// each changed property of an operator both hold, and each operator only `new` holds;
    /// empty when the state fits. In name order.
    pub fn differences(&self, new: &StateLayout) -> Vec<String> {
        let mut found = Vec::new();
        for (name, properties) in &new.operators {
            let Some(old) = self.operators.get(name) else {
                let what = properties.get("kind").map_or("operator", String::as_str);
                found.push(format!(
                    "`{name}` ({what}) is new: its state would start empty while the rest \
                     of the plan holds history"
                ));
                continue;
            };
            let keys: std::collections::BTreeSet<&String> =
                old.keys().chain(properties.keys()).collect();
            for key in keys {
                let (was, is) = (old.get(key), properties.get(key));
                if was != is {
                    let text = |v: Option<&String>| v.map_or("(none)", String::as_str).to_owned();
                    found.push(format!(
                        "`{name}`: {key} was `{}`, is `{}`",
                        text(was),
                        text(is)
                    ));
                }
            }
        }
        found
    }

    /// The state names `self` holds and `new` does not: state a changed plan leaves
    /// behind.
    pub fn dropped(&self, new: &StateLayout) -> Vec<String> {
        self.operators
            .keys()
            .filter(|name| !new.operators.contains_key(*name))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(keys: &str, shape: &str) -> StateLayout {
        StateLayout::default()
            .with("gold", "kind", "window")
            .with("gold", "keys", keys)
            .with("gold", "window", shape)
    }

    #[test]
    fn every_changed_property_is_named() {
        let old = window("user_id Utf8", "tumbling 10m");
        let new = window("user_id Utf8, page Utf8", "tumbling 5m");
        assert_eq!(
            old.differences(&new),
            vec![
                "`gold`: keys was `user_id Utf8`, is `user_id Utf8, page Utf8`".to_string(),
                "`gold`: window was `tumbling 10m`, is `tumbling 5m`".to_string(),
            ]
        );
    }

    #[test]
    fn a_new_operator_is_a_difference_and_a_dropped_one_is_not() {
        let old = window("k Int64", "tumbling 1m").with("dedup", "kind", "dedup");
        let new = window("k Int64", "tumbling 1m").with("joined", "kind", "stream join");
        let differences = old.differences(&new);
        assert_eq!(differences.len(), 1);
        assert!(differences[0].starts_with("`joined` (stream join) is new"));
        assert_eq!(old.dropped(&new), vec!["dedup".to_string()]);
    }

    #[test]
    fn a_property_only_one_side_has_reads_as_none() {
        let old = window("k Int64", "tumbling 1m");
        let new = old.clone().with("gold", "allowed lateness", "5m");
        assert_eq!(
            old.differences(&new),
            vec!["`gold`: allowed lateness was `(none)`, is `5m`".to_string()]
        );
    }

    #[test]
    fn it_serializes_as_a_plain_map() {
        let layout = window("k Int64", "tumbling 1m");
        let json = serde_json::to_string(&layout).unwrap();
        assert!(json.starts_with("{\"gold\":{"), "{json}");
        assert_eq!(serde_json::from_str::<StateLayout>(&json).unwrap(), layout);
    }
}
