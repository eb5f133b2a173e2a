//! Subject codes: Unified Social Credit Codes (GB 32100-2015) for
//! organisations and citizen ID numbers (GB 11643-1999) for natural persons.
//!
//! Pure functions, no I/O: [`normalize`] the caller's spelling, [`parse`] it
//! into a canonical 18-character [`Code`], and pack a code into a [`Key`],
//! the fixed-size form the snapshot's dictionary is keyed by.

use crate::date::Day;
use std::fmt;

/// The 31 characters of GB 32100 (no I, O, S, V, Z), in value order.
pub const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// Value of each byte in the USCC alphabet, 0xFF when outside it.
const USCC_VALUE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 31 {
        t[USCC_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Whether a code names an organisation or a natural person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeKind {
    Org,
    Person,
}

/// A canonical code: 18 upper-case ASCII characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub [u8; 18]);

impl Code {
    pub fn as_str(&self) -> &str {
        // Codes are only built from validated ASCII.
        std::str::from_utf8(&self.0).unwrap_or("?")
    }
    pub fn key(&self) -> Option<Key> {
        Key::from_bytes(&self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.as_str())
    }
}

/// A successfully parsed code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub code: Code,
    pub kind: CodeKind,
    /// Set when a secondary check failed (GB 11714 organisation code) or a
    /// legacy code was accepted: the code is used, the warning is counted.
    pub warning: Option<String>,
}

/// Why a code is not valid. Messages say exactly what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("empty code")]
    Empty,
    #[error("wrong length: expected 18 characters (or a 15-digit legacy ID number), got {got}")]
    Length { got: usize },
    #[error("forbidden character {ch:?} at position {pos}")]
    ForbiddenChar { ch: char, pos: usize },
    #[error("administrative division code (characters 3-8) must be digits, got {got:?} at position {pos}")]
    Division { got: char, pos: usize },
    #[error("check character mismatch: expected {expected}, got {got}")]
    Check { expected: char, got: char },
    #[error("impossible birth date {date}")]
    BirthDate { date: String },
    #[error("birth date {date} outside 1900-01-01 .. {as_of}")]
    BirthRange { date: String, as_of: Day },
}

/// Trims ASCII whitespace and U+3000, maps full-width ASCII (U+FF01..U+FF5E)
/// to half-width and lower case to upper case.
pub fn normalize(input: &str) -> String {
    let t = input.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{3000}');
    t.chars()
        .map(|c| {
            let c = if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
                char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c)
            } else {
                c
            };
            c.to_ascii_uppercase()
        })
        .collect()
}

/// Normalises and validates a code as of `as_of` (the upper bound of birth
/// dates).
pub fn parse(input: &str, as_of: Day) -> Result<Parsed, CodeError> {
    // Most codes arrive already canonical: skip the allocation then.
    if !input.is_empty()
        && input
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return parse_normalized(input, as_of);
    }
    parse_normalized(&normalize(input), as_of)
}

/// Characters in `s`; codes are ASCII nearly always, which a word-wise
/// check sees faster than counting.
pub(crate) fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Validates an already normalised code.
pub fn parse_normalized(s: &str, as_of: Day) -> Result<Parsed, CodeError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(CodeError::Empty);
    }
    let nchars = char_len(s);
    if nchars == 15 && b.iter().all(u8::is_ascii_digit) {
        return upgrade_id15(b, as_of);
    }
    if nchars != 18 || b.len() != 18 {
        // A non-ASCII character in an 18-character string: name it.
        if nchars == 18 {
            let (pos, ch) = s
                .chars()
                .enumerate()
                .find(|(_, c)| !c.is_ascii())
                .unwrap_or((0, '?'));
            return Err(CodeError::ForbiddenChar { ch, pos: pos + 1 });
        }
        return Err(CodeError::Length { got: nchars });
    }
    let mut code = [0u8; 18];
    code.copy_from_slice(b);
    if code[..17].iter().all(u8::is_ascii_digit) {
        match check_id(&code, as_of) {
            Ok(()) => {
                return Ok(Parsed {
                    code: Code(code),
                    kind: CodeKind::Person,
                    warning: None,
                })
            }
            Err(id_err) => {
                return check_uscc(&code)
                    .map(|warning| Parsed {
                        code: Code(code),
                        kind: CodeKind::Org,
                        warning,
                    })
                    .map_err(|_| id_err)
            }
        }
    }
    check_uscc(&code).map(|warning| Parsed {
        code: Code(code),
        kind: CodeKind::Org,
        warning,
    })
}

