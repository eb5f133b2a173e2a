//! credlist: the list-matching engine of a city's credit information sharing
//! platform. Red, black and watch lists keyed by Unified Social Credit Codes
//! and citizen ID numbers, held in a memory-mapped snapshot and checked by
//! approval systems, bulk callers, operators and list authorities.
//!
//! Modules by domain concept:
//! - [`codes`]: subject codes (GB 32100 USCC, GB 11643 ID numbers) and keys;
//! - [`date`]: calendar days;
//! - [`calendar`]: working days (holidays, make-up workdays);
//! - [`catalog`]: domains, matters and measures (联合奖惩措施清单);
//! - [`entry`]: list kinds, entry statuses, entry facts;
//! - `durable`: writing output files durably (temp file, fsync, rename);
//! - [`os`]: the raw operating system calls, behind safe wrappers;
//! - [`ingest`]: reading list files (file order, decoding, row validation,
//!   the reject report's reasons, legacy codes);
//! - [`rules`]: the §3 rules and §4 measures, pure;
//! - [`roles`]: the roles of related parties and who a measure reaches;
//! - [`related`]: related parties (§8): roles, binding, measures through relations, pure;
//! - [`snapshot`]: the snapshot file (format, builder, write, read);
//! - [`build`]: the `build` pipeline: ingest feeds the snapshot builder;
//! - [`check`]: result items and batch flags, shared by CLI and daemon;
//! - [`sweep`], [`screen`], [`diff`], [`inspect`]: the operator commands;
//! - [`publish`], [`notices`], [`deadline`], [`mask`]: what list authorities
//!   publish and announce, and whether they reported in time;
//! - [`gen`]: deterministic data generator;
//! - [`report`]: the follow-through report over audit registers (`credlist report`);
//! - [`loadgen`]: load generators against a running daemon (`credlist bench`);
//! - [`server`]: the daemon (`credlist serve`) and its admin client;
//! - [`wire`]: the batch protocol's frames, shared by the daemon, the load
//!   generator and the tests.

pub mod build;
pub mod calendar;
pub mod catalog;
pub mod check;
pub mod codes;
pub mod date;
pub mod deadline;
pub mod diff;
pub(crate) mod durable;
pub mod entry;
pub mod gen;
pub mod gen_audit;
pub mod ingest;
pub mod inspect;
pub mod loadgen;
pub mod mask;
pub mod notices;
pub mod os;
pub mod publish;
pub mod related;
pub mod report;
pub mod roles;
pub mod rules;
pub mod screen;
pub mod server;
pub mod snapshot;
pub mod stream;
pub mod sweep;
pub mod wire;
