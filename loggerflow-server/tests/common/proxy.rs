//! A small round-robin TCP proxy standing in for the load balancer in front
//! of several servers: each new connection goes to the next backend (or the
//! one after it, when that one refuses), and bytes are copied both ways
//! until either side closes. `pause` makes it refuse new connections (a
//! balancer with no healthy backend), `resume` undoes it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};

/// The proxy; it stops when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    paused: Arc<AtomicBool>,
    /// Connections open to each backend now.
    open: Arc<Vec<AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port in front of `backends`.
    pub async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let paused = Arc::new(AtomicBool::new(false));
        let open: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let task = {
            let paused = Arc::clone(&paused);
            let open = Arc::clone(&open);
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    if paused.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let backends = backends.clone();
                    let open = Arc::clone(&open);
                    let first = next.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        for k in 0..backends.len() {
                            let i = (first + k) % backends.len();
                            let Ok(server) = TcpStream::connect(backends[i]).await else {
                                continue;
                            };
                            open[i].fetch_add(1, Ordering::SeqCst);
                            let (mut client, mut server) = (client, server);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            open[i].fetch_sub(1, Ordering::SeqCst);
                            return;
                        }
                    });
                }
            })
        };
        Self {
            addr,
            paused,
            open,
            task,
        }
    }

    /// `http://ADDR`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Refuses new connections (those open stay).
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Accepts new connections again.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// The backend with the most connections open now (the first of equals).
    pub fn busiest(&self) -> usize {
        (0..self.open.len())
            .max_by_key(|&i| (self.open_to(i), std::cmp::Reverse(i)))
            .unwrap_or(0)
    }

    /// Connections open to backend `i` now.
    pub fn open_to(&self, i: usize) -> usize {
        self.open[i].load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
