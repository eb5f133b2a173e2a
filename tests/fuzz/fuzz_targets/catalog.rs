//! Catalog loading: `Catalog::from_toml` never panics on any text; an
//! accepted catalog survives a TOML round trip unchanged and its measure
//! table can be built.
#![no_main]

use credlist::catalog::Catalog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cat) = Catalog::from_toml(text, "fuzz.toml") else {
        return;
    };
    let _ = credlist::rules::MeasureTable::new(&cat);
    for (i, m) in cat.matters.iter().enumerate() {
        assert_eq!(cat.matter_index(&m.id), Some(i));
    }
    let back = toml::to_string(&cat).expect("an accepted catalog serializes");
    let again = Catalog::from_toml(&back, "round-trip").expect("a serialized catalog reloads");
    assert_eq!(again, cat);
});
