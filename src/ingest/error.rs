//! What refuses a whole ingest run (a bad row is a [`super::Reject`], not an
//! error).

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a .csv, .jsonl or .xlsx file")]
    Extension { path: String },
    #[error("{path}:{line}: {message}")]
    Legacy {
        path: String,
        line: u64,
        message: String,
    },
    /// A header that cannot be read as the fields: an unreadable name, two
    /// columns for one field, a required field without a column. `line` is
    /// the header's physical line (sheet row for a workbook).
    #[error("{path}:{line}: header: {message}")]
    Header {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}: not a readable .xlsx workbook: {message}")]
    Workbook { path: String, message: String },
}
