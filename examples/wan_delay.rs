//! A TCP relay that delays every byte by a fixed time in each direction:
//! the latency half of the WAN the object-storage benchmarks run across
//! (benches/wan-net.sh). The machines these benchmarks run on have no
//! `sch_netem` in their kernel (tc answers "Specified qdisc kind is
//! unknown"), while `tbf` works; so the rate cap stays in the kernel and
//! the delay is added here.
//!
//!   wan_delay LISTEN_ADDR UPSTREAM_ADDR DELAY_MS
//!
//! Each chunk read from one side is written to the other `DELAY_MS` after
//! it arrived, in order, without holding up the reads behind it: a byte's
//! trip takes the delay, and throughput is not capped by it as long as one
//! bandwidth-delay product fits in the buffer between reader and writer
//! (`IN_FLIGHT` chunks of up to 64 KiB: 16 MiB, against 1.1 MB at 300
//! Mbit/s and 30 ms). A full buffer stops the reads, so TCP's own
//! backpressure still reaches the sender. Connections end when either side
//! closes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks buffered per direction (see the module header).
const IN_FLIGHT: usize = 256;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream, delay_ms] = args.as_slice() else {
        eprintln!("usage: wan_delay LISTEN_ADDR UPSTREAM_ADDR DELAY_MS");
        std::process::exit(2);
    };
    let delay = Duration::from_millis(delay_ms.parse().unwrap_or_else(|_| {
        eprintln!("wan_delay: DELAY_MS must be a number of milliseconds");
        std::process::exit(2)
    }));
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (client, _) = listener.accept().await?;
        let upstream = upstream.clone();
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(&upstream).await {
                relay(client, server, delay).await;
            }
        });
    }
}

/// Both directions of one connection, each delayed.
async fn relay(client: TcpStream, server: TcpStream, delay: Duration) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(direction(cr, sw, delay), direction(sr, cw, delay));
}

/// Reads from `from` as fast as it comes and writes each chunk to `to`
/// once it is `delay` old.
async fn direction(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = Instant::now() + delay;
                    if tx.send((due, buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
