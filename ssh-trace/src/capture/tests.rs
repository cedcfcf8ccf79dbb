//! Round trips and damaged files.
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::{file, reader::Reader, writer::*};
use crate::event::*;

/// A scratch directory removed when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir() -> Scratch {
    let name = format!(
        "ssh-trace-capture-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    let d = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

fn origin() -> Origin {
    Origin {
        host: "h1".into(),
        kernel: "6.18".into(),
        boot_id: [9; 16],
        agent_version: "0.1.0".into(),
    }
}

fn session(n: u32) -> Arc<SessionInfo> {
    Arc::new(SessionInfo {
        id: SessionId(0x5bed_0000 + n as u128),
        user: Some(format!("user{}", n % 3)),
        uid: Some(1000 + n % 3),
        source: Some(Endpoint::new([10, 1, 2, 3].into(), 40000 + n as u16)),
        destination: Some(Endpoint::new([10, 0, 0, 1].into(), 22)),
        discovered: n.is_multiple_of(5),
        server: None,
        parent: None,
    })
}

fn exec(i: u32) -> Body {
    Body::ProcessExec(ProcessExec {
        pid: 100 + i,
        ppid: 99 + i,
        uid: 1000,
        euid: 0,
        gid: 1000,
        egid: 1000,
        executable: "/usr/bin/\u{1b}[2Jcurl".into(),
        executable_truncated: i.is_multiple_of(2),
        args: Args::from_parts(["curl", &format!("http://x/{i}"), "a\\xff", ""]),
        args_truncated: i.is_multiple_of(3),
        role: Some(Role::User),
        fileless: false,
    })
}

fn change(i: u32) -> Body {
    let ids = |euid| Ids {
        uid: 1000,
        euid,
        suid: 1000,
        gid: 1,
        egid: 1,
        sgid: 1,
    };
    Body::UserChange(IdChange {
        process: Pid { pid: 100 + i },
        change: UserChange {
            syscall: "setresuid",
            args: CallArgs::new(&[-1, 0, -1]),
            success: i.is_multiple_of(2),
            errno: (i % 2 == 1).then_some(1),
            old: ids(1000),
            new: ids(0),
            user: Some("alice".into()),
            effective_user: None,
        },
    })
}

/// The i-th event of a varied session stream.
fn session_body(i: u32) -> Body {
    match i % 7 {
        0 => Body::SessionConnect,
        1 => Body::SessionLogin(Login::default()),
        2 => exec(i),
        3 => Body::ProcessExit(ProcessExit {
            pid: 100 + i,
            exit_code: Some(1),
            signal: None,
        }),
        4 => change(i),
        5 => Body::SessionBytes(Traffic {
            bytes_in: i as u64 * 1000,
            bytes_out: u64::MAX - i as u64,
        }),
        _ => Body::SessionEnd(Closed {
            traffic: Traffic {
                bytes_in: 5,
                bytes_out: 6,
            },
            end: SessionEnd {
                duration_ms: 77,
                logged_in: i.is_multiple_of(2),
            },
            attempts: None,
        }),
    }
}

/// A varied stream: every kind, hostile strings, optional fields.
pub fn sample(n: u32) -> Vec<Event> {
    let agent = AgentInfo {
        version: "0.1.0".into(),
        pid: 7,
        kernel: "6.18".into(),
        ring_buffer_bytes: 4096,
        server_binaries: vec!["/usr/sbin/sshd".into()],
        previous: None,
    };
    let mut out = vec![Event::new(
        1_000,
        None,
        Body::AgentStart(Box::new(agent.clone())),
    )];
    for i in 0..n {
        let t = 2_000 + i as u64 * 1_000_003;
        out.push(Event::new(t, Some(session(i % 40)), session_body(i)));
    }
    let loss = LossCounts {
        kernel_ringbuf: 3,
        queue: 1,
        ..Default::default()
    };
    // Failed writes go in a section after the counters (none in `loss`).
    let mut total = loss.clone();
    total.outputs.push(OutputLoss {
        output: "capture".into(),
        error: "writing capture file /x.cap: No space left on device (os error 28)".into(),
        failures: 2,
        events: 31,
    });
    let l = AgentLoss {
        loss: loss.clone().into(),
        total: total.clone(),
    };
    out.push(Event::new(5, None, Body::AgentLoss(Box::new(l))));
    let totals = AgentTotals {
        events: 9,
        lost: total,
    };
    let stop = AgentStop { agent, totals };
    out.push(Event::new(u64::MAX, None, Body::AgentStop(Box::new(stop))));
    out
}

fn write_all(path: &Path, events: &[Event], rotation: Rotation) {
    let mut w = Writer::create(path, origin(), rotation).unwrap();
    for e in events {
        w.write(e);
    }
    w.finish().unwrap();
}

fn read_all(path: &Path) -> (Vec<Event>, Vec<String>) {
    let mut r = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(e) = r.next_event() {
        out.push(e);
    }
    (out, r.take_warnings())
}

#[test]
fn round_trips_every_event_kind() {
    let d = dir();
    let p = d.join("rt.cap");
    let events = sample(20_000);
    write_all(&p, &events, Rotation::default());
    let (back, warnings) = read_all(&p);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back.len(), events.len());
    assert_eq!(back, events);
    let r = Reader::open(&p).unwrap();
    assert_eq!(r.header().host, "h1");
    assert_eq!(r.header().boot_id, [9; 16]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn round_trips_the_format_samples_forwards_and_alerts_included() {
    let d = dir();
    let p = d.join("samples.cap");
    // Agent-mode sink losses are not part of the capture format.
    let events: Vec<Event> = crate::format::samples::events()
        .into_iter()
        .filter(|e| e.session.is_some())
        .collect();
    assert!(events
        .iter()
        .any(|e| matches!(e.body, Body::SessionForward(_))));
    write_all(&p, &events, Rotation::default());
    let (back, warnings) = read_all(&p);
    assert!(warnings.is_empty(), "{warnings:?}");
    // Terminal records are in blocks of their own, read apart.
    let (tty, others): (Vec<Event>, Vec<Event>) = events.into_iter().partition(|e| e.spec().bulk);
    assert_eq!(back, others);
    let mut r = Reader::open(&p).unwrap().terminals();
    let terminals: Vec<Event> = std::iter::from_fn(|| r.next_event()).collect();
    assert!(!tty.is_empty());
    assert_eq!(terminals, tty);
}

#[test]
fn rotation_keeps_count_files_each_readable_alone() {
    let d = dir();
    let p = d.join("rot.cap");
    let mut w = Writer::create(
        &p,
        origin(),
        Rotation {
            size: Some(1),
            age: None,
            count: Some(3),
        },
    )
    .unwrap();
    let events = sample(100_000);
    for e in &events {
        w.write(e);
    }
    w.finish().unwrap();
    let files: Vec<PathBuf> = (0..100)
        .map(|n| nth_path(&p, n))
        .filter(|f| f.exists())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let mut total = 0;
    for f in &files {
        let (evs, warnings) = read_all(f);
        assert!(warnings.is_empty());
        assert!(!evs.is_empty());
        total += evs.len();
        let h = Reader::open(f).unwrap().header().clone();
        if f != &p {
            assert!(
                !h.open_sessions.is_empty(),
                "sessions carried over into {}",
                f.display()
            );
        }
    }
    // The last files hold the newest events, in order.
    let (last, _) = read_all(files.last().unwrap());
    assert_eq!(last.last(), events.last());
    assert!(
        total < events.len(),
        "{total} of {} events in {} files",
        events.len(),
        files.len()
    );
}

fn err_of(path: &Path) -> String {
    format!("{:#}", Reader::open(path).err().expect("must fail"))
}

#[test]
fn bad_files_give_clear_errors() {
    let d = dir();
    let empty = d.join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(err_of(&empty).contains("empty file"), "{}", err_of(&empty));
    let magic = d.join("magic");
    std::fs::write(&magic, b"GARBAGE!garbage garbage").unwrap();
    assert!(err_of(&magic).contains("not an ssh-trace capture (bad magic)"));
    let good = d.join("good");
    write_all(&good, &sample(10), Rotation::default());
    let bytes = std::fs::read(&good).unwrap();
    let mut newer = bytes.clone();
    newer[8..10].copy_from_slice(&2u16.to_le_bytes());
    std::fs::write(d.join("newer"), &newer).unwrap();
    assert!(err_of(&d.join("newer"))
        .contains("capture format version 2 is newer than this ssh-trace reads (1)"));
    std::fs::write(d.join("trunc"), &bytes[..20]).unwrap();
    assert!(err_of(&d.join("trunc")).contains("truncated header"));
    std::fs::write(d.join("short"), &bytes[..12]).unwrap();
    assert!(err_of(&d.join("short")).contains("truncated header"));
    let mut crc = bytes.clone();
    crc[18] ^= 0xff;
    std::fs::write(d.join("crc"), &crc).unwrap();
    assert!(err_of(&d.join("crc")).contains("header checksum mismatch"));
    let mut absurd = bytes.clone();
    absurd[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(d.join("absurd"), &absurd).unwrap();
    assert!(err_of(&d.join("absurd")).contains("absurd"));
    assert!(err_of(&d.0).contains("is a directory"));
    assert!(err_of(&d.join("missing")).contains("cannot read"));
}

/// Offsets of the blocks of a file.
fn block_offsets(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == file::BLOCK_MAGIC)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn corrupt_middle_block_is_skipped_with_its_offset() {
    let d = dir();
    let p = d.join("mid.cap");
    let events = sample(60_000);
    write_all(&p, &events, Rotation::default());
    let mut bytes = std::fs::read(&p).unwrap();
    let blocks = block_offsets(&bytes);
    assert!(blocks.len() >= 3, "{}", blocks.len());
    let victim = blocks[1];
    bytes[victim + 40] ^= 0x55;
    std::fs::write(&p, &bytes).unwrap();
    let (back, warnings) = read_all(&p);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!(
            "offset {victim}: corrupt block (block checksum mismatch)"
        )),
        "{}",
        warnings[0]
    );
    // Every event of the other blocks is there, in order.
    assert!(back.len() < events.len() && back.len() > events.len() / 3);
    assert_eq!(back.first(), events.first());
    assert_eq!(back.last(), events.last());
}

#[test]
fn absurd_block_length_is_skipped() {
    let d = dir();
    let p = d.join("len.cap");
    write_all(&p, &sample(60_000), Rotation::default());
    let mut bytes = std::fs::read(&p).unwrap();
    let victim = block_offsets(&bytes)[1];
    bytes[victim + 8..victim + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let (_, warnings) = read_all(&p);
    assert!(
        warnings[0].contains(&format!("offset {victim}: corrupt block (block lengths")),
        "{warnings:?}"
    );
}

#[test]
fn truncated_tail_replays_the_complete_blocks() {
    let d = dir();
    let p = d.join("cut.cap");
    let events = sample(60_000);
    write_all(&p, &events, Rotation::default());
    let bytes = std::fs::read(&p).unwrap();
    let blocks = block_offsets(&bytes);
    let last = *blocks.last().unwrap();
    std::fs::write(&p, &bytes[..last + 30]).unwrap();
    let (back, warnings) = read_all(&p);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains(&format!(
            "offset {last}: truncated block at the end of the file"
        )),
        "{}",
        warnings[0]
    );
    assert_eq!(&events[..back.len()], &back[..]);
}

#[test]
fn garbage_never_panics() {
    let d = dir();
    let good = d.join("g.cap");
    write_all(&good, &sample(3_000), Rotation::default());
    let bytes = std::fs::read(&good).unwrap();
    let p = d.join("fuzz.cap");
    // Deterministic pseudo-random damage: flips, cuts, and noise.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let mut b = bytes.clone();
        for _ in 0..(rnd() % 8) {
            let i = (rnd() as usize) % b.len();
            b[i] = rnd() as u8;
        }
        b.truncate((rnd() as usize) % (b.len() + 1));
        std::fs::write(&p, &b).unwrap();
        if let Ok(mut r) = Reader::open(&p) {
            while r.next_event().is_some() {}
        }
    }
}

