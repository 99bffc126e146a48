//! Serving simulated meters: many meters behind one TCP port (or one serial line), addressed by
//! serial number in the sign-on as on a multi-drop bus; optional wire-rate throttling with the
//! standard's reaction times, and fault injection.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metermaster_flag::frame::{Decoded, FrameError, Side, decode};
use metermaster_flag::server::{Action, MeterSession};
use metermaster_flag::transport::Link;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::load::{mix, unit};
use crate::meter::SimMeter;

/// Faults injected per reply, as probabilities 0..1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Close the connection instead of answering.
    pub drop: f64,
    /// Flip one bit of one byte of the answer.
    pub corrupt: f64,
    /// Answer late (1 to 5 s).
    pub slow: f64,
    /// Refuse a correct password (NAK).
    pub refuse: f64,
}

impl Faults {
    /// Parses `drop=0.01,corrupt=0.02,slow=0.01,refuse=0.1`.
    pub fn parse(s: &str) -> Result<Faults, String> {
        let mut f = Faults::default();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("fault {part:?}: expected KIND=RATE"))?;
            let rate: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|r: &f64| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("fault {part:?}: rate must be a number from 0 to 1"))?;
            match k.trim() {
                "drop" => f.drop = rate,
                "corrupt" => f.corrupt = rate,
                "slow" => f.slow = rate,
                "refuse" => f.refuse = rate,
                other => {
                    return Err(format!(
                        "unknown fault {other:?} (known: drop, corrupt, slow, refuse)"
                    ));
                }
            }
        }
        Ok(f)
    }

    pub fn any(&self) -> bool {
        self.drop > 0.0 || self.corrupt > 0.0 || self.slow > 0.0 || self.refuse > 0.0
    }
}

/// How the fleet serves its meters.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Throttle every connection to the wire rate of 7E1 at this baud rate and keep the
    /// reaction time the identification announces.
    pub baud: Option<u32>,
    pub faults: Faults,
    pub fault_seed: u64,
    pub password_timeout: Duration,
    /// Back to idle after this long without a message.
    pub idle_timeout: Duration,
    /// Drop a half-received message after this much silence.
    pub inter_char_timeout: Duration,
    /// Send and expect 7E1 parity in bit 7 of each byte, as a meter behind an 8N1 gateway
    /// appears ("software 7E1").
    pub soft_parity: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            baud: None,
            faults: Faults::default(),
            fault_seed: 1,
            password_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(120),
            inter_char_timeout: Duration::from_millis(1500),
            soft_parity: false,
        }
    }
}

/// A set of simulated meters.
#[derive(Debug)]
pub struct Fleet {
    pub meters: Vec<Arc<Mutex<SimMeter>>>,
    connections: AtomicU64,
}

impl Fleet {
    pub fn new(meters: Vec<SimMeter>) -> Self {
        Fleet {
            meters: meters
                .into_iter()
                .map(|m| Arc::new(Mutex::new(m)))
                .collect(),
            connections: AtomicU64::new(0),
        }
    }

    /// The meter a sign-on address selects; an empty address selects the only meter of a
    /// one-meter fleet (an optical port), and nothing on a bus.
    pub fn find(&self, address: &str) -> Option<Arc<Mutex<SimMeter>>> {
        if address.is_empty() {
            return (self.meters.len() == 1).then(|| self.meters[0].clone());
        }
        self.meters
            .iter()
            .find(|m| m.lock().map(|m| m.answers_to(address)).unwrap_or(false))
            .cloned()
    }
}

/// Accepts connections until `shutdown` completes; each connection is served on its own task.
pub async fn serve_tcp(
    listener: TcpListener,
    fleet: Arc<Fleet>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                let _ = stream.set_nodelay(true);
                let fleet = fleet.clone();
                let opts = opts.clone();
                tokio::spawn(async move {
                    let _ = if opts.soft_parity {
                        serve_link(metermaster_flag::transport::SoftParity::new(stream), fleet, opts).await
                    } else {
                        serve_link(stream, fleet, opts).await
                    };
                });
            }
        }
    }
}

/// Wire time of `n` characters of 7E1 (10 bits each) at `baud`.
pub fn wire_time(n: usize, baud: u32) -> Duration {
    Duration::from_secs_f64(n as f64 * 10.0 / f64::from(baud))
}

