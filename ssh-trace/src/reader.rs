//! Ring buffer reader: a thread that drains the kernel's ring buffers
//! (milestones first, then file transfers, then the process tree, then
//! terminals) into a queue bounded by bytes, so that a slow consumer never
//! stalls the kernel side and a flood cannot grow memory.
//! Past a soft limit only milestones (connects, uid changes, ends, transfers) are
//! queued — the headroom is theirs; past the hard limit nothing is.
//! Terminal records are queued only below a lower mark, so a terminal
//! flood never crowds out the rest. Every record dropped is counted, per
//! session; a terminal's dropped bytes are added to its later records'
//! loss count, which marks them in the recording.
use std::{
    collections::HashMap,
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
};

use aya::maps::{MapData, RingBuf};
use ssh_trace_common::maps::{MILESTONE_WAKE_NS, READER_POLL_MS};
use tokio::sync::mpsc;

use crate::{
    decode::{decode, KernelEvent},
    probes::Rings,
};

/// After a pass that found records, the next look comes this soon (the
/// kernel's milestone wake-ups are at most MILESTONE_WAKE_NS apart per CPU).
const LINGER_MS: i32 = (MILESTONE_WAKE_NS / 1_000_000) as i32;
/// At the stop, the rings are read for at most this long.
const STOP_DRAIN: std::time::Duration = std::time::Duration::from_millis(100);
/// Records taken from the rings per pass: the thread then hands them on.
const PASS_RECORDS: usize = 4096;
/// A pass looks at the stop flag this often, and takes no more than this
/// per pass once stopping: a pass of long execs must not outlast STOP_DRAIN.
const STOP_CHECK_RECORDS: usize = 64;
/// Decoded records waiting for the agent, in bytes: above the soft limit
/// process-tree records are dropped, above the hard limit everything.
pub const QUEUE_SOFT_BYTES: usize = 16 << 20;
pub const QUEUE_HARD_BYTES: usize = 20 << 20;
/// Terminal records are queued only while the queue holds less than this.
pub const QUEUE_TTY_BYTES: usize = 4 << 20;
/// Batches in flight (a second bound; the byte budget is the real one).
const QUEUE_BATCHES: usize = 4096;

#[derive(Default)]
pub struct ReaderStats {
    /// Records taken from the rings (decoded or not).
    pub consumed: AtomicU64,
    pub queue_lost: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Records dropped from the queue per session key, since last taken.
    queue_lost_by_session: Mutex<HashMap<u64, u64>>,
    /// Bytes of decoded records queued and not yet handled.
    queued_bytes: AtomicUsize,
    /// Terminal bytes dropped from the queue, in all and per session key
    /// (cumulative: later records of the session carry it).
    pub tty_lost_bytes: AtomicU64,
    tty_lost_by_session: Mutex<HashMap<u64, u64>>,
}

