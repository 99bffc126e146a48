//! IEC 62056-21 mode E: opening a meter's optical port in the 300 Bd 7E1 sign-on dialogue and
//! switching it to binary HDLC (guide §1.3).
//!
//! 1. The request `/?address!` CR LF at 300 Bd, 7 data bits, even parity.
//! 2. The meter's identification `/XXXZ\2…` CR LF: manufacturer `XXX`, baud character `Z` (`0`
//!    = 300 … `6` = 19200) and the enhanced identification `\2` (the meter can switch to HDLC).
//!    An echo of our own request (optical heads hear themselves) is skipped.
//! 3. After the reaction time (200 ms), the option select `ACK 2 Z 2` CR LF: protocol control `2` (HDLC procedure), the chosen
//!    speed, mode control `2` (binary). `0` in either place would ask for an ASCII readout.
//! 4. Wait until the option select has left the wire and the meter has switched, drop whatever
//!    arrived meanwhile (some meters, or the head's echo, repeat the option select; others send
//!    nothing), reconfigure the port to the chosen speed with 8 data bits, no parity, 1 stop
//!    bit. HDLC (SNRM) follows.
//!
//! Choices where the guide leaves room (written down in docs/reading.md): a meter whose
//! identification lacks `\2` is refused before anything is switched (it would answer the option
//! select with an ASCII readout); the speed is the one the meter offers, lowered to a cap when
//! one is given; the pause after the option select is [`ModeEOptions::settle`] (300 ms by
//! default, between the 250 ms of the `iec62056_21` package and Gurux's 1 s).

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{Error, Result};

const ACK: u8 = 0x06;

/// A byte stream that mode E can run on: it may need its line settings changed.
pub trait OpticalPort: AsyncRead + AsyncWrite + Unpin + Send {
    /// Reconfigures the line for HDLC: `baud`, 8 data bits, no parity, 1 stop bit. Byte streams
    /// without line settings (TCP to a simulator or a gateway, in-memory pipes) do nothing.
    fn switch_to_binary(&mut self, _baud: u32) -> io::Result<()> {
        Ok(())
    }
    /// Returns the line to the sign-on settings: `baud`, 7 data bits, even parity.
    fn switch_to_sign_on(&mut self, _baud: u32) -> io::Result<()> {
        Ok(())
    }
    /// The line speed when bytes take time on a wire (serial ports), else `None`.
    fn line_rate(&self) -> Option<u32> {
        None
    }
}

impl OpticalPort for tokio::net::TcpStream {}
impl OpticalPort for tokio::io::DuplexStream {}

impl OpticalPort for tokio_serial::SerialStream {
    fn switch_to_binary(&mut self, baud: u32) -> io::Result<()> {
        use tokio_serial::SerialPort;
        self.set_data_bits(tokio_serial::DataBits::Eight)?;
        self.set_parity(tokio_serial::Parity::None)?;
        self.set_stop_bits(tokio_serial::StopBits::One)?;
        self.set_baud_rate(baud)?;
        Ok(())
    }
    fn switch_to_sign_on(&mut self, baud: u32) -> io::Result<()> {
        use tokio_serial::SerialPort;
        self.set_data_bits(tokio_serial::DataBits::Seven)?;
        self.set_parity(tokio_serial::Parity::Even)?;
        self.set_stop_bits(tokio_serial::StopBits::One)?;
        self.set_baud_rate(baud)?;
        Ok(())
    }
    fn line_rate(&self) -> Option<u32> {
        use tokio_serial::SerialPort;
        self.baud_rate().ok()
    }
}

impl<P: OpticalPort + ?Sized> OpticalPort for Box<P> {
    fn switch_to_binary(&mut self, baud: u32) -> io::Result<()> {
        (**self).switch_to_binary(baud)
    }
    fn switch_to_sign_on(&mut self, baud: u32) -> io::Result<()> {
        (**self).switch_to_sign_on(baud)
    }
    fn line_rate(&self) -> Option<u32> {
        (**self).line_rate()
    }
}

/// Opens a serial port for the mode-E sign-on: `baud` (300 for IEC 62056-21), 7 data bits, even
/// parity, 1 stop bit.
pub fn open_optical(path: &str, baud: u32) -> io::Result<tokio_serial::SerialStream> {
    use tokio_serial::SerialPortBuilderExt;
    tokio_serial::new(path, baud)
        .data_bits(tokio_serial::DataBits::Seven)
        .parity(tokio_serial::Parity::Even)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(io::Error::other)
}

