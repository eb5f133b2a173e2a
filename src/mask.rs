//! Masking of natural persons' data before publication (SPEC §10: "对于涉及
//! 企业商业秘密和个人隐私的信息,发布前应进行必要的技术处理").
//!
//! - an ID number keeps its first 6 characters (the administrative division
//!   of issue), then 8 `*`, then its last 4: `350102********2135`;
//! - a name keeps its first character, then one `*` for each further
//!   character: `陈某某` → `陈**`.
//!
//! Characters, not bytes: a Chinese name is three UTF-8 bytes a character.
//! Organisations are published as they are; callers decide with the
//! subject's natural-person flag ([`crate::snapshot::Slot::person`]).

/// Characters an ID number keeps in front.
pub const CODE_HEAD: usize = 6;
/// Stars in the middle of a masked ID number.
pub const CODE_STARS: usize = 8;
/// Characters an ID number keeps at the end.
pub const CODE_TAIL: usize = 4;

/// `first 6 + ******** + last 4` of a person's code. A code shorter than
/// the 10 characters kept (never the case for a stored code, which is 18)
/// is starred entirely, so that nothing of it shows.
pub fn mask_code(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() < CODE_HEAD + CODE_TAIL {
        return "*".repeat(chars.len().max(CODE_STARS));
    }
    let mut out = String::with_capacity(CODE_HEAD + CODE_STARS + CODE_TAIL);
    out.extend(&chars[..CODE_HEAD]);
    out.extend(std::iter::repeat_n('*', CODE_STARS));
    out.extend(&chars[chars.len() - CODE_TAIL..]);
    out
}

/// The first character of a person's name and one `*` for each further
/// character. An empty name stays empty.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out = String::with_capacity(first.len_utf8() + name.len());
    out.push(first);
    out.extend(chars.map(|_| '*'));
    out
}

/// A subject's code and name as published: masked for a natural person,
/// as they are for an organisation.
pub fn published(code: &str, name: &str, person: bool) -> (String, String) {
    if person {
        (mask_code(code), mask_name(name))
    } else {
        (code.to_string(), name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_keep_six_in_front_and_four_behind() {
        assert_eq!(mask_code("350102198507162135"), "350102********2135");
        // The check character X is part of the last four.
        assert_eq!(mask_code("35010319720528151X"), "350103********151X");
        assert_eq!(mask_code("35010319720528151X").chars().count(), 18);
    }

    #[test]
    fn short_codes_show_nothing() {
        assert_eq!(mask_code("123456789"), "*********");
        assert_eq!(mask_code(""), "********");
    }

    #[test]
    fn names_keep_their_first_character() {
        assert_eq!(mask_name("陈某某"), "陈**");
        assert_eq!(mask_name("林"), "林");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        // A 15-character name (a minority name in transliteration).
        let long = "阿卜杜热合曼·艾合买提江吐尔逊";
        assert_eq!(long.chars().count(), 15);
        assert_eq!(mask_name(long), "阿**************");
        assert_eq!(mask_name("Li Wei"), "L*****");
    }

    #[test]
    fn organisations_are_published_as_they_are() {
        assert_eq!(
            published("91350100MA2Y3K8L5G", "福州闽江路桥建设有限公司", false),
            (
                "91350100MA2Y3K8L5G".to_string(),
                "福州闽江路桥建设有限公司".to_string()
            )
        );
        assert_eq!(
            published("350102198507162135", "陈某某", true),
            ("350102********2135".to_string(), "陈**".to_string())
        );
    }
}
