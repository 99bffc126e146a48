//! Helpers for the unit tests: hex literals as the guide writes them.

/// Bytes from hex pairs separated by any whitespace (`"C0 01 C1"`, `"C001C1"`).
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => panic!("not a hex digit: {}", b as char),
        })
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {s:?}");
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// §7 step 10: the first GET-with-datablock response of the example session (128 bytes).
pub(crate) const SESSION_STEP_10: &str = "C4 02 C4 00 00 00 00 01 00 76 01 05 02 04 09 0C 07 E1 0A 01 07 00 00 00 00 FF C4 80 11 00 06 00 01 E2 40 06 00 00 00 00 02 04 09 0C 07 E1 0A 01 07 00 0F 00 00 FF C4 80 11 00 06 00 01 E3 3F 06 00 00 00 00 02 04 09 0C 07 E1 0A 01 07 00 1E 00 00 FF C4 80 11 00 06 00 01 E4 36 06 00 00 00 00 02 04 09 0C 07 E1 0A 01 07 00 2D 00 00 FF C4 80 11 00 06 00 01 E5 32 06 00 00 00 00 02 04 09 0C";

/// §7 step 12: the last block.
pub(crate) const SESSION_STEP_12: &str = "C4 02 C4 01 00 00 00 02 00 18 07 E1 0A 01 07 01 00 00 00 FF C4 80 11 00 06 00 01 E6 33 06 00 00 00 00";
