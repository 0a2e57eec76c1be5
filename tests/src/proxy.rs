//! A TCP proxy for fault tests. It forwards connections to an upstream server and can make
//! that server unreachable for a while: while it is down, every open connection is cut and
//! every new one is closed as soon as it is accepted (counted as refused).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result};

/// A running proxy; stops when dropped.
pub struct Proxy {
    address: SocketAddr,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    down: AtomicBool,
    stopped: AtomicBool,
    refused: AtomicU64,
    forwarded: AtomicU64,
    /// Both ends of every forwarded connection, to cut them when going down.
    open: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    ///
    /// # Errors
    /// When it cannot listen.
    pub fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("proxy: binding")?;
        let address = listener.local_addr()?;
        let state = Arc::new(State::default());
        let accepting = Arc::clone(&state);
        thread::Builder::new()
            .name("test-proxy".into())
            .spawn(move || accept(listener, upstream, accepting))?;
        Ok(Self { address, state })
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Makes the upstream unreachable: cuts every open connection and refuses new ones.
    pub fn go_down(&self) {
        self.state.down.store(true, Ordering::SeqCst);
        for stream in self.state.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Forwards again.
    pub fn come_back(&self) {
        self.state.down.store(false, Ordering::SeqCst);
    }

    /// Connections refused while down.
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// Connections forwarded.
    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.go_down();
        // Wakes the accepting thread so that it sees the stop.
        let _ = TcpStream::connect(self.address);
    }
}

fn accept(listener: TcpListener, upstream: SocketAddr, state: Arc<State>) {
    for client in listener.incoming() {
        if state.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if state.down.load(Ordering::SeqCst) {
            state.refused.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        state.forwarded.fetch_add(1, Ordering::SeqCst);
        let (Ok(client_copy), Ok(server_copy)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        {
            let mut open = state.open.lock().unwrap();
            for stream in [&client, &server] {
                if let Ok(copy) = stream.try_clone() {
                    open.push(copy);
                }
            }
        }
        pipe(client, server_copy);
        pipe(server, client_copy);
    }
}

/// Copies `from` into `to` on a thread until either end closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = thread::Builder::new()
        .name("test-proxy-pipe".into())
        .spawn(move || {
            let mut buffer = [0u8; 64 * 1024];
            loop {
                match from.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
}
