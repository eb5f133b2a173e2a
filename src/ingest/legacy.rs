//! Pilot-era codes named by `--legacy-codes` (SPEC §1): accepted despite a
//! failing check character when structurally valid.

use super::error::IngestError;
use crate::codes::{self, CodeError};
use std::collections::HashSet;
use std::path::Path;

/// The pilot-era codes a build may accept despite a failing check character.
#[derive(Default, Debug, Clone)]
pub struct LegacyCodes(HashSet<[u8; 18]>);

impl LegacyCodes {
    /// Reads one code per line; text after `#` and blank lines are ignored.
    /// Each code must be structurally valid (length, alphabet, division).
    pub(crate) fn load(path: &Path) -> Result<LegacyCodes, IngestError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io {
            path: p.clone(),
            source,
        })?;
        LegacyCodes::parse(&text, &p)
    }

    pub fn parse(text: &str, origin: &str) -> Result<LegacyCodes, IngestError> {
        let mut set = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            let norm = codes::normalize(line);
            if norm.is_empty() {
                continue;
            }
            let err = |message: String| IngestError::Legacy {
                path: origin.to_string(),
                line: i as u64 + 1,
                message,
            };
            let b: [u8; 18] = norm.as_bytes().try_into().map_err(|_| {
                err(format!(
                    "legacy code {norm:?}: {}",
                    CodeError::Length {
                        got: norm.chars().count()
                    }
                ))
            })?;
            codes::check_uscc_structure(&b)
                .map_err(|e| err(format!("legacy code {norm:?}: {e}")))?;
            set.insert(b);
        }
        Ok(LegacyCodes(set))
    }

    pub(crate) fn contains(&self, code: &[u8]) -> bool {
        <&[u8; 18]>::try_from(code).is_ok_and(|c| self.0.contains(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_file_refuses_unstructured_codes() {
        let err = LegacyCodes::parse("# header\n\n9135A100M0001TGQXM\n", "legacy.txt")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("legacy.txt:3: "), "{err}");
    }
}