/// Serves one link (a TCP connection or a serial line) until it closes.
pub async fn serve_link<L: Link>(
    mut link: L,
    fleet: Arc<Fleet>,
    opts: ServeOptions,
) -> std::io::Result<()> {
    let conn_no = fleet.connections.fetch_add(1, Ordering::Relaxed);
    let mut rng_counter = 0u64;
    let mut roll = |salt: u64| {
        rng_counter += 1;
        unit(opts.fault_seed ^ mix(conn_no), rng_counter, salt)
    };
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 2048];
    let mut session = MeterSession::new(opts.password_timeout);
    let mut meter: Option<Arc<Mutex<SimMeter>>> = None;
    let mut last_message = Instant::now();
    loop {
        // Wait for bytes, with the inter-character timeout for a half message and the idle
        // timeout for a session.
        let wait = if buf.is_empty() {
            opts.idle_timeout
        } else {
            opts.inter_char_timeout
        };
        let n = match tokio::time::timeout(wait, link.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                if !buf.is_empty() {
                    buf.clear();
                } else if last_message.elapsed() >= opts.idle_timeout {
                    if let Some(m) = &meter {
                        if let Ok(mut m) = m.lock() {
                            session.abort(&mut *m);
                        }
                    }
                    meter = None;
                }
                continue;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let (msg, used) = match decode(&buf, Side::Meter) {
                Decoded::Incomplete => break,
                Decoded::Message(m, used) => (Some(m), used),
                Decoded::Invalid(FrameError::Bcc { .. }, used) => (None, used),
                Decoded::Invalid(_, used) => {
                    buf.drain(..used);
                    continue;
                }
            };
            let request_len = used;
            buf.drain(..used);
            last_message = Instant::now();
            let mut actions = Vec::new();
            match msg {
                None => actions.extend(session.on_bad_frame()),
                Some(m @ metermaster_flag::Message::SignOn { .. }) => {
                    let metermaster_flag::Message::SignOn { address } = &m else {
                        unreachable!()
                    };
                    if let Some(old) = meter.take() {
                        if let Ok(mut old) = old.lock() {
                            session.abort(&mut *old);
                        }
                    }
                    // Meters that do not answer to the address stay silent.
                    if let Some(found) = fleet.find(address) {
                        if let Ok(mut mm) = found.lock() {
                            actions = session.handle(m, Instant::now(), &mut *mm);
                        }
                        meter = Some(found);
                    }
                }
                Some(m) => {
                    if let Some(mref) = &meter {
                        // The zero P2 (read-only access) is never refused.
                        let refuse = matches!(&m, metermaster_flag::Message::Command { cmd, data: Some(d) }
                                if cmd == b"P2" && d.as_slice() != b"(0000000000000000)")
                            && opts.faults.refuse > 0.0
                            && roll(4) < opts.faults.refuse;
                        if let Ok(mut mm) = mref.lock() {
                            actions = session.handle(m, Instant::now(), &mut *mm);
                        }
                        if refuse {
                            for a in actions.iter_mut() {
                                if *a == Action::Send(vec![metermaster_flag::frame::ACK]) {
                                    *a = Action::Send(vec![metermaster_flag::frame::NAK]);
                                }
                            }
                        }
                    }
                }
            }
            if actions.is_empty() {
                continue;
            }
            // The request's own time on the wire, then the meter's reaction time.
            if let Some(b) = opts.baud {
                let reaction = meter
                    .as_ref()
                    .and_then(|m| m.lock().ok().map(|m| m.cfg.fast_reaction))
                    .map_or(Duration::from_millis(200), |fast| {
                        Duration::from_millis(if fast { 20 } else { 200 })
                    });
                tokio::time::sleep(wire_time(request_len, b) + reaction).await;
            }
            for a in actions {
                match a {
                    Action::Send(mut bytes) | Action::SendRaw(mut bytes) => {
                        if opts.faults.any() {
                            if roll(1) < opts.faults.drop {
                                return Ok(());
                            }
                            if roll(2) < opts.faults.slow {
                                let d = 1.0 + 4.0 * roll(5);
                                tokio::time::sleep(Duration::from_secs_f64(d)).await;
                                // A meter busy with a late answer does not hear what the
                                // client repeated meanwhile.
                                discard_pending(&mut link).await;
                                buf.clear();
                            }
                            if roll(3) < opts.faults.corrupt && !bytes.is_empty() {
                                let i = (roll(6) * bytes.len() as f64) as usize % bytes.len();
                                bytes[i] ^= 1 << ((roll(7) * 7.0) as u32 % 7);
                            }
                        }
                        write_paced(&mut link, &bytes, opts.baud).await?;
                    }
                    Action::SwitchBaud(b) => {
                        if link.switches_baud() {
                            link.flush().await?;
                            let _ = link.set_baud(b);
                        }
                    }
                    Action::Idle => {
                        meter = None;
                    }
                }
            }
        }
    }
    if let Some(m) = &meter {
        if let Ok(mut m) = m.lock() {
            session.abort(&mut *m);
        }
    }
    Ok(())
}

async fn discard_pending<L: Link>(link: &mut L) {
    let mut junk = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), link.read(&mut junk)).await
    {
        if n == 0 {
            break;
        }
    }
}

async fn write_paced<L: Link>(
    link: &mut L,
    bytes: &[u8],
    baud: Option<u32>,
) -> std::io::Result<()> {
    match baud {
        None => {
            link.write_all(bytes).await?;
        }
        Some(b) => {
            // Release the bytes at the rate the wire would carry them.
            let start = Instant::now();
            for (k, c) in bytes.chunks(32).enumerate() {
                let due = wire_time(k * 32 + c.len(), b);
                let elapsed = start.elapsed();
                if due > elapsed {
                    tokio::time::sleep(due - elapsed).await;
                }
                link.write_all(c).await?;
            }
        }
    }
    link.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_spec() {
        let f = Faults::parse("drop=0.01,corrupt=0.5, refuse=1").unwrap();
        assert_eq!(f.drop, 0.01);
        assert_eq!(f.corrupt, 0.5);
        assert_eq!(f.refuse, 1.0);
        assert!(Faults::parse("melt=0.1").is_err());
        assert!(Faults::parse("drop=2").is_err());
        assert!(Faults::parse("drop").is_err());
    }

    #[test]
    fn wire_rate() {
        assert_eq!(wire_time(960, 9600), Duration::from_secs(1));
    }
}
