//! The frames of the batch protocol (SPEC §6 "Batch socket"): binary,
//! little-endian, one request per frame, several frames in flight per
//! connection, answered in order.
//!
//! ```text
//! request : u32 len | u8 version (1 or 2) | u8 op=1 (CHECK) | u64 request_id
//!           | u32 as_of (days since 1970-01-01, 0 = today) | u16 matter_len
//!           | matter bytes (UTF-8; empty = lists only) | u32 n | n × 18 code bytes
//! response: u32 len | u8 version | u8 status=0 | u64 request_id | u32 n
//!           | n × u8 flags (version 1) or n × u16 flags (version 2, little-endian)
//! error   : u32 len | u8 version | u8 status | u64 request_id | u32 msg_len | msg
//! ```
//! A frame is answered in its own version; a frame whose version cannot be
//! read is answered in version 1. Version 2 (SPEC §8) adds bits 8–10,
//! RELATED_BLACK, RELATED_WATCH and RELATED_RED
//! ([`crate::related::flags`]).
//! `len` counts the bytes after itself, so a request has
//! `len = 20 + matter_len + 18 n`. Statuses (`status`): 1 malformed (and
//! unknown version or op), 2 too large, 3 forbidden, 4 unknown matter,
//! 5 unavailable.
//!
//! Everything here is pure (no I/O): the daemon's connection loop
//! (`server::batch`), the load generator, the tests and the fuzz targets
//! encode and parse frames with it. [`parse_frame`] does not allocate: it
//! tells a complete frame from an incomplete one (`Ok(None)`: read more)
//! and from an invalid one. It decides "too large" from the first 20
//! bytes, before the rest of the frame is read, so a hostile `len` never
//! makes the daemon buffer more than the largest legal frame.
//!
//! Versions: a frame names its [`Version`]; a version not listed there is
//! malformed.

use crate::check::CODE_LEN;
use std::ops::Range;

/// The protocol version of a frame, the byte after `len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// SPEC §6: one flag byte per code.
    V1 = 1,
    /// SPEC §8: a little-endian u16 of flags per code, with the RELATED bits.
    V2 = 2,
}

impl Version {
    /// The version a frame's byte names, `None` when unknown.
    pub fn from_byte(b: u8) -> Option<Version> {
        match b {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            _ => None,
        }
    }

    pub const fn byte(self) -> u8 {
        self as u8
    }

    /// Bytes of flags per code in a success response.
    pub const fn flag_width(self) -> usize {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// The only op: check codes.
pub(crate) const OP_CHECK: u8 = 1;

/// Response statuses.
pub(crate) mod status {
    pub const OK: u8 = 0;
    pub const MALFORMED: u8 = 1;
    pub const TOO_LARGE: u8 = 2;
    pub const FORBIDDEN: u8 = 3;
    pub const UNKNOWN_MATTER: u8 = 4;
    pub const UNAVAILABLE: u8 = 5;
}

/// Bytes of a request after `len` up to and including `n`, without the
/// matter.
const FIXED: u64 = 20;

/// Bytes of a response after `len` up to and including its count.
const RESPONSE_FIXED: usize = 14;

/// Longest message of an error frame; a longer one is cut.
const MAX_ERROR_MESSAGE: usize = 4096;

/// One request frame, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub version: Version,
    pub request_id: u64,
    pub as_of: u32,
    pub matter: &'a str,
    /// `n × 18` bytes.
    pub codes: &'a [u8],
}

impl Frame<'_> {
    pub fn n(&self) -> usize {
        self.codes.len() / CODE_LEN
    }
}

/// Why a frame is refused; the connection is closed after either.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Status 1. `request_id` is 0 when it could not be read.
    Malformed {
        request_id: u64,
        reason: &'static str,
    },
    /// Status 2.
    TooLarge { request_id: u64, len: u64 },
}

impl FrameError {
    pub fn status(&self) -> u8 {
        match self {
            FrameError::Malformed { .. } => status::MALFORMED,
            FrameError::TooLarge { .. } => status::TOO_LARGE,
        }
    }
    pub fn request_id(&self) -> u64 {
        match self {
            FrameError::Malformed { request_id, .. } | FrameError::TooLarge { request_id, .. } => {
                *request_id
            }
        }
    }
    pub fn message(&self, max_codes: u32) -> String {
        match self {
            FrameError::Malformed { reason, .. } => format!("malformed frame: {reason}"),
            FrameError::TooLarge { len, .. } => {
                format!("frame too large: {len} bytes; at most {max_codes} codes per frame")
            }
        }
    }
}

