//! IEC 62056-21 messages and frames, as pure code: encoding, the block check character, and an
//! incremental decoder that takes whatever bytes have arrived and says whether a whole message
//! is there (protocol guide §2, §4.1, §4.2).

pub const SOH: u8 = 0x01;
pub const STX: u8 = 0x02;
pub const ETX: u8 = 0x03;
pub const EOT: u8 = 0x04;
pub const ACK: u8 = 0x06;
pub const NAK: u8 = 0x15;
pub const CR: u8 = 0x0D;
pub const LF: u8 = 0x0A;

/// The longest message accepted before giving up on finding its end: a data readout of a
/// large meter fits comfortably; a runaway stream does not grow the buffer without bound.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Longest sign-on request or identification line.
const MAX_LINE: usize = 64;

/// Block check character: XOR of the given bytes.
pub fn bcc(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

/// Every message either side of an IEC 62056-21 link sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `/?address!CR LF` from the client.
    SignOn {
        address: String,
    },
    /// `/XXXZident CR LF` from the meter.
    Identification {
        manufacturer: String,
        baud: u8,
        ident: String,
    },
    /// `ACK V Z Y CR LF` from the client: protocol control V, baud character Z, mode Y.
    OptionSelect {
        protocol: u8,
        baud: u8,
        mode: u8,
    },
    /// `SOH C D [STX data] ETX BCC`: a command (`P0`, `P2`, `R1`, `W1`, `RD`, `B0` ...).
    Command {
        cmd: [u8; 2],
        data: Option<Vec<u8>>,
    },
    /// `STX data ETX|EOT BCC`: a data reply; `more` when it ended with EOT (a partial block).
    Data {
        data: Vec<u8>,
        more: bool,
    },
    Ack,
    Nak,
}

impl Message {
    pub fn command(cmd: &[u8; 2], data: impl Into<Vec<u8>>) -> Message {
        Message::Command {
            cmd: *cmd,
            data: Some(data.into()),
        }
    }

    /// The break / log-off `SOH B0 ETX BCC`.
    pub fn log_off() -> Message {
        Message::Command {
            cmd: *b"B0",
            data: None,
        }
    }

    /// A data reply carrying `(payload)`.
    pub fn reply(payload: &[u8]) -> Message {
        let mut data = Vec::with_capacity(payload.len() + 2);
        data.push(b'(');
        data.extend_from_slice(payload);
        data.push(b')');
        Message::Data { data, more: false }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Message::SignOn { address } => {
                out.extend_from_slice(b"/?");
                out.extend_from_slice(address.as_bytes());
                out.extend_from_slice(b"!\r\n");
            }
            Message::Identification {
                manufacturer,
                baud,
                ident,
            } => {
                out.push(b'/');
                out.extend_from_slice(manufacturer.as_bytes());
                out.push(*baud);
                out.extend_from_slice(ident.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Message::OptionSelect {
                protocol,
                baud,
                mode,
            } => out.extend_from_slice(&[ACK, *protocol, *baud, *mode, CR, LF]),
            Message::Command { cmd, data } => {
                out.push(SOH);
                let start = out.len();
                out.extend_from_slice(cmd);
                if let Some(d) = data {
                    out.push(STX);
                    out.extend_from_slice(d);
                }
                out.push(ETX);
                let b = bcc(&out[start..]);
                out.push(b);
            }
            Message::Data { data, more } => {
                out.push(STX);
                let start = out.len();
                out.extend_from_slice(data);
                out.push(if *more { EOT } else { ETX });
                let b = bcc(&out[start..]);
                out.push(b);
            }
            Message::Ack => out.push(ACK),
            Message::Nak => out.push(NAK),
        }
    }
}

/// Which end of the link is decoding: the bytes a meter receives and those a client receives
/// start the same way but mean different things (an `ACK` followed by digits is an option
/// select only when the meter reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Decoding what the client sent.
    Meter,
    /// Decoding what the meter sent.
    Client,
}

/// Why bytes did not form a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("block check character mismatch: computed {expected:#04x}, received {received:#04x}")]
    Bcc { expected: u8, received: u8 },
    #[error("no end of message within {0} bytes")]
    TooLong(usize),
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("unexpected byte {0:#04x} where a message should start")]
    Unexpected(u8),
}

