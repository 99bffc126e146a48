//! The optical port of a simulated DLMS meter: the IEC 62056-21 sign-on at 300 Bd 7E1, then
//! either binary HDLC (mode E, option select `ACK 2 Z 2`) or the ASCII data readout of the
//! meter's FLAG face (`ACK 0 Z 0`). After the HDLC link is disconnected (DISC) the port goes back
//! to the sign-on, as a meter's does.
//!
//! The identification is the FLAG face's with the enhanced identification `\2` after the baud
//! character: `/GEC5\2120510070213@000`.

use metermaster_dlms::client::OpticalPort;
use metermaster_flag::frame::{Decoded, Message, Side, decode};
use metermaster_flag::readout::format_data_message;
use metermaster_flag::server::MeterFace;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::serve::{HdlcEnd, serve_hdlc};
use super::{DlmsMeter, DlmsServeOptions, lock};

/// Speeds a baud character stands for (IEC 62056-21 modes C and E).
fn rate_of(z: u8) -> Option<u32> {
    metermaster_dlms::client::optical::baud_of_char(z)
}

/// How a sign-on dialogue ended.
enum SignOn {
    /// Switch to binary HDLC at this speed.
    Binary(u32),
    /// The connection closed or stayed silent.
    Closed,
}

/// Serves the optical port until the connection closes (TCP) or forever (a serial port,
/// `persistent`: silence only sends the port back to the sign-on).
pub async fn serve_optical<P: OpticalPort>(
    mut port: P,
    meter: DlmsMeter,
    opts: DlmsServeOptions,
    persistent: bool,
) -> std::io::Result<()> {
    loop {
        match sign_on(&mut port, &meter, &opts, persistent).await? {
            SignOn::Closed => return Ok(()),
            SignOn::Binary(rate) => {
                port.switch_to_binary(rate)?;
                let end = serve_hdlc(&mut port, meter.clone(), opts.clone(), true).await?;
                if end == HdlcEnd::Closed || (end == HdlcEnd::Silent && !persistent) {
                    return Ok(());
                }
                port.switch_to_sign_on(300)?;
            }
        }
    }
}

async fn sign_on<P: OpticalPort>(
    port: &mut P,
    meter: &DlmsMeter,
    opts: &DlmsServeOptions,
    persistent: bool,
) -> std::io::Result<SignOn> {
    let (manufacturer, z, ident, serial) = {
        let m = lock(&meter.meter);
        let (manufacturer, z, ident) = m.identification();
        (manufacturer, z, ident, m.cfg.serial.clone())
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut signed_on = false;
    let mut chunk = [0u8; 256];
    loop {
        match decode(&buf, Side::Meter) {
            Decoded::Incomplete => {}
            Decoded::Invalid(_, n) => {
                buf.drain(..n.min(buf.len()).max(1));
                continue;
            }
            Decoded::Message(msg, n) => {
                buf.drain(..n);
                match msg {
                    Message::SignOn { address } => {
                        signed_on = address.is_empty() || address == serial;
                        if signed_on {
                            let line = format!("/{manufacturer}{}\\2{ident}\r\n", z as char);
                            port.write_all(line.as_bytes()).await?;
                            port.flush().await?;
                        }
                    }
                    Message::OptionSelect {
                        protocol,
                        baud,
                        mode,
                    } if signed_on => {
                        signed_on = false;
                        let offered = rate_of(z).unwrap_or(300);
                        let rate = rate_of(baud).filter(|r| *r <= offered);
                        match (protocol, mode, rate) {
                            (b'2', b'2', Some(rate)) => return Ok(SignOn::Binary(rate)),
                            (_, b'0', _) => {
                                // The data readout, at the sign-on speed (the option select's
                                // speed change is not simulated for the readout).
                                let lines = lock(&meter.meter).readout();
                                port.write_all(&format_data_message(&lines)).await?;
                                port.flush().await?;
                            }
                            // Anything else (programming mode, a speed not offered) ends the
                            // dialogue: the meter waits for a new sign-on.
                            _ => {}
                        }
                    }
                    _ => signed_on = false,
                }
                continue;
            }
        }
        let n = match tokio::time::timeout(opts.idle_timeout, port.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(SignOn::Closed),
            Err(_) if !persistent => return Ok(SignOn::Closed),
            Err(_) => {
                buf.clear();
                signed_on = false;
                continue;
            }
            Ok(Ok(n)) => n,
        };
        // 7E1 on an 8-bit stream: the parity bit is not data.
        buf.extend(chunk[..n].iter().map(|b| b & 0x7F));
        if buf.len() > 1024 {
            buf.clear();
        }
    }
}