/// `sample(n)` with a terminal record after every event of a session.
fn with_terminals(n: u32) -> (Vec<Event>, Vec<Event>) {
    let mut all = Vec::new();
    let mut tty = Vec::new();
    for ev in sample(n) {
        let t = ev.session.clone().map(|s| {
            let data = format!("\x1b[1m{}\x1b[0m\r\n\u{e9}", ev.time_ns).into_bytes();
            let mut bytes = data;
            bytes.push(0xff);
            Event::new(
                ev.time_ns,
                Some(s),
                Body::SessionTty(Terminal::data(TtyKind::Output, 24, 80, bytes)),
            )
        });
        all.push(ev);
        if let Some(t) = t {
            tty.push(t.clone());
            all.push(t);
        }
    }
    let lost = Terminal::mark(TtyKind::Lost, 24, 80, 4096);
    let mark = Event::new(9, Some(session(1)), Body::SessionTty(lost));
    tty.push(mark.clone());
    all.push(mark);
    (all, tty)
}

#[test]
fn terminal_records_are_in_blocks_of_their_own_that_event_readers_skip() {
    let d = dir();
    let (with, without) = (d.join("tty.cap"), d.join("plain.cap"));
    let (all, tty) = with_terminals(30_000);
    write_all(&with, &all, Rotation::default());
    let plain: Vec<Event> = all.iter().filter(|e| !e.spec().bulk).cloned().collect();
    write_all(&without, &plain, Rotation::default());
    let bytes = std::fs::read(&with).unwrap();
    let tty_blocks = bytes
        .windows(4)
        .filter(|w| *w == file::TTY_BLOCK_MAGIC)
        .count();
    assert!(tty_blocks >= 2, "{tty_blocks}");
    // Events are read as from a file without recordings.
    let (back, warnings) = read_all(&with);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(back, read_all(&without).0);
    assert_eq!(back, plain);
    // Terminal records, raw bytes and all, read on their own.
    let mut r = Reader::open(&with).unwrap().terminals();
    let mut got = Vec::new();
    while let Some(e) = r.next_event() {
        got.push(e);
    }
    assert!(r.take_warnings().is_empty());
    assert_eq!(got, tty);
    let mut none = Reader::open(&without).unwrap().terminals();
    assert!(none.next_event().is_none());
}

