//! Moving whole APDUs to and from a meter: the TCP wrapper (guide §1.1) or HDLC (§1.2) over any
//! byte stream.
//!
//! The wrapper adds an 8-byte header and nothing else; TCP is reliable, so a request is never
//! sent twice (a time-out ends the exchange with [`Error::Timeout`]).
//!
//! HDLC is a request/response dialogue; requests and answers go out in windows of the sizes the
//! UA grants (our SNRM proposes [`LinkOptions::hdlc_parameters`]):
//!
//! * SNRM (with our parameter proposal, if any) → UA with the meter's; the UA's values are the
//!   meter's view and are swapped into ours (UA `05` = what we may receive). Both sequence
//!   counters start at 0 on every UA.
//! * A request longer than the meter's receive limit goes out in segments (S bit set on all but
//!   the last), the non-final ones a window at a time with the poll bit on the window's last;
//!   then we wait for the meter's RR with N(R) = next, and send again from its N(R) when that
//!   points into the window.
//! * The answer may come in segments too, in windows: the frame with the poll/final bit set
//!   ends a window and is acknowledged with RR. A frame missing from a window (the next one
//!   arrives out of sequence) is asked for again at the window's end by an RR with our N(R).
//! * A time-out, or a frame with a bad HCS/FCS, sends the unanswered frame again — the same
//!   bytes, same N(S) — up to the retry count. A meter that already had it answers the repeated
//!   N(S) with its last response; duplicates of frames we already accepted are dropped.
//! * RNR from the meter (it took our frame but is busy): a pause of 200 ms, then RR with the
//!   poll bit, until it answers RR or the I-frames of its answer (at most 25 polls).
//! * DM (the meter dropped the link, e.g. after its inactivity time-out) and FRMR end the
//!   exchange with a [`MeterError::Link`].
//! * Frames addressed to another station (including the echo of our own frames that optical
//!   heads produce) are ignored. The meter's reply may use a different server address form than
//!   ours (guide §1.2.2): only the logical device is compared.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{Error, HexBytes, LinkStats, MeterError, Result};
use crate::hdlc::{
    AddressSize, Control, Direction, FrameSplitter, HdlcAddress, HdlcFrame, HdlcParameters,
    Reassembler, StreamError, segment,
};
use crate::wrapper::{WrapperFrame, WrapperSplitter};

/// The pause before polling a meter that answered RNR (busy), and how many polls it gets.
const BUSY_PAUSE: Duration = Duration::from_millis(200);
const BUSY_POLLS: u32 = 25;

/// How APDUs are framed on the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The 8-byte TCP/UDP wrapper header (IEC 62056-47).
    Wrapper,
    /// HDLC frames with LLC header (IEC 62056-46), on serial lines or tunnelled over TCP.
    Hdlc,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Wrapper => "wrapper",
            Transport::Hdlc => "hdlc",
        }
    }
}

/// Addresses, limits and timing of one link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    pub transport: Transport,
    /// Client SAP: the wrapper's source wPort, the HDLC client address (16 = public client).
    pub client_sap: u8,
    /// Server logical device: the wrapper's destination wPort, the HDLC upper address.
    pub server_logical: u16,
    /// HDLC lower (physical) address; `None` sends the one-byte server address.
    pub server_physical: Option<u16>,
    /// Forces the HDLC server address form (two or four bytes); `None` picks two bytes when
    /// both parts are below 0x80, else four.
    pub server_address_size: Option<AddressSize>,
    /// The SNRM parameter proposal; `None` sends SNRM without an information field (the meter
    /// then answers with its own values, or the defaults of 128 bytes and window 1 apply).
    pub hdlc_parameters: Option<HdlcParameters>,
    /// How long to wait for an answer before sending again (HDLC) or giving up (wrapper).
    pub response_timeout: Duration,
    /// HDLC: how often an unanswered frame is sent again.
    pub retries: u32,
    /// The longest APDU accepted from the meter (protects memory against a hostile peer).
    pub max_apdu: usize,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            transport: Transport::Wrapper,
            client_sap: 0x10,
            server_logical: 1,
            server_physical: None,
            server_address_size: None,
            hdlc_parameters: None,
            response_timeout: Duration::from_secs(5),
            retries: 3,
            max_apdu: 0x1_0000,
        }
    }
}