/// The USCC reading of §1 alone, for a field that must name an
/// organisation (SPEC §8: a relation's `org`): an already normalised code
/// validated as a USCC whatever its ID reading says. An all-digit code that
/// passes both readings is accepted, and `kind` is still §1's: `Person`
/// then, because such a code counts as a natural person. A 15-digit ID
/// number is a length error here.
pub fn parse_uscc(s: &str, as_of: Day) -> Result<Parsed, CodeError> {
    let nchars = char_len(s);
    if nchars != 18 || s.len() != 18 {
        if nchars == 18 {
            let (pos, ch) = s
                .chars()
                .enumerate()
                .find(|(_, c)| !c.is_ascii())
                .unwrap_or((0, '?'));
            return Err(CodeError::ForbiddenChar { ch, pos: pos + 1 });
        }
        return Err(if nchars == 0 {
            CodeError::Empty
        } else {
            CodeError::Length { got: nchars }
        });
    }
    let mut code = [0u8; 18];
    code.copy_from_slice(s.as_bytes());
    let warning = check_uscc(&code)?;
    let kind = match classify(&code, as_of) {
        Some(CodeKind::Person) => CodeKind::Person,
        _ => CodeKind::Org,
    };
    Ok(Parsed {
        code: Code(code),
        kind,
        warning,
    })
}

/// Whether an 18-byte, already normalised code is valid and of which kind:
/// exactly `parse_normalized(code).ok().map(|p| p.kind)`, without building
/// a result or an error. The batch protocol's path for unlisted codes.
#[inline]
pub fn classify(code: &[u8; 18], as_of: Day) -> Option<CodeKind> {
    let digits17 = code[..17].iter().all(u8::is_ascii_digit);
    if digits17 && id_check_char(&code[..17]) == code[17] && check_birth_fast(&code[6..14], as_of) {
        return Some(CodeKind::Person);
    }
    let mut sum = 0u32;
    let mut bad = 0u8;
    for (i, w) in USCC_WEIGHTS.iter().enumerate() {
        let v = USCC_VALUE[code[i] as usize];
        bad |= v;
        sum += (v as u32 & 31) * w;
    }
    let ok = bad & 0x80 == 0
        && code[2..8].iter().all(u8::is_ascii_digit)
        && USCC_ALPHABET[((31 - sum % 31) % 31) as usize] == code[17];
    ok.then_some(CodeKind::Org)
}

/// The latest birth date a code may carry, for [`scan`]: `as_of` and the
/// same date as the number yyyymmdd, because real dates compare as these
/// numbers do and a comparison is cheaper than a day count.
#[derive(Clone, Copy, Debug)]
pub struct BirthLimit {
    as_of: Day,
    ymd: u32,
}

impl BirthLimit {
    pub fn new(as_of: Day) -> BirthLimit {
        let ymd = if as_of < Day::MIN_BIRTH {
            0
        } else {
            match as_of.ymd() {
                (y, _, _) if y > 9999 => u32::MAX,
                (y, m, d) => y as u32 * 10_000 + m * 100 + d,
            }
        };
        BirthLimit { as_of, ymd }
    }

    pub fn as_of(self) -> Day {
        self.as_of
    }

    /// `check_birth_fast` on 8 ASCII digits.
    #[inline]
    fn admits(self, d: &[u8]) -> bool {
        let n = d.iter().fold(0u32, |a, &c| a * 10 + (c - b'0') as u32);
        let (y, m, day) = (n / 10_000, n / 100 % 100, n % 100);
        (1..=12).contains(&m)
            && day != 0
            && day <= crate::date::days_in_month(y as i32, m)
            && (19_000_101..=self.ymd).contains(&n)
    }
}

