//! Wire formats shared by the daemon and its clients: pure encoders and
//! parsers, no I/O.
//!
//! - [`batch`]: the frames of the binary batch protocol (SPEC §6 "Batch
//!   socket").

pub mod batch;
