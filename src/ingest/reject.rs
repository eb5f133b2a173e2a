//! The reject report's rows and reason kinds (SPEC §2).

/// Reason kinds of the reject report, in precedence order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    BadCode,
    MissingField,
    UnknownKind,
    UnknownDomain,
    UnknownStatus,
    BadDate,
    DateOrder,
    DuplicateEntryId,
    MalformedRow,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::BadCode,
        Reason::MissingField,
        Reason::UnknownKind,
        Reason::UnknownDomain,
        Reason::UnknownStatus,
        Reason::BadDate,
        Reason::DateOrder,
        Reason::DuplicateEntryId,
        Reason::MalformedRow,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadCode => "bad_code",
            Reason::MissingField => "missing_field",
            Reason::UnknownKind => "unknown_kind",
            Reason::UnknownDomain => "unknown_domain",
            Reason::UnknownStatus => "unknown_status",
            Reason::BadDate => "bad_date",
            Reason::DateOrder => "date_order",
            Reason::DuplicateEntryId => "duplicate_entry_id",
            Reason::MalformedRow => "malformed_row",
        }
    }
}

/// One rejected row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Path as found.
    pub file: String,
    /// Physical line (a CSV header is line 1).
    pub line: u64,
    pub entry_id: String,
    pub reason: Reason,
    pub message: String,
}
