//! The approvals file of `report --approvals` (应查必查): a CSV
//! `approval_id,client,matter,code,decided_on` with that header, one
//! approval a unit decided per row.

use super::read::canonical_code;
use crate::codes;
use crate::date::Day;
use std::path::Path;

/// One approval, its code in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Approval {
    pub approval_id: String,
    pub client: String,
    pub matter: String,
    pub code: String,
    pub decided_on: Day,
}

/// Why the approvals file cannot be used: the file, the line, the problem.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Row {
        path: String,
        line: u64,
        message: String,
    },
}

const HEADER: [&str; 5] = ["approval_id", "client", "matter", "code", "decided_on"];

/// Reads the approvals. A code that fails §1 but is structurally a USCC (a
/// pilot-era code, SPEC §1) is kept as written and reported in `notes`;
/// anything else wrong is an error naming the line.
pub fn read(path: &Path) -> Result<(Vec<Approval>, Vec<String>), ApprovalsError> {
    let p = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ApprovalsError::Io {
        path: p.clone(),
        source,
    })?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let row_err = |line: u64, message: String| ApprovalsError::Row {
        path: p.clone(),
        line,
        message,
    };
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    let mut header_seen = false;
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |pos| pos.line());
            row_err(line, format!("malformed CSV: {e}"))
        })?;
        let line = rec.position().map_or(0, |pos| pos.line());
        let fields: Vec<&str> = rec
            .iter()
            .map(|f| f.trim_start_matches('\u{feff}').trim())
            .collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        if !header_seen {
            if fields != HEADER {
                return Err(row_err(
                    line,
                    format!(
                        "the header must be {}, found {}",
                        HEADER.join(","),
                        fields.join(",")
                    ),
                ));
            }
            header_seen = true;
            continue;
        }
        if fields.len() != HEADER.len() {
            return Err(row_err(
                line,
                format!("{} fields, expected {}", fields.len(), HEADER.len()),
            ));
        }
        for (name, value) in HEADER.iter().zip(&fields) {
            if value.is_empty() {
                return Err(row_err(line, format!("{name} is empty")));
            }
        }
        let decided_on = Day::parse(fields[4])
            .map_err(|e| row_err(line, format!("decided_on {:?}: {e}", fields[4])))?;
        let code = match canonical_code(fields[3], decided_on) {
            Ok(c) => c,
            Err((norm, why)) => {
                let structural = <&[u8; 18]>::try_from(norm.as_bytes())
                    .ok()
                    .is_some_and(|b| codes::check_uscc_structure(b).is_ok());
                if !structural {
                    return Err(row_err(line, format!("code {:?}: {why}", fields[3])));
                }
                notes.push(format!(
                    "{p}:{line}: code {norm} fails its check ({why}); matched as written (a pilot-era code?)"
                ));
                norm
            }
        };
        out.push(Approval {
            approval_id: fields[0].to_string(),
            client: fields[1].to_string(),
            matter: fields[2].to_string(),
            code,
            decided_on,
        });
    }
    if !header_seen {
        return Err(row_err(
            1,
            format!("empty file: expected the header {}", HEADER.join(",")),
        ));
    }
    Ok((out, notes))
}
