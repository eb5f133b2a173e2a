//! List entries: the kinds of list, entry statuses, and the facts of an
//! entry that the rules read (SPEC §2).

use crate::date::Day;
use serde::Serialize;

/// The three lists. The order is the subject-status precedence and the order
/// hits are reported in: black, watch, red.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Black = 0,
    Watch = 1,
    Red = 2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Black, Kind::Watch, Kind::Red];

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "black" => Some(Kind::Black),
            "watch" => Some(Kind::Watch),
            "red" => Some(Kind::Red),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Black => "black",
            Kind::Watch => "watch",
            Kind::Red => "red",
        }
    }
    pub fn from_u8(v: u8) -> Option<Kind> {
        Kind::ALL.get(v as usize).copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active = 0,
    /// 异议核实中: effective, measures suspended.
    Objection = 1,
    /// 认定有误: listed in error, never effective, no derived watch.
    Revoked = 2,
    /// 信用修复: early exit on `exited_on`.
    Repaired = 3,
    /// Ran out on `valid_until`; judged by its dates like `Active`.
    Expired = 4,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "objection" => Some(Status::Objection),
            "revoked" => Some(Status::Revoked),
            "repaired" => Some(Status::Repaired),
            "expired" => Some(Status::Expired),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Objection => "objection",
            Status::Revoked => "revoked",
            Status::Repaired => "repaired",
            Status::Expired => "expired",
        }
    }
    pub fn from_u8(v: u8) -> Option<Status> {
        [
            Status::Active,
            Status::Objection,
            Status::Revoked,
            Status::Repaired,
            Status::Expired,
        ]
        .get(v as usize)
        .copied()
    }
}

/// The facts of an entry that the rules read: small and `Copy`, so the
/// snapshot reader can hand them out without touching strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    pub kind: Kind,
    pub status: Status,
    /// Index of the domain in the catalog.
    pub domain: u16,
    pub listed_on: Day,
    pub valid_until: Option<Day>,
    pub exited_on: Option<Day>,
    pub watch_until: Option<Day>,
}