/// How to open the optical port.
#[derive(Debug, Clone)]
pub struct ModeEOptions {
    /// The device address between `?` and `!` (empty: whichever meter is at the head).
    pub address: String,
    /// The highest speed to switch to; `None` takes what the meter offers.
    pub max_baud: Option<u32>,
    /// How long to wait for the identification.
    pub timeout: Duration,
    /// The pause after the option select has left the wire, before the port is switched.
    pub settle: Duration,
    /// The pause between the identification and the option select (IEC 62056-21's reaction
    /// time is at least 200 ms).
    pub reaction: Duration,
}

impl Default for ModeEOptions {
    fn default() -> Self {
        ModeEOptions {
            address: String::new(),
            max_baud: None,
            timeout: Duration::from_secs(3),
            settle: Duration::from_millis(300),
            reaction: Duration::from_millis(200),
        }
    }
}

/// What the sign-on found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeEOpening {
    /// The identification line without `/` and CR LF, e.g. `GEC5\2A1140`.
    pub identification: String,
    /// The three-letter manufacturer code.
    pub manufacturer: String,
    /// The speed the meter offered.
    pub offered_baud: u32,
    /// The speed both ends switched to.
    pub baud: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// The speed a mode C/E baud character stands for (guide §1.3 step 4).
pub fn baud_of_char(z: u8) -> Option<u32> {
    Some(match z {
        b'0' => 300,
        b'1' => 600,
        b'2' => 1200,
        b'3' => 2400,
        b'4' => 4800,
        b'5' => 9600,
        b'6' => 19200,
        _ => return None,
    })
}

/// The baud character of a speed.
pub fn char_of_baud(baud: u32) -> Option<u8> {
    (b'0'..=b'6').find(|z| baud_of_char(*z) == Some(baud))
}

/// The identification line's parts: manufacturer, baud character, and whether the enhanced
/// identification `\2` (HDLC capable) is announced.
pub fn parse_identification(line: &str) -> std::result::Result<(String, u8, bool), String> {
    let body = line
        .strip_prefix('/')
        .ok_or_else(|| format!("{line:?} does not start with '/'"))?;
    let b = body.as_bytes();
    if b.len() < 4 || !b[..3].iter().all(u8::is_ascii_alphabetic) {
        return Err(format!(
            "{line:?} is not /XXXZ... (three letters of manufacturer and a baud character)"
        ));
    }
    let z = b[3];
    // Escape sequences `\W` may follow the baud character; `\2` is the one that matters here.
    let rest = &b[4..];
    let hdlc = rest.windows(2).any(|w| w == b"\\2");
    Ok((String::from_utf8_lossy(&b[..3]).into_owned(), z, hdlc))
}