/// Opens a serial port at `baud`, 8 data bits, no parity, 1 stop bit, for meters that speak
/// HDLC directly on the port (the IEC 62056-21 mode-E opening of optical ports is not done
/// here).
pub fn open_serial(path: &str, baud: u32) -> std::io::Result<tokio_serial::SerialStream> {
    use tokio_serial::SerialPortBuilderExt;
    tokio_serial::new(path, baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(std::io::Error::other)
}

/// A byte stream with counters and read deadlines.
#[derive(Debug)]
struct Wire<S> {
    stream: S,
    stats: LinkStats,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Wire<S> {
    async fn send(&mut self, bytes: &[u8], during: &str) -> Result<()> {
        self.stats.bytes_sent += bytes.len() as u64;
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| Error::io(during, e))?;
        self.stream.flush().await.map_err(|e| Error::io(during, e))
    }

    /// Reads what is there, waiting until `deadline`. `Ok(None)` when the deadline passed.
    async fn read_until(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        during: &str,
    ) -> Result<Option<usize>> {
        match tokio::time::timeout_at(deadline, self.stream.read(buf)).await {
            Err(_) => Ok(None),
            Ok(Err(e)) => Err(Error::io(during, e)),
            Ok(Ok(0)) => Err(Error::Closed {
                during: during.to_string(),
            }),
            Ok(Ok(n)) => {
                self.stats.bytes_received += n as u64;
                Ok(Some(n))
            }
        }
    }
}

/// What waiting for an HDLC frame gave.
enum Received {
    Frame(HdlcFrame),
    /// A frame that failed its checks (dropped; the answer is lost).
    Broken(StreamError),
    TimedOut,
}

/// The HDLC data link of one session.
#[derive(Debug)]
struct HdlcState {
    client: HdlcAddress,
    server: HdlcAddress,
    splitter: FrameSplitter,
    /// Our view: transmit = longest information field we send, receive = longest we accept.
    params: HdlcParameters,
    /// V(S): the number of our next I-frame.
    vs: u8,
    /// V(R): the number of the meter's next I-frame.
    vr: u8,
    connected: bool,
}

impl HdlcState {
    /// RR with our N(R): "send me frame V(R) next".
    fn receive_ready(&self) -> HdlcFrame {
        HdlcFrame::new(
            self.server,
            self.client,
            Control::Rr {
                recv_seq: self.vr,
                poll_final: true,
            },
        )
    }
}

/// A link to one meter: APDUs in, APDUs out.
#[derive(Debug)]
pub struct Link<S> {
    wire: Wire<S>,
    opts: LinkOptions,
    wrapper: WrapperSplitter,
    hdlc: Option<HdlcState>,
}

const READ_CHUNK: usize = 4096;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Link<S> {
    /// Attaches to a byte stream. Nothing is sent until [`Link::open`].
    pub fn attach(stream: S, opts: LinkOptions) -> Result<Self> {
        let hdlc = match opts.transport {
            Transport::Wrapper => None,
            Transport::Hdlc => {
                let usage =
                    |e: crate::error::EncodeError| Error::Usage(format!("HDLC addresses: {e}"));
                let client = HdlcAddress::client(opts.client_sap).map_err(usage)?;
                let server = match (opts.server_physical, opts.server_address_size) {
                    (None, _) => HdlcAddress::one_byte(opts.server_logical).map_err(usage)?,
                    (Some(p), None) => {
                        HdlcAddress::server(opts.server_logical, p).map_err(usage)?
                    }
                    (Some(p), Some(size)) => {
                        HdlcAddress::server_with_size(opts.server_logical, Some(p), size)
                            .map_err(usage)?
                    }
                };
                Some(HdlcState {
                    client,
                    server,
                    splitter: FrameSplitter::new(),
                    params: HdlcParameters::default(),
                    vs: 0,
                    vr: 0,
                    connected: false,
                })
            }
        };
        if opts.transport == Transport::Wrapper && opts.client_sap > 0x7F {
            return Err(Error::Usage(format!(
                "client address {} is out of range 0..=127",
                opts.client_sap
            )));
        }
        let max_apdu = opts.max_apdu;
        Ok(Link {
            wire: Wire {
                stream,
                stats: LinkStats::default(),
            },
            opts,
            wrapper: WrapperSplitter::new(max_apdu),
            hdlc,
        })
    }

    pub fn stats(&self) -> LinkStats {
        self.wire.stats
    }

    pub fn options(&self) -> &LinkOptions {
        &self.opts
    }

    /// The negotiated HDLC parameters in our view (transmit = what we send at most).
    pub fn hdlc_parameters(&self) -> Option<HdlcParameters> {
        self.hdlc.as_ref().map(|h| h.params)
    }

    pub fn into_inner(self) -> S {
        self.wire.stream
    }

    /// Opens the data link: SNRM/UA for HDLC, nothing for the wrapper.
    pub async fn open(&mut self) -> Result<()> {
        if self.hdlc.is_some() {
            self.hdlc_connect().await
        } else {
            Ok(())
        }
    }

    /// Closes the data link: DISC/UA for HDLC (a DM answer or silence is accepted too), nothing
    /// for the wrapper.
    pub async fn close(&mut self) -> Result<()> {
        if self.hdlc.as_ref().is_some_and(|h| h.connected) {
            self.hdlc_disconnect().await
        } else {
            Ok(())
        }
    }

    /// Sends one APDU and returns the meter's answer.
    pub async fn exchange(&mut self, apdu: &[u8], during: &str) -> Result<Vec<u8>> {
        let answer = if self.hdlc.is_some() {
            self.hdlc_exchange(apdu, during).await?
        } else {
            self.wrapper_exchange(apdu, during).await?
        };
        self.wire.stats.exchanges += 1;
        Ok(answer)
    }

    // ----- wrapper -----

    async fn wrapper_exchange(&mut self, apdu: &[u8], during: &str) -> Result<Vec<u8>> {
        let client = u16::from(self.opts.client_sap);
        let server = self.opts.server_logical;
        let bytes = WrapperFrame::new(client, server, apdu.to_vec())
            .encode()
            .map_err(|e| Error::Encode {
                during: during.to_string(),
                source: e,
            })?;
        self.wire.send(&bytes, during).await?;
        let deadline = Instant::now() + self.opts.response_timeout;
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            if let Some(r) = self.wrapper.next_frame() {
                let f = r.map_err(|e| Error::decode(during, e))?;
                if f.destination != client || f.source != server {
                    return Err(Error::protocol(
                        during,
                        format!(
                            "wrapper frame from wPort {} to wPort {}, expected {server} to {client}",
                            f.source, f.destination
                        ),
                    ));
                }
                return Ok(f.apdu);
            }
            match self.wire.read_until(&mut chunk, deadline, during).await? {
                Some(n) => self.wrapper.push(&chunk[..n]),
                None => {
                    return Err(Error::Timeout {
                        during: during.to_string(),
                        timeout_ms: self.opts.response_timeout.as_millis() as u64,
                    });
                }
            }
        }
    }

    // ----- HDLC -----

    fn hdlc_state(&mut self) -> Result<&mut HdlcState> {
        self.hdlc
            .as_mut()
            .ok_or_else(|| Error::Usage("not an HDLC link".into()))
    }

    async fn send_frame(&mut self, frame: &HdlcFrame, during: &str) -> Result<()> {
        let bytes = frame.encode().map_err(|e| Error::Encode {
            during: during.to_string(),
            source: e,
        })?;
        self.wire.send(&bytes, during).await
    }

    /// The next frame addressed to us, a broken frame, or the deadline.
    async fn next_frame(&mut self, deadline: Instant, during: &str) -> Result<Received> {
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            let h = self.hdlc_state()?;
            while let Some(r) = h.splitter.next_frame() {
                match r {
                    Ok(f) => {
                        let to_us = f.destination.upper() == h.client.upper()
                            && f.source.upper() == h.server.upper();
                        if to_us {
                            return Ok(Received::Frame(f));
                        }
                    }
                    Err(e) => return Ok(Received::Broken(e)),
                }
            }
            match self.wire.read_until(&mut chunk, deadline, during).await? {
                Some(n) => self.hdlc_state()?.splitter.push(&chunk[..n]),
                None => return Ok(Received::TimedOut),
            }
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.opts.response_timeout
    }

    fn link_error(during: &str, f: &HdlcFrame) -> Option<Error> {
        match f.control {
            Control::Dm { .. } => Some(
                MeterError::Link {
                    during: during.to_string(),
                    what: "is in disconnected mode (DM): the link was dropped".into(),
                }
                .into(),
            ),
            Control::Frmr { .. } => Some(
                MeterError::Link {
                    during: during.to_string(),
                    what: format!("rejected a frame (FRMR {})", HexBytes(&f.information)),
                }
                .into(),
            ),
            _ => None,
        }
    }

    async fn hdlc_connect(&mut self) -> Result<()> {
        let during = "HDLC connect (SNRM)";
        let h = self.hdlc_state()?;
        let mut snrm = HdlcFrame::new(h.server, h.client, Control::Snrm { poll_final: true });
        let proposal = self.opts.hdlc_parameters.map(HdlcParameters::clamped);
        if let Some(p) = proposal {
            snrm = snrm.with_information(p.encode());
        }
        let attempts = self.opts.retries + 1;
        let mut last = String::from("no answer");
        for attempt in 0..attempts {
            if attempt > 0 {
                self.wire.stats.retransmissions += 1;
            }
            self.send_frame(&snrm, during).await?;
            let deadline = self.deadline();
            loop {
                match self.next_frame(deadline, during).await? {
                    Received::Frame(f) => match f.control {
                        Control::Ua { .. } => {
                            let theirs = HdlcParameters::decode(&f.information)
                                .map_err(|e| Error::decode("HDLC connect (UA parameters)", e))?;
                            let h = self.hdlc_state()?;
                            let mut ours = theirs.swapped().clamped();
                            // A meter may not grant more than we proposed.
                            if let Some(p) = proposal {
                                ours.max_info_transmit =
                                    ours.max_info_transmit.min(p.max_info_transmit);
                                ours.max_info_receive =
                                    ours.max_info_receive.min(p.max_info_receive);
                                ours.window_transmit = ours.window_transmit.min(p.window_transmit);
                                ours.window_receive = ours.window_receive.min(p.window_receive);
                            }
                            h.params = ours;
                            h.vs = 0;
                            h.vr = 0;
                            h.connected = true;
                            self.wire.stats.exchanges += 1;
                            return Ok(());
                        }
                        _ => {
                            if let Some(e) = Self::link_error(during, &f) {
                                return Err(e);
                            }
                        }
                    },
                    Received::Broken(e) => {
                        last = e.to_string();
                        break;
                    }
                    Received::TimedOut => {
                        last = format!(
                            "no answer within {} ms",
                            self.opts.response_timeout.as_millis()
                        );
                        break;
                    }
                }
            }
        }
        Err(Error::RetriesExhausted {
            during: during.to_string(),
            attempts,
            last,
        })
    }

    async fn hdlc_disconnect(&mut self) -> Result<()> {
        let during = "HDLC disconnect (DISC)";
        let h = self.hdlc_state()?;
        let disc = HdlcFrame::new(h.server, h.client, Control::Disc { poll_final: true });
        h.connected = false;
        self.send_frame(&disc, during).await?;
        let deadline = self.deadline();
        loop {
            match self.next_frame(deadline, during).await {
                Ok(Received::Frame(f)) => {
                    if matches!(f.control, Control::Ua { .. } | Control::Dm { .. }) {
                        self.wire.stats.exchanges += 1;
                        return Ok(());
                    }
                }
                // Whatever else happens, the link is gone from our side.
                Ok(Received::Broken(_)) => continue,
                Ok(Received::TimedOut) | Err(Error::Closed { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `apdu` in I-frames and returns the reassembled answer.
    async fn hdlc_exchange(&mut self, apdu: &[u8], during: &str) -> Result<Vec<u8>> {
        let h = self.hdlc_state()?;
        if !h.connected {
            return Err(MeterError::Link {
                during: during.to_string(),
                what: "has no HDLC connection (SNRM/UA) with us".into(),
            }
            .into());
        }
        let max_info = usize::from(h.params.max_info_transmit);
        let segments =
            segment(apdu, Direction::ClientToServer, max_info).map_err(|e| Error::Encode {
                during: during.to_string(),
                source: e,
            })?;
        let (client, server) = (h.client, h.server);
        let window = usize::from(h.params.window_transmit).clamp(1, 7);
        let (mut vs, vr) = (h.vs, h.vr);
        let mut frames: Vec<HdlcFrame> = segments
            .into_iter()
            .map(|seg| {
                let f = HdlcFrame {
                    segmented: seg.more,
                    destination: server,
                    source: client,
                    control: Control::I {
                        send_seq: vs,
                        recv_seq: vr,
                        poll_final: true,
                    },
                    information: seg.information,
                };
                vs = (vs + 1) & 7;
                f
            })
            .collect();
        let Some(last) = frames.pop() else {
            return Err(Error::Usage("an empty request cannot be sent".into()));
        };
        // The segments before the last go out a window at a time, the poll bit on each
        // window's last frame; the last segment asks for the answer.
        for chunk in frames.chunks_mut(window) {
            let n = chunk.len();
            for (k, f) in chunk.iter_mut().enumerate() {
                if let Control::I { poll_final, .. } = &mut f.control {
                    *poll_final = k + 1 == n;
                }
            }
            self.send_window(chunk, during).await?;
        }
        self.send_last_and_receive(&last, during).await
    }

    /// After the meter's RNR ("received, but busy"): waits a moment and polls it with RR. A
    /// meter that stays busy for [`BUSY_POLLS`] polls ends the exchange.
    async fn poll_busy_meter(&mut self, polls: u32, during: &str) -> Result<()> {
        if polls > BUSY_POLLS {
            return Err(MeterError::Link {
                during: during.to_string(),
                what: format!("stayed busy (RNR) through {BUSY_POLLS} polls"),
            }
            .into());
        }
        tokio::time::sleep(BUSY_PAUSE).await;
        let poll = self.hdlc_state()?.receive_ready();
        self.send_frame(&poll, during).await
    }

    /// Sends a window of non-final segments and waits for the meter's RR asking for the frame
    /// after them. An RR whose N(R) points into the window (frames lost on the way) brings the
    /// frames from there again; so do a time-out and a broken answer.
    async fn send_window(&mut self, window: &[HdlcFrame], during: &str) -> Result<()> {
        let attempts = self.opts.retries + 1;
        let mut last: String;
        let seq = |f: &HdlcFrame| f.control.send_seq().unwrap_or(0) & 7;
        let Some(first) = window.first().map(seq) else {
            return Ok(());
        };
        let want = (first + window.len() as u8) & 7;
        // The frames not yet acknowledged, from this index on.
        let mut from = 0usize;
        let mut failures = 0u32;
        let mut busy = 0u32;
        // After an RNR for the whole window the meter has every frame: a lost answer to our
        // poll is recovered by polling again, not by sending frames it took.
        let mut all_taken = false;
        'send: loop {
            if all_taken {
                let poll = self.hdlc_state()?.receive_ready();
                self.send_frame(&poll, during).await?;
            } else {
                for f in &window[from..] {
                    self.send_frame(f, during).await?;
                }
            }
            let mut deadline = self.deadline();
            loop {
                match self.next_frame(deadline, during).await? {
                    Received::Frame(f) => match f.control {
                        Control::Rr { recv_seq, .. } if recv_seq & 7 == want => {
                            let h = self.hdlc_state()?;
                            h.vs = want;
                            return Ok(());
                        }
                        Control::Rnr { recv_seq, .. } if recv_seq & 7 == want => {
                            // The meter took the window but is busy: poll it until it is
                            // ready for the next one.
                            all_taken = true;
                            busy += 1;
                            self.poll_busy_meter(busy, during).await?;
                            deadline = self.deadline();
                        }
                        Control::Rr { recv_seq, .. } | Control::Rnr { recv_seq, .. } => {
                            last = "the meter did not take every segment".into();
                            if let Some(k) =
                                (0..window.len()).find(|k| (first + *k as u8) & 7 == recv_seq & 7)
                            {
                                from = k;
                            }
                            break;
                        }
                        _ => {
                            if let Some(e) = Self::link_error(during, &f) {
                                return Err(e);
                            }
                        }
                    },
                    Received::Broken(e) => {
                        last = e.to_string();
                        break;
                    }
                    Received::TimedOut => {
                        last = format!(
                            "no acknowledgement within {} ms",
                            self.opts.response_timeout.as_millis()
                        );
                        break;
                    }
                }
            }
            failures += 1;
            if failures >= attempts {
                break 'send;
            }
            self.wire.stats.retransmissions += 1;
        }
        Err(Error::RetriesExhausted {
            during: during.to_string(),
            attempts,
            last,
        })
    }

    /// Sends the last segment of a request and collects the answer, acknowledging its
    /// segments. A lost frame in either direction is recovered by sending the unanswered frame
    /// (the request, or our last RR) again.
    async fn send_last_and_receive(
        &mut self,
        request: &HdlcFrame,
        during: &str,
    ) -> Result<Vec<u8>> {
        let attempts = self.opts.retries + 1;
        let max_apdu = self.opts.max_apdu;
        let mut reassembler = Reassembler::new(Direction::ServerToClient, max_apdu);
        let sent_seq = request.control.send_seq().unwrap_or(0);
        {
            let h = self.hdlc_state()?;
            h.vs = (sent_seq + 1) & 7;
        }
        // What to send when the meter stays silent: the request until its first answer frame,
        // then the RR that asks for the next segment.
        let mut pending = request.clone();
        let mut failures = 0u32;
        let mut busy = 0u32;
        let mut last: String;
        let windowed = self.hdlc_state()?.params.window_receive > 1;
        self.send_frame(&pending, during).await?;
        // Renewed only by progress or a retransmission: frames we ignore do not keep us here.
        let mut deadline = self.deadline();
        loop {
            let outcome = self.next_frame(deadline, during).await?;
            let h = self.hdlc_state()?;
            match outcome {
                Received::Frame(f) => match f.control {
                    Control::I {
                        send_seq,
                        poll_final,
                        ..
                    } if send_seq & 7 == h.vr => {
                        h.vr = (h.vr + 1) & 7;
                        failures = 0;
                        let part = reassembler
                            .push_frame(&f)
                            .map_err(|e| Error::decode(during, e))?;
                        if let Some(apdu) = part {
                            return Ok(apdu);
                        }
                        pending = h.receive_ready();
                        // Inside a window (no poll/final bit) more frames follow unasked.
                        if poll_final {
                            self.send_frame(&pending, during).await?;
                        }
                        deadline = self.deadline();
                    }
                    Control::I {
                        send_seq,
                        poll_final,
                        ..
                    } if (send_seq + 1) & 7 == h.vr => {
                        // A repeat of a frame we already took: our acknowledgement was lost
                        // (inside a repeated window, only its last frame asks for an answer).
                        // Before the first frame of this answer it is a late copy of the
                        // previous answer: nothing to do.
                        if poll_final && reassembler.in_progress() {
                            failures += 1;
                            last = "the meter repeats a segment we acknowledged".into();
                            if failures >= attempts {
                                break;
                            }
                            self.wire.stats.retransmissions += 1;
                            self.send_frame(&pending, during).await?;
                            deadline = self.deadline();
                        }
                    }
                    Control::I {
                        send_seq,
                        poll_final,
                        ..
                    } => {
                        // A frame of the window was lost (or is an old repeat): at the window's
                        // end, ask for everything from the first missing one (RR with our
                        // N(R)); the meter sends again from there.
                        if poll_final {
                            failures += 1;
                            last = format!(
                                "HDLC I-frame number {} out of sequence (expected {})",
                                send_seq & 7,
                                h.vr
                            );
                            if failures >= attempts {
                                break;
                            }
                            pending = h.receive_ready();
                            self.wire.stats.retransmissions += 1;
                            self.send_frame(&pending, during).await?;
                            deadline = self.deadline();
                        }
                    }

                    Control::Rnr { recv_seq, .. } if recv_seq & 7 == (sent_seq + 1) & 7 => {
                        // The meter took the request (or our RR) but is busy: poll it until
                        // it answers.
                        busy += 1;
                        self.poll_busy_meter(busy, during).await?;
                        pending = self.hdlc_state()?.receive_ready();
                        deadline = self.deadline();
                    }
                    Control::Rr { recv_seq, .. } | Control::Rnr { recv_seq, .. }
                        if recv_seq & 7 == sent_seq && !reassembler.in_progress() =>
                    {
                        // The meter says it has not got our request yet.
                        failures += 1;
                        last = "the meter did not take the request".into();
                        if failures >= attempts {
                            break;
                        }
                        pending = request.clone();
                        self.wire.stats.retransmissions += 1;
                        self.send_frame(&pending, during).await?;
                        deadline = self.deadline();
                    }
                    _ => {
                        if let Some(e) = Self::link_error(during, &f) {
                            return Err(e);
                        }
                    }
                },
                Received::Broken(e) => {
                    failures += 1;
                    last = e.to_string();
                    if failures >= attempts {
                        break;
                    }
                    // With windows the meter may still be sending the rest of this one: the
                    // window's last frame (out of sequence now) or the time-out asks again.
                    if !windowed {
                        self.wire.stats.retransmissions += 1;
                        self.send_frame(&pending, during).await?;
                        deadline = self.deadline();
                    }
                }
                Received::TimedOut => {
                    failures += 1;
                    last = format!(
                        "no answer within {} ms",
                        self.opts.response_timeout.as_millis()
                    );
                    if failures >= attempts {
                        break;
                    }
                    self.wire.stats.retransmissions += 1;
                    self.send_frame(&pending, during).await?;
                    deadline = self.deadline();
                }
            }
        }
        Err(Error::RetriesExhausted {
            during: during.to_string(),
            attempts,
            last,
        })
    }
}