#[test]
fn unwatched_authentication_counts_round_trip() {
    let d = dir();
    let p = d.join("auth_loss.cap");
    let mut events = sample(10);
    for e in &mut events {
        match &mut e.body {
            Body::AgentLoss(l) => (l.loss.counts.auth_unwatched, l.total.auth_unwatched) = (2, 9),
            Body::AgentStop(s) => s.totals.lost.auth_unwatched = 9,
            _ => {}
        }
    }
    write_all(&p, &events, Rotation::default());
    assert_eq!(read_all(&p).0, events);
}

#[test]
fn terminal_loss_counts_round_trip_and_old_loss_records_still_decode() {
    let d = dir();
    let p = d.join("loss.cap");
    let mut events = sample(10);
    for e in &mut events {
        match &mut e.body {
            Body::AgentLoss(l) => {
                (l.loss.counts.tty_bytes, l.total.tty_bytes) = (7, 70);
                let id = "5bedc86c-1cdc-4597-8f3a-0a1b2c3d4e5f".parse().unwrap();
                let share = |records, tty_bytes| SessionLoss {
                    id,
                    records,
                    untracked: 0,
                    tty_bytes,
                };
                l.loss.sessions = vec![share(0, 5), share(3, 2)];
            }
            Body::AgentStop(s) => s.totals.lost.tty_bytes = 70,
            _ => {}
        }
    }
    write_all(&p, &events, Rotation::default());
    assert_eq!(read_all(&p).0, events);
    // Without terminal losses the records are as format v1 wrote them.
    let plain = d.join("plain.cap");
    let old = sample(10);
    write_all(&plain, &old, Rotation::default());
    assert_eq!(read_all(&plain).0, old);
}