/// `(Key::from_bytes(code), classify(code, as_of))` in one pass over the
/// bytes: the batch protocol needs both of every code, and reading and
/// classifying the 18 bytes twice is a large part of its time.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn scan(code: &[u8; 18], births: BirthLimit) -> (Option<Key>, Option<CodeKind>) {
    use std::arch::x86_64::*;
    // Bytes 0..16 as 16 lanes; 16 and 17 by table below.
    // SAFETY: SSE2 is part of x86_64, and the unaligned load reads bytes
    // 0..16 of the 18-byte array.
    let (ok, digit, quads, sums) = unsafe {
        let x = _mm_loadu_si128(code.as_ptr().cast());
        let gt = |c: u8| _mm_cmpgt_epi8(x, _mm_set1_epi8(c as i8));
        let lt = |c: u8| _mm_cmplt_epi8(x, _mm_set1_epi8(c as i8));
        let eq = |c: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(c as i8));
        // Signed compares: bytes from 0x80 are below '0', so in no range.
        let digit = _mm_and_si128(gt(b'0' - 1), lt(b'9' + 1));
        let letter = _mm_and_si128(gt(b'A' - 1), lt(b'Z'));
        let banned = _mm_or_si128(
            _mm_or_si128(eq(b'I'), eq(b'O')),
            _mm_or_si128(eq(b'S'), eq(b'V')),
        );
        let ok = _mm_or_si128(digit, _mm_andnot_si128(banned, letter));
        // Alphabet value: minus 7 from 'A' on, and one past each banned
        // letter (a true compare is -1).
        let mut v = _mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8));
        v = _mm_sub_epi8(v, _mm_and_si128(gt(b'A' - 1), _mm_set1_epi8(7)));
        v = _mm_add_epi8(_mm_add_epi8(v, gt(b'I')), _mm_add_epi8(gt(b'O'), gt(b'S')));
        v = _mm_add_epi8(v, gt(b'V'));
        let z = _mm_setzero_si128();
        // Key: 5-bit fields of value + 1, joined pairwise into 10 bits,
        // then into 20 bits (four characters a 32-bit lane).
        let w = _mm_add_epi8(v, _mm_set1_epi8(1));
        let pair = _mm_set1_epi32(1 | 32 << 16);
        let p = _mm_madd_epi16(_mm_unpacklo_epi8(w, z), pair);
        let q = _mm_madd_epi16(_mm_unpackhi_epi8(w, z), pair);
        let quads = _mm_madd_epi16(_mm_packs_epi32(p, q), _mm_set1_epi32(1 | 1024 << 16));
        // Check sums of characters 0..16, USCC and ID weights.
        let (vl, vh) = (_mm_unpacklo_epi8(v, z), _mm_unpackhi_epi8(v, z));
        let lanes = |w: &[u32]| {
            let h = |i: usize| w[i] as i16;
            _mm_setr_epi16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7))
        };
        let dot = |w: &[u32; 17]| {
            _mm_add_epi32(
                _mm_madd_epi16(vl, lanes(&w[..8])),
                _mm_madd_epi16(vh, lanes(&w[8..16])),
            )
        };
        let (us, is) = (dot(&USCC_WEIGHTS), dot(&ID_WEIGHTS));
        let t = _mm_add_epi32(_mm_unpacklo_epi32(us, is), _mm_unpackhi_epi32(us, is));
        let t = _mm_add_epi32(t, _mm_unpackhi_epi64(t, t));
        (
            _mm_movemask_epi8(ok) as u32,
            _mm_movemask_epi8(digit) as u32,
            (
                _mm_cvtsi128_si64(quads) as u64,
                _mm_cvtsi128_si64(_mm_unpackhi_epi64(quads, quads)) as u64,
            ),
            _mm_cvtsi128_si64(t) as u64,
        )
    };
    let (v16, v17) = (USCC_VALUE[code[16] as usize], USCC_VALUE[code[17] as usize]);
    if ok != 0xFFFF || (v16 | v17) & 0x80 != 0 {
        // Not a key, and classify needs every byte in the alphabet too.
        return (None, None);
    }
    let (q01, q23) = quads;
    let lo = (q01 & 0xF_FFFF) | (q01 >> 32) << 20 | (q23 & 0xF_FFFF) << 40;
    let hi = (q23 >> 32) | (v16 as u64 + 1) << 20 | (v17 as u64 + 1) << 25;
    let key = Key(lo as u128 | (hi as u128) << 60);
    let usum = sums as u32 + v16 as u32 * USCC_WEIGHTS[16];
    let isum = (sums >> 32) as u32 + v16 as u32 * ID_WEIGHTS[16];
    let digits17 = digit == 0xFFFF && v16 < 10;
    let kind = if digits17
        && ID_CHECK[(isum % 11) as usize] == code[17]
        && births.admits(&code[6..14])
    {
        Some(CodeKind::Person)
    } else if digit & 0xFC == 0xFC && USCC_ALPHABET[((31 - usum % 31) % 31) as usize] == code[17] {
        Some(CodeKind::Org)
    } else {
        None
    };
    (Some(key), kind)
}

