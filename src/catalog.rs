//! The catalog of joint reward and punishment measures (联合奖惩措施清单):
//! domains, approval matters and measures, loaded from TOML at build time
//! and stored in the snapshot.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const DEFAULT_WATCH_AFTER_EXIT_DAYS: u32 = 365;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub id: String,
    pub name: String,
    #[serde(default = "default_watch_days")]
    pub watch_after_exit_days: u32,
}

fn default_watch_days() -> u32 {
    DEFAULT_WATCH_AFTER_EXIT_DAYS
}

/// An approval matter (审批事项).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matter {
    pub id: String,
    pub name: String,
    /// 应查必查: the matter's workflow must query the lists.
    #[serde(default)]
    pub must_query: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Punish,
    Reward,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub id: String,
    pub name: String,
    pub effect: Effect,
    /// List kinds that trigger it: "red", "black", "watch".
    pub lists: Vec<String>,
    /// Domain ids, or ["*"] for every domain.
    pub domains: Vec<String>,
    pub matters: Vec<String>,
    /// 强制性措施 (must apply) when true, 推荐性措施 (may apply) otherwise.
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub basis: String,
    /// Who the measure reaches (SPEC §8): `"subject"` (the listed subject
    /// itself) and/or role names of related parties (`"legal_rep"`, …).
    #[serde(default = "default_applies_to")]
    pub applies_to: Vec<String>,
}

pub use crate::roles::APPLIES_TO_SUBJECT;

fn default_applies_to() -> Vec<String> {
    vec![APPLIES_TO_SUBJECT.to_string()]
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default, rename = "domain")]
    pub domains: Vec<Domain>,
    #[serde(default, rename = "matter")]
    pub matters: Vec<Matter>,
    #[serde(default, rename = "measure")]
    pub measures: Vec<Measure>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog {path}: {message}")]
    Toml { path: String, message: String },
    #[error("catalog {path}: duplicate {what} id {id:?}")]
    Duplicate {
        path: String,
        what: &'static str,
        id: String,
    },
    #[error("catalog {path}: measure {measure:?} refers to unknown {what} {id:?}")]
    UnknownRef {
        path: String,
        measure: String,
        what: &'static str,
        id: String,
    },
    #[error("catalog {path}: {what} {id:?}: {message}")]
    Invalid {
        path: String,
        what: &'static str,
        id: String,
        message: String,
    },
}

