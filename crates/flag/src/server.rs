//! The meter side of a FLAG session, as a state machine that takes decoded messages and gives
//! actions (bytes to send, a baud change, back to idle). The simulator drives it over TCP and
//! serial lines; tests drive it directly (protocol guide appendix A.2).

use std::time::{Duration, Instant};

use crate::codec::{from_hex, hex_number, to_hex};
use crate::frame::Message;
use crate::readout::{DataLine, format_data_message};
use crate::transport::baud_of;

/// Access granted by the password in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// No P2 yet: only the serial number can be read.
    None,
    /// The all-zero P2: reads.
    ReadOnly,
    /// A configured password of this level (1 = lowest).
    Level(u8),
}

/// What the meter behind the session must provide.
pub trait MeterFace {
    /// Manufacturer code, highest baud character, 16-character ident.
    fn identification(&self) -> (String, u8, String);
    /// A fresh 8-byte seed for P0.
    fn new_seed(&mut self) -> [u8; 8];
    /// The access a P2 answer grants under `seed`, `None` if it matches no password.
    fn check_password(&self, seed: &[u8; 8], answer: &[u8]) -> Option<Access>;
    /// The whole image of an identity, or the ERR code (2 = no such id, 5 = locked).
    fn read_id(&mut self, id: u16, access: Access) -> Result<Vec<u8>, u8>;
    /// `len` bytes of an identity from `offset`; ERR3 beyond its end. Meters with large
    /// multi-set identities override this to build only the set asked for.
    fn read_range(
        &mut self,
        id: u16,
        offset: usize,
        len: usize,
        access: Access,
    ) -> Result<Vec<u8>, u8> {
        let image = self.read_id(id, access)?;
        image.get(offset..offset + len).map(<[u8]>::to_vec).ok_or(3)
    }
    /// Writes an identity; `Err(code)` for ERRn.
    fn write_id(&mut self, id: u16, data: &[u8], access: Access) -> Result<(), u8>;
    /// Writes packet `packet` (1-based, 64 bytes each) of an identity. Only identities written
    /// in several packets override this; for the rest a packet other than 1 is ERR3.
    fn write_packet(
        &mut self,
        id: u16,
        packet: u32,
        data: &[u8],
        access: Access,
    ) -> Result<(), u8> {
        if packet == 1 {
            self.write_id(id, data, access)
        } else {
            Err(3)
        }
    }
    /// Whether the identity may be sent as an RD stream.
    fn streamable(&self, id: u16) -> bool {
        id == 550
    }
    /// The lines of a mode C data readout.
    fn readout(&mut self) -> Vec<DataLine>;
    /// The session ended (log-off, time-out or a dropped line).
    fn session_ended(&mut self) {}
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes after the reaction time.
    Send(Vec<u8>),
    /// Send raw bytes (an RD stream) after the reaction time.
    SendRaw(Vec<u8>),
    /// Switch the line to this rate after what was sent before.
    SwitchBaud(u32),
    /// The session is over; go back to waiting for a sign-on at the initial rate.
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    WaitOption,
    Programming,
}

/// The meter-side state of one session.
#[derive(Debug)]
pub struct MeterSession {
    state: State,
    seed: [u8; 8],
    access: Access,
    authed_at: Option<Instant>,
    password_timeout: Duration,
    /// The highest baud character this meter offers.
    baud: u8,
}

impl MeterSession {
    pub fn new(password_timeout: Duration) -> Self {
        MeterSession {
            state: State::Idle,
            seed: [0; 8],
            access: Access::None,
            authed_at: None,
            password_timeout,
            baud: b'5',
        }
    }

    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    pub fn access(&self) -> Access {
        self.access
    }

    fn current_access(&self, now: Instant) -> Access {
        match (self.access, self.authed_at) {
            (Access::Level(_), Some(at)) if now.duration_since(at) > self.password_timeout => {
                Access::ReadOnly
            }
            (a, _) => a,
        }
    }

    fn reset(&mut self, meter: &mut dyn MeterFace) -> Action {
        if self.state != State::Idle {
            meter.session_ended();
        }
        self.state = State::Idle;
        self.access = Access::None;
        self.authed_at = None;
        Action::Idle
    }

