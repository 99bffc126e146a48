//! Where a meter is reached: a TCP endpoint (a terminal server, a meter's Ethernet module) or a
//! serial line (an optical probe, an RS-232/RS-485 port). The address is protocol-neutral; each
//! protocol opens it its own way (FLAG: 7E1 at 300 Bd with speed changes; DLMS: 8N1, HDLC).

use std::fmt;

/// Why a connection string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConnectionParseError(pub String);

/// Where a meter is: `tcp://HOST:PORT[?parity=soft]` or
/// `serial:///dev/ttyUSB0?baud=300&fixed=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Tcp {
        host: String,
        port: u16,
        /// Software 7E1: the gateway passes 8N1 characters (the FLAG transport's soft parity).
        soft_parity: bool,
    },
    Serial {
        path: String,
        baud: u32,
        fixed: bool,
    },
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connection::Tcp {
                host,
                port,
                soft_parity,
            } => {
                write!(f, "tcp://{host}:{port}")?;
                if *soft_parity {
                    f.write_str("?parity=soft")?;
                }
                Ok(())
            }
            Connection::Serial { path, baud, fixed } => {
                write!(f, "serial://{path}?baud={baud}")?;
                if *fixed {
                    f.write_str("&fixed=1")?;
                }
                Ok(())
            }
        }
    }
}

impl Connection {
    /// Parses `tcp://HOST:PORT[?parity=soft]` or `serial:///dev/ttyX?baud=N[&fixed=1]`.
    pub fn parse(s: &str) -> Result<Connection, ConnectionParseError> {
        let usage = |why: &str| {
            ConnectionParseError(format!(
                "connection {s:?}: {why} (expected tcp://HOST:PORT or serial:///dev/ttyX?baud=N)"
            ))
        };
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (rest, query) = match rest.split_once('?') {
                Some((r, q)) => (r, q),
                None => (rest, ""),
            };
            let mut soft_parity = false;
            for kv in query.split('&').filter(|k| !k.is_empty()) {
                match kv {
                    "parity=soft" => soft_parity = true,
                    "parity=none" => soft_parity = false,
                    _ => {
                        return Err(usage(&format!(
                            "unknown option {kv:?} (known: parity=soft)"
                        )));
                    }
                }
            }
            let rest = rest.trim_end_matches('/');
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| usage("no port"))?;
            let port: u16 = port
                .parse()
                .map_err(|_| usage("port is not a number 1-65535"))?;
            if host.is_empty() || port == 0 {
                return Err(usage("empty host or port 0"));
            }
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            return Ok(Connection::Tcp {
                host,
                port,
                soft_parity,
            });
        }
        if let Some(rest) = s.strip_prefix("serial://") {
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, q),
                None => (rest, ""),
            };
            if path.is_empty() {
                return Err(usage("no device path"));
            }
            let mut baud = 300;
            let mut fixed = false;
            for kv in query.split('&').filter(|k| !k.is_empty()) {
                match kv.split_once('=') {
                    Some(("baud", v)) => {
                        baud = v
                            .parse()
                            .ok()
                            .filter(|b| *b > 0)
                            .ok_or_else(|| usage("baud is not a positive number"))?
                    }
                    Some(("fixed", v)) => fixed = matches!(v, "1" | "true" | "yes"),
                    _ => return Err(usage(&format!("unknown option {kv:?}"))),
                }
            }
            return Ok(Connection::Serial {
                path: path.to_string(),
                baud,
                fixed,
            });
        }
        Err(usage("unknown scheme"))
    }
}
