//! The roles of related parties (SPEC §8) and who a catalog measure
//! reaches (`applies_to`): below the catalog and the rules, which both use
//! them; the rules of relations themselves are in [`crate::related`].

use crate::entry::Kind;

/// The value of `applies_to` that names the listed subject itself.
pub const APPLIES_TO_SUBJECT: &str = "subject";

/// The roles of SPEC §8 (法定代表人, 主要负责人, 高级管理人员, 董事, 股东,
/// 负有直接责任的注册执业人员). The order is the stored code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    LegalRep = 0,
    Principal = 1,
    Manager = 2,
    Director = 3,
    Shareholder = 4,
    Professional = 5,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::LegalRep,
        Role::Principal,
        Role::Manager,
        Role::Director,
        Role::Shareholder,
        Role::Professional,
    ];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::LegalRep => "legal_rep",
            Role::Principal => "principal",
            Role::Manager => "manager",
            Role::Director => "director",
            Role::Shareholder => "shareholder",
            Role::Professional => "professional",
        }
    }

    pub fn from_u8(v: u8) -> Option<Role> {
        Role::ALL.get(v as usize).copied()
    }

    /// The role names, comma-separated, for error messages.
    pub fn names() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }
}

/// Bit of [`applies_mask`] for the subject itself; role `r` is bit `1 + r`.
pub const APPLIES_SUBJECT: u8 = 1;

/// The `applies_to` list of a measure as a bit mask (validated by the
/// catalog: unknown names are refused there and ignored here).
pub fn applies_mask(applies_to: &[String]) -> u8 {
    applies_to.iter().fold(0, |m, a| {
        if a == APPLIES_TO_SUBJECT {
            m | APPLIES_SUBJECT
        } else {
            Role::parse(a).map_or(m, |r| m | role_bit(r))
        }
    })
}

/// The [`applies_mask`] bit of a role.
pub fn role_bit(r: Role) -> u8 {
    1 << (1 + r as u8)
}

/// Who a profile item came through, packed in a byte: 0 for the subject
/// itself, else `1 + role`, with [`VIA_PERSON`] set when the organisation's
/// code counts as a natural person (rule 6).
pub const VIA_SUBJECT: u8 = 0;
pub const VIA_PERSON: u8 = 0x80;

/// One element of a subject's measure profile: an active `(kind, domain)`
/// that can trigger measures, and how it reaches the subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProfileItem {
    pub kind: Kind,
    pub via: u8,
    pub domain: u16,
}

impl ProfileItem {
    /// The role it came through, `None` for the subject's own hit.
    pub fn role(self) -> Option<Role> {
        match self.via & !VIA_PERSON {
            0 => None,
            r => Role::from_u8(r - 1),
        }
    }
    pub fn through_person(self) -> bool {
        self.via & VIA_PERSON != 0
    }
}

/// The link of an organisation to a profile's `via` byte.
pub fn via_byte(role: Role, org_is_person: bool) -> u8 {
    (1 + role as u8) | if org_is_person { VIA_PERSON } else { 0 }
}
