//! Ring buffer reader: a thread that drains the kernel ring buffer into a
//! bounded queue, so a slow consumer never stalls the kernel side. Records
//! that do not fit the queue, or do not decode, are counted.
use std::{
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use aya::maps::{MapData, RingBuf};
use ssh_trace_common::maps::READER_POLL_MS;
use tokio::sync::mpsc;

use crate::decode::{decode, KernelEvent};

/// Batches in flight between the reader and the agent.
pub const QUEUE_BATCHES: usize = 1024;
const BATCH: usize = 256;

#[derive(Default)]
pub struct ReaderStats {
    pub queue_lost: AtomicU64,
    pub decode_errors: AtomicU64,
}

pub struct Reader {
    pub stats: Arc<ReaderStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    pub fn spawn(
        mut ring: RingBuf<MapData>,
    ) -> std::io::Result<(Self, mpsc::Receiver<Vec<KernelEvent>>)> {
        let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
        let stats = Arc::new(ReaderStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (stats.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ring-reader".into())
            .spawn(move || {
                let fd = ring.as_raw_fd();
                loop {
                    let stopping = sp.load(Ordering::Relaxed);
                    let mut batch = Vec::with_capacity(BATCH);
                    while let Some(item) = ring.next() {
                        match decode(&item) {
                            Ok(ev) => batch.push(ev),
                            Err(_) => {
                                st.decode_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if batch.len() == BATCH {
                            send(
                                &tx,
                                std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                                &st,
                            );
                        }
                    }
                    if !batch.is_empty() {
                        send(&tx, batch, &st);
                    }
                    if stopping {
                        break;
                    }
                    let mut pfd = libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut pfd, 1, READER_POLL_MS) };
                }
            })?;
        Ok((
            Self {
                stats,
                stop,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Drains what the kernel already wrote, then stops the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn send(tx: &mpsc::Sender<Vec<KernelEvent>>, batch: Vec<KernelEvent>, st: &ReaderStats) {
    let n = batch.len() as u64;
    if tx.try_send(batch).is_err() {
        st.queue_lost.fetch_add(n, Ordering::Relaxed);
    }
}
