//! The meter's side of an HDLC link (IEC 62056-46, guide §1.2), without I/O: bytes in, frames
//! and whole APDUs out.
//!
//! * Addressing: the meter is logical device 1. It answers frames addressed to it in the
//!   one-byte form (logical only), the two-byte form with its physical address
//!   ([`physical_address`](super::physical_address): 16 + serial mod 100) and the four-byte
//!   form with that physical address or Gurux's serial-number one
//!   ([`serial_physical_address`](super::serial_physical_address): serial mod 10000 + 1000).
//!   Its answers carry the server address exactly as the client sent it. Frames for other
//!   addresses get no answer, as on a bus.
//! * SNRM in any state: UA with the negotiated parameters (the minimum of the proposal and the
//!   meter's capability, [`CAPABILITY`]), sequence numbers reset, any association of the link
//!   dropped. DISC: UA when connected, DM when not. I-frames or RR when not connected: DM.
//! * I-frames: in sequence they are taken (the LLC header `E6 E6 00` in the first segment), a
//!   non-final segment is acknowledged with RR when it carries the poll bit; the repeat of the
//!   frame just taken (the client missed the answer) makes the meter send its last frame
//!   again; any other sequence number gets FRMR. A long answer goes out in segments, one per
//!   RR (window 1, whatever window the client proposes: the UA says 1).
//! * Frames with a bad HCS or FCS are dropped without an answer: the client repeats them.

use std::collections::VecDeque;

use metermaster_dlms::hdlc::{
    AddressSize, Control, Direction, FrameSplitter, HdlcAddress, HdlcFrame, HdlcParameters,
    Reassembler, segment,
};

use super::SERVER_SAP;

/// What the meter offers: 512-byte information fields both ways, window 1.
pub const CAPABILITY: HdlcParameters = HdlcParameters {
    max_info_transmit: 512,
    max_info_receive: 512,
    window_transmit: 1,
    window_receive: 1,
};

/// The longest APDU reassembled from segments (longer ones are dropped with FRMR).
const MAX_REASSEMBLED: usize = 16 * 1024;

/// What the link wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutput {
    /// Bytes to write to the line.
    Send(Vec<u8>),
    /// A whole APDU from a client (its SAP).
    Apdu { client_sap: u16, apdu: Vec<u8> },
    /// The link was (re)connected or disconnected: associations on it end.
    Reset,
}

/// The meter's end of one HDLC link.
#[derive(Debug)]
pub struct HdlcServerLink {
    physical: u16,
    serial_physical: u16,
    negotiated: Option<HdlcParameters>,
    client: Option<HdlcAddress>,
    own: Option<HdlcAddress>,
    vs: u8,
    vr: u8,
    splitter: FrameSplitter,
    rx: Reassembler,
    pending: VecDeque<(Vec<u8>, bool)>,
    last_sent: Option<Vec<u8>>,
    bad_frames: u64,
}

impl HdlcServerLink {
    pub fn new(physical: u16, serial_physical: u16) -> Self {
        HdlcServerLink {
            physical,
            serial_physical,
            negotiated: None,
            client: None,
            own: None,
            vs: 0,
            vr: 0,
            splitter: FrameSplitter::new(),
            rx: Reassembler::new(Direction::ClientToServer, MAX_REASSEMBLED),
            pending: VecDeque::new(),
            last_sent: None,
            bad_frames: 0,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.negotiated.is_some()
    }

    /// The parameters in force, in the meter's view (transmit = what the meter sends).
    pub fn parameters(&self) -> Option<HdlcParameters> {
        self.negotiated
    }

    /// Frames dropped for a bad check sequence or a broken format.
    pub fn bad_frames(&self) -> u64 {
        self.bad_frames
    }

    /// True when the frame is addressed to this meter.
    pub fn addressed_to_me(&self, a: &HdlcAddress) -> bool {
        if a.upper() != SERVER_SAP {
            return false;
        }
        match (a.size(), a.lower()) {
            (AddressSize::One, None) => true,
            (AddressSize::Two, Some(l)) => l == self.physical,
            (AddressSize::Four, Some(l)) => l == self.physical || l == self.serial_physical,
            _ => false,
        }
    }

    /// Takes bytes from the line.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<LinkOutput> {
        self.splitter.push(bytes);
        let mut out = Vec::new();
        while let Some(r) = self.splitter.next_frame() {
            match r {
                Ok(f) => self.on_frame(f, &mut out),
                Err(_) => self.bad_frames += 1,
            }
        }
        out
    }

    /// Drops a half-received frame (after an inter-octet time-out).
    pub fn clear_partial(&mut self) {
        self.splitter.clear();
    }

    fn frame(&self, control: Control, info: Vec<u8>, segmented: bool) -> Option<Vec<u8>> {
        let (client, own) = (self.client?, self.own?);
        let mut f = HdlcFrame::new(client, own, control).with_information(info);
        f.segmented = segmented;
        f.encode().ok()
    }