/// Largest legal `len` for a request with at most `max_codes` codes.
pub(crate) fn max_frame_len(max_codes: u32) -> u64 {
    FIXED + u16::MAX as u64 + CODE_LEN as u64 * max_codes as u64
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Parses the request frame at the start of `buf`: `Ok(None)` when more
/// bytes are needed, the frame and the bytes it used, or why it is refused.
pub fn parse_frame(buf: &[u8], max_codes: u32) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32_at(buf, 0) as u64;
    // The fixed header (or the whole frame, when shorter) decides validity.
    let head = 4 + len.min(16) as usize;
    if buf.len() < head {
        return Ok(None);
    }
    let malformed = |request_id, reason| Err(FrameError::Malformed { request_id, reason });
    // `len == 0`: not even the version byte is part of the frame.
    let version = if len == 0 {
        None
    } else {
        Version::from_byte(buf[4])
    };
    let Some(version) = version else {
        return malformed(0, "unknown protocol version (expected 1 or 2)");
    };
    if len < 10 {
        return malformed(0, "frame shorter than its header");
    }
    let request_id = u64_at(buf, 6);
    if buf[5] != OP_CHECK {
        return malformed(request_id, "unknown op (expected 1, CHECK)");
    }
    if len < FIXED {
        return malformed(request_id, "frame shorter than its header");
    }
    if len > max_frame_len(max_codes) {
        return Err(FrameError::TooLarge { request_id, len });
    }
    // `len` and `matter_len` (both in the fixed header) declare `n`: too
    // many codes are refused now, before the body is read.
    let mlen = u16_at(buf, 18) as u64;
    if len >= FIXED + mlen && (len - FIXED - mlen) / CODE_LEN as u64 > max_codes as u64 {
        return Err(FrameError::TooLarge { request_id, len });
    }
    let total = 4 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let frame = &buf[..total];
    let as_of = u32_at(frame, 14);
    let mlen = u16_at(frame, 18) as usize;
    if FIXED + mlen as u64 > len {
        return malformed(request_id, "matter_len runs past the frame");
    }
    let Ok(matter) = std::str::from_utf8(&frame[20..20 + mlen]) else {
        return malformed(request_id, "matter is not UTF-8");
    };
    let n = u32_at(frame, 20 + mlen);
    if n > max_codes {
        return Err(FrameError::TooLarge { request_id, len });
    }
    if len != FIXED + mlen as u64 + CODE_LEN as u64 * n as u64 {
        return malformed(request_id, "len does not match 20 + matter_len + 18 n");
    }
    let codes = &frame[24 + mlen..];
    Ok(Some((
        Frame {
            version,
            request_id,
            as_of,
            matter,
            codes,
        },
        total,
    )))
}

/// The version a refused frame at the start of `pending` is answered in:
/// its own when its version byte is part of the frame and known, else 1.
pub fn refusal_version(pending: &[u8]) -> Version {
    match pending {
        [l0, l1, l2, l3, v, ..] if u32::from_le_bytes([*l0, *l1, *l2, *l3]) > 0 => {
            Version::from_byte(*v).unwrap_or(Version::V1)
        }
        _ => Version::V1,
    }
}

/// Bytes still to read to complete the frame at the start of `pending`,
/// its `len` bounded by the largest legal frame (0 while `len` itself is
/// not in).
pub(crate) fn bytes_wanted(pending: &[u8], max_codes: u32) -> usize {
    if pending.len() < 4 {
        return 0;
    }
    let len = u32_at(pending, 0) as u64;
    (4 + len.min(max_frame_len(max_codes))) as usize - pending.len().min(4 + len as usize)
}

/// The fields of a request frame besides its codes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestHead<'a> {
    pub version: Version,
    pub request_id: u64,
    /// Days since 1970-01-01, 0 = the daemon's today.
    pub as_of: u32,
    /// Empty: lists only, no measures.
    pub matter: &'a str,
}

impl RequestHead<'_> {
    /// Appends the request frame for `codes` (`n × 18` bytes).
    pub(crate) fn encode(&self, codes: &[u8], out: &mut Vec<u8>) {
        let n = codes.len() / CODE_LEN;
        let len = FIXED as usize + self.matter.len() + codes.len();
        out.reserve(4 + len);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.push(self.version.byte());
        out.push(OP_CHECK);
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.extend_from_slice(&self.as_of.to_le_bytes());
        out.extend_from_slice(&(self.matter.len() as u16).to_le_bytes());
        out.extend_from_slice(self.matter.as_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(codes);
    }
}