/// A valid file of 845 bytes: one block whose first event carries a session
/// snapshot with a 1 MiB user name and whose 1.2 million other events all
/// refer to it (zstd makes that almost nothing). Before the reader decoded
/// lazily, it held every event of the block at once (362 MB of heap;
/// `replay` peaked at 222 MB RSS); before
/// snapshots were shared, each event cloned the 1 MiB snapshot (4 GB, abort).
fn crafted_capture() -> (Vec<u8>, u32) {
    let h = file::Header {
        host: "h".into(),
        kernel: "k".into(),
        boot_id: [0; 16],
        agent_version: "v".into(),
        start_ns: 0,
        open_sessions: vec![],
    };
    let mut s = SessionInfo::clone(&session(1));
    s.user = Some("a".repeat(1 << 20));
    // session.connect, time delta 0, a new snapshot, no counters.
    let mut first = vec![1u8, 0, 1];
    super::codec::put_session(&mut first, &s);
    first.extend_from_slice(&[0, 0]);
    let mut raw = Vec::new();
    super::codec::put_varint(&mut raw, first.len() as u64);
    raw.extend_from_slice(&first);
    // Length 5: session.connect, delta 0, snapshot #0, no counters.
    let again = [5u8, 1, 0, 2, 0, 0];
    let n = (file::MAX_BLOCK - raw.len()) / again.len();
    for _ in 0..n {
        raw.extend_from_slice(&again);
    }
    let mut bytes = h.encode();
    bytes.extend(file::encode_block(&raw, n as u32 + 1, file::BLOCK_MAGIC).unwrap());
    (bytes, n as u32 + 1)
}

