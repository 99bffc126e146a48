//! Meter identity: one canonical id per physical meter, whatever protocol or file named it.
//!
//! Meters name themselves in several ways: an Elster meter over FLAG reports its serial number
//! zero-padded to 16 digits (`0000000010000001`), the same meter over DLMS/COSEM reports
//! `10000001` as its device id, files carry what their writer chose. The canonical id is the
//! name with the padding taken off a purely numeric serial; every other name a meter was seen
//! under is kept as an alias of it.

/// The canonical id of a meter name: surrounding white space removed, and leading zeros taken
/// off a name made of decimal digits only (`0000000010000001` → `10000001`, `000` → `0`).
/// Names with any other character are kept as they are (`VBCD000022`, `LGZ-0042`).
pub fn canonical_meter_id(name: &str) -> String {
    let t = name.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let z = t.trim_start_matches('0');
        if z.is_empty() {
            "0".to_string()
        } else {
            z.to_string()
        }
    } else {
        t.to_string()
    }
}

/// The id of a meter that told no serial number: its connection and address. Such a meter is
/// never merged with another by accident: the id names where it was reached, and does not look
/// like a serial number.
pub fn unidentified_meter_id(connection: &str, address: &str) -> String {
    format!("@{connection}#{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_goes_other_names_stay() {
        assert_eq!(canonical_meter_id("0000000010000001"), "10000001");
        assert_eq!(canonical_meter_id(" 10000001 "), "10000001");
        assert_eq!(canonical_meter_id("000"), "0");
        assert_eq!(canonical_meter_id("VBCD000022"), "VBCD000022");
        assert_eq!(canonical_meter_id("0042-A"), "0042-A");
        assert_eq!(canonical_meter_id(""), "");
        assert_eq!(
            unidentified_meter_id("tcp://10.0.0.5:4059", "1/17"),
            "@tcp://10.0.0.5:4059#1/17"
        );
    }

    proptest::proptest! {
        #[test]
        fn padding_never_changes_the_id(n in 0u64..u64::MAX, pad in 0usize..12) {
            let plain = n.to_string();
            let padded = format!("{}{plain}", "0".repeat(pad));
            proptest::prop_assert_eq!(canonical_meter_id(&padded), plain.clone());
            proptest::prop_assert_eq!(canonical_meter_id(&plain), plain);
        }
    }
}