/// `(Key::from_bytes(code), classify(code, as_of))`.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn scan(code: &[u8; 18], births: BirthLimit) -> (Option<Key>, Option<CodeKind>) {
    (Key::from_bytes(code), classify(code, births.as_of()))
}

fn check_birth_fast(d: &[u8], as_of: Day) -> bool {
    let n = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, &c| a * 10 + (c - b'0') as u32);
    Day::from_ymd(n(0..4) as i32, n(4..6), n(6..8))
        .is_some_and(|day| day >= Day::MIN_BIRTH && day <= as_of)
}

/// Length, alphabet and numeric division code of a USCC, without the check
/// character: what a pilot-era legacy code must still satisfy.
pub fn check_uscc_structure(code: &[u8; 18]) -> Result<(), CodeError> {
    for (i, &c) in code.iter().enumerate() {
        if USCC_VALUE[c as usize] == 0xFF {
            return Err(CodeError::ForbiddenChar {
                ch: c as char,
                pos: i + 1,
            });
        }
    }
    if let Some(i) = (2..8).find(|&i| !code[i].is_ascii_digit()) {
        return Err(CodeError::Division {
            got: code[i] as char,
            pos: i + 1,
        });
    }
    Ok(())
}

/// The GB 32100 check character of the first 17 characters (which must be
/// in the alphabet).
pub fn uscc_check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(&c, w)| USCC_VALUE[c as usize] as u32 * w)
        .sum();
    USCC_ALPHABET[((31 - sum % 31) % 31) as usize]
}

/// The GB 11714 organisation-code check character for its 8 body
/// characters; `None` when a body character has no GB 11714 value.
pub fn org_check_char(body: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (&c, w) in body.iter().zip(ORG_WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        n => b'0' + n as u8,
    })
}

/// The GB 11643 check character of 17 digits.
pub fn id_check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(&c, w)| (c - b'0') as u32 * w)
        .sum();
    ID_CHECK[(sum % 11) as usize]
}

fn check_uscc(code: &[u8; 18]) -> Result<Option<String>, CodeError> {
    check_uscc_structure(code)?;
    let expected = uscc_check_char(&code[..17]);
    if expected != code[17] {
        return Err(CodeError::Check {
            expected: expected as char,
            got: code[17] as char,
        });
    }
    Ok(match org_check_char(&code[8..16]) {
        Some(c) if c == code[16] => None,
        Some(c) => Some(format!(
            "organisation code (GB 11714) check mismatch: expected {}, got {}",
            c as char, code[16] as char
        )),
        None => {
            Some("organisation code (GB 11714) body has characters without a check value".into())
        }
    })
}

fn check_birth(digits: &[u8], as_of: Day) -> Result<(), CodeError> {
    let date = std::str::from_utf8(digits).unwrap_or("").to_string();
    let n = |r: std::ops::Range<usize>| -> u32 {
        digits[r].iter().fold(0, |a, &c| a * 10 + (c - b'0') as u32)
    };
    let day = Day::from_ymd(n(0..4) as i32, n(4..6), n(6..8))
        .ok_or_else(|| CodeError::BirthDate { date: date.clone() })?;
    if day < Day::MIN_BIRTH || day > as_of {
        return Err(CodeError::BirthRange { date, as_of });
    }
    Ok(())
}

fn check_id(code: &[u8; 18], as_of: Day) -> Result<(), CodeError> {
    check_birth(&code[6..14], as_of)?;
    let expected = id_check_char(&code[..17]);
    if expected != code[17] {
        return Err(CodeError::Check {
            expected: expected as char,
            got: code[17] as char,
        });
    }
    Ok(())
}

/// 15-digit ID numbers (issued before 1999): insert "19" before the 2-digit
/// year and compute the check character.
fn upgrade_id15(b: &[u8], as_of: Day) -> Result<Parsed, CodeError> {
    let mut code = [0u8; 18];
    code[..6].copy_from_slice(&b[..6]);
    code[6..8].copy_from_slice(b"19");
    code[8..17].copy_from_slice(&b[6..15]);
    check_birth(&code[6..14], as_of)?;
    code[17] = id_check_char(&code[..17]);
    Ok(Parsed {
        code: Code(code),
        kind: CodeKind::Person,
        warning: None,
    })
}

