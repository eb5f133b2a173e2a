//! The snapshot: one immutable, memory-mapped file holding every list.
//!
//! - [`format`](mod@format): the byte layout (documented there), shared
//!   constants and the dictionary's slot formula;
//! - [`builder`]: the [`Builder`] a build pushes accepted entries into;
//!   `rows` holds its compact records;
//! - [`write`](mod@write): building the sections from those entries, one
//!   step per section, and writing the file durably;
//! - [`read`]: opening, verifying and reading a snapshot;
//! - [`guard`]: how the daemon keeps a served snapshot safe from its file
//!   being written or truncated in place.

pub mod builder;
pub mod format;
pub mod guard;
pub mod read;
mod rows;
mod summary;
pub mod tags;
pub mod write;

pub use builder::Builder;
pub(crate) use builder::{Part, RelationRow, Row, SlabRows, SLAB_RUN};
pub use format::{InputDigest, Meta};
pub use read::{EntryView, Slot, Snapshot};
pub use rows::{Arena, EntryRec, Str};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a credlist snapshot (bad magic bytes)")]
    Magic,
    #[error("snapshot format version {got}, this credlist reads version {expected}: rebuild the snapshot with this credlist")]
    Version { expected: u32, got: u32 },
    #[error("snapshot truncated: file has {len} bytes{}", .expected.map(|e| format!(", header says {e}")).unwrap_or_default())]
    Truncated { len: u64, expected: Option<u64> },
    #[error("snapshot checksum mismatch: footer says {expected}, content hashes to {got} (corrupted file)")]
    Checksum { expected: String, got: String },
    #[error("snapshot corrupted: {0}")]
    Corrupt(String),
    #[error("snapshot too large: {0}")]
    TooLarge(&'static str),
    #[error("cannot encode snapshot: {0}")]
    Encode(String),
}

#[cfg(test)]
mod tests;
