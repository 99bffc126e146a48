//! Serving the DLMS face over TCP: one port per meter, the TCP wrapper (client wPort = client
//! SAP, server wPort 1) or HDLC frames straight over TCP.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use metermaster_dlms::wrapper::{WrapperFrame, WrapperSplitter};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::hdlc_link::{HdlcServerLink, LinkOutput};
use super::{Association, DlmsMeter, DlmsSecrets, PUSH_CLIENT, SERVER_SAP, lock};

/// How APDUs travel on the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// IEC 62056-47 wrapper (the default).
    Wrapper,
    /// HDLC frames over TCP, without a wrapper.
    Hdlc,
}

/// How the DLMS face is served.
#[derive(Debug, Clone)]
pub struct DlmsServeOptions {
    pub transport: Transport,
    pub secrets: DlmsSecrets,
    /// A connection silent for this long is closed (associations end with it).
    pub idle_timeout: Duration,
    /// A half-received HDLC frame is dropped after this much silence.
    pub inter_frame_timeout: Duration,
    /// Each connection starts as an optical port: the IEC 62056-21 sign-on, then HDLC after
    /// the mode-E option select (see [`super::optical`]). Needs [`Transport::Hdlc`].
    pub mode_e: bool,
}

impl Default for DlmsServeOptions {
    fn default() -> Self {
        DlmsServeOptions {
            transport: Transport::Wrapper,
            secrets: DlmsSecrets::default(),
            idle_timeout: Duration::from_secs(120),
            inter_frame_timeout: Duration::from_secs(2),
            mode_e: false,
        }
    }
}

/// Accepts connections on every (listener, meter) pair until `shutdown` completes.
pub async fn serve_dlms(
    listeners: Vec<(TcpListener, DlmsMeter)>,
    opts: DlmsServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut tasks = Vec::new();
    for (listener, meter) in listeners {
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of descriptors or similar: wait and go on accepting.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let meter = meter.clone();
                let opts = opts.clone();
                tokio::spawn(async move {
                    if opts.mode_e {
                        let _ = super::optical::serve_optical(stream, meter, opts, false).await;
                    } else {
                        let _ = serve_dlms_connection(stream, meter, opts).await;
                    }
                });
            }
        }));
    }
    shutdown.await;
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// Serves one connection until the client closes it or it stays silent too long.
pub async fn serve_dlms_connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    meter: DlmsMeter,
    opts: DlmsServeOptions,
) -> std::io::Result<()> {
    match opts.transport {
        Transport::Wrapper => serve_wrapper(stream, meter, opts).await,
        Transport::Hdlc => serve_hdlc(stream, meter, opts, false).await.map(|_| ()),
    }
}

/// Serves HDLC on a line that stays open (a serial port): session after session, until the
/// line itself ends (end of file or an error, such as a pulled USB adapter).
pub async fn serve_hdlc_line<S: AsyncRead + AsyncWrite + Unpin>(
    mut line: S,
    meter: DlmsMeter,
    opts: DlmsServeOptions,
) -> std::io::Result<()> {
    loop {
        if serve_hdlc(&mut line, meter.clone(), opts.clone(), false).await? == HdlcEnd::Closed {
            return Ok(());
        }
    }
}

/// Why an HDLC session on a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HdlcEnd {
    /// The client closed the connection (or it failed).
    Closed,
    /// Nothing arrived for the idle time-out.
    Silent,
    /// The client disconnected the link with DISC (only when asked to end there).
    Disconnected,
}

