//! The event id: a hash of what tells one event from every other, so the
//! same event always gets the same id — in a retried insert, in a capture
//! replayed twice, from a newer ssh-trace — and the events table keeps it
//! once. The hashed parts never include formatted text, which may change
//! between versions.
use std::hash::Hasher;

use siphasher::sip::SipHasher13;

use crate::event::{Body, Event};

/// Fixed keys: ids must be equal across builds and hosts (not a secret).
const KEYS: (u64, u64) = (0x7373_682d_7472_6163, 0x6520_6576_656e_7473);

fn text(h: &mut SipHasher13, s: &str) {
    h.write(&(s.len() as u64).to_le_bytes());
    h.write(s.as_bytes());
}

/// What tells two events of one type, host, session and nanosecond apart.
fn discriminator(body: &Body, h: &mut SipHasher13) {
    match body {
        // One of each per session at a time.
        Body::SessionConnect
        | Body::SessionLogin(_)
        | Body::SessionBytes(_)
        | Body::SessionEnd(_)
        | Body::AgentLoss(_)
        | Body::AgentHeartbeat(_) => {}
        Body::ProcessExec(p) => h.write(&p.pid.to_le_bytes()),
        Body::ProcessExit(p) => h.write(&p.pid.to_le_bytes()),
        Body::UserChange(c) => {
            h.write(&c.process.pid.to_le_bytes());
            text(h, c.change.syscall);
        }
        // A server logs one decision at a time per process.
        Body::SessionAuth(a) => {
            h.write(&a.pid.to_le_bytes());
            text(h, a.auth.outcome.name());
        }
        // A forward's events share its id (numbered per session): its
        // state tells them apart.
        Body::SessionForward(f) => {
            h.write(&f.id.to_le_bytes());
            text(h, f.state.into());
        }
        // One process, one file or operation at a time: its path and
        // action tell two apart.
        Body::FileTransfer(t) => {
            h.write(&t.process.pid.to_le_bytes());
            text(h, t.transfer.action.name());
            text(h, &t.transfer.path);
        }
        // Pieces of one terminal at one instant: their type and size.
        Body::SessionTty(t) => {
            h.write(&[t.kind as u8]);
            h.write(&t.bytes.to_le_bytes());
        }
        Body::AgentStart(a) => h.write(&a.pid.to_le_bytes()),
        Body::AgentStop(a) => h.write(&a.agent.pid.to_le_bytes()),
        // Rules of one type fire on the same trigger: the rule names them.
        Body::Alert(_, a) => text(h, &a.rule),
    }
}

/// The id of `ev` as seen on `host`.
pub fn event_id(ev: &Event, host: &str) -> u64 {
    let mut h = SipHasher13::new_with_keys(KEYS.0, KEYS.1);
    text(&mut h, host);
    text(&mut h, ev.kind().name());
    h.write(&ev.time_ns.to_le_bytes());
    let session = ev.session.as_ref().map_or(0, |s| s.id.0);
    h.write(&session.to_le_bytes());
    discriminator(&ev.body, &mut h);
    h.finish()
}
