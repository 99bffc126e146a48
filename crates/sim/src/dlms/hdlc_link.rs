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
//!   frame just taken (the client missed the answer) makes the meter send its unacknowledged
//!   frames again (or its RR, when the frame was a non-final segment); any other sequence number gets FRMR. A long answer goes out in segments, in
//!   windows of up to the negotiated size (the client's proposal, at most 7): the frames of a
//!   window go out back to back, the poll/final bit only on the last; the client's RR
//!   acknowledges them, and frames it did not acknowledge (its N(R) points into the window)
//!   are sent again from there. The client's windows are taken the same way: RR after the
//!   frame with the poll bit; a frame missing from a window makes the frames after it out of
//!   sequence, and the window's last frame is answered with RR(V(R)) asking for the missing
//!   one again (FRMR when the negotiated receive window is 1).
//! * Frames with a bad HCS or FCS are dropped without an answer: the client repeats them.

use std::collections::VecDeque;

use metermaster_dlms::hdlc::{
    AddressSize, Control, Direction, FrameSplitter, HdlcAddress, HdlcFrame, HdlcParameters,
    Reassembler, segment,
};

use super::SERVER_SAP;

/// What the meter offers: 512-byte information fields both ways, windows of up to 7 frames
/// both ways.
pub const CAPABILITY: HdlcParameters = HdlcParameters {
    max_info_transmit: 512,
    max_info_receive: 512,
    window_transmit: 7,
    window_receive: 7,
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
    /// Frames of the current window not yet acknowledged: (N(S), bytes).
    unacked: VecDeque<(u8, Vec<u8>)>,
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
            unacked: VecDeque::new(),
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
                self.unacked.clear();
                out.push(LinkOutput::Reset);
                self.send_control(Control::Ua { poll_final: true }, answer.encode(), out);
            }
            Control::Disc { .. } => {
                if self.is_connected() && same_client {
                    self.send_control(Control::Ua { poll_final: true }, Vec::new(), out);
                    self.negotiated = None;
                    self.pending.clear();
                    self.unacked.clear();
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
                    self.unacked.clear();
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
                    // The client repeats the frame just taken: it missed the answer. The answer
                    // to a non-final segment (or window) was an RR: that again.
                    if !self.unacked.is_empty() {
                        self.resend_unacked(out);
                    } else if poll_final {
                        let rr = Control::Rr {
                            recv_seq: self.vr,
                            poll_final: true,
                        };
                        self.send_control(rr, Vec::new(), out);
                    }
                } else if self.negotiated.is_some_and(|p| p.window_receive > 1) {
                    // A frame of the client's window went missing: at the window's end, ask
                    // for everything from the missing one.
                    if poll_final {
                        let rr = Control::Rr {
                            recv_seq: self.vr,
                            poll_final: true,
                        };
                        self.send_control(rr, Vec::new(), out);
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
                if self.acknowledge(recv_seq) {
                    if !self.unacked.is_empty() {
                        // The client missed frames of the window: from its N(R) on, again.
                        self.resend_unacked(out);
                    } else if !self.pending.is_empty() {
                        self.send_next(out);
                    } else {
                        let rr = Control::Rr {
                            recv_seq: self.vr,
                            poll_final: true,
                        };
                        self.send_control(rr, Vec::new(), out);
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

    /// Takes the client's N(R): the frames before it are acknowledged. False when N(R) is not
    /// within the frames sent and not yet acknowledged (nor just past them).
    fn acknowledge(&mut self, recv_seq: u8) -> bool {
        let recv_seq = recv_seq & 7;
        let Some(k) = (0..=self.unacked.len()).find(|k| {
            let first = self.unacked.front().map_or(self.vs, |f| f.0);
            (first + *k as u8) & 7 == recv_seq
        }) else {
            return false;
        };
        self.unacked.drain(..k);
        true
    }

    fn resend_unacked(&mut self, out: &mut Vec<LinkOutput>) {
        for (_, b) in &self.unacked {
            out.push(LinkOutput::Send(b.clone()));
        }
    }

    /// Sends the next window of the pending segments: up to the negotiated window, the
    /// poll/final bit on its last frame.
    fn send_next(&mut self, out: &mut Vec<LinkOutput>) {
        let window = self
            .negotiated
            .map_or(1, |p| usize::from(p.window_transmit).clamp(1, 7));
        self.unacked.clear();
        for k in 0..window {
            let Some((info, more)) = self.pending.pop_front() else {
                return;
            };
            let control = Control::I {
                send_seq: self.vs,
                recv_seq: self.vr,
                poll_final: k + 1 == window || self.pending.is_empty(),
            };
            if let Some(b) = self.frame(control, info, more) {
                self.unacked.push_back((self.vs, b.clone()));
                self.vs = (self.vs + 1) & 7;
                out.push(LinkOutput::Send(b));
            }
        }
    }
}