/// A code packed into 90 bits: 5 bits per character (its alphabet value + 1,
/// so that no key is zero and zero can mark an empty dictionary slot).
/// Stored as 12 little-endian bytes in the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u128);

impl Key {
    pub const BYTES: usize = 12;

    /// Packs 18 characters of the USCC alphabet; `None` for any other byte.
    #[inline]
    pub fn from_bytes(code: &[u8; 18]) -> Option<Key> {
        // Character i takes bits 5i..5i+5; the first 12 fill a u64 and the
        // last 6 another (two 64-bit chains are cheaper than one u128).
        let (mut lo, mut hi) = (0u64, 0u64);
        let mut bad = 0u8;
        for (i, &c) in code[..12].iter().enumerate() {
            let v = USCC_VALUE[c as usize];
            bad |= v;
            lo |= ((v as u64) + 1) << (5 * i);
        }
        for (i, &c) in code[12..].iter().enumerate() {
            let v = USCC_VALUE[c as usize];
            bad |= v;
            hi |= ((v as u64) + 1) << (5 * i);
        }
        // Valid values are < 32, so bit 7 is set only by an 0xFF marker.
        (bad & 0x80 == 0).then_some(Key(lo as u128 | (hi as u128) << 60))
    }

    pub fn to_code(self) -> Code {
        let mut c = [0u8; 18];
        for (i, out) in c.iter_mut().enumerate() {
            let v = ((self.0 >> (5 * i)) & 31) as usize;
            *out = USCC_ALPHABET[v.saturating_sub(1).min(30)];
        }
        Code(c)
    }

    pub fn to_le_bytes(self) -> [u8; 12] {
        let b = self.0.to_le_bytes();
        let mut out = [0u8; 12];
        out.copy_from_slice(&b[..12]);
        out
    }

    #[inline]
    pub fn from_le_bytes(b: &[u8; 12]) -> Key {
        let mut full = [0u8; 16];
        full[..12].copy_from_slice(b);
        Key(u128::from_le_bytes(full))
    }

    /// 64-bit hash for the open-addressing dictionary (a multiply-xorshift
    /// mix of both halves: keys are dense in their low bits).
    #[inline]
    pub fn hash(self) -> u64 {
        let lo = self.0 as u64;
        let hi = (self.0 >> 64) as u64;
        let mut h = lo ^ hi.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 32;
        h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^= h >> 32;
        h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn char_len_counts_characters_not_bytes() {
        assert_eq!(char_len(""), 0);
        assert_eq!(char_len("91350100M000100Y43"), 18);
        assert_eq!(char_len("９1350100M000100Y43"), 18);
        assert_eq!(char_len("统一社会信用代码"), 8);
    }

    fn as_of() -> Day {
        Day::parse("2026-11-21").unwrap()
    }

    fn uscc_with_check(first17: &str) -> String {
        let mut s = first17.to_string();
        s.push(uscc_check_char(first17.as_bytes()) as char);
        s
    }

    fn id_with_check(first17: &str) -> String {
        let mut s = first17.to_string();
        s.push(id_check_char(first17.as_bytes()) as char);
        s
    }

    #[test]
    fn table_of_codes() {
        // (input, Ok(canonical, kind, warns) | Err(message))
        let org = uscc_with_check("91350100M000100Y4");
        let id = id_with_check("11010119900307123");
        type Case<'a> = (String, Result<(&'a str, CodeKind, bool), &'a str>);
        let cases: Vec<Case> = vec![
            (org.clone(), Ok((org.as_str(), CodeKind::Org, false))),
            (id.clone(), Ok((id.as_str(), CodeKind::Person, false))),
            (format!("  {}\u{3000}", org.to_lowercase()), Ok((org.as_str(), CodeKind::Org, false))),
            ("".into(), Err("empty code")),
            ("   ".into(), Err("empty code")),
            ("91350100M000100Y4".into(), Err("wrong length: expected 18 characters (or a 15-digit legacy ID number), got 17")),
            ("91350100M000100I43".into(), Err("forbidden character 'I' at position 16")),
            ("9135A100M000100Y43".into(), Err("administrative division code (characters 3-8) must be digits, got 'A' at position 5")),
            ("110101199002301234".into(), Err("impossible birth date 19900230")),
            ("110101189912311234".into(), Err("birth date 18991231 outside 1900-01-01 .. 2026-11-21")),
        ];
        for (input, want) in cases {
            let got = parse(&input, as_of());
            match want {
                Ok((canon, kind, warns)) => {
                    let p = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                    assert_eq!(p.code.as_str(), canon, "{input:?}");
                    assert_eq!(p.kind, kind, "{input:?}");
                    assert_eq!(p.warning.is_some(), warns, "{input:?}");
                }
                Err(msg) => assert_eq!(got.unwrap_err().to_string(), msg, "{input:?}"),
            }
        }
    }