async fn serve_wrapper<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    meter: DlmsMeter,
    opts: DlmsServeOptions,
) -> std::io::Result<()> {
    let mut splitter = WrapperSplitter::new(usize::from(u16::MAX));
    let mut associations: HashMap<u16, Association> = HashMap::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = match tokio::time::timeout(opts.idle_timeout, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(()),
            Ok(Ok(n)) => n,
        };
        splitter.push(&chunk[..n]);
        while let Some(frame) = splitter.next_frame() {
            // A header that is not version 1 cannot be resynchronised: close.
            let Ok(frame) = frame else {
                return Ok(());
            };
            if frame.destination != SERVER_SAP {
                // Not this logical device: no answer.
                continue;
            }
            let assoc = associations
                .entry(frame.source)
                .or_insert_with(|| Association::new(frame.source));
            let reply = assoc.handle(&meter, &opts.secrets, &frame.apdu);
            dispatch_pushes(&meter);
            if let Some(reply) = reply {
                let bytes = WrapperFrame::new(SERVER_SAP, frame.source, reply)
                    .encode()
                    .unwrap_or_default();
                stream.write_all(&bytes).await?;
            }
        }
        stream.flush().await?;
    }
}

/// Serves HDLC until the connection closes or stays silent, or, with `end_on_disc`, until the
/// client disconnects the link (an optical port then returns to the sign-on).
pub(crate) async fn serve_hdlc<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    meter: DlmsMeter,
    opts: DlmsServeOptions,
    end_on_disc: bool,
) -> std::io::Result<HdlcEnd> {
    let (physical, serial_physical) = {
        let f = lock(&meter.face);
        (f.physical_address, f.serial_physical_address)
    };
    let mut link = HdlcServerLink::new(physical, serial_physical);
    let mut association: Option<Association> = None;
    let mut chunk = vec![0u8; 4096];
    let mut partial = false;
    let mut was_connected = false;
    loop {
        let wait = if partial {
            opts.inter_frame_timeout
        } else {
            opts.idle_timeout
        };
        let n = match tokio::time::timeout(wait, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(HdlcEnd::Closed),
            Err(_) if partial => {
                link.clear_partial();
                partial = false;
                continue;
            }
            Err(_) => return Ok(HdlcEnd::Silent),
            Ok(Ok(n)) => n,
        };
        let mut queue: Vec<LinkOutput> = link.receive(&chunk[..n]);
        while !queue.is_empty() {
            let mut next = Vec::new();
            for o in queue {
                match o {
                    LinkOutput::Send(b) => stream.write_all(&b).await?,
                    LinkOutput::Reset => association = None,
                    LinkOutput::Apdu { client_sap, apdu } => {
                        let assoc = match &mut association {
                            Some(a) if a.client_sap() == client_sap => a,
                            _ => association.insert(Association::new(client_sap)),
                        };
                        let reply = assoc.handle(&meter, &opts.secrets, &apdu);
                        dispatch_pushes(&meter);
                        if let Some(reply) = reply {
                            next.extend(link.send_apdu(&reply));
                        }
                    }
                }
            }
            queue = next;
        }
        stream.flush().await?;
        partial = link_has_partial(&chunk[..n]);
        was_connected |= link.is_connected();
        if end_on_disc && was_connected && !link.is_connected() {
            return Ok(HdlcEnd::Disconnected);
        }
    }
}

/// Whether the bytes just read end inside a frame (a rough guess: the last byte is not a
/// flag), so that the shorter inter-frame time-out applies.
fn link_has_partial(bytes: &[u8]) -> bool {
    bytes
        .last()
        .is_some_and(|b| *b != metermaster_dlms::hdlc::FLAG)
}

/// Sends the pushes the meter queued, each on a connection of its own in the background (the
/// TCP wrapper, from wPort 1 to wPort [`PUSH_CLIENT`]); a destination that does not take the
/// connection within 5 s is given up, as a meter gives up after its retries.
fn dispatch_pushes(meter: &DlmsMeter) {
    let pushes = std::mem::take(&mut lock(&meter.face).outbox);
    for p in pushes {
        tokio::spawn(async move {
            let connect = tokio::net::TcpStream::connect(p.address.as_str());
            let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(5), connect).await else {
                return;
            };
            let Ok(bytes) = WrapperFrame::new(SERVER_SAP, PUSH_CLIENT, p.apdu).encode() else {
                return;
            };
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
        });
    }
}