    /// The line went quiet too long or dropped.
    pub fn abort(&mut self, meter: &mut dyn MeterFace) {
        self.reset(meter);
    }

    /// A frame arrived with a bad BCC.
    pub fn on_bad_frame(&mut self) -> Vec<Action> {
        match self.state {
            State::Programming => vec![Action::Send(Message::Nak.encode())],
            _ => Vec::new(),
        }
    }

    /// Handles one message from the client. A sign-on must already have been matched to this
    /// meter by address.
    pub fn handle(&mut self, msg: Message, now: Instant, meter: &mut dyn MeterFace) -> Vec<Action> {
        match (self.state, msg) {
            (_, Message::SignOn { .. }) => {
                if self.state != State::Idle {
                    meter.session_ended();
                }
                let (manufacturer, baud, ident) = meter.identification();
                self.baud = baud;
                self.state = State::WaitOption;
                self.access = Access::None;
                self.authed_at = None;
                vec![Action::Send(
                    Message::Identification {
                        manufacturer,
                        baud,
                        ident,
                    }
                    .encode(),
                )]
            }
            (State::WaitOption, Message::OptionSelect { baud, mode, .. }) => {
                let rate = baud_of(baud).filter(|_| baud <= self.baud).unwrap_or(300);
                match mode {
                    b'1' | b'6' => {
                        self.seed = meter.new_seed();
                        self.state = State::Programming;
                        vec![
                            Action::SwitchBaud(rate),
                            Action::Send(
                                Message::command(
                                    b"P0",
                                    format!("({})", to_hex(&self.seed)).into_bytes(),
                                )
                                .encode(),
                            ),
                        ]
                    }
                    b'0' => {
                        let lines = meter.readout();
                        let reply = format_data_message(&lines);
                        let idle = self.reset(meter);
                        vec![
                            Action::SwitchBaud(rate),
                            Action::Send(reply),
                            Action::SwitchBaud(300),
                            idle,
                        ]
                    }
                    _ => vec![self.reset(meter)],
                }
            }
            (State::Programming, Message::Command { cmd, data }) => {
                self.command(cmd, data, now, meter)
            }
            // A stray ACK or NAK in programming mode is ignored.
            (State::Programming, Message::Ack | Message::Nak) => Vec::new(),
            (State::Programming, _) => vec![err_reply(1)],
            (_, _) => vec![self.reset(meter)],
        }
    }

    fn command(
        &mut self,
        cmd: [u8; 2],
        data: Option<Vec<u8>>,
        now: Instant,
        meter: &mut dyn MeterFace,
    ) -> Vec<Action> {
        let data = data.unwrap_or_default();
        match &cmd {
            b"B0" => vec![Action::SwitchBaud(300), self.reset(meter)],
            b"P2" => {
                let answer = data
                    .strip_prefix(b"(")
                    .and_then(|d| d.strip_suffix(b")"))
                    .and_then(from_hex);
                match answer {
                    Some(a) if a.len() == 8 && a.iter().all(|&b| b == 0) => {
                        // The all-zero answer asks for read-only access.
                        if self.access < Access::ReadOnly {
                            self.access = Access::ReadOnly;
                        }
                        vec![Action::Send(vec![crate::frame::ACK])]
                    }
                    Some(a) if a.len() == 8 => match meter.check_password(&self.seed, &a) {
                        Some(level) => {
                            self.access = level;
                            self.authed_at = Some(now);
                            vec![Action::Send(vec![crate::frame::ACK])]
                        }
                        None => vec![Action::Send(vec![crate::frame::NAK])],
                    },
                    _ => vec![Action::Send(vec![crate::frame::NAK])],
                }
            }
            b"R1" => match parse_read(&data) {
                Some((id, packet, len)) => {
                    let access = self.current_access(now);
                    match meter.read_range(id, (packet as usize - 1) * 64, len, access) {
                        Ok(bytes) => vec![Action::Send(
                            Message::reply(to_hex(&bytes).as_bytes()).encode(),
                        )],
                        Err(code) => vec![err_reply(code)],
                    }
                }
                None => vec![err_reply(3)],
            },
            b"W1" => match parse_write(&data) {
                Some((id, packet, bytes)) => {
                    let access = self.current_access(now);
                    match meter.write_packet(id, packet, &bytes, access) {
                        Ok(()) => vec![Action::Send(vec![crate::frame::ACK])],
                        Err(code) => vec![err_reply(code)],
                    }
                }
                None => vec![err_reply(3)],
            },
            b"RD" => match parse_stream(&data) {
                Some((id, blocks)) if meter.streamable(id) => {
                    let access = self.current_access(now);
                    match meter.read_id(id, access) {
                        Ok(image) => {
                            let n = (blocks as usize * 256).min(image.len());
                            vec![Action::SendRaw(crate::rd::encode_stream(&image[..n]))]
                        }
                        Err(code) => vec![err_reply(code)],
                    }
                }
                Some(_) => vec![err_reply(2)],
                None => vec![err_reply(3)],
            },
            b"P1" => vec![Action::Send(vec![crate::frame::NAK])],
            _ => vec![err_reply(1)],
        }
    }
}

