//! Links a session runs over: TCP (a terminal server or a simulator; the device address in the
//! sign-on selects the meter) and serial ports (7E1, with the baud switch of the optical port).
//! Anything `AsyncRead + AsyncWrite` is a link, so tests run sessions over in-memory pipes.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::Error;

/// A byte stream to a meter, and what the session may ask of it beyond bytes.
pub trait Link: AsyncRead + AsyncWrite + Unpin + Send {
    /// Reprograms the line speed (serial ports; a no-op on byte-stream links).
    fn set_baud(&mut self, _baud: u32) -> io::Result<()> {
        Ok(())
    }
    /// Whether the session should wait for the option select to leave the wire and switch speed.
    fn switches_baud(&self) -> bool {
        false
    }
    /// Whether raw 8-bit bytes pass (TCP does; a true 7E1 serial line does not).
    fn eight_bit(&self) -> bool {
        true
    }
}

impl Link for TcpStream {}
impl Link for tokio::io::DuplexStream {}

impl<L: Link + ?Sized> Link for Box<L> {
    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        (**self).set_baud(baud)
    }
    fn switches_baud(&self) -> bool {
        (**self).switches_baud()
    }
    fn eight_bit(&self) -> bool {
        (**self).eight_bit()
    }
}

/// A serial port in 7E1 with baud switching.
#[derive(Debug)]
pub struct SerialLink {
    port: tokio_serial::SerialStream,
    fixed: bool,
}

impl SerialLink {
    pub fn open(path: &str, baud: u32, fixed: bool) -> io::Result<SerialLink> {
        use tokio_serial::SerialPortBuilderExt;
        let port = tokio_serial::new(path, baud)
            .data_bits(tokio_serial::DataBits::Seven)
            .parity(tokio_serial::Parity::Even)
            .stop_bits(tokio_serial::StopBits::One)
            .flow_control(tokio_serial::FlowControl::None)
            .open_native_async()
            .map_err(io::Error::other)?;
        Ok(SerialLink { port, fixed })
    }
}

impl AsyncRead for SerialLink {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.port).poll_read(cx, buf)
    }
}

impl AsyncWrite for SerialLink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.port).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.port).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.port).poll_shutdown(cx)
    }
}

impl Link for SerialLink {
    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        use tokio_serial::SerialPort;
        if self.fixed {
            return Ok(());
        }
        self.port.set_baud_rate(baud).map_err(io::Error::other)
    }
    fn switches_baud(&self) -> bool {
        !self.fixed
    }
    fn eight_bit(&self) -> bool {
        false
    }
}

/// "Software 7E1" over a byte stream: a gateway that passes the serial line's 8N1 characters
/// delivers the meter's parity bit as bit 7. Outgoing bytes get even parity in bit 7; incoming
/// bytes have bit 7 masked off. 8-bit data (the RD stream) cannot pass.
#[derive(Debug)]
pub struct SoftParity<L> {
    inner: L,
}

impl<L> SoftParity<L> {
    pub fn new(inner: L) -> Self {
        SoftParity { inner }
    }
}

/// A 7-bit character with even parity in bit 7.
pub fn with_even_parity(b: u8) -> u8 {
    let b = b & 0x7F;
    if b.count_ones() % 2 == 1 { b | 0x80 } else { b }
}

impl<L: AsyncRead + Unpin> AsyncRead for SoftParity<L> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        for b in &mut buf.filled_mut()[before..] {
            *b &= 0x7F;
        }
        r
    }
}

impl<L: AsyncWrite + Unpin> AsyncWrite for SoftParity<L> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let enc: Vec<u8> = buf.iter().map(|&b| with_even_parity(b)).collect();
        std::pin::Pin::new(&mut self.inner).poll_write(cx, &enc)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<L: AsyncRead + AsyncWrite + Unpin + Send> Link for SoftParity<L> {
    fn eight_bit(&self) -> bool {
        false
    }
}

pub use metermaster_model::Connection;

/// Opens the link to a meter for a FLAG session: TCP (with software 7E1 when asked), or a serial
/// port at the connection's speed in 7E1.
pub async fn open(conn: &Connection, timeout: Duration) -> Result<Box<dyn Link>, Error> {
    match conn {
        Connection::Tcp {
            host,
            port,
            soft_parity,
        } => {
            let s = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), *port)))
                .await
                .map_err(|_| Error::Timeout {
                    during: format!("connecting to {conn}"),
                    timeout_ms: timeout.as_millis() as u64,
                })?
                .map_err(|e| {
                    Error::Io(io::Error::new(
                        e.kind(),
                        format!("connecting to {conn}: {e}"),
                    ))
                })?;
            s.set_nodelay(true)?;
            if *soft_parity {
                Ok(Box::new(SoftParity::new(s)))
            } else {
                Ok(Box::new(s))
            }
        }
        Connection::Serial { path, baud, fixed } => {
            let l = SerialLink::open(path, *baud, *fixed)
                .map_err(|e| Error::Io(io::Error::new(e.kind(), format!("opening {path}: {e}"))))?;
            Ok(Box::new(l))
        }
    }
}

/// The baud rate a `Z` character stands for (§1.3).
pub fn baud_of(z: u8) -> Option<u32> {
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

pub fn baud_char(baud: u32) -> Option<u8> {
    (b'0'..=b'6').find(|z| baud_of(*z) == Some(baud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        assert_eq!(
            Connection::parse("tcp://127.0.0.1:4001").unwrap(),
            Connection::Tcp {
                host: "127.0.0.1".into(),
                port: 4001,
                soft_parity: false
            }
        );
        assert_eq!(
            Connection::parse("tcp://gw.example:4001?parity=soft")
                .unwrap()
                .to_string(),
            "tcp://gw.example:4001?parity=soft"
        );
        assert!(Connection::parse("tcp://gw:1?parity=odd").is_err());
        // '/' 0x2F has five bits set: it gets the parity bit; '0' 0x30 has two: it does not.
        assert_eq!(with_even_parity(b'/'), 0xAF);
        assert_eq!(with_even_parity(b'0'), b'0');
        assert_eq!(
            Connection::parse("serial:///dev/ttyUSB0?baud=9600&fixed=1").unwrap(),
            Connection::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 9600,
                fixed: true
            }
        );
        for bad in [
            "tcp://host",
            "tcp://:1",
            "udp://x:1",
            "serial://",
            "serial:///dev/x?baud=fast",
            "serial:///dev/x?parity=odd",
        ] {
            assert!(Connection::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(baud_of(b'5'), Some(9600));
        assert_eq!(baud_char(300), Some(b'0'));
    }
}