    fn send_control(&mut self, control: Control, info: Vec<u8>, out: &mut Vec<LinkOutput>) {
        if let Some(b) = self.frame(control, info, false) {
            out.push(LinkOutput::Send(b));
        }
    }

    fn on_frame(&mut self, f: HdlcFrame, out: &mut Vec<LinkOutput>) {
        if !self.addressed_to_me(&f.destination) || f.source.size() != AddressSize::One {
            return;
        }
        let same_client = self.client.is_some_and(|c| c.same_station(&f.source));
        match f.control {
            Control::Snrm { .. } => {
                let proposal = HdlcParameters::decode(&f.information).unwrap_or_default();
                let answer = HdlcParameters::answer(proposal, CAPABILITY);
                self.negotiated = Some(answer);
                self.client = Some(f.source);
                self.own = Some(f.destination);
                self.vs = 0;
                self.vr = 0;
                self.rx.reset();
                self.pending.clear();
                self.last_sent = None;
                out.push(LinkOutput::Reset);
                self.send_control(Control::Ua { poll_final: true }, answer.encode(), out);
            }
            Control::Disc { .. } => {
                if self.is_connected() && same_client {
                    self.send_control(Control::Ua { poll_final: true }, Vec::new(), out);
                    self.negotiated = None;
                    self.pending.clear();
                    self.rx.reset();
                    out.push(LinkOutput::Reset);
                } else {
                    self.dm(&f, out);
                }
            }
            Control::I {
                send_seq,
                poll_final,
                ..
            } => {
                if !self.is_connected() || !same_client {
                    self.dm(&f, out);
                    return;
                }
                if send_seq == self.vr {
                    self.vr = (self.vr + 1) & 7;
                    self.pending.clear();
                    match self.rx.push_frame(&f) {
                        Ok(Some(apdu)) => out.push(LinkOutput::Apdu {
                            client_sap: f.source.upper(),
                            apdu,
                        }),
                        Ok(None) => {
                            if poll_final {
                                let rr = Control::Rr {
                                    recv_seq: self.vr,
                                    poll_final: true,
                                };
                                self.send_control(rr, Vec::new(), out);
                            }
                        }
                        Err(_) => {
                            self.rx.reset();
                            self.frmr(&f, out);
                        }
                    }
                } else if send_seq == (self.vr + 7) & 7 {
                    // The client repeats the frame just taken: it missed the answer.
                    if let Some(b) = self.last_sent.clone() {
                        out.push(LinkOutput::Send(b));
                    }
                } else {
                    self.frmr(&f, out);
                }
            }
            Control::Rr { recv_seq, .. } => {
                if !self.is_connected() || !same_client {
                    self.dm(&f, out);
                    return;
                }
                if !self.pending.is_empty() && recv_seq == self.vs {
                    self.send_next(out);
                } else if recv_seq == (self.vs + 7) & 7 && self.last_sent.is_some() {
                    if let Some(b) = self.last_sent.clone() {
                        out.push(LinkOutput::Send(b));
                    }
                } else {
                    let rr = Control::Rr {
                        recv_seq: self.vr,
                        poll_final: true,
                    };
                    self.send_control(rr, Vec::new(), out);
                }
            }
            // RNR: the client is busy; it polls with RR when ready. UA, DM, FRMR, UI from a
            // client mean nothing to a meter.
            _ => {}
        }
    }

    fn dm(&mut self, f: &HdlcFrame, out: &mut Vec<LinkOutput>) {
        let mut d = HdlcFrame::new(f.source, f.destination, Control::Dm { poll_final: true });
        d.segmented = false;
        if let Ok(b) = d.encode() {
            out.push(LinkOutput::Send(b));
        }
    }

    fn frmr(&mut self, f: &HdlcFrame, out: &mut Vec<LinkOutput>) {
        // Rejected control field, the meter's V(R) and V(S), and "invalid N(S)/N(R)".
        let info = vec![f.control.to_byte(), (self.vr << 5) | (self.vs << 1), 0x08];
        self.send_control(Control::Frmr { poll_final: true }, info, out);
    }

    /// Queues an APDU for the client (LLC header, segments) and sends the first frame.
    pub fn send_apdu(&mut self, apdu: &[u8]) -> Vec<LinkOutput> {
        let mut out = Vec::new();
        let Some(p) = self.negotiated else {
            return out;
        };
        let max = usize::from(p.max_info_transmit).max(4);
        let Ok(segments) = segment(apdu, Direction::ServerToClient, max) else {
            return out;
        };
        self.pending = segments
            .into_iter()
            .map(|s| (s.information, s.more))
            .collect();
        self.send_next(&mut out);
        out
    }

    fn send_next(&mut self, out: &mut Vec<LinkOutput>) {
        let Some((info, more)) = self.pending.pop_front() else {
            return;
        };
        let control = Control::I {
            send_seq: self.vs,
            recv_seq: self.vr,
            poll_final: true,
        };
        if let Some(b) = self.frame(control, info, more) {
            self.vs = (self.vs + 1) & 7;
            self.last_sent = Some(b.clone());
            out.push(LinkOutput::Send(b));
        }
    }
}
