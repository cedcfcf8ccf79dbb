//! Binary encoding of the authentication parts of events (session.auth,
//! and what session.login and session.end carry of it). Methods and
//! outcomes are one byte each, by their position in METHODS and OUTCOMES
//! (append only: the codes are stable like the event codes).
use std::sync::Arc;

use anyhow::{Context, Result};

use super::codec::{put_opt_str, put_str, put_varint, Cursor};
use crate::event::{Accepted, Attempts, Auth, Certificate, Key, Method, Outcome};

const METHODS: [Method; 7] = [
    Method::None,
    Method::Password,
    Method::Publickey,
    Method::KeyboardInteractive,
    Method::Hostbased,
    Method::GssapiWithMic,
    Method::GssapiKeyex,
];
const OUTCOMES: [Outcome; 3] = [Outcome::Accepted, Outcome::Failed, Outcome::Partial];
/// Most user names a session.end carries (the agent keeps 16).
const MAX_USERS: usize = 256;

/// 0: no method; 1 + its position otherwise.
fn put_method(out: &mut Vec<u8>, m: Option<Method>) {
    out.push(
        m.and_then(|m| METHODS.iter().position(|x| *x == m))
            .map_or(0, |i| i as u8 + 1),
    );
}

fn get_method(c: &mut Cursor) -> Result<Option<Method>> {
    match c.u8()? {
        0 => Ok(None),
        n => METHODS
            .get(n as usize - 1)
            .copied()
            .map(Some)
            .context("unknown authentication method code"),
    }
}

fn put_key(out: &mut Vec<u8>, k: &Key) {
    put_str(out, &k.key_type);
    put_str(out, &k.fingerprint);
}

fn get_key(c: &mut Cursor) -> Result<Key> {
    Ok(Key {
        key_type: c.string()?,
        fingerprint: c.string()?,
    })
}

/// Key and certificate, each behind a presence byte.
fn put_keys(out: &mut Vec<u8>, key: Option<&Key>, cert: Option<&Certificate>) {
    match key {
        Some(k) => {
            out.push(1);
            put_key(out, k);
        }
        None => out.push(0),
    }
    match cert {
        Some(c) => {
            out.push(1);
            put_str(out, &c.id);
            put_varint(out, c.serial);
            put_key(out, &c.ca);
        }
        None => out.push(0),
    }
}

fn get_keys(c: &mut Cursor) -> Result<(Option<Key>, Option<Certificate>)> {
    let key = c.bool()?.then(|| get_key(c)).transpose()?;
    let cert = if c.bool()? {
        Some(Certificate {
            id: c.string()?,
            serial: c.varint()?,
            ca: get_key(c)?,
        })
    } else {
        None
    };
    Ok((key, cert))
}

pub fn put_auth(out: &mut Vec<u8>, a: &Auth) {
    put_method(out, a.method);
    put_opt_str(out, a.submethod.as_deref());
    put_opt_str(out, a.user.as_deref());
    out.push(a.invalid as u8);
    out.push(OUTCOMES.iter().position(|o| *o == a.outcome).unwrap_or(0) as u8);
    put_keys(out, a.key.as_ref(), a.certificate.as_ref());
}

pub fn get_auth(c: &mut Cursor) -> Result<Auth> {
    let method = get_method(c)?;
    let submethod = c.opt_str()?;
    let user = c.opt_str()?.map(Arc::from);
    let invalid = c.bool()?;
    let outcome = *OUTCOMES
        .get(c.u8()? as usize)
        .context("unknown authentication outcome code")?;
    let (key, certificate) = get_keys(c)?;
    Ok(Auth {
        method,
        submethod,
        user,
        invalid,
        outcome,
        key,
        certificate,
    })
}

pub fn put_accepted(out: &mut Vec<u8>, a: &Accepted) {
    put_method(out, Some(a.method));
    put_opt_str(out, a.submethod.as_deref());
    put_keys(out, a.key.as_ref(), a.certificate.as_ref());
}

pub fn get_accepted(c: &mut Cursor) -> Result<Accepted> {
    let method = get_method(c)?.context("an accepted authentication without a method")?;
    let submethod = c.opt_str()?;
    let (key, certificate) = get_keys(c)?;
    Ok(Accepted {
        method,
        submethod,
        key,
        certificate,
    })
}

pub fn put_attempts(out: &mut Vec<u8>, a: &Attempts) {
    for v in [a.attempts, a.failures, a.key_lookups] {
        put_varint(out, v as u64);
    }
    put_varint(out, a.users.len() as u64);
    for u in &a.users {
        put_str(out, u);
    }
}

pub fn get_attempts(c: &mut Cursor) -> Result<Attempts> {
    let (attempts, failures, key_lookups) = (c.u32()?, c.u32()?, c.u32()?);
    let n = c.len(MAX_USERS)?;
    let users = (0..n)
        .map(|_| c.str().map(Arc::from))
        .collect::<Result<_>>()?;
    Ok(Attempts {
        attempts,
        failures,
        users,
        key_lookups,
    })
}