/// The outcome of looking at a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole message, and how many bytes it took.
    Message(Message, usize),
    /// Not enough bytes yet.
    Incomplete,
    /// The first `usize` bytes are bad and must be dropped; the error says why.
    Invalid(FrameError, usize),
}

/// Decodes the first message in `buf`.
pub fn decode(buf: &[u8], side: Side) -> Decoded {
    let Some(&first) = buf.first() else {
        return Decoded::Incomplete;
    };
    match first {
        b'/' => decode_line(buf, side),
        SOH => decode_block(buf, 1, true),
        STX => decode_block(buf, 1, false),
        ACK => {
            if side == Side::Client {
                return Decoded::Message(Message::Ack, 1);
            }
            match buf.get(1) {
                None => Decoded::Incomplete,
                Some(b) if b.is_ascii_digit() => decode_option_select(buf),
                Some(_) => Decoded::Message(Message::Ack, 1),
            }
        }
        NAK => Decoded::Message(Message::Nak, 1),
        // Stray line ends between messages are harmless (clients send CR and LF apart).
        CR | LF => Decoded::Invalid(FrameError::Unexpected(first), 1),
        other => {
            // Skip to the next byte that can start a message.
            let skip = buf
                .iter()
                .position(|&b| matches!(b, b'/' | SOH | STX | ACK | NAK))
                .unwrap_or(buf.len());
            Decoded::Invalid(FrameError::Unexpected(other), skip.max(1))
        }
    }
}

fn decode_line(buf: &[u8], side: Side) -> Decoded {
    let Some(lf) = buf.iter().position(|&b| b == LF) else {
        return if buf.len() > MAX_LINE {
            Decoded::Invalid(FrameError::TooLong(MAX_LINE), buf.len())
        } else {
            Decoded::Incomplete
        };
    };
    let len = lf + 1;
    let line = &buf[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let bad = |detail: String| {
        Decoded::Invalid(
            FrameError::Malformed {
                what: if side == Side::Meter {
                    "sign-on request"
                } else {
                    "identification"
                },
                detail,
            },
            len,
        )
    };
    if line.iter().any(|b| *b >= 0x80) {
        return bad("bytes with bit 7 set: the link may deliver 7E1 parity as data (a gateway in 8N1: use ?parity=soft)".into());
    }
    if !line.iter().all(|b| (0x20..0x7F).contains(b)) {
        return bad("non-printable character".into());
    }
    let text = String::from_utf8_lossy(line);
    match side {
        Side::Meter => {
            let Some(addr) = text.strip_prefix("/?").and_then(|r| r.strip_suffix('!')) else {
                return bad(format!("{text:?} is not /?address!"));
            };
            Decoded::Message(
                Message::SignOn {
                    address: addr.to_string(),
                },
                len,
            )
        }
        Side::Client => {
            let b = &line[1..];
            if b.len() < 4 {
                return bad(format!("{text:?} is too short"));
            }
            Decoded::Message(
                Message::Identification {
                    manufacturer: String::from_utf8_lossy(&b[..3]).into_owned(),
                    baud: b[3],
                    ident: String::from_utf8_lossy(&b[4..]).into_owned(),
                },
                len,
            )
        }
    }
}

fn decode_option_select(buf: &[u8]) -> Decoded {
    // ACK V Z Y CR [LF]: the LF may come as a separate write, or not at all.
    if buf.len() < 5 {
        return Decoded::Incomplete;
    }
    let (v, z, y) = (buf[1], buf[2], buf[3]);
    if buf[4] != CR || !z.is_ascii_digit() || !y.is_ascii_digit() {
        return Decoded::Invalid(
            FrameError::Malformed {
                what: "option select",
                detail: format!("{:02X?}", &buf[..5]),
            },
            5,
        );
    }
    let len = if buf.get(5) == Some(&LF) { 6 } else { 5 };
    Decoded::Message(
        Message::OptionSelect {
            protocol: v,
            baud: z,
            mode: y,
        },
        len,
    )
}

fn decode_block(buf: &[u8], body: usize, command: bool) -> Decoded {
    let Some(end) = buf[body..]
        .iter()
        .position(|&b| b == ETX || b == EOT)
        .map(|p| p + body)
    else {
        return if buf.len() > MAX_MESSAGE {
            Decoded::Invalid(FrameError::TooLong(MAX_MESSAGE), buf.len())
        } else {
            Decoded::Incomplete
        };
    };
    // The BCC is the one byte after ETX/EOT, whatever its value.
    let Some(&received) = buf.get(end + 1) else {
        return Decoded::Incomplete;
    };
    let len = end + 2;
    let expected = bcc(&buf[body..=end]);
    if expected != received {
        return Decoded::Invalid(FrameError::Bcc { expected, received }, len);
    }
    let more = buf[end] == EOT;
    if command {
        let inner = &buf[body..end];
        if inner.len() < 2 {
            return Decoded::Invalid(
                FrameError::Malformed {
                    what: "command",
                    detail: "no command letters".into(),
                },
                len,
            );
        }
        let cmd = [inner[0], inner[1]];
        let data = match inner.get(2) {
            None => None,
            Some(&STX) => Some(inner[3..].to_vec()),
            Some(_) => {
                return Decoded::Invalid(
                    FrameError::Malformed {
                        what: "command",
                        detail: format!("expected STX after {:?}", String::from_utf8_lossy(&cmd)),
                    },
                    len,
                );
            }
        };
        Decoded::Message(Message::Command { cmd, data }, len)
    } else {
        Decoded::Message(
            Message::Data {
                data: buf[body..end].to_vec(),
                more,
            },
            len,
        )
    }
}

/// What the brackets of a data reply held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyPayload {
    /// The bytes of a hex image.
    Bytes(Vec<u8>),
    /// `(ERRn)`: the meter refused.
    Error(u8),
}

