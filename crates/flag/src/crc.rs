//! CRC-16/ARC (poly 0x8005 reflected, init 0, no final XOR): the checksum of the Elster RD
//! binary stream packets.

const fn table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xA001
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u16; 256] = table();

/// Continues a CRC-16/ARC over `data` from `crc` (start from 0).
pub fn crc16_arc_update(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc = (crc >> 8) ^ TABLE[usize::from((crc ^ u16::from(b)) as u8)];
    }
    crc
}

pub fn crc16_arc(data: &[u8]) -> u16 {
    crc16_arc_update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_guide_example() {
        assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
        // Guide §4.8: data DE AD BE EF as packet 1, last packet → CRC 0xF77D, low byte first.
        let pkt = [0x02, 0x01, 0x00, 0x03, 0xDE, 0xAD, 0xBE, 0xEF, 0x04];
        assert_eq!(crc16_arc(&pkt), 0xF77D);
        let mut with_crc = pkt.to_vec();
        with_crc.extend_from_slice(&0xF77Du16.to_le_bytes());
        assert_eq!(crc16_arc(&with_crc), 0);
    }
}
