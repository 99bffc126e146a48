//! The client (master) side of a FLAG session over any [`Link`]: sign-on, option select with
//! the baud switch, P0/P2 authentication, packet reads and writes, the RD stream and log-off,
//! with the standard's timeouts, NAK/retransmission and re-authentication before the meter's
//! password times out.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cipher::{elster_p2, password_bytes};
use crate::codec::{from_hex, to_hex};
use crate::error::{Error, MeterError, Result};
use crate::frame::{Decoded, FrameError, Message, ReplyPayload, Side, decode, parse_reply_payload};
use crate::readout::{DataMessage, parse_data_block};
use crate::transport::{Link, baud_of};

/// How the client paces and checks a session.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long to wait for the first byte of a reply (the standard allows the meter 1.5 s).
    pub response_timeout: Duration,
    /// Longest silence between two bytes of one message (1.5 s in the standard).
    pub inter_char_timeout: Duration,
    /// How often a request is sent again after a timeout, a NAK or a broken reply.
    pub retries: u32,
    /// Re-send the password this long after it was accepted (the meter forgets it after ~300 s).
    pub reauth_after: Duration,
    /// Pause before each transmission (half-duplex lines need the turn-around).
    pub turnaround: Duration,
    /// Use the RD binary stream for long identities when the link carries 8-bit bytes.
    pub use_rd: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            response_timeout: Duration::from_millis(3000),
            inter_char_timeout: Duration::from_millis(1500),
            retries: 3,
            reauth_after: Duration::from_secs(270),
            turnaround: Duration::ZERO,
            use_rd: true,
        }
    }
}

/// What the meter said about itself on sign-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub manufacturer: String,
    /// The baud character `Z` the meter proposes.
    pub baud: u8,
    pub ident: String,
}

impl Identification {
    /// The full identification line without `/` and CR LF.
    pub fn line(&self) -> String {
        format!(
            "{}{}{}",
            self.manufacturer,
            char::from(self.baud),
            self.ident
        )
    }

    /// The meter's minimum reaction time: 20 ms when the third manufacturer letter is lower
    /// case, else 200 ms.
    pub fn reaction_time(&self) -> Duration {
        if self
            .manufacturer
            .as_bytes()
            .get(2)
            .is_some_and(u8::is_ascii_lowercase)
        {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(200)
        }
    }
}

/// Counters of what crossed the link, for wire-efficiency figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub exchanges: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retransmissions: u32,
}

/// A FLAG session from the client's side.
#[derive(Debug)]
pub struct FlagClient<L> {
    link: L,
    buf: Vec<u8>,
    opts: ClientOptions,
    p2: Option<Message>,
    authed_at: Option<Instant>,
    pub stats: LinkStats,
}

impl<L: Link> FlagClient<L> {
    /// Attaches a session to a link.
    pub fn attach(link: L, opts: ClientOptions) -> Self {
        FlagClient {
            link,
            buf: Vec::with_capacity(512),
            opts,
            p2: None,
            authed_at: None,
            stats: LinkStats::default(),
        }
    }