/// Parses the `(hex image)` or `(ERRn)` inside a data reply.
pub fn parse_reply_payload(data: &[u8]) -> Result<ReplyPayload, FrameError> {
    let inner = data
        .strip_prefix(b"(")
        .and_then(|d| d.strip_suffix(b")"))
        .ok_or_else(|| FrameError::Malformed {
            what: "data reply",
            detail: "payload not in brackets".into(),
        })?;
    if let Some(code) = inner.strip_prefix(b"ERR") {
        return match code {
            [d] if d.is_ascii_digit() => Ok(ReplyPayload::Error(d - b'0')),
            _ => Err(FrameError::Malformed {
                what: "error reply",
                detail: String::from_utf8_lossy(inner).into_owned(),
            }),
        };
    }
    crate::codec::from_hex(inner)
        .map(ReplyPayload::Bytes)
        .ok_or_else(|| FrameError::Malformed {
            what: "data reply",
            detail: "payload is not a hex image".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::from_hex;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        from_hex(s.replace(' ', "").as_bytes()).unwrap()
    }

    #[test]
    fn recorded_a1140_session_frames() {
        // Guide §8.1: every frame of the recorded session, both directions.
        let signon = Message::SignOn {
            address: "094".into(),
        };
        assert_eq!(signon.encode(), hex("2F 3F 30 39 34 21 0D 0A"));
        assert_eq!(
            decode(&hex("2F 3F 30 39 34 21 0D 0A"), Side::Meter),
            Decoded::Message(signon, 8)
        );
        let ident = hex("2F 47 45 43 35 31 32 30 35 31 30 30 37 30 32 31 33 40 30 30 30 0D 0A");
        assert_eq!(
            decode(&ident, Side::Client),
            Decoded::Message(
                Message::Identification {
                    manufacturer: "GEC".into(),
                    baud: b'5',
                    ident: "120510070213@000".into()
                },
                ident.len()
            )
        );
        // Option select with CR, then the LF as a separate write.
        assert_eq!(
            decode(&hex("06 30 35 36 0D"), Side::Meter),
            Decoded::Message(
                Message::OptionSelect {
                    protocol: b'0',
                    baud: b'5',
                    mode: b'6'
                },
                5
            )
        );
        let p0 = hex("01 50 30 02 28 46 44 30 34 42 45 36 35 44 36 31 35 37 46 41 39 29 03 1D");
        assert_eq!(
            Message::command(b"P0", b"(FD04BE65D6157FA9)".to_vec()).encode(),
            p0
        );
        let mut zero_p2 = hex("01 50 32 02 28");
        zero_p2.extend_from_slice(&[0x30; 16]);
        zero_p2.extend_from_slice(&hex("29 03 62"));
        assert_eq!(
            Message::command(b"P2", b"(0000000000000000)".to_vec()).encode(),
            zero_p2
        );
        assert_eq!(
            Message::command(b"R1", b"798001(10)".to_vec()).encode(),
            hex("01 52 31 02 37 39 38 30 30 31 28 31 30 29 03 65")
        );
        assert_eq!(
            Message::command(b"R1", b"795001(08)".to_vec()).encode(),
            hex("01 52 31 02 37 39 35 30 30 31 28 30 38 29 03 61")
        );
        let reply = hex("02 28 35 30 35 46 33 32 33 32 33 38 33 30 33 35 33 32 29 03 7B");
        let Decoded::Message(Message::Data { data, more: false }, n) = decode(&reply, Side::Client)
        else {
            panic!("reply not decoded")
        };
        assert_eq!(n, reply.len());
        assert_eq!(
            parse_reply_payload(&data).unwrap(),
            ReplyPayload::Bytes(b"P_228052".to_vec())
        );
        assert_eq!(
            Message::command(b"P2", b"(669A287D6388D770)".to_vec()).encode(),
            hex("01 50 32 02 28 36 36 39 41 32 38 37 44 36 33 38 38 44 37 37 30 29 03 12")
        );
        assert_eq!(
            Message::command(b"W1", b"576001(456C73746572202020202020)".to_vec()).encode(),
            hex(
                "01 57 31 02 35 37 36 30 30 31 28 34 35 36 43 37 33 37 34 36 35 37 32 32 30 32 30 32 30 32 30 32 30 32 30 29 03 16"
            )
        );
        assert_eq!(Message::log_off().encode(), hex("01 42 30 03 71"));
        assert_eq!(
            decode(&[ACK], Side::Client),
            Decoded::Message(Message::Ack, 1)
        );
    }

    #[test]
    fn bcc_may_be_any_value() {
        // Guide §4.2/§8.3: the serial reply with BCC 0x0A (= LF) and the A1700 P0 (BCC 'h').
        let m = Message::reply(b"30303030303030303132333435363738");
        let enc = m.encode();
        assert_eq!(*enc.last().unwrap(), 0x0A);
        assert_eq!(decode(&enc, Side::Client), Decoded::Message(m, enc.len()));
        let p0 = Message::command(b"P0", b"(2EB5C6B798856013)".to_vec()).encode();
        assert_eq!(*p0.last().unwrap(), b'h');
        // Error reply framing of §8.3.
        assert_eq!(
            Message::reply(b"ERR5").encode(),
            hex("02 28 45 52 52 35 29 03 72")
        );
        assert_eq!(
            parse_reply_payload(b"(ERR5)").unwrap(),
            ReplyPayload::Error(5)
        );
    }

    #[test]
    fn partial_and_corrupt_frames() {
        let enc = Message::command(b"R1", b"798001(10)".to_vec()).encode();
        for cut in 0..enc.len() {
            assert_eq!(
                decode(&enc[..cut], Side::Meter),
                Decoded::Incomplete,
                "cut {cut}"
            );
        }
        let mut bad = enc.clone();
        bad[5] ^= 0x01;
        assert!(matches!(
            decode(&bad, Side::Meter),
            Decoded::Invalid(FrameError::Bcc { .. }, n) if n == enc.len()
        ));
        assert!(matches!(
            decode(b"xyz\x01", Side::Meter),
            Decoded::Invalid(FrameError::Unexpected(b'x'), 3)
        ));
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let text = "[ -~&&[^!/]]{0,20}";
        let data = proptest::collection::vec(0x20u8..0x7F, 0..80);
        prop_oneof![
            text.prop_map(|a| Message::SignOn { address: a }),
            (0x30u8..0x3A, 0x30u8..0x3A).prop_map(|(z, y)| Message::OptionSelect {
                protocol: b'0',
                baud: z,
                mode: y
            }),
            (
                (0x41u8..0x5B, 0x30u8..0x3A),
                proptest::option::of(data.clone())
            )
                .prop_map(|((a, b), d)| Message::Command {
                    cmd: [a, b],
                    data: d
                }),
            (data, any::<bool>()).prop_map(|(d, more)| Message::Data { data: d, more }),
            Just(Message::Nak),
        ]
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(m in arb_message()) {
            let enc = m.encode();
            prop_assert_eq!(decode(&enc, Side::Meter), Decoded::Message(m, enc.len()));
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            for side in [Side::Meter, Side::Client] {
                match decode(&b, side) {
                    Decoded::Message(_, n) | Decoded::Invalid(_, n) => prop_assert!(n >= 1 && n <= b.len()),
                    Decoded::Incomplete => {}
                }
            }
            let _ = parse_reply_payload(&b);
        }
    }
}