impl ReaderStats {
    /// Per-session queue drops since the last call.
    pub fn take_session_losses(&self) -> HashMap<u64, u64> {
        std::mem::take(
            &mut *self
                .queue_lost_by_session
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Terminal bytes of session `key` dropped from the queue so far.
    pub fn tty_lost_of(&self, key: u64) -> u64 {
        let by = self.tty_lost_by_session.lock();
        by.map_or(0, |m| m.get(&key).copied().unwrap_or(0))
    }

    /// Terminal records: those over the mark are dropped (their bytes
    /// counted); the rest carry their session's queue losses so far.
    fn admit_tty(&self, events: &mut Vec<KernelEvent>, mut queued: usize) {
        let mut by = self
            .tty_lost_by_session
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        events.retain_mut(|ev| {
            let KernelEvent::Tty(t) = ev else {
                return true;
            };
            let key = t.head.hdr.session;
            let size = cost(ev);
            if queued + size > QUEUE_TTY_BYTES {
                let KernelEvent::Tty(t) = ev else {
                    return false;
                };
                let n = t.head.bytes as u64;
                self.tty_lost_bytes.fetch_add(n, Ordering::Relaxed);
                *by.entry(key).or_default() += n;
                return false;
            }
            queued += size;
            if let (KernelEvent::Tty(t), Some(n)) = (ev, by.get(&key)) {
                t.head.lost += n;
            }
            true
        });
    }

    /// A session ended: its queue losses are no longer needed.
    pub fn forget_tty(&self, key: u64) {
        if let Ok(mut by) = self.tty_lost_by_session.lock() {
            by.remove(&key);
        }
    }

    fn lose(&self, lost: &[KernelEvent]) {
        if lost.is_empty() {
            return;
        }
        self.queue_lost
            .fetch_add(lost.len() as u64, Ordering::Relaxed);
        let mut by = self
            .queue_lost_by_session
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for ev in lost {
            let s = ev.header().session;
            if s != 0 {
                *by.entry(s).or_default() += 1;
            }
        }
    }
}

/// Records handed to the agent in kernel time order. Dropping the batch
/// (or taking its records) gives its bytes back to the queue budget.
pub struct Batch {
    events: Vec<KernelEvent>,
    bytes: usize,
    stats: Option<Arc<ReaderStats>>,
}

impl Batch {
    /// Records that were never in the reader's queue (tests, synthetic ones).
    pub fn unqueued(events: Vec<KernelEvent>) -> Self {
        Self {
            events,
            bytes: 0,
            stats: None,
        }
    }

    /// The records; their bytes leave the queue budget now.
    pub fn into_records(mut self) -> Vec<KernelEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, KernelEvent> {
        self.events.iter()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = &'a KernelEvent;
    type IntoIter = std::slice::Iter<'a, KernelEvent>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(st) = &self.stats {
            st.queued_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

pub struct Reader {
    pub stats: Arc<ReaderStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    pub fn spawn(rings: Rings) -> std::io::Result<(Self, mpsc::Receiver<Batch>)> {
        let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
        let stats = Arc::new(ReaderStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (stats.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ring-reader".into())
            .spawn(move || run(rings, tx, st, sp))?;
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

fn run(mut rings: Rings, tx: mpsc::Sender<Batch>, st: Arc<ReaderStats>, stop: Arc<AtomicBool>) {
    let fds = [
        rings.milestones.as_raw_fd(),
        rings.events.as_raw_fd(),
        rings.transfers.as_raw_fd(),
        rings.tty.as_raw_fd(),
    ];
    // The kernel wakes us for a milestone at most once a millisecond per
    // CPU; after milestones came, look again a millisecond later, so that a
    // burst's later ones (a login right after its setgid calls) are not
    // left for the next slow poll. Process records alone never hurry us.
    let mut stop_by: Option<std::time::Instant> = None;
    let mut linger = Linger::default();
    loop {
        if stop_by.is_none() && stop.load(Ordering::Relaxed) {
            stop_by = Some(std::time::Instant::now() + STOP_DRAIN);
        }
        let drained_at = std::time::Instant::now();
        // Milestones first: they keep their place whatever the other ring holds.
        let mut pass = Vec::with_capacity(256);
        let max = if stop_by.is_some() {
            STOP_CHECK_RECORDS
        } else {
            PASS_RECORDS
        };
        let more = drain(&mut rings.milestones, &mut pass, max, &st, &stop)
            | drain(&mut rings.transfers, &mut pass, max, &st, &stop)
            | drain(&mut rings.events, &mut pass, max, &st, &stop)
            | drain(&mut rings.tty, &mut pass, max, &st, &stop);
        if pass.iter().any(KernelEvent::is_milestone) {
            linger.saw_milestones(drained_at);
        }
        if !pass.is_empty() {
            // Two rings, one stream: records in the order they happened.
            pass.sort_by_key(|e| e.header().ktime_ns);
            send(&tx, pass, &st);
        }
        // At the stop, what the kernel already wrote is read — for a
        // bounded time: a flood that goes on must not hold the stop.
        match stop_by {
            Some(t) if !more || std::time::Instant::now() >= t => break,
            _ if more => continue,
            Some(_) => continue,
            None => {}
        }
        wait(
            &fds,
            linger.timeout_ms(drained_at, std::time::Instant::now()),
        );
    }
}

/// Until when the reader must look again soon: a millisecond after the
/// last pass that found milestones (the kernel woke it for one no earlier
/// than that pass, and holds back the wake-ups of that CPU's next ones for
/// MILESTONE_WAKE_NS). Before, only the very next pass lingered: when the
/// process-tree ring's records woke it early, a login's later milestone
/// could wait out the slow poll (20 ms).
#[derive(Default)]
struct Linger {
    until: Option<std::time::Instant>,
}

impl Linger {
    fn saw_milestones(&mut self, drained_at: std::time::Instant) {
        self.until = Some(drained_at + std::time::Duration::from_millis(LINGER_MS as u64));
    }

    /// How long to wait, at `now`, after the pass that started at `drained_at`.
    fn timeout_ms(&mut self, drained_at: std::time::Instant, now: std::time::Instant) -> i32 {
        match self.until {
            // That pass looked after the window: nothing is held back.
            Some(t) if drained_at >= t => {
                self.until = None;
                READER_POLL_MS
            }
            Some(t) => t.saturating_duration_since(now).as_micros().div_ceil(1000) as i32,
            None => READER_POLL_MS,
        }
    }
}

/// Takes up to `max` records, fewer once `stop` is set; true when the
/// ring may hold more.
fn drain(
    ring: &mut RingBuf<MapData>,
    out: &mut Vec<KernelEvent>,
    max: usize,
    st: &ReaderStats,
    stop: &AtomicBool,
) -> bool {
    for i in 0..max {
        if i % STOP_CHECK_RECORDS == STOP_CHECK_RECORDS - 1 && stop.load(Ordering::Relaxed) {
            return true;
        }
        let Some(item) = ring.next() else {
            return false;
        };
        st.consumed.fetch_add(1, Ordering::Relaxed);
        match decode(&item) {
            Ok(ev) => out.push(ev),
            Err(_) => {
                st.decode_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    true
}

fn wait(fds: &[i32; 4], timeout_ms: i32) {
    let mut pfd = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: valid pollfds.
    unsafe { libc::poll(pfd.as_mut_ptr(), pfd.len() as libc::nfds_t, timeout_ms) };
}

/// What a decoded record holds in memory, roughly.
fn cost(ev: &KernelEvent) -> usize {
    std::mem::size_of::<KernelEvent>()
        + match ev {
            KernelEvent::Exec(e) => e.executable.len() + e.args.text_len(),
            KernelEvent::Tty(t) => t.data.len(),
            KernelEvent::Auth(a) => a.text.len(),
            _ => 0,
        }
}

fn send(tx: &mpsc::Sender<Batch>, mut events: Vec<KernelEvent>, st: &Arc<ReaderStats>) {
    let queued = st.queued_bytes.load(Ordering::Relaxed);
    st.admit_tty(&mut events, queued);
    let events = admit(events, queued, st);
    if events.is_empty() {
        return;
    }
    let bytes: usize = events.iter().map(cost).sum();
    st.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
    let batch = Batch {
        events,
        bytes,
        stats: Some(st.clone()),
    };
    if let Err(e) = tx.try_send(batch) {
        let batch = match e {
            mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => b,
        };
        st.lose(&batch.events);
    }
}

/// What of a pass fits the queue with `queued` bytes in it: everything
/// under the soft limit, only milestones under the hard one.
fn admit(events: Vec<KernelEvent>, queued: usize, st: &ReaderStats) -> Vec<KernelEvent> {
    let bytes: usize = events.iter().map(cost).sum();
    if queued + bytes <= QUEUE_SOFT_BYTES {
        return events;
    }
    let (keep, lost): (Vec<_>, Vec<_>) = events.into_iter().partition(KernelEvent::is_milestone);
    st.lose(&lost);
    let kept: usize = keep.iter().map(cost).sum();
    if queued + kept <= QUEUE_HARD_BYTES {
        return keep;
    }
    st.lose(&keep);
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Linger, LINGER_MS, READER_POLL_MS};

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn a_pass_cut_short_by_other_records_still_looks_again_within_the_wake_window() {
        let t0 = Instant::now();
        let mut l = Linger::default();
        l.saw_milestones(t0);
        // Process records woke the reader 200 µs later; that pass found no
        // milestone, but the kernel may hold one back until t0 + 1 ms.
        let t1 = t0 + 200 * US;
        assert_eq!(l.timeout_ms(t1, t1 + 10 * US), 1);
        // A pass started after the window: the slow poll again.
        let t2 = t0 + Duration::from_millis(LINGER_MS as u64);
        assert_eq!(l.timeout_ms(t2, t2 + 10 * US), READER_POLL_MS);
        assert_eq!(l.timeout_ms(t2, t2 + 20 * US), READER_POLL_MS);
    }

    #[test]
    fn a_late_pass_within_the_window_waits_no_longer_than_its_end() {
        let t0 = Instant::now();
        let mut l = Linger::default();
        l.saw_milestones(t0);
        let t1 = t0 + 900 * US;
        // The pass ran past the window's end: look at once.
        assert_eq!(l.timeout_ms(t1, t0 + 1100 * US), 0);
        // Without milestones there is nothing to hurry for.
        assert_eq!(Linger::default().timeout_ms(t0, t0), READER_POLL_MS);
    }
}