/// Runs the mode-E opening on `port`. On success the port is in binary mode at
/// [`ModeEOpening::baud`] and HDLC may start.
pub async fn enter_mode_e<P: OpticalPort + ?Sized>(
    port: &mut P,
    opts: &ModeEOptions,
) -> Result<ModeEOpening> {
    let during = "the IEC 62056-21 mode E opening";
    if opts.address.len() > 32
        || !opts
            .address
            .bytes()
            .all(|c| c.is_ascii_graphic() && c != b'!' && c != b'/' && c != b'?')
    {
        return Err(Error::protocol(
            during,
            format!(
                "device address {:?}: at most 32 printable characters other than / ? !",
                opts.address
            ),
        ));
    }
    let request = format!("/?{}!\r\n", opts.address).into_bytes();
    let mut sent = request.len() as u64;
    let mut received = 0u64;
    write_all(port, &request, during).await?;

    // The identification: the first line that starts with '/' and is not our own echo.
    let deadline = Instant::now() + opts.timeout;
    let mut buf: Vec<u8> = Vec::new();
    let mut noise: Vec<String> = Vec::new();
    let ident = loop {
        if let Some(lf) = buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = buf.drain(..=lf).map(|b| b & 0x7F).collect();
            if raw == request {
                continue;
            }
            let text = String::from_utf8_lossy(&raw).trim_end().to_string();
            match text.find('/') {
                // Bytes of line noise before the '/' are dropped.
                Some(at) if text.len() > at + 1 && !text[at..].starts_with("/?") => {
                    break text[at..].to_string();
                }
                _ => {
                    if !text.is_empty() && noise.len() < 3 {
                        noise.push(text);
                    }
                    continue;
                }
            }
        }
        if buf.len() > 256 {
            return Err(Error::protocol(
                during,
                format!(
                    "no line end within 256 bytes from the meter: {:?}",
                    String::from_utf8_lossy(&buf[..64])
                ),
            ));
        }
        let mut chunk = [0u8; 128];
        let now = Instant::now();
        if now >= deadline {
            return Err(if buf.is_empty() && noise.is_empty() {
                Error::Timeout {
                    during: format!(
                        "{during} (no identification after /?{}!; a meter still in HDLC from a session that dropped signs on again after its inactivity time-out)",
                        opts.address
                    ),
                    timeout_ms: opts.timeout.as_millis() as u64,
                }
            } else {
                Error::protocol(
                    during,
                    format!(
                        "no identification line; the meter sent {noise:?} {:?}",
                        String::from_utf8_lossy(&buf)
                    ),
                )
            });
        }
        match tokio::time::timeout(deadline - now, port.read(&mut chunk)).await {
            Err(_) => continue,
            Ok(Ok(0)) => {
                return Err(Error::Closed {
                    during: during.into(),
                });
            }
            Ok(Ok(n)) => {
                received += n as u64;
                buf.extend_from_slice(&chunk[..n]);
            }
            Ok(Err(e)) => return Err(Error::io(during, e)),
        }
    };
    let (manufacturer, z, hdlc) =
        parse_identification(&ident).map_err(|e| Error::protocol(during, e))?;
    let offered = baud_of_char(z).ok_or_else(|| {
        Error::protocol(
            during,
            format!(
                "identification {ident:?}: baud character {:?} is not one of mode C/E (0-6)",
                z as char
            ),
        )
    })?;
    if !hdlc {
        return Err(Error::protocol(
            during,
            format!(
                "identification {ident:?} does not announce binary mode (\\2): the meter offers no HDLC on this port (read it with --protocol flag, or without --mode-e if it speaks HDLC directly)"
            ),
        ));
    }
    let baud = match opts.max_baud {
        Some(cap) if cap < offered => {
            char_of_baud(cap).ok_or_else(|| {
                Error::protocol(
                    during,
                    format!("speed cap {cap} Bd is not one of 300 600 1200 2400 4800 9600 19200"),
                )
            })?;
            cap
        }
        _ => offered,
    };
    let zc = char_of_baud(baud).unwrap_or(z);
    tokio::time::sleep(opts.reaction).await;
    let select = [ACK, b'2', zc, b'2', b'\r', b'\n'];
    sent += select.len() as u64;
    write_all(port, &select, during).await?;
    // Ten bits a character in 7E1; then the meter's own switch-over time.
    let on_wire = port
        .line_rate()
        .map(|r| Duration::from_millis(select.len() as u64 * 10 * 1000 / u64::from(r.max(1))))
        .unwrap_or_default();
    let quiet_until = Instant::now() + on_wire + opts.settle;
    // Whatever comes before the switch (an echo, a repeated option select) is dropped.
    loop {
        let now = Instant::now();
        if now >= quiet_until {
            break;
        }
        let mut chunk = [0u8; 64];
        match tokio::time::timeout(quiet_until - now, port.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(0)) => {
                return Err(Error::Closed {
                    during: format!("{during} (after the option select)"),
                });
            }
            Ok(Ok(n)) => received += n as u64,
            Ok(Err(e)) => return Err(Error::io(during, e)),
        }
    }
    port.switch_to_binary(baud)
        .map_err(|e| Error::io(format!("{during}: switching the port to {baud} Bd 8N1"), e))?;
    Ok(ModeEOpening {
        identification: ident.trim_start_matches('/').to_string(),
        manufacturer,
        offered_baud: offered,
        baud,
        bytes_sent: sent,
        bytes_received: received,
    })
}

