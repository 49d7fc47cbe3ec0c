//! A TCP relay a test can cut and restore: a database server (or any TCP service) going
//! away and coming back, as the code under test sees it, while the real server, which
//! other tests share, stays up.
//!
//! [`Relay::start`] listens on a loopback port of its own and forwards every connection to
//! the target. [`Relay::cut`] is what a stopped server gives its clients: the port refuses
//! new connections and every open one is shut down under them. [`Relay::restore`] listens
//! on the same port again, so URLs that name it work again.
//!
//! It runs on plain threads (an accept loop, two pumps per connection), so sync tests and
//! async tests of any runtime flavour use it alike; `cut` and `restore` return within
//! milliseconds.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A TCP relay on a loopback port of its own to a target `host:port`. Dropping it cuts it.
#[derive(Debug)]
pub struct Relay {
    port: u16,
    target: String,
    /// Whether the accept loop goes on.
    open: Arc<AtomicBool>,
    /// Both ends of every relayed connection, for `cut`.
    links: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Relay {
    /// Listens on an ephemeral loopback port and relays every connection to `target`.
    pub fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut relay = Relay {
            port: listener.local_addr().unwrap().port(),
            target: target.to_owned(),
            open: Arc::default(),
            links: Arc::default(),
            acceptor: None,
        };
        relay.serve(listener);
        relay
    }

    /// The port it listens on, the same after [`restore`](Relay::restore).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn serve(&mut self, listener: TcpListener) {
        // Non-blocking, so that the accept loop sees `open` turn false.
        listener.set_nonblocking(true).unwrap();
        self.open.store(true, Ordering::SeqCst);
        let (open, links, target) = (self.open.clone(), self.links.clone(), self.target.clone());
        self.acceptor = Some(thread::spawn(move || {
            while open.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => link(client, &target, &links),
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
            // The listener is dropped here: the port refuses connections.
        }));
    }

    /// The target "stops": when this returns, the port is closed and every relayed
    /// connection shut down. Cutting a cut relay does nothing.
    pub fn cut(&mut self) {
        self.open.store(false, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().unwrap();
        }
        for end in self.links.lock().unwrap().drain(..) {
            let _ = end.shutdown(Shutdown::Both);
        }
    }

    /// The target "starts" again: listening on the same port. Restoring a relay that was
    /// not cut does nothing.
    pub fn restore(&mut self) {
        if self.acceptor.is_some() {
            return;
        }
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("relay: port {} not free again: {e}", self.port),
            }
        };
        self.serve(listener);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Relays `client` to `target` until either side closes (or `cut`).
fn link(client: TcpStream, target: &str, links: &Mutex<Vec<TcpStream>>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(target) else {
        return; // dropping `client` closes it
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    links.lock().unwrap().extend([c3, s3]);
    pump(client, s2);
    pump(server, c2);
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread;

    use super::Relay;

    /// A server that echoes every connection until it closes.
    fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let mut reader = stream.try_clone().unwrap();
                    let _ = std::io::copy(&mut reader, &mut stream);
                });
            }
        });
        addr
    }

    fn echo(stream: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(text)?;
        let mut back = vec![0; text.len()];
        stream.read_exact(&mut back)?;
        Ok(back)
    }

    #[test]
    fn relays_then_cuts_open_connections_and_refuses_new_ones_then_restores() {
        let mut relay = Relay::start(&echo_server());
        let mut before = TcpStream::connect(relay.addr()).unwrap();
        assert_eq!(echo(&mut before, b"ping").unwrap(), b"ping");

        relay.cut();
        // The open connection is shut under its client...
        let mut rest = Vec::new();
        let read = before.read_to_end(&mut rest);
        assert!(matches!(&read, Ok(0)) || read.is_err(), "{read:?} {rest:?}");
        // ...and the port refuses new ones.
        let refused = TcpStream::connect(relay.addr()).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

        let port = relay.port();
        relay.restore();
        assert_eq!(relay.port(), port);
        let mut after = TcpStream::connect(relay.addr()).unwrap();
        assert_eq!(echo(&mut after, b"again").unwrap(), b"again");
    }
}