/// `len` bytes of an identity's image from `offset`, or ERR3 when that runs past its end.
pub fn slice_image(image: &[u8], offset: usize, len: usize) -> Result<Vec<u8>, u8> {
    image.get(offset..offset + len).map(<[u8]>::to_vec).ok_or(3)
}

fn err_reply(code: u8) -> Action {
    Action::Send(Message::reply(format!("ERR{code}").as_bytes()).encode())
}

fn parse_id(d: &[u8]) -> Option<u16> {
    if d.len() < 3 || !d[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&d[..3]).ok()?.parse().ok()
}

/// `IIIPPP(LL)` → (id, packet, length); packet ≥ 1, 1 ≤ LL ≤ 64.
fn parse_read(d: &[u8]) -> Option<(u16, u32, usize)> {
    let id = parse_id(d)?;
    let packet = hex_number(d.get(3..6)?)?;
    let rest = d.get(6..)?;
    let len = hex_number(rest.strip_prefix(b"(")?.strip_suffix(b")")?)? as usize;
    (packet >= 1 && (1..=64).contains(&len)).then_some((id, packet, len))
}

/// `IIIPPP(hex)` → (id, packet, bytes); packet ≥ 1, at most 64 bytes.
fn parse_write(d: &[u8]) -> Option<(u16, u32, Vec<u8>)> {
    let id = parse_id(d)?;
    let packet = hex_number(d.get(3..6)?)?;
    let bytes = from_hex(d.get(6..)?.strip_prefix(b"(")?.strip_suffix(b")")?)?;
    (packet >= 1 && bytes.len() <= 64).then_some((id, packet, bytes))
}

/// `III001(NB)` → (id, blocks).
fn parse_stream(d: &[u8]) -> Option<(u16, u32)> {
    let id = parse_id(d)?;
    let blocks = hex_number(d.get(6..)?.strip_prefix(b"(")?.strip_suffix(b")")?)?;
    (blocks >= 1).then_some((id, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_fields() {
        assert_eq!(parse_read(b"798001(10)"), Some((798, 1, 16)));
        assert_eq!(parse_read(b"54300a(27)"), Some((543, 10, 0x27)));
        assert_eq!(parse_read(b"861001(7)"), Some((861, 1, 7)));
        assert_eq!(parse_read(b"861001(41)"), None);
        assert_eq!(parse_read(b"861000(07)"), None);
        assert_eq!(parse_read(b"86x001(07)"), None);
        assert_eq!(parse_write(b"551001(0100)"), Some((551, 1, vec![1, 0])));
        assert_eq!(parse_write(b"655001()"), Some((655, 1, vec![])));
        assert_eq!(parse_write(b"94000A(FF)"), Some((940, 10, vec![0xFF])));
        assert_eq!(parse_write(b"940000(FF)"), None);
        assert_eq!(parse_stream(b"550001(1)"), Some((550, 1)));
    }
}
