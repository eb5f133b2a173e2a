//! The reject report's rows and reason kinds (SPEC §2, §8 for relation
//! rows).

/// Reason kinds of the reject report, in precedence order. Entry rows
/// and relation rows share the report; `unknown_role` and
/// `duplicate_relation_id` are relation rows' only, `unknown_kind`,
/// `unknown_domain`, `unknown_status` and `duplicate_entry_id` entry rows'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    BadCode,
    MissingField,
    UnknownKind,
    UnknownDomain,
    UnknownStatus,
    UnknownRole,
    BadDate,
    DateOrder,
    DuplicateEntryId,
    DuplicateRelationId,
    MalformedRow,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::BadCode,
        Reason::MissingField,
        Reason::UnknownKind,
        Reason::UnknownDomain,
        Reason::UnknownStatus,
        Reason::UnknownRole,
        Reason::BadDate,
        Reason::DateOrder,
        Reason::DuplicateEntryId,
        Reason::DuplicateRelationId,
        Reason::MalformedRow,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadCode => "bad_code",
            Reason::MissingField => "missing_field",
            Reason::UnknownKind => "unknown_kind",
            Reason::UnknownDomain => "unknown_domain",
            Reason::UnknownStatus => "unknown_status",
            Reason::UnknownRole => "unknown_role",
            Reason::BadDate => "bad_date",
            Reason::DateOrder => "date_order",
            Reason::DuplicateEntryId => "duplicate_entry_id",
            Reason::DuplicateRelationId => "duplicate_relation_id",
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
    /// The row's entry_id, or a relation row's relation_id.
    pub entry_id: String,
    pub reason: Reason,
    pub message: String,
}