/// Encodes a version 1 request frame (for clients and tests).
pub fn encode_request(
    request_id: u64,
    as_of: u32,
    matter: &str,
    codes: &[[u8; CODE_LEN]],
) -> Vec<u8> {
    encode_request_in(Version::V1, request_id, as_of, matter, codes)
}

/// Encodes a request frame of `version` (for clients and tests).
pub fn encode_request_in(
    version: Version,
    request_id: u64,
    as_of: u32,
    matter: &str,
    codes: &[[u8; CODE_LEN]],
) -> Vec<u8> {
    let mut v = Vec::new();
    let head = RequestHead {
        version,
        request_id,
        as_of,
        matter,
    };
    head.encode(codes.as_flattened(), &mut v);
    v
}

/// Appends the header of a success frame and `n` zeroed flags; returns
/// where the flags are.
pub(crate) fn begin_ok(
    out: &mut Vec<u8>,
    version: Version,
    request_id: u64,
    n: usize,
) -> Range<usize> {
    let bytes = n * version.flag_width();
    out.extend_from_slice(&((RESPONSE_FIXED + bytes) as u32).to_le_bytes());
    out.push(version.byte());
    out.push(status::OK);
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    let at = out.len();
    out.resize(at + bytes, 0);
    at..at + bytes
}

/// Appends an error frame (version 1); a message over 4096 bytes is cut.
#[cfg(test)]
pub(crate) fn encode_error(out: &mut Vec<u8>, st: u8, request_id: u64, msg: &str) {
    encode_error_in(out, Version::V1, st, request_id, msg)
}

/// Appends an error frame of `version`; a message over 4096 bytes is cut.
pub(crate) fn encode_error_in(
    out: &mut Vec<u8>,
    version: Version,
    st: u8,
    request_id: u64,
    msg: &str,
) {
    let msg = &msg.as_bytes()[..msg.len().min(MAX_ERROR_MESSAGE)];
    out.extend_from_slice(&((RESPONSE_FIXED + msg.len()) as u32).to_le_bytes());
    out.push(version.byte());
    out.push(st);
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    out.extend_from_slice(msg);
}

/// A response frame, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResponseView<'a> {
    Flags {
        version: Version,
        request_id: u64,
        /// `n × flag_width` bytes.
        flags: &'a [u8],
    },
    Error {
        status: u8,
        request_id: u64,
        /// UTF-8 as sent by the daemon; not checked.
        message: &'a [u8],
    },
}

/// A decoded response frame, owned (for clients and tests).
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// A version-1 answer.
    Flags { request_id: u64, flags: Vec<u8> },
    /// A version-2 answer.
    FlagsV2 { request_id: u64, flags: Vec<u16> },
    Error {
        status: u8,
        request_id: u64,
        message: String,
    },
}

impl From<ResponseView<'_>> for Response {
    fn from(r: ResponseView<'_>) -> Response {
        match r {
            ResponseView::Flags {
                version: Version::V1,
                request_id,
                flags,
            } => Response::Flags {
                request_id,
                flags: flags.to_vec(),
            },
            ResponseView::Flags {
                version: Version::V2,
                request_id,
                flags,
            } => Response::FlagsV2 {
                request_id,
                flags: flags
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            },
            ResponseView::Error {
                status,
                request_id,
                message,
            } => Response::Error {
                status,
                request_id,
                message: String::from_utf8_lossy(message).into_owned(),
            },
        }
    }
}

/// Why a response frame cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("answer of {len} bytes, shorter than its header")]
    Short { len: usize },
    #[error("answer of version {got} (expected 1 or 2)")]
    Version { got: u8 },
    #[error("answer len {len} does not match its count {count}")]
    Count { len: usize, count: usize },
}