impl Catalog {
    pub fn load(path: &std::path::Path) -> Result<Catalog, CatalogError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: p.clone(),
            source,
        })?;
        Catalog::from_toml(&text, &p)
    }

    /// Parses and validates; `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let cat: Catalog = toml::from_str(text).map_err(|e| CatalogError::Toml {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cat.validate(origin)?;
        Ok(cat)
    }

    pub(crate) fn validate(&self, origin: &str) -> Result<(), CatalogError> {
        let path = || origin.to_string();
        let dup = |what: &'static str, ids: &mut dyn Iterator<Item = &String>| {
            let mut seen = HashSet::new();
            for id in ids {
                if id.is_empty() || id == "*" {
                    return Err(CatalogError::Invalid {
                        path: path(),
                        what,
                        id: id.clone(),
                        message: "id must be non-empty and not \"*\"".into(),
                    });
                }
                if !seen.insert(id) {
                    return Err(CatalogError::Duplicate {
                        path: path(),
                        what,
                        id: id.clone(),
                    });
                }
            }
            Ok(())
        };
        dup("domain", &mut self.domains.iter().map(|d| &d.id))?;
        dup("matter", &mut self.matters.iter().map(|m| &m.id))?;
        dup("measure", &mut self.measures.iter().map(|m| &m.id))?;
        if self.domains.len() > u16::MAX as usize {
            return Err(CatalogError::Invalid {
                path: path(),
                what: "catalog",
                id: String::new(),
                message: "too many domains".into(),
            });
        }
        for m in &self.measures {
            let unknown = |what, id: &String| CatalogError::UnknownRef {
                path: path(),
                measure: m.id.clone(),
                what,
                id: id.clone(),
            };
            if m.lists.is_empty() {
                return Err(CatalogError::Invalid {
                    path: path(),
                    what: "measure",
                    id: m.id.clone(),
                    message: "lists is empty".into(),
                });
            }
            for k in &m.lists {
                if crate::entry::Kind::parse(k).is_none() {
                    return Err(unknown("list kind", k));
                }
            }
            let all = m.domains.iter().any(|d| d == "*");
            if all && m.domains.len() > 1 {
                return Err(CatalogError::Invalid {
                    path: path(),
                    what: "measure",
                    id: m.id.clone(),
                    message: "domains mixes \"*\" with ids".into(),
                });
            }
            if !all {
                for d in &m.domains {
                    if self.domain(d).is_none() {
                        return Err(unknown("domain", d));
                    }
                }
            }
            for mt in &m.matters {
                if self.matter(mt).is_none() {
                    return Err(unknown("matter", mt));
                }
            }
            if m.applies_to.is_empty() {
                return Err(CatalogError::Invalid {
                    path: path(),
                    what: "measure",
                    id: m.id.clone(),
                    message: "applies_to is empty".into(),
                });
            }
            for a in &m.applies_to {
                if a != APPLIES_TO_SUBJECT && crate::roles::Role::parse(a).is_none() {
                    return Err(CatalogError::Invalid {
                        path: path(),
                        what: "measure",
                        id: m.id.clone(),
                        message: format!(
                            "applies_to {a:?} is neither \"subject\" nor a role ({})",
                            crate::roles::Role::names()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn domain(&self, id: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.id == id)
    }

    pub fn domain_index(&self, id: &str) -> Option<u16> {
        self.domains
            .iter()
            .position(|d| d.id == id)
            .map(|i| i as u16)
    }

    pub fn matter(&self, id: &str) -> Option<&Matter> {
        self.matters.iter().find(|m| m.id == id)
    }

    pub fn matter_index(&self, id: &str) -> Option<usize> {
        self.matters.iter().position(|m| m.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[domain]]
id = "court"
name = "失信被执行人"

[[domain]]
id = "tax"
name = "重大税收违法"
watch_after_exit_days = 180

[[matter]]
id = "gov_procurement"
name = "政府采购"
must_query = true

[[measure]]
id = "P-PROC-01"
name = "限制参与政府采购活动"
effect = "punish"
lists = ["black"]
domains = ["*"]
matters = ["gov_procurement"]
mandatory = true
basis = "发改财金〔2016〕141号"
"#;

    #[test]
    fn loads_and_defaults() {
        let c = Catalog::from_toml(GOOD, "t.toml").unwrap();
        assert_eq!(c.measures[0].applies_to, ["subject"]);
        assert_eq!(c.domains[0].watch_after_exit_days, 365);
        assert_eq!(c.domains[1].watch_after_exit_days, 180);
        assert_eq!(c.domain_index("tax"), Some(1));
        assert!(c.matter("gov_procurement").unwrap().must_query);
    }

    #[test]
    fn refusals_name_the_entry() {
        let cases = [
            (
                GOOD.replace("id = \"tax\"", "id = \"court\""),
                "duplicate domain id \"court\"",
            ),
            (
                format!("{GOOD}\n[[matter]]\nid = \"gov_procurement\"\nname = \"x\"\n"),
                "duplicate matter id \"gov_procurement\"",
            ),
            (
                GOOD.replace("domains = [\"*\"]", "domains = [\"nope\"]"),
                "measure \"P-PROC-01\" refers to unknown domain \"nope\"",
            ),
            (
                GOOD.replace("matters = [\"gov_procurement\"]", "matters = [\"x\"]"),
                "measure \"P-PROC-01\" refers to unknown matter \"x\"",
            ),
            (
                GOOD.replace("lists = [\"black\"]", "lists = [\"grey\"]"),
                "refers to unknown list kind \"grey\"",
            ),
            (
                GOOD.replace(
                    "mandatory = true",
                    "mandatory = true\napplies_to = [\"subject\", \"cousin\"]",
                ),
                "measure \"P-PROC-01\": applies_to \"cousin\" is neither",
            ),
            (
                GOOD.replace("mandatory = true", "mandatory = true\napplies_to = []"),
                "measure \"P-PROC-01\": applies_to is empty",
            ),
            (
                GOOD.replace("effect = \"punish\"", "effect = \"fine\""),
                "unknown variant",
            ),
            (
                GOOD.replace("must_query = true", "must_query = true\ncolour = 1"),
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            let err = Catalog::from_toml(&text, "t.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
            assert!(err.starts_with("catalog t.toml"), "{err}");
        }
    }
}
