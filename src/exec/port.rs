//! Is a TCP port free for the next server?
//!
//! Two checks, because either alone is fooled: something may accept
//! connections without us being able to see it bound (another network
//! namespace forwarding to it), and a socket may be bound and listening
//! while its owner is too busy to accept (a hung server, or the
//! `grandchild_port` fault's holder). A port is free when nothing accepts a
//! connection on it AND we can bind it the way a server does (std sets
//! SO_REUSEADDR on Unix, so lingering TIME_WAIT connections of the previous
//! server do not count, exactly as they do not stop SGLang's uvicorn).

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::ExecError;

/// How long one connect attempt may take (loopback answers in µs; a remote
/// host that drops SYNs must not stall the poll).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ExecError> {
    let fail = |source| ExecError::Resolve {
        host: host.to_string(),
        source,
    };
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(fail)?.collect();
    if addrs.is_empty() {
        return Err(fail(std::io::Error::new(
            ErrorKind::NotFound,
            "no address for host",
        )));
    }
    Ok(addrs)
}

/// Where to connect to reach a server bound to `addr`: a wildcard bind
/// (0.0.0.0, ::) is reached on loopback.
fn connect_target(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// True when something accepts connections on `host:port` or the port
/// cannot be bound there (address in use). Use it before launching a
/// server; [`check_port_free`] turns it into a clear error.
pub fn port_in_use(host: &str, port: u16) -> Result<bool, ExecError> {
    for addr in resolve(host, port)? {
        if TcpStream::connect_timeout(&connect_target(addr), CONNECT_TIMEOUT).is_ok() {
            return Ok(true);
        }
        match TcpListener::bind(addr) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AddrInUse => return Ok(true),
            // Cannot bind for another reason (address not local, no
            // permission): not "in use"; the server will report it.
            Err(_) => {}
        }
    }
    Ok(false)
}

/// The pre-flight check: `Err(PortInUse)` naming host and port when
/// [`port_in_use`].
pub fn check_port_free(host: &str, port: u16) -> Result<(), ExecError> {
    if port_in_use(host, port)? {
        return Err(ExecError::PortInUse {
            host: host.to_string(),
            port,
        });
    }
    Ok(())
}

/// Poll (0.5 ms growing to 10 ms) until the port is free, up to `timeout`;
/// returns how long it took. Call it after stopping a server and before
/// launching the next one on the same port.
pub fn wait_port_free(host: &str, port: u16, timeout: Duration) -> Result<Duration, ExecError> {
    let start = Instant::now();
    let mut nap = Duration::from_micros(500);
    loop {
        if !port_in_use(host, port)? {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(ExecError::PortNotFreed {
                host: host.to_string(),
                port,
                waited: timeout,
            });
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    }
}