/// Decodes the response at the start of `buf` without copying: `None`
/// when incomplete.
pub(crate) fn parse_response_view(
    buf: &[u8],
) -> Result<Option<(ResponseView<'_>, usize)>, ResponseError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32_at(buf, 0) as usize;
    if len < RESPONSE_FIXED {
        return Err(ResponseError::Short { len });
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let f = &buf[..4 + len];
    let Some(version) = Version::from_byte(f[4]) else {
        return Err(ResponseError::Version { got: f[4] });
    };
    let (st, request_id, count) = (f[5], u64_at(f, 6), u32_at(f, 14) as usize);
    let width = if st == status::OK {
        version.flag_width()
    } else {
        1
    };
    if Some(len) != count.checked_mul(width).map(|b| RESPONSE_FIXED + b) {
        return Err(ResponseError::Count { len, count });
    }
    let body = &f[18..];
    let r = if st == status::OK {
        ResponseView::Flags {
            version,
            request_id,
            flags: body,
        }
    } else {
        ResponseView::Error {
            status: st,
            request_id,
            message: body,
        }
    };
    Ok(Some((r, 4 + len)))
}

/// Decodes the response at the start of `buf`: `None` when incomplete.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, ResponseError> {
    Ok(parse_response_view(buf)?.map(|(r, used)| (r.into(), used)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODE: [u8; 18] = *b"91350100MA2Y3K8L5G";

    #[test]
    fn version_2_frames_and_answers_round_trip() {
        let f = encode_request_in(Version::V2, 9, 0, "", &[CODE, CODE, CODE]);
        let (frame, _) = parse_frame(&f, 10).unwrap().unwrap();
        assert_eq!(frame.version, Version::V2);
        assert_eq!(frame.n(), 3);
        let mut out = Vec::new();
        let at = begin_ok(&mut out, Version::V2, 9, 3);
        assert_eq!(at.len(), 6);
        out[at.clone()].copy_from_slice(&[0x02, 0x01, 0x00, 0x00, 0x08, 0x04]);
        let (r, used) = parse_response(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(
            r,
            Response::FlagsV2 {
                request_id: 9,
                flags: vec![0x0102, 0, 0x0408]
            }
        );
        // An error frame of version 2 carries its message, not flags.
        let mut e = Vec::new();
        encode_error_in(
            &mut e,
            Version::V2,
            status::UNKNOWN_MATTER,
            9,
            "unknown matter",
        );
        let (r, _) = parse_response(&e).unwrap().unwrap();
        assert!(matches!(
            r,
            Response::Error {
                status: 4,
                request_id: 9,
                ..
            }
        ));
        // A version-2 answer whose length is odd for its count is refused.
        let mut bad = out.clone();
        bad.pop();
        bad[0] -= 1;
        assert!(parse_response(&bad).is_err());
    }

    #[test]
    fn a_frame_round_trips() {
        let f = encode_request(7, 20413, "gov_procurement", &[CODE, CODE]);
        let (frame, used) = parse_frame(&f, 10).unwrap().unwrap();
        assert_eq!(used, f.len());
        assert_eq!(frame.request_id, 7);
        assert_eq!(frame.as_of, 20413);
        assert_eq!(frame.matter, "gov_procurement");
        assert_eq!(frame.n(), 2);
        assert_eq!(&frame.codes[..18], &CODE);
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let f = encode_request(7, 0, "m", &[CODE; 3]);
        for i in 0..f.len() {
            assert_eq!(parse_frame(&f[..i], 10), Ok(None), "prefix {i}");
        }
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let mut f = encode_request(1, 0, "", &[CODE]);
        f.extend(encode_request(2, 0, "", &[CODE, CODE]));
        let (a, used) = parse_frame(&f, 10).unwrap().unwrap();
        assert_eq!(a.request_id, 1);
        let (b, used2) = parse_frame(&f[used..], 10).unwrap().unwrap();
        assert_eq!((b.request_id, b.n()), (2, 2));
        assert_eq!(used + used2, f.len());
    }

    #[test]
    fn too_large_is_known_from_the_header() {
        // n over the limit within a plausible len: known from len and
        // matter_len, the first 20 bytes, before the body.
        let f = encode_request(9, 0, "", &[CODE; 11]);
        assert_eq!(parse_frame(&f[..19], 10), Ok(None));
        for upto in [20, f.len()] {
            assert_eq!(
                parse_frame(&f[..upto], 10),
                Err(FrameError::TooLarge {
                    request_id: 9,
                    len: 218
                })
            );
        }
        // The same with a matter: its length counts.
        let m = encode_request(9, 0, &"m".repeat(100), &[CODE; 10]);
        assert_eq!(parse_frame(&m[..20], 10), Ok(None));
        let m = encode_request(9, 0, &"m".repeat(100), &[CODE; 11]);
        assert!(matches!(
            parse_frame(&m[..20], 10),
            Err(FrameError::TooLarge { request_id: 9, .. })
        ));
        // A len past the largest legal frame: known from the first 20 bytes.
        let mut huge = f[..20].to_vec();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_frame(&huge, 10),
            Err(FrameError::TooLarge { request_id: 9, .. })
        ));
    }

    #[test]
    fn malformed_frames() {
        let good = encode_request(5, 0, "m", &[CODE]);
        let mut v = good.clone();
        v[4] = 3;
        assert_eq!(
            parse_frame(&v, 10).unwrap_err(),
            FrameError::Malformed {
                request_id: 0,
                reason: "unknown protocol version (expected 1 or 2)"
            }
        );
        let mut v = good.clone();
        v[5] = 9;
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        let mut v = good.clone();
        v[18] = 200; // matter_len past the end
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        let mut v = good.clone();
        v[21] = 2; // n = 2 but one code
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        let mut v = good;
        v[20] = 0xff; // matter not UTF-8
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        assert!(matches!(
            parse_frame(&[0, 0, 0, 0], 10),
            Err(FrameError::Malformed { request_id: 0, .. })
        ));
    }

    #[test]
    fn bytes_wanted_completes_the_frame_within_its_bound() {
        let f = encode_request(1, 0, "m", &[CODE; 3]);
        assert_eq!(bytes_wanted(&f[..3], 10), 0);
        assert_eq!(bytes_wanted(&f[..10], 10), f.len() - 10);
        assert_eq!(bytes_wanted(&f, 10), 0);
        let mut huge = f[..8].to_vec();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(bytes_wanted(&huge, 10) as u64, 4 + max_frame_len(10) - 8);
    }

    #[test]
    fn refused_frames_are_answered_in_their_version_when_it_is_known() {
        let one = [*b"91350100MA2Y3K8L5G"];
        let v2 = encode_request_in(Version::V2, 3, 0, "", &one);
        assert_eq!(refusal_version(&v2), Version::V2);
        assert_eq!(
            refusal_version(&encode_request(3, 0, "", &one)),
            Version::V1
        );
        let mut unknown = v2.clone();
        unknown[4] = 9;
        assert_eq!(refusal_version(&unknown), Version::V1);
        // len 0: the version byte is not part of the frame.
        assert_eq!(refusal_version(&[0, 0, 0, 0, 2]), Version::V1);
        assert_eq!(refusal_version(&v2[..4]), Version::V1);
        // Too many codes for the limit: refused, in version 2.
        assert!(matches!(
            parse_frame(&v2, 0),
            Err(FrameError::TooLarge { request_id: 3, .. })
        ));
    }

    #[test]
    fn responses_round_trip() {
        let mut out = Vec::new();
        let at = begin_ok(&mut out, Version::V1, 3, 2);
        out[at].copy_from_slice(&[1, 2]);
        encode_error(&mut out, status::FORBIDDEN, 4, "no");
        let (a, used) = parse_response(&out).unwrap().unwrap();
        assert_eq!(
            a,
            Response::Flags {
                request_id: 3,
                flags: vec![1, 2]
            }
        );
        let (b, _) = parse_response(&out[used..]).unwrap().unwrap();
        assert_eq!(
            b,
            Response::Error {
                status: 3,
                request_id: 4,
                message: "no".into()
            }
        );
    }

    #[test]
    fn bad_responses() {
        let mut out = Vec::new();
        begin_ok(&mut out, Version::V1, 3, 2);
        let mut v = out.clone();
        v[4] = 7;
        assert_eq!(
            parse_response(&v).unwrap_err().to_string(),
            "answer of version 7 (expected 1 or 2)"
        );
        let mut v = out.clone();
        v[14] = 5;
        assert_eq!(
            parse_response(&v).unwrap_err(),
            ResponseError::Count { len: 16, count: 5 }
        );
        assert_eq!(
            parse_response(&[3, 0, 0, 0]).unwrap_err(),
            ResponseError::Short { len: 3 }
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0u32..64) {
            if let Ok(Some((frame, used))) = parse_frame(&bytes, max) {
                prop_assert!(used <= bytes.len());
                prop_assert!(frame.n() <= max as usize);
                prop_assert_eq!(frame.codes.len() % 18, 0);
            }
        }

        #[test]
        fn encoded_frames_parse_back(rid in any::<u64>(), as_of in any::<u32>(), matter in "[a-z_]{0,20}", n in 0usize..20) {
            let codes = vec![CODE; n];
            let f = encode_request(rid, as_of, &matter, &codes);
            let (frame, used) = parse_frame(&f, 20).unwrap().unwrap();
            prop_assert_eq!(used, f.len());
            prop_assert_eq!((frame.request_id, frame.as_of, frame.matter, frame.n()), (rid, as_of, matter.as_str(), n));
        }

        #[test]
        fn mutated_frames_never_panic(n in 0usize..5, at in 0usize..200, byte in any::<u8>()) {
            let mut f = encode_request(1, 0, "m", &vec![CODE; n]);
            let i = at % f.len();
            f[i] = byte;
            let _ = parse_frame(&f, 4);
        }
    }
}