async fn write_all<P: OpticalPort + ?Sized>(
    port: &mut P,
    bytes: &[u8],
    during: &str,
) -> Result<()> {
    port.write_all(bytes)
        .await
        .map_err(|e| Error::io(during, e))?;
    port.flush().await.map_err(|e| Error::io(during, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn quick() -> ModeEOptions {
        ModeEOptions {
            timeout: Duration::from_millis(300),
            settle: Duration::from_millis(20),
            ..ModeEOptions::default()
        }
    }

    /// A scripted meter: reads the request, optionally echoes it, answers `ident`, reads the
    /// option select and returns it.
    async fn meter(mut side: tokio::io::DuplexStream, echo: bool, ident: &'static [u8]) -> Vec<u8> {
        let mut req = Vec::new();
        let mut b = [0u8; 1];
        while !req.ends_with(b"\r\n") {
            side.read_exact(&mut b).await.unwrap();
            req.push(b[0]);
        }
        if echo {
            side.write_all(&req).await.unwrap();
        }
        side.write_all(ident).await.unwrap();
        let mut sel = vec![0u8; 6];
        if side.read_exact(&mut sel).await.is_err() {
            return req;
        }
        // Some meters repeat the option select; the client must drop it.
        side.write_all(&sel).await.unwrap();
        let mut after = vec![0u8; 3];
        side.read_exact(&mut after).await.unwrap();
        [req, sel, after].concat()
    }

    #[tokio::test(start_paused = true)]
    async fn opening_with_echo_and_repeated_select() {
        let (mut client, m) = duplex(1024);
        let task = tokio::spawn(meter(m, true, b"/GEC5\\2A1140\r\n"));
        let opening = enter_mode_e(&mut client, &quick()).await.unwrap();
        assert_eq!(opening.manufacturer, "GEC");
        assert_eq!(opening.identification, "GEC5\\2A1140");
        assert_eq!((opening.offered_baud, opening.baud), (9600, 9600));
        // The first bytes after the switch reach the meter with nothing left over.
        client.write_all(&[0x7E, 0xA0, 0x07]).await.unwrap();
        let seen = task.await.unwrap();
        assert_eq!(
            seen,
            [
                &b"/?!\r\n"[..],
                &[0x06, b'2', b'5', b'2', b'\r', b'\n'],
                &[0x7E, 0xA0, 0x07]
            ]
            .concat()
        );
        assert_eq!(opening.bytes_sent, 11);
        assert_eq!(opening.bytes_received, 5 + 14 + 6);
    }

    #[tokio::test(start_paused = true)]
    async fn address_and_speed_cap() {
        let (mut client, m) = duplex(1024);
        let task = tokio::spawn(meter(m, false, b"/ISK6\\2AM550\r\n"));
        let opts = ModeEOptions {
            address: "10000001".into(),
            max_baud: Some(4800),
            ..quick()
        };
        let opening = enter_mode_e(&mut client, &opts).await.unwrap();
        assert_eq!((opening.offered_baud, opening.baud), (19200, 4800));
        client.write_all(b"xyz").await.unwrap();
        let seen = task.await.unwrap();
        assert_eq!(seen, b"/?10000001!\r\n\x06242\r\nxyz");
    }

    #[tokio::test(start_paused = true)]
    async fn no_binary_mode_is_refused_before_any_switch() {
        let (mut client, m) = duplex(1024);
        let task = tokio::spawn(meter(m, false, b"/GEC5A1140\r\n"));
        let err = enter_mode_e(&mut client, &quick()).await.unwrap_err();
        assert!(
            err.to_string().contains("does not announce binary mode"),
            "{err}"
        );
        drop(client);
        // Nothing but the request was sent: no option select that would start a readout.
        assert_eq!(task.await.unwrap(), b"/?!\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn silence_garbage_and_bad_addresses() {
        let (mut client, _m) = duplex(1024);
        let err = enter_mode_e(&mut client, &quick()).await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");

        let (mut client, mut m) = duplex(1024);
        m.write_all(b"\x15garbage\r\n").await.unwrap();
        let err = enter_mode_e(&mut client, &quick()).await.unwrap_err();
        assert!(err.to_string().contains("no identification line"), "{err}");

        let (mut client, mut m) = duplex(1024);
        m.write_all(b"/GECx\\2\r\n").await.unwrap();
        let err = enter_mode_e(&mut client, &quick()).await.unwrap_err();
        assert!(err.to_string().contains("baud character"), "{err}");

        let (mut client, _m) = duplex(1024);
        let opts = ModeEOptions {
            address: "a!b".into(),
            ..quick()
        };
        let err = enter_mode_e(&mut client, &opts).await.unwrap_err();
        assert!(err.to_string().contains("device address"), "{err}");

        let (mut client, mut m) = duplex(1024);
        m.write_all(&[0xAA; 300]).await.unwrap();
        let err = enter_mode_e(&mut client, &quick()).await.unwrap_err();
        assert!(err.to_string().contains("no line end"), "{err}");
    }

    #[test]
    fn identification_parts() {
        assert_eq!(
            parse_identification("/APA5\\2NORAX30").unwrap(),
            ("APA".into(), b'5', true)
        );
        assert_eq!(
            parse_identification("/GEC5A1140").unwrap(),
            ("GEC".into(), b'5', false)
        );
        assert!(parse_identification("GEC5").is_err());
        assert!(parse_identification("/G1").is_err());
        assert_eq!(baud_of_char(b'6'), Some(19200));
        assert_eq!(char_of_baud(2400), Some(b'3'));
        assert_eq!(char_of_baud(115200), None);
    }
}