    pub fn into_inner(self) -> L {
        self.link
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    pub fn link_is_eight_bit(&self) -> bool {
        self.link.eight_bit()
    }

    async fn send(&mut self, msg: &Message) -> Result<()> {
        if !self.opts.turnaround.is_zero() {
            tokio::time::sleep(self.opts.turnaround).await;
        }
        let bytes = msg.encode();
        self.stats.bytes_sent += bytes.len() as u64;
        self.link.write_all(&bytes).await?;
        self.link.flush().await?;
        Ok(())
    }

    /// Reads more bytes into the buffer, within `deadline` for the first byte of a message and
    /// the inter-character timeout after that.
    async fn fill(&mut self, during: &str, first: bool) -> Result<()> {
        let t = if first {
            self.opts.response_timeout
        } else {
            self.opts.inter_char_timeout
        };
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(t, self.link.read(&mut chunk))
            .await
            .map_err(|_| Error::Timeout {
                during: during.to_string(),
                timeout_ms: t.as_millis() as u64,
            })??;
        if n == 0 {
            return Err(Error::Closed {
                during: during.to_string(),
            });
        }
        self.stats.bytes_received += n as u64;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Receives one message. Stray line ends and noise before a message are dropped; a frame
    /// with a bad BCC is an error (the caller decides whether to retry).
    async fn recv(&mut self, during: &str) -> Result<Message> {
        let mut first = self.buf.is_empty();
        loop {
            match decode(&self.buf, Side::Client) {
                Decoded::Message(m, n) => {
                    self.buf.drain(..n);
                    return Ok(m);
                }
                Decoded::Incomplete => {}
                Decoded::Invalid(FrameError::Unexpected(b), _) if b >= 0x80 => {
                    // Noise, or a gateway passing 7E1 parity as data: retried like a broken
                    // frame, with a hint in case it persists.
                    self.buf.clear();
                    return Err(Error::Frame {
                        during: during.to_string(),
                        source: FrameError::Malformed {
                            what: "reply",
                            detail: "bytes with bit 7 set: the link may deliver 7E1 parity as data (a gateway in 8N1: use tcp://HOST:PORT?parity=soft)".into(),
                        },
                    });
                }
                Decoded::Invalid(FrameError::Unexpected(_), n) => {
                    self.buf.drain(..n);
                    continue;
                }
                Decoded::Invalid(e, n) => {
                    self.buf.drain(..n);
                    return Err(Error::Frame {
                        during: during.to_string(),
                        source: e,
                    });
                }
            }
            self.fill(during, first).await?;
            first = false;
        }
    }

    /// Drops whatever is buffered or still arriving (a late reply to an earlier attempt),
    /// until the line has been quiet for `quiet`.
    async fn flush_input_for(&mut self, quiet: Duration) {
        self.buf.clear();
        let mut chunk = [0u8; 1024];
        while let Ok(Ok(n)) = tokio::time::timeout(quiet, self.link.read(&mut chunk)).await {
            if n == 0 {
                break;
            }
            self.stats.bytes_received += n as u64;
        }
    }

    async fn flush_input(&mut self) {
        self.flush_input_for(Duration::from_millis(50)).await;
    }

    /// After a request had to be repeated, the meter may still answer the earlier copy: wait
    /// for the line to go quiet so that a late duplicate is not taken as the next reply.
    async fn settle_after_retry(&mut self, attempt: u32) {
        if attempt > 0 {
            let quiet = (self.opts.response_timeout / 2).max(Duration::from_millis(100));
            self.flush_input_for(quiet).await;
        }
    }

    /// Sends a request and receives its reply, repeating the request after a timeout, a NAK
    /// or a broken reply, up to the retry count.
    async fn exchange(&mut self, req: &Message, during: &str) -> Result<Message> {
        self.exchange_with(req, during, false).await
    }

    /// [`Self::exchange`]; with `nak_is_answer` a NAK is returned rather than repeated (to P2 it
    /// means "wrong password").
    async fn exchange_with(
        &mut self,
        req: &Message,
        during: &str,
        nak_is_answer: bool,
    ) -> Result<Message> {
        let mut last = String::new();
        let attempts = self.opts.retries + 1;
        for attempt in 0..attempts {
            if attempt > 0 {
                self.stats.retransmissions += 1;
                self.flush_input().await;
            }
            self.send(req).await?;
            self.stats.exchanges += 1;
            match self.recv(during).await {
                Ok(Message::Nak) if !nak_is_answer => last = "meter answered NAK".into(),
                Ok(m) => {
                    self.settle_after_retry(attempt).await;
                    return Ok(m);
                }
                Err(e @ (Error::Timeout { .. } | Error::Frame { .. })) => last = e.to_string(),
                Err(e) => return Err(e),
            }
        }
        Err(Error::RetriesExhausted {
            during: during.to_string(),
            attempts,
            last,
        })
    }

    /// Sends `/?address!` and reads the identification.
    pub async fn sign_on(&mut self, address: &str) -> Result<Identification> {
        if address.len() > 32
            || !address
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ')
        {
            return Err(Error::Usage(format!(
                "device address {address:?} must be up to 32 letters and digits"
            )));
        }
        let during = format!("sign-on of address {address:?}");
        let req = Message::SignOn {
            address: address.to_string(),
        };
        match self.exchange(&req, &during).await? {
            Message::Identification {
                manufacturer,
                baud,
                ident,
            } => Ok(Identification {
                manufacturer,
                baud,
                ident,
            }),
            other => Err(Error::protocol(
                during,
                format!("expected an identification, got {other:?}"),
            )),
        }
    }

    /// Sends the option select for `mode` at the meter's proposed rate and switches the link's
    /// speed once it has left the wire.
    async fn option_select(&mut self, ident: &Identification, mode: u8) -> Result<()> {
        let baud = if baud_of(ident.baud).is_some() {
            ident.baud
        } else {
            b'0'
        };
        let msg = Message::OptionSelect {
            protocol: b'0',
            baud,
            mode,
        };
        if self.link.switches_baud() {
            // The meter needs its reaction time before it listens again.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.send(&msg).await?;
        if self.link.switches_baud() {
            // Six characters at 300 Bd take 200 ms; switch only once they are out.
            tokio::time::sleep(Duration::from_millis(220)).await;
            if let Some(b) = baud_of(baud) {
                self.link.set_baud(b)?;
            }
        }
        Ok(())
    }

    /// Enters programming mode and returns the P0 seed.
    pub async fn enter_programming(&mut self, ident: &Identification) -> Result<[u8; 8]> {
        let during = "option select (programming mode)";
        self.option_select(ident, b'1').await?;
        self.stats.exchanges += 1;
        match self.recv(during).await? {
            Message::Command { cmd, data: Some(d) } if &cmd == b"P0" => {
                let seed = d
                    .strip_prefix(b"(")
                    .and_then(|d| d.strip_suffix(b")"))
                    .and_then(from_hex)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .ok_or_else(|| Error::protocol(during, "P0 seed is not 16 hex digits"))?;
                Ok(seed)
            }
            other => Err(Error::protocol(
                during,
                format!("expected the P0 password prompt, got {other:?}"),
            )),
        }
    }

    /// Sends P2 with the password encrypted under the seed; `None` sends the all-zero P2 that
    /// gives read-only access.
    pub async fn authenticate(&mut self, seed: &[u8; 8], password: Option<&str>) -> Result<()> {
        let answer = match password {
            None => "0000000000000000".to_string(),
            Some(p) => {
                let pw = password_bytes(p).ok_or_else(|| {
                    Error::Usage(
                        "an Elster password is exactly 8 printable ASCII characters".into(),
                    )
                })?;
                to_hex(&elster_p2(&pw, seed))
            }
        };
        let msg = Message::command(b"P2", format!("({answer})").into_bytes());
        self.p2 = Some(msg.clone());
        self.send_p2(&msg).await
    }

    async fn send_p2(&mut self, msg: &Message) -> Result<()> {
        let during = "password (P2)";
        match self.exchange_with(msg, during, true).await? {
            Message::Ack => {
                self.authed_at = Some(Instant::now());
                Ok(())
            }
            Message::Nak => Err(MeterError::WrongPassword.into()),
            Message::Data { data, .. } => match parse_reply_payload(&data) {
                Ok(ReplyPayload::Error(code)) => Err(MeterError::Err {
                    code,
                    request: "P2".into(),
                }
                .into()),
                _ => Err(Error::protocol(during, "unexpected data reply")),
            },
            Message::Command { cmd, .. } if &cmd == b"B0" => Err(MeterError::WrongPassword.into()),
            other => Err(Error::protocol(during, format!("unexpected {other:?}"))),
        }
    }

    async fn keep_authenticated(&mut self) -> Result<()> {
        if let (Some(at), Some(p2)) = (self.authed_at, self.p2.clone()) {
            if at.elapsed() >= self.opts.reauth_after {
                self.send_p2(&p2).await?;
            }
        }
        Ok(())
    }

    /// A request whose reply is data or ERRn; on ERR5 the password is sent again once.
    async fn data_request(&mut self, req: &Message, during: &str) -> Result<ReplyPayload> {
        self.keep_authenticated().await?;
        let mut reauthed = false;
        loop {
            let reply = self.exchange(req, during).await?;
            let payload = match reply {
                Message::Data { data, .. } => {
                    parse_reply_payload(&data).map_err(|e| Error::Frame {
                        during: during.to_string(),
                        source: e,
                    })?
                }
                Message::Ack => return Ok(ReplyPayload::Bytes(Vec::new())),
                Message::Command { cmd, .. } if &cmd == b"B0" => {
                    return Err(Error::protocol(during, "the meter ended the session (B0)"));
                }
                other => return Err(Error::protocol(during, format!("unexpected {other:?}"))),
            };
            if payload == ReplyPayload::Error(5) && !reauthed {
                if let Some(p2) = self.p2.clone() {
                    self.send_p2(&p2).await?;
                    reauthed = true;
                    continue;
                }
            }
            return Ok(payload);
        }
    }

    /// Reads `len` bytes of an identity from packet `first_packet` (1-based) on, in 64-byte
    /// packets. A reply of the wrong length is taken for a late answer to an earlier request:
    /// it is dropped and the request repeated.
    pub async fn read_packets(
        &mut self,
        id: u16,
        first_packet: u32,
        len: usize,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut packet = first_packet;
        while out.len() < len {
            let want = (len - out.len()).min(64);
            let req_text = format!("{id:03}{packet:03X}({want:02X})");
            let during = format!("R1 {req_text}");
            let req = Message::command(b"R1", req_text.clone().into_bytes());
            let mut tries = 0;
            loop {
                match self.data_request(&req, &during).await? {
                    ReplyPayload::Bytes(b) if b.len() == want => {
                        out.extend_from_slice(&b);
                        break;
                    }
                    ReplyPayload::Bytes(b) => {
                        tries += 1;
                        if tries > self.opts.retries {
                            return Err(Error::protocol(
                                during,
                                format!("asked for {want} bytes, got {}", b.len()),
                            ));
                        }
                        self.stats.retransmissions += 1;
                        let quiet =
                            (self.opts.response_timeout / 2).max(Duration::from_millis(100));
                        self.flush_input_for(quiet).await;
                    }
                    ReplyPayload::Error(code) => {
                        return Err(MeterError::Err {
                            code,
                            request: format!("R1 {req_text}"),
                        }
                        .into());
                    }
                }
            }
            packet += 1;
        }
        Ok(out)
    }

    /// Reads a whole identity of `len` bytes.
    pub async fn read_id(&mut self, id: u16, len: usize) -> Result<Vec<u8>> {
        self.read_packets(id, 1, len).await
    }

    /// Reads set `index` (0 = most recent) of a multi-set identity of sets of `set_len` bytes.
    pub async fn read_set(&mut self, id: u16, index: u32, set_len: usize) -> Result<Vec<u8>> {
        let per_set = set_len.div_ceil(64) as u32;
        self.read_packets(id, index * per_set + 1, set_len).await
    }

    /// Writes an identity (packet 001).
    pub async fn write_id(&mut self, id: u16, data: &[u8]) -> Result<()> {
        self.write_packet(id, 1, data).await
    }

    /// Writes `data` to an identity in 64-byte packets from packet 1 on.
    pub async fn write_packets(&mut self, id: u16, data: &[u8]) -> Result<()> {
        for (i, chunk) in data.chunks(64).enumerate() {
            self.write_packet(id, i as u32 + 1, chunk).await?;
        }
        Ok(())
    }

    /// Writes one packet (1-based) of an identity.
    pub async fn write_packet(&mut self, id: u16, packet: u32, data: &[u8]) -> Result<()> {
        let req_text = format!("{id:03}{packet:03X}({})", to_hex(data));
        let during = format!("W1 {id:03}{packet:03X}");
        let req = Message::command(b"W1", req_text.into_bytes());
        match self.data_request(&req, &during).await? {
            ReplyPayload::Bytes(b) if b.is_empty() => Ok(()),
            ReplyPayload::Bytes(_) => Err(Error::protocol(during, "data reply to a write")),
            ReplyPayload::Error(code) => Err(MeterError::Err {
                code,
                request: during,
            }
            .into()),
        }
    }

    /// Reads `blocks` 256-byte blocks of an identity as one RD binary stream.
    pub async fn read_stream(&mut self, id: u16, blocks: u32) -> Result<Vec<u8>> {
        self.keep_authenticated().await?;
        let during = format!("RD {id:03}001({blocks:x})");
        let req = Message::command(b"RD", format!("{id:03}001({blocks:x})").into_bytes());
        let mut last = String::new();
        for attempt in 0..=self.opts.retries {
            if attempt > 0 {
                self.stats.retransmissions += 1;
                // Abort a stream in progress and let the line settle.
                self.link.write_all(&[0x1B]).await?;
                self.flush_input().await;
            }
            self.send(&req).await?;
            self.stats.exchanges += 1;
            match self.recv_stream(&during).await {
                Ok(d) => {
                    self.settle_after_retry(attempt).await;
                    return Ok(d);
                }
                Err(Error::Meter(m)) => return Err(m.into()),
                Err(e @ (Error::Timeout { .. } | Error::Frame { .. } | Error::Protocol { .. })) => {
                    last = e.to_string()
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::RetriesExhausted {
            during,
            attempts: self.opts.retries + 1,
            last,
        })
    }

    async fn recv_stream(&mut self, during: &str) -> Result<Vec<u8>> {
        let mut first = self.buf.is_empty();
        loop {
            // An ERRn reply is a normal frame, not a stream.
            if self.buf.len() >= 4 && self.buf[1] == b'(' && self.buf[2] == b'E' {
                if let Decoded::Message(Message::Data { data, .. }, n) =
                    decode(&self.buf, Side::Client)
                {
                    self.buf.drain(..n);
                    if let Ok(ReplyPayload::Error(code)) = parse_reply_payload(&data) {
                        return Err(MeterError::Err {
                            code,
                            request: during.to_string(),
                        }
                        .into());
                    }
                }
            }
            match crate::rd::decode_stream(&self.buf) {
                Ok(Some((data, n))) => {
                    self.buf.drain(..n);
                    return Ok(data);
                }
                Ok(None) => {}
                Err(e) => {
                    self.buf.clear();
                    return Err(Error::protocol(during, e.to_string()));
                }
            }
            self.fill(during, first).await?;
            first = false;
        }
    }

    /// Sends the password in clear text with P1 (IEC 62056-21). Elster meters are not known to
    /// accept it; a NAK is reported as a refused password.
    pub async fn authenticate_p1(&mut self, password: &str) -> Result<()> {
        let msg = Message::command(b"P1", format!("({password})").into_bytes());
        self.p2 = Some(msg.clone());
        self.send_p2(&msg).await
    }

    /// Sends an execute command `E2 III001(hex)` (formatted execute of IEC 62056-21); the
    /// meter answers ACK or ERRn.
    pub async fn execute(&mut self, id: u16, data: &[u8]) -> Result<()> {
        let during = format!("E2 {id:03}001");
        let req = Message::command(b"E2", format!("{id:03}001({})", to_hex(data)).into_bytes());
        match self.data_request(&req, &during).await? {
            ReplyPayload::Bytes(b) if b.is_empty() => Ok(()),
            ReplyPayload::Bytes(_) => Err(Error::protocol(during, "data reply to an execute")),
            ReplyPayload::Error(code) => Err(MeterError::Err {
                code,
                request: during,
            }
            .into()),
        }
    }

    /// Ends the session with B0 (the meter does not answer).
    pub async fn log_off(&mut self) -> Result<()> {
        self.send(&Message::log_off()).await?;
        self.p2 = None;
        self.authed_at = None;
        Ok(())
    }

    /// A plain data readout (mode C): sign-on, option select `0`, and the data message.
    pub async fn data_readout(&mut self, address: &str) -> Result<(Identification, DataMessage)> {
        let ident = self.sign_on(address).await?;
        self.option_select(&ident, b'0').await?;
        let during = "data readout";
        self.stats.exchanges += 1;
        // The readout can be long: allow the inter-character timeout between its bytes.
        match self.recv(during).await? {
            Message::Data { data, .. } => {
                let text = std::str::from_utf8(&data)
                    .map_err(|_| Error::protocol(during, "data message is not ASCII"))?;
                let msg =
                    parse_data_block(text).map_err(|e| Error::protocol(during, e.to_string()))?;
                Ok((ident, msg))
            }
            other => Err(Error::protocol(
                during,
                format!("expected the data message, got {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_time_from_ident() {
        let mut id = Identification {
            manufacturer: "GEC".into(),
            baud: b'5',
            ident: "120510070213@000".into(),
        };
        assert_eq!(id.reaction_time(), Duration::from_millis(200));
        id.manufacturer = "GEc".into();
        assert_eq!(id.reaction_time(), Duration::from_millis(20));
        assert_eq!(id.line(), "GEc5120510070213@000");
    }
}
