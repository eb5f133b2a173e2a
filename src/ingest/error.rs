//! What refuses a whole ingest run (a bad row is a [`super::Reject`], not an
//! error).

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a .csv or .jsonl file")]
    Extension { path: String },
    #[error("{path}:{line}: {message}")]
    Legacy {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}:1: header: {message}")]
    Header { path: String, message: String },
}