#[test]
fn a_crafted_capture_cannot_make_the_reader_hold_more_than_a_block() {
    let (bytes, events) = crafted_capture();
    assert!(bytes.len() < 1000, "{} bytes", bytes.len());
    let ((read, warnings), peak) = crate::test_alloc::peak_of(move || {
        let mut r = Reader::from_bytes(Path::new("crafted"), bytes).unwrap();
        let mut read = 0u32;
        while let Some(ev) = r.next_event() {
            assert_eq!(
                ev.session.as_ref().unwrap().user.as_ref().unwrap().len(),
                1 << 20
            );
            read += 1;
        }
        (read, r.take_warnings())
    });
    assert_eq!((read, warnings), (events, vec![]), "every event read");
    eprintln!("{events} events from one block: peak {peak} bytes held");
    // The block (8 MiB) and its one snapshot (1 MiB): nothing per event.
    assert!(peak < file::MAX_BLOCK + (2 << 20), "peak {peak} bytes");
}

#[test]
fn a_header_claiming_16_mib_costs_only_what_the_file_holds() {
    let mut bytes = file::MAGIC.to_vec();
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&(file::MAX_HEADER as u32).to_le_bytes());
    bytes.extend_from_slice(&[0; 8]);
    let (err, peak) = crate::test_alloc::peak_of(move || {
        Reader::from_bytes(Path::new("short"), bytes)
            .err()
            .map(|e| format!("{e:#}"))
    });
    assert_eq!(err.as_deref(), Some("short: truncated header"));
    assert!(peak < 1 << 20, "peak {peak} bytes");
}

/// One event through a fresh encoder, and back.
fn one_event(ev: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    super::codec::Encoder::default().encode(ev, &mut out);
    out
}

fn decode_one(bytes: &[u8]) -> Event {
    let mut c = super::codec::Cursor::new(bytes);
    let ev = super::codec::Decoder::default().decode(&mut c).unwrap();
    assert!(!c.more(), "bytes left after the event");
    ev
}

#[test]
fn failed_writes_come_after_every_older_field_and_older_records_read_as_before() {
    let mut checked = 0;
    for mut with in sample(1) {
        let mut without = with.clone();
        match (&mut with.body, &mut without.body) {
            (Body::AgentLoss(w), Body::AgentLoss(wo)) => {
                // Named sessions are the last of the lead's fields.
                let named = SessionLoss {
                    id: SessionId(7),
                    records: 3,
                    untracked: 1,
                    tty_bytes: 0,
                };
                w.loss.sessions.push(named.clone());
                wo.loss.sessions.push(named);
                wo.loss.counts.outputs.clear();
                wo.total.outputs.clear();
            }
            (Body::AgentStop(_), Body::AgentStop(wo)) => wo.totals.lost.outputs.clear(),
            _ => continue,
        }
        check_appended(&with, &without);
        checked += 1;
    }
    assert_eq!(checked, 2, "agent.loss and agent.stop");
}

/// `with` is `without` plus failed writes: its record is `without`'s with
/// the outputs section appended (a reader of the lead's tails stops before
/// it); either reads back as written, and a section of a later version
/// (unknown tag) is skipped.
fn check_appended(with: &Event, without: &Event) {
    let (long, short) = (one_event(with), one_event(without));
    assert!(long.len() > short.len() && long.starts_with(&short));
    assert_eq!(decode_one(&long), *with);
    assert_eq!(decode_one(&short), *without);
    let mut later = long.clone();
    later.extend_from_slice(&[9, 3, 1, 2, 3]);
    assert_eq!(decode_one(&later), *with);
}