    #[test]
    fn check_mismatch_names_expected() {
        let good = id_with_check("11010119900307123");
        let mut bad = good.clone().into_bytes();
        bad[17] = if bad[17] == b'4' { b'5' } else { b'4' };
        let err = parse(std::str::from_utf8(&bad).unwrap(), as_of()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "check character mismatch: expected {}, got {}",
                good.as_bytes()[17] as char,
                bad[17] as char
            )
        );
    }

    #[test]
    fn full_width_is_normalised() {
        let org = uscc_with_check("91350100M000100Y4");
        let fw: String = org
            .chars()
            .map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap())
            .collect();
        assert_eq!(normalize(&fw), org);
        assert_eq!(parse(&fw, as_of()).unwrap().code.as_str(), org);
    }

    #[test]
    fn fifteen_digit_ids_are_upgraded() {
        let p = parse("110101900307123", as_of()).unwrap();
        assert_eq!(&p.code.as_str()[..17], "11010119900307123");
        assert_eq!(p.code.0[17], id_check_char(b"11010119900307123"));
        assert_eq!(p.kind, CodeKind::Person);
        assert!(parse("110101900230123", as_of()).is_err());
    }

    #[test]
    fn org_code_warning() {
        // Body 12345678 has GB 11714 check 8 ("12345678-8"); put 9 there.
        let good = uscc_with_check("91110000123456788");
        assert!(parse(&good, as_of()).unwrap().warning.is_none());
        let warn = uscc_with_check("91110000123456789");
        let p = parse(&warn, as_of()).unwrap();
        assert_eq!(
            p.warning.as_deref(),
            Some("organisation code (GB 11714) check mismatch: expected 8, got 9")
        );
    }

    #[test]
    fn digit_only_uscc_falls_back_from_id() {
        // 17 digits whose birth-date reading (00000000) is impossible: a USCC.
        let code = uscc_with_check("91350100000000000");
        let p = parse(&code, as_of()).unwrap();
        assert_eq!(p.kind, CodeKind::Org);
        // When both readings fail, the error is the ID reading's.
        let err = parse("913501000000000001", as_of())
            .unwrap_err()
            .to_string();
        assert!(err.contains("birth date"), "{err}");
    }

    #[test]
    fn key_round_trip() {
        let org = uscc_with_check("91350100M000100Y4");
        let code = parse(&org, as_of()).unwrap().code;
        let k = code.key().unwrap();
        assert_ne!(k.0, 0);
        assert_eq!(k.to_code(), code);
        assert_eq!(Key::from_le_bytes(&k.to_le_bytes()), k);
        assert!(Key::from_bytes(b"91350100M000100I43").is_none());
        assert!(Key::from_bytes(b"91350100m000100Y43").is_none());
    }

    fn uscc_strategy() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(0usize..31, 2),
            proptest::collection::vec(0u8..10, 6),
            proptest::collection::vec(0usize..31, 9),
        )
            .prop_map(|(head, div, tail)| {
                let mut s = String::new();
                head.iter().for_each(|&i| s.push(USCC_ALPHABET[i] as char));
                div.iter().for_each(|&d| s.push((b'0' + d) as char));
                tail.iter().for_each(|&i| s.push(USCC_ALPHABET[i] as char));
                uscc_with_check(&s)
            })
    }

    fn id_strategy() -> impl Strategy<Value = String> {
        (100000u32..999999, 0i32..(365 * 120), 0u32..1000).prop_map(|(area, day, seq)| {
            let (y, m, d) = Day(Day::MIN_BIRTH.0 + day).ymd();
            id_with_check(&format!("{area:06}{y:04}{m:02}{d:02}{seq:03}"))
        })
    }

    proptest! {
        /// The key is character i's value + 1 at bits 5i (the layout of
        /// every snapshot), whatever the bytes.
        #[test]
        fn keys_pack_five_bits_a_character(bytes in proptest::array::uniform18(prop_oneof![
            proptest::sample::select(USCC_ALPHABET.to_vec()),
            any::<u8>(),
        ])) {
            let mut want = 0u128;
            let mut ok = true;
            for (i, &c) in bytes.iter().enumerate() {
                match USCC_ALPHABET.iter().position(|&a| a == c) {
                    Some(v) => want |= ((v as u128) + 1) << (5 * i),
                    None => ok = false,
                }
            }
            prop_assert_eq!(Key::from_bytes(&bytes), ok.then_some(Key(want)));
        }

        #[test]
        fn valid_usccs_revalidate(code in uscc_strategy()) {
            let p = parse(&code, as_of());
            // An all-digit USCC can also read as a valid ID number: either way it is valid.
            prop_assert!(p.is_ok(), "{code}: {:?}", p);
            let p = p.unwrap();
            prop_assert_eq!(p.code.as_str(), code.as_str());
            prop_assert_eq!(p.code.key().unwrap().to_code(), p.code);
        }

        #[test]
        fn any_single_change_of_a_uscc_is_caught(code in uscc_strategy(), pos in 0usize..18, sub in 0usize..31) {
            let mut b = code.clone().into_bytes();
            prop_assume!(USCC_ALPHABET[sub] != b[pos]);
            b[pos] = USCC_ALPHABET[sub];
            let changed = String::from_utf8(b).unwrap();
            // Digit-only strings may read as a valid ID number instead.
            let p = parse(&changed, as_of());
            prop_assert!(p.is_err() || p.unwrap().kind == CodeKind::Person, "{code} -> {changed}");
        }

        #[test]
        fn valid_ids_revalidate(code in id_strategy()) {
            let p = parse(&code, as_of()).unwrap();
            prop_assert_eq!(p.kind, CodeKind::Person);
            prop_assert_eq!(p.code.as_str(), code.as_str());
        }

        #[test]
        fn any_single_change_of_an_id_is_caught(code in id_strategy(), pos in 0usize..18, sub in 0usize..11) {
            let mut b = code.clone().into_bytes();
            let c = b"0123456789X"[sub];
            prop_assume!(c != b[pos] && (pos == 17 || c != b'X'));
            b[pos] = c;
            let changed = String::from_utf8(b).unwrap();
            let p = parse(&changed, as_of());
            prop_assert!(p.is_err() || p.unwrap().kind == CodeKind::Org, "{code} -> {changed}");
        }

        /// The batch fast path agrees with the full parser on valid codes
        /// and on every single-character change of them.
        #[test]
        fn classify_agrees_with_parse(code in prop_oneof![uscc_strategy(), id_strategy()], pos in 0usize..18, c in 0usize..36) {
            let mut b: [u8; 18] = code.as_bytes().try_into().unwrap();
            let full = |b: &[u8; 18]| parse_normalized(std::str::from_utf8(b).unwrap(), as_of()).ok().map(|p| p.kind);
            prop_assert_eq!(classify(&b, as_of()), full(&b));
            b[pos] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[c];
            prop_assert_eq!(classify(&b, as_of()), full(&b));
        }

        /// The fused pass agrees with the separate functions on any bytes
        /// (alphabet characters, digits and arbitrary bytes mixed) and any
        /// date.
        #[test]
        fn scan_agrees_with_key_and_classify(
            code in prop_oneof![
                uscc_strategy().prop_map(|s| s.into_bytes()),
                id_strategy().prop_map(|s| s.into_bytes()),
                proptest::collection::vec(prop_oneof![
                    proptest::sample::select(b"0123456789".to_vec()),
                    proptest::sample::select(USCC_ALPHABET.to_vec()),
                    any::<u8>(),
                ], 18),
            ],
            pos in 0usize..18,
            c in any::<u8>(),
            change in any::<bool>(),
            as_of in prop_oneof![Just(as_of()), (-40_000i32..3_000_000).prop_map(Day)],
        ) {
            let mut b: [u8; 18] = code.try_into().unwrap();
            if change {
                b[pos] = c;
            }
            let births = BirthLimit::new(as_of);
            prop_assert_eq!(scan(&b, births), (Key::from_bytes(&b), classify(&b, as_of)));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s, as_of());
        }
    }
}
